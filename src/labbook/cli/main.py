"""The ``labbook`` command: thin click commands over the SDK, the store and the sync logic."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from labbook import __version__
from labbook.cli import artifact_cmds, auth_cmds, server_cmds, ui
from labbook.cli._format import duration
from labbook.cli._format import fmt as _fmt
from labbook.errors import JournalError, LabbookError

if TYPE_CHECKING:
    from labbook.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    from labbook.settings import Settings

    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        overrides: dict[str, Any] = {}
        if obj.get("dir"):
            overrides["dir"] = Path(obj["dir"])
        if obj.get("db"):
            overrides["db_url"] = obj["db"]
        obj["settings"] = Settings(**overrides)
    settings: Settings = obj["settings"]
    return settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="labbook")
@click.option(
    "--dir", "data_dir", envvar=None, help="Data directory (default ~/.labbook or LABBOOK_DIR)."
)
@click.option("--db", help="Store URL (default: SQLite in the data directory).")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, db: str | None) -> None:
    """labbook: track, compare and reproduce machine-learning experiments."""
    ctx.ensure_object(dict).update({"dir": data_dir, "db": db})


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--entity", help="Entity of the run, when its journal's run header is damaged.")
@click.option("--project", help="Project of the run, when its journal's run header is damaged.")
@click.option(
    "--id", "run_id", help="Run id, when the header is damaged and the folder name lacks it."
)
@click.option(
    "--clean", is_flag=True, help="Then remove the run folders whose runs are fully stored."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="With --clean: upload and remove nothing, print what would be removed.",
)
@click.pass_context
def sync(
    ctx: click.Context,
    paths: tuple[Path, ...],
    entity: str | None,
    project: str | None,
    run_id: str | None,
    clean: bool,
    dry_run: bool,
) -> None:
    """Upload run journals (offline, crashed or interrupted runs). Safe to repeat.

    Journals are only read, never changed. Exits with status 1 when part of a journal could not
    be read or stored; the report says which bytes and seqs.
    """
    from labbook.sdk.sync import find_run_dirs

    if dry_run and not clean:
        raise click.UsageError("--dry-run goes with --clean")
    settings = _settings(ctx)
    run_dirs = list(find_run_dirs(list(paths)))
    ident = {"entity": entity, "project": project, "run_id": run_id}
    if dry_run:
        incomplete = _clean_dry_run(run_dirs, settings, ident)
    else:
        incomplete = _sync_dirs(run_dirs, settings, ident, clean)
    if incomplete:
        click.echo(
            f"labbook: {incomplete} run{'s' if incomplete != 1 else ''} not fully stored (see "
            "above); journals are left as they were.",
            err=True,
        )
        ctx.exit(1)


def _sync_dirs(run_dirs: list[Any], settings: Settings, ident: dict[str, Any], clean: bool) -> int:
    """Sync each run dir, print what was and was not stored; the count of incomplete runs."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeRemainingColumn,
    )

    from labbook.sdk.sync import SyncFailed, clean_verdict, remove_run_dir, sync_run

    console = Console(stderr=True)
    incomplete = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        for i, rd in enumerate(run_dirs):
            size = rd.journal.stat().st_size
            task = progress.add_task(rd.path.name, total=size)

            def advance(offset: int, _total: int, task: TaskID = task) -> None:
                progress.update(task, completed=offset)

            try:
                result = sync_run(rd, settings, progress=advance, **ident)
            except JournalError as exc:  # this journal only: go on with the others
                click.echo(f"labbook: {exc.message}", err=True)
                incomplete += 1
                continue
            except SyncFailed as exc:
                progress.stop()
                left = len(run_dirs) - i - 1
                more = (
                    f" {left} more run folder{'s' if left != 1 else ''} not synced." if left else ""
                )
                raise click.ClickException(exc.message + more) from None
            progress.update(task, completed=size)
            live = " (its process is still running)" if result.live else ""
            click.echo(
                f"synced {result.ref.entity}/{result.ref.project}/{result.ref.id}: "
                f"{result.sent} new records, last seq {result.last_seq}, {result.state}{live}"
                + (f", {result.artifacts} artifact operation(s)" if result.artifacts else "")
            )
            problems = result.problems()  # records the destination refused included
            for line in problems:
                click.echo(f"  {line}")
            if problems:
                incomplete += 1
            if clean:
                verdict = clean_verdict(rd, result)
                if verdict.removable and remove_run_dir(rd):
                    click.echo(f"  removed {rd.path} ({verdict.reason})")
                else:
                    click.echo(f"  kept {rd.path}: {verdict.reason}")
    return incomplete


def _clean_dry_run(run_dirs: list[Any], settings: Settings, ident: dict[str, Any]) -> int:
    from labbook.sdk.sync import check_run, clean_verdict, rejected_files

    incomplete = 0
    for rd in run_dirs:
        try:
            result = check_run(rd, settings, **ident)
        except JournalError as exc:
            click.echo(f"would keep {rd.path}: {exc.message}")
            incomplete += 1
            continue
        verdict = clean_verdict(rd, result)
        problems = result.problems()
        if problems or rejected_files(rd):
            incomplete += 1
        if verdict.removable:
            click.echo(f"would remove {rd.path} ({verdict.reason})")
        elif not (problems or result.live or rejected_files(rd)):
            crash = " and mark it crashed" if result.state == "crashed" else ""
            click.echo(
                f"would upload seq {result.stored_seq + 1} to {result.expected_seq}{crash}, "
                f"then remove {rd.path}"
            )
        else:
            click.echo(f"would keep {rd.path}: {verdict.reason}")
            for line in problems:
                click.echo(f"  {line}")
    return incomplete


@cli.command("runs")
@click.argument("project")
@click.option("--filter", "filters", help='JSON filter, e.g. \'{"config.optimizer": "sgd"}\'.')
@click.option(
    "--order", default=None, help="Sort field, '-' prefix for descending (-summary.val_accuracy)."
)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, None))
@click.option(
    "--columns",
    help="Comma-separated columns instead of the default ones: id, name, state, runtime, "
    "created, tags, group, job_type, notes, config.KEY, summary.KEY.",
)
@click.pass_context
def runs_cmd(
    ctx: click.Context,
    project: str,
    filters: str | None,
    order: str | None,
    limit: int,
    columns: str | None,
) -> None:
    """List a project's runs, one line each (PROJECT or ENTITY/PROJECT).

    By default: id, name, state, runtime, the config keys that differ between the runs and the
    main metrics, as many as fit the terminal. `labbook run show` has one run's every key.
    """
    import itertools
    import shutil

    from labbook.api import Api
    from labbook.cli import runs_table

    try:
        flt = json.loads(filters) if filters else None
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"--filter is not JSON: {exc}") from exc
    wanted = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
    with Api(_settings(ctx)) as api:
        found = api.runs(project, filters=flt, order=order, per_page=min(limit, 1000))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # said below, once, as a CLI message
            runs = list(itertools.islice(found, limit))
        where = f"{found.entity}/{found.project}"
    if not runs:
        if found.warnings:
            raise click.ClickException("\n".join(found.warnings))
        click.echo(f"No runs in {where}" + (" match the filter." if flt else "."))
        return
    for note in found.warnings:
        click.echo(f"labbook: {note}", err=True)
    width = shutil.get_terminal_size((120, 24)).columns
    if wanted:
        cols = runs_table.named(runs, wanted, where)
        hidden: list[str] = []
    else:
        layout = runs_table.choose(runs, width)
        cols = layout.columns
        hidden = layout.hidden_config + layout.hidden_metrics
    plural = "s" if len(runs) != 1 else ""
    reached = f" (the --limit of {limit}; there may be more)" if len(runs) == limit else ""
    lines = [f"{where}: {len(runs)} run{plural}{reached}"]
    runs_table.render(cols, lines.append)
    if hidden:
        names = ", ".join(hidden[:6]) + (f" and {len(hidden) - 6} more" if len(hidden) > 6 else "")
        note = f"Not shown: {names}. Pick columns with --columns; `labbook run show` has them all."
        lines.append(textwrap.fill(note, width=max(width, 40)))
    click.echo("\n".join(lines))


@cli.group("run")
def run_group() -> None:
    """Inspect one run."""


@run_group.command("show")
@click.argument("path")
@click.pass_context
def run_show(ctx: click.Context, path: str) -> None:
    """Show a run (ENTITY/PROJECT/ID or PROJECT/ID): state, config, summary, metrics, files."""
    from rich.console import Console
    from rich.table import Table

    from labbook.api import Api

    with Api(_settings(ctx)) as api:
        run = api.run(path)
        console = Console()
        console.print(f"[bold]{'/'.join(run.path)}[/bold]  {run.name}  state={run.state}")
        created = run.created_at.strftime("%Y-%m-%d %H:%M:%S %Z") if run.created_at else ""
        for label, value in (
            ("created", created),
            ("runtime", duration(run.runtime)),
            ("exit code", None if run.exit_code is None else str(run.exit_code)),
            ("job type", run.job_type),
            ("group", run.group),
            ("tags", ", ".join(run.tags)),
            ("notes", run.notes),
        ):
            if value:
                console.print(f"{label}: {value}")
        for title, data in (("config", run.config), ("summary", run.summary)):
            table = Table(title=title)
            table.add_column("key")
            table.add_column("value", overflow="fold")
            for k, v in sorted(data.items()):
                table.add_row(k, _fmt(v))
            console.print(table)
        metrics = Table(title="metrics")
        for col in ("key", "count", "last", "min", "max", "last step"):
            metrics.add_column(col)
        for m in run.metric_keys():
            metrics.add_row(
                m.key, str(m.count), _fmt(m.last), _fmt(m.min), _fmt(m.max), str(m.last_step)
            )
        console.print(metrics)
        files = run.files()
        if files:
            ft = Table(title="files")
            ft.add_column("path")
            ft.add_column("size")
            for f in files:
                ft.add_row(f.path, str(f.size))
            console.print(ft)


@cli.command("history")
@click.argument("path")
@click.argument("key")
@click.option(
    "--buckets", type=int, default=None, help="Print a min/max envelope of this many buckets."
)
@click.pass_context
def history_cmd(ctx: click.Context, path: str, key: str, buckets: int | None) -> None:
    """Print a metric's history (every point, tab-separated) or its envelope (--buckets)."""
    from labbook.api import Api

    with Api(_settings(ctx)) as api:
        ref = api.run_ref(path)
        if buckets:
            env = api.reader.history_envelope(ref, key, buckets)
            click.echo("bucket_lo\tfirst_step\tlast_step\tcount\tmin\tmax\tfirst\tlast")
            for i in range(len(env.count)):
                click.echo(
                    f"{env.bucket_lo[i]}\t{env.first_step[i]}\t{env.last_step[i]}\t{env.count[i]}\t"
                    f"{_fmt(float(env.min[i]))}\t{_fmt(float(env.max[i]))}\t"
                    f"{_fmt(float(env.first[i]))}\t{_fmt(float(env.last[i]))}"
                )
            return
        series = api.reader.history(ref, [key]).get(key)
    if series is None or not len(series.steps):
        raise click.ClickException(f"run {path} has no history for key {key!r}")
    _write_series(key, series.steps, series.values)


HISTORY_CHUNK = 100_000


def _write_series(key: str, steps: Any, values: Any) -> None:
    """``_step<TAB>value`` lines, a chunk of rows per write.

    Floats at full precision: the shortest text that reads back as the same float (the digits of
    ``repr``; msgspec spells exponents ``1e-8``/``1e16`` and writes ``0.00001`` where repr has
    ``1e-05``), NaN and ±Inf as ``nan``/``inf``/``-inf``. Numbers are formatted in C by
    msgspec's JSON encoder, a chunk at a time, and the brackets and commas turned into tabs and
    newlines: ``repr`` of 10M floats alone took over half a minute. This output is for piping
    into other tools (``| head`` included: a closed pipe ends it quietly).
    """
    import msgspec
    import numpy as np

    kind = values.dtype.kind
    encode = msgspec.json.Encoder().encode
    try:
        click.echo(f"_step\t{key}")
        for lo in range(0, len(steps), HISTORY_CHUNK):
            hi = lo + HISTORY_CHUNK
            st, vals = steps[lo:hi].tolist(), values[lo:hi].tolist()
            if kind in "fiu":
                if kind == "f":
                    for i in np.flatnonzero(~np.isfinite(values[lo:hi])).tolist():
                        vals[i] = repr(vals[i])  # JSON has no NaN: "nan", unquoted below
                body = encode(list(zip(st, vals, strict=True)))[2:-2]
                text = body.replace(b"],[", b"\n").replace(b",", b"\t").replace(b'"', b"")
                click.echo(text + b"\n", nl=False)
            else:
                rows = (
                    f"{s}\t{repr(v) if isinstance(v, float) else _fmt(v)}\n"
                    for s, v in zip(st, vals, strict=True)
                )
                click.echo("".join(rows), nl=False)
        sys.stdout.flush()
    except BrokenPipeError:
        # `labbook history ... | head`: the reader has what it wanted; no traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(0) from None


@cli.command()
@click.option("--epochs", default=3, show_default=True, help="Epochs per digits run.")
@click.option("--no-ui", is_flag=True, help="Do not serve the dashboard at the end (for scripts).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Dashboard port (8080).")
@click.option("--no-browser", is_flag=True, help="Serve the dashboard without opening a browser.")
@click.pass_context
def demo(ctx: click.Context, epochs: int, no_ui: bool, port: int | None, no_browser: bool) -> None:
    """Log the digits experiment (several hyper-parameter settings), show what was stored, and
    serve the dashboard on it (until Ctrl-C; --no-ui to skip)."""
    from labbook.cli import demo as demo_mod

    # console capture stays on, as for any run: each run's page shows what its training printed
    settings = _settings(ctx)
    if demo_mod.keras_available():
        n = len(demo_mod.DIGITS_VARIANTS)
        click.echo(
            f"Training {n} digits CNNs (Keras on torch) into {settings.resolved_db_url()} ..."
        )
        paths = demo_mod.run_digits(settings, epochs)
        project = demo_mod.DIGITS_PROJECT
        metric = "val_accuracy"
        example = '{"config.optimizer": "sgd"}'
    else:
        click.echo(
            "Keras/torch/scikit-learn are not installed (pip install 'labbook[examples]' for the "
            "digits CNN); training a small numpy network instead."
        )
        paths = demo_mod.run_spirals(settings)
        project = demo_mod.DEMO_PROJECT
        metric = "val/accuracy"
        example = '{"config.activation": "relu"}'
    click.echo(f"Logged {len(paths)} runs:")
    where = paths[0].rsplit("/", 1)[0] if paths else project
    paths = [p for p in paths if p.startswith(where + "/")]  # the table: the training runs
    ctx.invoke(runs_cmd, project=where)
    if paths:
        click.echo(f"\nCompare:      labbook runs {where} --order -summary.{metric}")
        click.echo(f"Filter:       labbook runs {where} --filter '{example}'")
        click.echo(f"Inspect one:  labbook run show {paths[0]}")
        click.echo(f"Its history:  labbook history {paths[0]} {metric}")
    if paths and not no_ui:
        _demo_dashboard(ctx, where, port, not no_browser)


def _demo_dashboard(ctx: click.Context, where: str, port: int | None, browser: bool) -> None:
    """The demo's last step: its runs in the dashboard (a configured server's, else served here)."""
    from labbook.cli.ui import serve_dashboard
    from labbook.client.credentials import server_settings

    settings = _settings(ctx)
    remote = server_settings(settings).base_url
    if remote is not None:  # the runs went to the server: its dashboard has them
        click.echo(f"\nDashboard:    {remote.rstrip('/')}/{where}")
        return
    click.echo("\nServing the dashboard on these runs (labbook ui; --no-ui to skip) ...")
    if port is not None:
        settings = settings.replace(port=port)
    serve_dashboard(settings, path=f"/{where}", browser=browser, title="labbook demo")


auth_cmds.register(cli)
server_cmds.register(cli)
ui.register(cli)
artifact_cmds.register(cli)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except LabbookError as exc:
        raise SystemExit(f"labbook: {exc.message}") from None


if __name__ == "__main__":
    main()

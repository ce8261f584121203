"""``labbook artifact put|get|ls`` and ``labbook artifact cache cleanup``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from labbook.api import Api
    from labbook.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    from labbook.cli.main import _settings as settings_of

    return settings_of(ctx)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


@contextmanager
def _bar(description: str, total: int) -> Iterator[Any]:
    """A rich progress bar over bytes, on stderr; yields the callback that advances it."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


@click.group()
def artifact() -> None:
    """Versioned files: datasets, models, predictions."""


@artifact.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", help="Artifact name (default: the file or folder's name).")
@click.option("--type", "type_", default="dataset", show_default=True, help="Artifact type.")
@click.option("--alias", "aliases", multiple=True, help="An alias for the version (repeatable).")
@click.option("--project", help="Project (default: LABBOOK_PROJECT).")
@click.option("--entity", help="Entity (default: yours).")
@click.option("--description", help="What this version holds.")
@click.pass_context
def put(
    ctx: click.Context,
    path: Path,
    name: str | None,
    type_: str,
    aliases: tuple[str, ...],
    project: str | None,
    entity: str | None,
    description: str | None,
) -> None:
    """Upload a file or folder as a new version (or the same version, when nothing changed).

    Safe to rerun after an interruption: blobs already stored are not sent again."""
    from labbook import manifests
    from labbook.api import Api
    from labbook.artifacts import Artifact, upload

    settings = _settings(ctx)
    project = project or settings.project
    if not project:
        raise click.UsageError("name the project: --project NAME (or LABBOOK_PROJECT)")
    art = Artifact(name or path.resolve().name.replace(" ", "_"), type_, description)
    t0 = time.monotonic()
    if path.is_dir():
        art.add_dir(path)
    else:
        art.add_file(path)
    draft = art._writable()
    hashed = time.monotonic() - t0
    wanted = manifests.check_aliases(aliases)
    with Api(settings) as api:
        ent = entity or api.default_entity
        missing: list[str] = []
        with _bar(f"uploading {draft.name}", draft.size) as advance:
            t1 = time.monotonic()
            v, created = upload(
                api.artifact_backend(), ent, project, draft, wanted, None, advance,
                on_missing=missing.extend,
            )  # fmt: skip
            took = time.monotonic() - t1
    sizes = {e.digest: e.size for e in draft.entries.values()}
    sent = sum(sizes.get(d, 0) for d in set(missing))
    blobs = len({e.digest for e in draft.entries.values() if e.ref is None})
    click.echo(
        f"{v.entity}/{v.project}/{v.name}:{v.version} ({'new' if created else 'unchanged'}"
        f"{', ' + ', '.join(v.aliases) if v.aliases else ''}): {len(draft.entries)} files, "
        f"{_size(draft.size)}; sent {len(set(missing))} of {blobs} blobs ({_size(sent)}, "
        f"{_size(sent / took if took > 0 else 0)}/s), hashed in {hashed:.1f}s"
    )


@artifact.command()
@click.argument("name")
@click.option("--root", type=click.Path(path_type=Path), help="Where to put the files.")
@click.option("--project", help="Project, when NAME does not say (default: LABBOOK_PROJECT).")
@click.pass_context
def get(ctx: click.Context, name: str, root: Path | None, project: str | None) -> None:
    """Download NAME:ALIAS (or NAME:vN, PROJECT/NAME:ALIAS, ENTITY/PROJECT/NAME:ALIAS), every
    file checked against the manifest; files already there or in the cache are not fetched."""
    from labbook import manifests
    from labbook.api import Api

    settings = _settings(ctx)
    p = manifests.parse_artifact_path(name)
    proj = p.project or project or settings.project
    if not proj:
        raise click.UsageError("name the project: PROJECT/NAME:ALIAS or --project")
    with Api(settings) as api:
        art = _artifact(api, p.entity, proj, p.name, p.ref)
        with _bar(f"downloading {art.name}", art.size) as advance:
            t0 = time.monotonic()
            where = art.download(root, progress=advance)
            took = time.monotonic() - t0
        s = art.last_download
    click.echo(
        f"{art.qualified_name} → {where}: {s.files} files, {_size(art.size)}; "
        f"{s.fetched} fetched, {s.from_cache} from the cache, {s.kept} already there"
        + (f", {s.references} references not downloaded" if s.references else "")
        + f" ({took:.1f}s)"
    )


def _artifact(api: Api, entity: str | None, project: str, name: str, ref: str) -> Any:
    ent = entity or api.entity_of(project)
    return api.artifact(f"{ent}/{project}/{name}:{ref}")


@artifact.command(name="ls")
@click.argument("project")
@click.option("--type", "type_", help="Only artifacts of this type.")
@click.pass_context
def ls(ctx: click.Context, project: str, type_: str | None) -> None:
    """The artifacts of PROJECT (or ENTITY/PROJECT): newest version of each."""
    from rich.console import Console
    from rich.table import Table

    from labbook.api import Api

    with Api(_settings(ctx)) as api:
        arts = api.artifacts(project, type_)
        table = Table(box=None, header_style="bold")
        for col in ("name", "type", "latest", "aliases", "files", "size", "created"):
            table.add_column(col)
        for a in arts:
            v = a._need_version()
            table.add_row(
                v.name, v.type, v.version, ", ".join(v.aliases), str(v.file_count),
                _size(v.size), v.created_at.strftime("%Y-%m-%d %H:%M"),
            )  # fmt: skip
    if not arts:
        click.echo(f"no artifacts in {project}")
        return
    Console(width=200).print(table)


@artifact.group()
def cache() -> None:
    """The local cache of downloaded artifact files."""


@cache.command()
@click.option("--max-size", default="10GB", show_default=True, help="Keep at most this much.")
@click.pass_context
def cleanup(ctx: click.Context, max_size: str) -> None:
    """Remove the least recently used cached files beyond --max-size."""
    from labbook.artifacts import cleanup_cache, parse_size

    settings = _settings(ctx)
    r = cleanup_cache(settings.cache_dir, parse_size(max_size))
    click.echo(
        f"removed {r.removed_files} files ({_size(r.removed_bytes)}); the cache in "
        f"{settings.cache_dir} holds {r.kept_files} files ({_size(r.kept_bytes)})"
    )


def register(cli: click.Group) -> None:
    cli.add_command(artifact)

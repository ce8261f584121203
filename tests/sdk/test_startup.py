"""Start-up stays off the training thread (issue 9, item 11; DESIGN.md "Start-up").

``init`` may only name the run, make its folder and hand the header to the writer; the store
(SQLAlchemy), numpy, pydantic, httpx, PyYAML and psutil load on the writer/sender/capture threads,
if at all. An import hook in a child process records which thread imports each of them: that is
the behaviour, whatever the machine's speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import labbook
from labbook import Settings

HEAVY = ("sqlalchemy", "alembic", "numpy", "pandas", "pydantic", "httpx", "yaml", "psutil")

CHILD = textwrap.dedent(
    """
    import json, sys, threading

    HEAVY = set(sys.argv[1].split(","))
    seen = {}

    class Watch:
        def find_spec(self, name, path=None, target=None):
            top = name.partition(".")[0]
            if top in HEAVY and top not in seen:
                seen[top] = threading.current_thread().name
            return None

    sys.meta_path.insert(0, Watch())

    import labbook

    run = labbook.init(project="startup", config={"lr": 0.001, "batch_size": 64})
    on_main = {m: t for m, t in seen.items() if t == "MainThread"}
    for epoch in range(10):
        labbook.log({"loss": 1.0 / (epoch + 1), "accuracy": epoch / 10})
    name = run.name
    labbook.finish()
    print(json.dumps({"during_init": on_main, "all": seen, "name": name}))
    """
)


def _child(tmp_path: Path, **env: str) -> dict[str, object]:
    import os

    environ = {**os.environ, "LABBOOK_DIR": str(tmp_path / "data"), **env}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, ",".join(HEAVY)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_init_imports_no_heavy_library_on_the_training_thread(tmp_path: Path) -> None:
    first = _child(tmp_path)
    assert first["during_init"] == {}, first
    # The store was opened all the same (on another thread), and a second run finds the first:
    assert first["all"].get("sqlalchemy") == "labbook-sender", first  # type: ignore[union-attr]
    second = _child(tmp_path)
    assert second["during_init"] == {}
    assert str(second["name"]).endswith("-2")  # numbered from the store without opening it
    with labbook.Api(Settings(dir=tmp_path / "data")) as api:
        runs = list(api.runs("startup"))
    assert len(runs) == 2
    assert {r.summary["loss"] for r in runs} == {0.1}


@pytest.mark.slow
def test_captures_run_off_the_training_thread_and_are_stored(tmp_path: Path) -> None:
    """Metadata, git and packages are read on the capture thread, yet finish() stores them."""
    result = _child(
        tmp_path,
        LABBOOK_CAPTURE_SYSTEM="true",
        LABBOOK_CAPTURE_REQUIREMENTS="true",
        LABBOOK_SYSTEM_METRICS="true",
    )
    assert result["during_init"] == {}
    with labbook.Api(Settings(dir=tmp_path / "data")) as api:
        (run,) = list(api.runs("startup"))
        files = {f.path for f in run.files()}
    assert run.metadata["python"] == ".".join(map(str, sys.version_info[:3]))
    assert {"metadata.json", "requirements.txt", "output.log"} <= files
    assert result["all"].get("psutil") == "labbook-capture"  # type: ignore[union-attr]


def test_a_store_that_cannot_open_is_said_once_and_loses_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The store opens on the sender's thread, so init cannot fail on it; the script is told as
    soon as the sender fails, once, and the journal keeps everything for ``labbook sync``."""
    from click.testing import CliRunner

    from labbook.cli.main import cli

    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the data folder's parent should be")
    s = Settings(dir=blocker / "data", finish_timeout=1.0, capture_console=False)
    run = labbook.init(project="p", settings=s)
    for i in range(5):
        run.log({"x": float(i)})
    run.finish()
    err = capfd.readouterr().err
    assert err.count("cannot store records yet") == 1, err
    assert f"labbook sync {run.journal_dir}" in err

    good = tmp_path / "good"
    out = CliRunner().invoke(cli, ["--dir", str(good), "sync", str(run.journal_dir)])
    assert out.exit_code == 0, out.output
    with labbook.Api(Settings(dir=good)) as api:
        assert api.run(run.path).history(["x"])["x"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]

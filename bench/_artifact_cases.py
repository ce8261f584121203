"""One measured case of ``artifacts.py``, as its own process: ``python _artifact_cases.py SPEC``.

``SPEC`` is a JSON file written by the orchestrator: ``{"tool", "backend", "kind", "src", "root",
"state", "files", "bytes"}``. Everything else (where the store is, which server, which bucket)
comes from the environment the orchestrator gives this process, as a user's script would get it.
The last line of stdout is one JSON object: the timed seconds, the process's peak RSS and what
it was made of.

Why the process measures itself: ``getrusage(RUSAGE_SELF).ru_maxrss`` is the kernel's high-water
mark of this process's resident set, exact and free (no sampling gaps). Helpers the tool starts
(wandb's ``wandb-core`` service) are separate processes, and their peak is not read from
``RUSAGE_CHILDREN``: a child's ``ru_maxrss`` starts from its parent's high-water mark (Linux
folds the parent's memory into the child's at exec, after fork or vfork alike), so the ``git``
and ``uname`` that MLflow runs for a moment would each "peak" at MLflow's own size. Instead a
thread sums the RSS of every live descendant every 50 ms and keeps the largest sum, skipping a
child that has not exec'd yet (same command line as this process: its pages are this
process's). The case's peak is this process's own plus that: an upper bound of what the case
held at once, which is what a memory limit on a training job would see.
"""

from __future__ import annotations

import contextlib
import filecmp
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MB = 1_000_000


class HelperSampler:
    """Peak of the summed RSS of this process's live descendants, sampled every ``interval`` s."""

    def __init__(self, interval: float = 0.05) -> None:
        import psutil

        self._me = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak_bytes = 0
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        import psutil

        mine = self._me.cmdline()
        while not self._stop.wait(self._interval):
            total = 0
            try:
                kids = self._me.children(recursive=True)
            except psutil.Error:
                continue
            for kid in kids:
                with contextlib.suppress(psutil.Error):  # exited between listing and reading
                    if kid.cmdline() != mine:  # a fork not yet exec'd shares our pages
                        total += kid.memory_info().rss
            self.peak_bytes = max(self.peak_bytes, total)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def peak_rss(sampler: HelperSampler) -> dict[str, float]:
    """This process's peak RSS plus its helpers' (MB = 10^6 bytes; ru_maxrss is in KiB)."""
    sampler.stop()
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
    helpers = sampler.peak_bytes / MB
    return {"rss_mb": own + helpers, "own_mb": own, "helpers_mb": helpers}


def verify_tree(src: Path, got: Path, files: int) -> None:
    """``got`` holds every file of ``src`` at the same relative path and size; three compared
    byte for byte (all of them would double the case's time on a 1 GB artifact)."""
    names = sorted(p.relative_to(src) for p in src.rglob("*") if p.is_file())
    if len(names) != files:
        raise RuntimeError(f"source has {len(names)} files, expected {files}")
    for rel in names:
        a, b = src / rel, got / rel
        if not b.is_file() or b.stat().st_size != a.stat().st_size:
            raise RuntimeError(f"download is missing {rel} or has another size (in {got})")
    extra = sum(1 for p in got.rglob("*") if p.is_file()) - len(names)
    if extra:
        raise RuntimeError(f"download has {extra} files that are not in the source")
    for rel in {names[0], names[len(names) // 2], names[-1]}:
        if not filecmp.cmp(src / rel, got / rel, shallow=False):
            raise RuntimeError(f"downloaded {rel} differs from the source")


# ------------------------------------------------------------------------------------ labbook
def _labbook_settings() -> Any:
    import labbook

    # The artifact is measured, not the run's extras: no console capture, no system sampler.
    return labbook.Settings(
        silent=True,
        capture_console=False,
        system_metrics=False,
        capture_git=False,
        capture_requirements=False,
    )


def labbook_upload(spec: dict[str, Any]) -> dict[str, Any]:
    import labbook

    run = labbook.init(project="bench", job_type="upload", settings=_labbook_settings())
    t0 = time.perf_counter()
    art = labbook.Artifact("data", type="dataset")
    art.add_dir(spec["src"])
    run.log_artifact(art)
    art.wait()
    run.finish()
    return {"wall_s": time.perf_counter() - t0}


def labbook_download(spec: dict[str, Any]) -> dict[str, Any]:
    import labbook

    run = labbook.init(project="bench", job_type="download", settings=_labbook_settings())
    t0 = time.perf_counter()
    art = run.use_artifact("data:latest")
    path = art.download(root=spec["root"])
    wall = time.perf_counter() - t0
    run.finish()
    verify_tree(Path(spec["src"]), Path(path), spec["files"])
    stats = art.last_download  # where the files came from: the store, the cache, or in place
    return {"wall_s": wall, "fetched": stats.fetched, "from_cache": stats.from_cache}


# -------------------------------------------------------------------------------------- wandb
def wandb_upload(spec: dict[str, Any]) -> dict[str, Any]:
    import wandb

    run = wandb.init(
        project="bench",
        job_type="upload",
        mode="offline",
        settings=wandb.Settings(console="off", x_disable_stats=True, save_code=False),
    )
    t0 = time.perf_counter()
    art = wandb.Artifact("data", type="dataset")
    art.add_dir(spec["src"])
    run.log_artifact(art)
    # wandb offline: log_artifact records the manifest and the staged files in the run's
    # folder; there is no server to wait for (wait() refuses in offline mode), finish() flushes.
    run.finish()
    wall = time.perf_counter() - t0
    wandb.teardown()  # waits for wandb-core, so its peak is in RUSAGE_CHILDREN
    return {"wall_s": wall}


# ------------------------------------------------------------------------------------- mlflow
def _mlflow_experiment(mlflow: Any) -> str:
    """The experiment for this store: artifacts in MLflow's default place under the file store,
    or under ``BENCH_MLFLOW_ARTIFACTS`` (an ``s3://`` location) when that is set."""
    name = "bench"
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = os.environ.get("BENCH_MLFLOW_ARTIFACTS") or None
    return str(mlflow.create_experiment(name, artifact_location=location))


def mlflow_upload(spec: dict[str, Any]) -> dict[str, Any]:
    import mlflow

    experiment = _mlflow_experiment(mlflow)
    with mlflow.start_run(experiment_id=experiment) as run:
        t0 = time.perf_counter()
        mlflow.log_artifacts(spec["src"], artifact_path="data")
    wall = time.perf_counter() - t0  # includes end_run, like labbook's finish()
    Path(spec["state"]).write_text(run.info.run_id)
    return {"wall_s": wall}


def mlflow_download(spec: dict[str, Any]) -> dict[str, Any]:
    import mlflow.artifacts

    run_id = Path(spec["state"]).read_text().strip()
    t0 = time.perf_counter()
    path = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path="data", dst_path=spec["root"]
    )
    wall = time.perf_counter() - t0
    verify_tree(Path(spec["src"]), Path(path), spec["files"])
    return {"wall_s": wall}


CASES: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("labbook", "upload"): labbook_upload,
    ("labbook", "download"): labbook_download,
    ("wandb", "upload"): wandb_upload,
    ("mlflow", "upload"): mlflow_upload,
    ("mlflow", "download"): mlflow_download,
}


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    sampler = HelperSampler()
    kind = "download" if spec["kind"].startswith("download") else "upload"
    result = CASES[(spec["tool"], kind)](spec)
    result |= peak_rss(sampler)
    sys.stdout.flush()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

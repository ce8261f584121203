"""Artifact upload and download: rate and peak memory, labbook beside wandb (offline) and MLflow.

Issue 11's target: a 1 GB artifact of 1,000 files uploads and downloads with bounded memory
(< 200 MB peak RSS) over file:// and s3:// blob stores.

The files are made once, in a temp dir: ``--files`` (1,000) files of ``--mib-per-file`` (1) MiB
of random bytes (nothing compresses or deduplicates), 100 to a folder. Everything the benchmark
makes (the files, every store, moto's bucket, servers) is under that temp dir and removed on exit.

Cases, each ``--reps`` times (default 3; the table shows the medians):

* ``labbook upload``: ``labbook.init`` / ``Artifact("data", type="dataset")`` / ``add_dir`` /
  ``run.log_artifact`` / ``art.wait()`` / ``run.finish()``, timed from ``add_dir`` to the end
  of ``finish`` (init and imports are not in the rate), over three backends:

  - ``file``: the local store, blobs on ``file://`` (``LABBOOK_DIR``, ``LABBOOK_BLOBS_URI``);
  - ``s3``: the local store with blobs on ``s3://`` served by moto's standalone server on
    loopback (``LABBOOK_S3_ENDPOINT_URL``; real HTTP through boto3, nothing mocked);
  - ``http``: a ``labbook server`` process (uvicorn, SQLite, file blobs, auth on) reached with
    ``LABBOOK_BASE_URL`` and an API key, as a training job on another machine would. Its own
    peak RSS (``VmHWM``: start-up and every case of the repetition so far) is in the last column.

* ``labbook download``: a new process runs ``run.use_artifact("data:latest")`` and
  ``art.download(root=...)`` (both timed); ``download (cached)`` is a second new process that
  downloads the same version into a new root, with whatever the first left in labbook's cache.
  Each download is checked against the source (every path and size, three files byte for byte);
  the progress lines say how many files came from the store and how many from the cache.

* ``wandb upload`` (offline): the same calls through ``wandb`` with ``WANDB_MODE=offline``.
  Offline, wandb stages the files (copies them into its data dir) and writes the manifest into
  the run's log; ``art.wait()`` refuses offline, so it is skipped. Offline wandb has no
  download: the table says so.

* ``mlflow upload`` / ``download``: ``mlflow.log_artifacts(dir)`` inside a run (timed with the
  run's end) and ``mlflow.artifacts.download_artifacts`` in a new process; the tracking store is
  MLflow's file store (``file://``; ``MLFLOW_ALLOW_FILE_STORE=true``, since MLflow 3 asks for a
  database otherwise), artifacts in its default place (``file``) or in the moto bucket (``s3``:
  the experiment's ``artifact_location`` is ``s3://...``, ``MLFLOW_S3_ENDPOINT_URL`` set). MLflow
  keeps no download cache, so it has no cached row.

Why a process per case: peak RSS is a property of a process, and a process that has already
uploaded a gigabyte keeps its high-water mark. Each case is a fresh ``python _artifact_cases.py``
that reports its own ``ru_maxrss`` plus its helpers' (see that module). A child's ``ru_maxrss``
starts from this parent's high-water mark (Linux carries it over at exec), so this parent imports
nothing heavy (no boto3, no labbook): its own peak, printed under the table, is a floor.

Each repetition gets fresh stores (a new ``LABBOOK_DIR``, a new bucket prefix, a new server), so
a later upload is not a no-op of content already stored, and each tool a fresh ``HOME`` per
repetition (no login or cache from the developer's account); uploads run before their downloads.

Every tool's code is byte-compiled before the first clock starts (pip did it for wandb and
MLflow; ``compile_labbook`` does it for a labbook source checkout). The timed spans include
what a user's script pays on its first artifact call, such as labbook opening its store (some
0.6 s of imports and schema checks on a local SQLite store): at a few tens of MB that fixed cost
dominates the rate, at 1 GB it does not.

MB is 10^6 bytes (rates and RSS alike), so 200 MB is a slightly stricter bound than 200 MiB.

Examples::

    python bench/artifacts.py                                  # 1,000 x 1 MiB, 3 reps
    python bench/artifacts.py --files 50 --mib-per-file 1 --reps 1
    python bench/artifacts.py --only labbook --backend s3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = HERE / "_artifact_cases.py"
MB = 1_000_000
MIB = 1 << 20
RSS_TARGET_MB = 200.0
BUCKET = "labbook-bench"
REGION = "us-east-1"
USER = "bench"
TOOLS = ("labbook", "wandb", "mlflow")
BACKENDS = ("file", "s3", "http")
# Which backends each tool has here: wandb offline writes only to its local folder; MLflow's
# artifacts go to a file or s3 location (an MLflow tracking server is not measured).
TOOL_BACKENDS = {"labbook": BACKENDS, "wandb": ("offline",), "mlflow": ("file", "s3")}
AWS_CLEAR = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


# ---------------------------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def vm_hwm_mb(pid: int) -> float:
    """Peak RSS so far of a running process (Linux ``VmHWM``); NaN where it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MB
    except (OSError, ValueError):
        pass
    return float("nan")


def base_env() -> dict[str, str]:
    """The environment every child starts from: no stray labbook, wandb, MLflow or AWS setting
    of the developer's, dummy AWS credentials (only moto on loopback ever sees them)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LABBOOK_", "WANDB_", "MLFLOW_"))
        and k not in AWS_CLEAR
        and k != "PYTHONDONTWRITEBYTECODE"  # see compile_labbook()
    }
    env |= {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "PYTHONWARNINGS": "ignore",
    }
    return env


def compile_labbook(env: dict[str, str]) -> None:
    """Byte-compile the labbook package the children import, before any clock starts.

    pip compiled wandb's and MLflow's modules when it installed them, and an installed labbook
    is compiled the same way; a source checkout run with ``PYTHONDONTWRITEBYTECODE`` set would
    instead compile some fifty modules in every case (~0.1 s each time), which is not what a
    user pays.
    """
    code = (
        "import compileall, os, sys, labbook; "
        "sys.exit(not compileall.compile_dir(os.path.dirname(labbook.__file__), quiet=1))"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)


def make_files(root: Path, files: int, mib_per_file: int) -> int:
    """``files`` files of random bytes, 100 to a folder, written a MiB at a time; total bytes."""
    total = 0
    for i in range(files):
        folder = root / f"d{i // 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"f{i:05d}.bin", "wb") as f:
            for _ in range(mib_per_file):
                f.write(os.urandom(MIB))
        total += mib_per_file * MIB
    return total


# --------------------------------------------------------------------------------- services
@contextmanager
def moto_server(logdir: Path, env: dict[str, str]) -> Iterator[str]:
    """moto's standalone S3 server on a loopback port holding ``BUCKET``; its endpoint URL."""
    proc = None
    for attempt in range(3):  # a free port can be taken between probing and binding it
        port = free_port()
        with open(logdir / f"moto-{attempt}.log", "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        if wait_listening(proc, port, timeout=30):
            break
        stop(proc)
    else:
        raise RuntimeError(f"moto server did not start (see {logdir})")
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3_call(endpoint, env, "create", BUCKET)
        yield endpoint
    finally:
        stop(proc)


S3_SNIPPET = """
import sys, boto3
endpoint, op, arg = sys.argv[1:4]
s3 = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name="us-east-1")
if op == "create":
    s3.create_bucket(Bucket=arg)
else:  # delete every object under the prefix arg
    bucket, _, prefix = arg.partition("/")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
"""


def s3_call(endpoint: str, env: dict[str, str], op: str, arg: str) -> None:
    """A bucket operation in a child process (boto3 stays out of this lean parent)."""
    subprocess.run(
        [sys.executable, "-c", S3_SNIPPET, endpoint, op, arg], env=env, check=True, timeout=300
    )


class LabbookServer:
    """``labbook server`` (uvicorn, SQLite, file blobs, auth on) and an API key for ``USER``."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.dir = home
        self.env = env | {"LABBOOK_DIR": str(home)}
        self._cli("users", "create", USER)
        self.key = self._cli("keys", "create", USER)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "server.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "labbook.cli.main",
                    "server",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--blobs",
                    (home / "blobs").as_uri(),
                    "--auth",
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()

    def _cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "labbook.cli.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise RuntimeError(f"labbook {' '.join(args)} failed: {out.stderr.strip()}")
        return out.stdout.strip().splitlines()[0]

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        req = urllib.request.Request(
            f"{self.url}/api/v1/viewer", headers={"Authorization": f"Bearer {self.key}"}
        )
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"labbook server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(req, timeout=2.0) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"labbook server did not start: {self.log.read_text()[-2000:]}")

    def client_env(self) -> dict[str, str]:
        return {"LABBOOK_BASE_URL": self.url, "LABBOOK_API_KEY": self.key}

    def peak_mb(self) -> float:
        return vm_hwm_mb(self.proc.pid)

    def close(self) -> None:
        stop(self.proc)


# ----------------------------------------------------------------------------------- running
@dataclass
class Row:
    """The repetitions of one case."""

    case: str
    tool: str
    backend: str
    walls: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    server_rss: list[float] = field(default_factory=list)
    note: str = ""
    error: str = ""


@dataclass
class Bench:
    src: Path
    files: int
    total: int
    tmp: Path
    timeout: float
    rows: dict[tuple[str, str, str], Row] = field(default_factory=dict)

    def row(self, case: str, tool: str, backend: str) -> Row:
        return self.rows.setdefault((case, tool, backend), Row(case, tool, backend))

    def run_case(
        self,
        case: str,
        tool: str,
        backend: str,
        env: dict[str, str],
        workdir: Path,
        server: LabbookServer | None = None,
    ) -> bool:
        """One process of one case; False (and the row's error set) when it failed."""
        row = self.row(case, tool, backend)
        if row.error:  # it failed in an earlier repetition: the rest would fail alike
            return False
        root = workdir / ("root-" + "".join(c for c in case if c.isalnum()))  # new per case
        spec = {
            "tool": tool,
            "backend": backend,
            "kind": case,
            "src": str(self.src),
            "root": str(root),
            "state": str(workdir / "state.txt"),
            "files": self.files,
            "bytes": self.total,
        }
        spec_path = workdir / "spec.json"
        spec_path.write_text(json.dumps(spec))
        cwd = workdir / "cwd"
        cwd.mkdir(exist_ok=True)
        try:
            proc = subprocess.run(
                [sys.executable, str(CASES), str(spec_path)],
                env=env,
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            row.error = f"timed out after {self.timeout:.0f} s"
            return False
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines or not lines[-1].startswith("{"):
            tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
            row.error = f"exit {proc.returncode}: {tail[0][:160]}"
            print(f"  {case} {tool}/{backend} failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
            return False
        got = json.loads(lines[-1])
        row.walls.append(got["wall_s"])
        row.rss.append(got["rss_mb"])
        if server is not None:
            row.server_rss.append(server.peak_mb())
        shutil.rmtree(root, ignore_errors=True)
        print(
            f"  {case:<19} {tool:<7} {backend:<7} {self.total / MB / got['wall_s']:8.1f} MB/s "
            f"{got['wall_s']:7.2f} s  {got['rss_mb']:6.0f} MB RSS "
            f"(own {got['own_mb']:.0f}, helpers {got['helpers_mb']:.0f})"
            + (
                f"; {got['fetched']} fetched, {got['from_cache']} from cache"
                if "fetched" in got
                else ""
            ),
            flush=True,
        )
        return True


def case_env(base: dict[str, str], workdir: Path) -> dict[str, str]:
    """A child environment whose home, caches and config are inside ``workdir``."""
    home = workdir / "home"
    home.mkdir(parents=True, exist_ok=True)
    return base | {
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
    }


def labbook_group(
    bench: Bench, backend: str, rep_dir: Path, env: dict[str, str], endpoint: str | None
) -> None:
    """Upload, download and cached download through labbook, on fresh stores."""
    if bench.row("upload", "labbook", backend).error:  # failed in an earlier repetition
        return
    work = rep_dir / f"labbook-{backend}"
    work.mkdir()
    env = case_env(env, work)
    server = None
    prefix = f"{BUCKET}/labbook/{rep_dir.name}"
    if backend == "file":
        env |= {"LABBOOK_DIR": str(work / "store"), "LABBOOK_BLOBS_URI": (work / "blobs").as_uri()}
    elif backend == "s3":
        assert endpoint is not None
        env |= {
            "LABBOOK_DIR": str(work / "store"),
            "LABBOOK_BLOBS_URI": f"s3://{prefix}",
            "LABBOOK_S3_ENDPOINT_URL": endpoint,
            "LABBOOK_S3_REGION": REGION,
        }
    else:
        server = LabbookServer(work / "server", env)
        env |= {"LABBOOK_DIR": str(work / "client")} | server.client_env()
    try:
        for case in ("upload", "download", "download (cached)"):  # each needs the one before
            if not bench.run_case(case, "labbook", backend, env, work, server):
                break
    finally:
        if server is not None:
            server.close()
        if backend == "s3" and endpoint is not None:
            s3_call(endpoint, env, "delete", prefix)
        shutil.rmtree(work, ignore_errors=True)


def wandb_group(bench: Bench, rep_dir: Path, env: dict[str, str]) -> None:
    work = rep_dir / "wandb"
    work.mkdir()
    env = case_env(env, work) | {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DISABLE_GIT": "true",
        "WANDB_DISABLE_CODE": "true",
        "WANDB_ERROR_REPORTING": "false",
        "WANDB_DIR": str(work),
        "WANDB_CONFIG_DIR": str(work / "wandb_config"),
        "WANDB_CACHE_DIR": str(work / "wandb_cache"),
        "WANDB_DATA_DIR": str(work / "wandb_data"),
        "WANDB_ARTIFACT_DIR": str(work / "wandb_artifacts"),
    }
    try:
        bench.run_case("upload", "wandb", "offline", env, work)
        bench.row("download", "wandb", "offline").note = "n/a: offline wandb cannot download"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def mlflow_group(
    bench: Bench, backend: str, rep_dir: Path, env: dict[str, str], endpoint: str | None
) -> None:
    if bench.row("upload", "mlflow", backend).error:  # failed in an earlier repetition
        return
    work = rep_dir / f"mlflow-{backend}"
    work.mkdir()
    env = case_env(env, work) | {
        "MLFLOW_TRACKING_URI": (work / "mlruns").as_uri(),
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    }
    prefix = f"{BUCKET}/mlflow/{rep_dir.name}"
    if backend == "s3":
        assert endpoint is not None
        env |= {"MLFLOW_S3_ENDPOINT_URL": endpoint, "BENCH_MLFLOW_ARTIFACTS": f"s3://{prefix}"}
    try:
        if bench.run_case("upload", "mlflow", backend, env, work):
            bench.run_case("download", "mlflow", backend, env, work)
    finally:
        if backend == "s3" and endpoint is not None:
            s3_call(endpoint, env, "delete", prefix)
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------------ report
def render(bench: Bench) -> list[str]:
    head = (
        f"{'case':<19} {'tool':<8} {'backend':<8} {'MB/s':>8} {'wall s':>8} "
        f"{'peak RSS MB':>12} {'server RSS MB':>14}"
    )
    lines = [head, "-" * len(head)]
    for row in bench.rows.values():
        lead = f"{row.case:<19} {row.tool:<8} {row.backend:<8}"
        if row.walls:
            wall = statistics.median(row.walls)
            server = f"{max(row.server_rss):14.0f}" if row.server_rss else f"{'':>14}"
            lines.append(
                f"{lead} {bench.total / MB / wall:8.1f} {wall:8.2f} "
                f"{statistics.median(row.rss):12.0f} {server}"
            )
        else:
            lines.append(f"{lead} {row.error or row.note}")
    return lines


def verdict(bench: Bench) -> str:
    rows = [r for r in bench.rows.values() if r.tool == "labbook"]
    if not rows:
        return "verdict: no labbook case was run"
    failed = [f"{r.case}/{r.backend}" for r in rows if r.error or not r.rss]
    over = [
        f"{r.case}/{r.backend} ({max(r.rss):.0f} MB)"
        for r in rows
        if r.rss and max(r.rss) >= RSS_TARGET_MB
    ]
    size = f"{bench.files:,} files, {bench.total / MB:,.0f} MB"
    if failed:
        return f"verdict: labbook cases FAILED to run: {', '.join(failed)} ({size})"
    if over:
        target = f"{RSS_TARGET_MB:.0f} MB RSS target"
        return f"verdict: labbook over the {target}: {', '.join(over)} ({size})"
    peak = max(max(r.rss) for r in rows)
    return (
        f"verdict: every labbook case under {RSS_TARGET_MB:.0f} MB peak RSS "
        f"(highest of any repetition: {peak:.0f} MB; {size})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000, help="number of files (default 1000)")
    parser.add_argument("--mib-per-file", type=int, default=1, help="MiB per file (default 1)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per case (default 3)")
    parser.add_argument("--only", choices=TOOLS, help="one tool only")
    parser.add_argument(
        "--backend", choices=BACKENDS, help="one backend only (wandb offline runs with file)"
    )
    parser.add_argument("--json", dest="json_out", help="also write every repetition here")
    args = parser.parse_args(argv)
    if args.files < 1 or args.mib_per_file < 1 or args.reps < 1:
        parser.error("--files, --mib-per-file and --reps must be at least 1")

    groups = [
        (tool, backend)
        for tool in ([args.only] if args.only else TOOLS)
        for backend in TOOL_BACKENDS[tool]
        if args.backend is None
        or backend == args.backend
        or (backend == "offline" and args.backend == "file")
    ]
    if not groups:
        parser.error(f"{args.only} has no {args.backend} backend here")
    env = base_env()
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="labbook-bench-artifacts-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        print(f"making {args.files:,} files x {args.mib_per_file} MiB in {tmp} ...", flush=True)
        src = tmp / "src"
        total = make_files(src, args.files, args.mib_per_file)
        # A case may take as long as 1 MB/s would, plus start-up: a hung one ends, the rest run.
        bench = Bench(src, args.files, total, tmp, timeout=120 + total / MB)
        if any(tool == "labbook" for tool, _ in groups):
            compile_labbook(env)
        endpoint = None
        if any(b == "s3" for _, b in groups):
            endpoint = stack.enter_context(moto_server(tmp, env))
        for rep in range(args.reps):
            print(f"repetition {rep + 1}/{args.reps}", flush=True)
            rep_dir = tmp / f"rep{rep}"
            rep_dir.mkdir()
            for tool, backend in groups:
                if tool == "labbook":
                    labbook_group(bench, backend, rep_dir, env, endpoint)
                elif tool == "wandb":
                    wandb_group(bench, rep_dir, env)
                else:
                    mlflow_group(bench, backend, rep_dir, env, endpoint)
            shutil.rmtree(rep_dir, ignore_errors=True)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB
    print()
    print(
        f"{args.files:,} files x {args.mib_per_file} MiB = {total / MB:,.0f} MB; "
        f"median of {args.reps} (server RSS: the largest VmHWM seen)"
    )
    for line in render(bench):
        print(line)
    print(verdict(bench))
    print(f"(this parent's own peak RSS, a floor under every child's: {own:.0f} MB)")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "files": args.files,
                    "bytes": total,
                    "reps": args.reps,
                    "rows": [r.__dict__ for r in bench.rows.values()],
                },
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A real S3 API for the tests: moto's standalone server in a subprocess, over loopback HTTP.

Nothing in boto3 is mocked or patched: the S3BlobStore under test sends real HTTP requests to
``python -m moto.server`` on 127.0.0.1 (a free port), which is stopped when the session ends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from labbook.settings import Settings

BUCKET = "labbook-test"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
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


@pytest.fixture(scope="session")
def aws_env() -> Iterator[None]:
    """Dummy credentials for boto3's normal chain, isolated from the developer's ~/.aws."""
    with pytest.MonkeyPatch.context() as mp:
        for var in (
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_S3",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ):
            mp.delenv(var, raising=False)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@pytest.fixture(scope="session")
def moto_endpoint(aws_env: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a running moto S3 server holding the bucket ``labbook-test``."""
    pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    logdir = tmp_path_factory.mktemp("moto")
    for attempt in range(3):  # a free port can be taken between probing and binding it
        port = free_port()
        log = logdir / f"moto-{attempt}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if _wait_listening(proc, port, timeout=30):
            break
        proc.kill()
        proc.wait()
    else:
        pytest.fail(f"moto server did not start:\n{log.read_text(errors='replace')[-2000:]}")
    endpoint = f"http://127.0.0.1:{port}"
    try:
        import boto3

        boto3.session.Session().client(
            "s3", endpoint_url=endpoint, region_name=REGION
        ).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3_settings(moto_endpoint: str) -> Settings:
    return Settings(s3_endpoint_url=moto_endpoint, s3_region=REGION)


@pytest.fixture
def s3_uri(moto_endpoint: str) -> str:
    """A fresh prefix in the test bucket, so tests never see each other's blobs."""
    return f"s3://{BUCKET}/tests/{uuid.uuid4().hex}"


@pytest.fixture
def s3_bucket(moto_endpoint: str) -> str:
    return BUCKET

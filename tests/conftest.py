"""Fixtures only: a clean AWS environment, moto STS, the STS recorder, a frozen clock, a moto server.

Shared constants and helpers are in ``helpers.py`` (``from helpers import ROLE``).

Every test runs with fake source credentials in the environment, no AWS
config files, a private ``XDG_CACHE_HOME``, and the library's process-wide
state (default cache, warm-session registry, shared STS clients) emptied.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import freezegun.api
import moto  # noqa: F401  (moto must be imported before any botocore session is made)
import pytest
from moto import mock_aws

# freezegun hands the real time to code near ``threading`` frames unless this
# is 0; the refresh engine's background thread must see the test's clock.
freezegun.api.call_stack_inspection_limit = 0

from helpers import SOURCE_KEY, SOURCE_SECRET  # noqa: E402
from rolesession.testing import StsRecorder, reset  # noqa: E402


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", SOURCE_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SOURCE_SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    reset()
    default_session = boto3.DEFAULT_SESSION  # rolesession.install() replaces it
    yield
    boto3.DEFAULT_SESSION = default_session
    reset()


@pytest.fixture
def sts_mock() -> Iterator[None]:
    """In-process moto STS (and IAM) for the duration of the test."""
    with mock_aws():
        yield


@pytest.fixture
def sts_calls() -> Iterator[StsRecorder]:
    """Records every STS call the library makes; can fail, block or slow them down."""
    with StsRecorder() as recorder:
        yield recorder


@pytest.fixture
def frozen() -> Iterator[Any]:
    """freezegun at a fixed instant; ``frozen.tick(seconds)`` moves time on."""
    with freezegun.freeze_time("2026-03-01 12:00:00", tick=False) as clock:
        yield clock


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A real moto HTTP server on loopback; yields its base URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def log_records(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog

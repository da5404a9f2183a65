"""``rolesession exec --server``: the loopback container-credentials endpoint.

The endpoint is tested directly (authorization, format, binding, shutdown,
the refresh before handing out under freezegun) and end to end: a child
Python process with nothing but the container variables gets its
credentials from it through boto3.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import logging
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rolesession
import rolesession.cli
from helpers import ACCOUNT, OTHER_ACCOUNT, ROLE, exec_boto3_child, to_epoch
from rolesession.cli.commands import build_session, container_credentials
from rolesession.cli.parser import parse_args
from rolesession.cli.server import PATH, CredentialServer
from rolesession.testing import StsRecorder

CONTAINER_FIELDS = {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
FAKE = {
    "AccessKeyId": "ASIAFAKEFAKEFAKEFAKE",
    "SecretAccessKey": "fake-secret",
    "Token": "fake-token",
    "Expiration": "2030-01-01T00:00:00Z",
}


def get(url: str, token: str | None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def refuses_connections(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.fixture
def server() -> Iterator[CredentialServer]:
    with CredentialServer(lambda: dict(FAKE)) as running:
        yield running


# -- the endpoint ---------------------------------------------------------------------------


def test_the_token_holder_gets_container_credentials(server: CredentialServer) -> None:
    status, body = get(server.url, server.token)
    assert status == 200
    assert body == FAKE


def test_a_missing_token_is_401_and_a_wrong_one_403(server: CredentialServer) -> None:
    status, body = get(server.url, None)
    assert status == 401 and "AccessKeyId" not in body
    for wrong in ("wrong", server.token[:-1], server.token + "x", f"Bearer {server.token}", ""):
        status, body = get(server.url, wrong)
        assert status == 403, wrong
        assert "AccessKeyId" not in body


def test_other_paths_and_methods_serve_nothing(server: CredentialServer) -> None:
    host, port = server.address
    status, body = get(f"http://{host}:{port}/latest/meta-data/", server.token)
    assert status == 404 and "AccessKeyId" not in body
    request = urllib.request.Request(server.url, data=b"{}", method="POST")
    request.add_header("Authorization", server.token)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 501


def test_listens_on_loopback_only_with_a_256_bit_token(server: CredentialServer) -> None:
    host, port = server.address
    assert host == "127.0.0.1"
    assert server.url == f"http://127.0.0.1:{port}{PATH}"
    assert len(base64.urlsafe_b64decode(server.token + "=")) == 32
    with CredentialServer(lambda: dict(FAKE)) as other:
        assert other.token != server.token
    assert server.environ() == {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": server.url,
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": server.token,
    }


def test_stopping_closes_the_port() -> None:
    running = CredentialServer(lambda: dict(FAKE)).start()
    host, port = running.address
    assert get(running.url, running.token)[0] == 200
    running.stop()
    assert refuses_connections(host, port)


def test_a_failure_to_get_credentials_is_a_500_without_secrets() -> None:
    def provide() -> dict[str, str]:
        raise rolesession.AssumeRoleError(
            "AssumeRole failed: AccessDenied", role_arn=ROLE, code="AccessDenied"
        )

    with CredentialServer(provide) as running:
        status, body = get(running.url, running.token)
    assert status == 500
    assert body == {"code": "AssumeRoleError", "message": "AssumeRole failed: AccessDenied"}


def test_requests_are_served_one_at_a_time() -> None:
    active, most = 0, 0
    lock = threading.Lock()

    def provide() -> dict[str, str]:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return dict(FAKE)

    with CredentialServer(provide) as running:
        threads = [threading.Thread(target=get, args=(running.url, running.token)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert most == 1  # a refresh before handing out is never made twice at once


# -- fresh credentials from a real session -------------------------------------------------------


def test_the_endpoint_refreshes_before_handing_out_less_than_15_minutes(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder
) -> None:
    session = build_session(parse_args(["exec", ROLE, "--", "true"]))
    with CredentialServer(lambda: container_credentials(session)) as running:
        status, first = get(running.url, running.token)
        assert status == 200 and set(first) >= CONTAINER_FIELDS
        assert first["AccountId"] == ACCOUNT
        assert sts_calls.count() == 1

        frozen.tick(1800)  # 30 min left: botocore would not ask again before 15 min
        assert get(running.url, running.token)[1] == first
        session.get_credentials().wait_for_background()
        assert sts_calls.count() == 1

        frozen.tick(1000)  # 13 min left: botocore would ask at every request
        # Answered at once with what is held; the refresh runs in the background ...
        assert get(running.url, running.token)[1] == first
        session.get_credentials().wait_for_background(10)
        assert sts_calls.count() == 2
        # ... and the SDK's next request (it asks again inside 15 min) gets the new set.
        status, second = get(running.url, running.token)
        assert sts_calls.count() == 2
        assert second["AccessKeyId"] != first["AccessKeyId"]
        assert to_epoch(second["Expiration"]) - time.time() == pytest.approx(3600, abs=5)


# -- end to end: exec --server with a boto3 child ---------------------------------------------

CHILD = r"""
import json, os, sys, urllib.error, urllib.request
import boto3

def status(token):
    request = urllib.request.Request(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"])
    if token is not None:
        request.add_header("Authorization", token)
    try:
        return urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code

session = boto3.Session()
credentials = session.get_credentials()
report = {
    "aws_variables": sorted(k for k in os.environ if k.startswith("AWS_")),
    "uri": os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
    "method": credentials.method,
    "access_key": credentials.get_frozen_credentials().access_key,
    "arn": session.client("sts", endpoint_url=sys.argv[1]).get_caller_identity()["Arn"],
    "no_token": status(None),
    "wrong_token": status("x" * 43),
}
print(json.dumps(report))
sys.exit(3)
"""


def test_exec_server_hands_a_boto3_child_its_credentials_and_stops_with_it(
    moto_server: str, tmp_path: Path
) -> None:
    done = exec_boto3_child("--server", CHILD, moto_server, tmp_path)
    assert done.returncode == 3, done.stderr  # the child's exit code
    report = json.loads(done.stdout)
    assert report["method"] == "container-role"
    assert report["arn"].startswith(f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Hub/")
    assert report["access_key"].startswith("ASIA")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        assert name not in report["aws_variables"]
    assert {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN"} <= set(
        report["aws_variables"]
    )
    assert report["no_token"] == 401 and report["wrong_token"] == 403

    uri = urllib.parse.urlsplit(report["uri"])
    assert uri.hostname == "127.0.0.1"
    assert uri.port is not None and refuses_connections("127.0.0.1", uri.port)  # gone with the child


# -- robustness: nothing reaches the child's stderr, idle and oversized requests end ---------------


def test_a_client_resetting_mid_request_prints_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    reset = threading.Event()

    def provide() -> dict[str, str]:
        assert reset.wait(10)  # answer only once the client is gone
        time.sleep(0.05)
        return dict(FAKE)

    with CredentialServer(provide) as running:
        host, port = running.address
        client = socket.create_connection((host, port), timeout=10)
        client.sendall(f"GET {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {running.token}\r\n\r\n".encode())
        time.sleep(0.2)  # the request is being served
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # RST: the server's answer meets a reset connection
        reset.set()
        time.sleep(0.5)
        assert get(running.url, running.token) == (200, FAKE)  # and it goes on serving
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err


def test_an_idle_connection_is_closed_after_the_idle_timeout() -> None:
    with CredentialServer(lambda: dict(FAKE), idle_timeout=0.5) as running:
        client = socket.create_connection(running.address, timeout=10)
        # Closed by the server, having sent nothing (never closed: the client's 10-s timeout raises).
        assert client.recv(1024) == b""
        client.close()
        slow = socket.create_connection(running.address, timeout=10)
        slow.sendall(b"GET " + PATH.encode())  # a request that never finishes
        assert slow.recv(1024) == b""
        slow.close()
        assert get(running.url, running.token) == (200, FAKE)


def send_raw(address: tuple[str, int], data: bytes) -> bytes:
    """Send ``data`` (as far as the server reads it) and return whatever it answers."""
    client = socket.create_connection(address, timeout=10)
    try:
        with contextlib.suppress(OSError):  # the server may close before reading it all
            client.sendall(data)
        chunks = []
        with contextlib.suppress(OSError):
            while chunk := client.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)
    finally:
        client.close()


def test_absurd_headers_are_refused_without_serving_credentials() -> None:
    with CredentialServer(lambda: dict(FAKE)) as running:
        head = f"GET {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {running.token}\r\n"
        # Within http.server's own limits (lines under 64 KiB, under 100 headers), 3 MB in all.
        padding = "".join(f"X-Pad-{i}: {'a' * 60_000}\r\n" for i in range(50))
        answer = send_raw(running.address, (head + padding + "\r\n").encode())
        assert b"AccessKeyId" not in answer
        assert answer == b"" or answer.startswith(b"HTTP/1.0 431"), answer[:100]
        long_line = send_raw(running.address, b"GET /" + b"a" * 60_000 + b" HTTP/1.1\r\n\r\n")
        assert b"AccessKeyId" not in long_line
        assert get(running.url, running.token) == (200, FAKE)


def test_an_unexpected_error_is_a_500_naming_only_its_type(log_records: pytest.LogCaptureFixture) -> None:
    def provide() -> dict[str, str]:
        raise KeyError("SECRETSECRET")

    with CredentialServer(provide) as running:
        status, body = get(running.url, running.token)
    assert status == 500 and body == {"code": "KeyError", "message": "unexpected error"}
    assert "SECRETSECRET" not in log_records.text


def test_one_warning_per_failure_episode(log_records: pytest.LogCaptureFixture) -> None:
    failing = True

    def provide() -> dict[str, str]:
        if failing:
            raise rolesession.CredentialRefreshError("could not get credentials", role_arn=ROLE)
        return dict(FAKE)

    def warnings() -> int:
        return sum(1 for r in log_records.records if r.levelno >= logging.WARNING)

    with CredentialServer(provide) as running:
        for _ in range(5):
            assert get(running.url, running.token)[0] == 500
        assert warnings() == 1
        failing = False
        assert get(running.url, running.token)[0] == 200
        failing = True
        assert get(running.url, running.token)[0] == 500
        assert warnings() == 2  # a new episode


# -- the token check -------------------------------------------------------------------------------


def test_the_endpoint_compares_the_token_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """SPEC: "requires a random 256-bit token in the Authorization header (raw ...;
    constant-time compare)"."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    with CredentialServer(lambda: {"AccessKeyId": "ASIAFAKE"}) as server:
        for token, status in (("wrong", 403), (server.token, 200)):
            request = urllib.request.Request(server.url, headers={"Authorization": token})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    assert response.status == status
            except urllib.error.HTTPError as exc:
                assert exc.code == status
    assert compared == [(b"wrong", server.token.encode()), (server.token.encode(), server.token.encode())]


# -- trickling clients: bounded threads, bounded header time (issue: 60 connections held 60 threads) --


def handler_threads() -> int:
    return sum("process_request_thread" in thread.name for thread in threading.enumerate())


def test_trickling_clients_hold_neither_threads_nor_requests_for_long() -> None:
    stop = threading.Event()
    closed: list[float] = []
    peak = [0]

    def trickle() -> None:
        """Send a request one byte at a time, well inside the idle timeout, until closed."""
        sock = socket.create_connection(running.address, timeout=30)
        started = time.monotonic()
        try:
            for byte in f"GET {PATH} HTTP/1.1\r\nHost: x\r\n".encode() * 100:
                if stop.is_set():
                    return
                sock.sendall(bytes([byte]))
                peak[0] = max(peak[0], handler_threads())
                time.sleep(0.1)
        except OSError:  # reset or closed by the server
            closed.append(time.monotonic() - started)
        finally:
            sock.close()

    baseline = handler_threads()  # other servers' (a session-wide moto server's keep-alive threads)
    with CredentialServer(lambda: dict(FAKE), idle_timeout=5, head_timeout=1.0, max_connections=8) as running:
        clients = [threading.Thread(target=trickle) for _ in range(60)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(120)
        stop.set()
        assert peak[0] <= baseline + 8  # never a thread per trickling connection
        assert len(closed) == 60  # every one was cut off, though it never paused for the idle timeout
        assert max(closed) < 60  # each sends for 340 s if let be (load-proof bound)
        assert get(running.url, running.token) == (200, FAKE)  # and the endpoint still serves


def test_a_request_over_several_packets_in_time_is_served() -> None:
    with CredentialServer(lambda: dict(FAKE), head_timeout=10) as running:
        head = f"GET {PATH} HTTP/1.1\r\nHost: x\r\nAuthorization: {running.token}\r\n\r\n".encode()
        client = socket.create_connection(running.address, timeout=10)
        for i in range(0, len(head), 7):
            client.sendall(head[i : i + 7])
            time.sleep(0.01)
        answer = client.recv(65536)
        client.close()
        assert answer.startswith(b"HTTP/1.0 200") and b"AccessKeyId" in answer

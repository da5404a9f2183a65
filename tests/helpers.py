"""Constants and small helpers shared by the tests (fixtures live in conftest.py).

Import as ``from helpers import ROLE, ...``: ``tests/`` is on ``sys.path``.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import threading
import time
import types
from collections.abc import Container, Hashable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import boto3
from botocore.awsrequest import AWSResponse

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
THIRD_ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Reader"
ROLE_B = f"arn:aws:iam::{OTHER_ACCOUNT}:role/Hub"
ROLE_C = f"arn:aws:iam::{THIRD_ACCOUNT}:role/Target"
# Not moto's default identity key (AKIAIOSFODNN7EXAMPLE): a test of who signed must not pass by accident.
SOURCE_KEY = "AKIAROLESESSIONTEST1"
SOURCE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MFA_SERIAL = "arn:aws:iam::123456789012:mfa/alice"
#: What ``RoleSession.environ()`` (and ``rolesession assume``) hands a child process.
ENV_NAMES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
}


def access_key(session: boto3.Session) -> str:
    """The access key id a client of ``session`` signs with now (fetching if needed)."""
    return str(session.get_credentials().get_frozen_credentials().access_key)


def reject_signed_with(client: Any, keys: Container[str], code: str = "ExpiredToken") -> list[str]:
    """Make AWS (moto) refuse ``client``'s GetCallerIdentity requests signed with ``keys``.

    Returns the access keys seen, in order (the list grows as requests are sent).
    """
    seen: list[str] = []

    def before_send(request: Any, **kwargs: Any) -> Any:
        header = request.headers["Authorization"]
        header = header.decode() if isinstance(header, bytes) else header
        key = header.split("Credential=")[1].split("/")[0]
        seen.append(key)
        if key not in keys:
            return None
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            "<Message>The security token included in the request is expired</Message></Error>"
            "<RequestId>r</RequestId></ErrorResponse>"
        ).encode()
        raw = types.SimpleNamespace(stream=lambda **kw: iter([body]))
        return AWSResponse(request.url, 400, {"Content-Type": "text/xml"}, raw)

    client.meta.events.register_first("before-send.sts.GetCallerIdentity", before_send)
    return seen


def to_epoch(value: str) -> float:
    """Seconds since the epoch of an ISO 8601 time as STS and the CLI print it."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def to_iso(epoch: float) -> str:
    """An epoch time as the library logs and prints it (``2026-03-01T12:00:00Z``)."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class RecordingCache:
    """A cache that says it is persistent (like a file cache) and records every write."""

    persistent = True

    def __init__(self) -> None:
        self.data: dict[Hashable, dict[str, Any]] = {}
        self.sets: list[Hashable] = []

    def get(self, key: Hashable) -> dict[str, Any] | None:
        return self.data.get(key)

    def set(self, key: Hashable, entry: dict[str, Any]) -> None:
        self.sets.append(key)
        self.data[key] = entry

    def delete(self, key: Hashable) -> None:
        self.data.pop(key, None)

    def clear(self) -> None:
        self.data.clear()


_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


class LocalSts:
    """An STS endpoint on 127.0.0.1 answering ``AssumeRole`` with fresh credentials.

    ``requests`` records each request's form fields plus ``signer`` (the
    access key in its SigV4 ``Authorization`` header). ``faults`` are served
    first, one per request: ``(status, code)`` for an STS error document, or
    ``"drop"`` to close the connection without answering.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.faults: list[tuple[int, str] | str] = []
        self._serial = itertools.count(1)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                fields = {k: v[0] for k, v in parse_qs(body).items()}
                match = re.search(r"Credential=([A-Z0-9]+)/", self.headers.get("Authorization", ""))
                fields["signer"] = match.group(1) if match else ""
                owner.requests.append(fields)
                fault = owner.faults.pop(0) if owner.faults else None
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault is not None:
                    status, code = fault
                    self._send(
                        status,
                        f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>{code}'
                        f"</Code><Message>{code} (local STS)</Message></Error><RequestId>1</RequestId>"
                        "</ErrorResponse>",
                    )
                    return
                self._send(200, owner.assume_role_response(fields))

            def _send(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def assume_role_response(self, fields: dict[str, str]) -> str:
        n = next(self._serial)
        role = fields.get("RoleArn", ROLE)
        account, name = role.split(":")[4], role.rsplit("/", 1)[1]
        session_name = fields.get("RoleSessionName", "s")
        expires = to_iso(time.time() + int(fields.get("DurationSeconds", 3600)))
        return (
            f'<AssumeRoleResponse xmlns="{_NS}"><AssumeRoleResult><Credentials>'
            f"<AccessKeyId>ASIALOCAL{n:011d}</AccessKeyId><SecretAccessKey>local-secret-{n}</SecretAccessKey>"
            f"<SessionToken>local-token-{n}</SessionToken><Expiration>{expires}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROALOCAL:{session_name}</AssumedRoleId>"
            f"<Arn>arn:aws:sts::{account}:assumed-role/{name}/{session_name}</Arn></AssumedRoleUser>"
            "</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
            "</AssumeRoleResponse>"
        )

    def __enter__(self) -> LocalSts:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 answering GET and PUT with JSON or text.

    Subclasses give ``answer(method, path, headers) -> (status, body)``; a
    ``dict`` body is sent as JSON. ``requests`` records ``(method, path,
    headers)`` of every request. `JsonServer` answers fixed routes.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.requests.append((self.command, self.path, dict(self.headers)))
                status, body = outer.answer(self.command, self.path, self.headers)
                data = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, method: str, path: str, headers: Any) -> tuple[int, Any]:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class JsonServer(LoopbackServer):
    """Answers ``routes`` -- ``{(method, path): body or zero-argument callable}`` -- and 404 elsewhere."""

    def __init__(self, routes: dict[tuple[str, str], Any]) -> None:
        self.routes = routes
        super().__init__()

    def answer(self, method: str, path: str, headers: Any) -> tuple[int, Any]:
        body = self.routes.get((method, path.split("?")[0]))
        if callable(body):
            body = body()
        return (404, "") if body is None else (200, body)


def sso_role_credentials(key: str, seconds: float = 3600) -> dict[str, Any]:
    """The SSO portal's ``GET /federation/credentials`` answer for ``key``, valid ``seconds``."""
    expiration = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)
    return {
        "roleCredentials": {
            "accessKeyId": key,
            "secretAccessKey": "sso-secret-sso-secret-sso-secret-12",
            "sessionToken": "sso-session-token",
            "expiration": int(expiration.timestamp() * 1000),
        }
    }


def concurrently(n: int, fn: Any) -> list[Any]:
    """``fn()`` in ``n`` threads released together by a barrier; their results, in thread order."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def refresh_inside(session: Any) -> tuple[int, str, str]:
    """Run in another process on a pickled session: (pid, first access key, the key after a refresh).

    With credentials a few seconds long, the session's own engine refreshes
    them where it runs; the loop waits (real time) until it has.
    """
    import os
    import time

    credentials = session.get_credentials()
    first = credentials.get_frozen_credentials().access_key
    deadline = time.time() + 30
    while time.time() < deadline:
        time.sleep(0.5)
        credentials.get_frozen_credentials()
        credentials.wait_for_background(5)
        now = credentials.get_frozen_credentials().access_key
        if now != first:
            return os.getpid(), first, now
    return os.getpid(), first, first


def exec_boto3_child(endpoint: str, child: str, moto_server: str, tmp_path: Any, **env: str) -> Any:
    """Run ``rolesession exec ROLE ROLE_B ENDPOINT -- python CHILD MOTO_URL`` as a user does.

    The user's environment names a profile with static keys of its own
    (``AWS_PROFILE``), plus ``env``: the child must use ``endpoint``
    (``--server``, ``--imds``) all the same. The ``subprocess.CompletedProcess``.
    """
    import os
    import subprocess
    import sys

    script = tmp_path / "child.py"
    script.write_text(child)
    config = tmp_path / "aws-config"  # a profile the child must not use instead of the endpoint
    config.write_text(
        "[profile someone-else]\naws_access_key_id = AKIAOTHEROTHEROTHER1\naws_secret_access_key = x\n"
    )
    environ = {**os.environ, "AWS_PROFILE": "someone-else", "AWS_CONFIG_FILE": str(config), **env}
    return subprocess.run(
        [sys.executable, "-m", "rolesession", "exec", ROLE, ROLE_B, "--sts-endpoint-url", moto_server,
         endpoint, "--", sys.executable, str(script), moto_server],
        capture_output=True, text=True, timeout=120, env=environ, check=False,
    )  # fmt: skip

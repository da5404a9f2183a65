"""The loopback container-credentials endpoint behind ``rolesession exec --server``.

It speaks the protocol AWS SDKs use for ECS task roles: the child process
finds ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and ``AWS_CONTAINER_AUTHORIZATION_TOKEN``
in its environment, sends the token raw in the ``Authorization`` header, and
gets ``{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}`` back --
fresh ones every time its SDK refreshes, for as long as it runs.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from ..errors import RoleSessionError

__all__ = ["CredentialServer"]

logger = logging.getLogger("rolesession")

HOST = "127.0.0.1"  # loopback only: the credentials never leave this machine
PATH = "/rolesession/credentials"

Provide = Callable[[], dict[str, str]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, provide: Provide, token: str) -> None:
        super().__init__((HOST, 0), _Handler)
        self.provide = provide
        self.token = token.encode("ascii")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        supplied = self.headers.get("Authorization")
        if supplied is None:
            self._send(401, {"message": "missing Authorization header"})
            return
        # Constant-time compare: the token is the only thing guarding the credentials.
        if not hmac.compare_digest(supplied.encode("utf-8", "surrogateescape"), self.server.token):
            self._send(403, {"message": "wrong authorization token"})
            return
        if urlsplit(self.path).path != PATH:
            self._send(404, {"message": "not found"})
            return
        try:
            body = self.server.provide()
        except RoleSessionError as exc:  # messages never hold secrets
            logger.warning("the credential endpoint could not get credentials: %s", exc)
            self._send(500, {"code": type(exc).__name__, "message": str(exc)})
            return
        self._send(200, body)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # Every SDK refresh would print a line into the child's terminal.
        pass


class CredentialServer:
    """Serves ``provide()``'s credentials on ``127.0.0.1`` to holders of ``token``.

    ``provide`` is called once per request, one request at a time (so a
    refresh it makes is not made twice by concurrent requests). Use as a
    context manager: the server stops when the block ends.
    """

    def __init__(self, provide: Provide) -> None:
        self.token = secrets.token_urlsafe(32)  # 256 random bits
        self._lock = threading.Lock()
        self._provide = provide
        self._server = _Server(self._provide_one_at_a_time, self.token)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="rolesession-credential-server", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}{PATH}"

    def environ(self) -> dict[str, str]:
        """The variables pointing an AWS SDK at this endpoint."""
        return {
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": self.url,
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.token,
        }

    def start(self) -> CredentialServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> CredentialServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _provide_one_at_a_time(self) -> dict[str, str]:
        with self._lock:
            return self._provide()

    def __repr__(self) -> str:
        return f"CredentialServer(url={self.url!r})"

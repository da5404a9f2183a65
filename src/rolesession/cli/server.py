"""The loopback credential endpoints behind ``rolesession exec --server`` and ``--imds``.

`LoopbackEndpoint` is what both share: a threaded HTTP server on
``127.0.0.1`` with capped connections, idle and request-head timeouts, no
traceback on the child's terminal, and credentials provided one request at
a time with one WARNING per failure episode. `CredentialServer` speaks the
protocol AWS SDKs use for ECS task roles: the child process finds
``AWS_CONTAINER_CREDENTIALS_FULL_URI`` and ``AWS_CONTAINER_AUTHORIZATION_TOKEN``
in its environment, sends the token raw in the ``Authorization`` header, and
gets ``{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}`` back --
fresh ones every time its SDK refreshes, for as long as it runs. The
instance-metadata endpoint is in `rolesession.cli.imds`.
"""

from __future__ import annotations

import hmac
import http.client
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from rolesession import RoleSessionError

__all__ = ["CredentialServer", "LoopbackEndpoint", "Reply", "failure_reply", "json_reply", "text_reply"]

logger = logging.getLogger("rolesession")

HOST = "127.0.0.1"  # loopback only: the credentials never leave this machine
PATH = "/rolesession/credentials"
#: A connection that sends nothing (or trickles) for this long is closed, so
#: it cannot hold a thread for as long as the command runs.
IDLE_TIMEOUT = 10.0
#: The request line and headers together; an SDK's request is well under 1 KiB.
MAX_REQUEST_HEAD = 16 * 1024
#: From a request's first byte, how long its request line and headers may
#: take in all: a client trickling a byte at a time never reaches the idle
#: timeout, but reaches this.
HEAD_TIMEOUT = 5.0
#: Connections served at once; more are closed as they arrive. An SDK makes
#: one request at a time: the rest could only be holding threads.
MAX_CONNECTIONS = 16

Provide = Callable[[], dict[str, str]]


class Reply(NamedTuple):
    """An endpoint's answer to one request."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


def json_reply(status: int, body: dict[str, Any], headers: Iterable[tuple[str, str]] = ()) -> Reply:
    return Reply(status, json.dumps(body).encode("utf-8"), "application/json", tuple(headers))


def text_reply(status: int, body: str, headers: Iterable[tuple[str, str]] = ()) -> Reply:
    return Reply(status, body.encode("utf-8"), "text/plain", tuple(headers))


def failure_reply(exc: Exception) -> Reply:
    """The 500 for a failure to get credentials: the error's class, and its message when it is ours."""
    if isinstance(exc, RoleSessionError):  # messages never hold secrets
        return json_reply(500, {"code": type(exc).__name__, "message": str(exc)})
    # Any other message might quote anything: the type only.
    return json_reply(500, {"code": type(exc).__name__, "message": "unexpected error"})


#: ``answer(method, path, headers)``: the reply to one request (headers case-insensitive).
Answer = Callable[[str, str, Message], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        answer: Answer,
        methods: frozenset[str],
        idle_timeout: float,
        head_timeout: float,
        max_connections: int,
    ) -> None:
        super().__init__((HOST, 0), _Handler)
        self.answer = answer
        self.methods = methods
        self.idle_timeout = idle_timeout
        self.head_timeout = head_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._max_connections = max_connections

    def process_request(self, request: Any, client_address: Any) -> None:
        # One thread per connection, at most `MAX_CONNECTIONS`: beyond that the
        # connection is closed at once instead of holding another thread.
        if not self._slots.acquire(blocking=False):
            logger.debug("the credential endpoint refused a connection: %d are open", self._max_connections)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback on stderr -- the child's terminal --
        # when a client resets its connection mid-request, for instance.
        logger.debug("the credential endpoint dropped a connection", exc_info=True)


class _HeadTooLarge(http.client.HTTPException):
    """The request line and headers exceed `MAX_REQUEST_HEAD`."""


class _HeadReader:
    """A connection's input, allowing each request at most ``limit`` bytes and
    ``head_timeout`` seconds (from its first byte) of request line and headers.

    It reads the socket itself, with the time left as each read's timeout,
    so a client sending a byte at a time cannot stretch a request out.
    Requests here have no body: what follows the headers is the next request.
    """

    def __init__(self, sock: socket.socket, limit: int, idle_timeout: float, head_timeout: float) -> None:
        self._sock = sock
        self._limit = limit
        self._idle = idle_timeout
        self._head_timeout = head_timeout
        self._buffer = b""
        self.next_request()

    def next_request(self) -> None:
        self._left = self._limit
        self._deadline: float | None = None

    def readline(self, size: int = -1) -> bytes:
        allowed = self._left + 1 if size < 0 else min(size, self._left + 1)
        while True:
            end = self._buffer.find(b"\n", 0, allowed)
            if end >= 0 or len(self._buffer) >= allowed:
                cut = end + 1 if end >= 0 else allowed
                break
            data = self._receive()
            if not data:  # the client closed: what there is
                cut = len(self._buffer)
                break
            self._buffer += data
        line, self._buffer = self._buffer[:cut], self._buffer[cut:]
        self._left -= len(line)
        if self._left < 0:
            # Raised inside header parsing, BaseHTTPRequestHandler answers 431.
            raise _HeadTooLarge(f"request head over {self._limit} bytes")
        return line

    def _receive(self) -> bytes:
        timeout = self._idle
        if self._deadline is not None:
            timeout = min(timeout, self._deadline - time.monotonic())
            if timeout <= 0:
                raise TimeoutError("request head not received in time")
        self._sock.settimeout(timeout)
        data = self._sock.recv(4096)
        if self._deadline is None:  # the request's first byte: its clock starts
            self._deadline = time.monotonic() + self._head_timeout
        return data

    def read(self, size: int = -1) -> bytes:
        return b""  # no request here has a body worth reading

    def close(self) -> None:
        pass  # the socket is the handler's to close


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def setup(self) -> None:
        self.request.settimeout(self.server.idle_timeout)  # reads and writes alike
        super().setup()
        self._raw_rfile = self.rfile  # unused (the head reader reads the socket), closed in finish
        self._head = _HeadReader(
            self.request, MAX_REQUEST_HEAD, self.server.idle_timeout, self.server.head_timeout
        )
        self.rfile = self._head  # type: ignore[assignment]

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self._raw_rfile.close()

    def handle_one_request(self) -> None:
        self._head.next_request()
        self.request.settimeout(self.server.idle_timeout)
        try:
            super().handle_one_request()
        except _HeadTooLarge:  # a request line that long: no answer deserved
            self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        if self.command not in self.server.methods:
            self.send_error(501, f"unsupported method ({self.command!r})")
            return
        reply = self.server.answer(self.command, urlsplit(self.path).path, self.headers)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        # Every SDK refresh would print a line into the child's terminal.
        logger.debug("credential endpoint: " + format, *args)


class LoopbackEndpoint:
    """A credential endpoint on ``127.0.0.1``: subclasses give `answer` and `environ`.

    Requests are answered on threads of their own; `provide` calls its
    ``provide`` one at a time and logs the first failure after a success as
    a WARNING, the rest of the episode at DEBUG. Connections idle for
    ``idle_timeout`` seconds are closed, as are requests whose line and
    headers take more than ``head_timeout`` from their first byte; at most
    ``max_connections`` are served at once (more are closed on arrival).
    Methods outside ``methods`` get 501. Use as a context manager: the
    server stops when the block ends.
    """

    methods = frozenset({"GET"})

    def __init__(
        self,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        head_timeout: float = HEAD_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._lock = threading.Lock()
        self._failing = False
        self._server = _Server(self.answer, self.methods, idle_timeout, head_timeout, max_connections)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"rolesession-{type(self).__name__}", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def answer(self, method: str, path: str, headers: Message) -> Reply:
        """The reply to one request (``path`` without its query)."""
        raise NotImplementedError

    def environ(self) -> dict[str, str]:
        """The variables pointing an AWS SDK at this endpoint."""
        raise NotImplementedError

    def start(self) -> Any:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def provide(self, provide: Provide) -> dict[str, str]:
        """``provide()``, one call at a time, its failures logged once per episode."""
        with self._lock:
            try:
                body = provide()
            except Exception as exc:
                self._log_failure(exc)
                raise
            self._failing = False
            return body

    def _log_failure(self, exc: Exception) -> None:
        # An SDK asks again and again while it gets 500s: one WARNING per episode.
        level = logging.DEBUG if self._failing else logging.WARNING
        self._failing = True
        if isinstance(exc, RoleSessionError):
            logger.log(level, "the credential endpoint could not get credentials: %s", exc)
        else:
            logger.log(level, "the credential endpoint failed: unexpected %s", type(exc).__name__)


class CredentialServer(LoopbackEndpoint):
    """Serves ``provide()``'s credentials on ``127.0.0.1`` to holders of ``token``.

    ``provide`` is called once per request, one request at a time, and should
    answer at once (``exec --server`` hands out what is held while a refresh
    runs in the background). When it raises, the request gets a 500 with the
    error's class (and message, for the library's own errors). See
    `LoopbackEndpoint` for the connection limits and the failure logging.
    """

    def __init__(
        self,
        provide: Provide,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        head_timeout: float = HEAD_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.token = secrets.token_urlsafe(32)  # 256 random bits
        self._token = self.token.encode("ascii")
        self._provide = provide
        super().__init__(
            idle_timeout=idle_timeout, head_timeout=head_timeout, max_connections=max_connections
        )

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

    def answer(self, method: str, path: str, headers: Message) -> Reply:
        supplied = headers.get("Authorization")
        if supplied is None:
            return json_reply(401, {"message": "missing Authorization header"})
        # Constant-time compare: the token is the only thing guarding the credentials.
        if not hmac.compare_digest(supplied.encode("utf-8", "surrogateescape"), self._token):
            return json_reply(403, {"message": "wrong authorization token"})
        if path != PATH:
            return json_reply(404, {"message": "not found"})
        try:
            return json_reply(200, self.provide(self._provide))
        except Exception as exc:
            return failure_reply(exc)

    def __repr__(self) -> str:
        return f"CredentialServer(url={self.url!r})"

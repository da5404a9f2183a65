"""A fault-injecting HTTP proxy on loopback, in front of a real moto server.

Standard library only. Every request is read in full, classified (service,
STS ``Action`` and ``RoleArn`` from the form body, the signing access key from
the ``Authorization`` header), matched against the faults switched on, and
then either forwarded to the upstream server or answered with the fault.

Fault rules (first matching rule wins; ``action``/``role`` narrow a rule to
one STS operation or role, ``times`` to the first N matching requests):

- ``hang``: read the request, never answer until `FaultProxy.release` or
  `FaultProxy.stop`, then close without answering;
- ``refuse``: close without answering (``listener=True``: close the listening
  socket itself, so connections are refused until `FaultProxy.clear`);
- ``slow(seconds)``: forward after a real delay;
- ``reset``: close with an RST (``SO_LINGER`` 0);
- ``throttle``: HTTP 400 with an STS ``Throttling`` error;
- ``http_5xx(code)``: a 5xx answer (an STS error document or a gateway's HTML);
- ``non_xml``: HTTP 200 whose body is not XML;
- ``echo_secrets``: an STS error whose ``<Message>`` quotes the request's
  ``WebIdentityToken``, ``SAMLAssertion`` and ``TokenCode`` values verbatim;
- ``reject_keys(keys, code)``: any request (any service) signed with one of
  ``keys`` (or for which ``keys(access_key)`` is true) gets ``code`` in the
  error shape of that service's protocol.

Response transforms (applied to every forwarded answer they match, together):

- ``skew(seconds)``: STS's clock is ``seconds`` ahead of the host's: the
  ``Date`` header and the credentials' ``<Expiration>`` are moved by that much;
- ``expire_in(seconds)``: credentials expire ``seconds`` after the answer's
  ``Date`` (short-lived credentials for real-time soaks).

Every request is recorded (`Record`) and counted per action, thread-safely.
Durations use the real clock even while freezegun freezes time.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import email.utils
import http.client
import json
import re
import socket
import struct
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FaultProxy", "Record", "Rule"]

# Held in a tuple: freezegun swaps module attributes that *are* clock
# functions, not ones inside containers, so this stays the real clock.
_REAL_CLOCK = (time.perf_counter,)


def real_clock() -> float:
    """``time.perf_counter`` as it was before any freezegun patching."""
    return _REAL_CLOCK[0]()


STS_ACTIONS = (
    "AssumeRole",
    "AssumeRoleWithWebIdentity",
    "AssumeRoleWithSAML",
    "GetSessionToken",
    "GetCallerIdentity",
)
#: Form fields whose values `echo_secrets` quotes back.
SECRET_FIELDS = ("WebIdentityToken", "SAMLAssertion", "TokenCode")
FAULTS = ("hang", "refuse", "slow", "reset", "throttle", "http_5xx", "non_xml", "echo_secrets", "reject_keys")
TRANSFORMS = ("skew", "expire_in")
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/[^/]*/[^/]*/([^/]+)/")
_EXPIRATION = re.compile(rb"<Expiration>([^<]+)</Expiration>")
_STATUS_FOR_CODE = {"InvalidClientTokenId": 403, "AccessDenied": 403, "ServiceUnavailable": 503}


@dataclass
class Rule:
    """One switched-on fault or transform."""

    kind: str
    action: str | None = None
    role: str | None = None
    times: int | None = None  # None: every matching request
    params: dict[str, Any] = field(default_factory=dict)
    applied: int = 0

    def matches(self, request: _Request) -> bool:
        if self.times is not None and self.applied >= self.times:
            return False
        if self.action is not None and request.action != self.action:
            return False
        if self.role is not None and request.role != self.role:
            return False
        if self.kind == "reject_keys":
            keys = self.params["keys"]
            if request.access_key is None:
                return False
            return bool(keys(request.access_key)) if callable(keys) else request.access_key in keys
        return True


@dataclass
class Record:
    """What the proxy saw and did for one request."""

    action: str | None
    role: str | None
    service: str | None
    access_key: str | None
    fault: str  # a fault kind, or "forward"
    transforms: tuple[str, ...]
    status: int | None = None  # None: no HTTP answer (hang, refuse, reset)
    duration: float | None = None  # real seconds from the request's arrival to the end of handling


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str]
    action: str | None
    role: str | None
    service: str | None
    access_key: str | None


class FaultProxy:
    """A threaded loopback proxy forwarding to ``upstream`` with switchable faults.

    Use as a context manager or call `start` and `stop`. ``url`` is what
    clients are pointed at (``sts_endpoint_url``, ``endpoint_url``).
    """

    def __init__(self, upstream: str, *, host: str = "127.0.0.1", port: int = 0) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        assert parsed.hostname is not None and parsed.port is not None, upstream
        self.upstream = (parsed.hostname, parsed.port)
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._records: list[Record] = []
        self._release = threading.Event()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- lifecycle --------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._stopping.clear()
        self._listen()
        return self

    def stop(self) -> None:
        """Stop serving, release hung requests, close every open connection."""
        self._stopping.set()
        self.release()
        self._close_listener()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            _close_quietly(conn)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def listening(self) -> bool:
        return self._server is not None

    def _listen(self) -> None:
        server = _fresh_server(self._host) if self._port == 0 else _Server((self._host, self._port), _Handler)
        server.proxy = self
        self._port = server.server_address[1]
        self._server = server
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="faultproxy", daemon=True
        )
        self._serve_thread = thread
        thread.start()

    def _close_listener(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join(5)
            self._serve_thread = None

    # -- switching faults ---------------------------------------------------------

    def _add(self, kind: str, action: str | None, role: str | None, times: int | None, **params: Any) -> Rule:
        if action is not None and action not in STS_ACTIONS:
            raise ValueError(f"unknown STS action {action!r}")
        rule = Rule(kind, action, role, times, params)
        with self._lock:
            self._rules.append(rule)
        return rule

    def hang(self, *, action: str | None = None, role: str | None = None, times: int | None = None) -> Rule:
        """Read matching requests and never answer them until `release` (or `stop`)."""
        return self._add("hang", action, role, times)

    def refuse(
        self,
        *,
        action: str | None = None,
        role: str | None = None,
        times: int | None = None,
        listener: bool = False,
    ) -> Rule | None:
        """Close matching requests' connections without answering.

        ``listener=True`` closes the listening socket instead, so every new
        connection is refused (ECONNREFUSED) until `clear`.
        """
        if listener:
            if action is not None or role is not None or times is not None:
                raise ValueError("a closed listener refuses everything: no action, role or times")
            self._close_listener()
            with self._lock:
                connections = list(self._connections)
            for conn in connections:  # idle keep-alive connections would bypass the refusal
                _close_quietly(conn)
            return None
        return self._add("refuse", action, role, times)

    def slow(
        self, seconds: float, *, action: str | None = None, role: str | None = None, times: int | None = None
    ) -> Rule:
        """Forward matching requests after ``seconds`` of real delay."""
        return self._add("slow", action, role, times, seconds=seconds)

    def reset(self, *, action: str | None = None, role: str | None = None, times: int | None = None) -> Rule:
        """Read matching requests and close their connections with an RST."""
        return self._add("reset", action, role, times)

    def throttle(
        self, *, action: str | None = None, role: str | None = None, times: int | None = None
    ) -> Rule:
        """Answer matching requests HTTP 400 ``Throttling`` (``times=N``: the first N only)."""
        return self._add("throttle", action, role, times)

    def http_5xx(
        self,
        code: int = 503,
        *,
        body: str = "xml",
        action: str | None = None,
        role: str | None = None,
        times: int | None = None,
    ) -> Rule:
        """Answer with HTTP ``code``: an STS error document (``body="xml"``) or a gateway's HTML page."""
        if not 500 <= code <= 599 or body not in ("xml", "html"):
            raise ValueError("http_5xx needs a 5xx code and body 'xml' or 'html'")
        return self._add("http_5xx", action, role, times, code=code, body=body)

    def non_xml(
        self, *, action: str | None = None, role: str | None = None, times: int | None = None
    ) -> Rule:
        """Answer HTTP 200 with a body that is not XML."""
        return self._add("non_xml", action, role, times)

    def echo_secrets(
        self,
        code: str = "AccessDenied",
        *,
        action: str | None = None,
        role: str | None = None,
        times: int | None = None,
    ) -> Rule:
        """Answer an STS error ``code`` whose message quotes the request's secrets verbatim."""
        return self._add("echo_secrets", action, role, times, code=code)

    def reject_keys(
        self,
        keys: Collection[str] | Callable[[str], bool],
        code: str = "ExpiredToken",
        *,
        times: int | None = None,
    ) -> Rule:
        """Answer ``code`` to any request signed with one of ``keys`` (or a key ``keys(key)`` accepts)."""
        if not callable(keys):
            keys = frozenset(keys)
        return self._add("reject_keys", None, None, times, keys=keys, code=code)

    def skew(self, seconds: float, *, action: str | None = None, expiration: bool = True) -> Rule:
        """Make STS's clock ``seconds`` ahead of the host's (negative: behind).

        The ``Date`` header moves by ``seconds``; with ``expiration=True`` the
        credentials' ``<Expiration>`` moves too (it is written in STS's clock).
        """
        return self._add("skew", action, None, None, seconds=seconds, expiration=expiration)

    def expire_in(self, seconds: float, *, action: str | None = None) -> Rule:
        """Rewrite ``<Expiration>`` to the answer's ``Date`` plus ``seconds``."""
        return self._add("expire_in", action, None, None, seconds=seconds)

    def clear(self) -> None:
        """Switch every fault and transform off; release hung requests; listen again."""
        with self._lock:
            self._rules.clear()
        self.release()
        if self._server is None and not self._stopping.is_set():
            self._listen()

    def release(self) -> None:
        """Let every request hung so far go (closed without an answer)."""
        with self._lock:
            released, self._release = self._release, threading.Event()
        released.set()

    # -- what happened --------------------------------------------------------------

    @property
    def records(self) -> list[Record]:
        with self._lock:
            return list(self._records)

    def count(self, action: str | None = None, *, fault: str | None = None, role: str | None = None) -> int:
        """Requests seen (``action``/``fault``/``role``: only those)."""
        return sum(
            1
            for r in self.records
            if action in (None, r.action) and fault in (None, r.fault) and role in (None, r.role)
        )

    def counts(self) -> Counter[str | None]:
        """Requests seen per action."""
        return Counter(r.action for r in self.records)

    def wait_for(self, action: str | None, count: int, timeout: float = 5.0) -> bool:
        """Wait (really) until ``count`` requests for ``action`` have arrived."""
        deadline = real_clock() + timeout
        while self.count(action) < count:
            if real_clock() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def reset_records(self) -> None:
        with self._lock:
            self._records.clear()

    # -- used by the handler ------------------------------------------------------

    def _choose(self, request: _Request) -> tuple[Rule | None, list[Rule]]:
        with self._lock:
            fault = None
            for rule in self._rules:
                if rule.kind in FAULTS and rule.matches(request):
                    rule.applied += 1
                    fault = rule
                    break
            transforms = [r for r in self._rules if r.kind in TRANSFORMS and r.matches(request)]
            return fault, transforms

    def _record(self, record: Record) -> None:
        with self._lock:
            self._records.append(record)

    def _track(self, conn: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _hang_event(self) -> threading.Event:
        with self._lock:
            return self._release


#: Ports proxies of this process have listened on: a new proxy never reuses
#: one, so a straggling client of an earlier test cannot reach it by mistake.
_USED_PORTS: set[int] = set()
_PORTS_LOCK = threading.Lock()


def _fresh_server(host: str) -> _Server:
    rejected = []
    try:
        with _PORTS_LOCK:
            while True:
                server = _Server((host, 0), _Handler)
                port = server.server_address[1]
                if port not in _USED_PORTS:
                    _USED_PORTS.add(port)
                    return server
                rejected.append(server)  # kept open until we have another port
    finally:
        for server in rejected:
            server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    proxy: FaultProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up on a hung request is not an error of the proxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.proxy._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.proxy._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_GET

    # -- one request ------------------------------------------------------------------

    def _handle(self) -> None:
        proxy = self.server.proxy
        started = real_clock()
        # One request per connection: a refusal or a reset then never lands
        # on a connection the client thinks idle and reusable.
        self.close_connection = True
        request = self._read_request()
        fault, transforms = proxy._choose(request)
        record = Record(
            action=request.action,
            role=request.role,
            service=request.service,
            access_key=request.access_key,
            fault=fault.kind if fault is not None else "forward",
            transforms=tuple(t.kind for t in transforms),
        )
        proxy._record(record)  # counted on arrival: a hung request counts while it hangs
        status: int | None = None
        try:
            status = self._serve(proxy, request, fault, transforms)
        finally:
            with proxy._lock:
                record.status = status
                record.duration = real_clock() - started

    def _read_request(self) -> _Request:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        query = urllib.parse.urlsplit(self.path).query
        form: dict[str, str] = {}
        content_type = self.headers.get("Content-Type", "")
        if "x-www-form-urlencoded" in content_type:
            form.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        elif query:
            form.update(urllib.parse.parse_qsl(query, keep_blank_values=True))
        authorization = self.headers.get("Authorization", "")
        match = _CREDENTIAL.search(authorization) or _CREDENTIAL.search(urllib.parse.unquote(query))
        access_key = match.group(1) if match else None
        service = match.group(2) if match else None
        action = form.get("Action")
        target = self.headers.get("X-Amz-Target")
        if action is None and target:
            action = target.rsplit(".", 1)[-1]
        if service is None and action in STS_ACTIONS:
            service = "sts"  # web identity and SAML calls are unsigned
        return _Request(
            method=self.command,
            path=self.path,
            headers=headers,
            body=body,
            form=form,
            action=action,
            role=form.get("RoleArn"),
            service=service,
            access_key=access_key,
        )

    def _serve(
        self, proxy: FaultProxy, request: _Request, fault: Rule | None, transforms: list[Rule]
    ) -> int | None:
        kind = fault.kind if fault is not None else None
        if kind == "hang":
            event = proxy._hang_event()
            while not event.wait(0.1) and not proxy._stopping.is_set():
                pass
            return None
        if kind == "refuse":
            return None  # the connection is closed by the server after this
        if kind == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            # Closed at once by descriptor: the handler's buffered files would
            # otherwise keep it open, and ``shutdown()`` would send a FIN first.
            socket.close(self.connection.detach())
            return None
        if kind == "slow":
            assert fault is not None
            proxy._stopping.wait(fault.params["seconds"])
        if kind in (None, "slow"):
            return self._forward(proxy, request, transforms)
        assert fault is not None
        status, headers, body = _canned(fault, request)
        self._answer(status, headers, body)
        return status

    def _forward(self, proxy: FaultProxy, request: _Request, transforms: list[Rule]) -> int:
        conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
        try:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
            headers["Connection"] = "close"
            conn.request(request.method, request.path, body=request.body or None, headers=headers)
            response = conn.getresponse()
            body = response.read()
            status = response.status
            out = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        finally:
            conn.close()
        for rule in transforms:
            out, body = _transform(rule, out, body)
        self._answer(status, out, body)
        return status

    def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        if not any(name.lower() == "date" for name, _ in headers):
            self.send_header("Date", email.utils.formatdate(time.time(), usegmt=True))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


# -- canned answers ---------------------------------------------------------------------


def _sts_error(code: str, message: str, kind: str = "Sender") -> bytes:
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>{_xml_escape(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _canned(rule: Rule, request: _Request) -> tuple[int, list[tuple[str, str]], bytes]:
    xml = [("Content-Type", "text/xml"), ("x-amzn-RequestId", str(uuid.uuid4()))]
    if rule.kind == "throttle":
        return 400, xml, _sts_error("Throttling", "Rate exceeded")
    if rule.kind == "http_5xx":
        code = rule.params["code"]
        if rule.params["body"] == "html":
            reason = http.client.responses.get(code, "Error")
            title = f"{code} {reason}"
            page = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
            return code, [("Content-Type", "text/html")], page.encode()
        error = "ServiceUnavailable" if code == 503 else "InternalFailure"
        return code, xml, _sts_error(error, "The service is unavailable. Please try again later.", "Receiver")
    if rule.kind == "non_xml":
        return 200, [("Content-Type", "text/plain")], b"upstream answered: OK (this body is not XML) {"
    if rule.kind == "echo_secrets":
        values = [request.form[name] for name in SECRET_FIELDS if request.form.get(name)]
        quoted = "; ".join(f"the value {v} was not accepted" for v in values) or "no secret was sent"
        code = rule.params["code"]
        return _STATUS_FOR_CODE.get(code, 400), xml, _sts_error(code, f"Request refused: {quoted}")
    if rule.kind == "reject_keys":
        return _rejection(rule.params["code"], request)
    raise AssertionError(f"no canned answer for {rule.kind}")  # pragma: no cover


_REJECT_MESSAGES = {
    "ExpiredToken": "The security token included in the request is expired",
    "ExpiredTokenException": "The security token included in the request is expired",
    "InvalidClientTokenId": "The security token included in the request is invalid.",
    "RequestExpired": "Request has expired.",
}


def _rejection(code: str, request: _Request) -> tuple[int, list[tuple[str, str]], bytes]:
    """``code`` in the error shape of the request's protocol."""
    message = _REJECT_MESSAGES.get(code, "The request was rejected.")
    status = _STATUS_FOR_CODE.get(code, 400)
    request_id = str(uuid.uuid4())
    content_type = request.headers.get("Content-Type", "")
    if request.headers.get("X-Amz-Target") or "json" in content_type:
        # JSON and REST-JSON protocols: botocore reads ``__type`` / x-amzn-ErrorType.
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("x-amzn-ErrorType", code),
            ("x-amzn-RequestId", request_id),
        ]
        return status, headers, body
    if "Action" in request.form:  # the query protocol (STS, SQS, ...)
        return (
            status,
            [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)],
            _sts_error(code, message),
        )
    # REST-XML (S3, Route 53, CloudFront)
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
        f"<RequestId>{request_id}</RequestId></Error>"
    ).encode()
    return status, [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], body


# -- transforms --------------------------------------------------------------------------


def _transform(
    rule: Rule, headers: list[tuple[str, str]], body: bytes
) -> tuple[list[tuple[str, str]], bytes]:
    date = _date_of(headers)
    if rule.kind == "skew":
        shift = _dt.timedelta(seconds=rule.params["seconds"])
        headers = [(k, v) for k, v in headers if k.lower() != "date"]
        headers.append(("Date", email.utils.format_datetime(date + shift, usegmt=True)))
        if rule.params["expiration"]:
            body = _EXPIRATION.sub(lambda m: _shifted(m.group(1), shift), body)
        return headers, body
    if rule.kind == "expire_in":
        until = date + _dt.timedelta(seconds=rule.params["seconds"])
        text = until.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
        return headers, _EXPIRATION.sub(lambda m: b"<Expiration>" + text + b"</Expiration>", body)
    raise AssertionError(f"no transform {rule.kind}")  # pragma: no cover


def _date_of(headers: list[tuple[str, str]]) -> _dt.datetime:
    for name, value in headers:
        if name.lower() == "date":
            return email.utils.parsedate_to_datetime(value)
    return _dt.datetime.fromtimestamp(int(time.time()), _dt.timezone.utc)


def _shifted(stamp: bytes, shift: _dt.timedelta) -> bytes:
    text = stamp.decode()
    when = _dt.datetime.fromisoformat(text.replace("Z", "+00:00")) + shift
    fraction = "." in text
    out = when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{when.microsecond // 1000:03d}" if fraction else "") + "Z"
    return b"<Expiration>" + out.encode() + b"</Expiration>"


def _close_quietly(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        conn.close()

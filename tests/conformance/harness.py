"""One config, two resolvers, every outgoing request compared.

A scenario is a pair of shared config files (and environment) run twice:
botocore-native (``boto3.Session(profile_name=X)`` then a client call) and
``rolesession.from_profile(X)`` then the same client call. Every request
either side sends is caught where botocore hands it to HTTP
(``botocore.httpsession.URLLib3Session.send``), recorded -- operation,
parameters, endpoint host, signing region, which credentials signed it, the
TLS verification setting -- and, for STS, answered by a moto server on
loopback whatever host it was meant for, so the host each side *chose* is
what is compared and nothing leaves the machine. Requests to the other
loopback fakes (container endpoint, instance metadata, SSO portal) go
through unchanged and are recorded too.

Access keys STS hands out differ between runs: a signer is recorded as what
it stands for (``AssumeRole:<role>``, ``GetSessionToken``, a fixed key).

The only botocore private read in the tests of this package is the HTTP
session's ``_verify`` (where ``ca_bundle`` ends up): `verify_of` checks it is
there, so a botocore change fails loudly rather than compares nothing.
"""

from __future__ import annotations

import http.client
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import botocore.httpsession
from botocore.awsrequest import AWSResponse

_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_AUTH = re.compile(r"Credential=([A-Z0-9]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
_LOOPBACK = ("127.0.0.1", "localhost")
#: botocore's default RoleSessionName.
BOTOCORE_SESSION_NAME = re.compile(r"^botocore-session-\d+$")
MFA_CODE = "123456"


@dataclass(frozen=True)
class Sent:
    """One outgoing request as compared."""

    operation: str
    params: tuple[tuple[str, str], ...]
    host: str
    region: str  # the SigV4 signing region ("" unsigned)
    signer: str  # what the signing key stands for ("" unsigned)
    verify: str  # TLS verification: "True", "False" or a CA bundle path

    def param(self, name: str) -> str | None:
        return dict(self.params).get(name)

    def replace(self, **changes: Any) -> Sent:
        values = {**self.__dict__, **changes}
        return Sent(**values)


@dataclass
class Run:
    """What one side sent, and how it ended (``"ok"`` or ``"error"``)."""

    sent: list[Sent]
    outcome: str
    error: str = ""


def verify_of(http_session: Any) -> str:
    if not hasattr(http_session, "_verify"):
        raise AssertionError("botocore's URLLib3Session no longer keeps _verify: update the harness")
    return str(http_session._verify)


class _Raw:
    """The raw body botocore reads an ``AWSResponse`` from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._data

    def read(self, *args: Any) -> bytes:
        return self._data


class Recorder:
    """Catches every HTTP request botocore sends; answers STS from moto."""

    def __init__(self, moto_url: str) -> None:
        self.moto = urlsplit(moto_url)
        self.sent: list[Sent] = []
        self.labels: dict[str, str] = {}
        self.throttle = 0  # answer this many more STS requests with Throttling
        self._lock = threading.Lock()
        self._original: Callable[..., Any] = botocore.httpsession.URLLib3Session.send

    def install(self, monkeypatch: Any) -> None:
        recorder = self

        def send(http_session: Any, request: Any) -> Any:
            return recorder._send(http_session, request)

        monkeypatch.setattr(botocore.httpsession.URLLib3Session, "send", send)

    def label(self, key: str, what: str) -> None:
        self.labels[key] = what

    def take(self) -> list[Sent]:
        sent, self.sent = self.sent, []
        return sent

    # -- one request ------------------------------------------------------------------

    def _send(self, http_session: Any, request: Any) -> Any:
        url = urlsplit(request.url)
        body = request.body or b""
        if hasattr(body, "read"):
            body = body.read()
        if isinstance(body, str):
            body = body.encode()
        form = dict(parse_qsl(body.decode("utf-8", "replace"))) if body else {}
        headers = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()}
        match = _AUTH.search(headers.get("Authorization", ""))
        key, region = (match.group(1), match.group(2)) if match else ("", "")
        if form.get("Version") == "2011-06-15":
            operation = form.pop("Action")
            form.pop("Version")
            self._record(operation, form, url.hostname or "", region, key, verify_of(http_session))
            return self._sts(request, operation, form, body, headers)
        if url.hostname not in _LOOPBACK:
            raise AssertionError(f"a request left loopback: {request.method} {url.hostname}")
        params = {"path": url.path}
        for name in ("x-amz-sso_bearer_token", "Authorization", "X-aws-ec2-metadata-token"):
            if name in headers:
                params[name] = headers[name]
        self._record(f"{request.method} {url.path.split('?')[0]}", params, "loopback", "", "", "")
        return self._original(http_session, request)

    def _record(
        self, operation: str, params: dict[str, str], host: str, region: str, key: str, verify: str
    ) -> None:
        with self._lock:
            signer = self.labels.get(key, key)
            self.sent.append(Sent(operation, tuple(sorted(params.items())), host, region, signer, verify))

    def _sts(
        self, request: Any, operation: str, form: dict[str, str], body: bytes, headers: dict[str, str]
    ) -> Any:
        with self._lock:
            throttled = self.throttle > 0
            self.throttle -= throttled
        if throttled:
            text = (
                f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>Throttling</Code>'
                "<Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"
            )
            return AWSResponse(request.url, 400, {"Content-Type": "text/xml"}, _Raw(text.encode()))
        headers = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length")}
        headers["Host"] = "sts.amazonaws.com"
        conn = http.client.HTTPConnection(self.moto.hostname or "127.0.0.1", self.moto.port, timeout=10)
        try:
            conn.request("POST", "/", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            status, answer_headers = response.status, dict(response.getheaders())
        finally:
            conn.close()
        found = re.search(rb"<AccessKeyId>([A-Z0-9]+)</AccessKeyId>", data)
        if found is not None:
            what = operation + (f":{form['RoleArn']}" if "RoleArn" in form else "")
            self.label(found.group(1).decode(), what)
        return AWSResponse(request.url, status, answer_headers, _Raw(data))


# -- loopback fakes -------------------------------------------------------------------------------------


# -- scenarios -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """A config to resolve both ways. ``{tmp}`` in any text is the scenario's directory,
    ``{python}`` the interpreter, ``{container}``/``{imds}``/``{sso}`` the fakes' URLs."""

    id: str
    profile: str | None
    config: str
    credentials: str = ""
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    #: The documented differences (ids of the table in docs/profiles.md) this scenario shows.
    documented: tuple[str, ...] = ()
    throttle: int = 0
    fakes: tuple[str, ...] = ()
    #: Labels for fixed keys (e.g. the container's) as ``key -> what``.
    labels: dict[str, str] = field(default_factory=dict)


def fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def python() -> str:
    return sys.executable


def write_files(scenario: Scenario, tmp: Path, values: dict[str, str]) -> dict[str, str]:
    """Write the scenario's files; return the environment it runs in."""
    (tmp / "config").write_text(fill(scenario.config, values))
    (tmp / "credentials").write_text(fill(scenario.credentials, values))
    for name, text in scenario.files.items():
        path = tmp / name
        path.write_text(fill(text, values))
        path.chmod(0o700)
    env = {
        "AWS_CONFIG_FILE": str(tmp / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.update({k: fill(v, values) for k, v in scenario.env.items()})
    return {k: v for k, v in env.items() if v != ""}


def set_environment(monkeypatch: Any, env: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

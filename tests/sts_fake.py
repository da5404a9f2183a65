"""A loopback STS with the operations moto lacks, and a console federation endpoint.

moto 5.2 has no ``AssumeRoot``, ``GetScopedCredentials`` or
``GetWebIdentityToken``. `StsFake` answers those three itself -- requests
validated against botocore's own STS model (required members, lengths,
patterns, ranges, enums), responses in the model's XML shapes with real
expirations -- and forwards every other request to a moto server, so
``AssumeRole``, ``GetCallerIdentity`` and ``GetFederationToken`` work as
usual. ``calls`` counts requests per action (forwarded ones too).

Tokens are JWTs signed with keys made here (RS256: RSA 2048, ES384: P-384);
``jwks_url`` serves their public halves. Feature switches: ``root_access``
(centralized root access, else AssumeRoot is refused; ``root_refused``: accounts
it is refused on all the same) and
``outbound_federation`` (else GetWebIdentityToken is refused), with AWS's
error codes.

`FederationFake` is the console sign-in endpoint: ``getSigninToken`` checks
the session JSON it is given and answers ``{"SigninToken": ...}``.

Import as ``from sts_fake import StsFake``: ``tests/`` is on ``sys.path``.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import http.client
import json
import re
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.sax.saxutils import escape

import botocore.session
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from moto.server import ThreadedMotoServer

from helpers import LoopbackServer

OWN_ACTIONS = ("AssumeRoot", "GetScopedCredentials", "GetWebIdentityToken")
_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FakeError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


# -- request validation against botocore's model -----------------------------------------------


def _model() -> Any:
    return botocore.session.get_session().get_service_model("sts")


def parse_query(shape: Any, form: dict[str, str], prefix: str = "") -> dict[str, Any]:
    """The members of ``shape`` in a query-protocol form (``Audience.member.1``, ``TaskPolicyArn.arn``)."""
    found: dict[str, Any] = {}
    for name, member in shape.members.items():
        key = f"{prefix}{name}"
        if member.type_name == "list":
            items = []
            index = 1
            while any(k == f"{key}.member.{index}" or k.startswith(f"{key}.member.{index}.") for k in form):
                item_key = f"{key}.member.{index}"
                if member.member.type_name == "structure":
                    items.append(parse_query(member.member, form, item_key + "."))
                else:
                    items.append(form[item_key])
                index += 1
            if items or f"{key}" in form:
                found[name] = items
        elif member.type_name == "structure":
            if any(k.startswith(key + ".") for k in form):
                found[name] = parse_query(member, form, key + ".")
        elif key in form:
            found[name] = form[key]
    return found


def validate(shape: Any, value: Any, path: str) -> None:
    """Raise `FakeError` ``ValidationError`` where ``value`` breaks ``shape``'s constraints."""
    meta = shape.metadata
    if shape.type_name == "structure":
        for required in shape.required_members:
            if required not in value:
                raise FakeError(
                    "ValidationError", f"1 validation error detected: {path}{required} is required"
                )
        for name, member in value.items():
            validate(shape.members[name], member, f"{path}{name}.")
        return
    if shape.type_name == "list":
        _bounds(len(value), meta, f"{path} member count")
        for item in value:
            validate(shape.member, item, path)
        return
    if shape.type_name == "integer":
        try:
            number = int(value)
        except ValueError:
            raise FakeError("ValidationError", f"{path} must be an integer") from None
        _bounds(number, meta, path)
        return
    _bounds(len(value), meta, f"{path} length")
    if "pattern" in meta and _python_pattern(meta["pattern"]) and not re.fullmatch(meta["pattern"], value):
        raise FakeError("ValidationError", f"{path} does not match the pattern {meta['pattern']}")
    if shape.enum and value not in shape.enum:
        raise FakeError("ValidationError", f"{path} must be one of {shape.enum}")


def _python_pattern(pattern: str) -> bool:
    """Whether Python's ``re`` reads the model's pattern (Java classes like ``\\p{L}`` are not checked)."""
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _bounds(number: int, meta: dict[str, Any], what: str) -> None:
    if "min" in meta and number < meta["min"]:
        raise FakeError("ValidationError", f"{what} {number} is below {meta['min']}")
    if "max" in meta and number > meta["max"]:
        raise FakeError("ValidationError", f"{what} {number} is above {meta['max']}")


# -- signing keys --------------------------------------------------------------------------------


class SigningKeys:
    """An RSA 2048 key (RS256) and a P-384 key (ES384), made for the test; ``jwks()`` their public halves."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP384R1())
        self.kids = {"RS256": "rs256-" + secrets.token_hex(4), "ES384": "es384-" + secrets.token_hex(4)}

    def sign(self, algorithm: str, claims: dict[str, Any]) -> str:
        header = {"alg": algorithm, "typ": "JWT", "kid": self.kids[algorithm]}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
        if algorithm == "RS256":
            signature = self.rsa.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s = decode_dss_signature(self.ec.sign(signing_input.encode(), ec.ECDSA(hashes.SHA384())))
            signature = r.to_bytes(48, "big") + s.to_bytes(48, "big")
        return f"{signing_input}.{b64url(signature)}"

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of ``token`` if one of these keys signed it (raises otherwise)."""
        head, body, signature = token.split(".")
        header = json.loads(b64url_decode(head))
        data = f"{head}.{body}".encode()
        raw = b64url_decode(signature)
        if header["alg"] == "RS256":
            self.rsa.public_key().verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
        else:
            from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

            der = encode_dss_signature(int.from_bytes(raw[:48], "big"), int.from_bytes(raw[48:], "big"))
            self.ec.public_key().verify(der, data, ec.ECDSA(hashes.SHA384()))
        claims: dict[str, Any] = json.loads(b64url_decode(body))
        return claims

    def jwks(self) -> dict[str, Any]:
        rsa_numbers = self.rsa.public_key().public_numbers()
        ec_numbers = self.ec.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self.kids["RS256"],
                    "n": b64url(rsa_numbers.n.to_bytes(256, "big")),
                    "e": b64url(rsa_numbers.e.to_bytes(3, "big")),
                },
                {
                    "kty": "EC",
                    "alg": "ES384",
                    "use": "sig",
                    "crv": "P-384",
                    "kid": self.kids["ES384"],
                    "x": b64url(ec_numbers.x.to_bytes(48, "big")),
                    "y": b64url(ec_numbers.y.to_bytes(48, "big")),
                },
            ]
        }


# -- the fake ------------------------------------------------------------------------------------


class StsFake:
    """moto's STS behind a loopback front that adds AssumeRoot, GetScopedCredentials, GetWebIdentityToken.

    Use as a context manager; ``url`` is the endpoint to give as ``sts_endpoint_url``.
    """

    def __init__(
        self, *, root_access: bool = False, outbound_federation: bool = False, root_refused: Any = ()
    ) -> None:
        self.root_access = root_access
        self.root_refused = frozenset(root_refused)
        self.outbound_federation = outbound_federation
        self.keys = SigningKeys()
        self.calls: collections.Counter[str] = collections.Counter()
        self.requests: list[dict[str, Any]] = []  # the parsed own-action requests, in order
        self._lock = threading.Lock()
        self._model = _model()
        # Scoped credentials keep their caller (moto does not know their keys): access key -> caller.
        self.scoped_callers: dict[str, dict[str, str]] = {}
        self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle --

    def __enter__(self) -> StsFake:
        self._moto.start()
        host, port = self._moto.get_host_and_port()
        self._moto_address = (host, port)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, headers, data = outer._answer(self.path, dict(self.headers), body)
                self._send(status, headers, data)

            def do_GET(self) -> None:
                if self.path.split("?")[0] == "/.well-known/jwks.json":
                    self._send(
                        200, {"Content-Type": "application/json"}, json.dumps(outer.keys.jwks()).encode()
                    )
                else:
                    self._send(404, {}, b"")

            def _send(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "server",
                        "date",
                    ):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.jwks_url = f"{self.url}/.well-known/jwks.json"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
        self._moto.stop()

    def client(self, **kwargs: Any) -> Any:
        """An STS client on this fake (moto's default test credentials unless given)."""
        import boto3

        kwargs.setdefault("aws_access_key_id", "AKIAROLESESSIONTEST1")
        kwargs.setdefault("aws_secret_access_key", "fake-secret-fake-secret")
        return boto3.client("sts", region_name="us-east-1", endpoint_url=self.url, **kwargs)

    # -- dispatch --

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items()}
        action = form.get("Action", "")
        with self._lock:
            self.calls[action] += 1
        if action not in OWN_ACTIONS:
            return self._forward(path, headers, body)
        try:
            params = parse_query(self._model.operation_model(action).input_shape, form)
            validate(self._model.operation_model(action).input_shape, params, "")
            with self._lock:
                self.requests.append({"Action": action, **params})
            caller = self._caller(headers)
            result = getattr(self, "_" + action)(params, caller)
        except FakeError as exc:
            xml = (
                f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>{exc.code}</Code>'
                f"<Message>{escape(exc.message)}</Message></Error><RequestId>{secrets.token_hex(8)}</RequestId>"
                "</ErrorResponse>"
            )
            return exc.status, {"Content-Type": "text/xml"}, xml.encode()
        xml = (
            f'<{action}Response xmlns="{_NS}"><{action}Result>{result}</{action}Result>'
            f"<ResponseMetadata><RequestId>{secrets.token_hex(8)}</RequestId></ResponseMetadata></{action}Response>"
        )
        return 200, {"Content-Type": "text/xml"}, xml.encode()

    def _forward(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(*self._moto_address, timeout=30)
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def _caller(self, headers: dict[str, str]) -> dict[str, str]:
        """Who signed: moto's GetCallerIdentity for the request's access key (moto checks no signature)."""
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        forwarded = {
            k: v
            for k, v in headers.items()
            if k.lower() in ("authorization", "x-amz-security-token", "x-amz-date")
        }
        forwarded["Content-Type"] = "application/x-www-form-urlencoded"
        if not auth:
            raise FakeError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
        signed_with = re.search(r"Credential=([A-Z0-9]+)/", auth)
        if signed_with and signed_with.group(1) in self.scoped_callers:
            return self.scoped_callers[signed_with.group(1)]
        status, _, data = self._forward("/", forwarded, b"Action=GetCallerIdentity&Version=2011-06-15")
        text = data.decode()
        found = {n: re.search(f"<{n}>([^<]*)</{n}>", text) for n in ("Arn", "UserId", "Account")}
        if status != 200 or not all(found.values()):
            raise FakeError(
                "InvalidClientTokenId", "The security token included in the request is invalid", 403
            )
        return {n: m.group(1) for n, m in found.items() if m is not None}

    # -- the three operations --

    @staticmethod
    def _credentials(seconds: int) -> tuple[str, float]:
        expiration = time.time() + seconds
        key = "ASIA" + secrets.token_hex(8).upper()
        xml = (
            f"<Credentials><AccessKeyId>{key}</AccessKeyId>"
            f"<SecretAccessKey>{secrets.token_urlsafe(30)}</SecretAccessKey>"
            f"<SessionToken>{secrets.token_urlsafe(60)}</SessionToken>"
            f"<Expiration>{_iso(expiration)}</Expiration></Credentials>"
        )
        return xml, expiration

    def _AssumeRoot(self, params: dict[str, Any], caller: dict[str, str]) -> str:
        if not self.root_access or params["TargetPrincipal"] in self.root_refused:
            raise FakeError(
                "AccessDenied",
                "Centralized root access is not enabled for the organization "
                "(iam:EnableOrganizationsRootSessions)",
                403,
            )
        arn = params["TaskPolicyArn"].get("arn", "")
        if not re.fullmatch(r"arn:aws[\w-]*:iam::aws:policy/root-task/\w+", arn):
            raise FakeError("ValidationError", f"TaskPolicyArn.arn {arn!r} is not a root-task policy")
        xml, _ = self._credentials(int(params.get("DurationSeconds", 900)))
        return xml + f"<SourceIdentity>{escape(caller['Arn'].split('/')[-1][:64] or 'root')}</SourceIdentity>"

    def _GetScopedCredentials(self, params: dict[str, Any], caller: dict[str, str]) -> str:
        if caller["UserId"].startswith("AIDA") or ":user/" in caller["Arn"]:
            raise FakeError("InvalidSubjectCredentials", "GetScopedCredentials needs temporary credentials")
        xml, _ = self._credentials(int(params.get("DurationSeconds", 3600)))
        key = re.search("<AccessKeyId>([^<]+)</AccessKeyId>", xml)
        assert key is not None
        with self._lock:
            self.scoped_callers[key.group(1)] = caller
        return (
            xml + f"<SessionInfo><ScopedSessionId>{escape(caller['UserId'])}</ScopedSessionId>"
            f"<Arn>{escape(caller['Arn'])}</Arn></SessionInfo>"
        )

    def _GetWebIdentityToken(self, params: dict[str, Any], caller: dict[str, str]) -> str:
        if not self.outbound_federation:
            raise FakeError(
                "OutboundWebIdentityFederationDisabledException",
                "The outbound web identity federation feature is not enabled for this account",
                403,
            )
        algorithm = params["SigningAlgorithm"]
        if algorithm not in ("RS256", "ES384"):
            raise FakeError("ValidationError", f"SigningAlgorithm {algorithm!r} is not supported")
        now = int(time.time())
        expiration = now + int(params.get("DurationSeconds", 300))
        audience = params["Audience"]
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": audience[0] if len(audience) == 1 else audience,
            "sub": caller["Arn"],
            "iat": now,
            "exp": expiration,
            "jti": secrets.token_hex(8),
        }
        if "Scope" in params:
            claims["scope"] = params["Scope"]
        for tag in params.get("Tags", []):
            claims.setdefault("https://sts.amazonaws.com/", {})[tag["Key"]] = tag["Value"]
        token = self.keys.sign(algorithm, claims)
        return f"<WebIdentityToken>{token}</WebIdentityToken><Expiration>{_iso(expiration)}</Expiration>"


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- console federation --------------------------------------------------------------------------


class FederationFake(LoopbackServer):
    """The console's ``/federation`` endpoint: ``getSigninToken`` for a session JSON.

    ``sessions`` records the session documents it was given (secrets included:
    tests compare them with the credentials), ``durations`` the
    ``SessionDuration`` values. A malformed session or duration is a 400.
    """

    def __init__(self) -> None:
        self.sessions: list[dict[str, Any]] = []
        self.durations: list[int | None] = []
        self.tokens: list[str] = []
        super().__init__()

    def answer(self, method: str, path: str, headers: Any) -> tuple[int, Any]:
        url = urllib.parse.urlsplit(path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        if method != "GET" or url.path != "/federation" or query.get("Action") != "getSigninToken":
            return 404, ""
        try:
            session = json.loads(query["Session"])
        except (KeyError, ValueError):
            return 400, "Session missing or not JSON"
        if set(session) != {"sessionId", "sessionKey", "sessionToken"} or not all(
            isinstance(v, str) and v for v in session.values()
        ):
            return 400, "Session must hold exactly sessionId, sessionKey, sessionToken"
        duration = query.get("SessionDuration")
        if duration is not None and not (duration.isdigit() and 900 <= int(duration) <= 43200):
            return 400, "SessionDuration must be 900-43200"
        token = secrets.token_urlsafe(48)
        self.sessions.append(session)
        self.durations.append(None if duration is None else int(duration))
        self.tokens.append(token)
        return 200, {"SigninToken": token}

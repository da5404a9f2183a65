"""``rolesession demo``: the whole story against an embedded local STS.

A moto server on loopback plays STS, so the demo runs on a fresh machine
with no AWS account and no AWS configuration, and nothing leaves the
machine. It takes a few seconds.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from xml.sax.saxutils import escape

import rolesession

from .errors import CliError

__all__ = ["run_demo"]

REGION = "us-east-1"
SOURCE_ACCOUNT = "123456789012"
APP_ACCOUNT = "111111111111"
HUB_ACCOUNT = "222222222222"
TARGET_ACCOUNT = "333333333333"
FAN_OUT_ACCOUNTS = ("444444444401", "444444444402", "444444444403", "444444444404", "444444444405")
# AWS's documentation example keys: anything is accepted by the local STS.
DEMO_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
DEMO_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
INSTALL_HINT = "install the demo extra (in a checkout: pip install '.[demo]', or make demo)"


class _StsCounter(logging.Handler):
    """Counts STS calls: the library logs one INFO record per call."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.calls = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.INFO and record.name == "rolesession":
            self.calls += 1


class _Demo:
    def __init__(self, endpoint: str, counter: _StsCounter, print_: Callable[[str], None]) -> None:
        self.endpoint = endpoint
        self.counter = counter
        self.print = print_
        self.cache = rolesession.MemoryCache()
        self.step = 0

    # -- output ------------------------------------------------------------------

    def heading(self, title: str) -> None:
        self.step += 1
        self.print("")
        self.print(f"{self.step}. {title}")

    def say(self, text: str) -> None:
        self.print(f"   {text}")

    @contextmanager
    def sts_calls(self, what: str) -> Iterator[None]:
        before = self.counter.calls
        yield
        made = self.counter.calls - before
        self.say(f"{what}: {made} STS call{'' if made == 1 else 's'}")

    def kw(self) -> dict[str, Any]:
        return {"sts_endpoint_url": self.endpoint, "region": REGION, "cache": self.cache}

    def who(self, session: boto3_session) -> str:
        client = session.client("sts", endpoint_url=self.endpoint)
        return str(client.get_caller_identity()["Arn"])

    # -- the story -----------------------------------------------------------------

    def run(self) -> None:
        self.assume()
        self.chain()
        self.scope()
        self.web_identity()
        self.saml()
        self.refresh()
        self.fan_out()
        self.command_line()

    def assume(self) -> None:
        arn = rolesession.role_arn(APP_ACCOUNT, "Auditor")
        self.heading("Assume a role")
        self.say(f"session = rolesession.assume_role({arn!r})")
        with self.sts_calls("creating the session"):
            session = rolesession.assume_role(arn, **self.kw())
        with self.sts_calls("first use"):
            identity = session.identity()
        self.say(f"identity: {identity['Arn']}")
        minutes = (session.expiration.timestamp() - time.time()) / 60
        self.say(f"credentials expire in {minutes:.0f} min and refresh themselves ahead of that")
        self.say("it is a real boto3.Session: session.client('sts').get_caller_identity() says")
        self.say(f"  -> {self.who(session)}")
        with self.sts_calls("asked again (a warm Lambda invocation)"):
            again = rolesession.assume_role(arn, **self.kw())
        self.say(f"  -> the same RoleSession object: {again is session}")

    def chain(self) -> None:
        hops = [rolesession.role_arn(HUB_ACCOUNT, "Hub"), rolesession.role_arn(TARGET_ACCOUNT, "Target")]
        self.heading("Chain roles: source -> Hub -> Target")
        self.say("session = rolesession.chain([hub_arn, target_arn])")
        with self.sts_calls("using the last hop"):
            target = rolesession.chain(hops, **self.kw())
            identity = target.identity()
        parent = target.parent
        assert isinstance(parent, rolesession.RoleSession)
        self.say(f"hop 1: {parent.identity()['Arn']}")
        self.say(f"hop 2: {identity['Arn']}  (signed by hop 1's credentials)")

    def scope(self) -> None:
        arn = rolesession.role_arn(APP_ACCOUNT, "Auditor")
        policy = rolesession.Policy.allow("s3:GetObject", "arn:aws:s3:::reports/*")
        self.heading("Scope down with a session policy")
        self.say('narrow = session.scoped(policy=Policy.allow("s3:GetObject", "arn:aws:s3:::reports/*"))')
        session = rolesession.assume_role(arn, **self.kw())
        with self.sts_calls("the scoped session's first use"):
            narrow = session.scoped(policy=policy)
            narrow.identity()
        self.say(f"session policy sent to STS: {policy.to_json()}")
        self.say("the role's permissions AND the policy apply: s3:GetObject on reports/* only")

    def web_identity(self) -> None:
        arn = rolesession.role_arn(APP_ACCOUNT, "WebApp")
        self.heading("Web identity: an OIDC token file (EKS IRSA, CI)")
        with tempfile.TemporaryDirectory(prefix="rolesession-demo-") as directory:
            token_file = os.path.join(directory, "token")
            with open(token_file, "w", encoding="utf-8") as handle:
                handle.write(_oidc_token())
            self.say("session = rolesession.assume_role_with_web_identity(arn, token_file=path)")
            with self.sts_calls("first use (no source credentials needed)"):
                session = rolesession.assume_role_with_web_identity(arn, token_file=token_file, **self.kw())
                identity = session.identity()
        self.say(f"identity: {identity['Arn']}")
        self.say("the file is re-read at every refresh, so a rotated token is picked up")

    def saml(self) -> None:
        arn = rolesession.role_arn(APP_ACCOUNT, "Federated")
        provider = f"arn:aws:iam::{APP_ACCOUNT}:saml-provider/CorporateIdP"
        self.heading("SAML: an assertion from your identity provider")
        self.say("session = rolesession.assume_role_with_saml(arn, provider_arn, assertion=sign_in)")
        with self.sts_calls("first use (sign_in() called once)"):
            session = rolesession.assume_role_with_saml(
                arn, provider, assertion=lambda: _saml_response(arn, provider), **self.kw()
            )
            identity = session.identity()
        self.say(f"identity: {identity['Arn']}")

    def refresh(self) -> None:
        arn = rolesession.role_arn(APP_ACCOUNT, "Auditor")
        self.heading("Expiry and refresh")
        session = rolesession.assume_role(arn, **self.kw())
        before = session.get_credentials().get_frozen_credentials().access_key
        with self.sts_calls("session.invalidate(), as if the credentials had expired; next read"):
            session.invalidate()
            after = session.get_credentials().get_frozen_credentials().access_key
        self.say(f"  -> new credentials: {before} -> {after}")
        with self.sts_calls("session.refresh(), forced"):
            session.refresh()
        self.say(f"  -> new credentials: {after} -> {session.get_credentials().access_key}")
        self.say("on their own, 1-hour credentials refresh in the background from 15 min before")
        self.say("expiry (jittered); readers only ever wait in the last 60 s")

    def fan_out(self) -> None:
        arns = [rolesession.role_arn(account, "Auditor") for account in FAN_OUT_ACCOUNTS]
        self.heading(f"Fan out over {len(arns)} accounts")
        self.say("results = rolesession.fan_out(role_arns, who_am_i)")
        with self.sts_calls("visiting every account in parallel"):
            results = rolesession.fan_out(arns, self.who, **self.kw())
        rows = [(r.role_arn, r.value, r.error) for r in results]
        for arn, value, error in rows:
            self.say(f"{arn.split(':')[4]}: {value if error is None else f'failed: {error}'}")

    def command_line(self) -> None:
        from . import main

        hops = [rolesession.role_arn(HUB_ACCOUNT, "Hub"), rolesession.role_arn(TARGET_ACCOUNT, "Target")]
        self.heading("The same from the command line")
        argv = ["whoami", *hops, "--sts-endpoint-url", self.endpoint, "--no-cache"]
        self.say(f"$ rolesession {' '.join(argv)}")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = main(argv)
        for line in out.getvalue().splitlines():
            self.say(f"  {line}")
        if code != 0:
            raise CliError(f"'rolesession whoami' exited with {code}")
        self.say("and in ~/.aws/config, for every AWS SDK and tool:")
        self.say("  [profile target]")
        self.say(f"  credential_process = rolesession assume {' '.join(hops)} --format credential-process")


boto3_session = Any  # a boto3.Session, as far as this module cares


def _oidc_token() -> str:
    """A JWT-shaped token (the local STS does not verify signatures)."""

    def part(document: dict[str, Any]) -> str:
        raw = json.dumps(document, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "iss": "https://token.actions.example.com",
        "sub": "repo:example/app:ref:refs/heads/main",
        "aud": "sts.amazonaws.com",
        "iat": now,
        "exp": now + 3600,
    }
    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{'c2lnbmF0dXJl' * 8}"


def _saml_response(role_arn: str, provider_arn: str) -> str:
    """A base64 SAML 2.0 Response with the attributes AWS reads."""
    attributes = {
        "Role": f"{role_arn},{provider_arn}",
        "RoleSessionName": "alice@example.com",
        "SessionDuration": "3600",
    }
    statements = "".join(
        f'<saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/{name}">'
        f"<saml:AttributeValue>{escape(value)}</saml:AttributeValue></saml:Attribute>"
        for name, value in attributes.items()
    )
    document = (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
        'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" Version="2.0">'
        "<saml:Assertion Version=\"2.0\"><saml:Issuer>https://idp.example.com</saml:Issuer>"
        f"<saml:AttributeStatement>{statements}</saml:AttributeStatement>"
        "</saml:Assertion></samlp:Response>"
    )
    return base64.b64encode(document.encode()).decode()


# -- setting the stage ----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _has_static_credentials() -> bool:
    """Whether keys are configured that resolve without calling anyone.

    Only the environment and the shared files are looked at: a profile that
    assumes a role, uses SSO or runs a process would reach out to AWS, and
    the demo must not.
    """
    import botocore.session

    resolver = botocore.session.Session().get_component("credential_provider")
    for name in ("env", "shared-credentials-file", "config-file"):
        try:
            if resolver.get_provider(name).load() is not None:
                return True
        except Exception:  # a broken profile is no source for the demo
            continue
    return False


def _source_credentials() -> str:
    """Make sure the default chain has credentials; say whose they are."""
    # The demo talks to loopback only: never wait for an instance metadata service.
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    if _has_static_credentials():
        return "your configured keys (they only sign requests to the local STS)"
    os.environ["AWS_ACCESS_KEY_ID"] = DEMO_ACCESS_KEY
    os.environ["AWS_SECRET_ACCESS_KEY"] = DEMO_SECRET_KEY
    os.environ.pop("AWS_SESSION_TOKEN", None)
    return "demo keys set in this process (no AWS credentials are configured here)"


def run_demo(print_: Callable[[str], None] = print) -> int:
    """Run the demo; 0 on success."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise CliError(f"the demo needs a local STS from the demo extra: {INSTALL_HINT}") from None

    started = time.perf_counter()
    # The local STS's request log would drown the story.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    logger = logging.getLogger("rolesession")
    counter = _StsCounter()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(counter)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        print_(f"rolesession demo: a local STS (moto) listens on {endpoint}; nothing leaves this machine.")
        print_(f"Source credentials: {_source_credentials()}.")
        _Demo(endpoint, counter, print_).run()
        print_("")
        print_(
            f"Done: {counter.calls} STS calls in {time.perf_counter() - started:.1f} s. "
            "Next: 'rolesession --help', and the docs' Getting started page."
        )
        return 0
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)
        server.stop()

"""What ``assume``, ``exec`` and ``whoami`` do with the parsed options."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from ..assume import assume_role, assume_role_with_saml, assume_role_with_web_identity
from ..credentials import RoleCredentials, to_iso
from ..errors import AssumeRoleError, CredentialRefreshError, SourceCredentialsError
from ..session import RoleSession
from ..sts import merged_config
from ..validation import check_endpoint_url, check_region
from .errors import CliError, UsageError
from .secret_commands import CommandAssertion, CommandError, CommandMfaCode, PromptMfaCode

__all__ = ["build_session", "container_credentials", "hand_out", "run", "run_command"]

logger = logging.getLogger("rolesession")

#: Consumers (botocore's credential_process, container and environment
#: providers) refresh 15 minutes before expiry, and every request once
#: inside that window: credentials are refreshed before being handed out
#: with less than this left ...
HAND_OUT_MINIMUM = 15 * 60
#: ... when a fresh set would last at least this much longer, so 15-minute
#: roles (and clock skew) do not cost an STS call per invocation.
HAND_OUT_GAIN = 60

#: Variables that would name other credentials than the endpoint's to the
#: child of ``exec --server`` (they come first in the SDKs' chains).
_OTHER_CREDENTIALS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
)

# Options that only make sense for an assumed role (``whoami`` without one).
_ROLE_OPTIONS = {
    "session_name": "--session-name",
    "duration": "--duration",
    "policy": "--policy",
    "policy_arns": "--policy-arn",
    "tags": "--tag",
    "external_id": "--external-id",
    "source_identity": "--source-identity",
    "mfa_serial": "--mfa-serial",
    "mfa_command": "--mfa-command",
    "web_identity_token_file": "--web-identity-token-file",
    "saml_assertion_command": "--saml-assertion-command",
    "principal_arn": "--principal-arn",
}


def run(args: argparse.Namespace) -> int:
    command = {"assume": assume, "exec": exec_, "whoami": whoami}[args.command]
    return command(args)


# -- building the session ----------------------------------------------------------


def make_cache(args: argparse.Namespace) -> Any:
    """A `FileCache` in the default directory, so repeated invocations do not call STS."""
    if args.no_cache:
        return None
    import rolesession

    return rolesession.FileCache()


def source_session(args: argparse.Namespace) -> boto3.Session | None:
    """The ``--profile`` session, or ``None`` for the default credential chain."""
    if args.profile is None:
        return None
    try:
        return boto3.Session(profile_name=args.profile, region_name=args.region)
    except ProfileNotFound:
        raise UsageError(f"--profile: the profile {args.profile!r} is not configured") from None


def build_session(args: argparse.Namespace) -> RoleSession:
    """Assume every ``ROLE_ARN`` in turn; the last hop's session."""
    arns: list[str] = args.role_arns
    _check_combinations(args, len(arns))
    cache = make_cache(args)
    every = {"region": args.region, "sts_endpoint_url": args.sts_endpoint_url, "cache": cache}
    last = _last_hop_keywords(args)
    session = _first_hop(args, arns[0], every, last if len(arns) == 1 else {})
    for i, arn in enumerate(arns[1:], start=2):
        hop = {**every, "session_name": args.session_name, **(last if i == len(arns) else {})}
        session = session.assume_role(arn, **hop)
    return session


def _last_hop_keywords(args: argparse.Namespace) -> dict[str, Any]:
    tags: dict[str, str] = {}
    for key, value in args.tags:
        if key in tags:
            raise UsageError(f"--tag: the key {key!r} is given twice")
        tags[key] = value
    keywords = {
        "duration": args.duration,
        "policy": args.policy,
        "policy_arns": args.policy_arns or None,
        "tags": tags or None,
        "external_id": args.external_id,
        "source_identity": args.source_identity,
    }
    return {k: v for k, v in keywords.items() if v is not None}


def _first_hop(
    args: argparse.Namespace, arn: str, every: dict[str, Any], last: dict[str, Any]
) -> RoleSession:
    if args.web_identity_token_file is not None:
        _only(last, ("duration", "policy", "policy_arns"), "AssumeRoleWithWebIdentity")
        return assume_role_with_web_identity(
            arn,
            token_file=args.web_identity_token_file,
            session_name=args.session_name,
            **every,
            **last,
        )
    if args.saml_assertion_command is not None:
        _only(last, ("duration", "policy", "policy_arns"), "AssumeRoleWithSAML")
        return assume_role_with_saml(
            arn,
            args.principal_arn,
            assertion=_command(CommandAssertion, args.saml_assertion_command),
            **every,
            **last,
        )
    mfa_token: Any = None
    if args.mfa_command is not None:
        mfa_token = _command(CommandMfaCode, args.mfa_command)
    elif args.mfa_serial is not None:
        if not sys.stdin.isatty():
            raise UsageError("--mfa-serial needs --mfa-command (or a terminal to type the code in)")
        mfa_token = PromptMfaCode(args.mfa_serial)
    return assume_role(
        arn,
        source=source_session(args),
        session_name=args.session_name,
        mfa_serial=args.mfa_serial,
        mfa_token=mfa_token,
        **every,
        **last,
    )


def _command(cls: Any, command: str) -> Any:
    try:
        return cls(command)
    except CommandError as exc:
        raise UsageError(str(exc)) from None


def _only(last: dict[str, Any], allowed: tuple[str, ...], operation: str) -> None:
    option = {
        "tags": "--tag",
        "external_id": "--external-id",
        "source_identity": "--source-identity",
    }
    for name in last:
        if name not in allowed:
            raise UsageError(
                f"{option[name]} does not apply to {operation}; give another ROLE_ARN to chain "
                "a role that takes it"
            )


def _check_combinations(args: argparse.Namespace, hops: int) -> None:
    given = [o for d, o in _ROLE_OPTIONS.items() if getattr(args, d) not in (None, [])]
    if hops == 0 and given:
        raise UsageError(f"{given[0]} applies to an assumed role: give a ROLE_ARN")
    web, saml = args.web_identity_token_file is not None, args.saml_assertion_command is not None
    if web and saml:
        raise UsageError("--web-identity-token-file and --saml-assertion-command exclude each other")
    if saml != (args.principal_arn is not None):
        raise UsageError("--saml-assertion-command and --principal-arn go together")
    if args.mfa_command is not None and args.mfa_serial is None:
        raise UsageError("--mfa-command needs --mfa-serial")
    if web or saml:
        signs_in = "--web-identity-token-file" if web else "--saml-assertion-command"
        for option, value in (("--profile", args.profile), ("--mfa-serial", args.mfa_serial)):
            if value is not None:
                raise UsageError(f"{option} does not apply with {signs_in} (no source credentials)")


# -- handing credentials out ------------------------------------------------------


def hand_out(session: RoleSession) -> RoleCredentials:
    """The session's credentials, refreshed first if consumers would find them stale.

    botocore's consumers refresh with fixed windows (15 minutes advisory):
    credentials with less left would make them come back at every request.
    """
    engine = session.get_credentials()
    engine.current()
    engine.wait_for_background()  # an advisory refresh that read may have started
    creds = engine.current()
    left = creds.expiration - time.time()
    if left < HAND_OUT_MINIMUM and creds.lifetime >= HAND_OUT_MINIMUM + HAND_OUT_GAIN:
        try:
            session.refresh()
        except CredentialRefreshError as exc:
            if time.time() >= creds.expiration:
                raise
            logger.warning(
                "could not refresh %s before handing its credentials out (%s); they stay "
                "valid until %s",
                session.role_arn,
                exc,
                to_iso(creds.expiration),
            )
            return creds
        creds = engine.current()
    return creds


# -- the commands -------------------------------------------------------------------


def assume(args: argparse.Namespace) -> int:
    session = build_session(args)
    hand_out(session)
    if args.format == "env":
        text = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in session.environ().items())
    elif args.format == "json":
        document = session.credential_process()
        del document["Version"]  # what remains is STS's Credentials object
        text = json.dumps(document, indent=2)
    else:
        text = json.dumps(session.credential_process())
    print(text, flush=True)
    return 0


def whoami(args: argparse.Namespace) -> int:
    if args.role_arns:
        identity = build_session(args).identity()
    else:
        _check_combinations(args, 0)
        identity = caller_identity(args)
    print(json.dumps({k: identity[k] for k in ("UserId", "Account", "Arn")}, indent=2), flush=True)
    return 0


def caller_identity(args: argparse.Namespace) -> dict[str, str]:
    """GetCallerIdentity with the source credentials (``--profile`` or the default chain)."""
    region = check_region(args.region)
    endpoint = check_endpoint_url(args.sts_endpoint_url)
    session = source_session(args) or boto3.Session(region_name=region)
    client = session.client(
        "sts",
        region_name=region or session.region_name or "us-east-1",
        endpoint_url=endpoint,
        config=merged_config(None),
    )
    try:
        response = client.get_caller_identity()
    except NoCredentialsError as exc:
        raise SourceCredentialsError(
            "no source credentials were found (configure the default credential chain or "
            "pass --profile)"
        ) from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AssumeRoleError(
            f"GetCallerIdentity failed: {error.get('Code', 'Unknown')}: {error.get('Message', '')}",
            code=str(error.get("Code", "Unknown")),
        ) from exc
    except BotoCoreError as exc:
        raise AssumeRoleError(
            f"GetCallerIdentity failed: STS could not be reached ({type(exc).__name__}: {exc})",
            code=type(exc).__name__,
        ) from exc
    return {k: str(response[k]) for k in ("UserId", "Account", "Arn")}


def exec_(args: argparse.Namespace) -> int:
    session = build_session(args)
    hand_out(session)  # fail now (exit 3/4/5), not inside the command
    env = dict(os.environ)
    if not args.server:
        env.update(session.environ())
        return run_command(args.exec_command, env)
    from .server import CredentialServer

    for name in _OTHER_CREDENTIALS:
        env.pop(name, None)
    region = session.region_name or ""
    env.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region})
    with CredentialServer(lambda: container_credentials(session)) as server:
        env.update(server.environ())
        return run_command(args.exec_command, env)


def container_credentials(session: RoleSession) -> dict[str, str]:
    """What the container-credentials endpoint answers (botocore's ``ContainerProvider`` format)."""
    creds = hand_out(session)
    return {
        "AccessKeyId": creds.access_key,
        "SecretAccessKey": creds.secret_key,
        "Token": creds.token,
        "Expiration": to_iso(creds.expiration),
        "AccountId": creds.account,
    }


def run_command(command: list[str], env: dict[str, str]) -> int:
    """Run ``command``; its exit code (128 + N when killed by signal N)."""
    try:
        child = subprocess.Popen(command, env=env)
    except FileNotFoundError:
        raise CliError(f"cannot run {command[0]!r}: command not found") from None
    except OSError as exc:
        raise CliError(
            f"cannot run {command[0]!r}: {exc.strerror or type(exc).__name__}"
        ) from None
    with _forwarding_signals(child):
        status = child.wait()
    return 128 - status if status < 0 else status


@contextmanager
def _forwarding_signals(child: subprocess.Popen[bytes]) -> Iterator[None]:
    """Pass termination signals to the child and let it decide when to exit.

    Ctrl-C reaches the child from the terminal already; this process waits
    for it instead of dying first.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, _frame: Any) -> None:
        if signum != signal.SIGINT:
            child.send_signal(signum)

    names = ("SIGINT", "SIGTERM", "SIGHUP")
    signals = [getattr(signal, n) for n in names if hasattr(signal, n)]
    previous = {s: signal.signal(s, forward) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

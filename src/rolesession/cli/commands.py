"""What ``assume``, ``exec`` and ``whoami`` do with the parsed options."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import ProfileNotFound

from rolesession import (
    RefreshPolicy,
    RoleCredentials,
    RoleSession,
    TokenError,
    assume_role,
    assume_role_with_saml,
    assume_role_with_web_identity,
    caller_identity,
    from_environment,
    from_profile,
)

from . import documents, loops
from .child import run_command
from .documents import HAND_OUT_MINIMUM, hand_out
from .errors import UsageError
from .options import EVERY, LAST, given_role_options, hop_keywords, option_for
from .profiles import Walk, walk
from .secret_commands import HeldPrompt, mfa_command, saml_assertion_command

__all__ = [
    "build_session",
    "command_holding",
    "container_credentials",
    "hand_out",
    "run",
    "run_command",
]

#: How long ``assume`` waits, after handing out, for a background refresh a
#: read started, so its result lands in the file cache for the next
#: invocation instead of being abandoned at exit.
BACKGROUND_GRACE = 10.0

def run(args: argparse.Namespace) -> int:
    command = {"assume": assume, "exec": exec_, "whoami": whoami}[args.command]
    with loops.resolving(loops.source_profile(args)):
        return command(args)


# -- building the session ----------------------------------------------------------


def make_cache(args: argparse.Namespace) -> Any:
    """A `FileCache` in the default directory, so repeated invocations do not call STS."""
    if args.no_cache:
        return None
    from .fast import RecordingCache

    return RecordingCache()  # a FileCache noting the entries this run touches (the hand-out memo)


def source_session(args: argparse.Namespace) -> boto3.Session | None:
    """The ``--profile`` session, or ``None`` for the default credential chain."""
    if args.profile is None:
        return None
    try:
        return boto3.Session(profile_name=args.profile, region_name=args.region)
    except ProfileNotFound:
        raise UsageError(f"--profile: the profile {args.profile!r} is not configured") from None


def role_profile(args: argparse.Namespace) -> Walk | None:
    """The walk of ``--profile`` when it names a role profile (``role_arn``); else ``None``."""
    if args.profile is None:
        return None
    found = walk(args.profile)
    return found if found.is_role else None


def build_session(args: argparse.Namespace, refresh: RefreshPolicy | None = None) -> RoleSession:
    """The last hop's session: a role ``--profile`` first, if any, then every ``ROLE_ARN`` in turn.

    ``refresh``: every hop's `RefreshPolicy` (default: the library's).
    """
    arns: list[str] = args.role_arns
    profile = role_profile(args)
    _check_combinations(args, len(arns), profile)
    cache = make_cache(args)
    every: dict[str, Any] = {**hop_keywords(args, EVERY), "cache": cache}
    if refresh is not None:
        every["refresh"] = refresh
    if profile is None and not arns:
        # No role: what botocore's default chain finds (in --profile, if named), on the engine
        # -- e.g. instance or SSO credentials handed to a child that only knows the container endpoint.
        return from_environment(profile=args.profile, region=args.region, cache=cache, refresh=refresh)
    last = _last_hop_keywords(args)
    if profile is not None:
        session = _profile_session(args, profile, cache, refresh)
    else:
        session = _first_hop(args, arns[0], every, last if len(arns) == 1 else {})
        arns = arns[1:]
    for i, arn in enumerate(arns, start=1):
        hop = {**every, "session_name": args.session_name, **(last if i == len(arns) else {})}
        session = session.assume_role(arn, **hop)
    return session


def _profile_session(
    args: argparse.Namespace, profile: Walk, cache: Any, refresh: RefreshPolicy | None = None
) -> RoleSession:
    """The role a role profile describes, by `from_profile` (its MFA session in the file cache too)."""
    return from_profile(
        args.profile,
        mfa_token=_profile_mfa_token(args, profile),
        region=args.region,
        sts_endpoint_url=args.sts_endpoint_url,
        cache=cache,
        refresh=refresh,
    )


def _profile_mfa_token(args: argparse.Namespace, profile: Walk) -> Any:
    """``--mfa-command``; else what the CLI's own prompt would do; else ``None`` (the profile decides).

    With ``None``, a hop's ``mfa_process`` runs, or the library asks on the
    terminal. The CLI asks itself when it can stand for every hop (one MFA
    device, no ``mfa_process``): its prompt holds back while ``exec``'s
    command has valid credentials, and without a terminal its error names
    the options a command line has.
    """
    if args.mfa_command is not None:
        return mfa_command(args.mfa_command)
    serials = profile.mfa_serials()
    if len(serials) != 1 or profile.has_mfa_process():
        return None
    [serial] = serials
    if sys.stdin is not None and sys.stdin.isatty():
        return HeldPrompt(serial, _may_prompt)
    # Asked only if STS must really be called (interactive: never by a background refresh).
    advice = "give --mfa-command CMD, set mfa_process in the profile, or run rolesession in a terminal"
    return _NoCode(args.profile, serial, advice)


class _NoCode:
    """No way to get an MFA code here: says how to give one, when a code is really needed.

    ``interactive``: only a foreground read can end in this error (the
    engine does not attempt a background refresh that could only fail).
    """

    interactive = True

    def __init__(self, profile: str, serial: str, advice: str) -> None:
        self.profile, self.serial, self.advice = profile, serial, advice

    def __call__(self) -> str:
        raise TokenError(f"the profile {self.profile!r} needs an MFA code for {self.serial}: {self.advice}")


def _last_hop_keywords(args: argparse.Namespace) -> dict[str, Any]:
    tags: dict[str, str] = {}
    for key, value in args.tags:
        if key in tags:
            raise UsageError(f"--tag: the key {key!r} is given twice")
        tags[key] = value
    keywords = {**hop_keywords(args, LAST), "tags": tags or None}
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
            assertion=saml_assertion_command(args.saml_assertion_command),
            **every,
            **last,
        )
    mfa_token: Any = None
    if args.mfa_command is not None:
        mfa_token = mfa_command(args.mfa_command)
    elif args.mfa_serial is not None:
        if not sys.stdin.isatty():
            raise UsageError("--mfa-serial needs --mfa-command (or a terminal to type the code in)")
        mfa_token = HeldPrompt(args.mfa_serial, _may_prompt)
    return assume_role(
        arn,
        source=source_session(args),
        session_name=args.session_name,
        mfa_serial=args.mfa_serial,
        mfa_token=mfa_token,
        **every,
        **last,
    )


def _only(last: dict[str, Any], allowed: tuple[str, ...], operation: str) -> None:
    for name in last:
        if name not in allowed:
            raise UsageError(
                f"{option_for(name)} does not apply to {operation}; give another ROLE_ARN to chain "
                "a role that takes it"
            )


def _check_combinations(args: argparse.Namespace, arns: int, profile: Walk | None) -> None:
    given = list(given_role_options(args))
    if profile is not None:
        _check_with_role_profile(args, arns, given)
    elif arns == 0 and given:
        raise UsageError(f"{given[0]} applies to an assumed role: give a ROLE_ARN")
    elif arns == 0 and args.command != "whoami" and args.sts_endpoint_url is not None:
        raise UsageError("--sts-endpoint-url applies to an assumed role: give a ROLE_ARN")
    web, saml = args.web_identity_token_file is not None, args.saml_assertion_command is not None
    if web and saml:
        raise UsageError("--web-identity-token-file and --saml-assertion-command exclude each other")
    if saml != (args.principal_arn is not None):
        raise UsageError("--saml-assertion-command and --principal-arn go together")
    if args.mfa_command is not None and args.mfa_serial is None and profile is None:
        raise UsageError("--mfa-command needs --mfa-serial")
    if web or saml:
        signs_in = "--web-identity-token-file" if web else "--saml-assertion-command"
        for option, value in (("--profile", args.profile), ("--mfa-serial", args.mfa_serial)):
            if value is not None:
                raise UsageError(f"{option} does not apply with {signs_in} (no source credentials)")


#: Options for a first hop, which a role profile describes itself.
_FIRST_HOP_OPTIONS = (
    "--mfa-serial",
    "--web-identity-token-file",
    "--saml-assertion-command",
    "--principal-arn",
)


def _check_with_role_profile(args: argparse.Namespace, arns: int, given: list[str]) -> None:
    """A role profile is the first hop: its own keys say how it signs in, and what its role gets."""
    for option in given:
        if option in _FIRST_HOP_OPTIONS:
            raise UsageError(
                f"{option} does not apply with --profile {args.profile} (a role profile: its own keys "
                "say how its role is assumed)"
            )
        if arns == 0 and option != "--mfa-command":
            raise UsageError(
                f"{option} applies to a ROLE_ARN chained after the role of --profile {args.profile}; "
                "that role takes its values from the profile (duration_seconds, role_session_name, "
                "external_id, source_identity, session_tags ...)"
            )


# -- handing credentials out ------------------------------------------------------


# The sessions whose credentials a running command holds (``exec``): while
# there is one, the terminal is the command's.
_commands_holding: list[RoleSession] = []
_holding_lock = threading.Lock()


@contextmanager
def command_holding(session: RoleSession) -> Iterator[None]:
    """Mark a command as running with ``session``'s credentials (and the terminal)."""
    with _holding_lock:
        _commands_holding.append(session)
    try:
        yield
    finally:
        with _holding_lock:
            _commands_holding.remove(session)


def _may_prompt() -> bool:
    """Whether the MFA prompt may ask now: not while a command holds valid credentials.

    The engine never prompts from its own background refresh (``interactive``);
    this covers a later hop refreshing in the background, which reads the
    prompting hop from a worker thread.
    """
    with _holding_lock:
        holding = list(_commands_holding)
    return not any(session.get_credentials().holds_valid() for session in holding)


def _environ(session: RoleSession, creds: RoleCredentials) -> dict[str, str]:
    """The credentials' variables, and the region's only when one was given or found configured."""
    return documents.environ(creds, session.region_name)


# -- the commands -------------------------------------------------------------------


def assume(args: argparse.Namespace) -> int:
    failures = _shared_failures(args)
    if failures is None:
        session = build_session(args)
        creds = hand_out(session, wait=True)
    else:
        with failures.attempt() as marker:
            session, creds = _hand_out_sharing(args, failures, marker)
    text = documents.document(creds, session.region_name, args.format)
    print(text, flush=True)
    from .fast import handed_out

    handed_out(creds, session.region_name)
    # A read inside the advisory window started a refresh: let it reach the
    # file cache rather than abandon it at exit (once per invocation otherwise).
    session.get_credentials().wait_for_background(BACKGROUND_GRACE)
    return 0


def _shared_failures(args: argparse.Namespace) -> Any:
    """The failure marker `assume` shares with its other runs (``None`` with ``--no-cache``)."""
    from .fast import shared_failures

    cache = make_cache(args)
    return None if cache is None else shared_failures(args, cache)


#: While another run's refresh has just failed: refresh only in the last seconds,
#: so reading the valid credentials cached starts no background attempt.
_NO_REFRESH = RefreshPolicy(advisory=2.0, mandatory=1.0, jitter=False)


def _hand_out_sharing(
    args: argparse.Namespace, failures: Any, marker: Any
) -> tuple[RoleSession, RoleCredentials]:
    """`hand_out`, sharing a failed refresh with the other runs (`cli.failures`).

    While another run's failed refresh holds, the valid credentials cached
    are handed out without another attempt; a refresh that fails here,
    handing out the valid ones, is recorded for the others.
    """
    import time

    if marker is not None and marker.holds(time.time()):
        session = build_session(args, refresh=_NO_REFRESH)
        return session, session.credentials(0, wait=True)
    session = build_session(args)
    creds = hand_out(session, wait=True)
    if creds.expiry - time.time() < HAND_OUT_MINIMUM and creds.lifetime >= HAND_OUT_MINIMUM + 60:
        failures.served_stale(marker, creds.expiry - 60)
    return session, creds


def whoami(args: argparse.Namespace) -> int:
    if args.role_arns or role_profile(args) is not None:
        identity = build_session(args).identity()
    else:
        _check_combinations(args, 0, None)
        identity = source_identity(args)
    print(json.dumps({k: identity[k] for k in ("UserId", "Account", "Arn")}, indent=2), flush=True)
    return 0


def source_identity(args: argparse.Namespace) -> dict[str, str]:
    """GetCallerIdentity with the source credentials (``--profile`` or the default chain)."""
    return caller_identity(source_session(args), region=args.region, sts_endpoint_url=args.sts_endpoint_url)


def exec_(args: argparse.Namespace) -> int:
    from .shared_files import command_environment

    session = build_session(args)
    serving = args.server or args.imds
    # Fail now (exit 3/4/5), not inside the command. An endpoint hands out
    # fresh credentials by itself, so with one nothing waits for a refresh.
    creds = hand_out(session, wait=not serving)
    with command_holding(session), command_environment(args.profile) as env:
        if not serving:
            env.update(_environ(session, creds))
            return run_command(args.exec_command, env)
        return _serve_and_run(session, args.exec_command, env, imds=args.imds)


def _serve_and_run(session: RoleSession, command: list[str], env: dict[str, str], *, imds: bool) -> int:
    if session.region_name is not None:  # else the user's own AWS_REGION (if any) stays
        env.update({"AWS_REGION": session.region_name, "AWS_DEFAULT_REGION": session.region_name})
    from .imds import serve_metadata
    from .server import CredentialServer, LoopbackEndpoint

    endpoint: LoopbackEndpoint
    if imds:
        endpoint = serve_metadata(session, env)
    else:
        endpoint = CredentialServer(lambda: container_credentials(session))
    with endpoint:
        env.update(endpoint.environ())
        return run_command(command, env)


def container_credentials(session: RoleSession) -> dict[str, str]:
    """What the container-credentials endpoint answers (botocore's ``ContainerProvider`` format).

    Never waits for STS while valid credentials are held: a refresh the
    hand-out calls for runs in the background.
    """
    creds = hand_out(session, wait=False)
    return {
        "AccessKeyId": creds.access_key,
        "SecretAccessKey": creds.secret_key,
        "Token": creds.token,
        "Expiration": documents.iso(creds.expiry),
        "AccountId": creds.account,
    }

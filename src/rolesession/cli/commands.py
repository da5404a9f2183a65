"""What ``assume``, ``exec`` and ``whoami`` do with the parsed options."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

from .._api import assume_role, assume_role_with_saml, assume_role_with_web_identity
from .._credentials import RoleCredentials, to_iso
from .._errors import AssumeRoleError, SourceCredentialsError
from .._session import RoleSession
from .._sts import merged_config
from .._validation import check_endpoint_url, check_region, fail
from . import loops
from .errors import CliError, UsageError, option_for
from .secret_commands import CommandAssertion, CommandError, CommandMfaCode, PromptMfaCode

__all__ = [
    "build_session",
    "check_location",
    "command_holding",
    "container_credentials",
    "hand_out",
    "run",
    "run_command",
]

#: Consumers (botocore's credential_process, container and environment
#: providers) refresh 15 minutes before expiry, and every request once
#: inside that window: credentials are refreshed before being handed out
#: with less than this left (when a fresh set would last longer).
HAND_OUT_MINIMUM = 15 * 60
#: How long ``assume`` waits, after handing out, for a background refresh a
#: read started, so its result lands in the file cache for the next
#: invocation instead of being abandoned at exit.
BACKGROUND_GRACE = 10.0
#: A region is one DNS label of STS's host name (``sts.<region>.amazonaws.com``).
MAX_REGION_LENGTH = 63
#: A child that ignores SIGTERM when the CLI fails gets SIGKILL this much later.
TERMINATE_GRACE = 5.0

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
    with loops.resolving(loops.source_profile(args)):
        return command(args)


# -- checking where STS is ----------------------------------------------------------


def check_location(args: argparse.Namespace) -> None:
    """``--region``, ``--sts-endpoint-url`` and the region variables, before anything runs.

    Raises `InvalidParameterError` naming the parameter (``region``,
    ``sts_endpoint_url``) or the environment variable (``AWS_REGION``,
    ``AWS_DEFAULT_REGION``); the CLI names the option from its table.
    """
    if args.region is not None:
        _check_region(args.region, "region")
    else:
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
            value = os.environ.get(name)
            if value:  # empty counts as unset, as everywhere else
                _check_region(value, name)
    _check_endpoint(args.sts_endpoint_url)


def _check_region(value: str, parameter: str) -> None:
    check_region(value, parameter)
    if len(value) > MAX_REGION_LENGTH:
        raise fail(parameter, f"{value[:64]!r}... is not an AWS region name (over 63 characters)")


def _check_endpoint(url: str | None) -> None:
    checked = check_endpoint_url(url, "sts_endpoint_url")
    if checked is None:
        return
    shown = f"{checked[:200]!r}"
    try:
        parts = urlsplit(checked)
        port = parts.port  # ValueError when out of range or not a number
        host = parts.hostname
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket: "http://[::1"
        raise fail("sts_endpoint_url", f"{shown} is not a valid URL ({exc})") from None
    if not host:
        raise fail("sts_endpoint_url", f"{shown} has no host")
    if port == 0:
        raise fail("sts_endpoint_url", f"{shown} has port 0")


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
    check_location(args)
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
        mfa_token = PromptMfaCode(args.mfa_serial, may_ask=_may_prompt)
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
    for name in last:
        if name not in allowed:
            raise UsageError(
                f"{option_for(name)} does not apply to {operation}; give another ROLE_ARN to chain "
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


def hand_out(session: RoleSession, *, wait: bool) -> RoleCredentials:
    """The session's credentials for a consumer that refreshes with botocore's fixed windows.

    With less than `HAND_OUT_MINIMUM` left (and a fresh set lasting longer),
    the engine makes one refresh attempt under its own rules -- never while
    backing off, never two at once, one WARNING per failure episode: a
    one-shot command waits for it (``wait=True``); the ``exec --server``
    endpoint starts it in the background and answers with what is held.
    Raises `CredentialRefreshError` only when nothing valid can be had.
    """
    return session.get_credentials().hand_out(HAND_OUT_MINIMUM, wait=wait)


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
    region = session.region_name or ""
    return {
        "AWS_ACCESS_KEY_ID": creds.access_key,
        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
        "AWS_SESSION_TOKEN": creds.token,
        "AWS_CREDENTIAL_EXPIRATION": to_iso(creds.expiry),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }


def _credentials_object(creds: RoleCredentials) -> dict[str, Any]:
    return {
        "AccessKeyId": creds.access_key,
        "SecretAccessKey": creds.secret_key,
        "SessionToken": creds.token,
        "Expiration": to_iso(creds.expiry),
    }


# -- the commands -------------------------------------------------------------------


def assume(args: argparse.Namespace) -> int:
    session = build_session(args)
    creds = hand_out(session, wait=True)
    if args.format == "env":
        text = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in _environ(session, creds).items())
    elif args.format == "json":
        text = json.dumps(_credentials_object(creds), indent=2)  # STS's Credentials object
    else:
        text = json.dumps({"Version": 1, **_credentials_object(creds)})
    print(text, flush=True)
    # A read inside the advisory window started a refresh: let it reach the
    # file cache rather than abandon it at exit (once per invocation otherwise).
    session.get_credentials().wait_for_background(BACKGROUND_GRACE)
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
    check_location(args)
    region, endpoint = args.region, args.sts_endpoint_url
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
    # Fail now (exit 3/4/5), not inside the command. The endpoint hands out
    # fresh credentials by itself, so with --server nothing waits for a refresh.
    creds = hand_out(session, wait=not args.server)
    env = loops.outer_environment(dict(os.environ))
    with command_holding(session):
        if not args.server:
            env.update(_environ(session, creds))
            return run_command(args.exec_command, env)
        return _serve_and_run(session, args.exec_command, env)


def _serve_and_run(session: RoleSession, command: list[str], env: dict[str, str]) -> int:
    from .server import CredentialServer

    for name in _OTHER_CREDENTIALS:
        env.pop(name, None)
    region = session.region_name or ""
    env.update({"AWS_REGION": region, "AWS_DEFAULT_REGION": region})
    with CredentialServer(lambda: container_credentials(session)) as server:
        env.update(server.environ())
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
        "Expiration": to_iso(creds.expiry),
        "AccountId": creds.account,
    }


# -- running the command ------------------------------------------------------------

#: Signals ``exec`` passes on to its command (those that exist on this platform).
FORWARDED = ("SIGINT", "SIGQUIT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH")
#: Signals a terminal sends to its whole foreground process group: Ctrl-C,
#: Ctrl-\ and a window resize. The command is in our process group, so when
#: we are in the terminal's foreground group it got the signal as we did,
#: and passing it on would deliver it twice (a second Ctrl-C often means
#: "quit now" to a program that was shutting down cleanly).
TERMINAL_SIGNALS = ("SIGINT", "SIGQUIT", "SIGWINCH")


def run_command(command: list[str], env: dict[str, str]) -> int:
    """Run ``command``; its exit code (128 + N when killed by signal N).

    The command never outlives us: on Linux it gets SIGTERM when we die
    (even by SIGKILL), and if we fail while it runs we terminate it, then
    kill it.
    """
    # Handlers first: a signal arriving while the command starts is passed on
    # once it exists, instead of killing us and orphaning it.
    with _forwarding_signals() as forwarder:
        try:
            child = subprocess.Popen(command, env=env, preexec_fn=_parent_death_signal())
        except FileNotFoundError:
            raise CliError(f"cannot run {command[0]!r}: command not found") from None
        except OSError as exc:
            raise CliError(
                f"cannot run {command[0]!r}: {exc.strerror or type(exc).__name__}"
            ) from None
        try:
            forwarder.attach(child)
            status = child.wait()
        finally:
            _end(child)
    return 128 - status if status < 0 else status


def _end(child: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill, a command still running when we stop waiting for it."""
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(TERMINATE_GRACE)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send the command SIGTERM when we die; ``None`` elsewhere.

    libc and ``prctl`` are looked up here, before the fork: the forked child
    of a threaded process should do as little as possible. The death signal
    is tied to the thread that forks, which is the main thread here.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def set_parent_death_signal() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # we died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return set_parent_death_signal


def _from_terminal_possible() -> bool:
    """Whether we are in the foreground process group of our controlling terminal.

    Only then can a terminal-generated signal (Ctrl-C, Ctrl-\\, a resize)
    have reached us, and with us the command, which is in our group. No
    controlling terminal (a service, ``setsid``, CI), or a background job:
    the signal was sent to us alone (``kill``, a supervisor) and must be
    passed on.
    """
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


class _Forwarder:
    """Passes signals to the command; holds those that arrive before it exists."""

    def __init__(self) -> None:
        self._child: subprocess.Popen[bytes] | None = None
        self._pending: list[int] = []
        self._terminal = {getattr(signal, n) for n in TERMINAL_SIGNALS if hasattr(signal, n)}

    def attach(self, child: subprocess.Popen[bytes]) -> None:
        self._child = child
        while self._pending:
            self._send(self._pending.pop(0))

    def __call__(self, signum: int, _frame: Any) -> None:
        if signum in self._terminal and _from_terminal_possible():
            return  # the command, in our process group, got it from the terminal too
        if self._child is None:
            self._pending.append(signum)
        else:
            self._send(signum)

    def _send(self, signum: int) -> None:
        assert self._child is not None
        with suppress(OSError):  # it has just exited
            self._child.send_signal(signum)


@contextmanager
def _forwarding_signals() -> Iterator[_Forwarder]:
    """Pass `FORWARDED` signals to the command and let it decide when to exit.

    We keep waiting for the command instead of dying first; its exit code
    becomes ours. `TERMINAL_SIGNALS` are passed on only when they cannot
    have come from the terminal (see `_from_terminal_possible`). Handlers
    can only be set from the main thread; elsewhere (``main()`` called from
    a thread) signals keep their handlers.
    """
    forwarder = _Forwarder()
    if threading.current_thread() is not threading.main_thread():
        yield forwarder
        return
    signals = [getattr(signal, n) for n in FORWARDED if hasattr(signal, n)]
    previous = {s: signal.signal(s, forwarder) for s in signals}
    try:
        yield forwarder
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)

"""The one table of the role options ``assume``, ``exec`` and ``whoami`` take.

Everything about an option is said once, here: its flags and help, which
hop of a chain it applies to, which library parameter it feeds (so an
`InvalidParameterError` naming ``duration`` is reported as ``--duration``),
and whether it needs a ``ROLE_ARN``. The parser, the error messages and the
combination checks all read this table.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GROUPS", "OPTIONS", "Option", "add_role_options", "fill_defaults", "given_role_options", "option_for",
]

#: Plain seconds, or hours, minutes and seconds in that order, each at most once
#: and each with its unit (``1h30`` is ambiguous: refused).
_DURATION_RE = re.compile(r"(?:([0-9]{1,6})h)?(?:([0-9]{1,6})m)?(?:([0-9]{1,6})s)?|([0-9]{1,6})")
#: Any MFA device: what the library's ``mfa_serial`` parameter takes (STS's SerialNumber rule).
_MFA_SERIAL_RE = re.compile(r"[A-Za-z0-9_+=/:,.@-]{9,256}")
#: An MFA device's ARN (virtual ``mfa/`` or U2F ``u2f/``), when the serial is an ARN at all
#: (hardware tokens have plain serial numbers such as ``GAHT12345678``).
_MFA_ARN_RE = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:(?:mfa|u2f)/[\w+=,.@/-]+")
#: A session policy is at most 2048 characters in its compact form; a file
#: may be indented generously, but nothing valid comes near this.
POLICY_FILE_LIMIT = 32 * 1024


# -- option values ---------------------------------------------------------------


def duration(text: str) -> int:
    """``3600``, ``3600s``, ``90m``, ``2h``, ``1h30m`` or ``1h30m15s``, in seconds.

    The range is the library's check (``duration`` is 900-43200 s); here
    only the form: hours, minutes, seconds in that order, each at most once.
    """
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a duration (e.g. 3600, 45m, 2h, 1h30m)")
    hours, minutes, seconds, plain = (int(group or 0) for group in match.groups())
    return hours * 3600 + minutes * 60 + seconds + plain


def mfa_serial(text: str) -> str:
    """An MFA device: a serial number, or an MFA device ARN (checked as the library checks it)."""
    serial = text
    if not _MFA_SERIAL_RE.fullmatch(serial):
        raise argparse.ArgumentTypeError("must be 9-256 characters of A-Z a-z 0-9 _ + = / : , . @ -")
    if serial.startswith("arn:") and not _MFA_ARN_RE.fullmatch(serial):
        raise argparse.ArgumentTypeError(
            f"{serial!r} is not an MFA device ARN (arn:aws:iam::<12-digit account>:mfa/<name>)"
        )
    return serial


def tag(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` (the value may be empty or contain ``=``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text[:140]!r} is not KEY=VALUE")
    return key, value


def policy(text: str) -> str:
    """A JSON policy document, or ``@path`` to read one from a file.

    At most `POLICY_FILE_LIMIT` bytes are read, in binary, so a huge file or
    a device such as ``/dev/urandom`` ends in an error instead of a hang.
    """
    if not text.startswith("@"):
        return text
    path = text[1:]
    try:
        with open(path, "rb") as handle:
            data = handle.read(POLICY_FILE_LIMIT + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise argparse.ArgumentTypeError(f"cannot read the policy file {path}: {reason}") from None
    if len(data) > POLICY_FILE_LIMIT:
        raise argparse.ArgumentTypeError(
            f"the policy file {path} is larger than {POLICY_FILE_LIMIT} bytes "
            "(a session policy is at most 2048 characters)"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise argparse.ArgumentTypeError(f"the policy file {path} is not UTF-8 text") from None


# -- the table -------------------------------------------------------------------------

EVERY = "every hop"
LAST = "last hop"
FIRST = "first hop (how the source signs in)"
OTHER = "other"
GROUPS = (EVERY, LAST, FIRST, OTHER)


@dataclass(frozen=True)
class Option:
    """One option: its flag, its help, where it applies and which library parameters it feeds."""

    flag: str
    group: str
    help: str
    #: The library parameters this option's value reaches (``InvalidParameterError.parameter``).
    parameters: tuple[str, ...] = ()
    #: Meaningful only for an assumed role (``whoami`` without ``ROLE_ARN`` refuses it).
    role_only: bool = False
    argparse: dict[str, Any] = field(default_factory=dict)
    #: Whether it changes who the credentials are (``whoami`` takes only those).
    identity: bool = True

    @property
    def dest(self) -> str:
        return str(self.argparse.get("dest") or self.flag.lstrip("-").replace("-", "_"))


OPTIONS: tuple[Option, ...] = (
    Option("--session-name", EVERY, "RoleSessionName (default: AWS_ROLE_SESSION_NAME or user@host)",
           ("session_name",), role_only=True, argparse={"metavar": "NAME"}),
    Option("--region", EVERY, "region of the STS endpoint and of the credentials",
           ("region",), argparse={"metavar": "REGION"}),
    Option("--sts-endpoint-url", EVERY, "STS endpoint (VPC endpoint, local STS)",
           ("sts_endpoint_url",), argparse={"metavar": "URL"}),
    Option("--duration", LAST, "900-43200 s; also 45m, 2h, 1h30m", ("duration",), role_only=True,
           argparse={"type": duration, "metavar": "SECONDS"}, identity=False),
    Option("--policy", LAST, "session policy document", ("policy",), role_only=True,
           argparse={"type": policy, "metavar": "JSON|@FILE"}, identity=False),
    Option("--policy-arn", LAST, "managed policy used as a session policy (repeatable, up to 10)",
           ("policy_arns",), role_only=True,
           argparse={"dest": "policy_arns", "action": "append", "default": [], "metavar": "ARN"},
           identity=False),
    Option("--tag", LAST, "session tag (repeatable)", ("tags", "transitive_tag_keys"), role_only=True,
           argparse={"dest": "tags", "action": "append", "default": [], "type": tag, "metavar": "KEY=VALUE"},
           identity=False),
    Option("--external-id", LAST, "ExternalId the role's trust policy asks for", ("external_id",),
           role_only=True, argparse={"metavar": "ID"}),
    Option("--source-identity", LAST, "SourceIdentity to set", ("source_identity",), role_only=True,
           argparse={"metavar": "NAME"}, identity=False),
    Option("--profile", FIRST,
           "source credentials from this ~/.aws/config profile; a role profile (role_arn) is "
           "assumed as its keys say, and ROLE_ARNs chain on from it", ("source", "profile"),
           argparse={"metavar": "NAME"}),
    Option("--mfa-serial", FIRST, "MFA device serial number or ARN", ("mfa_serial",), role_only=True,
           argparse={"type": mfa_serial, "metavar": "ARN"}),
    Option("--mfa-command", FIRST,
           "command printing the MFA code (run without a shell; the last 6-digit number it prints)",
           ("mfa_token",), role_only=True, argparse={"metavar": "CMD"}),
    Option("--web-identity-token-file", FIRST,
           "assume the first role with this OIDC token (AssumeRoleWithWebIdentity; re-read at each call)",
           ("token_file", "token"), role_only=True, argparse={"metavar": "PATH"}),
    Option("--saml-assertion-command", FIRST,
           "command printing a base64 SAML response (AssumeRoleWithSAML; needs --principal-arn)",
           ("assertion",), role_only=True, argparse={"metavar": "CMD"}),
    Option("--principal-arn", FIRST, "the IAM SAML provider's ARN", ("principal_arn",), role_only=True,
           argparse={"metavar": "ARN"}),
    Option("--no-cache", OTHER, "neither read nor write the credential file cache",
           argparse={"action": "store_true"}),
)  # fmt: skip

#: Library parameters with no option of their own.
_OTHER_NAMES = {"role_arn": "ROLE_ARN", "steps": "ROLE_ARN"}


def add_role_options(parser: argparse.ArgumentParser, *, identity_only: bool = False) -> None:
    """Add the options of the table to ``parser``, in their groups (``identity_only``:
    those that change who the credentials are, for ``whoami``)."""
    groups = {name: parser.add_argument_group(name) for name in GROUPS}
    for option in OPTIONS:
        if option.identity or not identity_only:
            groups[option.group].add_argument(option.flag, help=option.help, **option.argparse)


def fill_defaults(args: argparse.Namespace) -> None:
    """Give every option a command did not take its default, so the rest of the CLI reads them all."""
    for option in OPTIONS:
        if not hasattr(args, option.dest):
            flag = option.argparse.get("action") == "store_true"
            setattr(args, option.dest, option.argparse.get("default", False if flag else None))


def option_for(parameter: str) -> str:
    """The option standing for a library parameter (``tags`` -> ``--tag``).

    Anything else -- an environment variable such as ``AWS_REGION``, or a
    parameter the CLI has no option for -- is named as it is.
    """
    name = parameter
    for option in OPTIONS:
        if name in option.parameters:
            return option.flag
    return _OTHER_NAMES.get(name, parameter)


def given_role_options(args: argparse.Namespace) -> Iterator[str]:
    """The role-only options given on this command line."""
    for option in OPTIONS:
        if option.role_only and getattr(args, option.dest, None) not in (None, [], False):
            yield option.flag

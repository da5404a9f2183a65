"""The role options ``assume``, ``exec`` and ``whoami`` take, built from the library's parameter table.

Each STS parameter is declared once, in the library (`rolesession.hop_parameters`:
its flag, help, metavar, which hop of the ``ROLE_ARN`` chain it applies to,
whether it is repeatable, whether it changes who the credentials are). The
hop options are built from that table, so a parameter added there gets its
option here. What the table cannot say stays here:

* value forms only a command line has (`FORMS`): ``--duration 1h30m``,
  ``--policy @FILE``, ``--tag KEY=VALUE`` (one flag giving ``tags`` and
  ``transitive_tag_keys``), and the MFA device check with its CLI message;
  any other value reaches the library as typed and its check names the
  option (`option_for`);
* the options that are not STS parameters (`OTHER_OPTIONS`): ``--profile``
  and ``--no-cache``.

``--mfa-command`` and ``--saml-assertion-command`` are table options (plain
strings here); `cli.commands` turns them into the library's command
providers. The parser, the error messages and the combination checks all
read `OPTIONS`.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rolesession import HopParameter, hop_parameters

__all__ = [
    "FORMS", "GROUPS", "OPTIONS", "OTHER_OPTIONS", "Option", "add_role_options", "fill_defaults",
    "given_role_options", "hop_keywords", "option_for", "table_options",
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
#: The library's ``HopParameter.applies_to`` -> the help group.
_GROUP_OF = {"every": EVERY, "last": LAST, "first": FIRST}


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


#: Value forms the table cannot say (flag -> argparse settings): the CLI's own
#: spellings of a value. Every other table option takes its value as typed.
FORMS: dict[str, dict[str, Any]] = {
    "--duration": {"type": duration},
    "--policy": {"type": policy},
    "--tag": {"type": tag},
    "--mfa-serial": {"type": mfa_serial},
}

#: Options that are not STS parameters (no entry in the library's table).
OTHER_OPTIONS: tuple[Option, ...] = (
    Option("--profile", FIRST,
           "source credentials from this ~/.aws/config profile; a role profile (role_arn) is "
           "assumed as its keys say, and ROLE_ARNs chain on from it", ("source", "profile"),
           argparse={"metavar": "NAME"}),
    Option("--no-cache", OTHER, "neither read nor write the credential file cache",
           argparse={"action": "store_true"}),
)  # fmt: skip


def table_options(parameters: Iterable[HopParameter]) -> tuple[Option, ...]:
    """The options of ``parameters`` (`rolesession.hop_parameters`), one per flag, in table order.

    Parameters sharing a flag share its option (``--tag``). A repeatable
    parameter collects its values in a list named after it (``--policy-arn``
    -> ``policy_arns``); any other option's value is named after its flag.
    """
    by_flag: dict[str, list[HopParameter]] = {}
    for parameter in parameters:
        by_flag.setdefault(parameter.flag, []).append(parameter)
    options = []
    for flag, shared in by_flag.items():
        first = shared[0]
        settings: dict[str, Any] = {"metavar": first.metavar}
        if first.repeatable:
            settings.update(dest=first.name, action="append", default=[])
        settings.update(FORMS.get(flag, {}))
        options.append(
            Option(
                flag, _GROUP_OF[first.applies_to], " ".join(p.help for p in shared if p.help),
                tuple(p.name for p in shared), role_only=not first.client_setting, argparse=settings,
                identity=first.identity,
            )
        )  # fmt: skip
    return tuple(options)


def _ordered(options: Iterable[Option]) -> tuple[Option, ...]:
    # By help group (every, last, first, other); the table's order within one.
    listed = list(options)
    return tuple(sorted(listed, key=lambda option: GROUPS.index(option.group)))


#: Every role option, in ``--help``'s order (``--profile`` first among the first hop's).
OPTIONS: tuple[Option, ...] = _ordered([*OTHER_OPTIONS, *table_options(hop_parameters())])

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


def hop_keywords(args: argparse.Namespace, group: str) -> dict[str, Any]:
    """The library keywords of ``group``'s table options on this command line (``None``: not given).

    Left out: options giving more than one parameter (``--tag``) and those
    `cli.commands` reads itself (`_BY_HAND`); every other table option --
    one added to the library's table included -- reaches the library as it is.
    """
    keywords: dict[str, Any] = {}
    for option in OPTIONS:
        if option.group == group and len(option.parameters) == 1 and option.flag not in _BY_HAND:
            value = getattr(args, option.dest, None)
            keywords[option.parameters[0]] = None if value == [] else value
    return keywords


#: Table options `cli.commands` reads itself: they choose the first hop's operation
#: or become a provider, rather than passing through as keywords.
_BY_HAND = frozenset({
    "--session-name", "--mfa-serial", "--mfa-command", "--web-identity-token-file",
    "--saml-assertion-command", "--principal-arn",
})  # fmt: skip

"""The ``rolesession`` command line: commands, options, and how their values are read."""

from __future__ import annotations

import argparse
import re
from typing import NoReturn

from .errors import UsageError

__all__ = ["build_parser", "parse_args"]

FORMATS = ("env", "json", "credential-process")

_DURATION_RE = re.compile(r"([0-9]+)([smh]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage block and exits; the CLI promises one
    # clear line on stderr, so errors become exceptions that ``main`` reports.
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# -- option values ---------------------------------------------------------------


def duration(text: str) -> int:
    """``3600``, ``3600s``, ``60m`` or ``1h``, in seconds (the range is the library's check)."""
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration (e.g. 3600, 45m, 2h)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def tag(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` (the value may be empty or contain ``=``)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text[:140]!r} is not KEY=VALUE")
    return key, value


#: A session policy is at most 2048 characters in its compact form; a file
#: may be indented generously, but nothing valid comes near this.
POLICY_FILE_LIMIT = 32 * 1024


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


# -- the parser --------------------------------------------------------------------


def _role_options() -> _Parser:
    """Options shared by ``assume``, ``exec`` and ``whoami``."""
    common = _Parser(add_help=False)
    hops = common.add_argument_group("every hop")
    hops.add_argument(
        "--session-name", metavar="NAME",
        help="RoleSessionName (default: AWS_ROLE_SESSION_NAME or user@host)",
    )
    hops.add_argument("--region", metavar="REGION", help="region of the STS endpoint and of the credentials")
    hops.add_argument("--sts-endpoint-url", metavar="URL", help="STS endpoint (VPC endpoint, local STS)")

    last = common.add_argument_group("last hop")
    last.add_argument("--duration", type=duration, metavar="SECONDS", help="900-43200 s; also 45m, 2h")
    last.add_argument("--policy", type=policy, metavar="JSON|@FILE", help="session policy document")
    last.add_argument(
        "--policy-arn", dest="policy_arns", action="append", default=[], metavar="ARN",
        help="managed policy used as a session policy (repeatable, up to 10)",
    )
    last.add_argument(
        "--tag", dest="tags", action="append", default=[], type=tag, metavar="KEY=VALUE",
        help="session tag (repeatable)",
    )
    last.add_argument("--external-id", metavar="ID", help="ExternalId the role's trust policy asks for")
    last.add_argument("--source-identity", metavar="NAME", help="SourceIdentity to set")

    first = common.add_argument_group("first hop (how the source signs in)")
    first.add_argument("--profile", metavar="NAME", help="source credentials from this ~/.aws/config profile")
    first.add_argument("--mfa-serial", metavar="ARN", help="MFA device serial number or ARN")
    first.add_argument(
        "--mfa-command", metavar="CMD",
        help="command printing the MFA code (run without a shell; the last 6-digit number it prints)",
    )
    first.add_argument(
        "--web-identity-token-file", metavar="PATH",
        help="assume the first role with this OIDC token (AssumeRoleWithWebIdentity; re-read at each call)",
    )
    first.add_argument(
        "--saml-assertion-command", metavar="CMD",
        help="command printing a base64 SAML response (AssumeRoleWithSAML; needs --principal-arn)",
    )
    first.add_argument("--principal-arn", metavar="ARN", help="the IAM SAML provider's ARN")

    other = common.add_argument_group("other")
    other.add_argument(
        "--no-cache", action="store_true", help="neither read nor write the credential file cache"
    )
    other.add_argument("-v", "--verbose", action="store_true", help="log every STS call on stderr")
    return common


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = _Parser(
        prog="rolesession",
        description="Credentials for AWS IAM roles: assumed, chained, scoped, cached and refreshed.",
    )
    parser.add_argument("--version", action="version", version=f"rolesession {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _role_options()

    assume = commands.add_parser(
        "assume", parents=[common], help="print credentials for a role (several ARNs chain)",
        description="Assume ROLE_ARN (several chain, each from the previous) and print its credentials.",
    )
    assume.add_argument("role_arns", nargs="+", metavar="ROLE_ARN")
    assume.add_argument(
        "--format", choices=FORMATS, default="env",
        help="env: export lines for eval (default); json: the STS Credentials object; "
        "credential-process: for credential_process in ~/.aws/config",
    )

    run = commands.add_parser(
        "exec", parents=[common], help="run a command with a role's credentials",
        usage="%(prog)s ROLE_ARN [ROLE_ARN ...] [options] [--server] -- COMMAND [ARG ...]",
        description="Run COMMAND with the role's credentials and exit with its exit code.",
    )
    run.add_argument("role_arns", nargs="+", metavar="ROLE_ARN")
    run.add_argument(
        "--server", action="store_true",
        help="serve credentials to COMMAND from a loopback container-credentials endpoint, "
        "refreshed for as long as it runs",
    )

    whoami = commands.add_parser(
        "whoami", parents=[common], help="print the identity that results",
        description="Print the identity of the last role (with no ROLE_ARN: of the source credentials).",
    )
    whoami.add_argument("role_arns", nargs="*", metavar="ROLE_ARN")

    demo = commands.add_parser(
        "demo", help="the whole story against an embedded local STS (needs rolesession[demo])",
        description="Run assume, chain, scope, web identity, SAML, refresh and fan-out against a local STS.",
    )
    demo.add_argument("-v", "--verbose", action="store_true", help="log every STS call on stderr")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; for ``exec``, everything after the first ``--`` is the command."""
    command: list[str] = []
    if argv and argv[0] == "exec" and "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    args = build_parser().parse_args(argv)
    if args.command is None:
        raise UsageError("choose a command: assume, exec, whoami or demo (see 'rolesession --help')")
    if args.command == "exec":
        if not command:
            raise UsageError("exec needs a command after '--': rolesession exec ROLE_ARN -- COMMAND ...")
        args.exec_command = command
    return args

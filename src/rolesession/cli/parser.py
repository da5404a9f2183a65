"""The ``rolesession`` command line: commands, options, and how their values are read."""

from __future__ import annotations

import argparse
from typing import NoReturn

from .errors import UsageError
from .options import add_role_options

__all__ = ["build_parser", "parse_args"]

FORMATS = ("env", "json", "credential-process")


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage block and exits; the CLI promises one
    # clear line on stderr, so errors become exceptions that ``main`` reports.
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _role_options() -> _Parser:
    """Options shared by ``assume``, ``exec`` and ``whoami`` (the table in ``options``)."""
    common = _Parser(add_help=False)
    add_role_options(common)
    common.add_argument("-v", "--verbose", action="store_true", help="log every STS call on stderr")
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
        usage="%(prog)s [ROLE_ARN ...] [--profile NAME] [options]",
        description="Assume ROLE_ARN (several chain, each from the previous) and print its credentials. "
        "With --profile naming a role profile (role_arn in ~/.aws/config), its role comes first "
        "and ROLE_ARNs chain on from it; without ROLE_ARN its role's credentials are printed.",
    )
    assume.add_argument("role_arns", nargs="*", metavar="ROLE_ARN")
    assume.add_argument(
        "--format", choices=FORMATS, default="env",
        help="env: export lines for eval (default); json: the STS Credentials object; "
        "credential-process: for credential_process in ~/.aws/config",
    )

    run = commands.add_parser(
        "exec", parents=[common], help="run a command with a role's credentials",
        usage="%(prog)s [ROLE_ARN ...] [--profile NAME] [options] [--server] -- COMMAND [ARG ...]",
        description="Run COMMAND with the role's credentials and exit with its exit code.",
    )
    run.add_argument("role_arns", nargs="*", metavar="ROLE_ARN")
    run.add_argument(
        "--server", action="store_true",
        help="serve credentials to COMMAND from a loopback container-credentials endpoint, "
        "refreshed for as long as it runs",
    )

    whoami = commands.add_parser(
        "whoami", parents=[common], help="print the identity that results",
        description="Print the identity of the last role (with no ROLE_ARN: of --profile's role if it "
        "names a role profile, else of the source credentials).",
    )
    whoami.add_argument("role_arns", nargs="*", metavar="ROLE_ARN")

    cache = commands.add_parser(
        "cache", help="run a credential_process helper, caching its output (e.g. aws-sso-util)",
        usage="%(prog)s [--no-cache] [-v] -- COMMAND [ARG ...]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run COMMAND, a credential_process helper printing the Version 1 JSON document, "
        "and cache its\noutput in the credential file cache (keyed by the command line and your user), "
        "shared by every\nprocess: it runs again only when less than 15 minutes would be left. "
        "Output without an\nExpiration (long-lived keys) is passed through and never cached.\n\n"
        "example, in ~/.aws/config:\n"
        "  [profile sso-admin]\n"
        "  credential_process = rolesession cache -- aws-sso-util credential-process --profile sso-admin-src",
    )
    cache.add_argument("--no-cache", action="store_true", help="run COMMAND every time; cache nothing")
    cache.add_argument("-v", "--verbose", action="store_true", help="say on stderr when COMMAND runs")

    demo = commands.add_parser(
        "demo", help="the whole story against an embedded local STS (needs rolesession[demo])",
        description="Run assume, chain, scope, web identity, SAML, refresh and fan-out against a local STS.",
    )
    demo.add_argument("-v", "--verbose", action="store_true", help="log every STS call on stderr")
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; for ``exec``, everything after the first ``--`` is the command."""
    command: list[str] = []
    if argv[:1] == ["cache"] and "--" not in argv and not {"-h", "--help"} & set(argv):
        raise UsageError("cache needs the helper after '--': rolesession cache -- COMMAND ...")
    if argv and argv[0] in ("exec", "cache") and "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    args = build_parser().parse_args(argv)
    if args.command is None:
        raise UsageError(
            "choose a command: assume, exec, whoami, cache or demo (see 'rolesession --help')"
        )
    if args.command == "exec":
        if not command:
            raise UsageError("exec needs a command after '--': rolesession exec ROLE_ARN -- COMMAND ...")
        args.exec_command = command
    if args.command == "cache":
        if not command:
            raise UsageError("cache needs the helper after '--': rolesession cache -- COMMAND ...")
        args.helper_command = command
    return args

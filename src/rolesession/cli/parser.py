"""The ``rolesession`` command line: commands, options, and how their values are read."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from .errors import UsageError
from .options import add_role_options, fill_defaults

__all__ = ["build_parser", "parse_args"]

FORMATS = ("env", "json", "credential-process")

ASSUME_EXAMPLES = """\
  eval "$(rolesession assume arn:aws:iam::123456789012:role/Auditor)"
  rolesession assume arn:aws:iam::111111111111:role/Hub arn:aws:iam::222222222222:role/Target --duration 1h
  rolesession assume --profile prod --format credential-process   # a role profile of ~/.aws/config
  rolesession assume arn:aws:iam::123456789012:role/Tenant --policy @tenant-policy.json --format json"""
EXEC_EXAMPLES = """\
  rolesession exec arn:aws:iam::123456789012:role/Deploy -- terraform plan
  rolesession exec --profile prod --server -- ./long-running-migration.py   # refreshed while it runs
  rolesession exec arn:aws:iam::123456789012:role/Admin \\
      --mfa-serial arn:aws:iam::123456789012:mfa/me -- aws s3 ls"""
WHOAMI_EXAMPLES = """\
  rolesession whoami                                   # the source credentials
  rolesession whoami --profile prod                    # a role profile's role
  rolesession whoami arn:aws:iam::123456789012:role/Auditor"""
EXAMPLES = f"""\
examples:
{ASSUME_EXAMPLES}
{EXEC_EXAMPLES.splitlines()[0]}
{WHOAMI_EXAMPLES.splitlines()[0]}
  rolesession demo                                     # the whole story against a local STS"""


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage block and exits; the CLI promises one
    # clear line on stderr, so errors become exceptions that ``main`` reports.
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


DOCS = "https://rolesession.readthedocs.io/"

EXIT_CODES = """\
exit codes:
  0  success (exec: the command's own exit code)
  2  invalid usage or parameter (the option or variable is named)
  3  no source credentials (or a credential_process that resolves through itself)
  4  STS answered with an error (its code is in the message)
  5  anything else: STS unreachable, an MFA/SAML/helper command failed, ..."""


def _environment() -> str:
    from rolesession import FileCache

    return f"""\
environment:
  AWS_PROFILE            the source profile (or role profile, with --profile) when --profile is not given
  AWS_REGION, AWS_DEFAULT_REGION
                         the region when --region is not given
  AWS_ROLE_SESSION_NAME  the session name when --session-name is not given
  AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE
                         where profiles are read
  XDG_CACHE_HOME         the credential file cache lives in $XDG_CACHE_HOME/rolesession
                         (here: {FileCache.default_directory()}); --no-cache bypasses it

documentation: {DOCS}"""


def _variable_name(text: str) -> str:
    if not text or "=" in text or "\0" in text:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an environment variable name")
    return text


def _verbose(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: given after the command it sets verbose; not given there, it
    # leaves what ``rolesession -v COMMAND`` set.
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log every STS call on stderr"
    )


def _role_options(*, identity_only: bool = False) -> _Parser:
    """Options shared by ``assume``, ``exec`` and ``whoami`` (the table in ``options``)."""
    common = _Parser(add_help=False)
    add_role_options(common, identity_only=identity_only)
    _verbose(common)
    return common


def _subcommand(commands: Any, name: str, *, examples: str, **kwargs: Any) -> _Parser:
    return commands.add_parser(  # type: ignore[no-any-return]
        name,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"examples:\n{examples}\n\n{EXIT_CODES}\n\ndocumentation: {DOCS}cli/",
        **kwargs,
    )


def build_parser(*, only_assume: bool = False) -> argparse.ArgumentParser:
    """The whole parser; ``only_assume``: its ``assume`` subcommand alone (the same
    parser for it, without importing and building the others: the cached hand-out's start-up)."""
    from .. import __version__

    parser = _Parser(
        prog="rolesession",
        description="Credentials for AWS IAM roles: assumed, chained, scoped, cached and refreshed.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"{EXAMPLES}\n\n{EXIT_CODES}\n\n{_environment()}",
    )
    parser.add_argument("--version", action="version", version=f"rolesession {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every STS call on stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _role_options()

    assume = _subcommand(
        commands, "assume", examples=ASSUME_EXAMPLES,
        parents=[common], help="print credentials for a role (several ARNs chain)",
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
    if only_assume:
        return parser

    run = _subcommand(
        commands, "exec", examples=EXEC_EXAMPLES,
        parents=[common], help="run a command with a role's credentials",
        usage="%(prog)s [ROLE_ARN ...] [--profile NAME] [options] [--server | --imds] -- COMMAND [ARG ...]",
        description="Run COMMAND with the role's credentials and exit with its exit code.",
    )
    run.add_argument("role_arns", nargs="*", metavar="ROLE_ARN")
    endpoint = run.add_mutually_exclusive_group()
    endpoint.add_argument(
        "--server", action="store_true",
        help="serve credentials to COMMAND from a loopback container-credentials endpoint, "
        "refreshed for as long as it runs",
    )
    endpoint.add_argument(
        "--imds", action="store_true",
        help="serve credentials to COMMAND from a loopback EC2 instance-metadata endpoint "
        "(IMDSv2), for tools that only know instance metadata",
    )

    whoami = _subcommand(
        commands, "whoami", examples=WHOAMI_EXAMPLES,
        parents=[_role_options(identity_only=True)], help="print the identity that results",
        description="Print the identity of the last role (with no ROLE_ARN: of --profile's role if it "
        "names a role profile, else of the source credentials).",
    )
    whoami.add_argument("role_arns", nargs="*", metavar="ROLE_ARN")

    cache = commands.add_parser(
        "cache", help="run a credential_process helper, caching its output (e.g. aws-sso-util)",
        epilog=f"{EXIT_CODES}\n\ndocumentation: {DOCS}cli/",
        usage="%(prog)s [--no-cache] [--key-env VAR] [-v] -- COMMAND [ARG ...]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run COMMAND, a credential_process helper printing the Version 1 JSON document, "
        "and cache its\noutput in the credential file cache, shared by every process: it runs again "
        "only when less\nthan 15 minutes would be left. The entry is keyed by the command line, the "
        "executable it\nresolves to, the working directory (for relative paths), every AWS_* "
        "variable, each --key-env\nvariable and your user. Output without an "
        "Expiration (long-lived keys) is passed\nthrough and never cached.\n\n"
        "example, in ~/.aws/config:\n"
        "  [profile sso-admin]\n"
        "  credential_process = rolesession cache -- aws-sso-util credential-process --profile sso-admin-src",
    )
    cache.add_argument("--no-cache", action="store_true", help="run COMMAND every time; cache nothing")
    cache.add_argument(
        "--key-env", action="append", default=[], metavar="VAR", type=_variable_name,
        help="an environment variable (besides AWS_*) that changes what COMMAND prints, "
        "e.g. ACCOUNT: its value is part of the cache key (repeatable)",
    )
    cache.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
        help="say on stderr when COMMAND runs",
    )  # fmt: skip

    from . import console, token  # their own modules: options, help and examples live there

    token.register(_subcommand, commands, _role_options(identity_only=True))
    console.register(_subcommand, commands, _role_options(identity_only=True))

    demo = commands.add_parser(
        "demo", help="the whole story against an embedded local STS (needs rolesession[demo])",
        description="Run assume, chain, scope, web identity, SAML, refresh and fan-out against a local STS.",
    )
    _verbose(demo)
    from .each import add_parser as add_each

    add_each(commands, argparse.RawDescriptionHelpFormatter)
    return parser


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; for ``exec``, everything after the first ``--`` is the command."""
    command: list[str] = []
    # The subcommand: the first argument that is not one of the main options (-v).
    name = next((a for a in argv if not a.startswith("-")), None)
    if name == "cache" and "--" not in argv and not {"-h", "--help"} & set(argv):
        raise UsageError("cache needs the helper after '--': rolesession cache -- COMMAND ...")
    if name in ("exec", "cache", "each") and "--" in argv:
        split = argv.index("--")
        argv, command = argv[:split], argv[split + 1 :]
    # ``assume`` without help parses the same with its subcommand alone (no other command's modules).
    lean = name == "assume" and not {"-h", "--help"} & set(argv)
    args = build_parser(only_assume=lean).parse_args(argv)
    fill_defaults(args)
    if args.command is None:
        raise UsageError(
            "choose a command: assume, exec, whoami, cache or demo (see 'rolesession --help')"
        )
    if args.command == "exec":
        if not command:
            raise UsageError("exec needs a command after '--': rolesession exec ROLE_ARN -- COMMAND ...")
        args.exec_command = command
    if args.command == "each":
        if not command:
            raise UsageError("each needs a command after '--': rolesession each --role NAME ... -- COMMAND")
        args.each_command = command
    if args.command == "cache":
        if not command:
            raise UsageError("cache needs the helper after '--': rolesession cache -- COMMAND ...")
        args.helper_command = command
    return args

"""``rolesession console``: open (or print) an AWS console sign-in URL for a role."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register", "run"]

EXAMPLES = """\
  rolesession console arn:aws:iam::123456789012:role/Admin         # opens the browser
  rolesession console --profile prod --destination https://console.aws.amazon.com/s3/
  rolesession console --print              # the source credentials (IAM-user keys: GetFederationToken)"""


def register(subcommand: Any, commands: Any, role_options: argparse.ArgumentParser) -> None:
    """Add ``console`` to the CLI's subcommands."""
    parser = subcommand(
        commands,
        "console",
        examples=EXAMPLES,
        parents=[role_options],
        help="open the AWS console signed in as a role",
        usage="%(prog)s [ROLE_ARN ...] [--profile NAME] [--destination URL] [--print] [options]",
        description="Sign in to the AWS console as the role (several ARNs chain; none: the source "
        "credentials, through GetFederationToken for IAM-user keys) and open it in the browser. "
        "The URL signs anyone in for 15 minutes: --print only where no one else reads the terminal.",
    )
    parser.add_argument("role_arns", nargs="*", metavar="ROLE_ARN")
    parser.add_argument("--destination", metavar="URL", help="the console page to open (default: its home)")
    parser.add_argument(
        "--print", dest="print_url", action="store_true", help="print the URL instead of opening it"
    )


def run(args: argparse.Namespace) -> int:
    import webbrowser

    from .commands import build_session

    url = build_session(args).console_url(destination=args.destination)
    if args.print_url:
        print(url, flush=True)
        return 0
    if not webbrowser.open(url):
        print("rolesession: no browser could be opened; run again with --print", file=sys.stderr)
        return 5
    return 0

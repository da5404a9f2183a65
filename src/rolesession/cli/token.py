"""``rolesession token``: print an outbound web identity token (GetWebIdentityToken) for a role."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run"]

EXAMPLES = """\
  rolesession token --audience api://AzureADTokenExchange --profile prod
  rolesession token --audience https://sts.googleapis.com arn:aws:iam::123456789012:role/Workload
  rolesession token --audience my-saas --algorithm ES384 --duration 900"""


def register(subcommand: Any, commands: Any, role_options: argparse.ArgumentParser) -> None:
    """Add ``token`` to the CLI's subcommands."""
    parser = subcommand(
        commands,
        "token",
        examples=EXAMPLES,
        parents=[role_options],
        help="print a signed JWT for an external service (GetWebIdentityToken)",
        usage="%(prog)s --audience AUD [--audience AUD ...] [ROLE_ARN ...] [--profile NAME] [options]",
        description="Print a JWT from GetWebIdentityToken naming the role (several ARNs chain; none: "
        "the source credentials), for Azure, Google Cloud or any OIDC-trusting service. The token "
        "is cached in the credential file cache until shortly before it expires.",
    )
    parser.add_argument("role_arns", nargs="*", metavar="ROLE_ARN")
    parser.add_argument(
        "--audience",
        action="append",
        required=True,
        metavar="AUD",
        help="the token's aud claim (repeatable, up to 10)",
    )
    parser.add_argument("--algorithm", choices=("RS256", "ES384"), default="RS256", help="signing algorithm")
    parser.add_argument(
        "--duration", dest="token_duration", type=int, default=300, metavar="SECONDS",
        help="the token's lifetime, 60-3600 seconds (default 300)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from .commands import build_session

    session = build_session(args)
    token = session.web_identity_token(args.audience, algorithm=args.algorithm, duration=args.token_duration)
    print(token, flush=True)
    return 0

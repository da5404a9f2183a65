"""``assume`` answered from the file cache without boto3 or botocore, when the answer is certain.

A ``credential_process`` is started by every consumer process; importing
boto3 is nearly all of its cost. `assume` here serves only what the full
path (`commands.assume`) would certainly print: role ARNs assumed from the
environment's keys, with no option but those `rolesession.cached_credentials`
keys on, every hop's entry valid and outside its refresh window, the region
certain, and no shared failure marker. Anything else returns ``None``: the
full path runs.
"""

from __future__ import annotations

import argparse
import os
import re

from rolesession import FileCache, cached_credentials

from . import documents
from .failures import SharedFailures, marker_key
from .options import OPTIONS

__all__ = ["assume", "shared_failures"]

#: The options the cached path understands; any other given sends a run to the full path.
_SERVED = frozenset({"session_name", "region", "sts_endpoint_url", "duration"})
#: botocore's region pattern for the ``aws`` partition: a region the full path accepts for its roles.
_AWS_REGION = re.compile(r"(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+")
_FORMATS = ("credential-process", "env", "json")


def assume(args: argparse.Namespace) -> int | None:
    """Print ``assume``'s document from the cache and return 0; ``None``: take the full path."""
    if args.command != "assume" or args.format not in _FORMATS or not args.role_arns:
        return None
    if any(o.dest not in _SERVED and getattr(args, o.dest, None) not in (None, [], False) for o in OPTIONS):
        return None
    certain, region = _region(args)
    if not certain:
        return None
    cache = FileCache()
    if shared_failures(args, cache).read() is not None:
        return None  # another run's failure is shared: the full path says what it says
    creds = cached_credentials(
        args.role_arns,
        session_name=args.session_name,
        duration=args.duration,
        sts_endpoint_url=args.sts_endpoint_url,
        cache=cache,
    )
    if creds is None:
        return None
    print(documents.document(creds, region, args.format), flush=True)
    return 0


def shared_failures(args: argparse.Namespace, cache: FileCache) -> SharedFailures:
    """The failure marker ``assume`` shares with its other runs with these options (`cli.failures`)."""
    request = {option.dest: getattr(args, option.dest, None) for option in OPTIONS}
    return SharedFailures(cache, marker_key({"command": "assume", "role_arns": args.role_arns, **request}))


def _region(args: argparse.Namespace) -> tuple[bool, str | None]:
    """Whether the region the full path would configure is certain without botocore, and that region."""
    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        config = os.environ.get("AWS_CONFIG_FILE") or os.path.join("~", ".aws", "config")
        # A profile there may configure one (or a bad one): botocore reads it.
        return not os.path.exists(os.path.expanduser(config)), None
    # The full path checks the region against the role's partition (botocore's pattern).
    partition_aws = all(arn.startswith("arn:aws:") for arn in args.role_arns)
    return partition_aws and _AWS_REGION.fullmatch(region) is not None, region

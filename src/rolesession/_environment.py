"""Defaults that come from the environment: session name, region, source."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from typing import Any

import botocore
import botocore.session

from . import _botocore, _state

# Re-exported: the names moved to a module that loads without botocore.
from ._session_names import _user_at_host as _user_at_host
from ._session_names import default_session_name as default_session_name
from ._session_names import sanitize_session_name as sanitize_session_name
from ._validation import check_region, fail

logger = logging.getLogger("rolesession")

PARTITION_REGIONS = {
    "aws": "us-east-1",
    "aws-cn": "cn-north-1",
    "aws-us-gov": "us-gov-west-1",
    "aws-iso": "us-iso-east-1",
    "aws-iso-b": "us-isob-east-1",
    "aws-iso-e": "eu-isoe-west-1",
    "aws-iso-f": "us-isof-south-1",
    "aws-eusc": "eusc-de-east-1",
}

# Variables that decide who the default credential chain is and where it is.
_CHAIN_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_EC2_METADATA_DISABLED",
)


def environment_fingerprint() -> str:
    """Changes whenever the environment names another default caller."""
    env = os.environ
    raw, encode = getattr(env, "_data", None), getattr(env, "encodekey", None)
    if isinstance(raw, dict) and encode is not None:
        # Every warm re-assume asks this: CPython's raw mapping answers an
        # unset variable without raising and catching a KeyError (~2 us each).
        values = repr([raw.get(key) for key in _encoded_chain_variables(encode)])
    else:
        values = repr([env.get(name) for name in _CHAIN_VARIABLES])
    return hashlib.sha256(values.encode()).hexdigest()


@functools.lru_cache(maxsize=4)
def _encoded_chain_variables(encode: Any) -> tuple[Any, ...]:
    return tuple(encode(name) for name in _CHAIN_VARIABLES)


def default_source() -> botocore.session.Session:
    """A shared botocore session for the default credential chain.

    One per distinct environment, so credentials are resolved once per
    process rather than once per assumed role, and a test (or a program) that
    changes its credential variables gets a fresh chain.
    """
    fingerprint = environment_fingerprint()
    sources = _state.state.default_sources
    session = sources.get(fingerprint)
    if session is None:
        with _state.state.lock:
            session = sources.get(fingerprint)
            if session is None:
                session = sources[fingerprint] = _botocore.new_session()
    return session


def region_of(session: Any) -> str | None:
    """The region a boto3 or botocore session is configured for."""
    region = getattr(session, "region_name", None)
    if region is None and hasattr(session, "get_config_variable"):
        try:
            region = session.get_config_variable("region")
        except Exception:  # e.g. a profile named in the environment is missing
            region = None
    return region if isinstance(region, str) and region else None


def configured_region(explicit: str | None, source: Any) -> str | None:
    """The region given, or the source's, or (no source) the environment's; ``None`` if none.

    With no source the order is ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then
    the default profile's ``region``. A region found there that is not a
    region name raises `rolesession.InvalidParameterError` naming where it
    came from: the variable (``parameter="AWS_REGION"`` or
    ``"AWS_DEFAULT_REGION"``), or ``"source"`` for a source session's (or
    the default profile's) configuration. An empty variable counts as unset.
    """
    if explicit:
        return explicit
    if source is None:
        return _environment_region()
    region = region_of(source)
    if region is not None:
        check_region(region, "source", origin="the region the source session is configured with")
    return region


def check_region_of_partition(
    region: str | None, partition: str, parameter: str = "region", origin: str = ""
) -> str | None:
    """``region`` if it can be one of ``partition``'s regions; ``None`` stays ``None``.

    A name outside the partition's region pattern (botocore's
    ``partitions.json``) is an `InvalidParameterError`. A name that fits the
    pattern but that the installed botocore does not list is allowed -- AWS
    opens regions newer than any installed botocore -- with one WARNING per
    process naming the nearest known region, since a typo (``eu-wst-1``)
    otherwise only shows as an unreachable endpoint. ``origin`` says where a
    region the caller did not pass came from.
    """
    if region is None:
        return None
    pattern, known = _partition_regions(partition)
    if pattern is not None and not pattern.fullmatch(region):
        where = f" ({origin})" if origin else ""
        raise fail(
            parameter, f"{region[:64]!r}{where} is not a region of the {partition!r} partition (the role's)"
        )
    if known and region not in known:
        state = _state.state
        with state.lock:
            first = region not in state.regions_warned
            state.regions_warned.add(region)
        if first:
            logger.warning(
                "region %r is not one that botocore %s knows%s; it is used as given "
                "(a region newer than botocore works, a misspelt one cannot be reached)",
                region, botocore.__version__, _nearest_phrase(region, known),
            )  # fmt: skip
    return region


def unknown_region_hint(region: str, partition: str) -> str:
    """A hint naming the nearest known region when ``region`` is not one botocore knows, else ''."""
    _, known = _partition_regions(partition)
    if not known or region in known:
        return ""
    return f"region {region!r} is not one botocore knows{_nearest_phrase(region, known)}"


def _nearest_phrase(region: str, known: tuple[str, ...]) -> str:
    import difflib  # only on this rare path: it adds to every program's import time otherwise

    nearest = difflib.get_close_matches(region, known, n=1, cutoff=0.0)
    return f" (did you mean {nearest[0]!r}?)" if nearest else ""


@functools.lru_cache(maxsize=16)
def _partition_regions(partition: str) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
    """The partition's region pattern and the regions botocore lists for it (public data files)."""
    try:
        data = _botocore.shared_loader().load_data("partitions")
        for entry in data["partitions"]:
            if entry["id"] == partition:
                pattern = re.compile(entry["regionRegex"])
                # Pseudo-regions such as "aws-global" are endpoints, not regions.
                return pattern, tuple(sorted(r for r in entry.get("regions", {}) if pattern.fullmatch(r)))
    except Exception:  # a botocore without the data file: no opinion rather than a wrong one
        logger.debug("botocore's partitions data could not be read", exc_info=True)
    return None, ()


def partition_region(partition: str) -> str:
    """The region a partition's STS is called in when nothing names one."""
    return PARTITION_REGIONS.get(partition, "us-east-1")


def _environment_region() -> str | None:
    # botocore reads AWS_DEFAULT_REGION and the profile but not AWS_REGION,
    # the variable Lambda, ECS and the other AWS SDKs use; it comes first.
    # Each variable is read here rather than through botocore so that a bad
    # value is reported under its own name.
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = os.environ.get(name)
        if value:
            return check_region(value, name, origin=f"the environment variable {name}")
    source = default_source()
    region = region_of(source)
    if region is not None:
        check_region(region, "source", origin=f"the region of profile {_profile_name(source)!r}")
    return region


def where_botocore_looked(session: Any) -> str:
    """For "no credentials" errors: the profile botocore's chain resolved and where it looked.

    ``session`` is a boto3 or botocore session. Built from the session's own
    configuration and credential resolver, so it names the files and the
    providers actually consulted (``env``, ``shared-credentials-file``, ...).
    """
    core = getattr(session, "_session", session)  # boto3.Session keeps its botocore session there
    parts = [f"profile {_profile_name(core)!r}"]
    try:
        files = [
            os.path.expanduser(str(core.get_config_variable(name)))
            for name in ("credentials_file", "config_file")
        ]
        parts.append("files " + ", ".join(files))
    except Exception:  # a profile named in the environment is missing
        pass
    try:
        methods = [str(p.METHOD) for p in core.get_component("credential_provider").providers]
        parts.append("providers tried in order: " + ", ".join(methods))
    except Exception:  # a session with a credential provider of its own
        pass
    return "; ".join(parts)


def _profile_name(session: Any) -> str:
    try:
        return str(session.profile or "default")
    except Exception:  # a profile named in the environment is missing
        return "default"



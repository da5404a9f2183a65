"""``org_accounts``: the accounts of an AWS Organization, by OU, status and tags.

The organization is walked from its root (or from the given OUs) with
``ListOrganizationalUnitsForParent`` and ``ListAccountsForParent``, so that
every account knows its OU path without one ``ListParents`` call per account;
tags come from ``ListTagsForResource``, a few accounts at a time. Every list is
paginated with botocore's paginators and throttling is absorbed by botocore's
standard retries with more attempts than the interactive default. Answers are
cached for the process, keyed by the caller and the arguments.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from ._errors import RoleSessionError
from ._validation import fail

__all__ = ["Account", "OrganizationsError", "org_accounts"]

_ACCOUNT_ID = re.compile(r"^\d{12}$")
# The Organizations model's own patterns for OU and root ids.
_OU_ID = re.compile(r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")
_ROOT_ID = re.compile(r"^r-[0-9a-z]{4,32}$")

#: Attempts per Organizations call: its APIs allow a few requests per second per
#: account, and a thousand-account walk meets ``TooManyRequestsException``.
ORG_ATTEMPTS = 12
#: Concurrent ``ListTagsForResource`` calls (the service throttles beyond a few).
_TAG_WORKERS = 8

_HINTS = {
    "AWSOrganizationsNotInUseException": "this account is not in an organization",
    "AccessDeniedException": (
        "run from the management or a delegated-administrator account, with "
        "organizations:List* and organizations:Describe* allowed"
    ),
    "AccessDeniedForDependencyException": "run from the management or a delegated-administrator account",
    "TooManyRequestsException": "Organizations kept throttling after every retry; try again later",
    "ParentNotFoundException": "no such OU or root in this organization (check the ids given as ous=)",
    "OrganizationalUnitNotFoundException": "no such OU in this organization (check the ids given as ous=)",
}


class OrganizationsError(RoleSessionError):
    """AWS Organizations refused or could not be reached while listing accounts.

    Attributes:
        code: the Organizations error code (e.g. ``AccessDeniedException``),
            or the botocore exception's class name for connection errors.
        operation: the Organizations operation that failed.

    Example:
        ```python
        try:
            accounts = rolesession.org_accounts()
        except rolesession.OrganizationsError as exc:
            print(exc.code, exc)  # AccessDeniedException ... (run from the management or ...)
        ```
    """

    def __init__(self, message: str, *, code: str | None = None, operation: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.operation = operation
        self._init_kwargs = {"code": code, "operation": operation}


@dataclass(frozen=True)
class Account:
    """One account of the organization, as `rolesession.org_accounts` found it.

    Attributes:
        id: the 12-digit account id.
        name: the account's name.
        email: the account's root e-mail address.
        status: ``ACTIVE``, ``SUSPENDED`` or ``PENDING_CLOSURE``.
        ou_path: the names of the root and the OUs above the account, root
            first, e.g. ``("Root", "Workloads", "Prod")``.
        tags: the account's tags (key to value).

    Example:
        ```python
        account = rolesession.Account("123456789012", "audit", ou_path=("Root", "Security"))
        "/".join(account.ou_path)  # 'Root/Security'
        ```
    """

    id: str
    name: str
    email: str = ""
    status: str = "ACTIVE"
    ou_path: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)


# -- validation ---------------------------------------------------------------------


def _statuses() -> frozenset[str]:
    """The account statuses of the Organizations model (loaded once, no call)."""
    from ._botocore import shared_loader

    model = shared_loader().load_service_model("organizations", "service-2")
    return frozenset(model["shapes"]["AccountStatus"]["enum"])


def _check_ids(value: object, name: str, *, accounts: bool) -> tuple[str, ...]:
    if value is None:
        return ()
    items: Iterable[Any] = [value] if isinstance(value, str) else value  # type: ignore[assignment]
    if not isinstance(items, Iterable) or isinstance(items, (bytes, Mapping)):
        raise fail(name, f"expected an id or a list of ids, got {type(value).__name__}")
    checked = []
    for item in items:
        ok = isinstance(item, str) and (
            bool(_OU_ID.match(item) or _ROOT_ID.match(item)) or (accounts and bool(_ACCOUNT_ID.match(item)))
        )
        if not ok:
            want = "a 12-digit account id, an OU id (ou-...) or a root id (r-...)" if accounts else (
                "an OU id (ou-...) or a root id (r-...)"
            )
            raise fail(name, f"expected {want}, got {item!r}")
        checked.append(item)
    return tuple(checked)


def _check_tags(tags: object) -> tuple[tuple[str, str | None], ...]:
    if tags is None:
        return ()
    if not isinstance(tags, Mapping):
        raise fail("tags", "expected a mapping of tag key to value (None: any value)")
    for key, value in tags.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str)):
            raise fail("tags", f"expected str keys and str or None values, got {key!r}: {value!r}")
    return tuple(sorted(tags.items(), key=lambda item: item[0]))


def _check_status(status: object) -> frozenset[str] | None:
    if status is None:
        return None
    items = [status] if isinstance(status, str) else status
    if not isinstance(items, Iterable):
        raise fail("status", f"expected a status or a list of statuses, got {type(status).__name__}")
    known = _statuses()
    chosen = set()
    for item in items:
        if item not in known:
            raise fail("status", f"expected one of {', '.join(sorted(known))} (or None: any), got {item!r}")
        chosen.add(item)
    return frozenset(chosen)


# -- the walk ------------------------------------------------------------------------

_CACHE: dict[tuple[Any, ...], list[Account]] = {}
_CACHE_LOCK = threading.Lock()


def org_accounts(
    *,
    source: boto3.Session | None = None,
    ous: Iterable[str] | str | None = None,
    exclude: Iterable[str] | str | None = None,
    tags: Mapping[str, str | None] | None = None,
    status: str | Iterable[str] | None = "ACTIVE",
    include_management: bool = True,
    refresh: bool = False,
) -> list[Account]:
    """The accounts of the caller's AWS Organization, filtered.

    Walks the organization (or the subtrees of ``ous``, at any depth) with
    paginated ``ListOrganizationalUnitsForParent``/``ListAccountsForParent``
    calls, reads every selected account's tags, and absorbs throttling with
    botocore's standard retries (`ORG_ATTEMPTS` attempts). The answer is
    cached for the process, keyed by the caller's credentials and the
    arguments; ``refresh=True`` reads the organization again.

    Args:
        source: the session to call Organizations with (``None``: the default
            credential chain). Run from the management account or a
            delegated administrator.
        ous: OU ids (``ou-...``) or root ids (``r-...``) whose accounts, at
            any depth below them, are wanted (``None``: the whole organization).
        exclude: account ids and OU ids to leave out; an OU leaves out its
            whole subtree.
        tags: keep accounts carrying every one of these tags (a ``None`` value:
            the key with any value).
        status: a status or statuses to keep (``ACTIVE``, ``SUSPENDED``,
            ``PENDING_CLOSURE``); ``None`` keeps every account.
        include_management: keep the organization's management account.
        refresh: ignore the process's cached answer.

    Returns:
        The selected accounts, sorted by id.

    Example:
        ```python
        accounts = rolesession.org_accounts(ous=["ou-ab12-prod0001"], exclude=["111111111111"])
        regions = ["eu-west-1", "us-east-1"]
        results = rolesession.fan_out(accounts, audit, role_name="Auditor", regions=regions)
        ```

    Raises:
        InvalidParameterError: an argument is invalid (before any call).
        OrganizationsError: Organizations refused (with a hint) or could not
            be reached.
    """
    start = _check_ids(ous, "ous", accounts=False)
    excluded = _check_ids(exclude, "exclude", accounts=True)
    wanted_tags = _check_tags(tags)
    statuses = _check_status(status)
    if not isinstance(include_management, bool):
        raise fail("include_management", "must be True or False")
    if not isinstance(refresh, bool):
        raise fail("refresh", "must be True or False")
    if source is not None and not isinstance(source, boto3.Session):
        raise fail("source", f"expected a boto3.Session or None, got {type(source).__name__}")

    session = source if source is not None else boto3.Session()
    client = _client(session)
    key = (_caller(session), start, excluded, wanted_tags, statuses, include_management)
    if not refresh:
        with _CACHE_LOCK:
            cached = _CACHE.get(key)
        if cached is not None:
            return list(cached)
    accounts = _select(client, start, set(excluded), wanted_tags, statuses, include_management)
    with _CACHE_LOCK:
        _CACHE[key] = accounts
    return list(accounts)


def _client(session: boto3.Session) -> Any:
    # Organizations has one endpoint per partition; any region of it routes there.
    region = session.region_name or "us-east-1"
    config = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": ORG_ATTEMPTS})
    return session.client("organizations", region_name=region, config=config)


def _caller(session: boto3.Session) -> tuple[Any, ...]:
    """Who is asking, without a call: the profile and the access key id in use."""
    credentials = session.get_credentials()
    access_key = credentials.get_frozen_credentials().access_key if credentials is not None else None
    return (session.profile_name, access_key)


def _call(client: Any, operation: str, **kwargs: Any) -> Any:
    try:
        return getattr(client, operation)(**kwargs)
    except botocore.exceptions.ClientError as exc:
        raise _error(exc, operation) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise OrganizationsError(
            f"Organizations {operation} failed: {type(exc).__name__}: {exc}",
            code=type(exc).__name__,
            operation=operation,
        ) from exc


def _pages(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    try:
        for page in client.get_paginator(operation).paginate(**kwargs):
            items.extend(page.get(key, []))
    except botocore.exceptions.ClientError as exc:
        raise _error(exc, operation) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise OrganizationsError(
            f"Organizations {operation} failed: {type(exc).__name__}: {exc}",
            code=type(exc).__name__,
            operation=operation,
        ) from exc
    return items


def _error(exc: botocore.exceptions.ClientError, operation: str) -> OrganizationsError:
    code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
    message = str(exc.response.get("Error", {}).get("Message", ""))
    hint = _HINTS.get(code)
    text = f"Organizations {operation} refused: {code}: {message}"
    if hint:
        text += f" ({hint})"
    return OrganizationsError(text, code=code, operation=operation)


def _select(
    client: Any,
    start: tuple[str, ...],
    excluded: set[str],
    wanted_tags: tuple[tuple[str, str | None], ...],
    statuses: frozenset[str] | None,
    include_management: bool,
) -> list[Account]:
    management = None
    if not include_management:
        management = _call(client, "describe_organization")["Organization"].get("MasterAccountId")
    if start:
        tops = [(parent, _path_to(client, parent)) for parent in start]
    else:
        tops = [(root["Id"], (root.get("Name", "Root"),)) for root in _pages(client, "list_roots", "Roots")]
    found: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {}
    pending = [top for top in tops if top[0] not in excluded]
    while pending:
        parent, path = pending.pop()
        ous = _pages(client, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent)
        for ou in ous:
            if ou["Id"] not in excluded:
                pending.append((ou["Id"], (*path, ou.get("Name", ou["Id"]))))
        for account in _pages(client, "list_accounts_for_parent", "Accounts", ParentId=parent):
            found.setdefault(account["Id"], (account, path))
    chosen = [
        (account, path)
        for account, path in found.values()
        if account["Id"] not in excluded
        and account["Id"] != management
        and (statuses is None or account.get("Status") in statuses)
    ]
    with ThreadPoolExecutor(max_workers=_TAG_WORKERS, thread_name_prefix="rolesession-org-tags") as pool:
        tagged = list(pool.map(lambda item: _tags(client, item[0]["Id"]), chosen))
    accounts = [
        Account(
            id=account["Id"],
            name=account.get("Name", ""),
            email=account.get("Email", ""),
            status=account.get("Status", ""),
            ou_path=path,
            tags=account_tags,
        )
        for (account, path), account_tags in zip(chosen, tagged, strict=True)
        if _matches(account_tags, wanted_tags)
    ]
    return sorted(accounts, key=lambda account: account.id)


def _matches(tags: Mapping[str, str], wanted: tuple[tuple[str, str | None], ...]) -> bool:
    return all(key in tags and (value is None or tags[key] == value) for key, value in wanted)


def _tags(client: Any, account_id: str) -> dict[str, str]:
    tags = _pages(client, "list_tags_for_resource", "Tags", ResourceId=account_id)
    return {tag["Key"]: tag["Value"] for tag in tags}


def _path_to(client: Any, parent: str) -> tuple[str, ...]:
    """The names from the root down to ``parent`` itself (an OU or a root id)."""
    names: list[str] = []
    current = parent
    while True:
        if current.startswith("r-"):
            roots = {root["Id"]: root.get("Name", "Root") for root in _pages(client, "list_roots", "Roots")}
            names.append(roots.get(current, "Root"))
            return tuple(reversed(names))
        ou = _call(client, "describe_organizational_unit", OrganizationalUnitId=current)["OrganizationalUnit"]
        names.append(ou.get("Name", current))
        parents = _pages(client, "list_parents", "Parents", ChildId=current)
        if not parents:
            return tuple(reversed(names))
        current = parents[0]["Id"]


def clear_cache() -> None:
    """Forget every cached answer (tests)."""
    with _CACHE_LOCK:
        _CACHE.clear()


# Pickles name the public module (``rolesession.X``), never this private one (see _errors.py).
for _public in (Account, OrganizationsError):
    _public.__module__ = "rolesession"
del _public

"""org_accounts(): the organization walked at any depth, filtered, throttling absorbed, cached.

Every selection is checked against an enumeration the test keeps while it
builds the organization (not against the library's walk).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws

import rolesession
from rolesession import Account, InvalidParameterError, OrganizationsError, org_accounts
from rolesession._organizations import clear_cache


@dataclass
class Built:
    """What the test knows about the organization it made."""

    root: str
    management: str
    # account id -> (name, status, ou names root->parent, ou ids root->parent, tags)
    accounts: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...], dict[str, str]]] = field(
        default_factory=dict
    )
    ous: dict[str, tuple[str, ...]] = field(default_factory=dict)  # ou id -> ids root->itself

    def expect(
        self,
        *,
        under: str | None = None,
        excluded: set[str] = frozenset(),  # type: ignore[assignment]
        status: set[str] | None = frozenset({"ACTIVE"}),  # type: ignore[assignment]
        tags: dict[str, str | None] | None = None,
        management: bool = True,
    ) -> list[str]:
        chosen = []
        for account, (_, state, _, ids, account_tags) in self.accounts.items():
            if under is not None and under not in ids:
                continue
            if account in excluded or any(ou in excluded for ou in ids):
                continue
            if status is not None and state not in status:
                continue
            if not management and account == self.management:
                continue
            if tags and not all(
                k in account_tags and (v is None or account_tags[k] == v) for k, v in tags.items()
            ):
                continue
            chosen.append(account)
        return sorted(chosen)


def build(client: Any, *, fanout: tuple[int, ...], accounts: int) -> Built:
    """An organization of OUs ``len(fanout)`` levels deep and ``accounts`` member accounts."""
    org = client.create_organization(FeatureSet="ALL")["Organization"]
    root = client.list_roots()["Roots"][0]
    built = Built(root=root["Id"], management=org["MasterAccountId"])
    parents: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
        (root["Id"], (root["Name"],), (root["Id"],))
    ]
    level = parents
    for depth, width in enumerate(fanout):
        below = []
        for parent, names, ids in level:
            for i in range(width):
                name = f"ou-l{depth}-{i}-{len(built.ous)}"
                ou = client.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"]
                built.ous[ou["Id"]] = (*ids, ou["Id"])
                below.append((ou["Id"], (*names, name), (*ids, ou["Id"])))
        parents.extend(below)
        level = below
    management = client.describe_account(AccountId=built.management)["Account"]
    built.accounts[built.management] = (management["Name"], "ACTIVE", (root["Name"],), (root["Id"],), {})
    for n in range(accounts):
        parent, names, ids = parents[n % len(parents)]
        status = client.create_account(AccountName=f"acct-{n}", Email=f"acct-{n}@example.com")
        account = status["CreateAccountStatus"]["AccountId"]
        client.move_account(AccountId=account, SourceParentId=root["Id"], DestinationParentId=parent)
        tags: dict[str, str] = {}
        if n % 7 == 0:
            tags = {"env": "prod" if n % 2 else "dev", "team": f"t{n % 3}"}
            client.tag_resource(ResourceId=account, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        state = "ACTIVE"
        if n % 10 == 3:
            client.close_account(AccountId=account)  # moto marks it SUSPENDED
            state = "SUSPENDED"
        built.accounts[account] = (f"acct-{n}", state, names, ids, tags)
    return built


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        yield self._body


class Throttle:
    """Answers a share of Organizations requests with ``TooManyRequestsException`` before moto sees them."""

    def __init__(self, share: float, seed: int = 21) -> None:
        self.share = share
        self.random = random.Random(seed)
        self.throttled = 0
        self.calls = 0

    def __call__(self, request: Any, **kwargs: Any) -> AWSResponse | None:
        self.calls += 1
        if self.random.random() >= self.share:
            return None
        self.throttled += 1
        body = json.dumps({"__type": "TooManyRequestsException", "Message": "Rate exceeded"}).encode()
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body))


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def org() -> Iterator[tuple[Any, Built]]:
    with mock_aws():
        client = boto3.client("organizations", region_name="us-east-1")
        yield client, build(client, fanout=(2, 2, 1, 1), accounts=40)


def counted(throttle: Throttle | None = None) -> tuple[boto3.Session, dict[str, int]]:
    """A source session counting its Organizations operations (and throttling some)."""
    session = boto3.Session()
    calls: dict[str, int] = {}

    def count(model: Any, **kwargs: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    session.events.register("before-call.organizations", count)
    if throttle is not None:
        session.events.register_first("before-send.organizations", throttle)
    return session, calls


@pytest.mark.soak  # ~3 minutes on this machine, nearly all of it moto building the organization
def test_a_thousand_accounts_four_levels_deep_with_throttling_absorbed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # botocore's standard retries absorb the throttling; their real backoff (up to seconds per
    # retry) only slows the test down, so it is shortened -- the attempts are what is checked.
    import botocore.retries.standard

    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.001
    )
    with mock_aws():
        client = boto3.client("organizations", region_name="us-east-1")
        built = build(client, fanout=(3, 2, 2, 2), accounts=1000)
        assert max(len(ids) for ids in built.ous.values()) == 5  # the root and 4 levels of OUs
        throttle = Throttle(0.2)
        source, _ = counted(throttle)

        everyone = org_accounts(source=source, status=None)
        active = org_accounts(source=source, refresh=True)
        deep = sorted(ou for ou, ids in built.ous.items() if len(ids) == 3)[0]
        dropped = sorted(ou for ou, ids in built.ous.items() if len(ids) == 5)[0]
        prod = org_accounts(source=source, ous=[deep], exclude=[dropped], tags={"env": "prod"}, status=None)

    assert throttle.throttled > 0.1 * throttle.calls  # about a fifth of the calls were throttled
    assert [a.id for a in everyone] == built.expect(status=None)
    assert len(everyone) == 1001
    assert [a.id for a in active] == built.expect()
    assert any(state == "SUSPENDED" for _, state, *_ in built.accounts.values())
    assert [a.id for a in prod] == built.expect(
        under=deep, excluded={dropped}, tags={"env": "prod"}, status=None
    )
    assert prod  # the filter kept something
    for account in everyone:
        name, state, names, _, tags = built.accounts[account.id]
        assert (account.name, account.status, account.ou_path, dict(account.tags)) == (
            name,
            state,
            names,
            tags,
        )


def test_ous_exclude_status_tags_and_management_against_the_built_organization(org: Any) -> None:
    _, built = org
    source = boto3.Session()
    top = sorted(ou for ou, ids in built.ous.items() if len(ids) == 2)[0]
    inner = sorted(ou for ou, ids in built.ous.items() if len(ids) == 3 and ids[1] == top)[0]
    some = built.expect(under=top)[0]
    assert [a.id for a in org_accounts(source=source, ous=[top])] == built.expect(under=top)
    assert [a.id for a in org_accounts(source=source, ous=top, exclude=[inner, some])] == built.expect(
        under=top, excluded={inner, some}
    )
    assert [a.id for a in org_accounts(source=source, ous=[built.root], status="SUSPENDED")] == built.expect(
        status={"SUSPENDED"}
    )
    assert [a.id for a in org_accounts(source=source, tags={"team": None})] == built.expect(
        tags={"team": None}
    )
    assert [a.id for a in org_accounts(source=source, include_management=False)] == built.expect(
        management=False
    )
    deep = org_accounts(source=source, ous=[inner])
    assert deep and all(a.ou_path == built.accounts[a.id][2] for a in deep)


def test_throttling_on_a_fifth_of_the_calls_is_absorbed(org: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.retries.standard

    # The real backoff only slows the test; the attempts are what absorbs the throttling.
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.001
    )
    _, built = org
    throttle = Throttle(0.2)
    source, _ = counted(throttle)
    assert [a.id for a in org_accounts(source=source, status=None)] == built.expect(status=None)
    assert throttle.throttled > 0.1 * throttle.calls


def test_answers_are_cached_per_process_and_refresh_reads_again(org: Any) -> None:
    source, calls = counted()
    first = org_accounts(source=source)
    made = sum(calls.values())
    again = org_accounts(source=source)
    assert again == first and sum(calls.values()) == made
    assert org_accounts(source=source, refresh=True) == first
    assert sum(calls.values()) == 2 * made


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"ous": ["123456789012"]}, "ous"),
        ({"ous": ["ou-bad"]}, "ous"),
        ({"exclude": ["12345"]}, "exclude"),
        ({"exclude": 12}, "exclude"),
        ({"status": "GONE"}, "status"),
        ({"tags": ["env"]}, "tags"),
        ({"include_management": "no"}, "include_management"),
        ({"source": "default"}, "source"),
    ],
)
def test_invalid_arguments_raise_before_any_call(kwargs: dict[str, Any], parameter: str) -> None:
    source, calls = counted()
    kwargs.setdefault("source", source)
    with pytest.raises(InvalidParameterError) as info:
        org_accounts(**kwargs)
    assert info.value.parameter == parameter
    assert calls == {}


def test_no_organization_is_the_librarys_error_with_a_hint() -> None:
    with mock_aws(), pytest.raises(OrganizationsError) as info:
        org_accounts()
    assert info.value.code == "AWSOrganizationsNotInUseException"
    assert "not in an organization" in str(info.value)


def test_access_denied_says_where_to_run_from(org: Any) -> None:
    source, _ = counted()

    def deny(request: Any, **kwargs: Any) -> AWSResponse:
        body = json.dumps({"__type": "AccessDeniedException", "Message": "no"}).encode()
        return AWSResponse(request.url, 400, {}, _Raw(body))

    source.events.register_first("before-send.organizations", deny)
    with pytest.raises(OrganizationsError, match="management or a delegated-administrator account") as info:
        org_accounts(source=source)
    assert info.value.code == "AccessDeniedException"


def test_account_is_a_frozen_picklable_value() -> None:
    import pickle

    account = Account("123456789012", "audit", "a@example.com", "ACTIVE", ("Root", "Sec"), {"env": "prod"})
    assert pickle.loads(pickle.dumps(account)) == account
    with pytest.raises(AttributeError):
        account.name = "other"  # type: ignore[misc]
    untagged = Account("123456789012", "audit", "a@example.com", "ACTIVE", ("Root", "Sec"))
    assert rolesession.Account is Account and hash(account) == hash(untagged)

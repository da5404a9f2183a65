"""GetScopedCredentials and AssumeRoot are served by regional STS endpoints only: a session
that would call the global one -- given, configured or resolved -- is refused before any call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import rolesession
from helpers import OTHER_ACCOUNT, ROLE, access_key
from rolesession import InvalidParameterError, _botocore
from sts_fake import StsFake

GLOBAL = "https://sts.amazonaws.com"
AUDIT = "IAMAuditRootUserCredentials"
READ = rolesession.Policy.allow("s3:GetObject", "arn:aws:s3:::data/*")


@pytest.fixture
def fake() -> Iterator[StsFake]:
    with StsFake(root_access=True) as server:
        yield server


def _scope_down(**kwargs: Any) -> rolesession.RoleSession:
    return rolesession.scope_down(READ, **kwargs)


def _assume_root(**kwargs: Any) -> rolesession.RoleSession:
    return rolesession.assume_root(OTHER_ACCOUNT, AUDIT, **kwargs)


def _fan_out(**kwargs: Any) -> Any:
    results = rolesession.fan_out([OTHER_ACCOUNT], access_key, task_policy=AUDIT, **kwargs)
    assert results[0].ok, results[0].error
    return results


OPERATIONS: dict[str, Callable[..., Any]] = {
    "scope_down": _scope_down, "assume_root": _assume_root, "fan_out": _fan_out,
}  # fmt: skip


SERVICES = f"[profile ops]\nservices = mine\n[services mine]\nsts =\n  endpoint_url = {GLOBAL}\n"


def _config(tmp_path: Path, text: str) -> None:
    path = Path(str(tmp_path / "no-aws-config"))  # conftest's AWS_CONFIG_FILE
    path.write_text(text)


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(
    ("env", "config", "named"),
    [
        ({"AWS_ENDPOINT_URL_STS": GLOBAL}, "", "AWS_ENDPOINT_URL_STS"),
        ({"AWS_ENDPOINT_URL": GLOBAL + "/"}, "", "AWS_ENDPOINT_URL"),
        ({}, f"[default]\nendpoint_url = {GLOBAL}\n", "profile 'default'"),
        ({"AWS_PROFILE": "ops"}, SERVICES, "profile 'ops'"),
    ],
)  # fmt: skip
def test_a_configured_global_endpoint_is_refused_before_any_call(
    fake: StsFake, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    operation: str, env: dict[str, str], config: str, named: str,
) -> None:  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _config(tmp_path, config)
    with pytest.raises(InvalidParameterError) as caught:
        OPERATIONS[operation]()
    assert caught.value.parameter == "sts_endpoint_url"
    assert named in str(caught.value) and "regional" in str(caught.value)
    assert fake.calls["GetScopedCredentials"] == fake.calls["AssumeRoot"] == 0
    # A regional URL given explicitly wins over the configured one (botocore uses it verbatim).
    source = rolesession.assume_role(ROLE, sts_endpoint_url=fake.url)
    made = OPERATIONS[operation](sts_endpoint_url=fake.url, source=source)
    if operation != "fan_out":  # fan_out's entry has run already (and _fan_out checked it)
        access_key(made)
    assert fake.calls["GetScopedCredentials"] + fake.calls["AssumeRoot"] == 1


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize(
    ("env", "config"),
    [
        ({"AWS_STS_REGIONAL_ENDPOINTS": "legacy"}, ""),
        ({}, "[default]\nsts_regional_endpoints = legacy\nregion = us-east-1\n"),
        ({"AWS_ENDPOINT_URL_STS": GLOBAL, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}, ""),
        ({"AWS_ENDPOINT_URL_STS": "https://sts.eu-west-1.amazonaws.com"}, ""),
    ],
)
def test_settings_that_leave_sts_regional_are_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, operation: str, env: dict[str, str], config: str
) -> None:
    # The library's STS clients (no profile) always take the regional endpoint, legacy or not:
    # botocore resolves us-east-1 to sts.us-east-1.amazonaws.com for them.
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _config(tmp_path, config)
    resolved = _botocore.sts_endpoint("us-east-1", None, None)
    assert resolved is not None and resolved != GLOBAL
    if operation == "fan_out":
        built = rolesession.fan_out([OTHER_ACCOUNT], lambda s: s.recipe.source, task_policy=AUDIT)[0].value
    else:
        built = OPERATIONS[operation]().recipe.source
    assert built.sts_endpoint_url is None and built.sts_region == "us-east-1"


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_region_botocore_resolves_to_the_global_endpoint_names_region(
    monkeypatch: pytest.MonkeyPatch, operation: str
) -> None:
    # No region the partitions accept does today ("aws-global" is refused as a region);
    # a botocore that did would be caught all the same.
    monkeypatch.setattr(_botocore, "sts_endpoint", lambda region, url, config, profile=None: GLOBAL)
    with pytest.raises(InvalidParameterError) as caught:
        OPERATIONS[operation](region="eu-west-1")
    assert caught.value.parameter == "region"
    assert "eu-west-1" in str(caught.value) and "regional" in str(caught.value)


@pytest.mark.parametrize("operation", ["scope_down", "assume_root"])
def test_the_global_pseudo_region_is_refused(operation: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        OPERATIONS[operation](region="aws-global")
    assert caught.value.parameter == "region"


def test_the_aio_versions_refuse_it_too(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("aiobotocore")
    from rolesession import aio

    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", GLOBAL)
    for make in (lambda: aio.scope_down(READ), lambda: aio.assume_root(OTHER_ACCOUNT, AUDIT)):
        with pytest.raises(InvalidParameterError) as caught:
            make()
        assert caught.value.parameter == "sts_endpoint_url"
    with pytest.raises(InvalidParameterError):
        aio.scope_down(READ, sts_endpoint_url=GLOBAL)

"""The parameter table: each STS parameter declared once, on its `Source` field.

Everything derived from the declarations must agree with what it stands for:
the wire names with botocore's STS model, the hop keywords with the typed
``HopKeywords``, the CLI flags with the CLI's option table, the secrets with
what is hidden, the duration limits with the one table in `_limits`.
"""

from __future__ import annotations

import typing

import botocore.session
import pytest

from rolesession import _file_cache, _limits, _requests
from rolesession._keywords import HopKeywords
from rolesession._sources import (
    KEY_FORMAT,
    AssumeRoleSource,
    SamlSource,
    SessionTokenSource,
    Source,
    WebIdentitySource,
)
from rolesession.cli import options

SOURCES: tuple[type[Source], ...] = (AssumeRoleSource, WebIdentitySource, SamlSource, SessionTokenSource)
ARN = "arn:aws:iam::111122223333:role/table"


@pytest.fixture(scope="module")
def sts_model() -> typing.Any:
    return botocore.session.get_session().get_service_model("sts")


def test_hop_keywords_typed_dict_matches_the_table() -> None:
    # A keyword added to the table but not to HopKeywords (or the other way) fails here.
    assert set(HopKeywords.__annotations__) == _requests.HOP_KEYWORDS
    assert set(AssumeRoleSource.hop_rules()) | {"cache", "refresh"} == _requests.HOP_KEYWORDS


def test_hop_rules_come_from_the_table() -> None:
    assert frozenset({"mfa_serial", "mfa_token"}) == _requests._FIRST_HOP_ONLY
    assert frozenset({"policy", "policy_arns", "tags", "transitive_tag_keys"}) == _requests._LAST_HOP_ONLY


@pytest.mark.parametrize("cls", SOURCES, ids=lambda c: c.operation)
def test_every_cli_flag_is_an_option_for_its_parameter(cls: type[Source]) -> None:
    flags = {option.flag for option in options.OPTIONS}
    for name, spec in cls.table():
        if spec.cli_flag is not None:
            assert spec.cli_flag in flags, name
            assert options.option_for(name) == spec.cli_flag, name


@pytest.mark.parametrize("cls", SOURCES, ids=lambda c: c.operation)
def test_every_check_is_a_validation_function(cls: type[Source]) -> None:
    from rolesession import _validation

    for name, spec in cls.table():
        if spec.check is not None:
            assert callable(getattr(_validation, spec.check, None)), (name, spec.check)


def _sources() -> list[Source]:
    return [
        AssumeRoleSource(
            role_arn=ARN, region=None, partition="aws", session_name="t", mfa_serial="GAHT12345678",
            mfa_token="987650", tags=(("a", "b"),), external_id="ext-1234",
        ),
        WebIdentitySource(role_arn=ARN, region=None, partition="aws", session_name="t", token="tok-secret"),
        SamlSource(
            role_arn=ARN, region=None, partition="aws", principal_arn=ARN, assertion="saml-secret-assertion"
        ),
        SessionTokenSource(
            role_arn=None, region=None, partition="aws", mfa_serial="GAHT12345678", mfa_token="654321"
        ),
    ]  # fmt: skip


@pytest.mark.parametrize("source", _sources(), ids=lambda s: s.operation)
def test_every_wire_name_is_a_parameter_of_the_operation(source: Source, sts_model: typing.Any) -> None:
    shape = sts_model.operation_model(source.operation).input_shape
    secret_wires = {spec.wire for _, spec in source.table() if spec.secret is not None}
    sent = set(source.params(900)) | secret_wires
    assert sent <= set(shape.members), sent - set(shape.members)
    assert set(shape.required_members) <= sent


@pytest.mark.parametrize("source", _sources(), ids=lambda s: s.operation)
def test_secrets_are_declared_and_never_leave_the_source(source: Source) -> None:
    secrets = source.secret_fields()
    assert secrets, "every operation sends one secret"
    values = [getattr(source, name) for name in secrets if getattr(source, name) is not None]
    assert values
    shown = [repr(source), repr(source.describe()), repr(source.params(900)), repr(source.key_material(900))]
    for value in values:
        assert all(value not in text for text in shown)
    assert source.static_secret() is not None  # each holds a static string secret


@pytest.mark.parametrize("source", _sources(), ids=lambda s: s.operation)
def test_key_material_has_the_stable_format(source: Source) -> None:
    material = source.key_material(None)
    assert set(KEY_FORMAT) | {"operation", "duration"} == set(material)
    assert material["duration"] == source.default_duration


def test_only_assume_role_chains() -> None:
    assert [cls.operation for cls in SOURCES if cls.chains] == ["AssumeRole"]


def test_profile_keys_of_assume_role() -> None:
    assert AssumeRoleSource.profile_keys() == {
        "role_session_name": "session_name",
        "duration_seconds": "duration",
        "session_tags": "tags",
        "transitive_session_tags": "transitive_tag_keys",
        "external_id": "external_id",
        "source_identity": "source_identity",
        "mfa_serial": "mfa_serial",
    }


# -- STS facts in one place ---------------------------------------------------------------


@pytest.mark.parametrize("cls", SOURCES, ids=lambda c: c.operation)
def test_sources_read_their_limits_from_the_one_table(cls: type[Source]) -> None:
    assert cls.max_duration == _limits.DURATIONS[cls.operation][1]
    assert cls.default_duration == _limits.DEFAULT_DURATIONS[cls.operation]
    low, high = _limits.DURATIONS[cls.operation]
    assert low <= cls.default_duration <= high


def test_the_file_cache_cap_is_the_longest_duration_of_any_operation() -> None:
    longest = max(high for _, high in _limits.DURATIONS.values())
    assert longest == _limits.LONGEST_LIFETIME == 129_600
    assert longest == _file_cache._MAX_LIFETIME


def test_limits_of_the_next_operations() -> None:
    assert _limits.DURATIONS["GetScopedCredentials"] == (1, 129_600)
    assert _limits.DURATIONS["AssumeRoot"][1] == 900
    assert _limits.DURATIONS["GetWebIdentityToken"] == (60, 3_600)
    assert _limits.DURATIONS["GetFederationToken"] == (900, 129_600)

"""The parameter table: each STS parameter declared once, on its `Source` field.

Everything derived from the declarations must agree with what it stands for:
the wire names with botocore's STS model, the hop keywords with the typed
``HopKeywords``, the CLI's options (built from the table through
`rolesession.hop_parameters`), the secrets with what is hidden, the duration
limits with the one table in `_limits`.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing

import botocore.session
import pytest

import rolesession
from rolesession import _file_cache, _limits, _requests
from rolesession._keywords import HopKeywords
from rolesession._sources import (
    KEY_FORMAT,
    LAST_HOP,
    AssumeRoleSource,
    Flag,
    SamlSource,
    SessionTokenSource,
    Source,
    WebIdentitySource,
    collect_hop_parameters,
    param,
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
    by_flag = {option.flag: option for option in options.OPTIONS}
    for name, spec in cls.table():
        if spec.cli is not None:
            option = by_flag[spec.cli.flag]
            assert name in option.parameters, name
            assert options.option_for(name) == spec.cli.flag, name
            if spec.cli.help:  # said in the table, shown by --help
                assert spec.cli.help in option.help and option.argparse["metavar"] == spec.cli.metavar


def test_the_hop_options_are_built_from_the_table_and_only_profile_and_no_cache_are_not() -> None:
    table = rolesession.hop_parameters()
    expected = [*options.table_options(table), *options.OTHER_OPTIONS]
    assert len(options.OPTIONS) == len(expected) and all(o in options.OPTIONS for o in expected)
    assert [o.flag for o in options.OTHER_OPTIONS] == ["--profile", "--no-cache"]
    # The options with a value form of their own are table options too (the form is all that is added).
    table_flags = {p.flag for p in table}
    assert set(options.FORMS) <= table_flags
    # What fast.py, commands.py and the failure markers read: the dests, unchanged.
    assert {o.dest for o in options.OPTIONS} == {
        "session_name", "region", "sts_endpoint_url", "duration", "policy", "policy_arns", "tags",
        "external_id", "source_identity", "profile", "mfa_serial", "mfa_command",
        "web_identity_token_file", "saml_assertion_command", "principal_arn", "no_cache",
    }  # fmt: skip
    tag = next(o for o in options.OPTIONS if o.flag == "--tag")
    assert tag.parameters == ("tags", "transitive_tag_keys") and tag.group == options.LAST


def test_hop_parameters_is_plain_data_from_the_table() -> None:
    table = {p.name: p for p in rolesession.hop_parameters()}
    assert rolesession.hop_parameters() is rolesession.hop_parameters()
    assert table["external_id"].flag == "--external-id" and table["external_id"].operations == ("AssumeRole",)
    assert table["mfa_serial"].operations == ("AssumeRole", "GetSessionToken")
    assert {n for n, p in table.items() if p.secret} == {"mfa_token", "assertion"}
    assert {n for n, p in table.items() if p.client_setting} == {"region", "sts_endpoint_url"}
    assert {n for n, p in table.items() if p.repeatable} == {"policy_arns", "tags", "transitive_tag_keys"}
    assert {n for n, p in table.items() if not p.identity} == {
        "duration", "policy", "policy_arns", "tags", "transitive_tag_keys", "source_identity"
    }
    for p in table.values():
        for name in (p.name, p.flag, p.help, p.applies_to):
            assert isinstance(name, str)
        assert p.applies_to in ("every", "first", "last")
    assert type(table["region"]).__module__ == "rolesession"


@dataclasses.dataclass(frozen=True, kw_only=True)
class _WithContexts(AssumeRoleSource):
    """AssumeRole with a parameter the table does not have yet (as the next issue adds one)."""

    provided_contexts: tuple[str, ...] = param(
        (), wire="ProvidedContexts", keyed=True, hop=LAST_HOP,
        cli=Flag("--provided-context", "trusted context assertion (repeatable)", "ARN", LAST_HOP),
    )  # fmt: skip
    lifetime_hint: str | None = param(
        None, wire="LifetimeHint", keyed=True, cli=Flag("--lifetime-hint", "a hint", "TEXT", LAST_HOP)
    )


def test_a_parameter_added_to_the_table_gets_its_cli_option() -> None:
    added = options.table_options(collect_hop_parameters((_WithContexts,)))
    by_flag = {o.flag: o for o in added}
    contexts, hint = by_flag["--provided-context"], by_flag["--lifetime-hint"]
    assert contexts.group == hint.group == options.LAST and contexts.role_only and hint.role_only
    assert contexts.dest == "provided_contexts" and hint.dest == "lifetime_hint"
    parser = argparse.ArgumentParser()
    for option in added:
        parser.add_argument(option.flag, help=option.help, **option.argparse)
    args = parser.parse_args([
        "--provided-context", "arn:a", "--provided-context", "arn:b", "--lifetime-hint", "short",
        "--tag", "k=v",
    ])  # fmt: skip
    assert args.provided_contexts == ["arn:a", "arn:b"] and args.lifetime_hint == "short"
    assert "trusted context assertion (repeatable)" in parser.format_help()
    # And its value reaches the library as the keyword of that name.
    real = options.OPTIONS
    try:
        options.OPTIONS = added
        keywords = options.hop_keywords(args, options.LAST)
    finally:
        options.OPTIONS = real
    assert keywords["provided_contexts"] == ["arn:a", "arn:b"] and keywords["lifetime_hint"] == "short"
    assert "tags" not in keywords  # --tag gives two parameters: commands.py reads it


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

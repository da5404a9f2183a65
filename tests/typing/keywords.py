"""Type-checked by ``make typecheck`` (``mypy --strict``), never run.

The keywords that `RoleSession.assume_role`, `chain` and `fan_out` pass on
to `assume_role` are typed: a misspelt or mistyped keyword fails type
checking. Each ``# type: ignore[...]`` below must stay needed -- with
``--strict`` an ignore that no longer silences an error is itself an error,
so this file fails the moment a keyword stops being checked.
"""

from __future__ import annotations

from typing_extensions import assert_type

import rolesession
import rolesession.aio

ROLE = "arn:aws:iam::123456789012:role/Reader"


def misspelt_keywords_fail(session: rolesession.RoleSession) -> None:
    session.assume_role(ROLE, duraton=900)  # type: ignore[call-arg]
    rolesession.chain([ROLE], regoin="eu-west-1")  # type: ignore[call-arg]
    rolesession.fan_out([ROLE], lambda s: s.region_name, polcy={})  # type: ignore[call-arg]


def mistyped_keywords_fail(session: rolesession.RoleSession) -> None:
    session.assume_role(ROLE, duration="1h")  # type: ignore[arg-type]
    rolesession.chain([ROLE], tags=["team"])  # type: ignore[arg-type]


def well_typed_calls_pass(session: rolesession.RoleSession) -> None:
    hop = session.assume_role(ROLE, duration=900, region="eu-west-1", cache=None)
    assert_type(hop, rolesession.RoleSession)
    last = rolesession.chain([ROLE, {"role_arn": ROLE}], external_id="ab", refresh=None)
    assert_type(last, rolesession.RoleSession)
    results = rolesession.fan_out([ROLE], lambda s: s.region_name, session_name="audit")
    assert_type(results, list[rolesession.FanOutResult[str]])


def misspelt_keywords_of_every_entry_point_fail(session: rolesession.RoleSession) -> None:
    # Each sync entry point names its keywords: none of them takes ``**kwargs: Any``.
    rolesession.assume_role(ROLE, duraton=900)  # type: ignore[call-arg]
    rolesession.assume_role_with_web_identity(ROLE, token_fiel="/t")  # type: ignore[call-arg]
    rolesession.assume_role_with_saml(ROLE, ROLE, assertion="x", polcy={})  # type: ignore[call-arg]
    rolesession.mfa_session("GAHT12345678", "123456", duraton=900)  # type: ignore[call-arg]
    rolesession.from_profile("dev", regoin="eu-west-1")  # type: ignore[call-arg]
    session.scoped(polcy={})  # type: ignore[call-arg]


def aio_keywords_are_checked(aio_session: rolesession.aio.AioRoleSession) -> None:
    rolesession.aio.assume_role(ROLE, duraton=900)  # type: ignore[call-arg]
    rolesession.aio.chain([ROLE], regoin="eu-west-1")  # type: ignore[call-arg]
    aio_session.assume_role(ROLE, polcy={})  # type: ignore[call-arg]
    rolesession.aio.assume_role(ROLE, duration="1h")  # type: ignore[arg-type]
    rolesession.aio.chain([ROLE], tags=["team"])  # type: ignore[arg-type]
    rolesession.aio.assume_role_with_web_identity(ROLE, tokn="x")  # type: ignore[call-arg]
    rolesession.aio.assume_role_with_saml(ROLE, ROLE, assertion="x", polcy={})  # type: ignore[call-arg]
    rolesession.aio.scope_down(duraton=900)  # type: ignore[call-arg]
    rolesession.aio.assume_root("123456789012", "IAMAuditRootUserCredentials", regoin="x")  # type: ignore[call-arg]
    aio_session.scope_down(descripton="x")  # type: ignore[call-arg]
    aio_session.token_provider("aud", algoritm="RS256")  # type: ignore[call-arg]
    rolesession.aio.assume_role_with_saml(ROLE, ROLE)  # type: ignore[call-arg]

    async def code() -> str:
        return "123456"

    hop = rolesession.aio.assume_role(ROLE, source=aio_session, mfa_serial=ROLE, mfa_token=code, duration=900)
    assert_type(hop, rolesession.aio.AioRoleSession)
    assert_type(aio_session.assume_role(ROLE, cache=None), rolesession.aio.AioRoleSession)
    assert_type(
        rolesession.aio.chain([ROLE], source=aio_session, external_id="ab"), rolesession.aio.AioRoleSession
    )

"""The code under test: audit accounts, one account's refusal never stopping the others."""

from __future__ import annotations

import rolesession


def audit(role_arns: list[str]) -> dict[str, str]:
    """Each role's account id, or the STS error code that refused it."""
    results = rolesession.fan_out(role_arns, lambda session: session.identity()["Account"])
    return {r.role_arn: r.value if r.ok else getattr(r.error, "code", repr(r.error)) for r in results}

"""``Policy``: a small immutable builder for IAM session policies.

A session policy can only narrow what the role's own policies allow; it is
how a service hands a task credentials for one tenant's data only::

    Policy.allow("s3:GetObject", f"arn:aws:s3:::bucket/{tenant}/*")
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from .validation import compact_json, fail

__all__ = ["Policy"]

VERSION = "2012-10-17"
StrOrList = str | Iterable[str]


def _as_list(value: StrOrList, parameter: str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(i, str) and i for i in items):
        raise fail(parameter, "expected a non-empty string or list of non-empty strings")
    return items


def _one_or_list(items: list[str]) -> str | list[str]:
    return items[0] if len(items) == 1 else items


class _BuildStatement(Protocol):
    def __call__(
        self,
        actions: StrOrList,
        resources: StrOrList = "*",
        *,
        conditions: Mapping[str, Any] | None = None,
    ) -> Policy: ...


class Policy:
    """An IAM policy document made of statements.

    Build with `allow` and `deny` (as class methods to start, or
    on a policy to add a statement), combine with ``+``, parse with
    `from_json`. Instances are immutable and compare by content.
    """

    __slots__ = ("_statements",)

    def __init__(self, statements: Iterable[Mapping[str, Any]] = ()) -> None:
        self._statements: tuple[dict[str, Any], ...] = tuple(dict(s) for s in statements)

    # A descriptor that works on the class (start a policy) and on an
    # instance (add a statement to a copy).
    class _Builder:
        def __init__(self, effect: str) -> None:
            self.effect = effect

        def __get__(self, obj: Policy | None, owner: type[Policy]) -> _BuildStatement:
            effect = self.effect

            def build(
                actions: StrOrList,
                resources: StrOrList = "*",
                *,
                conditions: Mapping[str, Any] | None = None,
            ) -> Policy:
                statement: dict[str, Any] = {
                    "Effect": effect,
                    "Action": _one_or_list(_as_list(actions, "actions")),
                    "Resource": _one_or_list(_as_list(resources, "resources")),
                }
                if conditions is not None:
                    if not isinstance(conditions, Mapping):
                        raise fail("conditions", "expected a dict of condition operators")
                    statement["Condition"] = json.loads(json.dumps(conditions))
                base = obj._statements if obj is not None else ()
                return owner((*base, statement))

            build.__doc__ = (
                f"A statement that {effect.lower()}s ``actions`` on ``resources`` "
                "(a string or a list each), optionally under ``conditions``."
            )
            return build

    allow = _Builder("Allow")
    deny = _Builder("Deny")

    @classmethod
    def from_json(cls, document: str | Mapping[str, Any]) -> Policy:
        """Parse a policy document (JSON text or a dict)."""
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except ValueError as exc:
                raise fail("document", f"is not valid JSON ({exc})") from None
        if not isinstance(document, Mapping):
            raise fail("document", "must be a JSON object")
        statements = document.get("Statement", [])
        if isinstance(statements, Mapping):
            statements = [statements]
        if not isinstance(statements, list) or not all(isinstance(s, Mapping) for s in statements):
            raise fail("document", "Statement must be an object or a list of objects")
        return cls(statements)

    def __add__(self, other: object) -> Policy:
        if not isinstance(other, Policy):
            return NotImplemented
        return Policy((*self._statements, *other._statements))

    def to_dict(self) -> dict[str, Any]:
        """The policy document as a fresh dict."""
        return {"Version": VERSION, "Statement": [dict(s) for s in self._statements]}

    def to_json(self) -> str:
        """The policy document as compact JSON (no whitespace)."""
        return compact_json(self.to_dict())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Policy) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return f"Policy.from_json({self.to_json()!r})"

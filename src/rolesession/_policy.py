"""``Policy``: a small immutable builder for IAM session policies.

A session policy can only narrow what the role's own policies allow; it is
how a service hands a task credentials for one tenant's data only::

    Policy.allow("s3:GetObject", f"arn:aws:s3:::bucket/{tenant}/*")
"""

from __future__ import annotations

import copy
import json
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, cast

from ._validation import compact_json, fail

__all__ = ["Policy"]

VERSION = "2012-10-17"
EFFECTS = ("Allow", "Deny")
StrOrList = str | Iterable[str]


def _as_list(value: object, parameter: str) -> list[str]:
    if isinstance(value, str):
        items: list[object] = [value]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        items = list(value)
    else:
        items = []
    if not items or not all(isinstance(i, str) and i for i in items):
        raise fail(parameter, "expected a non-empty string or list of non-empty strings")
    return cast(list[str], items)


def _one_or_list(items: list[str]) -> str | list[str]:
    return items[0] if len(items) == 1 else items


def _plain_json(value: object, parameter: str) -> Any:
    """A deep copy made of plain JSON types; our copy cannot be changed from outside."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError, RecursionError) as exc:
        raise fail(parameter, f"is not JSON-serialisable ({type(exc).__name__})") from None


def _statement(value: object, parameter: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(parameter, f"each statement must be an object, got {type(value).__name__}")
    statement = _plain_json(value, parameter)
    if statement.get("Effect") not in EFFECTS:
        raise fail(parameter, "each statement needs an Effect of 'Allow' or 'Deny'")
    return cast(dict[str, Any], statement)


class _BuildStatement(Protocol):
    def __call__(
        self,
        actions: StrOrList,
        resources: StrOrList = "*",
        *,
        conditions: Mapping[str, Any] | None = None,
    ) -> Policy: ...


class _StartOrAdd:
    """Makes ``allow``/``deny`` work on the class (start a policy) and on a policy (add to a copy)."""

    def __init__(self, method: Callable[..., Policy]) -> None:
        self._method = method
        self.__doc__ = method.__doc__
        self.__wrapped__ = method

    def __get__(self, obj: Policy | None, owner: type[Policy]) -> _BuildStatement:
        return cast(_BuildStatement, types.MethodType(self._method, obj if obj is not None else owner()))


class Policy:
    """An IAM policy document: a `Version` of `2012-10-17` and a list of statements.

    Build one with `allow` and `deny` -- called on the class to start a
    policy, or on a policy to add a statement -- combine two with ``+``, or
    parse one with `from_json`. Every ``policy=`` parameter of rolesession
    accepts a `Policy`, a ``dict`` or a JSON string.

    Instances are immutable (every method returns a new policy) and compare
    equal when their JSON is equal.

    Example:
        ```python
        tenant = Policy.allow(
            ["s3:GetObject", "s3:PutObject"], "arn:aws:s3:::data/tenant-42/*"
        ).allow(
            "s3:ListBucket",
            "arn:aws:s3:::data",
            conditions={"StringLike": {"s3:prefix": "tenant-42/*"}},
        )
        no_deletes = Policy.deny("s3:DeleteObject")
        policy = tenant + no_deletes
        policy.to_json()  # compact JSON, what STS receives
        ```
    """

    __slots__ = ("_statements",)

    def __init__(self, statements: Iterable[Mapping[str, Any]] = ()) -> None:
        """A policy made of ``statements`` (IAM statement objects, copied).

        Raises:
            InvalidParameterError: a statement is not a JSON object with an
                ``Effect`` of ``Allow`` or ``Deny``.
        """
        if isinstance(statements, (str, bytes, Mapping)) or not isinstance(statements, Iterable):
            raise fail("statements", "expected a list of statement objects")
        self._statements: tuple[dict[str, Any], ...] = tuple(
            _statement(s, "statements") for s in statements
        )

    def _add(
        self,
        effect: str,
        actions: StrOrList,
        resources: StrOrList,
        conditions: Mapping[str, Any] | None,
    ) -> Policy:
        statement: dict[str, Any] = {
            "Effect": effect,
            "Action": _one_or_list(_as_list(actions, "actions")),
            "Resource": _one_or_list(_as_list(resources, "resources")),
        }
        if conditions is not None:
            if not isinstance(conditions, Mapping):
                raise fail("conditions", "expected a dict of condition operators")
            statement["Condition"] = _plain_json(conditions, "conditions")
        new = Policy()
        new._statements = (*self._statements, statement)
        return new

    @_StartOrAdd
    def allow(
        self,
        actions: StrOrList,
        resources: StrOrList = "*",
        *,
        conditions: Mapping[str, Any] | None = None,
    ) -> Policy:
        """A statement allowing ``actions`` on ``resources``, optionally under ``conditions``.

        `Policy.allow(...)` starts a policy; `policy.allow(...)` returns a
        copy of ``policy`` with the statement added.

        Args:
            actions: an action (``"s3:GetObject"``) or a list of them;
                wildcards as IAM allows (``"s3:Get*"``).
            resources: a resource ARN or a list of them; default ``"*"``.
            conditions: an IAM ``Condition`` block, e.g.
                ``{"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}``.

        Raises:
            InvalidParameterError: ``actions`` or ``resources`` is empty or
                not strings, or ``conditions`` is not a JSON object.
        """
        return self._add("Allow", actions, resources, conditions)

    @_StartOrAdd
    def deny(
        self,
        actions: StrOrList,
        resources: StrOrList = "*",
        *,
        conditions: Mapping[str, Any] | None = None,
    ) -> Policy:
        """A statement denying ``actions`` on ``resources``, optionally under ``conditions``.

        Takes the same arguments as `allow`; an explicit deny wins over any
        allow, in this policy and in the role's own policies.
        """
        return self._add("Deny", actions, resources, conditions)

    @classmethod
    def from_json(cls, document: str | Mapping[str, Any]) -> Policy:
        """Parse a policy document given as JSON text or a ``dict``.

        ``Statement`` may be one object or a list. The result's ``Version``
        is always ``2012-10-17``; other top-level elements (``Id``) are not
        kept.

        Raises:
            InvalidParameterError: (``parameter="document"``) the text is not
                JSON, or the document is not an object with a ``Statement``
                of statement objects.
        """
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except (ValueError, RecursionError) as exc:
                raise fail("document", f"is not valid JSON ({type(exc).__name__})") from None
        if not isinstance(document, Mapping):
            raise fail("document", f"must be a JSON object, got {type(document).__name__}")
        if "Statement" not in document:
            raise fail("document", "has no Statement")
        statements = document["Statement"]
        if isinstance(statements, Mapping):
            statements = [statements]
        if not isinstance(statements, list):
            raise fail("document", "Statement must be an object or a list of objects")
        policy = cls()
        policy._statements = tuple(_statement(s, "document") for s in statements)
        return policy

    def __add__(self, other: object) -> Policy:
        """Both policies' statements, ``self``'s first."""
        if not isinstance(other, Policy):
            return NotImplemented
        new = Policy()
        new._statements = (*self._statements, *other._statements)
        return new

    def __len__(self) -> int:
        """The number of statements."""
        return len(self._statements)

    def to_dict(self) -> dict[str, Any]:
        """The policy document as a new ``dict`` (changing it does not change the policy)."""
        return {"Version": VERSION, "Statement": copy.deepcopy(list(self._statements))}

    def to_json(self) -> str:
        """The policy document as compact JSON (no whitespace, sorted keys): what STS receives."""
        return compact_json(self.to_dict())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Policy) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return f"Policy.from_json({self.to_json()!r})"


# Pickles name the public module (``rolesession.X``), never this private one, which a later
# release may move (the stable pickle format, docs/architecture.md).
for _public in (Policy,):
    _public.__module__ = "rolesession"
del _public

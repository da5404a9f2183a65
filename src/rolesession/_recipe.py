"""``Recipe``: everything one `RoleSession` is made from, as one frozen value.

A session keeps its recipe (``session.recipe``): the credential source (the
STS operation and its parameters, ``_sources``), the parent session whose
credentials sign the call (a `RoleSession`, whose own recipe is
``parent_recipe``; an explicit non-role ``boto3.Session``; or ``None``, the
default credential chain), the cache, the refresh policy and the origin (the
profile a `from_profile` session was resolved from). Every way of getting a
session -- the entry points, ``chain``, ``from_profile``, ``scoped()``,
``fan_out``, ``aio`` and unpickling -- builds a recipe and hands it to one
function, ``_session.session_for``; identical recipes from the same parent
object and cache share one session while it can serve (a warm re-assume).

Pure data: no boto3 here, no session is made.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._refresh import RefreshPolicy
    from ._sources import Source

__all__ = ["ProfileOrigin", "Recipe"]


@dataclass(frozen=True)
class ProfileOrigin:
    """The profile a `from_profile` session was resolved from, and the keywords it was given.

    A pickled session with an origin travels as it: the receiver resolves
    the profile itself (its own keys, its own SSO cache ...).
    """

    profile: str
    keywords: Mapping[str, Any] = dataclasses.field(default_factory=dict, hash=False, compare=True)


@dataclass(frozen=True)
class Recipe:
    """Everything one `RoleSession` is made from: what to ask STS, signed by whom, cached where.

    Read it from ``session.recipe``; a recipe is never built by hand. A
    session pickles as its recipe's plain data, which
    `rolesession.session_from_recipe` turns back into a session.

    Attributes:
        source: What is asked of STS: the operation (``source.operation``) and its parameters.
        parent: The session whose credentials sign the call: a `RoleSession`, an explicit
            ``boto3.Session``, or ``None`` (the default credential chain; unsigned operations
            have none).
        cache: Where credentials are cached (``None``: not cached).
        refresh: The refresh policy (``None``: the default one).
        origin: The profile a `from_profile` session was resolved from, else ``None``.

    Example:
        ```python
        session = rolesession.assume_role("arn:aws:iam::123456789012:role/Auditor")
        session.recipe.operation                      # 'AssumeRole'
        session.recipe.parent is None                 # True: the default credential chain
        [hop.source.role_arn for hop in session.assume_role(
            "arn:aws:iam::210987654321:role/Deploy").recipe.hops()]  # both roles, root first
        ```
    """

    source: Source
    parent: Any
    cache: Any
    refresh: RefreshPolicy | None
    origin: ProfileOrigin | None = None

    @property
    def operation(self) -> str:
        """The STS operation (``AssumeRole``, ``AssumeRoleWithWebIdentity``, ...)."""
        return self.source.operation

    @property
    def profile(self) -> str | None:
        """The profile name of a `from_profile` session, else ``None``."""
        return None if self.origin is None else self.origin.profile

    @property
    def parent_recipe(self) -> Recipe | None:
        """The parent session's recipe, or ``None`` at a root (default chain, explicit session)."""
        recipe = getattr(self.parent, "recipe", None)
        return recipe if isinstance(recipe, Recipe) else None

    def replace(self, **changes: Any) -> Recipe:
        """A copy with ``changes`` (``scoped()`` is ``session_for(recipe.replace(source=...))``)."""
        return dataclasses.replace(self, **changes)

    def hops(self) -> tuple[Recipe, ...]:
        """This recipe's chain, root first: the parent recipes then this one."""
        found: list[Recipe] = []
        current: Recipe | None = self
        while current is not None:
            found.append(current)
            current = current.parent_recipe
        return tuple(reversed(found))

    def __repr__(self) -> str:
        # Never the source's fields in full: a static secret would show.
        role = self.source.role_arn
        return f"Recipe(operation={self.operation!r}, role_arn={role!r}, profile={self.profile!r})"


# Pickles name the public module (``rolesession.X``), never this private one, which a later
# release may move (the stable pickle format, docs/architecture.md).
for _public in (Recipe,):
    _public.__module__ = "rolesession"
del _public

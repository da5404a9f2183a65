"""``RoleSession``: a real ``boto3.Session`` whose credentials refresh themselves.

Also where sessions are obtained (`session_for`): the warm-session registry
in ``_state`` maps a recipe -- the same source asked with the same
parameters from the same parent and cache -- to the same session while its
credentials are cached, and concurrent identical requests to one session
(and so one first fetch).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import boto3

from . import _botocore, _state
from ._cache import DEFAULT_CACHE
from ._credentials import RoleCredentials, to_datetime, to_iso
from ._environment import environment_fingerprint
from ._recipe import Recipe
from ._redaction import protect_botocore_loggers
from ._refresh import RefreshPolicy, SessionCredentials
from ._requests import assume_role_recipe, check_assume_role_keywords, scope_down_recipe, scoped_source
from ._sts import REJECTION_CODES
from ._validation import fail

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._fetcher import Fetcher, OneShot
    from ._keywords import HopKeywords

__all__ = ["RoleSession", "session_for"]


class _Resolver:
    """botocore's credential-resolver interface, handing out our credentials."""

    def __init__(self, credentials: SessionCredentials) -> None:
        self._credentials = credentials

    def load_credentials(self) -> SessionCredentials:
        return self._credentials


_CREDENTIAL_RE = re.compile(r"Credential=([A-Z0-9]{16,128})/")


class _RejectionRetry:
    """Retry once, with new credentials, a request AWS refused for the session's credentials.

    botocore retries throttling and transient errors, never ``ExpiredToken``
    and friends: a token revoked or expired early (a clock off, a session
    revoked in IAM) would fail every request until the next refresh. Two
    handlers on the session's events (so every client made from it has them):
    one notes which access key signed a request, the other -- when AWS
    rejects that key -- drops it from the engine (once for all requests that
    saw it) and asks botocore to resend, which signs again with new ones.
    """

    def __init__(self, credentials: SessionCredentials) -> None:
        self._credentials = credentials

    def note_signer(self, request: Any, **kwargs: Any) -> None:
        context = getattr(request, "context", None)
        header = request.headers.get("Authorization") if hasattr(request, "headers") else None
        if isinstance(context, dict) and header:
            if isinstance(header, bytes):
                header = header.decode("ascii", "replace")
            match = _CREDENTIAL_RE.search(header)
            if match is not None:
                context["rolesession_access_key"] = match.group(1)

    def needs_retry(self, response: Any = None, request_dict: Any = None, **kwargs: Any) -> float | None:
        if not response or not isinstance(request_dict, dict):
            return None
        parsed = response[1] if isinstance(response, tuple) and len(response) == 2 else None
        error = parsed.get("Error") if isinstance(parsed, dict) else None
        code = error.get("Code") if isinstance(error, dict) else None
        if code not in REJECTION_CODES:
            return None
        context = request_dict.setdefault("context", {})
        if context.get("rolesession_rejected"):
            return None  # rejected again with new credentials: let the error surface
        context["rolesession_rejected"] = True
        self._credentials.reject(context.get("rolesession_access_key"))
        return 0.0


class RoleSession(boto3.Session):
    """A ``boto3.Session`` for an assumed role, refreshing its own credentials.

    Made by `rolesession.assume_role` and its siblings, never directly.
    Every client and resource made from it signs with credentials that are
    refreshed ahead of expiry. Safe to share between threads, ``client()`` and
    ``resource()`` included. It pickles as its recipe (see `__reduce__`).

    Example:
        ```python
        session = rolesession.assume_role("arn:aws:iam::123456789012:role/Auditor")
        session.client("s3").list_buckets()        # credentials fetched now, refreshed forever
        session.identity()["Account"]              # from STS's answer, no extra call
        target = session.assume_role("arn:aws:iam::210987654321:role/Deploy")  # chain a hop
        tenant = target.scoped(policy=rolesession.Policy.allow("s3:GetObject", "arn:aws:s3:::data/t1/*"))
        print(tenant)  # RoleSession(role_arn=..., session_name=..., duration=3600, policy='1 statement ...')
        ```
    """

    #: The ``rolesession.aio`` session over this one, made on first use. Kept here, not in a
    #: weak mapping keyed by this session: the view refers to it and would keep it alive.
    _aio_view: Any = None

    def __init__(
        self,
        recipe: Recipe,
        fetcher: Fetcher,
        *,
        credentials: SessionCredentials | None = None,
        region: str | None = None,
    ) -> None:
        self._recipe = recipe
        self._fetcher = fetcher
        # Given: a view of another session in another region (`in_region`), sharing its engine.
        self._credentials = credentials or SessionCredentials(fetcher, recipe.refresh)
        self._make_lock = threading.RLock()  # resource() calls client()
        # A profile's session is that profile's (its endpoints, ca_bundle, retries ...), as
        # boto3.Session(profile_name=...) would be; only the credentials are ours.
        botocore_session = _botocore.new_session(fetcher.source.profile)
        botocore_session.register_component("credential_provider", _Resolver(self._credentials))
        retry = _RejectionRetry(self._credentials)
        events = botocore_session.get_component("event_emitter")
        events.register_last("request-created", retry.note_signer, unique_id="rolesession-signer")
        events.register("needs-retry", retry.needs_retry, unique_id="rolesession-rejected")
        super().__init__(botocore_session=botocore_session, region_name=region or fetcher.source.region)

    def in_region(self, region: str) -> RoleSession:
        """This session's credentials with another default region (``region_name``).

        The view shares this session's credentials engine: one AssumeRole, one
        refresh, whatever the number of regions (`fan_out` with ``regions=``).
        It pickles as this session's recipe in ``region``.

        Example:
            ```python
            session = rolesession.assume_role("arn:aws:iam::123456789012:role/Auditor", region="us-east-1")
            west = session.in_region("us-west-2")
            assert west.region_name == "us-west-2" and west.get_credentials() is session.get_credentials()
            ```

        Raises:
            InvalidParameterError: ``region`` is not a valid region name.
        """
        from ._validation import check_region

        if check_region(region, "region") is None:
            raise fail("region", "must be a region name, not None")
        if region == self.region_name:
            return self
        recipe = self._recipe.replace(source=self._recipe.source.replace(region=region))
        return RoleSession(recipe, self._fetcher, credentials=self._credentials, region=region)

    # -- identity --------------------------------------------------------------

    @property
    def recipe(self) -> Recipe:
        """What this session is made from: source, parent, cache, refresh policy, origin (a `Recipe`)."""
        return self._recipe

    @property
    def role_arn(self) -> str:
        """The ARN of the role this session assumes."""
        return self._fetcher.source.role_arn  # type: ignore[return-value]

    @property
    def cache(self) -> Any:
        """The cache holding this session's credentials (``None``: caching is off).

        A hop from this session (`assume_role`, `rolesession.chain` with this
        session as ``source``, `rolesession.fan_out` with it as ``source``)
        uses this cache too unless it is given one.
        """
        return self._recipe.cache

    @property
    def parent(self) -> boto3.Session | None:
        """The source session credentials are assumed from (``None``: default chain)."""
        parent = self._recipe.parent
        return parent if isinstance(parent, boto3.Session) else None

    def identity(self) -> dict[str, str]:
        """``Arn``, ``Account`` and ``UserId`` of the assumed role, from STS's answer."""
        creds = self._credentials.current()
        arn = creds.arn or self._fetcher.source.principal or ""  # AssumeRoot names no principal
        parts = arn.split(":")
        return {"Arn": arn, "Account": parts[4] if len(parts) > 5 else "", "UserId": creds.user_id}

    def describe(self) -> dict[str, Any]:
        """What this session asks STS for -- operation, role, session name, duration,
        policies, tags, region, endpoint ... -- never a secret.

        ``duration`` is what is sent (a chained hop's is capped to one hour),
        ``region`` the configured one (``None`` if none: STS is then called in
        ``sts_region``, the partition's default).
        """
        source = self._fetcher.source
        described = source.describe()
        if source.from_sts:  # a wrapped botocore provider asks STS for nothing
            described["duration"] = self.duration
            described["sts_region"] = source.sts_region
        return described

    @property
    def operation(self) -> str:
        """The STS operation that gets this session's credentials (``AssumeRole``, ...)."""
        return self._fetcher.source.operation

    @property
    def session_name(self) -> str | None:
        """The ``RoleSessionName`` (``None`` for SAML and MFA sessions, which have none)."""
        return getattr(self._fetcher.source, "session_name", None)

    @property
    def duration(self) -> int:
        """Seconds asked of STS: the chained-hop cap applied, STS's default (3600) if none was given."""
        duration = self._fetcher.effective_duration()
        return self._fetcher.source.default_duration if duration is None else duration

    @property
    def policy(self) -> dict[str, Any] | None:
        """The session policy (a dict), or ``None``."""
        text = self._fetcher.source.policy
        return None if text is None else json.loads(text)

    @property
    def policy_arns(self) -> tuple[str, ...]:
        """The managed policies used as session policies."""
        return self._fetcher.source.policy_arns

    @property
    def chain(self) -> tuple[str, ...]:
        """What this session is assumed through, from the first hop to this one
        (role ARNs; an MFA session shows as ``GetSessionToken``)."""
        hops: list[str] = []
        current: Any = self
        while isinstance(current, RoleSession):
            hops.append(current.role_arn or current.operation)
            current = current._recipe.parent
        return tuple(reversed(hops))

    @property
    def expiration(self) -> _dt.datetime:
        """When the credentials held expire (tz-aware UTC), fetching them first if none are held.

        On an unused session this is the first STS call (or cache read); later
        reads cost nothing.
        """
        return to_datetime(self._credentials.current().expiry)

    # -- credentials -----------------------------------------------------------

    def get_credentials(self) -> SessionCredentials:
        """The botocore-compatible credentials every client signs with."""
        return self._credentials

    def credentials(self, min_left: float = 900.0, *, wait: bool = True) -> RoleCredentials:
        """The credentials to hand to a consumer that refreshes on fixed windows (the CLI's rule).

        botocore's ``credential_process``, container and environment
        providers come back at every request once fewer than 15 minutes are
        left. So when fewer than ``min_left`` seconds are left and the role's
        duration allows a longer-lasting set, one refresh attempt is made
        first, under the engine's rules: never while backing off from a
        failure, never two at once. ``wait=True`` waits for it (a one-shot
        command); ``wait=False`` starts it in the background and returns
        what is held (a server). While backing off, or when the attempt
        fails, valid held credentials are handed out as they are. Raises
        `CredentialRefreshError` only when nothing valid can be had.

        Example:
            ```python
            creds = rolesession.assume_role(arn).credentials(min_left=15 * 60)
            print(creds.access_key, creds.expiry)
            ```
        """
        return self._credentials.hand_out(min_left, wait=wait)

    def refresh(self) -> None:
        """Call STS now, whatever the refresh windows and backoff; raise if it fails."""
        self._credentials.refresh()

    def invalidate(self) -> None:
        """Drop the held credentials and their cache entry; the next read fetches anew."""
        self._credentials.invalidate()

    def environ(self) -> dict[str, str]:
        """Environment variables handing these credentials to a child process."""
        return self._credentials.current().environ(self.region_name)

    def credential_process(self) -> dict[str, Any]:
        """The ``credential_process`` Version 1 document for ``~/.aws/config``."""
        creds = self._credentials.current()
        return {
            "Version": 1,
            "AccessKeyId": creds.access_key,
            "SecretAccessKey": creds.secret_key,
            "SessionToken": creds.token,
            "Expiration": to_iso(creds.expiry),
        }

    # -- more sessions ---------------------------------------------------------

    def assume_role(self, role_arn: str, **kwargs: Unpack[HopKeywords]) -> RoleSession:
        """Chain one hop: assume ``role_arn`` from this session's credentials.

        Takes the keywords of `rolesession.assume_role` (except ``source``:
        the source is this session).
        """
        if "source" in kwargs:
            raise fail(
                "source",
                "RoleSession.assume_role() chains from this session; use "
                "rolesession.assume_role(role_arn, source=...) for another source",
            )
        checked = check_assume_role_keywords(source=self, **kwargs)
        return session_for(assume_role_recipe(role_arn, checked))

    def scope_down(
        self,
        policy: Any = None,
        *,
        duration: Any = None,
        description: str | None = None,
        region: str | None = None,
        sts_endpoint_url: str | None = None,
        sts_config: Any = None,
        cache: Any = DEFAULT_CACHE,
        refresh: RefreshPolicy | None = None,
    ) -> RoleSession:
        """Scoped-down credentials from this session's: `rolesession.scope_down` with
        ``source=self`` (the same keywords but ``source``)."""
        recipe = scope_down_recipe(
            policy, source=self, duration=duration, description=description, region=region,
            sts_endpoint_url=sts_endpoint_url, sts_config=sts_config, cache=cache, refresh=refresh,
        )  # fmt: skip
        return session_for(recipe)

    def scoped(
        self, *, policy: Any = None, policy_arns: Iterable[str] | None = None
    ) -> RoleSession:
        """The same role, re-assumed from the same source with exactly these session policies.

        The given policies replace this session's (a session policy can only
        narrow what the role allows). A static SAML assertion or MFA code that
        was already used cannot serve the new session: it raises
        `rolesession.TokenError` when it first needs credentials.
        """
        fetcher = self._fetcher
        source = scoped_source(self._recipe.source, policy, policy_arns)
        # A new session, not the profile's: it travels as its own hops.
        recipe = self._recipe.replace(source=source, origin=None)
        return session_for(recipe, chained=fetcher.chained, one_shot=fetcher.one_shot)

    # -- outbound tokens and console sign-in ---------------------------------------

    def web_identity_token(
        self,
        audience: str | Iterable[str],
        *,
        algorithm: str = "RS256",
        duration: int = 300,
        scope: str | None = None,
        subject_mode: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> str:
        """A JWT from GetWebIdentityToken naming this session, for an external service.

        Cached per identity and parameters (in this session's cache: a
        `FileCache` shares it between processes) and renewed in the background
        before it expires: one STS call per token lifetime for any number of
        threads. ``audience``: one string or a list of 1-10; ``algorithm``
        ``RS256`` or ``ES384``; ``duration`` 60-3,600 seconds; ``subject_mode``
        ``AWSIdentity`` or ``OriginIdentity``. The token is a secret.
        """
        from ._outbound_tokens import token_request, web_identity_token

        request = token_request(
            audience, algorithm=algorithm, duration=duration, scope=scope, subject_mode=subject_mode,
            tags=tags,
        )  # fmt: skip
        return web_identity_token(self, request)

    def token_provider(
        self,
        audience: str | Iterable[str],
        *,
        algorithm: str = "RS256",
        duration: int = 300,
        scope: str | None = None,
        subject_mode: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> Callable[[], str]:
        """A zero-argument callable returning `web_identity_token` (parameters checked now).

        For ``azure.identity.ClientAssertionCredential(func=...)``, google-auth's
        subject-token supplier, and rolesession's own ``token=`` parameters.
        """
        from ._outbound_tokens import TokenProvider, token_request

        request = token_request(
            audience, algorithm=algorithm, duration=duration, scope=scope, subject_mode=subject_mode,
            tags=tags,
        )  # fmt: skip
        return TokenProvider(self, request)

    def console_url(
        self, *, destination: str | None = None, issuer: str | None = None, duration: int | None = None
    ) -> str:
        """A console sign-in URL for this session (see `rolesession.console_url`); a secret for 15 minutes."""
        from ._console import console_url

        return console_url(self, destination=destination, issuer=issuer, duration=duration)

    # -- thread-safe factories -------------------------------------------------

    def client(self, *args: Any, **kwargs: Any) -> Any:
        """``boto3.Session.client``, safe to call from many threads at once."""
        with self._make_lock:
            client = super().client(*args, **kwargs)
        protect_botocore_loggers()  # making a client imports the modules that log requests
        return client

    def resource(self, *args: Any, **kwargs: Any) -> Any:
        """``boto3.Session.resource``, safe to call from many threads at once."""
        with self._make_lock:
            resource = super().resource(*args, **kwargs)
        protect_botocore_loggers()
        return resource

    def __repr__(self) -> str:
        parts = [f"role_arn={self.role_arn!r}"]
        if self.role_arn is None:
            parts.append(f"operation={self.operation!r}")
        if self.session_name is not None:
            parts.append(f"session_name={self.session_name!r}")
        if self._fetcher.source.from_sts:
            parts.append(f"duration={self.duration}")
        summary = _policy_summary(self.policy, self.policy_arns)
        if summary:
            parts.append(f"policy={summary!r}")
        if len(self.chain) > 1:
            parts.append(f"chain={' -> '.join(self.chain)!r}")
        parts.append(f"region_name={self.region_name!r}")
        return f"RoleSession({', '.join(parts)})"

    __str__ = __repr__

    # -- travelling ----------------------------------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as the recipe: roles and parameters, never credentials or secrets.

        The receiving process rebuilds a lazy session from its own default
        credential chain and its own default cache (identical recipes there
        share one session). Raises `InvalidParameterError` for a session that
        cannot travel: its root source is an explicit non-role
        ``boto3.Session``, or it holds a static MFA code, SAML assertion or
        token, or a callable that cannot be pickled.
        """
        # By the public name, looked up (not imported: it lives in the layer above this one),
        # so a pickle names rolesession.session_from_recipe and plain data, never a private module.
        from ._travel import recipe_data  # only for sessions that travel: not on import's bill

        rebuild = sys.modules["rolesession"].session_from_recipe
        return (rebuild, (recipe_data(self._recipe),))


def _policy_summary(policy: dict[str, Any] | None, arns: tuple[str, ...]) -> str:
    """``"2 statements (s3:GetObject, s3:ListBucket), 1 managed policy"``: what narrows a session."""
    parts = []
    if policy is not None:
        statements = policy.get("Statement")
        statements = statements if isinstance(statements, list) else [statements]
        actions: list[str] = []
        for statement in statements:
            action = statement.get("Action", []) if isinstance(statement, dict) else []
            actions += [action] if isinstance(action, str) else [str(a) for a in action]
        shown = ", ".join(actions[:3]) + (", ..." if len(actions) > 3 else "")
        count = len(statements)
        parts.append(f"{count} statement{'s' if count != 1 else ''}" + (f" ({shown})" if shown else ""))
    if arns:
        parts.append(f"{len(arns)} managed polic{'ies' if len(arns) != 1 else 'y'}")
    return ", ".join(parts)


# -- obtaining sessions ---------------------------------------------------------------------------


def session_for(
    recipe: Recipe, *, chained: bool | None = None, one_shot: OneShot | None = None
) -> RoleSession:
    """The session for ``recipe``: the registered one while it can serve, else a new one.

    Get-or-create is atomic, so concurrent identical requests share one
    object -- and with it one first fetch (single-flight in its engine).
    ``cache=None`` sessions are never registered.
    """
    if chained is None:
        # Role credentials signing AssumeRole make a chained session; an MFA
        # session's (GetSessionToken) are a user's and do not; only operations STS caps
        # when chained (`Source.chains`) are ever chained hops.
        chained = (
            recipe.source.chains
            and isinstance(recipe.parent, RoleSession)
            and recipe.parent.role_arn is not None
        )

    from ._fetcher import Fetcher  # with the sources it needs: on first use, not at import

    def new() -> RoleSession:
        fetcher = Fetcher(
            recipe.source, parent=recipe.parent, cache=recipe.cache, chained=chained, one_shot=one_shot
        )
        return RoleSession(recipe, fetcher)

    if recipe.cache is None:
        return new()
    key = (id(recipe.cache), _parent_key(recipe.parent), recipe.source, recipe.refresh)
    with _state.state.lock:
        registry = _state.warm_sessions()
        session = registry.get(key)
        # A from_profile() session travels as its profile: not shared with a plain hop's.
        if session is None or session._recipe.profile != recipe.profile or not _can_serve(session):
            session = registry[key] = new()
    return session


def _parent_key(parent: Any) -> Any:
    # A session keeps its parent alive, so the parent's id cannot be reused
    # while the entry stands. The default chain is keyed by the environment
    # that decides who it is.
    return id(parent) if parent is not None else ("default", environment_fingerprint())


def _can_serve(session: RoleSession) -> bool:
    # Untouched (or fetching for the first time): share it. Holding valid
    # credentials its cache still has: a warm re-assume. Anything else
    # (expired, failed, evicted from the cache): a new session.
    engine = session._credentials
    if engine.untouched():
        return True
    return engine.holds_valid() and session._fetcher.is_cached()


# Pickles name the public module (``rolesession.X``), never this private one, which a later
# release may move (the stable pickle format, docs/architecture.md).
for _public in (RoleSession,):
    _public.__module__ = "rolesession"
del _public

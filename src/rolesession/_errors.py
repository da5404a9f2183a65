"""The exceptions rolesession raises.

Every class here is importable from `rolesession`, derives from
`RoleSessionError`, and survives ``pickle`` (so errors can cross a
process pool in `rolesession.fan_out`). Messages never contain secrets.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AssumeRoleError",
    "CredentialRefreshError",
    "InvalidParameterError",
    "RoleSessionError",
    "SourceCredentialsError",
    "StsError",
    "TokenError",
]


class RoleSessionError(Exception):
    """Base class of every exception raised by rolesession.

    Every subclass survives ``pickle`` (errors cross process pools in
    `rolesession.fan_out`) and its message never holds a secret.

    Example:
        ```python
        try:
            rolesession.assume_role(arn).identity()
        except rolesession.RoleSessionError as exc:
            log.error("cannot act in %s: %s", arn, exc)
        ```
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as ``cls(*args)``; keyword-only state would be
        # lost, so every subclass keeps its constructor arguments in
        # ``_init_kwargs`` and is rebuilt from them.
        # By the public class (``getattr(rolesession.X, "_unpickle")``), never a function of
        # this private module: a pickle must not depend on where the library keeps its code.
        return (type(self)._unpickle, (self.args, getattr(self, "_init_kwargs", {})))

    @classmethod
    def _unpickle(cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return cls(*args, **kwargs)


def _rebuild(cls: type[RoleSessionError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    # What errors pickled by earlier releases refer to: keep it.
    return cls(*args, **kwargs)


class InvalidParameterError(RoleSessionError, ValueError):
    """A parameter was rejected before any call to STS.

    Also a ``ValueError``.

    Attributes:
        parameter: the keyword argument (for `rolesession.chain` hops,
            ``steps[i].<name>``; for a value read from the environment, the
            variable, e.g. ``AWS_REGION``; for a profile, ``[profile X] key``).
        reason: what is wrong with it. The message is
            ``"<parameter>: <reason>"`` and never echoes a secret.

    Example:
        ```python
        try:
            rolesession.assume_role(arn, duration=60)
        except rolesession.InvalidParameterError as exc:
            assert exc.parameter == "duration"  # exc.reason: "must be 900-43200 seconds, got 60"
        ```
    """

    def __init__(self, message: str, *, parameter: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter
        self.reason = message if reason is None else reason
        self._init_kwargs = {"parameter": parameter, "reason": self.reason}

    @classmethod
    def of(cls, parameter: str, reason: str) -> InvalidParameterError:
        """The error for ``parameter``: ``"<parameter>: <reason>"``."""
        return cls(f"{parameter}: {reason}", parameter=parameter, reason=reason)

    def within(self, prefix: str) -> InvalidParameterError:
        """The same error for the parameter as part of ``prefix`` (``steps[1]`` -> ``steps[1].duration``)."""
        error = InvalidParameterError.of(f"{prefix}.{self.parameter}", self.reason)
        error.__cause__ = self.__cause__
        return error


class CredentialRefreshError(RoleSessionError):
    """No valid credentials are held and new ones could not be obtained.

    Raised by a read (a client's request, `RoleSession.identity`, ...) --
    never while still-valid credentials are held: those keep serving through
    an outage. Its subclasses say why.

    Attributes:
        role_arn: the role (``None`` for an MFA session).

    Example:
        ```python
        try:
            session.client("s3").list_buckets()
        except rolesession.CredentialRefreshError as exc:
            alert(f"no credentials for {exc.role_arn}: {exc}")
        ```
    """

    def __init__(self, message: str, *, role_arn: str | None = None) -> None:
        super().__init__(message)
        self.role_arn = role_arn
        self._init_kwargs: dict[str, Any] = {"role_arn": role_arn}


class AssumeRoleError(CredentialRefreshError):
    """STS refused the request or could not be reached -- for every operation
    (``AssumeRole``, ``AssumeRoleWithWebIdentity``, ``AssumeRoleWithSAML``,
    ``GetSessionToken``).

    `StsError` is the same class under the name that says so (``except
    rolesession.StsError`` and ``except rolesession.AssumeRoleError`` catch
    the same errors). Its ``__name__`` stays ``AssumeRoleError``: the name
    logs, ``fan_out`` JSON lines and older pickles already carry.

    Attributes:
        role_arn: the role asked for.
        code: the STS error code (``AccessDenied``, ``RegionDisabledException``
            ...), or the botocore exception's class name for connection errors
            and timeouts (``EndpointConnectionError``, ``ReadTimeoutError``).

    ``code`` is the STS error code (``AccessDenied``,
    ``RegionDisabledException`` ...) or, for connection errors and timeouts,
    the botocore exception's class name. The botocore exception is chained as
    ``__cause__``; the message adds a hint for common refusals.

    Example:
        ```python
        try:
            session.identity()
        except rolesession.StsError as exc:        # or its old name, rolesession.AssumeRoleError
            if exc.code == "AccessDenied":
                ...  # the trust policy, an ExternalId or MFA condition, or an SCP
        ```
    """

    def __init__(
        self, message: str, *, role_arn: str | None = None, code: str = "Unknown"
    ) -> None:
        super().__init__(message, role_arn=role_arn)
        self.code = code
        self._init_kwargs = {"role_arn": role_arn, "code": code}


StsError = AssumeRoleError
"""`AssumeRoleError` under the name that says what it is: any STS refusal, for all four operations."""


class TokenError(CredentialRefreshError):
    """A token, SAML assertion or MFA code could not be had.

    Raised when a provider callable fails or returns something unusable, when
    a token file cannot be read, and when a static (one-shot) MFA code or SAML
    assertion would have to be sent a second time.

    Example:
        ```python
        session = rolesession.assume_role(arn, mfa_serial=serial, mfa_token="123456")
        # once those credentials expire, a read raises TokenError: the static
        # MFA code was already used; pass a callable that returns fresh codes
        ```
    """


class SourceCredentialsError(CredentialRefreshError):
    """The source session has no credentials to call STS with.

    The default credential chain (or the ``source`` given) found none, or
    could not load them (a missing profile, a failing ``credential_process``).

    Example:
        ```python
        try:
            rolesession.assume_role(arn).identity()
        except rolesession.SourceCredentialsError:
            print("configure AWS credentials first (aws configure, AWS_PROFILE, ...)")
        ```
    """


# Pickles name the public module (``rolesession.X``), never this private one, which a later
# release may move (the stable pickle format, docs/architecture.md).
for _public in (
    RoleSessionError, InvalidParameterError, CredentialRefreshError, StsError,
    TokenError, SourceCredentialsError,
):  # fmt: skip
    _public.__module__ = "rolesession"
del _public

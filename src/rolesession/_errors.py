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
    "TokenError",
]


class RoleSessionError(Exception):
    """Base class of every exception raised by rolesession."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle as ``cls(*args)``; keyword-only state would be
        # lost, so every subclass keeps its constructor arguments in
        # ``_init_kwargs`` and is rebuilt from them.
        return (_rebuild, (type(self), self.args, getattr(self, "_init_kwargs", {})))


def _rebuild(cls: type[RoleSessionError], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return cls(*args, **kwargs)


class InvalidParameterError(RoleSessionError, ValueError):
    """A parameter was rejected before any call to STS.

    ``parameter`` names the keyword argument (for `rolesession.chain`
    hops, ``steps[i].<name>``; for a value read from the environment, the
    variable, e.g. ``AWS_REGION``); ``reason`` says what is wrong with it.
    The message is ``"<parameter>: <reason>"`` and never echoes a secret.
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
    """No valid credentials are held and new ones could not be obtained."""

    def __init__(self, message: str, *, role_arn: str | None = None) -> None:
        super().__init__(message)
        self.role_arn = role_arn
        self._init_kwargs: dict[str, Any] = {"role_arn": role_arn}


class AssumeRoleError(CredentialRefreshError):
    """STS refused the request or could not be reached.

    ``code`` is the STS error code (``AccessDenied``,
    ``RegionDisabledException`` ...) or, for connection errors and timeouts,
    the botocore exception's class name. The botocore exception is chained as
    ``__cause__``.
    """

    def __init__(
        self, message: str, *, role_arn: str | None = None, code: str = "Unknown"
    ) -> None:
        super().__init__(message, role_arn=role_arn)
        self.code = code
        self._init_kwargs = {"role_arn": role_arn, "code": code}


class TokenError(CredentialRefreshError):
    """A token, SAML assertion or MFA code could not be had.

    Raised when a provider callable fails or returns something unusable, when
    a token file cannot be read, and when a static (one-shot) MFA code or SAML
    assertion would have to be sent a second time.
    """


class SourceCredentialsError(CredentialRefreshError):
    """The source session has no credentials to call STS with."""

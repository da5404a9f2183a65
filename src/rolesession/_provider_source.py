"""``ProviderSource``: credentials from one of botocore's own providers, served by the engine.

The default chain's sources that are not STS calls -- the container
endpoint (ECS, EKS Pod Identity), instance metadata (IMDSv2), SSO,
``credential_process``, ``login`` sessions, and long-term keys -- are
fetched by botocore's provider for them, unchanged: rolesession does not
re-implement their protocols. What changes is who decides *when*: the
provider is asked for one set of credentials (``fetch_credentials``, which
``_fetcher`` calls instead of STS), and rolesession's engine holds them
with lifetime-relative windows, refreshes in the background, keeps serving
them through an outage, single-flights the fetch and caches the result.

The cache key names the caller without a secret in clear: the command line
and user of a ``credential_process``, the container endpoint's URI and a
digest of its authorization token, the metadata endpoint and host, the SSO
start URL, account and role.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError

from . import _botocore
from ._credentials import RoleCredentials, to_epoch
from ._errors import RoleSessionError, SourceCredentialsError
from ._keys import CallerIdentity, digest
from ._redaction import protect_botocore_loggers, redact
from ._sources import Source
from ._validation import fail

__all__ = ["NO_EXPIRY", "ProviderSource"]

#: How long credentials that do not expire (long-term keys, a
#: ``credential_process`` printing no ``Expiration``) are held before the
#: provider is asked again: never in practice, as botocore would never ask.
NO_EXPIRY = 365 * 86400.0

#: botocore's names for its providers, as messages show them.
_NAMES = {
    "env": "environment variables",
    "sso": "SSO",
    "login": "login session",
    "custom-process": "credential_process",
    "container-role": "container endpoint",
    "iam-role": "instance metadata",
    "shared-credentials-file": "shared credentials file",
    "config-file": "config file",
    "ec2-credentials-file": "EC2 credentials file",
    "boto-config": "boto2 config file",
}


@dataclass(frozen=True, kw_only=True)
class ProviderSource(Source):
    """One of botocore's credential providers, asked for one set at a time.

    ``provider_method`` is botocore's ``METHOD`` for it (``container-role``,
    ``iam-role``, ``sso``, ``custom-process``, ``login``, ``env``, ...);
    ``found`` says where (``profile 'dev'``, the endpoint); ``identity`` is
    the caller's identity for the cache key (no secret in clear) and
    ``identify``, when given, recomputes it at each fetch (a container
    authorization token rotates).
    """

    operation: ClassVar[str] = "CredentialProvider"
    method: ClassVar[str] = ""
    signed: ClassVar[bool] = False
    from_sts: ClassVar[bool] = False

    provider_method: str
    found: str
    identity: str = field(repr=False)  # a command line may carry anything: never shown
    provider: Any = field(compare=False, repr=False)
    identify: Callable[[], str] | None = field(default=None, compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"the {_NAMES.get(self.provider_method, self.provider_method)} credentials ({self.found})"

    def describe(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "provider": self.provider_method,
            "found": self.found,
            "role_arn": None,
            "region": self.region,
            "partition": self.partition,
        }

    def key_material(self, duration: int | None) -> dict[str, Any]:
        return {"operation": self.operation, "provider": self.provider_method, "found": self.found}

    def caller(self, signer_key: str | None) -> CallerIdentity:
        identity = self.identify() if self.identify is not None else self.identity
        return digest(identity)

    def hint(self, code: str) -> str | None:
        return None

    def fetch_credentials(self) -> RoleCredentials:
        """One set of credentials from the provider (the fetcher calls this instead of STS)."""
        received = time.time()
        # The providers log their responses at DEBUG (SSO's "Response body" holds the keys).
        protect_botocore_loggers()
        try:
            loaded = self.provider.load()
            metadata = _botocore.provider_credentials(loaded) if loaded is not None else None
        except RoleSessionError:
            raise
        except Exception as exc:
            raise SourceCredentialsError(
                f"{self.label} could not be loaded by botocore's {self.provider_method!r} provider "
                f"({_describe(exc)})",
                role_arn=None,
            ) from exc
        finally:
            protect_botocore_loggers()  # loggers of modules the provider imported on first use
        if not metadata or not metadata.get("access_key") or not metadata.get("secret_key"):
            raise SourceCredentialsError(
                f"{self.label}: botocore's {self.provider_method!r} provider returned no credentials",
                role_arn=None,
            )
        expiry = metadata.get("expiry_time")
        try:
            expiration = to_epoch(expiry) if expiry else received + NO_EXPIRY
        except (TypeError, ValueError) as exc:
            raise SourceCredentialsError(
                f"{self.label}: the provider's expiry time is not a date", role_arn=None
            ) from exc
        return RoleCredentials(
            access_key=str(metadata["access_key"]),
            secret_key=str(metadata["secret_key"]),
            token=str(metadata.get("token") or ""),
            expiration=expiration,
            received=received,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        raise fail(
            "session",
            f"cannot be pickled: {self.label} come from this machine's environment; in the "
            "receiving process call rolesession.from_environment() there",
        )


def _describe(exc: BaseException) -> str:
    """Name a provider failure; botocore's messages name no secret (redacted all the same)."""
    if isinstance(exc, BotoCoreError):
        return f"{type(exc).__name__}: {redact(str(exc))}"
    return type(exc).__name__

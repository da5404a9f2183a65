"""Console sign-in URLs through the partition's federation endpoint.

The endpoint trades temporary credentials (``getSigninToken``) for a sign-in
token valid 15 minutes; the ``Action=login`` URL carrying it signs anyone who
opens it in as the session. Both are credentials: neither is logged, put in
an exception or chained into one (the request URL holds the secret key).
Long-term IAM-user keys cannot be traded directly: they go through
GetFederationToken first.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from typing import TYPE_CHECKING, Any

from ._validation import fail

if TYPE_CHECKING:
    import boto3

__all__ = ["FEDERATION_ENDPOINTS", "console_url"]

logger = logging.getLogger("rolesession")

#: The federation endpoint of each partition.
FEDERATION_ENDPOINTS = {
    "aws": "https://signin.aws.amazon.com/federation",
    "aws-us-gov": "https://signin.amazonaws-us-gov.com/federation",
    "aws-cn": "https://signin.amazonaws.cn/federation",
}
_CONSOLES = {
    "aws": "https://console.aws.amazon.com/",
    "aws-us-gov": "https://console.amazonaws-us-gov.com/",
    "aws-cn": "https://console.amazonaws.cn/",
}
#: Overrides the federation endpoint (tests, proxies); the ``federation_url`` keyword wins over it.
ENDPOINT_VARIABLE = "ROLESESSION_FEDERATION_URL"
MIN_DURATION, MAX_DURATION = 900, 43200
#: The policy GetFederationToken is given: without one the federated user could do nothing;
#: with it the user's own policies decide (a federation token never has more than its user).
_PASS_THROUGH = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)
_FEDERATED_NAME = "rolesession-console"
_TIMEOUT = 10.0


def console_url(
    session: boto3.Session | None = None,
    *,
    destination: str | None = None,
    issuer: str | None = None,
    duration: int | None = None,
    federation_url: str | None = None,
) -> str:
    """A console sign-in URL for ``session`` (default: the default credential chain).

    Role credentials (a `RoleSession`, or any session with a session token)
    are traded directly; long-term IAM-user keys through GetFederationToken
    first (``duration`` is then the federated session's). The URL signs its
    holder in for up to 15 minutes after it is made: treat it as a secret.
    `RoleSession.console_url` is the same for a role session.

    Args:
        session: whose credentials sign in (``None``: ``boto3.Session()``).
        destination: the console page to open (an ``https://`` URL; default
            the partition's console home).
        issuer: the URL the console sends people to when the session ends.
        duration: console session seconds, 900-43,200 (role credentials:
            ``SessionDuration``; IAM-user keys: GetFederationToken's duration).
        federation_url: the federation endpoint; default the
            ``ROLESESSION_FEDERATION_URL`` variable, else the partition's
            (``aws``, ``aws-us-gov``, ``aws-cn``).

    Raises:
        InvalidParameterError: a bad parameter, before any request.
        SourceCredentialsError: no credentials were found.
        AssumeRoleError: GetFederationToken was refused, or the federation
            endpoint gave no sign-in token (``code="FederationError"``).

    Example:
        ```python
        url = rolesession.console_url(destination="https://console.aws.amazon.com/s3/")
        webbrowser.open(url)   # never print or log it where others can read it
        ```
    """
    _check(destination, issuer, duration, federation_url)
    if session is None:
        import boto3

        session = boto3.Session()
    frozen, partition, temporary = _temporary(session, duration)
    endpoint = federation_url or os.environ.get(ENDPOINT_VARIABLE) or FEDERATION_ENDPOINTS[partition]
    document = json.dumps(
        {"sessionId": frozen.access_key, "sessionKey": frozen.secret_key, "sessionToken": frozen.token}
    )
    query: dict[str, Any] = {"Action": "getSigninToken", "Session": document}
    if duration is not None and temporary:
        # Only for role credentials: the endpoint refuses SessionDuration with a federation token's.
        query["SessionDuration"] = duration
    signin_token = _signin_token(endpoint, query)
    login = {
        "Action": "login",
        "Destination": destination or _CONSOLES[partition],
        "SigninToken": signin_token,
    }
    if issuer is not None:
        login["Issuer"] = issuer
    logger.info("console sign-in URL made for the %s partition (valid 15 minutes)", partition)
    return f"{endpoint}?{urllib.parse.urlencode(login)}"


def _check(
    destination: str | None, issuer: str | None, duration: int | None, federation_url: str | None
) -> None:
    if destination is not None and (not isinstance(destination, str) or not _is_url(destination, "https")):
        raise fail(
            "destination", "must be an https:// URL of the console (e.g. https://console.aws.amazon.com/s3/)"
        )
    if issuer is not None and (not isinstance(issuer, str) or not issuer.strip() or len(issuer) > 2048):
        raise fail(
            "issuer", "must be a non-empty string (the URL the console sends people back to on sign-out)"
        )
    if duration is not None:
        if isinstance(duration, bool) or not isinstance(duration, int):
            raise fail("duration", f"must be whole seconds (an int); got {type(duration).__name__}")
        if not MIN_DURATION <= duration <= MAX_DURATION:
            raise fail("duration", f"must be {MIN_DURATION}-{MAX_DURATION:,} seconds; got {duration}")
    if federation_url is not None and (
        not isinstance(federation_url, str) or not _is_url(federation_url, "https", "http")
    ):
        raise fail("federation_url", "must be an http(s):// URL of a federation endpoint")


def _is_url(text: str, *schemes: str) -> bool:
    parts = urllib.parse.urlsplit(text)
    return parts.scheme in schemes and bool(parts.netloc)


def _partition(arn: str) -> str:
    parts = arn.split(":")
    return parts[1] if len(parts) > 1 and parts[1] in FEDERATION_ENDPOINTS else "aws"


def _temporary(session: boto3.Session, duration: int | None) -> tuple[Any, str, bool]:
    """The session's temporary credentials and partition: its own, or GetFederationToken's for user keys."""
    from ._errors import SourceCredentialsError
    from ._recipe import Recipe

    credentials = session.get_credentials()
    if credentials is None:
        raise SourceCredentialsError("no credentials for a console sign-in URL: configure the default chain")
    frozen = credentials.get_frozen_credentials()
    recipe = getattr(session, "recipe", None)  # a RoleSession's (not imported: it imports this module)
    known = session.identity()["Arn"] if isinstance(recipe, Recipe) else ""  # type: ignore[attr-defined]
    if isinstance(recipe, Recipe):
        source = recipe.source  # its STS endpoint: a VPC endpoint, a local STS
        sts = session.client("sts", region_name=source.sts_region, endpoint_url=source.sts_endpoint_url)
    else:
        sts = session.client("sts")
    if frozen.token:
        return frozen, _partition(known or sts.get_caller_identity()["Arn"]), True
    from botocore.exceptions import ClientError

    from . import _sts

    params: dict[str, Any] = {"Name": _FEDERATED_NAME, "Policy": _PASS_THROUGH}
    if duration is not None:
        params["DurationSeconds"] = duration
    try:
        response = sts.get_federation_token(**params)
    except ClientError as exc:
        raise _sts.translate(
            exc, "GetFederationToken", "a console sign-in URL", hint=_FEDERATION_HINTS.get
        ) from exc
    creds = response["Credentials"]
    from botocore.credentials import ReadOnlyCredentials

    frozen = ReadOnlyCredentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    return frozen, _partition(response["FederatedUser"]["Arn"]), False


_FEDERATION_HINTS = {
    "AccessDenied": "the IAM user needs sts:GetFederationToken (root user keys cannot call it)",
}


def _signin_token(endpoint: str, query: dict[str, Any]) -> str:
    import urllib.error
    import urllib.request

    from ._errors import AssumeRoleError

    request = urllib.request.Request(f"{endpoint}?{urllib.parse.urlencode(query)}", method="GET")
    host = urllib.parse.urlsplit(endpoint).netloc
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
            answer = json.loads(response.read())
        token = answer["SigninToken"]
        if not isinstance(token, str) or not token:
            raise ValueError("empty")
    except urllib.error.HTTPError as exc:
        failure = f"HTTP {exc.code}"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        failure = type(exc).__name__
    else:
        return token
    # No chaining: the request URL in the original exception holds the credentials.
    raise AssumeRoleError(
        f"the federation endpoint {host} gave no sign-in token ({failure}); "
        "hint: the credentials may have expired, or SessionDuration is too long for them",
        code="FederationError",
    ) from None

"""`caller_identity`: who a source session's credentials are, as STS says."""

from __future__ import annotations

from typing import Any

__all__ = ["caller_identity"]


def caller_identity(
    source: Any = None, *, region: str | None = None, sts_endpoint_url: str | None = None
) -> dict[str, str]:
    """``UserId``, ``Account`` and ``Arn`` of ``source``'s credentials (GetCallerIdentity).

    For an assumed role's session, `RoleSession.identity` answers from the
    credentials held, without a call; this asks STS about any session.

    Args:
        source: a ``boto3.Session`` (default: botocore's default credential chain).
        region: the STS region (default: the source's, or the environment's).
        sts_endpoint_url: an STS endpoint to use instead of the region's.

    Raises:
        InvalidParameterError: a bad ``source``, ``region`` or ``sts_endpoint_url``.
        SourceCredentialsError: no source credentials were found.
        AssumeRoleError: STS refused the credentials, or could not be reached (code and hint).

    Example:
        ```python
        rolesession.caller_identity()["Account"]  # the default chain's account
        ```
    """
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
    from botocore.parsers import ResponseParserError

    from ._environment import configured_region
    from ._errors import SourceCredentialsError
    from ._sts import merged_config, translate, unreachable
    from ._validation import check_endpoint_url, check_instance, check_region

    check_instance(source, "source", boto3.Session, "a boto3.Session")
    endpoint = check_endpoint_url(sts_endpoint_url, "sts_endpoint_url")
    region = configured_region(check_region(region, "region"), source)
    session = source or boto3.Session(region_name=region)
    client = session.client(
        "sts", region_name=region or "us-east-1", endpoint_url=endpoint, config=merged_config(None)
    )
    try:
        response = client.get_caller_identity()
    except NoCredentialsError as exc:
        raise SourceCredentialsError(
            "no source credentials were found (configure the default credential chain or "
            "pass a source session; on the command line, --profile)"
        ) from exc
    except ClientError as exc:
        raise translate(exc, "GetCallerIdentity", "the source credentials") from exc
    except (BotoCoreError, ResponseParserError) as exc:
        raise unreachable(exc, "GetCallerIdentity", "the source credentials") from exc
    return {k: str(response[k]) for k in ("UserId", "Account", "Arn")}

"""The loopback instance-metadata endpoint behind ``rolesession exec --imds``.

For tools that only know EC2's instance metadata (IMDSv2): the child finds
``AWS_EC2_METADATA_SERVICE_ENDPOINT`` in its environment and asks, as on an
instance, for a session token (``PUT /latest/api/token`` with
``X-aws-ec2-metadata-token-ttl-seconds``), then with the token in
``X-aws-ec2-metadata-token`` for the role name
(``GET /latest/meta-data/iam/security-credentials/``) and its credentials
(``.../ROLE``, the JSON document EC2 serves). Requests without a valid
token get 401 (IMDSv1 is refused, as on an instance requiring IMDSv2);
every other path gets 404 -- the region lookup
(``placement/availability-zone``) included: the region is exported only
when one was given or found configured. The connection limits, timeouts
and failure logging are `LoopbackEndpoint`'s, shared with ``--server``.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from email.message import Message
from typing import TYPE_CHECKING

from .documents import hand_out
from .server import (
    HEAD_TIMEOUT,
    IDLE_TIMEOUT,
    MAX_CONNECTIONS,
    LoopbackEndpoint,
    Provide,
    Reply,
    failure_reply,
    json_reply,
    text_reply,
)

if TYPE_CHECKING:
    from rolesession import RoleSession

__all__ = ["BEFORE_IMDS", "MetadataServer", "imds_document", "serve_metadata"]

TOKEN_PATH = "/latest/api/token"
CREDENTIALS_PATH = "/latest/meta-data/iam/security-credentials/"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
#: EC2's bounds on a session token's lifetime, in seconds.
MIN_TTL, MAX_TTL = 1, 21600
#: Live session tokens held at once; botocore takes one per credential fetch,
#: so more could only come from a client creating tokens in a loop.
MAX_TOKENS = 1024
#: Variables that would make the command's SDK take other credentials before
#: asking instance metadata (the container endpoint comes first in every
#: SDK's chain), or not ask it at all.
BEFORE_IMDS = (
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_DISABLED",
)


def serve_metadata(session: RoleSession, env: dict[str, str]) -> MetadataServer:
    """``exec --imds``'s endpoint for ``session``'s role; ``env`` loses `BEFORE_IMDS`.

    Never waits for STS while valid credentials are held: a refresh the
    hand-out calls for runs in the background.
    """
    for name in BEFORE_IMDS:
        env.pop(name, None)

    def provide() -> dict[str, str]:
        creds = hand_out(session, wait=False)
        return imds_document(creds.access_key, creds.secret_key, creds.token, creds.expiry, creds.received)

    # EC2 lists the instance profile's role by its name: the ARN's last part.
    return MetadataServer(provide, session.role_arn.rsplit("/", 1)[-1])


def imds_document(
    access_key: str, secret_key: str, token: str, expiry: float, updated: float
) -> dict[str, str]:
    """The credentials document EC2 serves at ``.../security-credentials/ROLE``."""
    return {
        "Code": "Success",
        "LastUpdated": _iso(updated),
        "Type": "AWS-HMAC",
        "AccessKeyId": access_key,
        "SecretAccessKey": secret_key,
        "Token": token,
        "Expiration": _iso(expiry),
    }


def _iso(epoch: float) -> str:
    # The one form botocore's InstanceMetadataFetcher parses ("%Y-%m-%dT%H:%M:%SZ").
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class MetadataServer(LoopbackEndpoint):
    """Serves ``provide()``'s document as role ``role_name``'s instance credentials, IMDSv2 only.

    Session tokens are random (256 bits), valid for the TTL their ``PUT``
    asked for (1--21600 seconds, by ``clock``); at most `MAX_TOKENS` live at
    once (the oldest goes first). ``provide`` should answer at once (``exec
    --imds`` hands out what is held while a refresh runs in the background);
    when it raises, the request gets a 500 and botocore's fetcher finds no
    credentials. See `LoopbackEndpoint` for the connection limits and the
    failure logging.
    """

    methods = frozenset({"GET", "PUT"})

    def __init__(
        self,
        provide: Provide,
        role_name: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        idle_timeout: float = IDLE_TIMEOUT,
        head_timeout: float = HEAD_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self.role_name = role_name
        self._provide = provide
        self._clock = clock
        self._tokens: dict[str, float] = {}  # token -> when it expires, by `clock`
        self._tokens_lock = threading.Lock()
        super().__init__(
            idle_timeout=idle_timeout, head_timeout=head_timeout, max_connections=max_connections
        )

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}/"

    def environ(self) -> dict[str, str]:
        """The variables pointing an AWS SDK's instance-metadata provider at this endpoint."""
        return {
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": self.url,
            "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv4",
        }

    def answer(self, method: str, path: str, headers: Message) -> Reply:
        if method == "PUT":
            if path != TOKEN_PATH:
                return text_reply(404, "Not Found")
            return self._new_token(headers)
        if path == TOKEN_PATH:
            return text_reply(405, "Method Not Allowed")
        if not self._valid(headers.get(TOKEN_HEADER)):
            return text_reply(401, "Unauthorized")
        if path in (CREDENTIALS_PATH, CREDENTIALS_PATH.rstrip("/")):
            return text_reply(200, self.role_name)
        if path == CREDENTIALS_PATH + self.role_name:
            try:
                return json_reply(200, self.provide(self._provide))
            except Exception as exc:
                return failure_reply(exc)
        return text_reply(404, "Not Found")

    def _new_token(self, headers: Message) -> Reply:
        if headers.get("X-Forwarded-For") is not None:  # EC2's guard against open proxies
            return text_reply(403, "Forbidden")
        asked = headers.get(TTL_HEADER, "")
        ttl = int(asked) if asked.strip().isdigit() else 0
        if not MIN_TTL <= ttl <= MAX_TTL:
            return text_reply(400, "Bad Request")
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._tokens_lock:
            self._tokens = {t: end for t, end in self._tokens.items() if end > now}
            while len(self._tokens) >= MAX_TOKENS:
                del self._tokens[next(iter(self._tokens))]
            self._tokens[token] = now + ttl
        return text_reply(200, token, [(TTL_HEADER, str(ttl))])

    def _valid(self, supplied: str | None) -> bool:
        if not supplied:
            return False
        now = self._clock()
        with self._tokens_lock:
            live = [t for t, end in self._tokens.items() if end > now]
        # Constant-time compares: a token is all that guards the credentials.
        given = supplied.encode("utf-8", "surrogateescape")
        return any(hmac.compare_digest(given, t.encode("ascii")) for t in live)

    def __repr__(self) -> str:
        return f"MetadataServer(url={self.url!r}, role_name={self.role_name!r})"

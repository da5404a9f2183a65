"""Loopback fakes of the default chain's credential services, speaking their real protocols.

* `MetadataServer`: EC2 instance metadata, IMDSv2 only (a session token from
  ``PUT /latest/api/token``, then the role name and its credentials, each
  request carrying the token); when it cannot refresh (``extend``) it serves
  the last set with a later expiry, as EC2 does.
* `ContainerServer`: the ECS / EKS Pod Identity container endpoint, checking
  the ``Authorization`` header.
* `ProcessHelper`: a ``credential_process`` command that counts its runs and
  prints credentials valid for ``lifetime`` seconds from the clock file the
  test keeps (a child process cannot see freezegun's clock).

Each server issues a new access key per credential request
(``ASIA<KIND>KEY0000``, ``...0001``), expiring ``lifetime`` seconds after
the server's ``time.time()`` (freezegun's, when a test freezes it). A server
can be made to fail (``fail = 500``), to hang until released (``hold()``),
or to take ``delay`` seconds.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

from helpers import LoopbackServer

SECRET = "fake-secret-fake-secret-fake-secret-0123"


def credentials_document(key: str, lifetime: float, *, token_name: str = "Token") -> dict[str, str]:
    expiration = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + lifetime))
    return {"AccessKeyId": key, "SecretAccessKey": SECRET, token_name: f"session-token-for-{key}",
            "Expiration": expiration}  # fmt: skip


class _Server(LoopbackServer):
    """A loopback fake of a credentials endpoint; subclasses ``reply(method, path, headers)``.

    ``hold()``/``release()`` make it hang, ``delay`` slows every answer.
    """

    kind = "FAKE"

    def __init__(self, lifetime: float = 3600) -> None:
        self.lifetime = lifetime
        self.fail: int | None = None
        self.delay = 0.0
        self.issued: list[str] = []
        self._open = threading.Event()
        self._open.set()
        super().__init__()

    def answer(self, method: str, path: str, headers: Any) -> tuple[int, Any]:
        self._open.wait(30)
        if self.delay:
            time.sleep(self.delay)
        return self.reply(method, path, headers)  # headers: case-insensitive

    def reply(self, method: str, path: str, headers: Any) -> tuple[int, Any]:
        raise NotImplementedError

    def issue(self) -> tuple[int, Any]:
        if self.fail is not None:
            return self.fail, {"message": "the fake is down"}
        key = f"ASIA{self.kind}KEY{len(self.issued):04d}"
        self.issued.append(key)
        return 200, self.document(key)

    def document(self, key: str) -> dict[str, str]:
        return credentials_document(key, self.lifetime)

    def hold(self) -> None:
        """Requests hang from now on until `release`."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def close(self) -> None:
        self.release()  # a held request would keep its thread (and shutdown) waiting
        super().close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class MetadataServer(_Server):
    """IMDSv2: token ``PUT``, then the role name and credentials with the token; v1 requests refused."""

    kind = "IMDS"
    ROLE = "InstanceRole"
    TOKEN = "imds-session-token-0123456789"
    BASE = "/latest/meta-data/iam/security-credentials/"

    #: When set, the service cannot refresh its credentials and, as EC2 does, serves the last set
    #: again with its expiry moved this many seconds past now.
    extend: float | None = None

    def reply(self, method: str, path: str, headers: Any) -> tuple[int, Any]:
        if method == "PUT" and path == "/latest/api/token":
            if "X-aws-ec2-metadata-token-ttl-seconds" not in headers:
                return 400, "missing TTL"
            return 200, self.TOKEN
        if headers.get("X-aws-ec2-metadata-token") != self.TOKEN:
            return 401, "IMDSv2 token required"
        if method == "GET" and path == self.BASE:
            return 200, self.ROLE
        if method == "GET" and path == self.BASE + self.ROLE:
            if self.extend is not None and self.issued:
                document = credentials_document(self.issued[-1], self.extend)
                return 200, {"Code": "Success", "Type": "AWS-HMAC", **document}
            return self.issue()
        return 404, "not found"

    def document(self, key: str) -> dict[str, str]:
        return {"Code": "Success", "Type": "AWS-HMAC", **credentials_document(key, self.lifetime)}


class ContainerServer(_Server):
    """The ECS / EKS Pod Identity endpoint: ``GET /creds`` with ``Authorization: <token>``."""

    kind = "CONTAINER"

    def __init__(self, token: str | None = "container-authorization-token", lifetime: float = 3600) -> None:
        self.token = token
        super().__init__(lifetime)

    def reply(self, method: str, path: str, headers: Any) -> tuple[int, Any]:
        if method != "GET" or path != "/creds":
            return 404, "not found"
        if self.token is not None and headers.get("Authorization") != self.token:
            return 401, {"message": "invalid authorization token"}
        return self.issue()


_HELPER = """\
import datetime, json, os, sys, time
state, lifetime = sys.argv[1], float(sys.argv[2])
with open(os.path.join(state, "runs"), "a") as runs:
    runs.write("run\\n")
n = sum(1 for _ in open(os.path.join(state, "runs")))
while os.path.exists(os.path.join(state, "hold")):
    time.sleep(0.02)
if os.path.exists(os.path.join(state, "fail")):
    sys.stderr.write("the helper refuses\\n")
    sys.exit(1)
now = float(open(os.path.join(state, "now")).read())
expiration = datetime.datetime.fromtimestamp(now + lifetime, datetime.timezone.utc)
print(json.dumps({"Version": 1, "AccessKeyId": "ASIAPROCESSKEY%04d" % (n - 1),
                  "SecretAccessKey": "process-secret-process-secret-0123456789",
                  "SessionToken": "process-session-token",
                  "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ")}))
"""


class ProcessHelper:
    """A counting ``credential_process`` helper; ``sync_clock()`` hands it the test's time."""

    def __init__(self, directory: Path, lifetime: float = 3600) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "helper.py").write_text(_HELPER)
        self.command = f"{sys.executable} {directory / 'helper.py'} {directory} {lifetime:g}"
        self.sync_clock()

    def sync_clock(self) -> None:
        """Write the current ``time.time()`` (freezegun's, if frozen) for the helper to start from."""
        (self.directory / "now").write_text(repr(time.time()))

    @property
    def runs(self) -> int:
        path = self.directory / "runs"
        return len(path.read_text().splitlines()) if path.exists() else 0

    def hold(self) -> None:
        """Runs from now on wait until `release`."""
        (self.directory / "hold").write_text("1")

    def release(self) -> None:
        (self.directory / "hold").unlink(missing_ok=True)

    def refuse(self, refuse: bool = True) -> None:
        path = self.directory / "fail"
        if refuse:
            path.write_text("1")
        elif path.exists():
            path.unlink()


class SsoPortal(_Server):
    """The IAM Identity Center portal: ``GET /federation/credentials`` with the bearer token."""

    kind = "SSO"
    ACCESS_TOKEN = "sso-access-token-0123456789"

    def reply(self, method: str, path: str, headers: Any) -> tuple[int, Any]:
        if method != "GET" or not path.startswith("/federation/credentials"):
            return 404, "not found"
        if headers.get("x-amz-sso_bearer_token") != self.ACCESS_TOKEN:
            return 401, {"message": "Session token not found or invalid"}
        status, document = self.issue()
        if status != 200:
            return status, document
        expiration = time.time() + self.lifetime
        return 200, {"roleCredentials": {"accessKeyId": document["AccessKeyId"], "secretAccessKey": SECRET,
                                         "sessionToken": document["Token"],
                                         "expiration": int(expiration * 1000)}}  # fmt: skip

    def sign_in(
        self, home: Path, monkeypatch: Any, start_url: str = "https://corp.awsapps.com/start"
    ) -> None:
        """A cached SSO token for session ``corp`` under ``home``, and botocore pointed at it and at us."""
        import hashlib

        import botocore.credentials
        import botocore.tokens

        cache = home / ".aws" / "sso" / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        token = {"startUrl": start_url, "region": "us-east-1", "accessToken": self.ACCESS_TOKEN,
                 "expiresAt": "2099-01-01T00:00:00Z"}  # fmt: skip
        (cache / f"{hashlib.sha1(b'corp').hexdigest()}.json").write_text(json.dumps(token))
        monkeypatch.setenv("HOME", str(home))
        # botocore works out its SSO token cache directory from HOME once, at import.
        monkeypatch.setattr(botocore.credentials.SSOProvider, "_SSO_TOKEN_CACHE_DIR", str(cache))
        monkeypatch.setattr(botocore.tokens.SSOTokenProvider, "_SSO_TOKEN_CACHE_DIR", str(cache))
        monkeypatch.setenv("AWS_ENDPOINT_URL_SSO", self.url)


SSO_PROFILE = """\
[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1

[default]
sso_session = corp
sso_account_id = 123456789012
sso_role_name = Engineer
"""

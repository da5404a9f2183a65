"""The async hot path, measured where aiobotocore is installed (``.venv-aio``; ``make bench`` runs it).

Prints one JSON object: the median cost of ``await credentials.get_frozen_credentials()``
on a fresh `rolesession.aio` session and on aiobotocore's own
``AioRefreshableCredentials`` with the same hour left.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

REPEAT, NUMBER = 9, 20_000


async def per_call(read: Any) -> float:
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        for _ in range(NUMBER):
            await read()
        times.append((time.perf_counter() - started) / NUMBER)
    return statistics.median(times)


async def main() -> dict[str, float]:
    from aiobotocore.credentials import AioRefreshableCredentials
    from moto import mock_aws

    from rolesession import aio

    with mock_aws():
        session = aio.assume_role("arn:aws:iam::123456789012:role/Bench", duration=3600)
        ours = await session.get_credentials()
        await ours.get_frozen_credentials()  # fetched once; fresh from here on
        expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)

        async def never() -> dict[str, str]:
            raise AssertionError("no refresh expected")

        theirs = AioRefreshableCredentials.create_from_metadata(
            {"access_key": "AKIA", "secret_key": "s", "token": "t", "expiry_time": expiry.isoformat()},
            refresh_using=never,
            method="bench",
        )
        return {
            "ours": await per_call(ours.get_frozen_credentials),
            "baseline": await per_call(theirs.get_frozen_credentials),
        }


if __name__ == "__main__":
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    scratch = tempfile.mkdtemp()
    os.environ.update(
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.path.join(scratch, "none"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(scratch, "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    json.dump(asyncio.run(main()), sys.stdout)

"""The event loop's host-name resolution while STS hangs (issue 17, item 10a), in ``.venv-aio``.

Ten cold `rolesession.aio` sessions read their credentials while every
AssumeRole hangs behind the fault proxy (``tests/reliability/faultproxy.py``,
in front of a moto server on loopback). Meanwhile the loop resolves host
names -- what every new aiohttp connection does, on the loop's default
executor -- and a warm session calls S3 by host name (``localhost``).

Prints one JSON object: the worst ``loop.getaddrinfo`` delay (ms) over 20
lookups, and the warm session's call (ms). Target: resolution <= 50 ms.
Run: ``.venv-aio/bin/python benchmarks/aio_hanging_sts.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

COLD_SESSIONS = 10
LOOKUPS = 20


async def measure(proxy: Any, moto_url: str) -> dict[str, float]:
    from rolesession import aio

    loop = asyncio.get_running_loop()
    warm = aio.assume_role("arn:aws:iam::123456789012:role/Warm", sts_endpoint_url=moto_url)
    await (await warm.get_credentials()).get_frozen_credentials()
    proxy.hang(action="AssumeRole")
    cold = [
        aio.assume_role(f"arn:aws:iam::123456789012:role/Cold{n}", sts_endpoint_url=proxy.url)
        for n in range(COLD_SESSIONS)
    ]
    reads = [asyncio.ensure_future((await s.get_credentials()).get_frozen_credentials()) for s in cold]
    proxy.wait_for("AssumeRole", 6, timeout=30)  # the default executor's six threads, at least
    await asyncio.sleep(0.5)
    worst = 0.0
    for _ in range(LOOKUPS):
        started = time.perf_counter()
        await loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
        worst = max(worst, time.perf_counter() - started)
    started = time.perf_counter()
    by_name = "http://localhost:" + moto_url.rsplit(":", 1)[1]
    async with warm.create_client("s3", endpoint_url=by_name, region_name="us-east-1") as s3:
        await s3.list_buckets()
    warm_call = time.perf_counter() - started
    proxy.release()
    await asyncio.gather(*reads, return_exceptions=True)
    return {"getaddrinfo_worst_ms": worst * 1000, "warm_call_by_host_name_ms": warm_call * 1000}


def main() -> dict[str, float]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from moto.server import ThreadedMotoServer

    from reliability.faultproxy import FaultProxy

    os.environ.update(AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE", AWS_SECRET_ACCESS_KEY="bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    moto_url = f"http://127.0.0.1:{port}"
    try:
        with FaultProxy(moto_url) as proxy:
            return asyncio.run(measure(proxy, moto_url))
    finally:
        server.stop()


if __name__ == "__main__":
    print(json.dumps(main()))

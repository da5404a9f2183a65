"""Async sessions: aiobotocore clients in an assumed role, a chain, and many concurrent tasks.

Run with the ``aio`` extra installed (``pip install rolesession[aio]``):

    python examples/aio/sessions.py \
        arn:aws:iam::123456789012:role/Auditor arn:aws:iam::210987654321:role/Reader

The first role is assumed from the default credential chain, the second is
chained from it. Fifty concurrent tasks then ask for the identity through
the chained session: they share one set of credentials, fetched once,
refreshed in the background for as long as the program runs.
"""

from __future__ import annotations

import asyncio
import sys

from rolesession import aio


async def whoami(session: aio.AioRoleSession) -> str:
    async with session.create_client("sts") as sts:
        return str((await sts.get_caller_identity())["Arn"])


async def main(hub_arn: str, target_arn: str) -> None:
    hub = aio.assume_role(hub_arn, duration=3600)
    target = hub.assume_role(target_arn)  # chained: AWS caps it at one hour
    print("hub:   ", await whoami(hub))
    arns = await asyncio.gather(*(whoami(target) for _ in range(50)))
    print("target:", arns[0], f"(50 tasks, {len(set(arns))} identity)")
    print("expires:", (await target.expiration()).isoformat())


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: sessions.py HUB_ROLE_ARN TARGET_ROLE_ARN")
    asyncio.run(main(sys.argv[1], sys.argv[2]))

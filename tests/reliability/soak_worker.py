"""One process of the soak test: many readers on one session sharing a FileCache.

Run as ``python -m reliability.soak_worker URL CACHE_DIR THREADS SECONDS``
(with ``tests/`` and the library on ``PYTHONPATH``); prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter

import rolesession

from .harness import STS_CONFIG, frozen_read, run_readers

ROLE = "arn:aws:iam::123456789012:role/Soak"
#: The proxy makes credentials last 30 s: refreshes start 10-17.5 s after
#: receipt (jittered), the mandatory window is the last 5 s.
LIFETIME = 30
POLICY = rolesession.RefreshPolicy(advisory=20, mandatory=5)


def main(argv: list[str]) -> int:
    url, directory, threads, seconds = argv[0], argv[1], int(argv[2]), float(argv[3])
    session = rolesession.assume_role(
        ROLE,
        sts_endpoint_url=url,
        sts_config=STS_CONFIG,
        cache=rolesession.FileCache(directory),
        refresh=POLICY,
    )
    read = frozen_read(session)
    first_error = None
    for _ in range(40):  # the first fetch may meet a fault: keep trying for a while
        try:
            read()
            break
        except rolesession.CredentialRefreshError as exc:
            first_error = exc
            time.sleep(0.5)
    else:
        print(json.dumps({"fatal": f"no credentials at start: {first_error!r}"}))
        return 1
    report = run_readers(read, threads=threads, seconds=seconds, pause=0.005, deadline=seconds + 30)
    codes = Counter(f"{type(e).__name__}:{getattr(e, 'code', None)}" for e in report.errors)
    print(
        json.dumps(
            {
                "reads": report.reads,
                "worst": report.worst,
                "slow_reads": report.slow_reads,
                "stuck": report.stuck,
                "errors": dict(codes),
                "non_refresh_errors": sum(
                    1 for e in report.errors if not isinstance(e, rolesession.CredentialRefreshError)
                ),
                "keys": len({c.access_key for c in report.values}),
                "summary": report.summary(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

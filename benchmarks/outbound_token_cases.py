"""Outbound tokens: GetWebIdentityToken calls for 64 threads x 8 processes sharing a FileCache.

    .venv/bin/python benchmarks/outbound_token_cases.py [--quick]

STS is the loopback fake of the test suite (``tests/sts_fake.py``: moto plus
GetWebIdentityToken). Every process assumes the same role on one `FileCache`
directory and runs 64 threads reading the token (a read every 20 ms each)
for two token lifetimes (60 s tokens; ``--quick``: half a lifetime). The
count is the fake's: every GetWebIdentityToken any process sent.
"""

from __future__ import annotations

import math
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from measure import Log, Result

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

PROCESSES, THREADS, LIFETIME = 8, 64, 60
ROLE = "arn:aws:iam::123456789012:role/Workload"

_WORKER = """
import sys, threading, time, rolesession
cache = rolesession.FileCache(sys.argv[1])
session = rolesession.assume_role(
    sys.argv[2], sts_endpoint_url=sys.argv[3], cache=cache, session_name="bench"
)
until = time.time() + float(sys.argv[4])
seen = set()
def read():
    while time.time() < until:
        seen.add(session.web_identity_token("bench", duration={lifetime}))
        time.sleep(0.02)
threads = [threading.Thread(target=read) for _ in range({threads})]
[t.start() for t in threads]
[t.join() for t in threads]
print(len(seen))
"""


def token_calls(quick: bool, log: Log) -> Result:
    from sts_fake import StsFake

    seconds = LIFETIME / 2 if quick else 2 * LIFETIME
    log(f"outbound tokens: {THREADS} threads x {PROCESSES} processes, {seconds:.0f} s, {LIFETIME} s tokens")
    script = textwrap.dedent(_WORKER.format(lifetime=LIFETIME, threads=THREADS))
    with StsFake(outbound_federation=True) as fake, tempfile.TemporaryDirectory() as directory:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", script, directory, ROLE, fake.url, str(seconds)],
                stdout=subprocess.PIPE, text=True,
            )
            for _ in range(PROCESSES)
        ]  # fmt: skip
        seen = [int(p.communicate(timeout=seconds + 300)[0].strip() or 0) for p in procs]
        calls = fake.calls["GetWebIdentityToken"]
    lifetimes = seconds / LIFETIME
    # The target (issue 20): one call per token lifetime, for any number of threads and
    # processes -- the first token, then at most one renewal per lifetime of reading.
    expected = 1 + math.ceil(lifetimes)
    return Result(
        "token-calls",
        f"GetWebIdentityToken calls, {THREADS} threads x {PROCESSES} processes, one `FileCache`, "
        f"{lifetimes:g} token lifetime(s)",
        "the first token plus one per lifetime",
        float(calls),
        float(expected),
        "calls",
        "one call per lifetime, none duplicated",
        None,
        calls <= expected,
        [
            f"{seconds:.0f} s of reads of {LIFETIME} s tokens (renewed with a fifth of their life left): "
            f"at most {expected} calls. Distinct tokens seen per process: {seen}. Without the shared "
            f"cache and single-flight each of the {THREADS * PROCESSES} readers would ask STS itself."
        ],
    )


CASES = (token_calls,)


def main() -> int:
    import os

    quick = "--quick" in sys.argv
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    result = token_calls(quick, lambda line: print(line, file=sys.stderr, flush=True))
    print(f"{result.what}: {result.ours:g} (expected at most {result.baseline:g}); {result.notes[0]}")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())

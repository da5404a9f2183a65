"""The benchmark cases: each measures rolesession and its baseline in the same run.

Every case returns a `Result`. Times are medians over repeated runs; STS is
moto in-process. Imported by ``run.py`` after it has isolated the AWS
environment (fake source credentials, no config files).
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import botocore
import botocore.session
import freezegun
import freezegun.api
import moto  # noqa: F401  (registers its handlers before any botocore session is made)
from botocore.credentials import (
    AssumeRoleCredentialFetcher,
    DeferredRefreshableCredentials,
    RefreshableCredentials,
)
from moto import mock_aws

import rolesession
from rolesession._credentials import to_iso
from rolesession.testing import StsRecorder, reset

# The refresh engine's background thread must see freezegun's clock.
freezegun.api.call_stack_inspection_limit = 0

_accounts = itertools.count(300_000_000_000)


def _new_role(name: str = "Bench") -> str:
    """A role ARN in an account no other measurement used (no cache hits across cases)."""
    return f"arn:aws:iam::{next(_accounts):012d}:role/{name}"


from measure import (  # noqa: E402
    Log,
    Result,
    max_read_latency,
    median_per_call,
    median_time,
    traced,
)

# -- helpers ---------------------------------------------------------------------------


class _StsCounter:
    """Counts the library's STS calls, optionally slowing each one down (real sleep)."""

    def __init__(self) -> None:
        self._recorder = StsRecorder()

    @property
    def count(self) -> int:
        return self._recorder.count()

    @property
    def delay(self) -> float:
        return self._recorder.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        self._recorder.delay = seconds

    def __enter__(self) -> _StsCounter:
        self._recorder.install()
        return self

    def __exit__(self, *exc: object) -> None:
        self._recorder.uninstall()


def _count_botocore_calls(session: botocore.session.Session, event: str) -> list[int]:
    counter = [0]

    def count(**kwargs: Any) -> None:
        counter[0] += 1

    session.register(event, count)
    return counter


def reset_library() -> None:
    # Each case starts from a cold process-wide state: no cached credentials,
    # no warm sessions, no shared STS clients left over from another case.
    reset()


# -- 1. the hot path ---------------------------------------------------------------------


def hot_path(quick: bool, log: Log) -> Result:
    log("hot path: get_frozen_credentials() with fresh credentials")
    number, repeat = (20_000, 5) if quick else (200_000, 9)
    with mock_aws():
        creds = rolesession.assume_role(_new_role()).get_credentials()
        creds.get_frozen_credentials()
        ours = median_per_call(creds.get_frozen_credentials, number, repeat)
    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    theirs = RefreshableCredentials.create_from_metadata(
        {"access_key": "AKIA", "secret_key": "s", "token": "t", "expiry_time": expiry.isoformat()},
        refresh_using=lambda: {},
        method="bench",
    )
    baseline = median_per_call(theirs.get_frozen_credentials, number // 10, repeat)
    ratio = baseline / ours
    return Result(
        "hot",
        "`get_frozen_credentials()`, fresh credentials",
        "botocore `RefreshableCredentials`",
        ours * 1e6,
        baseline * 1e6,
        "µs",
        "≤ 0.5 µs and ≥ 20x faster",
        ratio,
        ours <= 0.5e-6 and ratio >= 20,
    )


# -- 2. warm re-assume -----------------------------------------------------------------


def warm_reassume(quick: bool, log: Log) -> Result:
    log("warm re-assume: the same role asked again (a warm Lambda invocation)")
    number, repeat = (500, 5) if quick else (2_000, 9)
    role = _new_role("Warm")
    with mock_aws():
        session = rolesession.assume_role(role, duration=3600)
        session.get_credentials().get_frozen_credentials()
        with _StsCounter() as counter:
            ours = median_per_call(lambda: rolesession.assume_role(role, duration=3600), number, repeat)
            same = rolesession.assume_role(role, duration=3600) is session
        # The baseline: an STS client kept warm across invocations, then per
        # invocation AssumeRole and a new boto3.Session with the result.
        client = boto3.Session().client("sts")

        def invocation() -> boto3.Session:
            creds = client.assume_role(RoleArn=role, RoleSessionName="bench", DurationSeconds=3600)[
                "Credentials"
            ]
            return boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )

        invocation()
        baseline = median_time(invocation, 7 if quick else 15)
    ratio = baseline / ours
    notes = [f"{counter.count} STS calls over {number * repeat + 1} asks; same object returned: {same}"]
    return Result(
        "warm",
        "same role asked again (warm Lambda)",
        "AssumeRole + new `boto3.Session`",
        ours * 1e3,
        baseline * 1e3,
        "ms",
        "≤ 0.2 ms, 0 STS calls",
        ratio,
        ours <= 0.2e-3 and counter.count == 0 and same,
        notes,
    )


# -- 3. 15-minute credentials read every 3 s for 5 min -------------------------------------


def short_credentials(quick: bool, log: Log) -> Result:
    log("15-minute credentials read every 3 s for 5 minutes (freezegun)")
    reads = 100  # 5 min / 3 s
    with mock_aws(), freezegun.freeze_time("2026-03-01 12:00:00", tick=False) as clock:
        with _StsCounter() as counter:
            creds = rolesession.assume_role(_new_role("Short"), duration=900).get_credentials()
            for _ in range(reads):
                creds.get_frozen_credentials()
                creds.wait_for_background()  # with freezegun, join before moving time
                clock.tick(3)
        ours = counter.count

        clock.move_to("2026-03-01 13:00:00")
        source = botocore.session.get_session()
        calls = _count_botocore_calls(source, "before-call.sts.AssumeRole")
        fetcher = AssumeRoleCredentialFetcher(
            client_creator=source.create_client,
            source_credentials=source.get_credentials(),
            role_arn=_new_role("Short"),
            extra_args={"DurationSeconds": 900, "RoleSessionName": "bench"},
        )
        theirs = DeferredRefreshableCredentials(fetcher.fetch_credentials, "assume-role")
        for _ in range(reads):
            theirs.get_frozen_credentials()
            clock.tick(3)
        baseline = calls[0]
    return Result(
        "short",
        "15-min credentials, a read every 3 s for 5 min",
        "botocore `AssumeRoleCredentialFetcher` + `DeferredRefreshableCredentials`",
        ours,
        baseline,
        "STS calls",
        "≤ 2 STS calls",
        None,
        ours <= 2,
        [f"{reads} reads each; botocore refreshes 15 min before expiry, so 15-minute credentials "
         "are due the moment they arrive"],
    )


# -- 4. fan-out --------------------------------------------------------------------------


def _fan_out_ours(arns: list[str], workers: int, keep: bool) -> list[Any]:
    def fn(session: rolesession.RoleSession) -> Any:
        client = session.client("sts")
        account = client.get_caller_identity()["Account"]
        return (client, account) if keep else account

    results = rolesession.fan_out(arns, fn, max_workers=workers)
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"fan_out failed: {errors[0]!r}")
    return [r.value for r in results]


_baseline_source: list[Any] = []


def _fan_out_baseline(arns: list[str], workers: int, keep: bool) -> list[Any]:
    if not _baseline_source:  # one source client for the whole script, as a script would make
        _baseline_source.append(boto3.Session().client("sts"))
    source = _baseline_source[0]

    def one(arn: str) -> Any:
        creds = source.assume_role(RoleArn=arn, RoleSessionName="bench")["Credentials"]
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name="us-east-1",
        )
        client = session.client("sts")
        account = client.get_caller_identity()["Account"]
        return (session, client, account) if keep else account

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, arns))


def fan_out(quick: bool, log: Log) -> tuple[Result, Result]:
    accounts, rounds, workers = (8, 1, 4) if quick else (24, 3, 4)
    log(f"fan-out: {accounts} accounts x {rounds} rounds, {workers} workers each side")
    ours_times, base_times = [], []
    with mock_aws():
        _fan_out_ours([_new_role()], 1, False)  # first STS client, template session
        _fan_out_baseline([_new_role()], 1, False)
        for _ in range(rounds):
            for runner, times in ((_fan_out_baseline, base_times), (_fan_out_ours, ours_times)):
                arns = [_new_role() for _ in range(accounts)]
                gc.collect()
                started = time.perf_counter()
                runner(arns, workers, False)
                times.append((time.perf_counter() - started) / accounts)
        log("fan-out: memory retained per account (session + client kept), tracemalloc")
        n = 6 if quick else 10
        memory = {}
        for name, runner in (("baseline", _fan_out_baseline), ("ours", _fan_out_ours)):
            arns = [_new_role() for _ in range(n)]
            with traced() as used:
                kept = runner(arns, 1, True)
                memory[name] = used() / n
            del kept
    ours_t, base_t = statistics.median(ours_times), statistics.median(base_times)
    time_ratio = base_t / ours_t
    mem_ratio = memory["baseline"] / memory["ours"]
    note = (
        f"{accounts} accounts x {rounds} rounds on {workers} threads each side; both sides make the same "
        "two moto STS calls per account (AssumeRole, GetCallerIdentity)"
    )
    return (
        Result(
            "fanout-time",
            "fan-out: session + STS client + GetCallerIdentity, time per account",
            "new `boto3.Session` per account",
            ours_t * 1e3,
            base_t * 1e3,
            "ms",
            "≤ 1/8 the time",
            time_ratio,
            time_ratio >= 8,
            [note],
        ),
        Result(
            "fanout-memory",
            "fan-out: memory per account (session + client kept)",
            "new `boto3.Session` per account",
            memory["ours"] / 1024,
            memory["baseline"] / 1024,
            "KiB",
            "≤ 1/20 the memory",
            mem_ratio,
            mem_ratio >= 20,
            [f"tracemalloc, {n} accounts each side, sequential"],
        ),
    )


# -- 5. reads during an advisory refresh with a slow STS -----------------------------------------


class _AgedOnce:
    """A cache whose first entry is stored as if received 700 s earlier and expiring in 200 s.

    A second session adopting that entry holds 15-minute credentials well
    inside their advisory window (5 min before expiry) and before the
    mandatory one (1 min) -- without waiting ten real minutes.
    """

    persistent = False

    def __init__(self, data: dict[Any, Any]) -> None:
        self._data = data

    def get(self, key: Any) -> Any:
        return self._data.get(key)

    def set(self, key: Any, entry: dict[str, Any]) -> None:
        if not self._data:
            now = time.time()
            entry = {**entry, "ReceivedAt": now - 700}
            entry["Credentials"] = {**entry["Credentials"], "Expiration": to_iso(now + 200)}
        self._data[key] = entry

    def delete(self, key: Any) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()


READERS = 4


def advisory_refresh(quick: bool, log: Log) -> Result:
    log("reads during an advisory refresh, STS slowed to 200 ms")
    readers, rounds = READERS, (3 if quick else 7)
    ours_worst, base_worst, ours_calls, refreshed = [], [], [], []
    with mock_aws():
        for _ in range(rounds):
            role, data = _new_role("Advisory"), {}
            policy = rolesession.RefreshPolicy(jitter=False)  # due now, not at a random point
            rolesession.assume_role(role, cache=_AgedOnce(data), refresh=policy).get_credentials().current()
            with _StsCounter() as counter:
                counter.delay = 0.2
                creds = rolesession.assume_role(role, cache=_AgedOnce(data), refresh=policy).get_credentials()
                # Adopting the aged entry starts the refresh in the background.
                before = creds.current().access_key
                worst = max_read_latency(creds.get_frozen_credentials, 0.6, readers)
                creds.wait_for_background()
            refreshed.append(creds.current().access_key != before)
            ours_worst.append(worst)
            ours_calls.append(counter.count)

            # botocore: 12 minutes left is inside its 15-minute advisory window
            # and outside its 10-minute mandatory one.
            client = boto3.Session().client("sts")
            arn = _new_role("Advisory")

            def slow_refresh(client: Any = client, arn: str = arn) -> dict[str, Any]:
                time.sleep(0.2)
                c = client.assume_role(RoleArn=arn, RoleSessionName="bench")["Credentials"]
                return {
                    "access_key": c["AccessKeyId"],
                    "secret_key": c["SecretAccessKey"],
                    "token": c["SessionToken"],
                    "expiry_time": c["Expiration"].isoformat(),
                }

            expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=12)
            theirs = RefreshableCredentials.create_from_metadata(
                {"access_key": "AKIAOLD", "secret_key": "s", "token": "t", "expiry_time": expiry.isoformat()},
                refresh_using=slow_refresh,
                method="bench",
            )
            base_worst.append(max_read_latency(theirs.get_frozen_credentials, 0.6, readers))
            refreshed.append(theirs.get_frozen_credentials().access_key != "AKIAOLD")
    ours, baseline = statistics.median(ours_worst), statistics.median(base_worst)
    return Result(
        "advisory",
        "reads during an advisory refresh, STS slowed to 200 ms: slowest read",
        "botocore `RefreshableCredentials`",
        ours * 1e3,
        baseline * 1e3,
        "ms",
        "max read ≤ 2 ms",
        baseline / ours,
        # The median round's slowest read is the statistic; no read at all may
        # come near the 200 ms a reader waiting for the refresh would take.
        ours <= 2e-3 and max(ours_worst) < 0.05 and all(c == 1 for c in ours_calls) and all(refreshed),
        [
            f"{readers} reader threads reading every ~0.2 ms for 0.6 s from the start of the refresh; the "
            f"figure is the median over {rounds} rounds of each round's slowest read. Slowest read of each "
            f"round, ours: {', '.join(f'{w * 1e3:.2f}' for w in ours_worst)} ms; botocore: "
            f"{', '.join(f'{w * 1e3:.0f}' for w in base_worst)} ms. A read never waits for the refresh; "
            "the occasional read above the median was descheduled (2 cores shared by 6 threads and other "
            f"processes; CPython hands the GIL over every {sys.getswitchinterval() * 1e3:.0f} ms). "
            f"STS calls per round: {ours_calls}"
        ],
    )


# -- 5b. a hanging STS, valid credentials held ----------------------------------------------


class _HangingSts(_StsCounter):
    """Every STS call hangs until ``release()`` (a dead endpoint that never answers)."""

    def __enter__(self) -> _HangingSts:
        super().__enter__()
        self._gate = self._recorder.block()
        return self

    def release(self) -> None:
        self._gate.set()


HANG_READERS = 8


def hanging_sts(quick: bool, log: Log) -> Result:
    log("reads while STS hangs, valid credentials held")
    rounds = 3 if quick else 5
    worst_by_round, calls = [], []
    with mock_aws():
        for i in range(rounds):
            role = _new_role("Hang")
            policy = rolesession.RefreshPolicy(jitter=False)
            creds = rolesession.assume_role(role, duration=900, refresh=policy, cache=None).get_credentials()
            creds.current()
            # Alternate between the advisory window and the mandatory one.
            left = 30 if i % 2 else 200
            with freezegun.freeze_time(
                dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=900 - left), tick=True
            ), _HangingSts() as hung:
                worst_by_round.append(max_read_latency(creds.get_frozen_credentials, 1.0, HANG_READERS))
                calls.append(hung.count)
                hung.release()
                creds.wait_for_background()
    ours = max(worst_by_round)
    return Result(
        "hang",
        "reads while STS hangs, valid credentials held: slowest read of all",
        "no baseline: botocore readers block for the whole call",
        ours * 1e3,
        0.0,
        "ms",
        "none waits > 10 ms",
        None,
        ours <= 10e-3 and all(c == 1 for c in calls),
        [
            f"{HANG_READERS} reader threads reading every ~0.2 ms for 1 s while the one refresh attempt "
            f"hangs inside STS; {rounds} rounds alternating the advisory (200 s left) and mandatory "
            f"(30 s left) windows. Slowest read of each round: "
            f"{', '.join(f'{w * 1e3:.2f}' for w in worst_by_round)} ms; STS attempts per round: {calls} "
            "(one attempt, which hangs; no reader waits for it)."
        ],
    )


# -- 5c. concurrent first requests ----------------------------------------------------------------


COLD_THREADS = 32


def cold_start(quick: bool, log: Log) -> Result:
    log("32 concurrent first requests for one role")
    rounds = 3 if quick else 5
    calls, objects = [], []
    with mock_aws():
        for _ in range(rounds):
            reset_library()
            role = _new_role("Cold")
            barrier = threading.Barrier(COLD_THREADS)
            sessions: list[Any] = [None] * COLD_THREADS

            def first_request(
                i: int, role: str = role, barrier: Any = barrier, sessions: Any = sessions
            ) -> None:
                barrier.wait()
                session = rolesession.assume_role(role)
                session.get_credentials().get_frozen_credentials()
                sessions[i] = session

            with _StsCounter() as counter:
                counter.delay = 0.2  # every request arrives while the first call is under way
                threads = [threading.Thread(target=first_request, args=(i,)) for i in range(COLD_THREADS)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
            calls.append(counter.count)
            objects.append(len({id(s) for s in sessions}))
    return Result(
        "cold",
        "32 concurrent first requests for one role: STS calls",
        "no baseline: each boto3 caller makes its own call",
        float(max(calls)),
        float(COLD_THREADS),
        "STS calls",
        "1 STS call",
        None,
        all(c == 1 for c in calls) and all(o == 1 for o in objects),
        [
            f"{COLD_THREADS} threads released by a barrier call `assume_role()` for the same uncached role "
            f"and read credentials, STS slowed to 200 ms; {rounds} rounds. STS calls per round: {calls}; "
            f"distinct session objects per round: {objects}."
        ],
    )


# -- 5d. the async hot path -------------------------------------------------------------------------

AIO_PYTHON = Path(__file__).resolve().parent.parent / ".venv-aio" / "bin" / "python"


def aio_hot_path(quick: bool, log: Log) -> Result:
    log("async hot path (rolesession.aio, in .venv-aio)")
    what = "`await get_frozen_credentials()`, fresh credentials (`rolesession.aio`)"
    baseline_what = "aiobotocore `AioRefreshableCredentials`"
    if not AIO_PYTHON.exists():
        return Result("aio", what, baseline_what, 0.0, 0.0, "µs", "≥ 20x faster", None, None,
                      ["not measured: run `make aio` first (aiobotocore lives in .venv-aio)"])  # fmt: skip
    done = subprocess.run(
        [str(AIO_PYTHON), str(Path(__file__).resolve().parent / "aio_case.py")],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    measured = json.loads(done.stdout)
    ours, baseline = measured["ours"], measured["baseline"]
    return Result(
        "aio",
        what,
        baseline_what,
        ours * 1e6,
        baseline * 1e6,
        "µs",
        "≥ 20x faster",
        baseline / ours,
        baseline / ours >= 20,
        [
            "Measured in the `.venv-aio` environment (aiobotocore pins its own botocore): median of 9 "
            "runs of 20,000 awaits on one event loop, both credential sets an hour from expiry."
        ],
    )


# -- 6. import time -------------------------------------------------------------------------------

_IMPORT_PROBE = (
    "import time\n"
    "t0 = time.perf_counter()\n"
    "import boto3\n"
    "t1 = time.perf_counter()\n"
    "import rolesession\n"
    "t2 = time.perf_counter()\n"
    # The package imports its modules on first use (PEP 562): what a program pays is
    # the import and its first entry point, so that is what is measured.
    "rolesession.assume_role\n"
    "t3 = time.perf_counter()\n"
    "print(t1 - t0, t3 - t1, t2 - t1)\n"
)


def import_time(quick: bool, log: Log) -> Result:
    log("import rolesession vs import boto3 (fresh interpreters)")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    # An installed package has its bytecode compiled; make sure ours is too,
    # as boto3's already is (PYTHONDONTWRITEBYTECODE would otherwise charge
    # rolesession a compilation at every import).
    subprocess.run([sys.executable, "-c", "import rolesession"], env=env, check=True)
    boto3_times, extra_times, bare_times = [], [], []
    for _ in range(5 if quick else 11):
        out = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE], env=env, check=True, capture_output=True, text=True
        ).stdout.split()
        boto3_times.append(float(out[0]))
        extra_times.append(float(out[1]))
        bare_times.append(float(out[2]))
    boto3_ms = statistics.median(boto3_times) * 1e3
    extra_ms = statistics.median(extra_times) * 1e3
    bare_ms = statistics.median(bare_times) * 1e3
    # Where the increment goes: -X importtime's self times of what boto3 did not import.
    trace = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import boto3, rolesession; rolesession.assume_role"],
        env=env, check=True, capture_output=True, text=True,
    ).stderr.splitlines()
    start = next(i for i, line in enumerate(trace) if line.endswith("| boto3")) + 1
    after = [line.split("|") for line in trace[start:]]
    selfs = sorted(((int(cols[0].split(":")[1]), cols[2].strip()) for cols in after), reverse=True)
    top = ", ".join(f"{name} {us / 1000:.1f}" for us, name in selfs[:8])
    return Result(
        "import",
        "`import rolesession` and its first entry point (`rolesession.assume_role`)",
        "`import boto3`",
        boto3_ms + extra_ms,
        boto3_ms,
        "ms",
        "≤ +20 ms",
        None,
        extra_ms <= 20,
        [
            f"+{extra_ms:.1f} ms over boto3 (median; measured in the same fresh interpreter, after boto3: "
            f"`import rolesession` alone {bare_ms:.1f} ms, the rest is the first use of a public name, "
            f"which imports the modules behind it); largest self times in ms (-X importtime, one run): {top}"
        ],
    )


# -- extra measurements (no SPEC target) -------------------------------------------------------------


def session_costs(quick: bool, log: Log) -> list[str]:
    log("informational: session construction and first client")
    n = 30 if quick else 100
    lines = []
    with mock_aws():
        existing = rolesession.assume_role(_new_role())
        existing.client("sts")
        new_session, first_client, another_client = [], [], []
        for _ in range(n):
            t0 = time.perf_counter()
            session = rolesession.assume_role(_new_role())
            t1 = time.perf_counter()
            session.client("sts")
            t2 = time.perf_counter()
            existing.client("sts")
            t3 = time.perf_counter()
            new_session.append(t1 - t0)
            first_client.append(t2 - t1)
            another_client.append(t3 - t2)
        fresh = median_time(lambda: boto3.Session().client("sts"), 3 if quick else 5)
    med = statistics.median
    lines.append(
        f"- `assume_role()` for a new role (no STS call): {med(new_session) * 1e3:.2f} ms"
    )
    lines.append(
        f"- first STS client in a new `RoleSession`: {med(first_client) * 1e3:.2f} ms; another client in an "
        f"existing session: {med(another_client) * 1e3:.2f} ms; a fresh `boto3.Session().client('sts')`: "
        f"{fresh * 1e3:.1f} ms"
    )
    return lines


# -- the environment of a run ----------------------------------------------------------------

INFO: list[str] = []


def environment() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            cpu = names[0]
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    from importlib.metadata import version

    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": (
            f"boto3 {boto3.__version__}, botocore {botocore.__version__}, moto {version('moto')}, "
            f"freezegun {version('freezegun')}, rolesession {rolesession.__version__}"
        ),
        "load": load,
        "info": "\n".join(INFO),
    }


__all__ = ["CASES", "INFO", "environment", "reset_library", "session_costs"]


#: The library's own cases, in the order they run (`run.py` adds the other modules').
CASES = (
    hot_path, warm_reassume, short_credentials, fan_out, advisory_refresh, hanging_sts, cold_start,
    aio_hot_path, import_time,
)

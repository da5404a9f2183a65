"""The results table (Markdown, printed and written) and the docs/performance.md page."""

from __future__ import annotations

from typing import Any


def _number(value: float, unit: str) -> str:
    if unit in ("STS calls", "helper runs"):
        return f"{value:.0f} {unit}"
    if value >= 100:
        return f"{value:,.0f} {unit}"
    if value >= 10:
        return f"{value:.1f} {unit}"
    if value >= 1:
        return f"{value:.2f} {unit}"
    return f"{value:.3f} {unit}"


def _ratio(result: Any) -> str:
    if result.key == "import":
        return f"+{result.ours - result.baseline:.1f} ms"
    if result.ratio is None:
        return "—"
    return f"{result.ratio:,.0f}x" if result.ratio >= 10 else f"{result.ratio:.1f}x"


def table(results: list[Any]) -> str:
    rows = [
        "| what | rolesession | baseline | ratio | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        verdict = "—" if r.passed is None else ("**pass**" if r.passed else "**FAIL**")
        rows.append(
            f"| {r.what} | {_number(r.ours, r.unit)} | {_number(r.baseline, r.unit)} ({r.baseline_what}) "
            f"| {_ratio(r)} | {r.target} | {verdict} |"
        )
    return "\n".join(rows)


_METHOD = """\
## Method

`make bench` runs `benchmarks/run.py`, which measures each target and its
baseline side by side in one process (the import case in fresh interpreters),
prints the table and rewrites this page. It takes about a minute on 2 cores
(`--quick` for a smoke run). STS is moto in-process (`mock_aws`), so an STS
call costs what moto and botocore cost in this process -- the same on both
sides of a comparison -- and no network time.

- **Hot path.** `timeit` of `get_frozen_credentials()` on a `RoleSession`'s
  credentials (fresh, an hour left) against botocore's
  `RefreshableCredentials` with the same hour left; median of 9 repeats.
- **Warm re-assume.** `assume_role()` asked again for a role whose session
  holds cached credentials, as a warm Lambda invocation does; STS calls are
  counted around the loop. Baseline: what a handler without rolesession does
  per invocation -- AssumeRole on a kept STS client, then a new
  `boto3.Session` from the answer.
- **15-minute credentials.** Under freezegun, 100 reads 3 s apart (5 minutes)
  of a `RoleSession` assumed with `duration=900`, against botocore's own
  role-assumption credentials (`AssumeRoleCredentialFetcher` +
  `DeferredRefreshableCredentials`, as for a `role_arn` profile), which
  refresh 15 minutes before expiry.
- **Fan-out.** `fan_out()` over new accounts, each entry making an STS client
  and calling GetCallerIdentity, against the same work done with a new
  `boto3.Session` per account (AssumeRole on one source client); same thread
  count on both sides; time per account is the median over rounds. Memory:
  `tracemalloc`, growth per account with each account's session and client
  kept alive.
- **Advisory refresh.** STS is slowed to 200 ms (a real sleep before each
  call). A session adopts, from a cache, 15-minute credentials 200 s before
  their expiry -- inside the advisory window, which starts the background
  refresh -- and 4 reader threads read every ~0.2 ms for 0.6 s. The figure
  is the median over 7 rounds of each round's slowest read; to pass, it must
  be ≤ 2 ms, no read in any round may take 50 ms (a reader waiting for the
  refresh would take ~200 ms), and each round's new credentials must have
  arrived with exactly one STS call.
  Baseline: botocore's `RefreshableCredentials` 12 minutes before expiry
  (inside its 15-minute advisory window) with a refresh that sleeps 200 ms.
- **A hanging STS.** Credentials are held 200 s (advisory window) or 30 s
  (mandatory window) before expiry, alternately over 5 rounds, and every STS
  call hangs until the round ends. 8 reader threads read every ~0.2 ms for
  1 s; the figure is the slowest read of all rounds, which must stay under
  10 ms, with exactly one (hanging) attempt per round.
- **Concurrent first requests.** 32 threads, released together by a
  barrier, call `assume_role()` for the same uncached role and read its
  credentials, STS slowed to 200 ms; over 5 rounds every round must make
  exactly one STS call and hand all 32 threads the same session object.
- **Async hot path.** In `.venv-aio` (aiobotocore pins its own botocore):
  `await credentials.get_frozen_credentials()` on a `rolesession.aio`
  session's fresh credentials against aiobotocore's `AioRefreshableCredentials`
  an hour from expiry; median of 9 runs of 20,000 awaits on one event loop.
- **The default chain** (`benchmarks/default_chain_cases.py`). Both sides
  read the same loopback fakes: a container endpoint and a counting
  `credential_process` helper. *Fresh read*: `timeit` of the credentials
  `boto3.client()` signs with after `rolesession.install()` against a
  `boto3.Session()`'s (botocore's `ContainerProvider`), an hour left. *Slow
  endpoint*: 30 s before expiry, every container request takes 1.9 s (just
  under botocore's 2 s timeout, so both sides' refreshes succeed); 8 reader
  threads read every ~0.2 ms for 2.5 s, on each side in turn, over 5 rounds;
  the figure is the median of each round's slowest read, and to pass no read
  of any round may take 100 ms (waiting for the endpoint takes 1.9 s).
  *Cold*: 32 threads released by a barrier on a `credential_process`
  profile (`from_environment()` each, against one shared `boto3.Session()`);
  helper runs counted. *15 minutes*: under freezegun, 100 reads 3 s apart of
  15-minute helper credentials.
- **Import.** In a fresh interpreter: time `import boto3`, then
  `import rolesession` (the increment is what rolesession adds); median of 11
  interpreters. Bytecode is compiled first, as an installed wheel has it.
- **CLI hand-out.** Fresh interpreters, wall time, median of 11: `python -c
  pass`, `rolesession --version`, and `rolesession assume ARN --format
  credential-process` answered from the file cache (STS is a moto server on
  loopback; the first run fills the cache). Then an `aws sts
  get-caller-identity`-like boto3 script, 10 runs, with a profile whose
  `credential_process` is the CLI against a static-keys profile.
"""


def page(results: list[Any], table_md: str, env: dict[str, str]) -> str:
    notes = "\n".join(f"- **{r.what}**: {note}" for r in results for note in r.notes)
    return f"""# Performance

Every target of the specification, measured against its baseline in the same
run. This page is written by `make bench`; numbers vary with the machine and
its load, the ratios much less.

## Results

Run {env['date']} on {env['machine']}; {env['python']}; {env['versions']}.
Load average at the start: {env['load']}.

{table_md}

{notes}

Other measurements from the same run:

{env['info']}

{_METHOD}
## Why it is fast

- **Hot path**: the held credentials are an immutable snapshot with a
  precomputed refresh time; a read is one `time.time()` and one float
  comparison, without lock or datetime arithmetic. botocore's
  `RefreshableCredentials` builds a timezone-aware `datetime` and takes a lock
  on every read.
- **Warm re-assume**: equal parameters from the same source map to the same
  `RoleSession` (a registry keyed by the validated request), so a warm
  invocation validates its input and returns the existing session. See the
  [Lambda guide](guides/lambda.md) for what you may rely on.
- **Refresh windows**: relative to the credentials' lifetime (5 minutes for
  15-minute credentials), so short credentials are not refreshed per request;
  refreshes run on long-lived worker threads while readers keep the held
  credentials, so no read waits for STS (or for a thread to start) while
  valid credentials are held.
- **Concurrent first requests**: the warm-session registry's get-or-create is
  atomic, so identical requests get one session, whose engine makes one
  attempt for all its waiting readers.
- **Fan-out**: every session the library makes shares botocore's data loader
  (service models and endpoint rules are loaded once per process), the
  endpoint resolver and the modelled exception classes; sessions start from
  an O(1) copy-on-write copy of botocore's ~120 built-in event handlers
  instead of registering them again, and clients copy their session's
  handlers the same way, so a new session with its first STS client costs a
  few milliseconds and about a hundred KiB instead of tens of milliseconds
  and ~8 MB (the fan-out rows above measure it with a GetCallerIdentity call
  per account).
- **Import**: the CLI, the file cache (and its lock), `fan_out` and moto are
  imported on first use.
"""

"""fan_out over 10,000 accounts against a loopback STS that throttles 20 % of requests.

    python benchmarks/scale.py                       # 10,000 accounts, every retry mode
    python benchmarks/scale.py --accounts 300        # a smoke run
    python benchmarks/scale.py --fn identity         # fn makes an STS client, calls GetCallerIdentity
    python benchmarks/scale.py --no-write --json out.json

Three processes, so that each number belongs to one of them:

* a server process: a moto server on loopback and, in front of it, a small
  *gate* of this file that answers a random ``--throttle`` share of STS
  requests (any action) with STS's ``Throttling`` error (HTTP 400) and
  forwards the rest; it counts requests, throttles and distinct roles;
* one fresh *run* process per mode (``--modes``: no throttling, then the
  library's default retries, standard mode with 10 attempts and adaptive
  mode with 10, the last on ``--adaptive-accounts`` only, as it crawls):
  ``rolesession.fan_out`` over
  ``--accounts`` role ARNs, each in its own account, on fan_out's own thread
  pool, measured with tracemalloc and ``/proc`` (RSS) -- moto's own memory
  (it keeps every assumed role) stays out of the figures;
* this process, which starts the others, prints the table and (unless
  ``--no-write``) rewrites the "10,000 accounts" figures in
  ``docs/guides/distributed.md``.

``--fn credentials`` (the default) reads each session's frozen credentials:
exactly one AssumeRole per account, so every retry counted is the library's
own STS client absorbing a throttle under the ``sts_config`` being compared.
``--fn identity`` makes an STS client from each session and calls
GetCallerIdentity (the SPEC's fan-out workload); that client has boto3's
default retry settings, which the modes here do not change. (moto finds the
account of each assumed-role key by scanning every account it knows, so at
10,000 accounts moto, not the library, is what ``--fn identity`` measures.)
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gc
import http.client
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOC = ROOT / "docs" / "guides" / "distributed.md"
BEGIN, END = "<!-- scale:begin -->", "<!-- scale:end -->"

#: The runs compared: name -> (``retries`` of ``sts_config``, STS throttled?).
#: ``None`` is fan_out's default (standard mode, 10 attempts; the library's
#: interactive default elsewhere is 3 attempts: "standard-3").
MODES: dict[str, tuple[dict[str, Any] | None, bool]] = {
    "unthrottled": (None, False),
    "standard-3": ({"mode": "standard", "total_max_attempts": 3}, True),  # the library's interactive default
    "default": (None, True),  # fan_out's own: standard mode, 10 attempts
    "standard-10": ({"mode": "standard", "max_attempts": 10}, True),
    "adaptive-10": ({"mode": "adaptive", "max_attempts": 10}, True),
}
STATS_PATH = "/_gate/stats"
# The source key a run process is to use, handed over in its environment (not its command line).
_KEY_VAR, _SECRET_VAR = "SCALE_SOURCE_KEY_ID", "SCALE_SOURCE_SECRET"
RESET_PATH = "/_gate/reset"


# -- the gate: a throttling, counting proxy in front of moto ------------------------------


class GateStats:
    """Per STS action: requests, throttled answers, upstream statuses, distinct roles and keys."""

    def __init__(self, throttle: float, seed: int) -> None:
        self.throttle = throttle
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.reset()

    def reset(self, throttle: float | None = None) -> None:
        with self._lock:
            if throttle is not None:
                self.throttle = throttle
            self.requests: collections.Counter[str] = collections.Counter()
            self.throttled: collections.Counter[str] = collections.Counter()
            self.statuses: collections.Counter[str] = collections.Counter()
            self.roles: set[str] = set()
            self.keys: dict[str, set[str]] = collections.defaultdict(set)

    def admit(self, action: str, role: str | None, access_key: str | None) -> bool:
        """Count a request; ``False`` when it is to be throttled."""
        with self._lock:
            self.requests[action] += 1
            if role:
                self.roles.add(role)
            if access_key:
                self.keys[action].add(access_key)
            if self._random.random() < self.throttle:
                self.throttled[action] += 1
                return False
            return True

    def answered(self, action: str, status: int) -> None:
        with self._lock:
            self.statuses[f"{action} {status}"] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "throttle": self.throttle,
                "requests": dict(self.requests),
                "throttled": dict(self.throttled),
                "statuses": dict(self.statuses),
                "distinct_roles": len(self.roles),
                "distinct_keys": {action: len(keys) for action, keys in self.keys.items()},
            }


_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")
_THROTTLED = (
    '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
    "<Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    "<RequestId>{}</RequestId></ErrorResponse>"
)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class _Gate(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, upstream: tuple[str, int], stats: GateStats) -> None:
        super().__init__(("127.0.0.1", 0), _GateHandler)
        self.upstream = upstream
        self.stats = stats


class _GateHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: botocore reuses its pooled connections
    server: _Gate

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == STATS_PATH:
            snapshot = json.dumps(self.server.stats.snapshot())
            self._answer(200, [("Content-Type", "application/json")], snapshot)
        elif self.path.startswith(RESET_PATH + "?throttle="):
            self.server.stats.reset(float(self.path.partition("=")[2]))
            self._answer(200, [("Content-Type", "application/json")], "{}")
        else:
            self._proxy()

    def do_POST(self) -> None:
        self._proxy()

    def _proxy(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        action = form.get("Action", "other")
        match = _CREDENTIAL.search(self.headers.get("Authorization", ""))
        stats = self.server.stats
        if not stats.admit(action, form.get("RoleArn"), match.group(1) if match else None):
            text = _THROTTLED.format(uuid.uuid4())
            self._answer(400, [("Content-Type", "text/xml")], text)
            return
        status, headers, answer = self._forward(body)
        stats.answered(action, status)
        self._answer(status, headers, answer)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        # One upstream connection per client connection (this handler's thread), reused.
        conn = getattr(self, "_upstream", None)
        if conn is None:
            conn = self._upstream = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException):
            conn.close()  # a stale keep-alive connection: once more on a new one
            conn.request(self.command, self.path, body=body or None, headers=headers)
            response = conn.getresponse()
        payload = response.read()
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        return response.status, kept, payload

    def _answer(self, status: int, headers: list[tuple[str, str]], body: str | bytes) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextlib.contextmanager
def serving(throttle: float, seed: int = 20260301) -> Iterator[tuple[str, str]]:
    """A moto server and a gate in front of it, in this process: yields (moto URL, gate URL)."""
    from moto.server import ThreadedMotoServer

    with _socket_on_loopback() as port:
        pass
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    gate = _Gate(("127.0.0.1", port), GateStats(throttle, seed))
    thread = threading.Thread(target=gate.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{gate.server_address[1]}"
    finally:
        gate.shutdown()
        gate.server_close()
        moto.stop()


@contextlib.contextmanager
def _socket_on_loopback() -> Iterator[int]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])


def _serve(throttle: float) -> int:
    """``--serve``: print the URLs and source keys as one JSON line, serve until standard input closes."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    with serving(throttle) as (moto_url, gate_url):
        key_id, secret = _source_user(moto_url)
        urls = {"moto": moto_url, "gate": gate_url}
        print(json.dumps({**urls, "key_id": key_id, "secret": secret}), flush=True)
        sys.stdin.read()
    return 0


def _source_user(moto_url: str) -> tuple[str, str]:
    """An IAM user's access key in moto's default account: the runs' source credentials.

    moto finds the account of every request's signer by scanning its
    accounts' IAM keys, in the order the accounts were first used. A key
    that exists, in the first account, is found at once; an unknown one
    scans all 10,000 accounts each time, and moto -- not the library --
    would set the pace. This also loads moto's STS backend before any run.
    """
    import boto3

    session = boto3.Session(
        aws_access_key_id="AKIAROLESESSIONSETUP", aws_secret_access_key="setup", region_name="us-east-1"
    )
    iam = session.client("iam", endpoint_url=moto_url)
    iam.create_user(UserName="scale-source")
    key = iam.create_access_key(UserName="scale-source")["AccessKey"]
    sts = session.client("sts", endpoint_url=moto_url)
    sts.assume_role(RoleArn="arn:aws:iam::000000000000:role/WarmUp", RoleSessionName="warm-up")
    return key["AccessKeyId"], key["SecretAccessKey"]


def _get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


# -- one measured run (its own process) ----------------------------------------------------


def _isolate_environment(gate: str) -> None:
    """moto's source credentials (handed over in the environment), no AWS config files, a private cache."""
    key_id, secret = os.environ[_KEY_VAR], os.environ[_SECRET_VAR]
    for name in list(os.environ):
        if name.startswith("AWS_") or name in (_KEY_VAR, _SECRET_VAR):
            del os.environ[name]
    scratch = tempfile.mkdtemp(prefix="rolesession-scale-")
    os.environ.update(
        AWS_ACCESS_KEY_ID=key_id,
        AWS_SECRET_ACCESS_KEY=secret,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.path.join(scratch, "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(scratch, "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        # The fn's own clients (--fn identity) reach STS through the gate too.
        AWS_ENDPOINT_URL_STS=gate,
        XDG_CACHE_HOME=os.path.join(scratch, "cache"),
    )


def role_arns(count: int) -> list[str]:
    """``count`` role ARNs, each in a different 12-digit account."""
    return [f"arn:aws:iam::{100000000000 + i:012d}:role/Auditor" for i in range(count)]


def read_credentials(session: Any) -> str:
    """The entry's access key id: one AssumeRole, no other AWS call."""
    return str(session.get_credentials().get_frozen_credentials().access_key)


def caller_identity(session: Any) -> str:
    """The account STS says the entry's credentials belong to."""
    return str(session.client("sts").get_caller_identity()["Account"])


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _live_role_sessions() -> int:
    from rolesession import RoleSession

    return sum(1 for o in gc.get_objects() if isinstance(o, RoleSession))


def _run(
    mode: str, gate: str, accounts: int, workers: int, fn_name: str, *, progress: bool, traced: bool
) -> dict[str, Any]:
    """``--run``: fan_out in this fresh process; returns the figures as a dict."""
    _isolate_environment(gate)
    import botocore.config

    import rolesession
    import rolesession.testing

    retries, _ = MODES[mode]
    config = None if retries is None else botocore.config.Config(retries=retries)
    fn = read_credentials if fn_name == "credentials" else caller_identity
    arns = role_arns(accounts)
    gc.collect()
    rss_before = _rss_bytes()
    if traced:
        tracemalloc.start()
    base = _traced()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    results = rolesession.fan_out(
        arns, fn, max_workers=workers, progress=progress, sts_endpoint_url=gate, sts_config=config
    )
    wall = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu_before
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    returned = _traced()
    rss_returned = _rss_bytes()

    in_order = len(results) == accounts and all(r.role_arn == a for r, a in zip(results, arns, strict=True))
    ok = sum(1 for r in results if r.ok)
    errors = collections.Counter(_error_name(r.error) for r in results if r.error is not None)
    seconds = sorted(r.seconds for r in results)
    del results
    gc.collect()
    after_gc = _traced()
    registry = rolesession.testing.warm_session_count()
    sessions_alive = _live_role_sessions()
    cached = len(rolesession.default_cache())
    # What the warm-session registry itself holds: empty it and measure again.
    rolesession.testing.forget_sessions()
    gc.collect()
    without_registry = _traced()
    sessions_after_clear = _live_role_sessions()
    tracemalloc.stop()

    mb = 2**20
    return {
        "mode": mode,
        "retries_config": retries,
        "throttled": MODES[mode][1],
        "fn": fn_name,
        "accounts": accounts,
        "workers": workers,
        "tracemalloc": traced,
        "wall_s": wall,
        "entries_per_s": accounts / wall if wall else 0.0,
        "cpu_ms_per_entry": cpu * 1000 / accounts,
        "entry_p50_s": seconds[len(seconds) // 2],
        "entry_max_s": seconds[-1],
        "in_order": in_order,
        "ok": ok,
        "errors": dict(errors),
        "rss_before_mb": rss_before / mb,
        "rss_returned_mb": rss_returned / mb,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "traced_peak_mb": (peak - base) / mb,
        "traced_returned_mb": (returned - base) / mb,
        "traced_after_gc_mb": (after_gc - base) / mb,
        "traced_without_registry_mb": (without_registry - base) / mb,
        "peak_kb_per_entry": (peak - base) / 1024 / accounts,
        "kept_kb_per_entry": (after_gc - base) / 1024 / accounts,
        "registry_sessions": registry,
        "sessions_alive_after_gc": sessions_alive,
        "sessions_alive_without_registry": sessions_after_clear,
        "cached_credentials": cached,
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _traced() -> int:
    return tracemalloc.get_traced_memory()[0] if tracemalloc.is_tracing() else 0


def _error_name(error: BaseException | None) -> str:
    code = getattr(error, "code", None)
    return f"{type(error).__name__}({code})" if code else type(error).__name__


# -- the orchestrating process --------------------------------------------------------------


def _measure(args: argparse.Namespace) -> list[dict[str, Any]]:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--throttle", str(args.throttle)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        urls = json.loads(server.stdout.readline())
        env = {**os.environ, _KEY_VAR: urls["key_id"], _SECRET_VAR: urls["secret"]}
        return [_measure_mode(mode, urls["gate"], env, args) for mode in args.modes]
    finally:
        if server.stdin is not None:
            server.stdin.close()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _measure_mode(mode: str, gate: str, env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    throttled = MODES[mode][1]
    _get_json(f"{gate}{RESET_PATH}?throttle={args.throttle if throttled else 0.0}")
    # adaptive mode slows its whole client down after each throttle (see the docs): capped.
    accounts = min(args.accounts, args.adaptive_accounts) if mode.startswith("adaptive") else args.accounts
    print(f"scale: {mode}, {accounts} accounts ...", file=sys.stderr, flush=True)
    load_before = os.getloadavg()[0]
    command = [sys.executable, __file__, "--run", mode, "--gate", gate, "--accounts", str(accounts)]
    command += ["--workers", str(args.workers), "--fn", args.fn]
    command += ["--progress"] if args.progress else []
    command += ["--no-tracemalloc"] if args.no_tracemalloc else []
    done = subprocess.run(
        command, stdout=subprocess.PIPE, text=True, check=True, timeout=args.timeout, env=env
    )
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    row["sts"] = _sts_figures(_get_json(gate + STATS_PATH), args.fn)
    row["load"] = [load_before, os.getloadavg()[0]]  # 1-minute load average: others' work skews time
    return row


def _sts_figures(stats: dict[str, Any], fn_name: str) -> dict[str, Any]:
    requests = stats["requests"]
    assume_requests = requests.get("AssumeRole", 0)
    figures = {
        "throttle": stats["throttle"],
        "requests": sum(requests.values()),
        "throttled": sum(stats["throttled"].values()),
        "assume_role": assume_requests,
        "assume_role_throttled": stats["throttled"].get("AssumeRole", 0),
        # One logical AssumeRole per distinct role: every request beyond is a retry.
        "assume_role_retries": assume_requests - stats["distinct_roles"],
        "statuses": stats["statuses"],
    }
    if fn_name == "identity":
        identity = requests.get("GetCallerIdentity", 0)
        figures["get_caller_identity"] = identity
        # Each entry signs with its own assumed keys: one logical call per distinct key.
        figures["get_caller_identity_retries"] = identity - stats["distinct_keys"].get("GetCallerIdentity", 0)
    return figures


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| retries (`sts_config`) | STS throttled | accounts | wall | entries/s | caller CPU per entry "
        "| ok | errors | AssumeRole requests | throttled | retries | peak traced (per entry) "
        "| kept after gc | sessions kept | kept without the registry | peak RSS |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        sts = r["sts"]
        errors = ", ".join(f"{v} {k}" for k, v in sorted(r["errors"].items())) or "0"
        traced = (
            f"{r['traced_peak_mb']:.0f} MB ({r['peak_kb_per_entry']:.0f} KB)" if r["tracemalloc"] else "n/a"
        )
        kept = f"{r['traced_after_gc_mb']:.0f} MB" if r["tracemalloc"] else "n/a"
        bare = f"{r['traced_without_registry_mb']:.0f} MB" if r["tracemalloc"] else "n/a"
        lines.append(
            f"| {_mode_label(r)} | {sts['throttle']:.0%} | {r['accounts']:,} | {r['wall_s']:.1f} s "
            f"| {r['entries_per_s']:.0f} | {r['cpu_ms_per_entry']:.1f} ms | {r['ok']:,} | {errors} "
            f"| {sts['assume_role']:,} | {sts['assume_role_throttled']:,} | {sts['assume_role_retries']:,} "
            f"| {traced} | {kept} | {r['sessions_alive_after_gc']:,} | {bare} | {r['rss_peak_mb']:.0f} MB |"
        )
    return "\n".join(lines)


def _mode_label(row: dict[str, Any]) -> str:
    retries = row["retries_config"]
    if retries is None:
        return "fan_out's default (standard, 10 attempts)"
    attempts = retries.get("max_attempts", retries.get("total_max_attempts"))
    return f"{retries['mode']}, {attempts} attempts"


def _environment() -> str:
    import platform
    from importlib.metadata import version

    return (
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs; boto3 {version('boto3')}, "
        f"botocore {version('botocore')}, moto {version('moto')}"
    )


def write_doc(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    text = DOC.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC.relative_to(ROOT)} has no {BEGIN} ... {END} section to fill")
    first = rows[0]
    loads = [x for r in rows for x in r.get("load", [])]
    load = f" 1-minute load average {min(loads):.1f}-{max(loads):.1f}." if loads else ""
    note = f" {args.note}" if args.note else ""
    body = "\n".join(
        [
            BEGIN,
            f"Measured {time.strftime('%Y-%m-%d')} with `python benchmarks/scale.py --accounts "
            f"{first['accounts']} --fn {first['fn']}`: {first['accounts']:,} accounts, "
            f"{max(r['sts']['throttle'] for r in rows):.0%} of STS requests throttled, fan_out's thread "
            f"pool of {first['workers']}; {_environment()}.{load}{note}",
            "",
            table(rows),
            "",
            "*peak traced*: tracemalloc's peak during the call, above the level before it; "
            "*kept after gc*: still allocated once the results are dropped and `gc.collect()` ran; "
            "*sessions kept*: `RoleSession` objects alive then; *kept without the registry*: the same "
            "after emptying the warm-session registry. *Peak RSS* includes tracemalloc's own bookkeeping.",
            END,
        ]
    )
    start, end = text.index(BEGIN), text.index(END) + len(END)
    DOC.write_text(text[:start] + body + text[end:], encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000, help="role ARNs, one per account")
    parser.add_argument("--throttle", type=float, default=0.2, help="share of STS requests throttled")
    parser.add_argument("--workers", type=int, default=16, help="fan_out's max_workers")
    parser.add_argument("--fn", choices=("credentials", "identity"), default="credentials")
    parser.add_argument("--modes", type=lambda s: s.split(","), default=list(MODES), help="comma list")
    parser.add_argument("--progress", action="store_true", help="fan_out's progress bar on stderr")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per mode")
    parser.add_argument(
        "--adaptive-accounts", type=int, default=500, help="accounts for adaptive mode (it is slow)"
    )
    parser.add_argument("--no-tracemalloc", action="store_true", help="time without tracemalloc's overhead")
    parser.add_argument("--no-write", action="store_true", help=f"do not rewrite {DOC.name}")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--from-json", type=Path, help="measure nothing: table and docs from this file")
    parser.add_argument("--note", help="a sentence added to the docs after the set-up")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run", choices=list(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--gate", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.accounts < 1 or args.workers < 1 or not 0 <= args.throttle < 1:
        parser.error("--accounts and --workers must be positive, --throttle in [0, 1)")
    unknown = [m for m in args.modes if m not in MODES]
    if unknown:
        parser.error(f"unknown mode {unknown[0]!r}; choose from {', '.join(MODES)}")

    if args.serve:
        return _serve(args.throttle)
    if args.run:
        traced = not args.no_tracemalloc
        figures = _run(
            args.run, args.gate, args.accounts, args.workers, args.fn, progress=args.progress, traced=traced
        )
        print(json.dumps(figures))
        return 0

    rows = json.loads(args.from_json.read_text()) if args.from_json else _measure(args)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    if not args.no_write:
        write_doc(rows, args)
    # Every entry must get a result, in order.
    return 0 if all(r["in_order"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

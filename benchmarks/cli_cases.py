"""The command line as a ``credential_process``: what every ``aws …`` command pays to start it.

Fresh interpreters, wall time, medians; STS is a moto server on loopback
(the CLI runs in its own process). Imported by ``cases.run_all``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from moto.server import ThreadedMotoServer

from measure import Log, Result

ROLE = "arn:aws:iam::123456789012:role/Bench"


def _wall(argv: list[str], env: dict[str, str], runs: int) -> float:
    """Median wall seconds of ``argv`` run ``runs`` times (each must succeed)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def cli_handout(quick: bool, log: Log) -> Result:
    log("CLI: a cached credential-process hand-out vs python -c pass (fresh interpreters)")
    runs = 5 if quick else 11
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        assume = [sys.executable, "-m", "rolesession", "assume", ROLE, "--format", "credential-process",
                  "--sts-endpoint-url", endpoint]  # fmt: skip
        subprocess.run(assume, env=env, check=True, capture_output=True)  # fills the file cache
        nothing = _wall([sys.executable, "-c", "pass"], env, runs)
        version = _wall([sys.executable, "-m", "rolesession", "--version"], env, runs)
        cached = _wall(assume, env, runs)
        # The floor under the cached path: the modules it loads (the memo's key, the file cache's
        # reader, the documents), without reading or printing anything.
        floor = _wall([sys.executable, "-c", "import rolesession.cli.fast"], env, runs)
        # Without a memo (its first run after another process filled the cache): the keys computed
        # again from the parsed options, still without boto3.
        recomputed = _wall([sys.executable, "-c", _NO_MEMO, *assume[3:]], env, runs)
        # Today's full path, for comparison: the same run with boto3 imported first
        # (the cached path's own answer, after what the full path always paid).
        full = _wall([sys.executable, "-c", _FULL, *assume[3:]], env, runs)
        # ``exec`` answered from the same entries (its command: ``true``), against the same with boto3
        # loaded first.
        run_true = ["exec", ROLE, "--sts-endpoint-url", endpoint, "--", "true"]
        exec_cached = _wall([sys.executable, "-m", "rolesession", *run_true], env, runs)
        exec_full = _wall([sys.executable, "-c", _FULL, *run_true], env, runs)
        helper_cached = _cached_helper(env, runs)
        profile_cached = _cached_profile(endpoint, env, runs)
        through_process = _aws_call_through(endpoint, env, quick)
    finally:
        server.stop()
    return Result(
        "cli-handout",
        "`rolesession assume ARN --format credential-process`, answered from the file cache",
        "`python -c pass`",
        cached * 1e3,
        nothing * 1e3,
        "ms",
        "≤ 3x `python -c pass` (issue 22)",
        None,
        cached <= 3 * nothing,
        [
            f"cached hand-out {cached * 1e3:.0f} ms = {cached / nothing:.1f}x `python -c pass` "
            f"({nothing * 1e3:.0f} ms); the same with boto3 loaded first (what the full path pays) "
            f"{full * 1e3:.0f} ms = {full / nothing:.1f}x; `rolesession --version` {version * 1e3:.0f} ms; "
            f"`import rolesession.cli.fast` alone (the modules the cached path loads: the floor) "
            f"{floor * 1e3:.0f} ms = {floor / nothing:.1f}x; without the hand-out memo (keys computed "
            f"again from the parsed options, no boto3) {recomputed * 1e3:.0f} ms = "
            f"{recomputed / nothing:.1f}x; `exec ARN -- true` from the cache {exec_cached * 1e3:.0f} ms "
            f"= {exec_cached / nothing:.1f}x (with boto3 loaded first {exec_full * 1e3:.0f} ms); "
            f"`cache -- HELPER` answered from the cache {helper_cached * 1e3:.0f} ms = "
            f"{helper_cached / nothing:.1f}x; `assume --profile NAME` (a role profile over static keys) "
            f"from the cache {profile_cached * 1e3:.0f} ms = {profile_cached / nothing:.1f}x",
            through_process,
        ],
    )


_HELPER = textwrap.dedent(
    """\
    import datetime, json
    now = datetime.datetime.now(datetime.timezone.utc)
    print(json.dumps({"Version": 1, "AccessKeyId": "ASIABENCHHELPER00001", "SecretAccessKey": "s",
                      "SessionToken": "t", "Expiration": (now + datetime.timedelta(hours=1)).isoformat()}))
    """
)


def _cached_helper(env: dict[str, str], runs: int) -> float:
    """``rolesession cache -- python helper.py`` answered from the cache (the first run fills it)."""
    with tempfile.TemporaryDirectory(prefix="rolesession-bench-helper-") as scratch:
        script = Path(scratch, "helper.py")
        script.write_text(_HELPER, encoding="utf-8")
        argv = [sys.executable, "-m", "rolesession", "cache", "--", sys.executable, str(script)]
        subprocess.run(argv, env=env, check=True, capture_output=True)
        return _wall(argv, env, runs)


def _cached_profile(endpoint: str, env: dict[str, str], runs: int) -> float:
    """``rolesession assume --profile bench`` (role_arn over a static-keys source profile), cached."""
    with tempfile.TemporaryDirectory(prefix="rolesession-bench-profile-") as scratch:
        config, credentials = Path(scratch, "config"), Path(scratch, "credentials")
        config.write_text(f"[profile bench]\nrole_arn = {ROLE}\nsource_profile = base\n", encoding="utf-8")
        credentials.write_text(
            f"[base]\naws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\n"
            f"aws_secret_access_key = {env['AWS_SECRET_ACCESS_KEY']}\n",
            encoding="utf-8",
        )
        child = {**env, "AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}
        argv = [sys.executable, "-m", "rolesession", "assume", "--profile", "bench", "--format",
                "credential-process", "--sts-endpoint-url", endpoint]  # fmt: skip
        subprocess.run(argv, env=child, check=True, capture_output=True)
        return _wall(argv, child, runs)


#: The CLI with its hand-out memo ignored (`fast.answer` always misses): the parsed path.
_NO_MEMO = (
    "import sys; from rolesession.cli import fast, main; fast.answer = lambda argv: None; "
    "sys.exit(main(sys.argv[1:]))"
)

#: The CLI after importing boto3 (and botocore): the cost every full-path run pays.
_FULL = "import sys, boto3; from rolesession.cli import main; sys.exit(main(sys.argv[1:]))"

_CALLER = textwrap.dedent(
    """\
    import sys, boto3
    session = boto3.Session(profile_name=sys.argv[1])
    session.client("sts", endpoint_url=sys.argv[2]).get_caller_identity()
    """
)


def _aws_call_through(endpoint: str, env: dict[str, str], quick: bool) -> str:
    """``aws sts get-caller-identity``-like: a boto3 script, profile with our CLI vs static keys."""
    runs = 5 if quick else 10
    with tempfile.TemporaryDirectory(prefix="rolesession-bench-cli-") as scratch:
        config = Path(scratch, "config")
        process = (
            f"{sys.executable} -m rolesession assume {ROLE} --format credential-process "
            f"--sts-endpoint-url {endpoint}"
        )
        config.write_text(
            f"[profile viacli]\ncredential_process = {process}\nregion = us-east-1\n\n"
            f"[profile static]\naws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\n"
            f"aws_secret_access_key = {env['AWS_SECRET_ACCESS_KEY']}\nregion = us-east-1\n",
            encoding="utf-8",
        )
        script = Path(scratch, "caller.py")
        script.write_text(_CALLER, encoding="utf-8")
        child = {**env, "AWS_CONFIG_FILE": str(config)}
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            child.pop(name, None)
        # The CLI itself signs with the environment's keys: give them to it through its own line.
        helper_env = {**child, "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
                      "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"]}  # fmt: skip
        # botocore's ProcessProvider runs the helper with the caller's environment.
        via_cli = _wall([sys.executable, str(script), "viacli", endpoint], helper_env, runs)
        static = _wall([sys.executable, str(script), "static", endpoint], child, runs)
    return (
        f"`get-caller-identity` by a boto3 script, {runs} runs (median): through a `credential_process` "
        f"line running the CLI (cached) {via_cli * 1e3:.0f} ms vs a static-keys profile "
        f"{static * 1e3:.0f} ms (+{(via_cli - static) * 1e3:.0f} ms per command)"
    )


CASES = (cli_handout,)

"""The host's clock and STS's disagree.

SPEC "Reliability additions": lifetime and time left are judged against
STS's clock (the response's ``Date`` header); a skew over 60 s logs one
WARNING per process.

The proxy makes STS's clock ``skew`` seconds ahead of the host's (negative:
behind): the ``Date`` header and the credentials' ``<Expiration>`` (written
in STS's clock) both move. 1-hour credentials received at host time T0 then
really expire at host time T0 + 1 h whatever the skew; a library trusting
``Expiration`` against the host clock would think they expire at
T0 + 1 h + skew and refresh 4 minutes late (or early). (Skews stay within
SigV4's ~5-minute tolerance: a successful answer proves the clocks are
closer, and a larger figure is ignored as an artefact.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import rolesession
from helpers import ROLE, ROLE_B

from .faultproxy import FaultProxy
from .harness import STS_CONFIG, wait_until

MINUTE = 60
#: Refresh 5 min before expiry, its start jittered over the window's first half (5 to 2.5 min left).
POLICY = rolesession.RefreshPolicy(advisory=300, mandatory=60)


@pytest.mark.parametrize("skew", [4 * MINUTE, -4 * MINUTE], ids=["sts-ahead", "sts-behind"])
def test_refresh_timing_is_judged_against_the_sts_clock(
    fault_proxy: FaultProxy, frozen: Any, skew: int
) -> None:
    fault_proxy.skew(skew)
    session = rolesession.assume_role(
        ROLE, sts_endpoint_url=fault_proxy.url, sts_config=STS_CONFIG, refresh=POLICY
    )
    read = session.get_credentials().get_frozen_credentials
    first = read()

    # 6 min left by STS's clock (10 or 2 by a naive reading): nothing to do yet.
    frozen.tick(54 * MINUTE)
    held = read()
    assert not fault_proxy.wait_for("AssumeRole", 2, timeout=0.5), (
        f"refreshed with 6 min left by STS's clock (skew {skew:+d} s): the host clock was trusted"
    )
    assert held.access_key == first.access_key

    # 2 min 20 s left by STS's clock: past the advisory window's jittered start
    # (within its first half, whether the window is taken to end at expiry or
    # at the mandatory window), not yet in the mandatory window.
    frozen.tick(3 * MINUTE + 40)
    read()
    assert fault_proxy.wait_for("AssumeRole", 2, timeout=5), (
        f"no refresh with 2 min 20 s left by STS's clock (skew {skew:+d} s): the host clock was trusted"
    )
    assert wait_until(lambda: read().access_key != first.access_key)


_CHILD = textwrap.dedent(
    """
    import json, logging, sys
    import botocore.config
    import rolesession

    messages = []

    class Keep(logging.Handler):
        def emit(self, record):
            if record.name.startswith("rolesession"):
                messages.append(record.getMessage())

    logging.getLogger().addHandler(Keep(logging.WARNING))
    url, roles = sys.argv[1], sys.argv[2:]
    config = botocore.config.Config(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 2})
    for role in roles:  # several sessions and several STS calls in one process
        session = rolesession.assume_role(role, sts_endpoint_url=url, sts_config=config, cache=None)
        session.get_credentials().get_frozen_credentials()
        session.refresh()
    print(json.dumps(messages))
    """
)


def _start_child(url: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    source = str(Path(rolesession.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, url, ROLE, ROLE_B],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_skew_over_60_s_logs_one_warning_per_process(moto_server: str) -> None:
    proxies = {skew: FaultProxy(moto_server).start() for skew in (4 * MINUTE, -4 * MINUTE, 30)}
    try:
        for skew, proxy in proxies.items():
            proxy.skew(skew)
        children = {skew: _start_child(proxy.url) for skew, proxy in proxies.items()}  # in parallel
        outputs = {skew: child.communicate(timeout=60) for skew, child in children.items()}
    finally:
        for proxy in proxies.values():
            proxy.stop()

    warned = {}
    for skew, (out, err) in outputs.items():
        assert children[skew].returncode == 0, err
        assert proxies[skew].count("AssumeRole") == 4  # 2 sessions x (first read + refresh)
        warned[skew] = json.loads(out.strip().splitlines()[-1])
    assert warned[30] == [], f"a 30-s skew is within tolerance: {warned[30]}"
    for skew in (4 * MINUTE, -4 * MINUTE):
        messages = warned[skew]
        assert len(messages) == 1, f"skew {skew:+d} s over 4 STS answers in one process: {messages}"
        assert any(word in messages[0].lower() for word in ("clock", "skew")), messages[0]

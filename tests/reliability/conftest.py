"""Fixtures for the reliability suite: a real moto server behind a fault-injecting proxy.

The top-level ``tests/conftest.py`` fixtures apply here too (a clean AWS
environment per test, the session-scoped ``moto_server``, ``frozen``,
``log_records``); it already sets ``freezegun.api.call_stack_inspection_limit
= 0`` so background threads see the test's clock. This file adds a fresh
`FaultProxy` per test and ``assume``, which points sessions at it with STS
client settings under which a hung STS costs about two seconds, not fifteen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import freezegun.api
import pytest

import rolesession

from .faultproxy import FaultProxy
from .harness import STS_CONFIG

# Also here, in case this directory is ever run on its own rootdir.
freezegun.api.call_stack_inspection_limit = 0


@pytest.fixture
def fault_proxy(moto_server: str) -> Iterator[FaultProxy]:
    """A fresh proxy in front of the moto server, no faults switched on."""
    proxy = FaultProxy(moto_server).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def assume(fault_proxy: FaultProxy) -> Callable[..., rolesession.RoleSession]:
    """``assume(role, **kw)``: `rolesession.assume_role` through the proxy, short STS timeouts."""

    def make(role: str, **kwargs: Any) -> rolesession.RoleSession:
        kwargs.setdefault("sts_endpoint_url", fault_proxy.url)
        kwargs.setdefault("sts_config", STS_CONFIG)
        return rolesession.assume_role(role, **kwargs)

    return make


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every record from every logger, DEBUG and up."""
    caplog.set_level(logging.DEBUG)
    return caplog

"""rolesession's pytest plugin: fixtures for testing code that uses rolesession.

pytest loads it by itself once rolesession is installed (the ``pytest11``
entry point ``rolesession``). Loading it costs nothing: it imports neither
rolesession nor moto nor freezegun until a test uses one of its fixtures.

Fixtures (see ``docs/testing.md``):

``rolesession_sts``
    moto's ``mock_aws`` for the test -- *every* AWS service mocked
    in-process, not only STS: clients of your code under test talk to moto
    too -- with a fresh process (no warm sessions, an empty default cache).
    Yields a
    `rolesession.testing.StsRecorder`: every STS call rolesession makes is
    recorded (``count()``, ``calls``, ``params()``), and STS can be made to
    refuse (``refuse("AccessDenied", roles=[...])``), throttle
    (``refuse("Throttling")``), reject tokens (``refuse("ExpiredToken")``) or
    go down (``outage(roles=[...])``), for chosen roles or for all.
``rolesession_clock``
    A `Clock`: a controllable clock (freezegun) that rolesession's refresh
    engine follows: ``now()``, ``tick(seconds)``, ``move_to(when)``, and
    ``to_refresh(session)`` / ``to_expiry(session)`` to step a session into
    its refresh window or past its expiry.
``rolesession_fresh``
    Only the fresh process (for tests with their own moto or STS).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # nothing is imported when pytest loads the plugin
    from freezegun.api import FrozenDateTimeFactory

    from rolesession import RoleSession
    from rolesession.testing import StsRecorder

__all__ = ["Clock"]


@pytest.fixture
def rolesession_fresh() -> Iterator[None]:
    """No warm sessions, no cached credentials, no STS clients: before and after the test."""
    from rolesession.testing import reset

    reset()
    yield
    reset()


@pytest.fixture
def rolesession_sts(rolesession_fresh: None) -> Iterator[StsRecorder]:
    """moto's ``mock_aws`` (every AWS service mocked, STS included) for the test, and the
    recorder of every STS call rolesession makes."""
    try:
        from moto import mock_aws
    except ImportError:  # pragma: no cover - depends on the user's environment
        pytest.fail("the rolesession_sts fixture needs moto: pip install 'moto[sts]'")
    from rolesession.testing import StsRecorder

    with mock_aws(), StsRecorder() as recorder:
        yield recorder


class Clock:
    """The time rolesession sees, moved by the test (freezegun underneath).

    The type of the ``rolesession_clock`` fixture (``from rolesession_pytest import Clock``
    to annotate a test's parameter). Time stands still unless the test moves it.

    Example:
        ```python
        from rolesession_pytest import Clock

        def test_refreshes_in_the_background(rolesession_sts, rolesession_clock: Clock):
            session = rolesession.assume_role(arn, duration=3600)
            rolesession_clock.to_refresh(session)
            assert rolesession_sts.count("AssumeRole") == 2
        ```
    """

    def __init__(self, frozen: FrozenDateTimeFactory) -> None:
        self._frozen = frozen

    def now(self) -> dt.datetime:
        """The current (frozen) time, tz-aware UTC."""
        return dt.datetime.now(dt.timezone.utc)

    def tick(self, seconds: float) -> None:
        """Move time on by ``seconds``."""
        self._frozen.tick(dt.timedelta(seconds=seconds))

    def move_to(self, when: dt.datetime) -> None:
        """Move time to ``when``."""
        self._frozen.move_to(when)

    def to_refresh(self, session: RoleSession) -> None:
        """Move time to just past the moment ``session`` starts refreshing its credentials
        (its jittered start in the advisory window), and let that refresh finish."""
        credentials = session.get_credentials()
        credentials.get_frozen_credentials()
        self.move_to(_utc(credentials._held.refresh_at + 1))
        credentials.get_frozen_credentials()
        credentials.wait_for_background(30)

    def to_expiry(self, session: RoleSession, *, after: float = 1.0) -> None:
        """Move time to ``after`` seconds past the expiry of ``session``'s credentials."""
        credentials = session.get_credentials()
        credentials.get_frozen_credentials()
        self.move_to(_utc(credentials._held.expiry + after))


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


@pytest.fixture
def rolesession_clock() -> Iterator[Clock]:
    """A controllable clock for stepping through refresh windows and expiry."""
    try:
        import freezegun
        import freezegun.api
    except ImportError:  # pragma: no cover - depends on the user's environment
        pytest.fail("the rolesession_clock fixture needs freezegun: pip install freezegun")
    # freezegun hands the real time to code called near threading frames; the
    # engine's background refreshes must see the test's clock.
    limit = freezegun.api.call_stack_inspection_limit
    freezegun.api.call_stack_inspection_limit = 0
    try:
        with freezegun.freeze_time(dt.datetime.now(dt.timezone.utc), tick=False) as frozen:
            assert isinstance(frozen, freezegun.api.FrozenDateTimeFactory)  # tick=False: frozen, not ticking
            yield Clock(frozen)
    finally:
        freezegun.api.call_stack_inspection_limit = limit

"""The pytest plugin users get with rolesession: their test files use only its fixtures.

Each test writes a user's test file into an empty directory and runs pytest
on it in a fresh interpreter, which finds the plugin through its ``pytest11``
entry point -- as a user's project would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

USER_CODE = '''
import rolesession


def audit(role_arns):
    """The user's code under test: one account's refusal must not stop the others."""
    results = rolesession.fan_out(role_arns, lambda session: session.identity()["Account"])
    return {r.role_arn: (r.value if r.ok else r.error.code) for r in results}
'''

GOOD = "arn:aws:iam::111111111111:role/Auditor"
BAD = "arn:aws:iam::222222222222:role/Auditor"


def run_user_tests(tmp_path: Path, tests: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "audit.py").write_text(USER_CODE)
    (tmp_path / "test_user.py").write_text(textwrap.dedent(tests))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_users_test_asserts_one_sts_call_and_surviving_access_denied(tmp_path):
    done = run_user_tests(
        tmp_path,
        f'''
        from audit import audit

        def test_one_call_and_access_denied_survived(rolesession_sts):
            rolesession_sts.refuse("AccessDenied", roles=["{BAD}"])
            assert audit(["{GOOD}", "{BAD}"]) == {{"{GOOD}": "111111111111", "{BAD}": "AccessDenied"}}
            assert rolesession_sts.count("AssumeRole") == 2  # one each
            assert audit(["{GOOD}"]) == {{"{GOOD}": "111111111111"}}
            assert rolesession_sts.count("AssumeRole") == 2  # warm: no new call

        def test_each_test_starts_with_a_fresh_process_cache(rolesession_sts):
            assert audit(["{GOOD}"]) == {{"{GOOD}": "111111111111"}}
            assert rolesession_sts.count("AssumeRole") == 1  # nothing cached by the test before

        def test_sts_down_for_one_role(rolesession_sts):
            rolesession_sts.outage(roles=["{BAD}"])
            assert audit(["{GOOD}", "{BAD}"])["{BAD}"] == "EndpointConnectionError"
        ''',
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_a_users_test_steps_through_refresh_and_expiry(tmp_path):
    done = run_user_tests(
        tmp_path,
        f'''
        import pytest
        import rolesession

        def test_refresh_then_expiry_under_an_outage(rolesession_sts, rolesession_clock):
            session = rolesession.assume_role("{GOOD}", duration=3600)
            first = session.get_credentials().get_frozen_credentials()
            rolesession_clock.to_refresh(session)
            assert session.get_credentials().get_frozen_credentials() != first
            assert rolesession_sts.count("AssumeRole") == 2

            rolesession_sts.outage()
            held = session.get_credentials().get_frozen_credentials()
            rolesession_clock.tick(60)
            assert session.get_credentials().get_frozen_credentials() == held  # still valid: served
            rolesession_clock.to_expiry(session)
            with pytest.raises(rolesession.AssumeRoleError):
                session.get_credentials().get_frozen_credentials()
        ''',
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_loading_the_plugin_imports_nothing_heavy():
    code = (
        "import sys, rolesession_pytest; "
        "heavy = [m for m in ('rolesession', 'boto3', 'botocore', 'moto', 'freezegun') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_plugin_is_registered_for_pytest():
    from importlib.metadata import entry_points

    registered = [e.value for e in entry_points(group="pytest11") if e.name == "rolesession"]
    assert registered == ["rolesession_pytest"]


def test_the_documented_example_tests_pass(tmp_path):
    """examples/testing/test_audit.py (shown in docs/testing.md) passes as a user would run it."""
    import shutil

    examples = Path(__file__).resolve().parent.parent / "examples" / "testing"
    for name in ("audit.py", "test_audit.py"):
        shutil.copy(examples / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_audit.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_the_fixtures_types_catch_a_misuse_in_a_users_typed_test(tmp_path):
    """The fixtures and `Clock` are typed (py.typed): a user's mypy sees a wrong argument."""
    (tmp_path / "test_typed.py").write_text(
        textwrap.dedent(
            f'''
            import rolesession
            from rolesession.testing import StsRecorder
            from rolesession_pytest import Clock


            def test_typed(rolesession_sts: StsRecorder, rolesession_clock: Clock) -> None:
                session = rolesession.assume_role("{GOOD}")
                rolesession_clock.to_refresh(session)
                calls: int = rolesession_sts.count("AssumeRole")
                rolesession_clock.tick("an hour")
            '''
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "test_typed.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1, done.stdout
    assert "test_typed.py:11:" in errors[0] and '"tick" of "Clock"' in errors[0], done.stdout

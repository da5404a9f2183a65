"""``import rolesession`` is light: boto3 and botocore load on first use of a name that needs them.

So the command line's ``--help`` and ``--version`` answer without them (SPEC
"CLI", the terminal's start-up is paid by every ``credential_process`` call).
Each case runs in a fresh interpreter: this process has long imported boto3.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import rolesession

REPORT = "import json, sys; print(json.dumps(sorted(m for m in ('boto3', 'botocore') if m in sys.modules)))"


def loaded_after(code: str) -> list[str]:
    """Which of boto3/botocore a fresh interpreter holds after running ``code``."""
    result = subprocess.run(
        [sys.executable, "-c", f"{code}\n{REPORT}"], capture_output=True, text=True, timeout=120, check=True
    )
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def test_import_rolesession_loads_neither_boto3_nor_botocore() -> None:
    assert loaded_after("import rolesession; rolesession.__version__; rolesession.RoleCredentials") == []


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["assume", "--help"], ["exec", "--help"]])
def test_help_and_version_load_neither(argv: list[str]) -> None:
    code = (
        "import contextlib, io, sys\n"
        f"sys.argv = ['rolesession', *{argv!r}]\n"
        "from rolesession.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main()\n"
    )
    assert loaded_after(code) == []


def test_a_name_that_needs_boto3_loads_it_on_first_use() -> None:
    assert loaded_after("import rolesession; rolesession.RoleSession") == ["boto3", "botocore"]


def test_every_public_name_resolves_and_is_listed_by_dir() -> None:
    for name in rolesession.__all__:
        assert getattr(rolesession, name) is not None, name
    assert set(rolesession.__all__) <= set(dir(rolesession))
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        rolesession.nothing_here  # noqa: B018


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from rolesession import *", namespace)
    assert set(rolesession.__all__) <= set(namespace)

"""The modules the CLI's fast path reads load without boto3 and botocore.

Handing out cached credentials must not pay for importing botocore
(hundreds of milliseconds): `_sources`, `_keys`, `_limits`, `_validation`
and `_file_cache` keep their botocore imports type-only or inside the
functions that need them. The check runs in a fresh interpreter and loads
the modules without running ``rolesession/__init__.py`` (which imports the
whole library), so it measures only these modules' own imports.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import rolesession

LIGHT = ("_limits", "_keys", "_validation", "_sources", "_file_cache", "_session_names", "_handout")

_PROBE = """
import importlib, sys, types
package = types.ModuleType("rolesession")
package.__path__ = [{path!r}]
sys.modules["rolesession"] = package
for name in {names!r}:
    importlib.import_module("rolesession." + name)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore"))
print(",".join(heavy))
"""


def test_light_modules_import_without_boto3_or_botocore() -> None:
    path = str(Path(rolesession.__file__).parent)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(path=path, names=LIGHT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""

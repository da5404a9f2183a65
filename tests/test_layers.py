"""The layer contract (pyproject.toml, checked by ``lint-imports`` in ``make lint``) covers every module.

import-linter constrains only the modules a layers contract names: a new
module left out of it could import anything, and the layers would hold on
paper only.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "rolesession"


def _layered() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return {name for layer in contract["layers"] for name in re.split(r"\s*[:|]\s*", layer.strip())}


def test_every_module_of_the_package_is_in_a_layer() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")}
    modules |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert modules - _layered() == set(), "add these modules to the layers contract in pyproject.toml"
    assert _layered() - modules == set(), "the layers contract names modules that no longer exist"

"""The CLI is built on the library's public API: no ``rolesession._…`` module is imported by ``cli/``.

Read from the source (AST), so function-level imports count too. There is
no allow-list: every private import the CLI once had has a public name now
(the secret commands became `rolesession.mfa_from_command`, `mfa_prompt`,
`saml_from_command`; the parameter table `rolesession.hop_parameters`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import rolesession.cli

CLI = Path(rolesession.cli.__file__).resolve().parent

def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it, as absolute names."""
    package = "rolesession.cli"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            # ``from .. import _x`` / ``from rolesession import _x`` import a private module too.
            found.update(f"{module}.{alias.name}" for alias in node.names if alias.name.startswith("_"))
    return found


def private(modules: set[str]) -> set[str]:
    return {
        name
        for name in modules
        if name.startswith("rolesession.")
        and any(part.startswith("_") for part in name.split(".")[1:])
        and not name.endswith(("__version__", "__main__"))
    }


def test_the_cli_imports_no_private_module():
    offending = {}
    modules = sorted(CLI.glob("*.py"))
    assert len(modules) > 10  # the check reads the real package
    for path in modules:
        found = private(imported_modules(path))
        if found:
            offending[path.name] = sorted(found)
    assert not offending, f"cli/ must use public names (from rolesession import ...): {offending}"


def test_the_check_sees_relative_absolute_and_function_level_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "from .._keys import cache_key\n"
        "import rolesession._state\n"
        "def f():\n"
        "    from rolesession._sts import translate\n"
        "    from .. import _botocore\n"
        "    from rolesession import RoleSession\n"
        "    from . import documents\n",
        encoding="utf-8",
    )
    assert private(imported_modules(module)) == {
        "rolesession._keys",
        "rolesession._state",
        "rolesession._sts",
        "rolesession._botocore",
    }

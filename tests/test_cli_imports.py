"""The CLI is built on the library's public API: no ``rolesession._…`` module is imported by ``cli/``.

Read from the source (AST), so function-level imports count too. The few
private imports not yet replaced by public names are listed, module by
module, in `REMAINING`: the list may only shrink (a listed import that is
gone fails too, so the list stays true), and a new CLI module has none.
"""

from __future__ import annotations

import ast
from pathlib import Path

import rolesession.cli

CLI = Path(rolesession.cli.__file__).resolve().parent

#: Private imports still in cli/ (module -> private modules it imports), to be made public.
#: Left: the commands run for MFA codes, SAML assertions and helper output, which
#: ``_profiles`` (``mfa_process``) shares with the CLI and which have no public form
#: yet; ``cli/secret_commands.py`` is the one module reaching them.
REMAINING: dict[str, set[str]] = {
    "secret_commands.py": {"rolesession._secret_commands"},
}


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
    for path in sorted(CLI.glob("*.py")):
        extra = private(imported_modules(path)) - REMAINING.get(path.name, set())
        if extra:
            offending[path.name] = sorted(extra)
    assert not offending, f"cli/ must use public names (from rolesession import ...): {offending}"


def test_the_list_of_remaining_private_imports_only_shrinks():
    stale = {
        name: sorted(modules - private(imported_modules(CLI / name)))
        for name, modules in REMAINING.items()
        if modules - private(imported_modules(CLI / name))
    }
    assert not stale, f"no longer imported: remove from REMAINING {stale}"


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

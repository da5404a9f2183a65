"""The SPEC coverage map (tests/SPEC_COVERAGE.md) points only at tests that exist.

Every ``file::function`` reference in the map must name a test function
defined in that file under ``tests/``; every row must carry a known status;
every row marked covered must name at least one test.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

TESTS = Path(__file__).resolve().parent
MAP = TESTS / "SPEC_COVERAGE.md"
REFERENCE = re.compile(r"`((?:[\w-]+/)*test_\w+\.py)::(test_\w+)`")
STATUSES = ("covered", "GAP", "n/t", "pending (issue ")


def rows(text: str) -> list[list[str]]:
    """The cells of every data row of every table in ``text``."""
    found = []
    for line in text.splitlines():
        if not line.startswith("| ") or line.startswith("| # ") or set(line) <= set("|- "):
            continue
        found.append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
    return found


@cache
def defined_tests(path: str) -> frozenset[str]:
    """The test functions (module level or in classes) defined in ``tests/<path>``; empty if no such file."""
    if not (TESTS / path).is_file():
        return frozenset()
    tree = ast.parse((TESTS / path).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")
    )


def problems(text: str) -> list[str]:
    """Everything wrong with a coverage map."""
    found = []
    numbers = []
    for cells in rows(text):
        if len(cells) != 4:
            found.append(f"row {cells[0]}: {len(cells)} cells, not 4")
            continue
        number, _, status, tests = cells
        numbers.append(number)
        if not status.startswith(STATUSES):
            found.append(f"row {number}: unknown status {status!r}")
        if status == "covered" and not REFERENCE.search(tests):
            found.append(f"row {number}: covered by no named test")
        for file, name in REFERENCE.findall(tests):
            if name not in defined_tests(file):
                found.append(f"row {number}: no test {file}::{name}")
    duplicates = {n for n in numbers if numbers.count(n) > 1}
    found += [f"row {n}: numbered twice" for n in sorted(duplicates)]
    return found


def test_the_map_names_only_tests_that_exist() -> None:
    text = MAP.read_text(encoding="utf-8")
    assert len(rows(text)) > 150  # one row per SPEC statement
    assert problems(text) == []


def test_a_rotten_map_is_caught() -> None:
    rotten = "\n".join(
        [
            "| # | statement | status | tests |",
            "|---|---|---|---|",
            "| 1 | renamed test | covered | `test_spec_coverage.py::test_that_was_renamed` |",
            "| 2 | moved file | covered | `test_gone.py::test_a_rotten_map_is_caught` |",
            "| 3 | no test | covered | see elsewhere |",
            "| 4 | odd status | done | `test_spec_coverage.py::test_a_rotten_map_is_caught` |",
            "| 4 | fine | pending (issue 10) | |",
        ]
    )
    assert problems(rotten) == [
        "row 1: no test test_spec_coverage.py::test_that_was_renamed",
        "row 2: no test test_gone.py::test_a_rotten_map_is_caught",
        "row 3: covered by no named test",
        "row 4: unknown status 'done'",
        "row 4: numbered twice",
    ]

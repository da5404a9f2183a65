"""What a user installing the package is told, and what the built wheel's metadata carries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_metadata_links_the_docs_the_source_and_the_changelog():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    urls = project["urls"]
    assert {"Documentation", "Source", "Changelog"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())


def test_no_page_tells_the_reader_to_install_from_pypi_while_the_package_is_unpublished():
    # "pip install rolesession" fails until the package is published: the
    # docs say how to install from a checkout or a built wheel instead.
    pages = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "src").rglob("*.py")]
    pypi = re.compile(r"pip install\s+['\"]?rolesession\b")
    offenders = [
        f"{page.relative_to(ROOT)}:{number}"
        for page in pages
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if pypi.search(line)
    ]
    assert offenders == []

"""The API reference documents every public name: on the page, with parameters, raises and an example."""

from __future__ import annotations

import inspect
import re
import textwrap
from pathlib import Path

import pytest

import rolesession
import rolesession.testing

API_PAGE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "api.md"
PUBLIC = sorted(rolesession.__all__)


def test_the_api_page_lists_every_public_name():
    listed = set(re.findall(r"^::: rolesession\.(\w+)\s*$", API_PAGE.read_text(encoding="utf-8"), re.M))
    assert set(PUBLIC) <= listed, sorted(set(PUBLIC) - listed)
    assert {"aio", "testing"} <= listed  # the two public modules too


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_has_an_example(name):
    doc = inspect.getdoc(getattr(rolesession, name)) or ""
    assert "Example:" in doc and "```python" in doc, name


@pytest.mark.parametrize("name", [n for n in PUBLIC if inspect.isfunction(getattr(rolesession, n))])
def test_every_public_function_documents_its_parameters_and_errors(name):
    function = getattr(rolesession, name)
    doc = inspect.getdoc(function) or ""
    parameters = [p for p in inspect.signature(function).parameters if p not in ("self",)]
    if parameters:
        assert "Args:" in doc, name
    assert "Raises:" in doc or name == "default_cache", name


# -- rolesession.testing: public too, documented the same way --------------------------------------

TESTING = sorted(rolesession.testing.__all__)


@pytest.mark.parametrize("name", TESTING)
def test_every_testing_kit_name_has_an_example(name):
    doc = inspect.getdoc(getattr(rolesession.testing, name)) or ""
    assert "Example:" in doc and "```python" in doc, name


@pytest.mark.parametrize("name", TESTING)
def test_the_testing_kit_examples_run(name, sts_mock):
    """Each example runs, with ``arn`` a role and moto behind STS (as the API page's examples assume)."""
    doc = inspect.getdoc(getattr(rolesession.testing, name)) or ""
    [code] = re.findall(r"```python\n(.*?)```", doc, re.S)
    exec(textwrap.dedent(code), {"rolesession": rolesession, "arn": "arn:aws:iam::123456789012:role/Reader"})

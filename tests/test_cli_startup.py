"""The command line's start-up shortcuts answer exactly what the full parser would."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

from rolesession.cli import main
from rolesession.cli.options import fill_defaults
from rolesession.cli.parser import build_parser, parse_args


def test_version_shortcut_prints_the_package_metadata_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"rolesession {importlib.metadata.version('rolesession')}\n"


def test_version_shortcut_equals_argparse_version(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--version"])
    shortcut = capsys.readouterr().out
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--version"])
    assert capsys.readouterr().out == shortcut


def test_version_builds_no_parser() -> None:
    code = (
        "import sys; from rolesession.cli import main; main(['--version']); print('argparse' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.splitlines()[-1] == "False"


@pytest.mark.parametrize(
    "argv",
    [
        ["assume", "arn:aws:iam::123456789012:role/A", "--format", "credential-process"],
        [
            "-v",
            "assume",
            "arn:aws:iam::123456789012:role/A",
            "arn:aws:iam::123456789012:role/B",
            "--duration",
            "1h",
        ],
        ["assume", "--profile", "prod", "--format", "json", "--region", "eu-west-1", "--session-name", "x"],
    ],
)
def test_assume_alone_parses_as_the_whole_parser(argv: list[str]) -> None:
    lean = build_parser(only_assume=True).parse_args(argv)
    full = build_parser().parse_args(argv)
    assert vars(lean) == vars(full)
    fill_defaults(full)
    assert vars(parse_args(argv)) == vars(full)  # parse_args takes the lean parser for these


def test_assume_errors_say_the_same_through_the_lean_parser(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assume", "--bogus"]) == 2
    lean = capsys.readouterr().err
    from rolesession.cli.errors import UsageError

    with pytest.raises(UsageError) as full:
        build_parser().parse_args(["assume", "--bogus"])
    assert lean == f"rolesession: error: {full.value}\n"

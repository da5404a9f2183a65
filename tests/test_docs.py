"""Every Python example in the documentation runs, offline, exactly as written.

Each fenced ```python block of ``docs/**/*.md`` and ``README.md`` is one test.
It runs on its own, as a reader who copies it would run it: written to a file
and executed as ``__main__`` in a fresh namespace, so a block that leans on a
name defined by another block fails. It runs against moto (in-process STS,
S3, DynamoDB, IAM, Organizations ...) in the *docs world*: what the pages
assume exists when they are run with real AWS --

- source credentials in the environment, and an ``admin`` profile in a
  private ``~/.aws`` (``HOME`` and ``XDG_CACHE_HOME`` are temporary);
- the buckets and tables a block names, in the accounts whose roles it
  assumes, and an organization with member accounts if it uses Organizations;
- per page, the environment of the platform it is about: an EKS pod's
  ``AWS_ROLE_ARN`` and token file (the pod's well-known token path is mapped
  to a temporary file), a CI job's OIDC variables and token endpoint (a
  loopback server), a Lambda function's name;
- commands a page runs: ``my-idp-login`` (an IdP CLI printing a SAML
  response) and ``aws`` (checks that it was handed credentials);
- a person at the keyboard who types an MFA code when ``input()`` asks.

No connection leaves loopback: connecting anywhere else fails the test.

After a block has run, the test also uses what it left behind, so that lazy
code cannot hide a broken example: every `RoleSession` it defined fetches
credentials, a Lambda ``handler(event, context)`` it defined is invoked twice
(a cold and a warm invocation), and a ``# comment`` right under a ``print()``
line is output that must appear.

A block that cannot run (a fragment) must be preceded by
``<!-- not-run: reason -->``; keep those rare. A block that only includes a
file (``--8<-- "examples/x.py"``, pymdownx.snippets) is run by
``tests/test_examples.py`` instead.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import runpy
import socket
import stat
import sys
import textwrap
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

import rolesession
from helpers import ACCOUNT, OTHER_ACCOUNT, SOURCE_KEY, SOURCE_SECRET
from tokens import make_jwt

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.rglob("*.md")), ROOT / "README.md"]

#: A block preceded by this (on the line right before the fence) is not run.
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(?P<reason>.*?)\s*-->")
#: At most this many not-run blocks: fragments are the exception (none today).
MAX_NOT_RUN = 2
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")
_INCLUDE = re.compile(r'^--8<--\s+"(?P<path>[^"]+)"\s*$')


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: str  # relative to the repository root
    line: int  # 1-based line of the opening fence
    lang: str
    code: str  # dedented; the fence lines excluded
    not_run: str | None = None  # the reason given by a not-run marker
    include: str | None = None  # the file a snippets-include block shows

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def extract_blocks(text: str, page: str = "page.md") -> list[Block]:
    """The fenced code blocks of a Markdown page, indented ones (in lists, admonitions) included."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence = opening["fence"]
        end = i + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            end += 1
        if end == len(lines):
            raise ValueError(f"{page}:{i + 1}: unterminated code block")
        code = textwrap.dedent("\n".join(lines[i + 1 : end]))
        marker = NOT_RUN.search(lines[i - 1]) if i > 0 else None
        include = _INCLUDE.match(code.strip())
        blocks.append(
            Block(
                page=page,
                line=i + 1,
                lang=opening["info"].lower(),
                code=code + "\n",
                not_run=marker["reason"] if marker else None,
                include=include["path"] if include else None,
            )
        )
        i = end + 1
    return blocks


def page_blocks() -> list[Block]:
    return [
        block
        for path in PAGES
        for block in extract_blocks(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]


ALL_BLOCKS = page_blocks()
PYTHON = [b for b in ALL_BLOCKS if b.lang in ("python", "py") and b.include is None]
# README.md is the lead's file; its block is tracked here until it is runnable.
def _param(block: Block) -> Any:
    marks = []
    if block.not_run is not None:
        marks.append(pytest.mark.skip(reason=f"not-run: {block.not_run}"))
    return pytest.param(block, id=block.id, marks=marks)


# -- the docs world --------------------------------------------------------------------

HUB_ACCOUNT = "111111111111"
ORG_MEMBERS = ("Shop", "Analytics", "Sandbox")
BUCKETS = {ACCOUNT: ("data", "customer-data", "artifacts")}
#: (account, table) -> its partition key.
TABLES = {(OTHER_ACCOUNT, "reports"): "id", (ACCOUNT, "rolesession-cache"): "key"}
LAMBDA_EVENT = {"id": "report-42", "role_arn": f"arn:aws:iam::{OTHER_ACCOUNT}:role/Reporting"}
POD_ROLE = f"arn:aws:iam::{ACCOUNT}:role/orders-api"
POD_TOKEN_PATH = "/var/run/secrets/eks.amazonaws.com/serviceaccount/token"
SAML_ROLE = f"arn:aws:iam::{ACCOUNT}:role/analyst"
SAML_PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/ExampleIdP"
ADMIN_KEY = "AKIADOCSWORLDADMIN01"


@dataclass
class World:
    env: dict[str, str]  # for every page
    page_env: dict[str, dict[str, str]]
    paths: dict[str, str]  # a path a page names -> the file standing for it


class _TokenEndpoint(BaseHTTPRequestHandler):
    """GitHub Actions' ID-token endpoint: a JWT for the requested audience, given the bearer token."""

    bearer = "docs-world-request-token"

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if self.headers.get("Authorization") != f"Bearer {self.bearer}":
            self.send_error(401)
            return
        audience = query.get("audience", ["api://AzureADTokenExchange"])[-1]
        body = json.dumps({"value": make_jwt(aud=audience, iss="https://token.actions.githubusercontent.com")})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def token_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        # GitHub's URL carries a query string already; the docs must append to it.
        yield f"http://127.0.0.1:{server.server_address[1]}/_apis/token?api-version=2.0"
    finally:
        server.shutdown()
        server.server_close()


def _executable(path: Path, body: str) -> None:
    path.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _commands(bin_dir: Path) -> None:
    tests = Path(__file__).resolve().parent
    _executable(
        bin_dir / "my-idp-login",
        f"import sys\nsys.path.insert(0, {str(tests)!r})\nfrom tokens import make_saml_response\n"
        f"print(make_saml_response({SAML_ROLE!r}, {SAML_PROVIDER!r}))\n",
    )
    _executable(
        bin_dir / "aws",
        "import os, sys\n"
        "names = ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN')\n"
        "missing = [n for n in names if not os.environ.get(n)]\n"
        "if missing:\n    sys.exit('aws: no credentials: ' + ', '.join(missing))\n"
        "print('aws', *sys.argv[1:], '(with credentials)')\n",
    )


@pytest.fixture
def world(tmp_path: Path, token_endpoint: str) -> World:
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "config").write_text("[profile admin]\nregion = us-east-1\n", encoding="utf-8")
    (home / ".aws" / "credentials").write_text(
        f"[admin]\naws_access_key_id = {ADMIN_KEY}\naws_secret_access_key = {'a' * 40}\n", encoding="utf-8"
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _commands(bin_dir)
    pod_token = tmp_path / "pod-token"
    pod_token.write_text(make_jwt(sub="system:serviceaccount:shop:orders-api") + "\n", encoding="utf-8")
    return World(
        env={
            "HOME": str(home),
            "AWS_CONFIG_FILE": str(home / ".aws" / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / ".aws" / "credentials"),
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        },
        page_env={
            "docs/guides/eks-irsa.md": {
                "AWS_ROLE_ARN": POD_ROLE,
                "AWS_WEB_IDENTITY_TOKEN_FILE": POD_TOKEN_PATH,
                "AWS_ROLE_SESSION_NAME": "orders-api",
                "AWS_REGION": "eu-west-1",
                "AWS_DEFAULT_REGION": "eu-west-1",
            },
            "docs/guides/ci-oidc.md": {
                "ACTIONS_ID_TOKEN_REQUEST_URL": token_endpoint,
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": _TokenEndpoint.bearer,
                "GITHUB_RUN_ID": "4242",
                "AWS_ID_TOKEN": make_jwt(iss="https://gitlab.com", sub="project_path:my-group/my-project"),
                "CI_JOB_ID": "7",
            },
            "docs/guides/lambda.md": {"AWS_LAMBDA_FUNCTION_NAME": "reporting"},
        },
        paths={POD_TOKEN_PATH: str(pod_token)},
    )


#: One session for seeding every test's world: it loads each service model once.
_SEEDER = boto3.session.Session(
    aws_access_key_id=SOURCE_KEY, aws_secret_access_key=SOURCE_SECRET, region_name="us-east-1"
)


def _client_in(account: str, service: str) -> Any:
    """A boto3 client acting in ``account`` (moto files resources by the caller's account)."""
    if account == ACCOUNT:  # the source credentials' own account
        return _SEEDER.client(service)
    creds = _SEEDER.client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/docs-world", RoleSessionName="docs-world"
    )["Credentials"]
    return _SEEDER.client(
        service,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def _seed_aws(code: str) -> None:
    """Create what the block names: its buckets and tables (as quoted strings), an organization."""
    for account, buckets in BUCKETS.items():
        for bucket in buckets:
            if f'"{bucket}"' in code:
                _client_in(account, "s3").create_bucket(Bucket=bucket)
    for (account, table), key in TABLES.items():
        if f'"{table}"' in code:
            _client_in(account, "dynamodb").create_table(
                TableName=table,
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                BillingMode="PAY_PER_REQUEST",
            )
    if "organizations" in code:
        org = _client_in(ACCOUNT, "organizations")
        org.create_organization(FeatureSet="ALL")
        for name in ORG_MEMBERS:
            org.create_account(AccountName=name, Email=f"aws+{name.lower()}@example.com")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: connect() resolves it, so only the loopback name is safe
        return host == "localhost"


def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            raise AssertionError(f"a docs example tried to reach {address!r}: no network in tests")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


def _expected_output(code: str) -> list[str]:
    """``# text`` lines right under a ``print(...)`` line: what it prints."""
    expected: list[str] = []
    lines = code.splitlines()
    for i, line in enumerate(lines):
        if not line.lstrip().startswith("print("):
            continue
        for follower in lines[i + 1 :]:
            if not follower.lstrip().startswith("# "):
                break
            expected.append(follower.lstrip()[2:])
    return expected


class _LambdaContext:
    function_name = "reporting"
    aws_request_id = "00000000-0000-0000-0000-000000000042"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def run_block(block: Block, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run one block as ``__main__`` in the docs world; its globals when it ended."""
    for name, value in {**world.env, **world.page_env.get(block.page, {})}.items():
        monkeypatch.setenv(name, world.paths.get(value, value))
    monkeypatch.setattr("builtins.input", lambda prompt="": "123456")
    _loopback_only(monkeypatch)
    code = block.code
    for named, actual in world.paths.items():
        code = code.replace(named, actual)
    # Blank lines first, so that a traceback's line numbers are the page's.
    script = tmp_path / "docs" / f"{block.page}.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text("\n" * block.line + code, encoding="utf-8")
    with mock_aws():
        _seed_aws(code)
        namespace = runpy.run_path(str(script), run_name="__main__")
        handler = namespace.get("handler")
        if callable(handler):
            for _ in range(2):  # a cold and a warm invocation
                handler(dict(LAMBDA_EVENT), _LambdaContext())
        for value in list(namespace.values()):
            if isinstance(value, rolesession.RoleSession):
                assert value.get_credentials().get_frozen_credentials().access_key
    return namespace


@pytest.mark.parametrize("block", [_param(b) for b in PYTHON])
def test_python_example_runs(
    block: Block, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    run_block(block, world, tmp_path, monkeypatch)
    printed = capsys.readouterr().out
    for line in _expected_output(block.code):
        assert line in printed, f"{block.id}: the page says it prints {line!r}; it printed:\n{printed}"


# -- the blocks that are not Python ----------------------------------------------------


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in ALL_BLOCKS if b.lang == "json"])
def test_json_example_parses(block: Block) -> None:
    json.loads(block.code)


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in ALL_BLOCKS if b.lang in ("yaml", "yml")])
def test_yaml_example_parses(block: Block) -> None:
    assert yaml.safe_load(block.code) is not None


def test_included_examples_exist_and_are_run_by_test_examples() -> None:
    included = {b.include for b in ALL_BLOCKS if b.include is not None}
    assert included, "the guides show the example scripts"
    # The async example runs where aiobotocore is installed (tests/test_aio.py, make aio);
    # the testing example as a user's pytest run (tests/test_testing_plugin.py).
    # The Dask and Ray examples run in make distributed (tests/distributed/).
    runners = (
        "test_examples.py", "test_aio.py", "test_testing_plugin.py",
        "distributed/test_dask_fan_out.py", "distributed/distsupport.py",
    )  # fmt: skip
    tested = "".join((ROOT / "tests" / name).read_text(encoding="utf-8") for name in runners)
    for path in included:
        assert (ROOT / path).is_file(), path
        assert path.startswith("examples/") and Path(path).name in tested, f"{path} is run by no test"


def test_not_run_markers_are_rare_and_justified() -> None:
    marked = [b for b in ALL_BLOCKS if b.not_run is not None]
    assert all(b.not_run for b in marked), "a not-run marker must give its reason"
    assert len(marked) <= MAX_NOT_RUN, [b.id for b in marked]
    # A marker must sit right above a fence: anywhere else it would silently mark nothing.
    for path in PAGES:
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if NOT_RUN.search(line):
                following = lines[i + 1] if i + 1 < len(lines) else ""
                assert _FENCE.match(following), f"{path.name}:{i + 1}: a not-run marker above no fence"


def test_every_python_block_is_collected() -> None:
    # A page whose fences the extractor missed would pass by running nothing.
    fences = sum(
        len(re.findall(r"^[ \t]*```python\s*$", path.read_text(encoding="utf-8"), re.M)) for path in PAGES
    )
    assert fences == sum(1 for b in ALL_BLOCKS if b.lang == "python")
    assert len(PYTHON) >= 30


# -- the extractor ----------------------------------------------------------------------


def test_extractor_dedents_indented_blocks_and_keeps_line_numbers() -> None:
    page = "Intro\n\n- item:\n\n    ```python\n    x = 1\n    if x:\n        y = 2\n    ```\n"
    (block,) = extract_blocks(page)
    assert (block.line, block.lang, block.code) == (5, "python", "x = 1\nif x:\n    y = 2\n")


def test_extractor_honours_not_run_markers_and_includes() -> None:
    page = (
        "<!-- not-run: a fragment of a class -->\n```python\n    def get(self, key): ...\n```\n\n"
        '```python\n--8<-- "examples/x.py"\n```\n\n~~~console\n$ ls\n~~~\n'
    )
    fragment, included, console = extract_blocks(page)
    assert fragment.not_run == "a fragment of a class" and fragment.include is None
    assert included.include == "examples/x.py" and included.not_run is None
    assert (console.lang, console.code) == ("console", "$ ls\n")


def test_no_connection_leaves_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    _loopback_only(monkeypatch)
    for host in ("192.0.2.1", "sts.amazonaws.com"):
        with socket.socket() as sock, pytest.raises(AssertionError, match="no network"):
            sock.connect((host, 443))
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")


def test_extractor_refuses_an_unterminated_block() -> None:
    with pytest.raises(ValueError, match=r"page\.md:1: unterminated"):
        extract_blocks("```python\nx = 1\n")


def test_expected_output_is_read_from_comments_under_print() -> None:
    code = 'print(a)\n# one\n# two\nb = 1\n# not output\nprint(c)  # inline\n# three\n'
    assert _expected_output(code) == ["one", "two", "three"]

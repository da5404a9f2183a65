"""``rolesession cache -- COMMAND ...``: any ``credential_process`` helper, cached across processes.

botocore runs a profile's ``credential_process`` in every new process and
keeps nothing between them, so a helper that signs in somewhere (SSO, a
password manager, a corporate broker) runs once per ``aws`` command. Put
``rolesession cache --`` in front of it and its output is kept in the
CLI's `FileCache`:

* the key (`helper_key`) is what can change the helper's answer: its
  command line, the executable it resolves to, the working directory when
  the command or an argument is a relative path, every ``AWS_*`` variable,
  the variables named with ``--key-env``, and the user -- so another helper,
  the same one with other arguments, in another project or for another
  account has an entry of its own;
* a helper that resolves the profile whose ``credential_process`` runs it
  exits 3 naming the loop (`loops.resolving_helper`), instead of waiting for
  its own lock;
* the helper runs again only when less than 15 minutes would be left --
  the window in which botocore itself comes back for new credentials;
* one process runs it at a time (the entry's cross-process lock); those
  that waited take what it stored instead of running it again;
* a document without ``Expiration`` (long-lived keys) is printed as it is
  and never cached.

What the helper prints is a secret: it is never shown in an error, and it
is stored only in the cache's private files (0600 in a 0700 directory).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence

from rolesession import FileCache, RoleCredentials

from . import loops
from .errors import CliError

# No argparse, logging, subprocess, dataclasses or typing at run time: a cached answer
# (`cached_output`, before any parsing) reads the key and the entry, and prints.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    import logging
    import subprocess
    from typing import Any

__all__ = ["MIN_LEFT", "Document", "cached_output", "parse_document", "run_cache"]


def _logger() -> logging.Logger:
    import logging

    return logging.getLogger("rolesession")


#: botocore refreshes credentials from a credential_process 15 minutes before
#: they expire: a document with less left than this would be asked for again
#: at once, so the helper runs instead.
MIN_LEFT = 15 * 60
#: A Version 1 document is a few kilobytes; a helper printing more is not one.
OUTPUT_LIMIT = 64 * 1024
#: How long a process waits for another one running the same helper. A
#: helper may sign in through a browser; a dead holder releases at once.
LOCK_TIMEOUT = 300.0
#: The entry field keeping what a document holds beyond `RoleCredentials`.
_EXTRA = "CredentialProcess"


class Document:
    """A ``credential_process`` Version 1 document (a frozen value)."""

    __slots__ = ("access_key", "account_id", "expiration", "secret_key", "token")

    access_key: str
    secret_key: str
    token: str | None
    expiration: float | None  # epoch seconds; None: long-lived keys
    account_id: str | None

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        token: str | None,
        expiration: float | None,
        account_id: str | None = None,
    ) -> None:
        for name, value in (
            ("access_key", access_key), ("secret_key", secret_key), ("token", token),
            ("expiration", expiration), ("account_id", account_id),
        ):  # fmt: skip
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: a Document is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: a Document is frozen")

    def _values(self) -> tuple[Any, ...]:
        return (self.access_key, self.secret_key, self.token, self.expiration, self.account_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Document):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return f"Document(access_key={self.access_key!r})"

    def as_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "Version": 1,
            "AccessKeyId": self.access_key,
            "SecretAccessKey": self.secret_key,
        }
        if self.token:
            document["SessionToken"] = self.token
        if self.expiration is not None:
            document["Expiration"] = to_iso(self.expiration)
        if self.account_id:
            document["AccountId"] = self.account_id
        return document

    def to_entry(self, received: float) -> dict[str, Any]:
        """The file cache's entry (`RoleCredentials.to_entry`) for a document with an expiration."""
        assert self.expiration is not None
        creds = RoleCredentials(
            access_key=self.access_key,
            secret_key=self.secret_key,
            token=self.token or "",
            expiration=self.expiration,
            received=received,
        )
        entry = creds.to_entry()
        if self.account_id:
            entry[_EXTRA] = {"AccountId": self.account_id}
        return entry

    @classmethod
    def from_entry(cls, entry: Any) -> tuple[Document, RoleCredentials] | None:
        creds = RoleCredentials.from_entry(entry)
        if creds is None:
            return None
        extra = entry.get(_EXTRA)
        account = extra.get("AccountId") if isinstance(extra, dict) else None
        document = cls(
            access_key=creds.access_key,
            secret_key=creds.secret_key,
            token=creds.token or None,
            expiration=creds.expiration,
            account_id=account if isinstance(account, str) else None,
        )
        return document, creds


def run_cache(args: argparse.Namespace) -> int:
    """Print the helper's document: from the cache while it has 15 minutes left, else from a new run."""
    argv: list[str] = args.helper_command
    with loops.resolving_helper(argv):
        if args.no_cache:
            document = _run_helper(argv)
        else:
            key = helper_key(argv, args.key_env)
            document = _cached_or_run(FileCache(lock_timeout=LOCK_TIMEOUT), argv, key)
    print(_output(document), flush=True)
    return 0


def cached_output(helper: list[str]) -> str | None:
    """What ``rolesession cache -- HELPER...`` (no option) prints while the cache answers, without a
    parser: the same loop check, key, 15-minute rule and output as `run_cache`; ``None`` when the
    helper would have to run (or the loop check refuses: `run_cache` says it)."""
    with loops.resolving_helper(helper):
        document = _cached(FileCache(lock_timeout=LOCK_TIMEOUT), helper_key(helper))
    return None if document is None else _output(document)


def _output(document: Document) -> str:
    return json.dumps(document.as_json())


def helper_key(
    argv: list[str],
    key_env: Sequence[str] = (),
    *,
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> str:
    """The cache key of a helper's output: everything that can change what it prints.

    Its command line; the executable it resolves to (``PATH`` as it is now);
    the working directory when the command or one of its arguments is a
    relative path that exists (``./get-creds``, ``python creds.py``); every
    ``AWS_*`` variable and each variable named in ``key_env`` (unset and
    empty differ); and the user running it.
    """
    environ = os.environ if environ is None else environ
    cwd = os.getcwd() if cwd is None else cwd
    material = {
        "operation": "credential_process",
        "command": argv,
        "executable": _executable(argv[0], environ, cwd),
        "cwd": cwd if _relative_paths(argv, cwd) else None,
        "environment": {
            name: environ.get(name)
            for name in sorted({n for n in environ if n.startswith("AWS_")} | set(key_env))
        },
    }
    return FileCache.key_for(material, _user())


def _executable(name: str, environ: Mapping[str, str], cwd: str) -> str | None:
    """The file the helper's first word runs (symbolic links resolved); ``None`` if there is none."""
    import shutil

    if os.sep in name or (os.altsep is not None and os.altsep in name):
        found: str | None = os.path.join(cwd, name)
    else:
        found = shutil.which(name, path=environ.get("PATH", os.defpath))
        if found is not None:
            found = os.path.join(cwd, found)  # a relative PATH entry is relative to cwd
    return None if found is None else os.path.realpath(found)


def _relative_paths(argv: list[str], cwd: str) -> bool:
    """Whether the command, or an argument naming an existing file, is a path relative to ``cwd``."""
    first, *rest = argv
    if not os.path.isabs(first) and (os.sep in first or (os.altsep or os.sep) in first):
        return True
    return any(not os.path.isabs(a) and os.path.exists(os.path.join(cwd, a)) for a in rest if a)


def _cached_or_run(cache: FileCache, argv: list[str], key: str) -> Document:
    asked = time.time()
    document = _cached(cache, key)
    if document is not None:
        return _served(document)
    with cache.lock(key):
        # Another process may have run the helper while we waited for the lock:
        # what it stored after we asked is fresh enough, whatever is left of it.
        document = _cached(cache, key, stored_since=asked)
        if document is not None:
            return _served(document)
        document = _run_helper(argv)
        if document.expiration is not None:
            cache.set(key, document.to_entry(time.time()))
        return document


def _cached(cache: FileCache, key: str, stored_since: float | None = None) -> Document | None:
    """The cached document, if at least `MIN_LEFT` is left (or it was stored after ``stored_since``)."""
    found = Document.from_entry(cache.get(key))
    if found is None:
        return None
    document, creds = found
    now = time.time()
    if creds.expiry - now >= MIN_LEFT or (stored_since is not None and creds.received >= stored_since):
        return document
    return None


def _served(document: Document) -> Document:
    if document.expiration is not None:  # -v says it (the cached path before parsing has no -v)
        until = to_iso(document.expiration)
        _logger().info("credential_process helper served from the cache (until %s)", until)
    return document


def _run_helper(argv: list[str]) -> Document:
    import subprocess

    name = argv[0]
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE)
    except FileNotFoundError:
        raise CliError(f"cannot run the helper {name!r}: command not found") from None
    except OSError as exc:
        raise CliError(f"cannot run the helper {name!r}: {exc.strerror or type(exc).__name__}") from None
    with process:
        deadline = time.monotonic() + LOCK_TIMEOUT
        try:
            # Until EOF, or its exit plus a moment: a browser it started may hold stdout for hours.
            output = read_bounded(process, OUTPUT_LIMIT, deadline)
            status = process.wait(max(0.0, deadline - time.monotonic()))
        except TooMuchOutput:
            process.kill()
            raise CliError(
                f"the helper {name!r} printed more than {OUTPUT_LIMIT} bytes: not a credential_process "
                "document"
            ) from None
        except subprocess.TimeoutExpired:
            process.kill()
            raise CliError(f"the helper {name!r} did not finish within {LOCK_TIMEOUT:.0f} s") from None
    if status != 0:
        how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        raise CliError(f"the helper {name!r} {how} (its output is not shown: it may hold secrets)")
    document = parse_document(output, name)
    expiry = "no expiration" if document.expiration is None else f"until {to_iso(document.expiration)}"
    _logger().info("ran the credential_process helper %s (%s)", name, expiry)
    return document


class TooMuchOutput(Exception):
    """The helper printed more than `read_bounded`'s ``limit``."""


#: After the helper exits, how long output from what it left behind (a
#: grandchild holding stdout) is still read before the read ends.
EXIT_GRACE = 0.5


def read_bounded(process: subprocess.Popen[bytes], limit: int, deadline: float) -> bytes:
    """Read the helper's stdout until EOF, or its exit plus `EXIT_GRACE`; at most ``limit`` bytes.

    Raises `TooMuchOutput` beyond ``limit``, and ``subprocess.TimeoutExpired``
    at ``deadline`` (``time.monotonic()``). The library reads its secret
    commands' output (`rolesession.mfa_from_command`) the same way, behind
    its providers.
    """
    import selectors
    import subprocess

    assert process.stdout is not None
    if sys.platform == "win32":  # no select() on pipes: a plain bounded read
        data = process.stdout.read(limit + 1)
        if len(data) > limit:
            raise TooMuchOutput
        return data
    fd = process.stdout.fileno()
    chunks: list[bytes] = []
    size = 0
    exited: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if exited is None and process.poll() is not None:
                exited = now
            if exited is not None and now >= exited + EXIT_GRACE:
                break  # what it left running holds stdout: what it printed itself is here
            if now >= deadline:
                raise subprocess.TimeoutExpired(process.args, deadline - now)
            # Short waits: the helper's exit is noticed even while a grandchild keeps the pipe open.
            if not selector.select(min(0.05, deadline - now)):
                continue
            data = os.read(fd, 65536)
            if not data:
                break
            size += len(data)
            if size > limit:
                raise TooMuchOutput
            chunks.append(data)
    return b"".join(chunks)


def parse_document(output: bytes, name: str = "the helper") -> Document:
    """The Version 1 document in a helper's output; `CliError` naming what is wrong, never a value."""

    def invalid(problem: str) -> CliError:
        return CliError(f"the output of the helper {name!r} {problem} (it is not shown: it may hold secrets)")

    try:
        data = json.loads(output.decode("utf-8"))
    except UnicodeDecodeError:
        raise invalid("is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        # The decoder's message says what it expected and where, never what it found.
        raise invalid(f"is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise invalid("is not JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise invalid(f"is a JSON {type(data).__name__}, not an object")
    version = data.get("Version")
    if type(version) is not int or version != 1:
        raise invalid('has no "Version": 1 (a credential_process document is Version 1)')
    fields: dict[str, str] = {}
    for field in ("AccessKeyId", "SecretAccessKey"):
        value = data.get(field)
        if not isinstance(value, str) or not value:
            raise invalid(f"has no {field} string")
        fields[field] = value
    optional = {key: data.get(key) for key in ("SessionToken", "Expiration", "AccountId")}
    for field, value in optional.items():
        if value is not None and not isinstance(value, str):
            raise invalid(f"has a {field} that is not a string")
    expiration = None
    if optional["Expiration"] is not None:
        try:
            expiration = to_epoch(optional["Expiration"])
        except (ValueError, OverflowError):
            raise invalid("has an Expiration that is not an ISO 8601 time") from None
    return Document(
        access_key=fields["AccessKeyId"],
        secret_key=fields["SecretAccessKey"],
        token=optional["SessionToken"] or None,
        expiration=expiration,
        account_id=optional["AccountId"] or None,
    )


def to_epoch(text: str) -> float:
    """Epoch seconds of an ISO 8601 time (``Z`` or an offset; UTC when it has neither)."""
    value = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.timestamp()


def to_iso(epoch: float) -> str:
    """``2026-11-22T10:00:00Z``: the form botocore parses in a ``credential_process`` document."""
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _user() -> str:
    """Who runs the helper: the user id and name (the cache directory is per user too)."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:  # Windows
        import getpass

        return "user:" + getpass.getuser()
    uid = getuid()
    try:
        import pwd

        name = pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        name = ""
    return f"uid:{uid}:{name}"

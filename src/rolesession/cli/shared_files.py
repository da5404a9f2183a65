"""The shared config files ``exec``'s command sees: ours, carrying the user's settings but no credentials.

AWS SDKs read ``~/.aws/credentials`` and ``~/.aws/config`` before the
container endpoint, and some let a profile named in ``AWS_PROFILE`` beat the
environment's keys: a command given the role's credentials (in its
environment, or through ``exec --server``'s endpoint) would still sign as
the user's ``[default]`` keys, run its ``credential_process``, or fail on
its SSO sign-in. So the command gets files of ours instead:

* ``AWS_SHARED_CREDENTIALS_FILE`` names an empty file;
* ``AWS_CONFIG_FILE`` names a file whose ``[default]`` holds the settings of
  the profile the command would have read (``--profile``, else
  ``AWS_DEFAULT_PROFILE`` / ``AWS_PROFILE``, else ``default``, merged from
  both files as botocore merges them) -- region, endpoints, ``ca_bundle``,
  retries, ``s3`` and the ``services`` section it names -- without any key
  that leads to credentials (`is_credential_key`);
* ``AWS_PROFILE`` and ``AWS_DEFAULT_PROFILE`` are removed (``[default]`` is
  the profile).

Both files are 0600 in a 0700 directory of their own, removed when the
command ends. They hold no secret, so one left behind by a killed run
leaks nothing.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

__all__ = [
    "CREDENTIAL_KEYS", "OTHER_CREDENTIALS", "child_settings", "command_environment", "is_credential_key",
    "isolated_files",
]  # fmt: skip

#: Variables that would name other credentials than the role's to ``exec``'s
#: command (some come before the container endpoint, or beat the
#: environment's keys, in an SDK's chain).
OTHER_CREDENTIALS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
)

#: Keys that lead an SDK to credentials (or to how it gets them), besides
#: every key with one of `CREDENTIAL_PREFIXES`.
CREDENTIAL_KEYS = frozenset(
    {
        "credential_process",
        "credential_source",
        "external_id",
        "duration_seconds",
        "session_tags",
        "transitive_session_tags",
        "login_session",
    }
)
#: ``aws_access_key_id`` and the like, ``sso_*``, ``role_arn`` /
#: ``role_session_name``, ``source_profile`` / ``source_identity``,
#: ``mfa_serial`` / ``mfa_process``, ``web_identity_token_file``.
CREDENTIAL_PREFIXES = ("aws_", "sso_", "role_", "source_", "mfa_", "web_identity_", "credential_")

#: Variables naming the profile an SDK reads; ours is ``[default]``.
PROFILE_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")


def is_credential_key(key: str) -> bool:
    """Whether a profile key leads to credentials (and stays out of the command's files)."""
    name = key.lower()
    return name in CREDENTIAL_KEYS or name.startswith(CREDENTIAL_PREFIXES)


def child_profile(profile: str | None, env: Mapping[str, str]) -> str:
    """The profile whose settings the command gets: ``--profile``, else the one it would read."""
    # botocore's order: AWS_DEFAULT_PROFILE, then AWS_PROFILE, then "default".
    return profile or env.get("AWS_DEFAULT_PROFILE") or env.get("AWS_PROFILE") or "default"


def child_settings(profile: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The profile's non-credential settings, and the ``services`` section it names (if any).

    Read as botocore reads them (both files, the credentials file's values
    winning), from the files the environment names now. With neither file
    there botocore would read nothing: then nothing is imported (the cached
    ``exec`` runs without botocore).
    """
    if not any(os.path.isfile(path) for path in _shared_file_paths()):
        return {}, {}
    import botocore.session

    config = botocore.session.Session().full_config
    found = config.get("profiles", {}).get(profile, {})
    settings = {k: v for k, v in found.items() if not is_credential_key(k)}
    services: dict[str, Any] = {}
    name = settings.get("services")
    if isinstance(name, str) and isinstance(config.get("services", {}).get(name), dict):
        services = {name: config["services"][name]}
    return settings, services


def _shared_file_paths() -> tuple[str, str]:
    """The config and credentials files botocore reads: its variables (even empty), else its defaults,
    ``~`` and variables expanded as its config loader expands them."""
    config = os.environ.get("AWS_CONFIG_FILE", "~/.aws/config")
    credentials = os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
    return os.path.expanduser(os.path.expandvars(config)), os.path.expanduser(os.path.expandvars(credentials))


def render(settings: Mapping[str, Any], services: Mapping[str, Any]) -> str:
    """The config file: ``[default]`` with ``settings``, then the ``[services NAME]`` section."""
    lines = ["[default]", *_entries(settings)]
    for name, section in services.items():
        lines += ["", f"[services {name}]", *_entries(section)]
    return "\n".join(lines) + "\n"


def _entries(section: Mapping[str, Any]) -> Iterator[str]:
    for key, value in section.items():
        if isinstance(value, Mapping):  # a nested section: "s3 =" then indented keys
            nested = [f"  {k} = {v}" for k, v in value.items() if _plain(k, v)]
            if nested:
                yield f"{key} ="
                yield from nested
        elif _plain(key, value):
            yield f"{key} = {value}"


def _plain(key: object, value: object) -> bool:
    # A value that would break the file's lines (or a key that is not a key) is left out.
    text = f"{key}{value}"
    return isinstance(key, str) and isinstance(value, str) and "\n" not in text and "\r" not in text


@contextmanager
def command_environment(profile: str | None) -> Iterator[dict[str, str]]:
    """The environment ``exec``'s command starts from, for the block: one definition for every path.

    This run's environment as it found it (`loops.outer_environment`), without
    any variable naming other credentials (`OTHER_CREDENTIALS`), pointing at
    our credential-free files with the settings of ``profile`` (``--profile``;
    else the profile the command would have read). The caller adds the
    credentials' variables, or an endpoint's.
    """
    from .loops import outer_environment

    env = outer_environment(dict(os.environ))
    chosen = child_profile(profile, env)  # whose settings it gets, before AWS_PROFILE goes
    for name in OTHER_CREDENTIALS:
        env.pop(name, None)
    # The command signs as the role whatever the user's ~/.aws files hold.
    with isolated_files(env, chosen) as isolated:
        yield isolated


@contextmanager
def isolated_files(env: dict[str, str], profile: str) -> Iterator[dict[str, str]]:
    """``env`` pointing at our credential-free files, with ``profile``'s settings, for the block."""
    settings, services = child_settings(profile)
    directory = tempfile.mkdtemp(prefix="rolesession-exec-")  # 0700, ours alone
    try:
        config = os.path.join(directory, "config")
        credentials = os.path.join(directory, "credentials")
        _write_private(config, render(settings, services))
        _write_private(credentials, "")
        for name in PROFILE_VARIABLES:
            env.pop(name, None)
        env["AWS_CONFIG_FILE"] = config
        env["AWS_SHARED_CREDENTIALS_FILE"] = credentials
        yield env
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)

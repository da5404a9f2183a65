"""``assume`` answered from the file cache without boto3 or botocore, when the answer is certain.

A ``credential_process`` is started by every consumer process; importing
boto3 is nearly all of its cost. Two cached paths serve only what the full
path (`commands.assume`) would certainly print -- role ARNs assumed from the
environment's keys, with no option but those `rolesession.cached_chain` keys
on, every hop's entry valid and outside its refresh window, the region
certain, and no shared failure marker -- and anything else takes the full
path:

* `answer`, before any parsing: a *hand-out memo* for exactly this run. A run
  that handed credentials out records, as an entry of the file cache, where
  its hops' entries are (their keys, computed once by the library), under a
  key over every input those keys and the document depend on (`memo_key`:
  the arguments, every ``AWS_*`` variable, the user and host the default
  session name is made of, the shared config and credentials files' content,
  the library's version). A run with the same inputs reads the
  memo and those entries -- each checked to be the very credentials the
  memo saw, so still outside their refresh windows until the time it
  recorded -- and prints them. It imports no parser, no parameter table and
  no key material: json, hashlib and the file cache's reader;
* `assume`, after parsing: the keys computed again from the parsed options
  (`rolesession.cached_chain`), without boto3 -- for a run with no memo yet.

``exec`` without an endpoint is served the same two ways (`exec_`), and
``cache -- HELPER...`` without options before any parsing
(`process_cache.cached_output`: its own key, which needs no memo).
"""

from __future__ import annotations

import os
import time
from collections.abc import Hashable, Mapping

from rolesession import FileCache, RoleCredentials, __version__

from . import documents

TYPE_CHECKING = False  # no ``argparse``/``typing`` at run time: `answer` runs before any parser
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from .failures import SharedFailures

__all__ = ["answer", "assume", "exec_", "memo_key", "remember", "run", "shared_failures"]

#: The options the cached paths understand; any other given sends a run to the full path.
_SERVED = frozenset({"session_name", "region", "sts_endpoint_url", "duration"})
_FORMATS = ("credential-process", "env", "json")
#: What a memo records, beside the last hop's (secret-free) entry that dates it.
_MEMO_FIELD = "HandOut"
_MEMO_VERSION = 1
#: A shared config or credentials file larger than this is never part of a memo's key.
_MAX_SHARED_FILE = 1 << 20
#: The variables ``getpass.getuser`` reads (the default session name is ``user@host``).
_USER_VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")


# -- the memo: before any parsing ---------------------------------------------------------


def answer(argv: list[str]) -> int | None:
    """Answer a run from a hand-out memo for exactly ``argv``: ``assume`` prints its document (0),
    ``exec`` runs its command (its exit code); ``None``: no memo, or it no longer holds (the caller
    parses and goes on). Raises only what running ``exec``'s command raises (`child.run_command`)."""
    try:
        if argv[:2] == ["cache", "--"] and argv[2:]:  # no option: `process_cache.cached_output` knows it
            from .process_cache import cached_output

            output = cached_output(argv[2:])
            if output is not None:
                print(output, flush=True)
                return 0
            return None
        found = _remembered(argv)
    except Exception:  # whatever went wrong here, the full path answers (and says it)
        return None
    if found is None:
        return None
    creds, form, region = found
    if form is None:  # exec: the full path's environment, and its way of running the command
        from .child import run_command
        from .shared_files import command_environment

        with command_environment(None) as env:
            env.update(documents.environ(creds, region))
            return run_command(argv[argv.index("--") + 1 :], env)
    print(documents.document(creds, region, form), flush=True)
    return 0


def _memo_argv(argv: list[str]) -> list[str] | None:
    """What the memo of a run is keyed by: ``assume``'s arguments; ``exec``'s before its command
    (which changes neither the keys nor the environment); ``None`` for other runs."""
    if "-h" in argv or "--help" in argv:
        return None
    command = _command(argv)
    if command == "assume":
        return list(argv)
    if command == "exec" and "--" in argv:
        split = argv.index("--")
        return argv[:split] if argv[split + 1 :] else None
    return None


def memo_key(argv: list[str]) -> str | None:
    """The file cache key of the hand-out memo for a run with ``argv`` in this environment.

    A digest of every input the full path's keys and document depend on for
    the runs that record memos (`remember`): the arguments, every ``AWS_*``
    variable (the source keys, region, profile, session name and endpoint
    variables), ``HOME`` and ``XDG_CACHE_HOME``, the user and host the default
    session name is made of, the content of the shared config and
    credentials files (what botocore reads there), and the library's version.
    ``None`` where the host name cannot be read without ``socket`` (no
    ``os.uname``): no memo there.
    """
    uname = getattr(os, "uname", None)
    getuid = getattr(os, "getuid", None)
    if uname is None or getuid is None:
        return None
    environ = os.environ
    user = [environ.get(name) for name in _USER_VARIABLES]
    inputs: dict[str, Any] = {
        "version": __version__,
        "argv": list(argv),
        "aws": {name: value for name, value in sorted(environ.items()) if name.startswith("AWS_")},
        "home": environ.get("HOME"),
        "cache_home": environ.get("XDG_CACHE_HOME"),
        "user": user if any(user) else _passwd_name(getuid()),
        "uid": getuid(),
        "host": uname().nodename,
        "files": [
            _file_content(environ.get("AWS_CONFIG_FILE", os.path.join("~", ".aws", "config"))),
            _file_content(
                environ.get("AWS_SHARED_CREDENTIALS_FILE", os.path.join("~", ".aws", "credentials"))
            ),
        ],
    }
    return FileCache.key_for({"operation": "cli-hand-out", "inputs": inputs})


def _remembered(argv: list[str]) -> tuple[RoleCredentials, str | None, str | None] | None:
    """The credentials, format (``None``: exec) and region the memo for ``argv`` stands for, if every
    hop it names still holds."""
    keyed = _memo_argv(argv)
    key = None if keyed is None else memo_key(keyed)
    if key is None or not os.path.exists(os.path.join(FileCache.default_directory(), f"{key}.json")):
        return None  # no memo: not even the cache directory's checks are paid
    cache = FileCache()
    memo = _read_memo(cache, key)
    if memo is None:
        return None
    hops, answer, until, form, region, marker = memo
    if time.time() > until or os.path.lexists(os.path.join(cache.directory, f"{marker}.failure")):
        return None  # due for a refresh, or another run's failure is shared: the full path decides
    held = []
    for hop_key, access_key, expiration in hops:
        entry = cache.get(hop_key)
        creds = None if entry is None else RoleCredentials.from_entry(entry)
        if creds is None or (creds.access_key, creds.expiration) != (access_key, expiration):
            return None  # gone, or refreshed since: its successor's key and windows are not the memo's
        held.append(creds)
    if (form is None) != (_command(argv) == "exec"):
        return None
    return held[answer], form, region


def _read_memo(
    cache: FileCache, key: str
) -> tuple[list[tuple[str, str, float]], int, float, str | None, str | None, str] | None:
    entry = cache.get(key)
    memo = None if entry is None else entry.get(_MEMO_FIELD)
    if not isinstance(memo, dict) or memo.get("Version") != _MEMO_VERSION:
        return None
    names = ("Hops", "Answer", "Until", "Format", "Region", "Marker")
    hops, answer, until, form, region, marker = (memo.get(k) for k in names)
    if not (isinstance(hops, list) and hops and isinstance(until, (int, float))):
        return None
    if type(answer) is not int or not 0 <= answer < len(hops):
        return None
    if not (form is None or form in _FORMATS):
        return None
    if not (region is None or isinstance(region, str)) or not isinstance(marker, str):
        return None
    checked = []
    for hop in hops:
        if not (isinstance(hop, list) and len(hop) == 3):
            return None
        hop_key, access_key, expiration = hop
        if not (
            isinstance(hop_key, str) and isinstance(access_key, str) and isinstance(expiration, (int, float))
        ):
            return None
        checked.append((hop_key, access_key, float(expiration)))
    return checked, answer, float(until), None if form is None else str(form), region, marker


def _command(argv: list[str]) -> str | None:
    """The subcommand: the first argument that is not one of the main options (as `parse_args`)."""
    return next((a for a in argv if not a.startswith("-")), None)


def _file_content(path: str) -> str | None:
    """What botocore would read in the shared file at ``path`` (``None``: no file there), the path
    expanded as its config loader expands it (variables, then ``~``); bytes kept as latin-1."""
    try:
        with open(os.path.expanduser(os.path.expandvars(path)), "rb") as handle:
            data = handle.read(_MAX_SHARED_FILE + 1)
    except (OSError, ValueError):
        return None
    if len(data) > _MAX_SHARED_FILE:  # not a config file anyone edits by hand: never the same key
        return f"too large, read at {time.time()!r}"
    return data.decode("latin-1")


def _passwd_name(uid: int) -> str | None:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError, OSError):
        return None


# -- after parsing --------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int | None:
    """``assume`` or ``exec`` (without an endpoint) from the cache: their exit code; ``None``: take
    the full path."""
    _TOUCHED.clear()  # this run's (a program may call ``main()`` again)
    _HANDED_OUT.clear()
    if args.command == "exec":
        return exec_(args)
    return assume(args)


def assume(args: argparse.Namespace) -> int | None:
    """Print ``assume``'s document from the cache and return 0; ``None``: take the full path."""
    if not _eligible(args):
        return None
    region = _region(args)[1]
    hops = _cached_hops(args)
    if hops is None:
        return None
    print(documents.document(hops[-1][1], region, args.format), flush=True)
    return 0


def exec_(args: argparse.Namespace) -> int | None:
    """Run ``exec``'s command with the cached credentials and return its exit code; ``None``: take
    the full path.

    Without ``--server``/``--imds`` only (an endpoint keeps a session refreshing). The
    environment is the full path's (`shared_files.command_environment`, `documents.environ`)
    and the command runs as it does there (`child.run_command`); botocore is not imported
    while no shared config or credentials file exists (`shared_files.child_settings`).
    """
    if not _exec_served(args):
        return None
    hops = _chain(args, FileCache())
    if hops is None:
        return None
    from .child import run_command
    from .shared_files import command_environment

    with command_environment(args.profile) as env:
        env.update(documents.environ(hops[-1][1], _region(args)[1]))
        return run_command(args.exec_command, env)


def remember(argv: list[str], args: argparse.Namespace) -> None:
    """After ``assume`` handed credentials out (or ``exec`` ran its command with them): record the
    memo `answer` reads for the next run with the same arguments and inputs (nothing when the run
    is not one the cached paths serve)."""
    keyed = _memo_argv(argv)
    key = None if keyed is None else memo_key(keyed)
    if key is None:
        return
    if args.command == "assume" and args.profile is not None:
        _remember_profile(key, args)
        return
    is_exec = args.command == "exec"
    if not (_exec_served(args) if is_exec else _eligible(args)):
        return
    hops = _cached_hops(args)
    if hops is None:
        return
    checked = [(hop_key, creds, until) for hop_key, creds, until in hops]
    _write_memo(key, args, checked, len(checked) - 1, None if is_exec else args.format, _region(args)[1])


def _write_memo(
    key: str,
    args: argparse.Namespace,
    hops: list[tuple[str, RoleCredentials, float]],
    answer: int,
    form: str | None,
    region: str | None,
) -> None:
    entry = hops[answer][1].to_entry()
    # The memo is dated by the answer's entry (the sweep removes it with it), without its secrets.
    entry["Credentials"].update(SecretAccessKey="", SessionToken="")
    cache = FileCache()
    entry[_MEMO_FIELD] = {
        "Version": _MEMO_VERSION,
        "Hops": [[hop_key, creds.access_key, creds.expiration] for hop_key, creds, _ in hops],
        "Answer": answer,
        "Until": min(until for _, _, until in hops),
        "Format": form,
        "Region": region,
        "Marker": shared_failures(args, cache).key,
    }
    cache.set(key, entry)


# -- --profile: the entries the full path itself read and wrote ---------------------------------

#: This run's file-cache entries, in the order the full path touched them: key -> the access
#: keys it saw there (`RecordingCache`).
_TOUCHED: dict[str, set[str]] = {}
#: What this run's full path handed out, and with which region (`handed_out`).
_HANDED_OUT: list[tuple[RoleCredentials, str | None]] = []
#: Profile keys whose credentials may differ from run to run, or need a person.
_UNCERTAIN_KEYS = frozenset(
    {"credential_process", "credential_source", "web_identity_token_file", "mfa_serial", "mfa_process",
     "login_session"}
)  # fmt: skip


class RecordingCache(FileCache):
    """The full path's `FileCache`: it also notes which entries this run read and wrote, for the
    memo of a ``--profile`` run (whose keys only the full path computes: `_remember_profile`)."""

    def get(self, key: Hashable) -> dict[str, Any] | None:
        entry = super().get(key)
        if entry is not None:
            _touch(key, entry)
        return entry

    def set(self, key: Hashable, entry: dict[str, Any]) -> None:
        super().set(key, entry)
        _touch(key, entry)


def _touch(key: Hashable, entry: Mapping[str, Any]) -> None:
    credentials = entry.get("Credentials")
    access_key = credentials.get("AccessKeyId") if isinstance(credentials, Mapping) else None
    if isinstance(key, str):
        _TOUCHED.setdefault(key, set()).add(str(access_key))


def handed_out(creds: RoleCredentials, region: str | None) -> None:
    """The full path's ``assume`` handed ``creds`` out with ``region`` (for `_remember_profile`)."""
    _HANDED_OUT.append((creds, region))


def _remember_profile(key: str, args: argparse.Namespace) -> None:
    """The memo of a ``--profile`` run whose answer is certain from its inputs and the entries it
    touched: a role profile walking to static keys in the shared files (no helper, SSO, web
    identity, ``credential_source`` or MFA), served options only, every entry the run touched
    still the one it saw (one set of credentials per key: no refresh in between) and outside its
    refresh window, and the credentials handed out among them."""
    if args.format not in _FORMATS or not _HANDED_OUT or not _TOUCHED:
        return
    served = _SERVED | {"profile"}
    if _given_options(args) - served or not _static_role_profile(args.profile):
        return
    handed, region = _HANDED_OUT[-1]
    cache = FileCache()
    hops: list[tuple[str, RoleCredentials, float]] = []
    now = time.time()
    for hop_key, seen in _TOUCHED.items():
        entry = cache.get(hop_key)
        creds = None if entry is None else RoleCredentials.from_entry(entry)
        if creds is None or seen != {creds.access_key}:
            return  # gone, or refreshed during the run: its successor's key may be another one now
        until = creds.hand_out_until(documents.HAND_OUT_MINIMUM)
        if now > until:
            return
        hops.append((hop_key, creds, until))
    # By access key id (one per set STS issues): the entry keeps whole seconds of the expiration.
    answers = [i for i, (_, creds, _) in enumerate(hops) if creds.access_key == handed.access_key]
    if len(answers) != 1:
        return
    _write_memo(key, args, hops, answers[0], args.format, region)


def _static_role_profile(name: str) -> bool:
    """Whether ``name`` is a role profile whose walk ends at static keys, with nothing on the way
    whose credentials may differ between runs or need a person (`_UNCERTAIN_KEYS`, ``sso_*``)."""
    from .profiles import configured_profiles, walk

    profiles = configured_profiles()
    found = walk(name, profiles)
    root = profiles.get(found.root) if found.root is not None else None
    if not found.is_role or not isinstance(root, Mapping):
        return False
    if not ("aws_access_key_id" in root and "aws_secret_access_key" in root):
        return False
    for values in (*(values for _, values in found.hops), root):
        if any(k in _UNCERTAIN_KEYS or str(k).startswith("sso_") for k in values):
            return False
    return True


def _given_options(args: argparse.Namespace) -> set[str]:
    from .options import OPTIONS

    return {o.dest for o in OPTIONS if getattr(args, o.dest, None) not in (None, [], False)}


def _eligible(args: argparse.Namespace) -> bool:
    """Whether the cached paths may serve this ``assume`` (the rest of the rules: `_cached_hops`)."""
    return args.command == "assume" and args.format in _FORMATS and _served(args)


def _exec_served(args: argparse.Namespace) -> bool:
    return args.command == "exec" and not args.server and not args.imds and _served(args)


def _served(args: argparse.Namespace) -> bool:
    """Role ARNs, no option but `_SERVED`, and a region certain without botocore."""
    if not args.role_arns or _given_options(args) - _SERVED:
        return False
    return _region(args)[0]


def _cached_hops(args: argparse.Namespace) -> list[tuple[str, RoleCredentials, float]] | None:
    cache = FileCache()
    if shared_failures(args, cache).read() is not None:
        return None  # another run's failure is shared: the full path says what it says
    return _chain(args, cache)


def _chain(args: argparse.Namespace, cache: FileCache) -> list[tuple[str, RoleCredentials, float]] | None:
    from rolesession import cached_chain

    return cached_chain(
        args.role_arns,
        session_name=args.session_name,
        duration=args.duration,
        sts_endpoint_url=args.sts_endpoint_url,
        minimum=documents.HAND_OUT_MINIMUM,
        cache=cache,
    )


def shared_failures(args: argparse.Namespace, cache: FileCache) -> SharedFailures:
    """The failure marker ``assume`` shares with its other runs with these options (`cli.failures`)."""
    from .failures import SharedFailures, marker_key
    from .options import OPTIONS

    request = {option.dest: getattr(args, option.dest, None) for option in OPTIONS}
    return SharedFailures(cache, marker_key({"command": "assume", "role_arns": args.role_arns, **request}))


def _region(args: argparse.Namespace) -> tuple[bool, str | None]:
    """Whether the region the full path would configure is certain without botocore, and that region."""
    import re

    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        config = os.environ.get("AWS_CONFIG_FILE") or os.path.join("~", ".aws", "config")
        # A profile there may configure one (or a bad one): botocore reads it.
        return not os.path.exists(os.path.expanduser(config)), None
    # The full path checks the region against the role's partition (botocore's pattern for ``aws``).
    partition_aws = all(arn.startswith("arn:aws:") for arn in args.role_arns)
    return partition_aws and re.fullmatch(r"(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+", region) is not None, region

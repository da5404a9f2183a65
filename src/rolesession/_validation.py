"""Input checks, run by the call that receives a parameter, before any STS call.

Each ``check_*`` function returns the value normalised for the rest of the
library or raises `rolesession._errors.InvalidParameterError` naming
the parameter. Limits are STS's own (moto enforces almost none of them, so
the library must).

Every check holds against hostile input too: iterables are read only up to
the largest valid size (``itertools.count()`` is rejected, not read
forever), ``str``/``int`` subclasses are reduced to plain values before
anything of theirs runs, and whatever else a value does when looked at
(a ``__len__``, ``items()``, ``to_dict()`` or ``__fspath__`` that raises)
becomes an ``InvalidParameterError`` naming the parameter, never a
``TypeError`` from deep inside or a hang.
"""

from __future__ import annotations

import datetime as _dt
import functools
import inspect
import itertools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sized
from typing import Any, ParamSpec, TypeVar

from . import _limits
from ._errors import InvalidParameterError

T = TypeVar("T")
P = ParamSpec("P")


class LazyPattern:
    """A regular expression compiled on first use: ``import rolesession`` stays light."""

    __slots__ = ("_compiled", "_source")

    def __init__(self, source: str) -> None:
        self._source = source
        self._compiled: re.Pattern[str] | None = None

    def fullmatch(self, text: str) -> re.Match[str] | None:
        compiled = self._compiled
        if compiled is None:
            compiled = self._compiled = re.compile(self._source)
        return compiled.fullmatch(text)

_W = r"A-Za-z0-9_"  # SPEC: ``\w`` means ASCII only
_PARTITION = r"aws(?:-[a-z]+)*"
ROLE_ARN_RE = LazyPattern(
    rf"arn:(?P<partition>{_PARTITION}):iam::(?P<account>\d{{12}}):role"
    rf"(?P<path>/(?:[\x21-\x7e]+/)?)(?P<name>[{_W}+=,.@-]{{1,64}})"
)
PRINCIPAL_ARN_RE = LazyPattern(
    rf"arn:(?P<partition>{_PARTITION}):iam::\d{{12}}:saml-provider/[{_W}.-]{{1,128}}"
)
POLICY_ARN_RE = LazyPattern(
    rf"arn:{_PARTITION}:iam::(?:\d{{12}}|aws):policy(?:/[\x21-\x7e]+)?/[{_W}+=,.@-]{{1,128}}"
)
_SESSION_NAME_RE = LazyPattern(rf"[{_W}+=,.@-]{{2,64}}")
_EXTERNAL_ID_RE = LazyPattern(rf"[{_W}+=,.@:/-]{{2,1224}}")
_MFA_SERIAL_RE = LazyPattern(rf"[{_W}+=/:,.@-]{{9,256}}")
_MFA_TOKEN_RE = LazyPattern(r"[0-9]{6}")
_REGION_RE = LazyPattern(r"[a-z]{2,4}(?:-[a-z0-9]+)+")
_HOST_LABEL_RE = LazyPattern(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_POLICY_CHARACTER_RE = LazyPattern(r"[\t\n\r\x20-\xff]*")

# STS's own limits: one table (``_limits``), shared with the file cache.
MIN_DURATION = _limits.MIN_DURATION
MAX_DURATION = _limits.MAX_DURATION
CHAINED_MAX_DURATION = _limits.CHAINED_MAX_DURATION
PACKED_POLICY_LIMIT = _limits.PACKED_POLICY_LIMIT
MAX_POLICY_ARNS = 10
MAX_TAGS = 50
MAX_TRANSITIVE_TAG_KEYS = 50
MAX_ARN_LENGTH = 2048
#: A region is one DNS label of the STS host name (``sts.<region>.amazonaws.com``).
MAX_REGION_LENGTH = 63
MAX_ENDPOINT_URL_LENGTH = 2048
#: The compact form of a session policy is at most 2048 characters, but users
#: pass indented, commented-out-by-whitespace text: 16 times that covers any
#: pretty-printing of a valid policy, and stops a multi-megabyte string (or a
#: deeply nested one) from being parsed at all.
MAX_RAW_POLICY_LENGTH = 32 * 1024
_TAG_PUNCTUATION = frozenset("_.:/=+-@")


def fail(parameter: str, message: str) -> InvalidParameterError:
    """Build the error for ``parameter``; the message never echoes secrets."""
    return InvalidParameterError.of(parameter, message)


def _type_name(value: object) -> str:
    return type(value).__name__


def guarded(check: Callable[P, T]) -> Callable[P, T]:
    """Make any exception ``check`` meets on hostile input an ``InvalidParameterError``.

    The checks below handle the input they expect; this is the net under
    them for whatever a user-defined type does when looked at (an
    ``__eq__``, ``__len__``, ``__iter__`` or ``__class__`` that raises, a
    nesting deep enough for ``RecursionError``). The error names the
    ``parameter`` the check was given and is chained from the original.
    """
    signature = inspect.signature(check)
    position = list(signature.parameters).index("parameter")
    default = signature.parameters["parameter"].default

    @functools.wraps(check)
    def checked(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return check(*args, **kwargs)
        except (InvalidParameterError, MemoryError):
            raise
        except Exception as exc:
            parameter = kwargs.get("parameter", args[position] if len(args) > position else default)
            # The original message may quote the value (a secret, for a token): name its type only.
            raise fail(str(parameter), f"could not be checked ({_type_name(exc)})") from exc

    return checked


def plain_str(value: str) -> str:
    """``value`` as an exact ``str``: a subclass's own ``__len__``/``__eq__``/``__hash__`` never run."""
    return value if type(value) is str else str.__str__(value)


def _shown_number(value: int) -> str:
    # str() of an int with over 4300 digits raises ValueError; such a number needs no echo.
    return str(value) if -(10**18) < value < 10**18 else "a number out of range"


def bounded(value: Iterable[T], limit: int, parameter: str, what: str) -> tuple[T, ...]:
    """Read at most ``limit`` items of ``value``; more is an error (an endless iterable included)."""
    try:
        items = tuple(itertools.islice(value, limit + 1))
    except (InvalidParameterError, MemoryError):
        raise
    except Exception as exc:
        raise fail(parameter, f"could not be read ({_type_name(exc)})") from exc
    if len(items) > limit:
        got = f"more than {limit}"
        # Only a builtin collection's own length is asked for (a subclass's __len__ could raise).
        if type(value) in (list, tuple, set, frozenset) and isinstance(value, Sized):
            got = str(len(value))
        raise fail(parameter, f"at most {limit} {what}, got {got}")
    return items


@guarded
def check_str(value: object, parameter: str) -> str:
    if not isinstance(value, str):
        raise fail(parameter, f"expected a string, got {_type_name(value)}")
    return plain_str(value)


@guarded
def check_role_arn(value: object, parameter: str = "role_arn") -> str:
    arn = check_str(value, parameter)
    if not 20 <= len(arn) <= MAX_ARN_LENGTH or not ROLE_ARN_RE.fullmatch(arn):
        raise fail(
            parameter,
            f"{arn[:100]!r} is not an IAM role ARN "
            "(arn:<partition>:iam::<12-digit account>:role/[<path>/]<name>)",
        )
    return arn


@guarded
def check_principal_arn(value: object, parameter: str = "principal_arn") -> str:
    arn = check_str(value, parameter)
    if not 20 <= len(arn) <= MAX_ARN_LENGTH or not PRINCIPAL_ARN_RE.fullmatch(arn):
        raise fail(
            parameter,
            f"{arn[:100]!r} is not an IAM SAML provider ARN "
            "(arn:<partition>:iam::<12-digit account>:saml-provider/<name>)",
        )
    return arn


def partition_of(arn: str) -> str:
    """The partition of an ARN already checked by this module."""
    return arn.split(":", 2)[1]


@guarded
def check_session_name(value: object, parameter: str = "session_name") -> str:
    name = check_str(value, parameter)
    if not _SESSION_NAME_RE.fullmatch(name):
        raise fail(parameter, "must be 2-64 characters of A-Z a-z 0-9 _ + = , . @ -")
    return name


@guarded
def check_source_identity(value: object, parameter: str = "source_identity") -> str:
    ident = check_session_name(value, parameter)
    if ident.lower().startswith("aws:"):
        raise fail(parameter, "must not start with 'aws:'")
    return ident


@guarded
def check_external_id(value: object, parameter: str = "external_id") -> str:
    ext = check_str(value, parameter)
    if not _EXTERNAL_ID_RE.fullmatch(ext):
        raise fail(parameter, "must be 2-1224 characters of A-Z a-z 0-9 _ + = , . @ : / -")
    return ext


@guarded
def check_mfa_serial(value: object, parameter: str = "mfa_serial") -> str:
    serial = check_str(value, parameter)
    if not _MFA_SERIAL_RE.fullmatch(serial):
        raise fail(parameter, "must be 9-256 characters of A-Z a-z 0-9 _ + = / : , . @ -")
    return serial


def is_mfa_code(value: object) -> bool:
    return isinstance(value, str) and _MFA_TOKEN_RE.fullmatch(plain_str(value)) is not None


@guarded
def check_mfa_token(
    value: object, parameter: str = "mfa_token"
) -> str | Callable[[], str]:
    if callable(value):
        return value
    if not is_mfa_code(value):
        # Never echo the value: it is a secret even when malformed.
        raise fail(parameter, "must be a string of exactly 6 digits or a callable returning one")
    return plain_str(value)  # type: ignore[arg-type]


@guarded
def check_secret_provider(
    value: object, parameter: str, low: int, high: int, what: str
) -> str | Callable[[], str]:
    """A token or assertion: a string of ``low..high`` chars, or a callable."""
    if callable(value):
        return value
    if not isinstance(value, str):
        raise fail(parameter, f"expected a string or a callable, got {_type_name(value)}")
    return check_secret_length(plain_str(value), parameter, low, high, what)


def check_secret_length(value: str, parameter: str, low: int, high: int, what: str) -> str:
    if not low <= len(value) <= high:
        raise fail(parameter, f"{what} must be {low}-{high} characters, got {len(value)}")
    return value


@guarded
def check_duration(
    value: object, parameter: str = "duration", maximum: int = MAX_DURATION, minimum: int = MIN_DURATION
) -> int | None:
    if value is None:
        return None
    if isinstance(value, _dt.timedelta):
        # timedelta's own method: a subclass's override could return anything.
        seconds = _dt.timedelta.total_seconds(value)
        if seconds != int(seconds):
            raise fail(parameter, "must be a whole number of seconds")
        number = int(seconds)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise fail(parameter, f"expected int seconds or timedelta, got {_type_name(value)}")
    else:
        number = int.__int__(value)  # a plain int, whatever a subclass's comparisons do
    if not minimum <= number <= maximum:
        raise fail(parameter, f"must be {minimum}-{maximum} seconds, got {_shown_number(number)}")
    return number


def compact_json(document: Mapping[str, Any]) -> str:
    """The serialisation STS measures a session policy by (keys sorted: one text per policy)."""
    return json.dumps(
        document, separators=(",", ":"), ensure_ascii=False, sort_keys=True, allow_nan=False
    )


@guarded
def check_policy(value: object, parameter: str = "policy") -> str | None:
    """A session policy (``dict``, JSON ``str`` or ``Policy``) as compact JSON.

    A JSON string longer than `MAX_RAW_POLICY_LENGTH` (32 KiB) is refused
    before it is parsed: its compact form must fit 2048 characters, and no
    indentation of such a policy comes near that size.
    """
    if value is None:
        return None
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, Mapping):
        try:
            value = to_dict()
        except (InvalidParameterError, MemoryError):
            raise
        except Exception as exc:
            raise fail(parameter, f"{_type_name(value)}.to_dict() failed ({_type_name(exc)})") from exc
    if isinstance(value, str):
        value = _parse_policy(plain_str(value), parameter)
    if not isinstance(value, Mapping):
        raise fail(parameter, f"must be a JSON object, a dict or a Policy, got {_type_name(value)}")
    try:
        text = compact_json(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise fail(parameter, f"is not JSON-serialisable ({_type_name(exc)})") from None
    if not _POLICY_CHARACTER_RE.fullmatch(text):
        ch = next(c for c in text if not ("\x20" <= c <= "\xff" or c in "\t\n\r"))
        raise fail(
            parameter,
            f"contains the character U+{ord(ch):04X}; session policies allow only "
            "tab, newline, carriage return and U+0020-U+00FF",
        )
    return text


def _parse_policy(text: str, parameter: str) -> Any:
    if len(text) > MAX_RAW_POLICY_LENGTH:
        raise fail(
            parameter,
            f"is {len(text)} characters of JSON; at most {MAX_RAW_POLICY_LENGTH} are read "
            f"(STS allows {PACKED_POLICY_LIMIT} once compacted)",
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(parameter, f"is not valid JSON ({exc.msg} at position {exc.pos})") from None
    except RecursionError:
        raise fail(parameter, "is nested too deeply") from None


@guarded
def check_description(value: object, parameter: str = "description") -> str:
    """A scoped session's description (``ScopedSessionDescription``): 2-256 characters of
    tab, newline, carriage return, U+0020-U+007E and U+00A1-U+00FF (the model's pattern)."""
    text = check_str(value, parameter)
    if not 2 <= len(text) <= 256:
        raise fail(parameter, f"must be 2-256 characters, got {len(text)}")
    if not re.fullmatch("[\t\n\r\x20-\x7e\xa1-\xff]*", text):
        raise fail(parameter, "allows only tab, newline, carriage return, U+0020-U+007E and U+00A1-U+00FF")
    return text


#: The root-task policies ``AssumeRoot`` takes, by short name.
ROOT_TASKS = (
    "IAMAuditRootUserCredentials", "IAMCreateRootUserPassword", "IAMDeleteRootUserCredentials",
    "S3UnlockBucketPolicy", "SQSUnlockQueuePolicy",
)  # fmt: skip
_ROOT_TASK_ARN_RE = re.compile(r"arn:(aws[a-z-]*):iam::aws:policy/root-task/([A-Za-z0-9]+)")


@guarded
def check_task_policy(value: object, parameter: str = "task_policy") -> str:
    """A root-task policy: its short name (``IAMAuditRootUserCredentials``) or its full ARN.
    Returned as given (a short name is made an ARN in the account's partition)."""
    text = check_str(value, parameter)
    match = _ROOT_TASK_ARN_RE.fullmatch(text)
    if (match.group(2) if match else text) not in ROOT_TASKS:
        raise fail(
            parameter,
            f"{text[:100]!r} is not a root task; expected one of {', '.join(ROOT_TASKS)} "
            "or its arn:<partition>:iam::aws:policy/root-task/... ARN",
        )
    return text


@guarded
def check_account_id(value: object, parameter: str = "account") -> str:
    """A 12-digit AWS account id (an int is zero-padded)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12:
        return f"{int.__int__(value):012d}"
    text = check_str(value, parameter)
    if not re.fullmatch(r"[0-9]{12}", text):
        raise fail(parameter, f"{text[:40]!r} is not a 12-digit account id")
    return text


@guarded
def check_policy_arns(value: object, parameter: str = "policy_arns") -> tuple[str, ...]:
    """At most `MAX_POLICY_ARNS` (10) policy ARNs; an iterable is read no further than 11 items."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise fail(parameter, f"expected a list of policy ARNs, got {_type_name(value)}")
    items = bounded(value, MAX_POLICY_ARNS, parameter, "policy ARNs")
    arns = []
    for i, arn in enumerate(items):
        if not isinstance(arn, str):
            raise fail(parameter, f"item {i} is a {_type_name(arn)}, not an IAM policy ARN")
        arn = plain_str(arn)
        if len(arn) > MAX_ARN_LENGTH or not POLICY_ARN_RE.fullmatch(arn):
            raise fail(parameter, f"item {i} ({arn[:100]!r}) is not an IAM policy ARN")
        arns.append(arn)
    return tuple(sorted(arns))


def check_packed_size(
    policy: str | None,
    policy_arns: tuple[str, ...],
    parameter: str,
    arns_parameter: str = "policy_arns",
) -> None:
    """The compact policy and the policy ARNs together fit STS's 2048 characters.

    The error names ``parameter`` (the policy), or ``arns_parameter`` when
    there is no policy and the ARNs alone are too long.
    """
    size = len(policy or "") + sum(len(a) for a in policy_arns)
    if size > PACKED_POLICY_LIMIT:
        raise fail(
            parameter if policy is not None else arns_parameter,
            f"session policy and policy ARNs take {size} characters (the policy as compact "
            f"JSON plus the ARNs); STS allows at most {PACKED_POLICY_LIMIT}",
        )


def _tag_text_ok(text: str) -> bool:
    import unicodedata  # only tags need it

    for ch in text:
        if ch in _TAG_PUNCTUATION:
            continue
        cat = unicodedata.category(ch)
        if cat[0] not in "LN" and cat != "Zs":
            return False
    return True


@guarded
def check_tags(value: object, parameter: str = "tags") -> tuple[tuple[str, str], ...]:
    """At most `MAX_TAGS` (50) session tags; a mapping is read no further than 51 items."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise fail(parameter, f"expected a dict of str to str, got {_type_name(value)}")
    size = len(value)
    if size > MAX_TAGS:
        raise fail(parameter, f"at most {MAX_TAGS} tags, got {_shown_number(size)}")
    items = bounded(value.items(), MAX_TAGS, parameter, "tags")
    seen: set[str] = set()
    tags = []
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise fail(parameter, "items() must give (key, value) pairs")
        key, val = item
        if not isinstance(key, str) or not isinstance(val, str):
            raise fail(parameter, "keys and values must be strings")
        key, val = plain_str(key), plain_str(val)
        if not 1 <= len(key) <= 128 or not _tag_text_ok(key):
            raise fail(
                parameter,
                f"key {key[:130]!r} must be 1-128 letters, numbers, spaces or _ . : / = + - @",
            )
        if len(val) > 256 or not _tag_text_ok(val):
            raise fail(
                parameter,
                f"value of {key!r} must be 0-256 letters, numbers, spaces or _ . : / = + - @",
            )
        if key.lower() in seen:
            raise fail(parameter, f"key {key!r} repeats another key (keys are case-insensitive)")
        seen.add(key.lower())
        tags.append((key, val))
    return tuple(sorted(tags))


@guarded
def check_transitive_tag_keys(
    value: object, tags: tuple[tuple[str, str], ...], parameter: str = "transitive_tag_keys"
) -> tuple[str, ...]:
    """Keys among ``tags``, at most 50; an iterable is read no further than 51 items."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise fail(parameter, f"expected a list of tag keys, got {_type_name(value)}")
    items = bounded(value, MAX_TRANSITIVE_TAG_KEYS, parameter, "keys")
    tag_keys = {k for k, _ in tags}
    keys = set()
    for key in items:
        if not isinstance(key, str):
            raise fail(parameter, f"expected tag keys (strings), got a {_type_name(key)}")
        key = plain_str(key)
        if key not in tag_keys:
            raise fail(parameter, f"{key[:130]!r} is not among the keys of tags")
        keys.add(key)
    return tuple(sorted(keys))


@guarded
def check_region(value: object, parameter: str = "region", origin: str = "") -> str | None:
    """A region name (``us-east-1``), at most `MAX_REGION_LENGTH` (63) characters.

    ``origin`` (e.g. "set in the environment") is added to the message.
    """
    if value is None:
        return None
    region = check_str(value, parameter)
    if len(region) > MAX_REGION_LENGTH or not _REGION_RE.fullmatch(region):
        where = f" ({origin})" if origin else ""
        raise fail(parameter, f"{region[:64]!r}{where} is not an AWS region name")
    return region


@guarded
def check_endpoint_url(value: object, parameter: str = "sts_endpoint_url") -> str | None:
    """An ``http(s)://host[:port][/path]`` URL, at most `MAX_ENDPOINT_URL_LENGTH` (2048) characters.

    Refused: another scheme, no host or an invalid one, a port outside
    1-65535, whitespace or control characters, and user information --
    credentials do not belong in a URL (and such a URL is never echoed).
    """
    if value is None:
        return None
    url = check_str(value, parameter)
    if len(url) > MAX_ENDPOINT_URL_LENGTH:
        raise fail(parameter, f"is {len(url)} characters; at most {MAX_ENDPOINT_URL_LENGTH}")
    if "@" in re.split(r"[/?#]", url.partition("://")[2], maxsplit=1)[0]:
        raise fail(parameter, "must not contain user information (user:password@); remove it")
    problem = _url_problem(url)
    if problem:
        raise fail(parameter, f"{url[:200]!r} is not an http(s) URL: {problem}")
    return url


def _url_problem(url: str) -> str | None:
    from urllib.parse import urlsplit  # only endpoint URLs need it

    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "it contains whitespace or a control character"
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # an unclosed "[", a port that is not a number in 0-65535
        return str(exc)
    if parts.scheme not in ("http", "https") or not url.lower().startswith(f"{parts.scheme}://"):
        return "the scheme must be http:// or https://"
    if parts.username is not None or parts.password is not None:  # pragma: no cover (caught above)
        return "it contains user information"
    if not host:
        return "it has no host"
    if port == 0:
        return "the port must be 1-65535"
    if not _valid_host(host, bracketed=parts.netloc.startswith("[")):
        return f"{host[:100]!r} is not a valid host name or IP address"
    return None


def _valid_host(host: str, *, bracketed: bool) -> bool:
    import ipaddress

    if bracketed:
        try:
            return ipaddress.ip_address(host.partition("%")[0]).version == 6
        except ValueError:
            return False
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(_HOST_LABEL_RE.fullmatch(label) for label in labels)


@guarded
def check_instance(
    value: T | None, parameter: str, cls: type[Any] | tuple[type[Any], ...], what: str
) -> T | None:
    if value is not None and not isinstance(value, cls):
        raise fail(parameter, f"expected {what}, got {_type_name(value)}")
    return value


@guarded
def check_optional_path(value: object, parameter: str) -> str | None:
    """A ``str`` or ``os.PathLike`` path (bytes paths are refused) as ``str``, or ``None``."""
    if value is None:
        return None
    import os

    if isinstance(value, os.PathLike) and not isinstance(value, str):
        try:
            value = os.fspath(value)
        except (InvalidParameterError, MemoryError):
            raise
        except Exception as exc:
            raise fail(parameter, f"{_type_name(value)}.__fspath__() failed ({_type_name(exc)})") from exc
    if not isinstance(value, str):
        raise fail(parameter, f"expected a str path or an os.PathLike giving one, got {_type_name(value)}")
    path = plain_str(value)
    if "\x00" in path:
        raise fail(parameter, "contains a NUL character")
    return path

"""Input checks, run by the call that receives a parameter, before any STS call.

Each ``check_*`` function returns the value normalised for the rest of the
library or raises `rolesession.errors.InvalidParameterError` naming
the parameter. Limits are STS's own (moto enforces almost none of them, so
the library must).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from .errors import InvalidParameterError

T = TypeVar("T")


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

MIN_DURATION = 900
MAX_DURATION = 43200
CHAINED_MAX_DURATION = 3600
PACKED_POLICY_LIMIT = 2048
MAX_POLICY_ARNS = 10
MAX_TAGS = 50
_TAG_PUNCTUATION = frozenset("_.:/=+-@")


def fail(parameter: str, message: str) -> InvalidParameterError:
    """Build the error for ``parameter``; the message never echoes secrets."""
    return InvalidParameterError(f"{parameter}: {message}", parameter=parameter)


def _type_name(value: object) -> str:
    return type(value).__name__


def check_str(value: object, parameter: str) -> str:
    if not isinstance(value, str):
        raise fail(parameter, f"expected a string, got {_type_name(value)}")
    return value


def check_role_arn(value: object, parameter: str = "role_arn") -> str:
    arn = check_str(value, parameter)
    if not 20 <= len(arn) <= 2048 or not ROLE_ARN_RE.fullmatch(arn):
        raise fail(
            parameter,
            f"{arn[:100]!r} is not an IAM role ARN "
            "(arn:<partition>:iam::<12-digit account>:role/[<path>/]<name>)",
        )
    return arn


def check_principal_arn(value: object, parameter: str = "principal_arn") -> str:
    arn = check_str(value, parameter)
    if not 20 <= len(arn) <= 2048 or not PRINCIPAL_ARN_RE.fullmatch(arn):
        raise fail(
            parameter,
            f"{arn[:100]!r} is not an IAM SAML provider ARN "
            "(arn:<partition>:iam::<12-digit account>:saml-provider/<name>)",
        )
    return arn


def partition_of(arn: str) -> str:
    """The partition of an ARN already checked by this module."""
    return arn.split(":", 2)[1]


def check_session_name(value: object, parameter: str = "session_name") -> str:
    name = check_str(value, parameter)
    if not _SESSION_NAME_RE.fullmatch(name):
        raise fail(parameter, "must be 2-64 characters of A-Z a-z 0-9 _ + = , . @ -")
    return name


def check_source_identity(value: object, parameter: str = "source_identity") -> str:
    ident = check_session_name(value, parameter)
    if ident.lower().startswith("aws:"):
        raise fail(parameter, "must not start with 'aws:'")
    return ident


def check_external_id(value: object, parameter: str = "external_id") -> str:
    ext = check_str(value, parameter)
    if not _EXTERNAL_ID_RE.fullmatch(ext):
        raise fail(parameter, "must be 2-1224 characters of A-Z a-z 0-9 _ + = , . @ : / -")
    return ext


def check_mfa_serial(value: object, parameter: str = "mfa_serial") -> str:
    serial = check_str(value, parameter)
    if not _MFA_SERIAL_RE.fullmatch(serial):
        raise fail(parameter, "must be 9-256 characters of A-Z a-z 0-9 _ + = / : , . @ -")
    return serial


def is_mfa_code(value: object) -> bool:
    return isinstance(value, str) and _MFA_TOKEN_RE.fullmatch(value) is not None


def check_mfa_token(
    value: object, parameter: str = "mfa_token"
) -> str | Callable[[], str]:
    if callable(value):
        return value
    if not is_mfa_code(value):
        # Never echo the value: it is a secret even when malformed.
        raise fail(parameter, "must be a string of exactly 6 digits or a callable returning one")
    return value  # type: ignore[return-value]


def check_secret_provider(
    value: object, parameter: str, low: int, high: int, what: str
) -> str | Callable[[], str]:
    """A token or assertion: a string of ``low..high`` chars, or a callable."""
    if callable(value):
        return value
    if not isinstance(value, str):
        raise fail(parameter, f"expected a string or a callable, got {_type_name(value)}")
    check_secret_length(value, parameter, low, high, what)
    return value


def check_secret_length(value: str, parameter: str, low: int, high: int, what: str) -> str:
    if not low <= len(value) <= high:
        raise fail(parameter, f"{what} must be {low}-{high} characters, got {len(value)}")
    return value


def check_duration(value: object, parameter: str = "duration") -> int | None:
    if value is None:
        return None
    if isinstance(value, _dt.timedelta):
        seconds = value.total_seconds()
        if seconds != int(seconds):
            raise fail(parameter, "must be a whole number of seconds")
        value = int(seconds)
    elif isinstance(value, bool) or not isinstance(value, int):
        raise fail(parameter, f"expected int seconds or timedelta, got {_type_name(value)}")
    if not MIN_DURATION <= value <= MAX_DURATION:
        raise fail(parameter, f"must be {MIN_DURATION}-{MAX_DURATION} seconds, got {value}")
    return value


def compact_json(document: Mapping[str, Any]) -> str:
    """The serialisation STS measures a session policy by (keys sorted: one text per policy)."""
    return json.dumps(
        document, separators=(",", ":"), ensure_ascii=False, sort_keys=True, allow_nan=False
    )


def check_policy(value: object, parameter: str = "policy") -> str | None:
    """A session policy (``dict``, JSON ``str`` or ``Policy``) as compact JSON."""
    if value is None:
        return None
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, Mapping):
        value = to_dict()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise fail(parameter, f"is not valid JSON ({exc.msg} at position {exc.pos})") from None
        except RecursionError:
            raise fail(parameter, "is nested too deeply") from None
    if not isinstance(value, Mapping):
        raise fail(parameter, f"must be a JSON object, a dict or a Policy, got {_type_name(value)}")
    try:
        text = compact_json(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise fail(parameter, f"is not JSON-serialisable ({exc})") from None
    for ch in text:
        if not ("\x20" <= ch <= "\xff" or ch in "\t\n\r"):
            raise fail(
                parameter,
                f"contains the character U+{ord(ch):04X}; session policies allow only "
                "tab, newline, carriage return and U+0020-U+00FF",
            )
    return text


def check_policy_arns(value: object, parameter: str = "policy_arns") -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise fail(parameter, f"expected a list of policy ARNs, got {_type_name(value)}")
    arns = tuple(value)
    if len(arns) > MAX_POLICY_ARNS:
        raise fail(parameter, f"at most {MAX_POLICY_ARNS} policy ARNs, got {len(arns)}")
    for i, arn in enumerate(arns):
        if not isinstance(arn, str) or not POLICY_ARN_RE.fullmatch(arn) or len(arn) > 2048:
            raise fail(parameter, f"item {i} ({str(arn)[:100]!r}) is not an IAM policy ARN")
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


def check_tags(value: object, parameter: str = "tags") -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise fail(parameter, f"expected a dict of str to str, got {_type_name(value)}")
    if len(value) > MAX_TAGS:
        raise fail(parameter, f"at most {MAX_TAGS} tags, got {len(value)}")
    seen: set[str] = set()
    for key, val in value.items():
        if not isinstance(key, str) or not isinstance(val, str):
            raise fail(parameter, "keys and values must be strings")
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
    return tuple(sorted(value.items()))


def check_transitive_tag_keys(
    value: object, tags: tuple[tuple[str, str], ...], parameter: str = "transitive_tag_keys"
) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise fail(parameter, f"expected a list of tag keys, got {_type_name(value)}")
    keys = tuple(value)
    if len(keys) > MAX_TAGS:
        raise fail(parameter, f"at most {MAX_TAGS} keys, got {len(keys)}")
    tag_keys = {k for k, _ in tags}
    for key in keys:
        if not isinstance(key, str) or key not in tag_keys:
            raise fail(parameter, f"{str(key)[:130]!r} is not among the keys of tags")
    return tuple(sorted(set(keys)))


def check_region(value: object, parameter: str = "region") -> str | None:
    if value is None:
        return None
    region = check_str(value, parameter)
    if not _REGION_RE.fullmatch(region):
        raise fail(parameter, f"{region[:64]!r} is not an AWS region name")
    return region


def check_endpoint_url(value: object, parameter: str = "sts_endpoint_url") -> str | None:
    if value is None:
        return None
    url = check_str(value, parameter)
    if not re.fullmatch(r"https?://[^\s/]+(?:/\S*)?", url):
        raise fail(parameter, f"{url[:200]!r} is not an http(s) URL")
    return url


def check_instance(value: T | None, parameter: str, cls: type[Any] | tuple[type[Any], ...],
                   what: str) -> T | None:
    if value is not None and not isinstance(value, cls):
        raise fail(parameter, f"expected {what}, got {_type_name(value)}")
    return value


def check_optional_path(value: object, parameter: str) -> str | None:
    if value is None:
        return None
    import os

    if not isinstance(value, (str, os.PathLike)):
        raise fail(parameter, f"expected a path, got {_type_name(value)}")
    return os.fspath(value)

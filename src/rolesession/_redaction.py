"""Keep secrets out of botocore's log records.

At DEBUG, botocore logs request parameters, headers (``X-Amz-Security-Token``),
canonical requests and raw STS response bodies. A filter on the ``botocore``
logger would not see records logged by ``botocore.endpoint`` and friends
(filters do not propagate), so one filter is attached to every ``botocore``
logger. It rewrites a record only when the rendered message holds a secret,
replacing the value with ``***`` and leaving everything else as it was.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable, Iterator

__all__ = ["protect_botocore_loggers", "redact", "scrubbing", "secret_forms"]

SECRET_NAMES = (
    "SecretAccessKey",
    "SessionToken",
    "X-Amz-Security-Token",
    "WebIdentityToken",
    "SAMLAssertion",
    "TokenCode",
)
_NAMES = "|".join(re.escape(n) for n in SECRET_NAMES)
_SOURCES = (
    # 'Name': 'value'  "Name": "value"  'Name': b'value'
    rf"""(?i)(['"]?(?:{_NAMES})['"]?\s*[:=]\s*b?)(['"])(.*?)(?<!\\)\2""",
    # <Name>value</Name>
    rf"(?i)(<(?:{_NAMES})>)([^<]*)(</)",
    # name:value (canonical requests), Name=value (query strings, form bodies)
    rf"(?i)((?<![\w-])(?:{_NAMES})[:=])(?!\s*b?['\"])([^\s&'\",}}]+)",
)


@functools.cache
def _patterns() -> tuple[re.Pattern[str], ...]:
    # Compiled on the first record, not at import.
    return tuple(re.compile(source) for source in _SOURCES)


def redact(text: str) -> str:
    """``text`` with the value of every secret-named field replaced by ``***``."""
    quoted, xml, bare = _patterns()
    text = quoted.sub(lambda m: f"{m.group(1)}{m.group(2)}***{m.group(2)}", text)
    text = xml.sub(r"\1***\3", text)
    return bare.sub(r"\1***", text)


# Secrets of STS calls under way: an error message may echo one anywhere
# (botocore's DEBUG "Response body" records), not only after a field name.
_in_flight: dict[str, int] = {}
_in_flight_lock = threading.Lock()


def secret_forms(secrets: Iterable[str]) -> list[str]:
    """Every form in which a secret may come back: as sent, URL-encoded, and a
    JWT's longer segments; longest first, so that a part never hides the whole."""
    forms: set[str] = set()
    for secret in secrets:
        if not secret:
            continue
        forms.add(secret)
        forms.add(urllib.parse.quote_plus(secret))
        forms.update(part for part in secret.split(".") if len(part) >= 16)
    return sorted(forms, key=len, reverse=True)


@contextlib.contextmanager
def scrubbing(secrets: Iterable[str]) -> Iterator[None]:
    """While the block runs, botocore records have these secrets replaced by ``***``."""
    forms = secret_forms(secrets)
    if not forms:
        yield
        return
    with _in_flight_lock:
        for form in forms:
            _in_flight[form] = _in_flight.get(form, 0) + 1
    try:
        yield
    finally:
        with _in_flight_lock:
            for form in forms:
                if _in_flight[form] <= 1:
                    del _in_flight[form]
                else:
                    _in_flight[form] -= 1


def _scrub_in_flight(text: str) -> str:
    if _in_flight:
        with _in_flight_lock:
            forms = sorted(_in_flight, key=len, reverse=True)
        for form in forms:
            text = text.replace(form, "***")
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logging's business, not ours
            return True
        cleaned = _scrub_in_flight(redact(message))
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_FILTER = _RedactingFilter()


def protect_botocore_loggers() -> None:
    """Attach the filter to every ``botocore`` logger that exists now.

    Called where botocore logging starts for the library: whenever an STS
    client or a `RoleSession` client or resource is made (making a client
    imports the modules, and so creates the loggers, that log requests). It
    touches nothing outside the ``botocore`` loggers -- no process-wide
    record factory.
    """
    manager = logging.Logger.manager
    for name in [n for n in list(manager.loggerDict) if n == "botocore" or n.startswith("botocore.")]:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)

"""Hostile and unbounded input: always an InvalidParameterError naming the parameter, never a hang.

SPEC "Reliability additions": iterables are read only up to the largest valid
size; ``sts_endpoint_url`` must be an http(s) URL with a valid host and port;
``region`` must be a valid region name, wherever it came from. SPEC
"Validation": wrong types are an ``InvalidParameterError`` too, never an
``AttributeError`` or ``TypeError`` from deep inside.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import json
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rolesession
from helpers import MFA_SERIAL, ROLE
from rolesession import InvalidParameterError

POLICY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"
SAML_PROVIDER = "arn:aws:iam::123456789012:saml-provider/Corp"
ASSERTION = "PHNhbWw+" * 10


def _rejects(parameter: str, **kwargs: Any) -> InvalidParameterError:
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, **kwargs)
    assert info.value.parameter == parameter, str(info.value)
    return info.value


# -- sts_endpoint_url -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",  # unclosed IPv6 bracket
        "http://host:99999",
        "http://host:65536",
        "http://host:0",
        "http://host:-1",
        "http://host:port",
        "ftp://host",
        "file:///etc/passwd",
        "http://",
        "http:///path",
        "http:host",
        "//host",
        "http://ho st",
        " http://host",
        "http://host ",
        "http://host/\tpath",
        "http://host/pa th",
        "http://ho\x00st",
        "http://a..b",
        "http://-host",
        "http://ho%73t",
        "http://bücher.example",
        "http://[not-an-ip]",
        "http://[1.2.3.4]",
        "http://" + "a" * 64 + ".example",  # a DNS label is at most 63
        "http://host/" + "p" * 2048,  # over 2048 characters
        "https://" + ("a" * 60 + ".") * 5 + "com",  # host over 253 characters
    ],
)
def test_bad_endpoint_urls_are_refused_at_creation(sts_calls, url):
    _rejects("sts_endpoint_url", sts_endpoint_url=url)
    assert sts_calls.count() == 0


@pytest.mark.parametrize(
    "url",
    ["http://user:s3cr3t-pa55@sts.example.com", "https://AKIAEXAMPLE@sts.example.com/", "http://:pw@h"],
)
def test_endpoint_urls_with_user_information_are_refused_without_echoing_it(url):
    error = _rejects("sts_endpoint_url", sts_endpoint_url=url)
    assert "user information" in str(error)
    assert "s3cr3t" not in str(error) and "AKIA" not in str(error) and "pw" not in str(error)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5000",
        "http://[::1]:8080/",
        "http://[fe80::1%25eth0]:80",
        "https://sts.us-east-1.amazonaws.com",
        "https://vpce-0a1b2c3d-abcdefgh.sts.us-east-1.vpce.amazonaws.com/",
        "http://localhost",
        "http://moto_server:5000",  # container names may hold an underscore
        "HTTPS://STS.Example.COM./path?x=1#frag",
        "http://host:65535/" + "p" * (2048 - len("http://host:65535/")),  # exactly 2048
        "http://example.com/?next=a@b",  # an @ after the host is not user information
    ],
)
def test_good_endpoint_urls_are_kept_as_given(url):
    session = rolesession.assume_role(ROLE, sts_endpoint_url=url)
    assert session.describe()["sts_endpoint_url"] == url


def test_a_bad_endpoint_url_is_refused_by_every_entry_point(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("t" * 10)
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role_with_web_identity(ROLE, token_file=token_file, sts_endpoint_url="http://h:99999")
    assert info.value.parameter == "sts_endpoint_url"
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role_with_saml(ROLE, SAML_PROVIDER, assertion=ASSERTION, sts_endpoint_url="http://[::1")
    assert info.value.parameter == "sts_endpoint_url"


# -- region ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "region",
    ["us-" + "a" * 10_000, "us-east-1 ", " us-east-1", "US-EAST-1", "us-east-1\n", "us-" + "a" * 61, "us"],
)
def test_bad_explicit_regions_are_refused(sts_calls, region):
    _rejects("region", region=region)
    assert sts_calls.count() == 0


def test_the_longest_region_name_is_one_dns_label():
    longest = "us-" + "a" * 60
    assert len(longest) == 63
    assert rolesession.assume_role(ROLE, region=longest).region_name == longest


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
@pytest.mark.parametrize("value", ["us-east-1 ", "not a region", "eu-west-1" * 10])
def test_a_bad_region_in_the_environment_names_the_variable(monkeypatch, sts_calls, variable, value):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv(variable, value)
    error = _rejects(variable)
    assert variable in str(error)
    assert sts_calls.count() == 0


def test_a_bad_environment_region_is_refused_by_web_identity_and_saml(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_REGION", "us-east-1 ")
    token_file = tmp_path / "token"
    token_file.write_text("t" * 10)
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role_with_web_identity(ROLE, token_file=token_file)
    assert info.value.parameter == "AWS_REGION"
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role_with_saml(ROLE, SAML_PROVIDER, assertion=ASSERTION)
    assert info.value.parameter == "AWS_REGION"


def test_only_the_region_that_is_used_is_checked(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "not used")
    assert rolesession.assume_role(ROLE).region_name == "eu-west-1"
    monkeypatch.setenv("AWS_REGION", "not used either")
    assert rolesession.assume_role(ROLE, region="ap-south-1").region_name == "ap-south-1"


def _config_file(tmp_path, monkeypatch, text: str) -> None:
    path = tmp_path / "aws-config"
    path.write_text(text)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))


def test_environment_regions_come_before_the_profile_in_order(monkeypatch, tmp_path):
    _config_file(tmp_path, monkeypatch, "[default]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    assert rolesession.assume_role(ROLE).region_name == "eu-west-1"
    monkeypatch.delenv("AWS_REGION")
    assert rolesession.assume_role(ROLE).region_name == "us-west-2"
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert rolesession.assume_role(ROLE).region_name == "ap-south-1"
    monkeypatch.setenv("AWS_REGION", "")  # empty counts as unset
    assert rolesession.assume_role(ROLE).region_name == "ap-south-1"


def test_a_bad_profile_region_names_the_source_and_the_profile(monkeypatch, tmp_path, sts_calls):
    _config_file(tmp_path, monkeypatch, "[default]\nregion = eu west 1\n[profile dev]\nregion = Dev\n")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    error = _rejects("source")
    assert "'default'" in str(error) and "eu west 1" in str(error)
    monkeypatch.setenv("AWS_PROFILE", "dev")
    error = _rejects("source")
    assert "'dev'" in str(error)
    assert sts_calls.count() == 0


def test_a_bad_region_on_an_explicit_source_names_the_source(sts_calls):
    source = boto3.Session(region_name="us-east-1 ")
    error = _rejects("source", source=source)
    assert "source session" in str(error)
    assert sts_calls.count() == 0
    # An explicit region means the source's is never used, so it is not judged.
    assert rolesession.assume_role(ROLE, source=source, region="eu-west-1").region_name == "eu-west-1"


# -- iterables are read only up to the largest valid size -----------------------------------


class _Endless:
    """An endless iterable that counts how many items were taken from it."""

    def __init__(self, item: Any) -> None:
        self.item = item
        self.taken = 0

    def __iter__(self) -> Iterator[Any]:
        while True:
            self.taken += 1
            yield self.item


def test_endless_policy_arns_are_read_up_to_eleven_items():
    endless = _Endless(POLICY_ARN)
    error = _rejects("policy_arns", policy_arns=endless)
    assert endless.taken == 11
    assert "at most 10" in str(error)
    _rejects("policy_arns", policy_arns=itertools.count())


def test_endless_transitive_tag_keys_are_read_up_to_fifty_one_items():
    endless = _Endless("k")
    _rejects("transitive_tag_keys", tags={"k": "v"}, transitive_tag_keys=endless)
    assert endless.taken == 51
    _rejects("transitive_tag_keys", tags={"k": "v"}, transitive_tag_keys=itertools.repeat("k"))


class _LyingTags(Mapping[str, str]):
    """Says it holds one tag; iterating it never ends."""

    def __init__(self) -> None:
        self.taken = 0

    def __len__(self) -> int:
        return 1

    def __getitem__(self, key: str) -> str:
        return "v"

    def __iter__(self) -> Iterator[str]:
        for i in itertools.count():
            self.taken += 1
            yield f"k{i}"


def test_a_mapping_whose_length_lies_is_read_up_to_fifty_one_tags():
    tags = _LyingTags()
    _rejects("tags", tags=tags)
    assert tags.taken == 51  # 50 tags at most: one more read shows too many


def test_a_list_that_is_too_long_reports_its_length():
    error = _rejects("policy_arns", policy_arns=[POLICY_ARN] * 12)
    assert "got 12" in str(error)


def test_an_iterable_that_raises_while_read_is_an_invalid_parameter():
    def failing() -> Iterator[str]:
        yield POLICY_ARN
        raise RuntimeError("disk on fire")

    error = _rejects("policy_arns", policy_arns=failing())
    assert isinstance(error.__cause__, RuntimeError)


# -- policies -------------------------------------------------------------------------------


class _BrokenPolicy:
    def to_dict(self) -> dict[str, Any]:
        raise KeyError("Statement")


def test_a_policy_whose_to_dict_raises_is_an_invalid_policy():
    error = _rejects("policy", policy=_BrokenPolicy())
    assert "to_dict" in str(error) and isinstance(error.__cause__, KeyError)


def test_a_policy_string_over_32_kib_is_refused_before_it_is_parsed(monkeypatch):
    parsed: list[str] = []
    real_loads = json.loads
    monkeypatch.setattr(json, "loads", lambda text, **kw: parsed.append(text) or real_loads(text))
    huge = json.dumps({"Version": "2012-10-17", "Statement": []}) + " " * (32 * 1024)
    error = _rejects("policy", policy=huge)
    assert parsed == []
    assert str(32 * 1024) in str(error)


def test_an_indented_policy_whose_compact_form_fits_is_accepted():
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": [f"s3:Get{i}" for i in range(40)], "Resource": "*"}],
    }
    text = json.dumps(document, indent=120)  # ~20 KiB of indentation
    assert 16 * 1024 < len(text) <= 32 * 1024
    session = rolesession.assume_role(ROLE, policy=text)
    assert json.loads(session.describe()["policy"]) == document


def test_deeply_nested_policies_are_invalid_not_a_recursion_error():
    _rejects("policy", policy="[" * 30_000)
    nested: dict[str, Any] = {}
    inner = nested
    for _ in range(5_000):
        inner["a"] = {}
        inner = inner["a"]
    _rejects("policy", policy=nested)
    circular: dict[str, Any] = {}
    circular["self"] = circular
    _rejects("policy", policy=circular)


# -- paths ----------------------------------------------------------------------------------


class _BytesPath:
    def __fspath__(self) -> bytes:
        return b"/tmp/token"


class _BrokenPath:
    def __fspath__(self) -> str:
        raise OSError("cannot say")


@pytest.mark.parametrize("path", [_BytesPath(), _BrokenPath(), b"/tmp/token", "/tmp/to\x00ken", 42])
def test_bad_paths_are_invalid_parameters(path):
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role_with_web_identity(ROLE, token_file=path)
    assert info.value.parameter == "token_file"
    with pytest.raises(InvalidParameterError) as info:
        rolesession.FileCache(path)
    assert info.value.parameter == "directory"


def test_a_pathlike_giving_a_str_is_accepted(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("t" * 10)

    class StrPath:
        def __fspath__(self) -> str:
            return str(token_file)

    session = rolesession.assume_role_with_web_identity(ROLE, token_file=StrPath())
    assert session.describe()["token_file"] == str(token_file)


# -- hostile values -------------------------------------------------------------------------


class _Raising(int):
    def __le__(self, other: object) -> bool:
        raise TypeError("no comparing me")

    __ge__ = __lt__ = __gt__ = __le__


class _Weird(str):
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no equality")

    def __hash__(self) -> int:
        raise RuntimeError("no hashing")

    def __len__(self) -> int:
        raise OverflowError("no length")


class _Pairs(Mapping[Any, Any]):
    """A mapping over given (key, value) pairs: keys that cannot be hashed are fine."""

    def __init__(self, *pairs: tuple[Any, Any]) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: Any) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        return iter([k for k, _ in self.pairs])

    def items(self):  # type: ignore[override]
        return iter(self.pairs)


class _ItemsRaise(dict):  # type: ignore[type-arg]
    def items(self):  # type: ignore[override]
        raise AttributeError("items")


class _LenRaises(dict):  # type: ignore[type-arg]
    def __len__(self) -> int:
        raise TypeError("len")


class _ClassRaises:
    @property  # type: ignore[misc]
    def __class__(self):  # type: ignore[override]
        raise RuntimeError("who am I")


class _TotalSecondsLies(dt.timedelta):
    def total_seconds(self) -> Any:
        return "900"


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"duration": 10**5000}, "duration"),
        ({"duration": -(10**5000)}, "duration"),
        ({"duration": _Raising(5)}, "duration"),
        ({"duration": dt.timedelta.max}, "duration"),
        ({"tags": _ItemsRaise(k="v")}, "tags"),
        ({"tags": _LenRaises(k="v")}, "tags"),
        ({"tags": _Pairs((_Weird("k"), "v"), (_Weird("K"), "v"))}, "tags"),
        ({"tags": _Pairs(("k", "v", "extra"))}, "tags"),
        ({"tags": _Pairs(("k", 10**5000))}, "tags"),
        ({"tags": {"k": "v"}, "transitive_tag_keys": [_Weird("other")]}, "transitive_tag_keys"),
        ({"tags": {"k": "v"}, "transitive_tag_keys": "k"}, "transitive_tag_keys"),
        ({"tags": {"k": "v"}, "transitive_tag_keys": b"k"}, "transitive_tag_keys"),
        ({"policy_arns": [10**5000]}, "policy_arns"),
        ({"policy_arns": [_Weird("x")]}, "policy_arns"),
        ({"policy": {"Statement": 10**5000}}, "policy"),
        ({"policy": {1j: "x"}}, "policy"),
        ({"sts_config": _ClassRaises()}, "sts_config"),
        ({"session_name": _Weird("bad name")}, "session_name"),
        ({"external_id": _Weird("x")}, "external_id"),
        ({"region": _Weird("us-east-1 ")}, "region"),
        ({"sts_endpoint_url": _Weird("http://[::1")}, "sts_endpoint_url"),
    ],
)
def test_hostile_values_are_invalid_parameters(kwargs, parameter):
    _rejects(parameter, **kwargs)


def test_str_and_int_subclasses_are_used_as_plain_values():
    session = rolesession.assume_role(
        ROLE,
        session_name=_Weird("plain-name"),
        duration=_Raising(900),
        tags=_Pairs((_Weird("k"), _Weird("v"))),
        transitive_tag_keys=[_Weird("k")],
        policy_arns=[_Weird(POLICY_ARN)],
        region=_Weird("eu-west-1"),
    )
    request = session.describe()
    assert type(request["session_name"]) is str and request["session_name"] == "plain-name"
    assert type(request["duration"]) is int and request["duration"] == 900
    assert request["tags"] == (("k", "v"),) and all(type(x) is str for x in request["tags"][0])
    assert request["transitive_tag_keys"] == ("k",) and type(request["transitive_tag_keys"][0]) is str
    assert request["policy_arns"] == (POLICY_ARN,) and type(request["policy_arns"][0]) is str
    assert type(request["region"]) is str


def test_a_timedelta_subclass_is_judged_by_its_real_length():
    session = rolesession.assume_role(ROLE, duration=_TotalSecondsLies(seconds=1800))
    assert session.describe()["duration"] == 1800


def test_the_guard_names_the_parameter_it_was_given():
    with pytest.raises(InvalidParameterError) as info:
        rolesession.chain([ROLE, ROLE, {"role_arn": ROLE, "tags": _ItemsRaise(k="v")}])
    assert info.value.parameter == "steps[2].tags"
    assert "could not be checked (AttributeError)" in str(info.value)
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, tags=_ItemsRaise(k="v"))
    assert isinstance(info.value.__cause__, AttributeError)


# -- fuzzing: every check returns or raises InvalidParameterError, nothing else ------------

_ERRORS = (TypeError, AttributeError, RecursionError, OverflowError, ValueError, RuntimeError, KeyError)
_BASES = (object, str, int, dict, list, tuple, dt.timedelta)


_HOSTILE_METHODS = [
    "__eq__", "__hash__", "__len__", "__iter__", "__getitem__", "__contains__", "__lt__", "__le__",
    "__gt__", "__ge__", "__int__", "__index__", "__float__", "__str__", "__repr__", "__format__",
    "items", "keys", "to_dict", "__fspath__", "__call__", "lower", "startswith", "total_seconds",
]  # fmt: skip


@functools.cache
def _hostile_class(base: type, error: type[Exception]) -> type:
    """A subclass of ``base`` whose every method a check might call raises ``error``."""

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise error("hostile")

    return type(f"Hostile{base.__name__.title()}", (base,), dict.fromkeys(_HOSTILE_METHODS, boom))


def _hostile(base: type, error: type[Exception], text: str) -> Any:
    cls = _hostile_class(base, error)
    if base is str:
        return cls(text)
    if base is int:
        return cls(len(text))
    if base is dt.timedelta:
        return cls(seconds=len(text))
    if base is dict:
        return cls({text: text})
    if base in (list, tuple):
        return cls([text])
    return cls()


def _huge(sign: int) -> int:
    return sign * 10**5000  # str() of it raises ValueError


_atoms = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**64, -1, 0, 900, 43200]),
    st.builds(_huge, st.sampled_from([1, -1])),
    st.floats(allow_nan=True),
    st.text(max_size=80),
    st.binary(max_size=20),
    st.timedeltas(),
    st.sampled_from(
        ["us-east-1", "http://[::1", "http://h:99999", ROLE, POLICY_ARN, "123456", "[" * 3000, "{}", "k"]
    ),
    st.builds(_hostile, st.sampled_from(_BASES), st.sampled_from(_ERRORS), st.text(max_size=20)),
)
_values = st.recursive(
    _atoms,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), inner, max_size=4),
        st.iterables(inner, max_size=5),
    ),
    max_leaves=12,
)

def _assume(keyword: str) -> Any:
    return lambda value: rolesession.assume_role(ROLE, cache=None, **{keyword: value})


#: Every parameter that is checked, given through the public call that receives it.
_CHECKS = {
    "role_arn": lambda v: rolesession.assume_role(v, cache=None),
    "principal_arn": lambda v: rolesession.assume_role_with_saml(ROLE, v, assertion="abcd", cache=None),
    "session_name": _assume("session_name"),
    "source_identity": _assume("source_identity"),
    "external_id": _assume("external_id"),
    "mfa_serial": lambda v: rolesession.assume_role(ROLE, mfa_serial=v, mfa_token="123456", cache=None),
    "mfa_token": lambda v: rolesession.assume_role(ROLE, mfa_serial=MFA_SERIAL, mfa_token=v, cache=None),
    "token": lambda v: rolesession.assume_role_with_web_identity(ROLE, token=v, cache=None),
    "duration": _assume("duration"),
    "policy": _assume("policy"),
    "policy_arns": _assume("policy_arns"),
    "tags": _assume("tags"),
    "transitive_tag_keys": lambda v: rolesession.assume_role(
        ROLE, tags={"k": "v"}, transitive_tag_keys=v, cache=None
    ),
    "region": _assume("region"),
    "sts_endpoint_url": _assume("sts_endpoint_url"),
    "sts_config": _assume("sts_config"),
    "token_file": lambda v: rolesession.assume_role_with_web_identity(ROLE, token_file=v, cache=None),
}


@pytest.mark.parametrize("name", sorted(_CHECKS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_values)
def test_every_check_returns_or_raises_invalid_parameter_error(name, value):
    with contextlib.suppress(InvalidParameterError):
        _CHECKS[name](value)


def test_the_hostile_fixtures_really_are_hostile():
    """The fuzzing above is only worth something if these values break naive code."""
    weird = _hostile(str, TypeError, "us-east-1")
    with pytest.raises(TypeError):
        len(weird)
    with pytest.raises(TypeError):
        {weird}  # noqa: B018
    assert rolesession.assume_role(ROLE, region=weird).region_name == "us-east-1"

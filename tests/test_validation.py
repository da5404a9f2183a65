"""Validation: bad input is an InvalidParameterError naming the parameter, before any STS call;
input is read only up to the largest valid size; hostile values never escape as other errors.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rolesession
import rolesession.testing
from helpers import ACCOUNT, MFA_SERIAL, ROLE
from rolesession import InvalidParameterError, MemoryCache, Policy, RefreshPolicy

MFA = {"mfa_serial": "arn:aws:iam::123456789012:mfa/alice"}
POLICY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def _policy_of_size(size: int) -> dict:
    base = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": ""}]}
    pad = size - len(json.dumps(base, separators=(",", ":")))
    base["Statement"][0]["Resource"] = "x" * pad
    return base


BAD = [
    ({"role_arn": "arn:aws:iam::12345678901:role/x"}, "role_arn"),
    ({"role_arn": "arn:aws:iam::123456789012:user/x"}, "role_arn"),
    ({"role_arn": "arn:aws:iam::123456789012:role/"}, "role_arn"),
    ({"role_arn": "arn:aws:iam::123456789012:role/" + "x" * 65}, "role_arn"),
    ({"role_arn": "arn:aws:iam::123456789012:role/" + "p/" * 1010 + "x"}, "role_arn"),
    ({"role_arn": "arn:aws:s3:::bucket"}, "role_arn"),
    ({"role_arn": 123456789012}, "role_arn"),
    ({"role_arn": None}, "role_arn"),
    ({"session_name": "a"}, "session_name"),
    ({"session_name": "x" * 65}, "session_name"),
    ({"session_name": "has space"}, "session_name"),
    ({"session_name": "naïve"}, "session_name"),
    ({"session_name": 42}, "session_name"),
    ({"source_identity": "aws:me"}, "source_identity"),
    ({"source_identity": "AWS:me"}, "source_identity"),
    ({"source_identity": "x"}, "source_identity"),
    ({"source_identity": "x" * 65}, "source_identity"),
    ({"external_id": "a"}, "external_id"),
    ({"external_id": "x" * 1225}, "external_id"),
    ({"external_id": "no spaces"}, "external_id"),
    ({"external_id": ["list"]}, "external_id"),
    ({"mfa_serial": "12345678", "mfa_token": "123456"}, "mfa_serial"),
    ({"mfa_serial": "x" * 257, "mfa_token": "123456"}, "mfa_serial"),
    ({"mfa_serial": "arn:aws:iam::1:mfa/a b", "mfa_token": "123456"}, "mfa_serial"),
    ({**MFA, "mfa_token": "12345"}, "mfa_token"),
    ({**MFA, "mfa_token": "1234567"}, "mfa_token"),
    ({**MFA, "mfa_token": "12345a"}, "mfa_token"),
    ({**MFA, "mfa_token": "١٢٣٤٥٦"}, "mfa_token"),  # non-ASCII digits
    ({**MFA, "mfa_token": 123456}, "mfa_token"),
    ({**MFA}, "mfa_token"),
    ({"mfa_token": "123456"}, "mfa_serial"),
    ({"duration": 899}, "duration"),
    ({"duration": 43201}, "duration"),
    ({"duration": True}, "duration"),
    ({"duration": 900.0}, "duration"),
    ({"duration": "900"}, "duration"),
    ({"duration": dt.timedelta(seconds=899)}, "duration"),
    ({"duration": dt.timedelta(seconds=900.5)}, "duration"),
    ({"policy": "{"}, "policy"),
    ({"policy": "[]"}, "policy"),
    ({"policy": 42}, "policy"),
    ({"policy": {"Statement": "Ā"}}, "policy"),  # U+0100 is outside U+0020-U+00FF
    ({"policy": _policy_of_size(2049)}, "policy"),
    ({"policy": _policy_of_size(2048 - len(POLICY_ARN) + 1), "policy_arns": [POLICY_ARN]}, "policy"),
    ({"policy_arns": [POLICY_ARN] * 11}, "policy_arns"),
    ({"policy_arns": ["arn:aws:iam::123456789012:role/x"]}, "policy_arns"),
    ({"policy_arns": POLICY_ARN}, "policy_arns"),
    ({"policy_arns": [42]}, "policy_arns"),
    ({"tags": {f"k{i}": "v" for i in range(51)}}, "tags"),
    ({"tags": {"": "v"}}, "tags"),
    ({"tags": {"k" * 129: "v"}}, "tags"),
    ({"tags": {"k": "v" * 257}}, "tags"),
    ({"tags": {"bad!": "v"}}, "tags"),
    ({"tags": {"k": "bad#"}}, "tags"),
    ({"tags": {"Team": "a", "team": "b"}}, "tags"),
    ({"tags": {"k": 1}}, "tags"),
    ({"tags": [("k", "v")]}, "tags"),
    ({"tags": {"a": "1"}, "transitive_tag_keys": ["b"]}, "transitive_tag_keys"),
    ({"tags": {"a": "1"}, "transitive_tag_keys": "a"}, "transitive_tag_keys"),
    ({"transitive_tag_keys": ["a"]}, "transitive_tag_keys"),
    ({"region": "US-EAST-1"}, "region"),
    ({"region": "nowhere"}, "region"),
    ({"region": 5}, "region"),
    ({"sts_endpoint_url": "localhost:5000"}, "sts_endpoint_url"),
    ({"sts_endpoint_url": 5}, "sts_endpoint_url"),
    ({"sts_config": {"retries": {}}}, "sts_config"),
    ({"source": "default"}, "source"),
    ({"cache": "memory"}, "cache"),
    ({"refresh": {"advisory": 600}}, "refresh"),
]


@pytest.mark.parametrize(("kwargs", "parameter"), BAD, ids=[f"{p}-{i}" for i, (_, p) in enumerate(BAD)])
def test_bad_values_are_rejected_before_any_sts_call(sts_mock, sts_calls, kwargs, parameter):
    kwargs = {"role_arn": ROLE, **kwargs}
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(**kwargs)
    assert info.value.parameter == parameter
    assert str(info.value).startswith(parameter)
    assert isinstance(info.value, ValueError)
    assert sts_calls.count() == 0


GOOD = [
    {"role_arn": "arn:aws:iam::123456789012:role/a"},
    {"role_arn": "arn:aws:iam::123456789012:role/" + "x" * 64},
    {"role_arn": "arn:aws:iam::123456789012:role/path/to/x+=,.@-_"},
    {"role_arn": "arn:aws-cn:iam::123456789012:role/x", "region": "cn-northwest-1"},
    {"session_name": "ab"},
    {"session_name": "x" * 64},
    {"session_name": "a+=,.@-_Z9"},
    {"source_identity": "ab"},
    {"source_identity": "awsome"},
    {"external_id": "ab"},
    {"external_id": "x" * 1224},
    {"external_id": "a:b/c=d,e.f@g-h+i_j"},
    {"mfa_serial": "123456789", "mfa_token": "000000"},
    {"mfa_serial": "x" * 256, "mfa_token": "999999"},
    {**MFA, "mfa_token": lambda: "123456"},
    {"duration": 900},
    {"duration": 43200},
    {"duration": dt.timedelta(hours=12)},
    {"policy": Policy.allow("s3:GetObject", "arn:aws:s3:::b/é/*")},
    {"policy": {"Version": "2012-10-17", "Statement": []}},
    {"policy": '{"Version": "2012-10-17",\n\t"Statement": []}'},
    {"policy": _policy_of_size(2048)},
    {"policy": _policy_of_size(2048 - len(POLICY_ARN)), "policy_arns": [POLICY_ARN]},
    {"policy_arns": [f"arn:aws:iam::123456789012:policy/p{i}" for i in range(10)]},
    {"policy_arns": ["arn:aws-us-gov:iam::aws:policy/path/ReadOnly"]},
    {"tags": {f"k{i}": "v" for i in range(50)}},
    {"tags": {"k" * 128: "v" * 256, "empty": ""}},
    {"tags": {"équipe données": "Zürich 2", "a_.:/=+-@": "_.:/=+-@"}},
    {"tags": {"a": "1", "b": "2"}, "transitive_tag_keys": ["a"]},
    {"region": "eu-west-1"},
    {"region": "us-gov-west-1", "role_arn": "arn:aws-us-gov:iam::123456789012:role/R"},
    {"region": "ap-southeast-7"},
    {"sts_endpoint_url": "http://127.0.0.1:5000"},
    {"sts_config": Config(read_timeout=1)},
    {"cache": None},
    {"cache": rolesession.MemoryCache(maxsize=1)},
    {"refresh": rolesession.RefreshPolicy(advisory=120, mandatory=30)},
]


@pytest.mark.parametrize("kwargs", GOOD)
def test_edge_good_values_are_accepted(sts_mock, sts_calls, kwargs):
    kwargs = {"role_arn": ROLE, **kwargs}
    session = rolesession.assume_role(**kwargs)
    assert session.role_arn == kwargs["role_arn"]
    assert sts_calls.count() == 0


def test_good_values_reach_sts_as_given(sts_mock, sts_calls):
    rolesession.assume_role(
        ROLE,
        session_name="edge",
        duration=dt.timedelta(minutes=20),
        policy=Policy.allow("s3:ListBucket"),
        policy_arns=[POLICY_ARN],
        tags={"b": "2", "a": "1"},
        transitive_tag_keys=["a"],
        external_id="ext-id",
        source_identity="alice",
        cache=None,
    ).identity()
    params = sts_calls.params()
    assert params["RoleSessionName"] == "edge"
    assert params["DurationSeconds"] == 1200
    assert json.loads(params["Policy"])["Statement"][0]["Action"] == "s3:ListBucket"
    assert " " not in params["Policy"]
    assert params["PolicyArns"] == [{"arn": POLICY_ARN}]
    assert params["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert params["TransitiveTagKeys"] == ["a"]
    assert (params["ExternalId"], params["SourceIdentity"]) == ("ext-id", "alice")


def test_packed_size_error_gives_both_numbers():
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, policy=_policy_of_size(2100))
    assert "2100" in str(info.value) and "2048" in str(info.value)


def test_a_bad_mfa_token_is_not_echoed():
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, **MFA, mfa_token="98765x")
    assert "98765" not in str(info.value)


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("123456789012", "Admin"), {}, "arn:aws:iam::123456789012:role/Admin"),
        (("123456789012", "Admin"), {"path": "/ops/"}, "arn:aws:iam::123456789012:role/ops/Admin"),
        (("123456789012", "R"), {"partition": "aws-cn"}, "arn:aws-cn:iam::123456789012:role/R"),
        ((12345678901, "R"), {}, "arn:aws:iam::012345678901:role/R"),
    ],
)
def test_role_arn_builds_valid_arns(args, kwargs, expected):
    assert rolesession.role_arn(*args, **kwargs) == expected


@pytest.mark.parametrize(
    ("args", "kwargs", "parameter"),
    [
        (("1234", "Admin"), {}, "account_id"),
        (("123456789012", "bad name"), {}, "role_name"),
        (("123456789012", "Admin"), {"path": "ops"}, "path"),
        (("123456789012", "Admin"), {"partition": "gcp"}, "partition"),
        ((True, "Admin"), {}, "account_id"),
    ],
)
def test_role_arn_rejects_bad_parts(args, kwargs, parameter):
    with pytest.raises(InvalidParameterError) as info:
        rolesession.role_arn(*args, **kwargs)
    assert info.value.parameter == parameter


SAML_PROVIDER = "arn:aws:iam::123456789012:saml-provider/Corp"


ASSERTION = "PHNhbWw+" * 10


def _rejects(parameter: str, **kwargs: Any) -> InvalidParameterError:
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, **kwargs)
    assert info.value.parameter == parameter, str(info.value)
    return info.value


def _config_file(tmp_path, monkeypatch, text: str) -> None:
    path = tmp_path / "aws-config"
    path.write_text(text)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(path))


class _Endless:
    """An endless iterable that counts how many items were taken from it."""

    def __init__(self, item: Any) -> None:
        self.item = item
        self.taken = 0

    def __iter__(self) -> Iterator[Any]:
        while True:
            self.taken += 1
            yield self.item


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


class _BrokenPolicy:
    def to_dict(self) -> dict[str, Any]:
        raise KeyError("Statement")


class _BytesPath:
    def __fspath__(self) -> bytes:
        return b"/tmp/token"


class _BrokenPath:
    def __fspath__(self) -> str:
        raise OSError("cannot say")


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


PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:saml-provider/Corp"


_ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=8),
    st.text(max_size=12),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=4)), max_size=3),
    st.dictionaries(
        st.one_of(st.integers(), st.text(max_size=3)), st.one_of(st.none(), st.integers()), max_size=2
    ),
    st.sampled_from(
        [object(), dt.timedelta(days=-1), dt.timedelta(seconds=1.5), {1, 2}, bytearray(b"x"), type]
    ),
)


_ASSUME_KEYWORDS = (
    "source",
    "session_name",
    "duration",
    "policy",
    "policy_arns",
    "tags",
    "transitive_tag_keys",
    "external_id",
    "source_identity",
    "mfa_serial",
    "region",
    "sts_endpoint_url",
    "sts_config",
    "cache",
    "refresh",
)


def _only_invalid_parameter_errors(call: Callable[[], Any]) -> None:
    with contextlib.suppress(InvalidParameterError):  # anything else fails the test
        call()


# -- bounded input and hostile values --------------------------------------------------------------


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


@pytest.mark.parametrize(
    "region",
    ["us-" + "a" * 10_000, "us-east-1 ", " us-east-1", "US-EAST-1", "us-east-1\n", "us-" + "a" * 61, "us"],
)
def test_bad_explicit_regions_are_refused(sts_calls, region):
    _rejects("region", region=region)
    assert sts_calls.count() == 0


def test_a_region_from_the_environment_outside_the_roles_partition_is_refused(sts_calls):
    # The tests' environment says us-east-1: a China role cannot be assumed there.
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role("arn:aws-cn:iam::123456789012:role/x")
    assert "source or the environment" in str(info.value) and "'aws-cn'" in str(info.value)
    assert sts_calls.count() == 0


def test_the_longest_region_name_is_one_dns_label():
    longest = "us-" + "a" * 58 + "-1"  # fits the aws partition's pattern; botocore knows no such region
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


# -- every keyword, every value --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"mandatory": float("nan")}, "mandatory"),
        ({"max_backoff": float("nan")}, "max_backoff"),
        ({"advisory": float("nan")}, "advisory"),
    ],
)
def test_refresh_policy_rejects_nan(kwargs: dict[str, float], parameter: str) -> None:
    """SPEC: "mandatory > 0 ... or InvalidParameterError" -- NaN is not > 0."""
    with pytest.raises(InvalidParameterError) as info:
        RefreshPolicy(**kwargs)
    assert info.value.parameter == parameter


def test_transitive_tag_keys_are_at_most_50() -> None:
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, tags={"a": "1"}, transitive_tag_keys=["a"] * 51)
    assert info.value.parameter == "transitive_tag_keys"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keyword=st.sampled_from(_ASSUME_KEYWORDS), value=_ODD_VALUES)
def test_any_value_of_any_keyword_is_accepted_or_an_invalid_parameter_error(keyword: str, value: Any) -> None:
    given: dict[str, Any] = {"cache": None, keyword: value}
    if keyword == "mfa_serial":
        given["mfa_token"] = "123456"
    _only_invalid_parameter_errors(lambda: rolesession.assume_role(ROLE, **given))
    _only_invalid_parameter_errors(lambda: rolesession.chain([{"role_arn": ROLE, **given}]))
    if keyword in (
        "duration",
        "policy",
        "policy_arns",
        "region",
        "sts_endpoint_url",
        "sts_config",
        "cache",
        "refresh",
    ):
        _only_invalid_parameter_errors(
            lambda: rolesession.assume_role_with_web_identity(ROLE, token="abcd", **given)
        )
        _only_invalid_parameter_errors(
            lambda: rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion="abcd", **given)
        )


@settings(max_examples=60, deadline=None)
@given(value=_ODD_VALUES)
def test_odd_values_of_positional_and_secret_parameters(value: Any) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: rolesession.assume_role(value),
        lambda: rolesession.assume_role(ROLE, mfa_serial="arn:aws:iam::123456789012:mfa/al", mfa_token=value),
        lambda: rolesession.assume_role_with_web_identity(value, token="abcd"),
        lambda: rolesession.assume_role_with_web_identity(ROLE, token=value),
        lambda: rolesession.assume_role_with_web_identity(ROLE, token_file=value),
        lambda: rolesession.assume_role_with_web_identity(ROLE, token="abcd", provider_id=value),
        lambda: rolesession.assume_role_with_saml(value, PRINCIPAL, assertion="abcd"),
        lambda: rolesession.assume_role_with_saml(ROLE, value, assertion="abcd"),
        lambda: rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=value),
        lambda: rolesession.chain(value),
        lambda: rolesession.chain([value]),
        lambda: rolesession.role_arn(value, "Admin"),
        lambda: rolesession.role_arn("123456789012", value),
        lambda: rolesession.role_arn("123456789012", "Admin", path=value),
        lambda: rolesession.role_arn("123456789012", "Admin", partition=value),
        lambda: RefreshPolicy(advisory=value),
        lambda: RefreshPolicy(mandatory=value),
        lambda: RefreshPolicy(max_backoff=value),
        lambda: RefreshPolicy(jitter=value),
        lambda: MemoryCache(maxsize=value),
        lambda: rolesession.FileCache(lock_timeout=value),
        lambda: Policy.from_json(value),
        lambda: Policy.allow(value),
        lambda: Policy.allow("s3:GetObject", value),
        lambda: Policy.allow("s3:GetObject", conditions=value),
        lambda: rolesession.fan_out(value, lambda s: None),
        lambda: rolesession.fan_out([], lambda s: None, max_workers=value),
        lambda: rolesession.fan_out([], lambda s: None, executor=value),
        lambda: rolesession.fan_out([], lambda s: None, progress=value),
    ]
    for call in calls:
        _only_invalid_parameter_errors(call)
    session = rolesession.assume_role(ROLE, cache=None)
    _only_invalid_parameter_errors(lambda: session.scoped(policy=value))
    _only_invalid_parameter_errors(lambda: session.scoped(policy_arns=value))
    _only_invalid_parameter_errors(lambda: session.assume_role(value))

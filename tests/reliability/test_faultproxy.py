"""The fault proxy itself, driven by plain urllib, http.client and boto3 clients."""

from __future__ import annotations

import datetime as _dt
import email.utils
import http.client
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from helpers import ROLE, ROLE_B, SOURCE_KEY, SOURCE_SECRET

from .faultproxy import FaultProxy, real_clock
from .harness import wait_until

ONE_TRY = botocore.config.Config(
    connect_timeout=1, read_timeout=1, retries={"mode": "standard", "total_max_attempts": 1}
)


def client(proxy: FaultProxy, service: str = "sts", key: str = SOURCE_KEY, **config: Any) -> Any:
    return boto3.client(
        service,
        endpoint_url=proxy.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=SOURCE_SECRET,
        config=ONE_TRY.merge(botocore.config.Config(**config)) if config else ONE_TRY,
    )


def assume(proxy: FaultProxy, role: str = ROLE, **kwargs: Any) -> dict[str, Any]:
    return client(proxy, **kwargs).assume_role(RoleArn=role, RoleSessionName="proxy-test")  # type: ignore[no-any-return]


def post(proxy: FaultProxy, form: dict[str, str], timeout: float = 2.0) -> tuple[int, dict[str, str], bytes]:
    """A raw form POST, as an STS client sends it."""
    data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(
        proxy.url + "/", data=data, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_forwards_to_moto_and_records_each_request(fault_proxy: FaultProxy) -> None:
    creds = assume(fault_proxy)["Credentials"]
    identity = client(fault_proxy).get_caller_identity()

    assert creds["AccessKeyId"].startswith("ASIA")
    assert identity["Account"] == "123456789012"
    first, second = fault_proxy.records
    assert (first.action, first.role, first.service, first.access_key) == (
        "AssumeRole",
        ROLE,
        "sts",
        SOURCE_KEY,
    )
    assert (first.fault, first.status) == ("forward", 200)
    assert first.duration is not None and first.duration > 0
    assert (second.action, second.role) == ("GetCallerIdentity", None)
    assert fault_proxy.counts() == {"AssumeRole": 1, "GetCallerIdentity": 1}


def test_faults_are_selected_per_action_and_per_role(fault_proxy: FaultProxy) -> None:
    fault_proxy.throttle(action="AssumeRole", role=ROLE_B)

    assume(fault_proxy, ROLE)
    client(fault_proxy).get_caller_identity()
    with pytest.raises(ClientError) as caught:
        assume(fault_proxy, ROLE_B)

    assert caught.value.response["Error"]["Code"] == "Throttling"
    assert fault_proxy.count("AssumeRole", fault="throttle") == 1
    assert fault_proxy.count(fault="forward") == 2


def test_times_limits_a_fault_to_the_first_requests(fault_proxy: FaultProxy) -> None:
    fault_proxy.throttle(times=2)

    results = []
    for _ in range(3):
        try:
            assume(fault_proxy)
            results.append("ok")
        except ClientError as exc:
            results.append(exc.response["Error"]["Code"])

    assert results == ["Throttling", "Throttling", "ok"]


def test_unknown_action_is_refused_when_switching() -> None:
    proxy = FaultProxy("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="AssumeRol"):
        proxy.hang(action="AssumeRol")


def test_hang_holds_the_request_until_released(fault_proxy: FaultProxy) -> None:
    fault_proxy.hang(action="AssumeRole")

    started = real_clock()
    with pytest.raises(ReadTimeoutError):
        assume(fault_proxy)
    waited = real_clock() - started

    assert 0.9 < waited < 10  # held for the 1-s read timeout (the upper bound only catches a hang)
    (record,) = fault_proxy.records
    assert record.fault == "hang" and record.duration is None  # counted while still hanging
    fault_proxy.release()
    assert wait_until(lambda: fault_proxy.records[0].duration is not None)
    record = fault_proxy.records[0]
    # The proxy holds it from when the request arrives until released, which is after the
    # client's 1-s read timeout (the client's own set-up, seconds on a busy machine, is in
    # `waited` but not in the hang, so only the timeout bounds it from below).
    assert record.duration is not None and record.duration >= 0.9
    assert record.status is None
    client(fault_proxy).get_caller_identity()  # other actions were never hung


def test_stop_releases_hung_connections_promptly(moto_server: str) -> None:
    proxy = FaultProxy(moto_server).start()
    proxy.hang()
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            post(proxy, {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, timeout=30)
        except BaseException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    assert proxy.wait_for("GetCallerIdentity", 1)
    started = real_clock()
    proxy.stop()
    caller.join(5)

    assert not caller.is_alive(), "a hung request outlived stop()"
    assert real_clock() - started < 10  # stop() ended it (a bound only against a hang)
    assert outcome and isinstance(outcome[0], (OSError, http.client.HTTPException))


def test_refuse_closes_without_an_answer(fault_proxy: FaultProxy) -> None:
    fault_proxy.refuse(action="AssumeRole")

    with pytest.raises(ConnectionClosedError):
        assume(fault_proxy)
    assert fault_proxy.count("AssumeRole", fault="refuse") == 1


def test_refuse_listener_refuses_connections_until_cleared(fault_proxy: FaultProxy) -> None:
    port = urllib.parse.urlsplit(fault_proxy.url).port
    fault_proxy.refuse(listener=True)

    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with pytest.raises(EndpointConnectionError):
        assume(fault_proxy)
    fault_proxy.clear()

    assert fault_proxy.url.endswith(f":{port}")
    assert assume(fault_proxy)["Credentials"]["AccessKeyId"]


def test_reset_sends_an_rst(fault_proxy: FaultProxy) -> None:
    fault_proxy.reset()
    conn = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(fault_proxy.url).port, timeout=2)
    conn.request(
        "POST",
        "/",
        body="Action=GetCallerIdentity&Version=2011-06-15",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )

    with pytest.raises(ConnectionResetError):
        conn.getresponse().read()
    conn.close()
    with pytest.raises(ConnectionClosedError):
        assume(fault_proxy)


def test_slow_delays_the_answer(fault_proxy: FaultProxy) -> None:
    fault_proxy.slow(0.3, action="AssumeRole")

    started = real_clock()
    assume(fault_proxy)
    took = real_clock() - started

    assert took >= 0.3
    record = fault_proxy.records[0]
    assert record.fault == "slow"
    # The proxy finishes its record just after the answer's last byte: the client may be first.
    wait_until(lambda: record.duration is not None)
    assert record.duration is not None and record.duration >= 0.3


def test_throttle_5xx_and_non_xml_answers(fault_proxy: FaultProxy) -> None:
    form = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    fault_proxy.throttle(times=1)
    fault_proxy.http_5xx(503, times=1)
    fault_proxy.http_5xx(502, body="html", times=1)
    fault_proxy.non_xml(times=1)

    throttled, five03, five02, not_xml = (post(fault_proxy, form) for _ in range(4))

    assert throttled[0] == 400 and b"<Code>Throttling</Code>" in throttled[2]
    assert five03[0] == 503 and b"<Code>ServiceUnavailable</Code>" in five03[2]
    assert five02[0] == 502 and five02[2].startswith(b"<html>")
    assert not_xml[0] == 200 and b"<" not in not_xml[2]
    fault_proxy.non_xml()
    with pytest.raises(ResponseParserError):
        assume(fault_proxy)


def test_echo_secrets_quotes_every_secret_verbatim(fault_proxy: FaultProxy) -> None:
    fault_proxy.echo_secrets("InvalidIdentityToken")
    secrets = {
        "WebIdentityToken": "eyJ.token-value.sig",
        "SAMLAssertion": "PHNhbWw+c2FtbA==",
        "TokenCode": "731946",
    }

    status, _, body = post(fault_proxy, {"Action": "AssumeRoleWithWebIdentity", **secrets})

    assert status == 400
    assert b"<Code>InvalidIdentityToken</Code>" in body
    for value in secrets.values():
        assert value.encode() in body


@pytest.mark.parametrize(
    ("service", "call", "code"),
    [
        ("sts", lambda c: c.get_caller_identity(), "ExpiredToken"),
        ("sts", lambda c: c.get_caller_identity(), "InvalidClientTokenId"),
        ("s3", lambda c: c.list_buckets(), "ExpiredToken"),
        ("s3", lambda c: c.list_buckets(), "RequestExpired"),
        ("dynamodb", lambda c: c.list_tables(), "ExpiredTokenException"),
    ],
)
def test_reject_keys_answers_in_the_services_error_shape(
    fault_proxy: FaultProxy, service: str, call: Any, code: str
) -> None:
    fault_proxy.reject_keys({"AKIAREJECTEDKEY00001"}, code)

    call(client(fault_proxy, service, key=SOURCE_KEY))  # another key passes
    with pytest.raises(ClientError) as caught:
        call(client(fault_proxy, service, key="AKIAREJECTEDKEY00001"))

    assert caught.value.response["Error"]["Code"] == code
    rejected = [r for r in fault_proxy.records if r.fault == "reject_keys"]
    assert [(r.service, r.access_key) for r in rejected] == [(service, "AKIAREJECTEDKEY00001")]


def test_reject_keys_takes_a_predicate(fault_proxy: FaultProxy) -> None:
    fault_proxy.reject_keys(lambda key: key.startswith("ASIA"), "ExpiredToken")
    creds = assume(fault_proxy)["Credentials"]  # signed with the AKIA source key: passes
    temporary = boto3.client(
        "sts",
        endpoint_url=fault_proxy.url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=ONE_TRY,
    )

    with pytest.raises(ClientError, match="ExpiredToken"):
        temporary.get_caller_identity()


@pytest.mark.parametrize("seconds", [600, -600])
def test_skew_moves_date_and_expiration(fault_proxy: FaultProxy, seconds: int) -> None:
    plain = assume(fault_proxy)
    fault_proxy.skew(seconds)
    skewed = assume(fault_proxy)

    def date(response: dict[str, Any]) -> _dt.datetime:
        return email.utils.parsedate_to_datetime(response["ResponseMetadata"]["HTTPHeaders"]["date"])

    date_shift = (date(skewed) - date(plain)).total_seconds()
    expiry_shift = (skewed["Credentials"]["Expiration"] - plain["Credentials"]["Expiration"]).total_seconds()
    assert abs(date_shift - seconds) < 5, date_shift
    assert abs(expiry_shift - seconds) < 5, expiry_shift
    assert abs((skewed["Credentials"]["Expiration"] - date(skewed)).total_seconds() - 3600) < 2


def test_expire_in_shortens_the_credentials(fault_proxy: FaultProxy) -> None:
    fault_proxy.expire_in(45)

    response = assume(fault_proxy)

    date = email.utils.parsedate_to_datetime(response["ResponseMetadata"]["HTTPHeaders"]["date"])
    assert (response["Credentials"]["Expiration"] - date).total_seconds() == 45


def test_concurrent_requests_are_all_counted(fault_proxy: FaultProxy) -> None:
    fault_proxy.slow(0.2, action="GetCallerIdentity")
    form = {"Action": "GetCallerIdentity", "Version": "2011-06-15"}

    with ThreadPoolExecutor(32) as pool:
        statuses = list(pool.map(lambda _: post(fault_proxy, form, timeout=10)[0], range(32)))

    # Unsigned GetCallerIdentity is refused by moto, but every request got an answer.
    assert len(statuses) == 32 and all(isinstance(s, int) for s in statuses)
    assert fault_proxy.count("GetCallerIdentity") == 32
    assert fault_proxy.count(fault="slow") == 32

"""Sessions made by the library share botocore's loader, models and immutable components.

SPEC: "Sessions made by the library share botocore's data loader, so a client
in the thousandth session costs what it costs in the first." These tests
check the sharing itself (identity of the shared objects) and that sharing
never leaks one session's handlers or settings into another.
"""

from __future__ import annotations

import os
import tracemalloc

import boto3
import pytest

import rolesession
from helpers import ACCOUNT, OTHER_ACCOUNT, ROLE, ROLE_B
from rolesession import _botocore
from rolesession import _sts as sts


def _botocore_session(session: boto3.Session):
    return session._session


def test_role_sessions_share_the_data_loader():
    one = rolesession.assume_role(ROLE)
    two = rolesession.assume_role(ROLE_B)
    loader = _botocore_session(one).get_component("data_loader")
    assert loader is _botocore_session(two).get_component("data_loader")
    assert loader is _botocore.shared_loader()


def test_clients_in_different_sessions_use_one_loaded_model(sts_mock):
    one = rolesession.assume_role(ROLE).client("sts")
    two = rolesession.assume_role(ROLE_B).client("sts")
    assert one._loader is two._loader
    # The service model's JSON was loaded once and is the same object in both.
    assert one.meta.service_model._service_description is two.meta.service_model._service_description


def test_sessions_share_endpoint_resolver_and_exceptions_factory():
    one = _botocore_session(rolesession.assume_role(ROLE))
    two = _botocore_session(rolesession.assume_role(ROLE_B))
    for name in ("endpoint_resolver", "exceptions_factory"):
        assert one._get_internal_component(name) is two._get_internal_component(name)


def test_modelled_exceptions_are_the_same_classes_in_every_session(sts_mock):
    one = rolesession.assume_role(ROLE).client("iam")
    two = rolesession.assume_role(ROLE_B).client("iam")
    assert one.exceptions.NoSuchEntityException is two.exceptions.NoSuchEntityException
    with pytest.raises(one.exceptions.NoSuchEntityException):
        two.get_role(RoleName="does-not-exist")


def test_sts_client_sessions_share_the_loader_too():
    client = sts.client_for(None, "us-east-1", None, None)
    assert client._loader is _botocore.shared_loader()


def test_sessions_share_built_in_handler_tables_until_one_changes():
    one = _botocore_session(rolesession.assume_role(ROLE))
    two = _botocore_session(rolesession.assume_role(ROLE_B))
    # Both copies of the template's handler trie still share the built-in
    # handlers' nodes (the few written by boto3 per session were copied).
    shared_a = one._original_handler._handlers._root["children"]["before-sign"]
    shared_b = two._original_handler._handlers._root["children"]["before-sign"]
    assert shared_a is shared_b


def test_handlers_registered_on_one_session_stay_in_that_session(sts_mock):
    one = rolesession.assume_role(ROLE)
    two = rolesession.assume_role(ROLE_B)
    seen: list[str] = []
    one.events.register("before-call.sts.GetCallerIdentity", lambda **kw: seen.append("one"))
    two.client("sts").get_caller_identity()
    assert seen == []
    one.client("sts").get_caller_identity()
    assert seen == ["one"]
    three = rolesession.assume_role(f"arn:aws:iam::{ACCOUNT}:role/Third")
    three.client("sts").get_caller_identity()
    assert seen == ["one"]


def test_client_handlers_do_not_leak_into_the_session_or_other_clients(sts_mock):
    session = rolesession.assume_role(ROLE)
    one, two = session.client("sts"), session.client("sts")
    seen: list[str] = []
    one.meta.events.register("before-call.sts.GetCallerIdentity", lambda **kw: seen.append("one"))
    two.get_caller_identity()
    session.client("sts").get_caller_identity()
    assert seen == []
    one.get_caller_identity()
    assert seen == ["one"]


def test_per_session_settings_are_not_shared(sts_mock):
    one = rolesession.assume_role(ROLE, region="eu-west-1")
    two = rolesession.assume_role(ROLE_B, region="ap-southeast-2")
    assert one.client("sts").meta.region_name == "eu-west-1"
    assert two.client("sts").meta.region_name == "ap-southeast-2"
    assert one.client("sts").get_caller_identity()["Account"] == ACCOUNT
    assert two.client("sts").get_caller_identity()["Account"] == OTHER_ACCOUNT


def test_boto3_data_path_is_not_appended_per_session():
    rolesession.assume_role(ROLE)
    count = len(_botocore.shared_loader().search_paths)
    for i in range(20):
        rolesession.assume_role(f"arn:aws:iam::{ACCOUNT}:role/R{i}")
    assert len(_botocore.shared_loader().search_paths) == count


def test_another_session_and_client_cost_a_fraction_of_a_fresh_boto3_one(sts_mock):
    # Memory, not time: tracemalloc counts allocations deterministically. A
    # fresh boto3 session's first STS client allocates several MB (models and
    # endpoint rules loaded again); a library session shares all of that.
    rolesession.assume_role(ROLE).client("sts")
    boto3.Session().client("sts")
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        keep = [boto3.Session(region_name="us-east-1").client("sts")]
        fresh = tracemalloc.get_traced_memory()[0] - start
        start = tracemalloc.get_traced_memory()[0]
        for i in range(10):
            session = rolesession.assume_role(f"arn:aws:iam::{ACCOUNT}:role/M{i}")
            keep.append((session, session.client("sts")))
        ours = (tracemalloc.get_traced_memory()[0] - start) / 10
    finally:
        tracemalloc.stop()
    assert ours * 20 < fresh, (ours, fresh)


def test_new_sessions_work_in_a_forked_child(sts_mock):
    rolesession.assume_role(ROLE).client("sts")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        status = b"?"
        try:
            client = rolesession.assume_role(ROLE_B).client("sts")
            status = b"ok" if client._loader is _botocore.shared_loader() else b"not shared"
        except BaseException as exc:
            status = type(exc).__name__.encode()
        finally:
            os.write(write, status)
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 100) == b"ok"
    os.close(read)

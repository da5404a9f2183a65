"""``RoleCredentials`` is a frozen, slotted value, written out without ``dataclasses`` (the command
line's cached path reads it): equality, hash, immutability, ``match`` and pickles as the dataclass had."""

from __future__ import annotations

import copy
import pickle

import pytest

from rolesession import RoleCredentials

#: ``pickle.dumps(RoleCredentials(...), protocol=4)`` made by the ``@dataclass(frozen=True, slots=True)``
#: version (2026-12-05): such pickles (a process pool, a cache) still load.
DATACLASS_PICKLE = (
    b"\x80\x04\x95\xbb\x00\x00\x00\x00\x00\x00\x00\x8c\x18rolesession._credentials\x94\x8c\x0fRoleCredentials"
    b"\x94\x93\x94)\x81\x94]\x94(\x8c\x14ASIAOLDPICKLE0000001\x94\x8c\x06secret\x94\x8c\x05token\x94GA\xda\xd2t"
    b"\x80\x00\x00\x00GA\xda\xd2p\xfc\x00\x00\x00\x8c,arn:aws:sts::123456789012:assumed-role/Old/s\x94\x8c\tARO"
    b"AOLD:s\x94\x8c\x02me\x94G?\xf8\x00\x00\x00\x00\x00\x00eb."
)


def make(**changes: object) -> RoleCredentials:
    fields: dict[str, object] = {
        "access_key": "ASIAOLDPICKLE0000001", "secret_key": "secret", "token": "token",
        "expiration": 1800000000.0, "received": 1799996400.0,
        "arn": "arn:aws:sts::123456789012:assumed-role/Old/s", "user_id": "AROAOLD:s",
        "source_identity": "me", "skew": 1.5,
    }  # fmt: skip
    fields.update(changes)
    return RoleCredentials(**fields)  # type: ignore[arg-type]


def test_a_pickle_of_the_dataclass_version_loads_equal() -> None:
    assert pickle.loads(DATACLASS_PICKLE) == make()


def test_equality_hash_and_copies_are_by_value() -> None:
    one = make()
    assert one == make() and hash(one) == hash(make())
    assert one != make(skew=0.0) and one != make(access_key="ASIAOTHER")
    assert copy.copy(one) == one == copy.deepcopy(one) == pickle.loads(pickle.dumps(one))
    assert RoleCredentials("a", "b", "c", 2.0, 1.0) == make(
        access_key="a", secret_key="b", token="c", expiration=2.0, received=1.0, arn="", user_id="",
        source_identity=None, skew=0.0,
    )  # fmt: skip


def test_it_is_frozen_and_holds_no_dict() -> None:
    one = make()
    with pytest.raises(AttributeError):
        one.token = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del one.token  # type: ignore[misc]
    assert not hasattr(one, "__dict__")


def test_match_takes_its_fields_in_order() -> None:
    match make():
        case RoleCredentials(access_key, secret_key, token, expiration, received):
            assert (access_key, secret_key, token) == ("ASIAOLDPICKLE0000001", "secret", "token")
            assert expiration - received == 3600
        case _:
            pytest.fail("no match")


def test_its_repr_shows_no_secret() -> None:
    text = repr(make())
    assert "secret" not in text and "token" not in text.replace("access_key", "")

"""``rolesession.aio``: async sessions for aiobotocore and aioboto3, on the one engine.

Runs where aiobotocore is installed (``make aio`` builds that environment:
aiobotocore pins its own botocore); skipped elsewhere. Async clients talk to
a moto server on loopback (moto's in-process mock does not serve
aiobotocore's HTTP); the library's own STS calls are recorded with
``rolesession.testing.StsRecorder``.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading
import weakref
from typing import Any

import pytest

aiobotocore = pytest.importorskip("aiobotocore")

import rolesession  # noqa: E402
from rolesession import aio  # noqa: E402
from rolesession.testing import StsRecorder, forget_sessions  # noqa: E402
from tokens import make_jwt  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/Reader"
HUB = "arn:aws:iam::210987654321:role/Hub"
MFA = "arn:aws:iam::123456789012:mfa/alice"


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def caller_arn(session: aio.AioRoleSession, endpoint: str) -> str:
    async with session.create_client("sts", endpoint_url=endpoint) as sts:
        return str((await sts.get_caller_identity())["Arn"])


def test_import_rolesession_never_imports_aiobotocore():
    code = "import sys, rolesession; assert 'aiobotocore' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_async_client_signs_with_the_assumed_role(moto_server, sts_calls):
    session = aio.assume_role(ROLE, sts_endpoint_url=moto_server)
    assert isinstance(session, aiobotocore.session.AioSession)
    arn = run(caller_arn(session, moto_server))
    assert "assumed-role/Reader" in arn
    assert sts_calls.count("AssumeRole") == 1


def test_aioboto3_takes_the_session(moto_server, sts_calls):
    aioboto3 = pytest.importorskip("aioboto3")
    session = aio.assume_role(ROLE, sts_endpoint_url=moto_server)

    async def main() -> str:
        async with aioboto3.Session(botocore_session=session).client("sts", endpoint_url=moto_server) as sts:
            return str((await sts.get_caller_identity())["Arn"])

    assert "assumed-role/Reader" in run(main())


def test_the_aioboto3_hand_over_can_be_repeated_per_request(moto_server, sts_calls):
    """Issue 16, 13: asking again each time (as the Lambda guide teaches) gets the shared session,
    and aioboto3 re-registered its S3 injections: the second client raised ``Cannot inject``."""
    aioboto3 = pytest.importorskip("aioboto3")

    async def handle_one_request() -> list[str]:
        session = aioboto3.Session(botocore_session=aio.assume_role(ROLE, sts_endpoint_url=moto_server))
        async with session.client("s3", endpoint_url=moto_server, region_name="us-east-1") as s3:
            assert callable(s3.upload_file)  # aioboto3's injected transfer methods are there
            return [b["Name"] for b in (await s3.list_buckets())["Buckets"]]

    async def main() -> None:
        for _ in range(100):
            assert await handle_one_request() == []  # the second one raised before

    run(main())
    assert sts_calls.count("AssumeRole") == 1  # one session all along
    session = aio.assume_role(ROLE, sts_endpoint_url=moto_server)
    paths = session.get_component("data_loader").search_paths
    assert len(paths) == len(set(paths))  # boto3's data path added once, not once per hand-over


def test_cold_sessions_waiting_for_a_hanging_sts_leave_the_loops_executor_free(moto_server, sts_calls):
    """Issue 17, 10a: fetches ran on the loop's default executor (6 threads on 2 cores), so with STS
    hanging every new aiohttp connection waited to resolve its host name. Counted, not timed: all 10
    fetches are in STS at once, and getaddrinfo completes while every one of them still hangs."""
    sessions = [aio.assume_role(f"{ROLE}{n}", sts_endpoint_url=moto_server) for n in range(10)]
    gate = sts_calls.block()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        reads = [
            asyncio.ensure_future((await session.get_credentials()).get_frozen_credentials())
            for session in sessions
        ]
        try:
            for _ in range(3000):  # up to 30 s: a generous bound, never reached when it works
                if sts_calls.count("AssumeRole") == 10:
                    break
                await asyncio.sleep(0.01)
            assert sts_calls.count("AssumeRole") == 10  # all in STS at once (6 before: the rest queued)
            await asyncio.wait_for(loop.getaddrinfo("localhost", 80), 30)
            assert not any(read.done() for read in reads)  # resolved while STS still hung
        finally:
            gate.set()
        await asyncio.gather(*reads)

    run(main())


_DEBUG_CAPTURE = """
import asyncio, io, logging, sys
from rolesession import FileCache, aio
log = io.StringIO()
logging.basicConfig(level=logging.DEBUG, stream=log)
endpoint, directory, role = sys.argv[1:]
session = aio.assume_role(role, sts_endpoint_url=endpoint, cache=FileCache(directory))
async def main():
    async with session.create_client("sts", endpoint_url=endpoint) as sts:
        await sts.get_caller_identity()
asyncio.run(main())
sys.stdout.write(log.getvalue())
"""


def test_credentials_from_the_file_cache_never_reach_botocores_debug_log(moto_server, tmp_path):
    """Issue 17, 10b: with the file cache supplying the credentials no STS client was made, so no
    redaction filter was attached, and botocore's DEBUG log showed the session token twice."""
    from rolesession import FileCache

    directory = tmp_path / "cache"
    first = aio.assume_role(ROLE, sts_endpoint_url=moto_server, cache=FileCache(directory))
    held = run(_frozen(first))
    # A new process: its credentials come from the file, not from STS.
    captured = subprocess.run(
        [sys.executable, "-c", _DEBUG_CAPTURE, moto_server, str(directory), ROLE],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "GetCallerIdentity" in captured and "X-Amz-Security-Token" in captured  # botocore did log
    assert held.token not in captured and held.secret_key not in captured


async def _frozen(session: aio.AioRoleSession) -> Any:
    return await (await session.get_credentials()).get_frozen_credentials()


def test_the_same_request_is_the_same_session_and_shares_the_sync_engine(moto_server, sts_calls):
    first = aio.assume_role(ROLE, sts_endpoint_url=moto_server)
    assert aio.assume_role(ROLE, sts_endpoint_url=moto_server) is first
    sync = rolesession.assume_role(ROLE, sts_endpoint_url=moto_server)
    assert first.sync is sync
    run(caller_arn(first, moto_server))
    sync.get_credentials().get_frozen_credentials()  # the sync view holds them already
    assert sts_calls.count("AssumeRole") == 1


def test_an_async_session_goes_with_its_sync_session(moto_server):
    view = aio.assume_role(ROLE, sts_endpoint_url=moto_server)
    sync = weakref.ref(view.sync)
    del view
    forget_sessions()  # the registry let go: nothing else may keep either alive
    gc.collect()
    assert sync() is None


def test_coroutines_of_one_loop_share_one_fetch(moto_server, sts_calls):
    session = aio.assume_role(ROLE, sts_endpoint_url=moto_server)
    sts_calls.delay = 0.2

    async def main() -> set[str]:
        credentials = await session.get_credentials()
        frozen = await asyncio.gather(*(credentials.get_frozen_credentials() for _ in range(32)))
        return {f.access_key for f in frozen}

    assert len(run(main())) == 1
    assert sts_calls.count("AssumeRole") == 1


def test_a_read_never_blocks_the_loop_while_sts_hangs(moto_server, sts_calls, frozen):
    session = aio.assume_role(ROLE, sts_endpoint_url=moto_server, duration=3600)

    async def main() -> tuple[float, bool]:
        credentials = await session.get_credentials()
        held = await credentials.get_frozen_credentials()
        frozen.tick(3600 - 300)  # in the advisory window (and past its jittered start)
        gate = sts_calls.block()
        ticks = 0

        async def heartbeat() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        beat = asyncio.ensure_future(heartbeat())
        try:
            # Counted, not timed: all 200 reads are answered while STS still hangs (the gate opens
            # only below; a read waiting for it would hang), and the loop kept running between them.
            for _ in range(200):
                assert (await credentials.get_frozen_credentials()) == held
                await asyncio.sleep(0)
        finally:
            beat.cancel()
            gate.set()
        return ticks > 100

    assert run(main())  # the loop ran
    session.sync.get_credentials().wait_for_background(10)
    assert sts_calls.count("AssumeRole") == 2  # one refresh, in the background


def test_an_async_token_provider_runs_on_the_readers_loop(moto_server, sts_calls):
    seen: list[Any] = []

    async def token() -> str:
        seen.append((asyncio.get_running_loop(), threading.current_thread().name))
        await asyncio.sleep(0)
        return make_jwt()

    session = aio.assume_role_with_web_identity(ROLE, token=token, sts_endpoint_url=moto_server)

    async def main() -> Any:
        await caller_arn(session, moto_server)
        return asyncio.get_running_loop()

    loop = run(main())
    assert len(seen) == 1 and seen[0][0] is loop
    assert sts_calls.params(0)["WebIdentityToken"].count(".") == 2


def test_chains_profiles_and_mfa_sessions(moto_server, sts_calls, tmp_path, monkeypatch):
    (tmp_path / "config").write_text(f"[profile hub]\nrole_arn = {HUB}\nsource_profile = base\n")
    (tmp_path / "credentials").write_text("[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))

    async def code() -> str:
        return "123456"

    chained = aio.chain([HUB, ROLE], sts_endpoint_url=moto_server)
    at = {"sts_endpoint_url": moto_server}
    profile = aio.from_profile("hub", **at).assume_role(ROLE, **at)
    mfa = aio.mfa_session(MFA, code, **at).assume_role(ROLE, **at)
    for session in (chained, profile, mfa):
        assert "assumed-role/Reader" in run(caller_arn(session, moto_server))
        assert session.parent is not None
    assert chained.parent.role_arn == HUB and mfa.parent.role_arn is None
    assert sts_calls.count("GetSessionToken") == 1


def test_an_async_profile_sessions_clients_take_the_profiles_settings(moto_server, tmp_path, monkeypatch):
    (tmp_path / "config").write_text(
        f"[profile hub]\nrole_arn = {HUB}\nsource_profile = base\nmax_attempts = 7\n"
        "[default]\nmax_attempts = 2\n"
    )
    (tmp_path / "credentials").write_text("[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    session = aio.from_profile("hub", sts_endpoint_url=moto_server)
    assert session.get_config_variable("max_attempts") == 7  # the named profile's, not [default]'s
    assert session.get_config_variable("max_attempts") == session.sync._session.get_config_variable(
        "max_attempts"
    )


def test_from_environment_serves_the_default_chain_to_async_clients(moto_server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENTKEY01")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "environment-secret")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    session = aio.from_environment()
    assert isinstance(session, aio.AioRoleSession)
    assert session.sync.describe()["provider"] == "env"  # the sync engine's session, viewed

    async def signer() -> str:
        async with session.create_client("sts", endpoint_url=moto_server) as sts:
            await sts.get_caller_identity()  # signed and accepted
        credentials = await session.get_credentials()
        return str((await credentials.get_frozen_credentials()).access_key)

    assert run(signer()) == "AKIAENVIRONMENTKEY01"


def test_the_same_checks_as_the_sync_entry_points():
    with pytest.raises(rolesession.InvalidParameterError) as info:
        aio.assume_role(ROLE, duration=5)
    assert info.value.parameter == "duration"
    with pytest.raises(rolesession.InvalidParameterError) as info:
        aio.assume_role_with_saml(ROLE, "not-a-provider", assertion="x" * 10)
    assert info.value.parameter == "principal_arn"


def test_identity_refresh_and_expiration_never_block_the_loop(moto_server):
    session = aio.assume_role(ROLE, sts_endpoint_url=moto_server)

    async def main() -> tuple[dict[str, str], Any, Any]:
        identity = await session.identity()
        before = await session.expiration()
        await session.refresh()
        return identity, before, await session.expiration()

    identity, before, after = run(main())
    assert identity["Arn"].endswith(identity["Arn"].split("/")[-1]) and "Reader" in identity["Arn"]
    assert after >= before


def test_rejected_credentials_are_replaced_for_async_clients(moto_server):
    from reliability.faultproxy import FaultProxy

    proxy = FaultProxy(moto_server).start()
    try:
        session = aio.assume_role(ROLE, sts_endpoint_url=proxy.url)
        first = run(_access_key(session))
        proxy.reject_keys({first}, code="ExpiredToken")
        assert "assumed-role/Reader" in run(caller_arn(session, proxy.url))
        assert run(_access_key(session)) != first
    finally:
        proxy.stop()


async def _access_key(session: aio.AioRoleSession) -> str:
    return str((await (await session.get_credentials()).get_frozen_credentials()).access_key)


def test_an_async_session_pickles_as_its_recipe(moto_server):
    import pickle

    session = aio.assume_role(ROLE, sts_endpoint_url=moto_server)
    assert pickle.loads(pickle.dumps(session)) is session


def test_the_recorder_sees_the_library_calls_of_async_sessions(moto_server):
    with StsRecorder() as calls:
        run(caller_arn(aio.assume_role(HUB, sts_endpoint_url=moto_server, cache=None), moto_server))
    assert calls.count("AssumeRole") == 1


def test_the_async_example_runs_as_documented(moto_server):
    import os
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "aio" / "sessions.py"
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_server}  # every client, STS included, goes to moto
    done = subprocess.run(
        [sys.executable, str(script), ROLE, HUB], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "assumed-role/Reader" in lines[0] and "assumed-role/Hub" in lines[1]
    assert "(50 tasks, 1 identity)" in lines[1]


def test_scope_down_and_assume_root() -> None:
    """aio.scope_down / aio.assume_root (and AioRoleSession.scope_down) against the STS fake; an
    aiobotocore-pinned botocore without GetScopedCredentials gets a clear error, not a crash."""
    import botocore.session

    from sts_fake import StsFake

    known = botocore.session.get_session().get_service_model("sts").operation_names
    with StsFake(root_access=True) as fake:
        at = {"sts_endpoint_url": fake.url}
        role = aio.assume_role(ROLE, region="us-east-1", **at)
        root = aio.assume_root("210987654321", "IAMAuditRootUserCredentials", source=role, **at)
        scoped = aio.scope_down(rolesession.Policy.allow("s3:GetObject", "*"), source=role, **at)
        narrower = scoped.scope_down(duration=300, **at)

        assert run(_frozen(root)).access_key.startswith("ASIA")
        assert fake.requests[-1]["TargetPrincipal"] == "210987654321"
        if "GetScopedCredentials" in known:
            assert run(_frozen(narrower)).access_key != run(_frozen(scoped)).access_key
            assert fake.calls["GetScopedCredentials"] == 2
        else:
            with pytest.raises(rolesession.AssumeRoleError, match="upgrade botocore"):
                run(_frozen(scoped))


def test_web_identity_token_and_token_provider() -> None:
    """AioRoleSession.web_identity_token / token_provider: the sync engine's token, awaited off the
    loop; an aiobotocore-pinned botocore without GetWebIdentityToken gets a clear error."""
    import botocore.session

    from sts_fake import StsFake

    known = botocore.session.get_session().get_service_model("sts").operation_names
    with StsFake(outbound_federation=True) as fake:
        session = aio.assume_role(ROLE, region="us-east-1", sts_endpoint_url=fake.url)

        async def tokens() -> tuple[str, str, str]:
            provider = session.token_provider("api://one", duration=120)
            first = await session.web_identity_token("api://one", duration=120)
            again = await asyncio.gather(*(provider() for _ in range(20)))
            assert set(again) == {first}  # one token for the session and its parameters
            return first, again[0], await session.web_identity_token("api://two")

        with pytest.raises(rolesession.InvalidParameterError) as bad:
            session.token_provider("api://one", duration=5)
        assert bad.value.parameter == "duration"
        if "GetWebIdentityToken" in known:
            first, _, other = run(tokens())
            assert fake.keys.verify(first)["aud"] == "api://one"
            assert fake.keys.verify(other)["aud"] == "api://two"
            assert fake.calls["GetWebIdentityToken"] == 2
        else:
            with pytest.raises(rolesession.RoleSessionError, match="upgrade botocore"):
                run(tokens())


def test_token_readers_of_one_loop_share_one_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token is read as credentials are: 20 coroutines asking at once for a token nobody holds
    make one trip off the loop (not one blocked fetch thread each); once held, a read is a clock
    read and a compare, with no trip at all."""
    import botocore.session

    from sts_fake import StsFake

    known = botocore.session.get_session().get_service_model("sts").operation_names
    trips: list[object] = []
    real = aio._off_the_loop

    def counted(loop: Any, call: Any) -> Any:
        trips.append(call)
        return real(loop, call)

    with StsFake(outbound_federation=True) as fake:
        session = aio.assume_role(ROLE, region="us-east-1", sts_endpoint_url=fake.url)
        provider = session.token_provider("api://shared", duration=120)

        async def many() -> list[Any]:
            await session.get_credentials()  # the session's own credentials are held first
            await (await session.get_credentials()).get_frozen_credentials()
            monkeypatch.setattr(aio, "_off_the_loop", counted)
            return await asyncio.gather(*(provider() for _ in range(20)), return_exceptions=True)

        results = run(many())
        assert len(trips) == 1  # one fetch for the 20 of them
        if "GetWebIdentityToken" in known:
            assert len(set(results)) == 1 and fake.calls["GetWebIdentityToken"] == 1
            trips.clear()
            assert run(session.web_identity_token("api://shared", duration=120)) == results[0]
            assert trips == []  # held: no trip off the loop
        else:
            assert all(isinstance(r, rolesession.AssumeRoleError) for r in results)
            assert all("upgrade botocore" in str(r) for r in results)


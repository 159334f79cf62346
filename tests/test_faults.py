"""Faults: the database restarted under the service, a refresh cancelled half-way, and
`agentspend serve` killed with SIGKILL while deliveries arrive.

What must hold each time: every acknowledged delivery is stored and processed, nothing is
counted twice, and the pull request still has exactly one comment and one check run.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fakes.github import Commit, FakeGitHub, private_key_pem
from private_postgres import PrivatePostgres, remove, start_private_postgres
from processes import AGENTSPEND, free_port, stop, until, wait_healthy
from test_loop import HEAD, REPO, SECRET, TRAILER_SESSION, _pull_request, _trailer_session, loop_on

from bot import jobs
from bot.db.engine import make_engine, upgrade
from bot.github.events import sign
from bot.wire import to_json

@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = start_private_postgres()
    try:
        upgrade(server.url)
        yield server
    finally:
        remove(server)


async def _delivery_states(database_url: str) -> dict[str, str]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return dict((await conn.execute(sa.text("select id, state from deliveries"))).all())
    finally:
        await engine.dispose()


async def test_postgres_restarted_between_receipt_and_processing(private_postgres: PrivatePostgres,
                                                                fake_github: FakeGitHub) -> None:
    async with loop_on(private_postgres.url, fake_github) as loop:
        assert await loop.upload(_trailer_session(100)) == 200
        assert await loop.send("pull_request", _pull_request("opened"), "before-restart") == 202

        private_postgres.restart()  # every pooled connection is now dead
        await loop.settle()
        assert len(loop.comments()) == 1 and TRAILER_SESSION in loop.comments()[0].body
        assert len(loop.checks()) == 1

        private_postgres.stop()
        refused = await loop.send("pull_request", _pull_request("labeled"), "while-down")
        assert refused == 503  # not stored, so not acknowledged: GitHub keeps it for redelivery
        with pytest.raises((OSError, sa.exc.DBAPIError)):
            await jobs.tick(loop.svc)  # the worker's tick fails loudly; APScheduler logs it and ticks again
        private_postgres.start()

        assert await loop.send("pull_request", _pull_request("labeled"), "while-down") == 202  # redelivered
        await loop.settle()
    assert await _delivery_states(private_postgres.url) == {"before-restart": "done", "while-down": "done"}
    assert len(loop.comments()) == 1 and len(loop.checks()) == 1


async def test_a_refresh_cancelled_half_way_is_finished_later_with_one_comment(database_url: str,
                                                                            fake_github: FakeGitHub) -> None:
    async with loop_on(database_url, fake_github) as loop:
        assert await loop.upload(_trailer_session(100)) == 200
        assert await loop.send("pull_request", _pull_request("opened"), "d-1") == 202
        assert await jobs.process_deliveries(loop.svc) == 1
        await asyncio.sleep(2.1)  # the pull request's debounce

        fake_github.latency = 0.4
        refresh = asyncio.create_task(jobs.refresh_dirty(loop.svc))
        while not fake_github.calls_to("POST", "/repos/*/check-runs"):
            await asyncio.sleep(0.05)
        refresh.cancel()  # e.g. the service shutting down mid-refresh
        with pytest.raises(asyncio.CancelledError):
            await refresh
        fake_github.latency = 0.0

        await loop.settle()  # the pull request was put back, dirty, and is refreshed again
        assert len(loop.comments()) == 1
        assert len(loop.checks()) == 1
        assert TRAILER_SESSION in loop.comments()[0].body


# --- `agentspend serve` as a process, killed with SIGKILL mid-stream ------------------------------


def _serve(env: dict[str, str], port: int) -> subprocess.Popen:
    return subprocess.Popen([*AGENTSPEND, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _deliver(url: str, delivery: str, body: bytes) -> int | None:
    """POST a signed synchronize delivery; None when nothing answered (the server is down)."""
    headers = {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery,
               "X-Hub-Signature-256": sign(body, SECRET), "Content-Type": "application/json"}
    try:
        return httpx.post(f"{url}/webhooks/github", content=body, headers=headers, timeout=10).status_code
    except httpx.TransportError:
        return None


def test_serve_killed_while_deliveries_arrive_loses_nothing(database_url: str, fake_github: FakeGitHub,
                                                            tmp_path: Path) -> None:
    fake_github.seed_hello_world(commits=[
        Commit(HEAD, f"Update README\n\nAgent-Session: {TRAILER_SESSION}\n", date="2019-05-15T15:10:00Z")])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "AGENTSPEND_"))} | {
        "HOME": str(tmp_path), "DATABASE_URL": database_url, "GITHUB_APP_ID": str(fake_github.app.id),
        "GITHUB_APP_PRIVATE_KEY": private_key_pem(), "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_API_URL": fake_github.url, "AGENTSPEND_LEASE_SECONDS": "3",
    }
    body = json.dumps(_pull_request("synchronize")).encode()
    answered: dict[str, int | None] = {}
    server = _serve(env, port)
    try:
        wait_healthy(url, server)
        answered["opened"] = _deliver(url, "opened", json.dumps(_pull_request("opened")).encode())
        until(lambda: len(fake_github.check_runs_for(REPO, HEAD, "AgentSpend")) == 1)
        token = subprocess.run([*AGENTSPEND, "token", "create", "--owner", "codertocat"], env=env,
                               capture_output=True, text=True, check=True).stdout.strip()
        uploaded = httpx.post(f"{url}/api/v1/sessions", content=to_json([_trailer_session(100)]),
                              headers={"Authorization": f"Bearer {token}"})
        assert uploaded.status_code == 200

        until(lambda: len(fake_github.comments_on(REPO, 2)) == 1)
        fake_github.latency = 0.3  # a refresh now takes seconds: long enough to be killed half-way
        fake_github.clear_calls()
        for i in range(13):
            answered[f"sync-{i}"] = _deliver(url, f"sync-{i}", body)
        until(lambda: fake_github.calls_to("GET", "/repos/*/pulls/2"), poll=0.01)  # a refresh has begun
        server.send_signal(signal.SIGKILL)
        server.wait()
        assert _held(database_url), "the kill should land in the middle of a refresh"
        for i in range(13, 30):
            answered[f"sync-{i}"] = _deliver(url, f"sync-{i}", body)
        assert answered["sync-12"] == 202 and answered["sync-13"] is None  # down from the kill on
        fake_github.latency = 0.0

        server = _serve(env, port)
        wait_healthy(url, server)
        for delivery, status in list(answered.items()):
            if status is None:  # what GitHub shows as failed, an operator redelivers
                answered[delivery] = _deliver(url, delivery, body)
        assert set(answered.values()) == {202}

        until(lambda: set(asyncio.run(_delivery_states(database_url)).values()) == {"done"})
        until(lambda: _settled(database_url), timeout=30)
    finally:
        stop(server, timeout=20)
    assert sorted(asyncio.run(_delivery_states(database_url))) == sorted(answered)
    assert len(fake_github.comments_on(REPO, 2)) == 1
    assert len(fake_github.check_runs_for(REPO, HEAD, "AgentSpend")) == 1
    assert fake_github.errors == []


def _pull_state(database_url: str) -> tuple[bool, bool]:
    """(dirty, leased) of the one pull request."""
    async def query() -> tuple[bool, bool]:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as conn:
                row = (await conn.execute(sa.text("select dirty, lease_until from pull_requests"))).one()
                return bool(row.dirty), row.lease_until is not None
        finally:
            await engine.dispose()

    return asyncio.run(query())


def _held(database_url: str) -> bool:
    """A refresh claimed the pull request (marking it clean) and never released it."""
    return _pull_state(database_url) == (False, True)


def _settled(database_url: str) -> bool:
    """The pull request is refreshed and nobody holds it: nothing is left to do."""
    return _pull_state(database_url) == (False, False)


def test_lease_setting_is_validated() -> None:
    from bot.settings import InvalidSetting, Settings

    assert Settings.from_env({"AGENTSPEND_LEASE_SECONDS": "3"}).lease == timedelta(seconds=3)
    assert Settings.from_env({}).lease == timedelta(minutes=2)
    for bad in ("soon", "0", "-5"):
        with pytest.raises(InvalidSetting, match="AGENTSPEND_LEASE_SECONDS"):
            Settings.from_env({"AGENTSPEND_LEASE_SECONDS": bad})


async def test_a_refresh_whose_worker_died_is_claimed_again_once_its_lease_runs_out(engine) -> None:  # noqa: ANN001
    from bot.db import pulls
    from bot.db.engine import session_scope

    async with session_scope(engine) as db:
        await pulls.upsert_pull(db, repo=REPO, number=2, installation_id=1, head_sha=HEAD, head_ref="changes",
                                base_ref="master", state="open", merged=False, merge_commit_sha=None,
                                opened_at=None, closed_at=None)
        await db.execute(sa.text("update pull_requests set refresh_after = null"))
    async with session_scope(engine) as db:
        [claimed] = await pulls.claim_dirty(db, lease=timedelta(milliseconds=300))
    async with session_scope(engine) as db:
        assert await pulls.claim_dirty(db) == []  # held: no second worker gets it
    await asyncio.sleep(0.4)  # the worker died: it never releases
    async with session_scope(engine) as db:
        assert await pulls.claim_dirty(db) == [claimed]
    async with session_scope(engine) as db:
        await pulls.release(db, claimed)
        assert await pulls.claim_dirty(db) == []  # released and clean: nothing to do


# --- GitHub failing, then recovering -----------------------------------------------------------


async def _make_due(loop) -> None:  # noqa: ANN001
    """Let the postponed refresh's time come now (instead of waiting it out in the test)."""
    from bot.db.engine import session_scope

    async with session_scope(loop.svc.engine) as db:
        await db.execute(sa.text("update pull_requests set refresh_after = null"))


async def _refresh_after_s(loop) -> float:  # noqa: ANN001
    from datetime import UTC, datetime

    from bot.db import pulls
    from bot.db.engine import session_scope

    async with session_scope(loop.svc.engine) as db:
        due = await pulls.next_refresh_at(db)
    return (due - datetime.now(UTC)).total_seconds()


async def test_github_500_and_502_then_recovering_is_retried_to_one_comment(database_url: str,
                                                                            fake_github: FakeGitHub) -> None:
    async with loop_on(database_url, fake_github) as loop:
        await loop.upload(_trailer_session(100))
        await loop.send("pull_request", _pull_request("opened"), "d-1")
        fake_github.fail("POST", "/repos/*/issues/2/comments", status=500, times=2)
        fake_github.fail("POST", "/repos/*/issues/2/comments", status=502, times=2)  # past the client's retries
        await loop.settle()
        assert loop.comments() == []
        assert 20 < await _refresh_after_s(loop) <= jobs.REFRESH_RETRY.total_seconds()  # postponed, not dropped

        await _make_due(loop)
        await loop.settle()  # GitHub is back
        assert len(loop.comments()) == 1 and len(loop.checks()) == 1
        statuses = [c.status for c in fake_github.calls_to("POST", "/repos/*/issues/2/comments")]
        assert statuses == [500, 500, 502, 502, 201]


async def test_a_secondary_rate_limit_postpones_the_refresh_and_nobody_sleeps_on_it(database_url: str,
                                                                                   fake_github: FakeGitHub) -> None:
    async with loop_on(database_url, fake_github) as loop:
        await loop.upload(_trailer_session(100))
        await loop.send("pull_request", _pull_request("opened"), "d-1")
        fake_github.rate_limit("POST", "/repos/*/check-runs", retry_after=120)
        started = time.monotonic()
        await loop.settle()
        assert time.monotonic() - started < 60  # the 120 s were not slept on
        assert 100 < await _refresh_after_s(loop) <= 121  # Retry-After honoured: not before it
        assert loop.checks() == []
        assert await loop.send("pull_request", _pull_request("labeled"), "d-2") == 202  # webhooks still answer at once

        await _make_due(loop)
        await loop.settle()
        assert len(loop.checks()) == 1 and len(loop.comments()) == 1


async def test_a_bad_delivery_in_a_batch_fails_alone(database_url: str, fake_github: FakeGitHub) -> None:
    """The batch is handled in one transaction; one bad payload rolls it back, and then each
    delivery is handled on its own: the good ones are done, the bad one is failed with its reason."""
    async with loop_on(database_url, fake_github) as loop:
        broken = _pull_request("synchronize")
        del broken["pull_request"]["head"]  # signed by GitHub, but not a pull request we can read
        assert await loop.send("pull_request", _pull_request("opened"), "good-1") == 202
        assert await loop.send("pull_request", broken, "bad") == 202
        assert await loop.send("pull_request", _pull_request("labeled"), "good-2") == 202
        assert await jobs.process_deliveries(loop.svc) == 3
        states = await _delivery_states(database_url)
        assert states == {"good-1": "done", "bad": "failed", "good-2": "done"}

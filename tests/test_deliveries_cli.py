"""`agentspend deliveries`: failed deliveries are listed and can be queued again (SQLite and Postgres)."""

from __future__ import annotations

import asyncio

import pytest

from bot.cli import main
from bot.db import deliveries
from bot.db.engine import make_engine, session_scope


async def _store_failed(url: str) -> None:
    engine = make_engine(url)
    try:
        async with session_scope(engine) as db:
            await deliveries.store(db, "dlv-ok", "ping", None, None, b"{}")
            await deliveries.store(db, "dlv-bad", "pull_request", "opened", 1, b"{}")
            [first, second] = await deliveries.claim_due(db)
            await deliveries.mark_done(db, first.id)
            state = await deliveries.mark_failed_attempt(db, second.id, deliveries.MAX_ATTEMPTS, "bad payload: no head")
        assert state == "failed"
    finally:
        await engine.dispose()


async def _state(url: str, delivery_id: str) -> tuple[str, int]:
    engine = make_engine(url)
    try:
        async with session_scope(engine) as db:
            [row] = [r for r in await deliveries.listing(db) if r.id == delivery_id]
        return row.state, row.attempts
    finally:
        await engine.dispose()


def test_failed_are_listed_and_retried(database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    asyncio.run(_store_failed(database_url))

    assert main(["deliveries", "--failed"]) == 0
    listed = capsys.readouterr().out
    assert "dlv-bad" in listed and "bad payload: no head" in listed and "dlv-ok" not in listed

    assert main(["deliveries", "--retry", "dlv-bad"]) == 0
    assert asyncio.run(_state(database_url, "dlv-bad")) == ("pending", 0)
    assert main(["deliveries", "--retry", "no-such-delivery"]) == 2

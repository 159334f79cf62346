"""Background work: drain stored deliveries, refresh dirty pull requests, housekeeping.

Each job is a plain async function taking Services and returning a count, so tests and the
demo call them directly and APScheduler only decides when. Draining and refreshing run on
every instance (row locks and leases keep them apart); periodic housekeeping runs only on the
instance holding the Postgres advisory lock.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.db import deliveries, pulls
from bot.db.engine import session_scope
from bot.db.models import Delivery
from bot.github import events
from bot.github.client import RetryLater
from bot.github.handlers import handle
from bot.refresh import refresh_pull_request
from bot.services import Services

log = logging.getLogger(__name__)
LEADER_LOCK = 0x4147_5350  # "AGSP": the advisory lock id for periodic jobs
REFRESH_RETRY = timedelta(seconds=30)
KEEP_DONE_DELIVERIES = timedelta(days=30)


async def process_deliveries(svc: Services, limit: int = 50) -> int:
    """Run the handler of every due delivery; returns how many were handled."""
    async with session_scope(svc.engine) as db:
        claimed = await deliveries.claim_due(db, limit, svc.settings.lease)
    for delivery in claimed:
        await _process(svc, delivery)
    return len(claimed)


async def _process(svc: Services, delivery: deliveries.Claimed) -> None:
    try:
        event = events.parse(delivery.event, delivery.payload)
        async with session_scope(svc.engine) as db:
            if event is not None:
                await handle(db, delivery.event, event, app_id=svc.github.app_id)
            await deliveries.mark_done(db, delivery.id)
    except events.EventError as exc:
        await _failed(svc, delivery, f"bad payload: {exc}", final=True)
    except Exception as exc:  # noqa: BLE001 - contained: counted, logged, retried with backoff
        log.exception("delivery %s (%s) failed", delivery.id, delivery.event)
        await _failed(svc, delivery, f"{type(exc).__name__}: {exc}")


async def _failed(svc: Services, delivery: deliveries.Claimed, error: str, final: bool = False) -> None:
    attempts = deliveries.MAX_ATTEMPTS if final else delivery.attempts
    async with session_scope(svc.engine) as db:
        state = await deliveries.mark_failed_attempt(db, delivery.id, attempts, error)
    log.warning("delivery %s: %s (now %s)", delivery.id, error, state)


async def refresh_dirty(svc: Services, limit: int = 20) -> int:
    """Refresh every due dirty pull request; returns how many were refreshed."""
    async with session_scope(svc.engine) as db:
        claimed = await pulls.claim_dirty(db, limit, svc.settings.lease)
    for pull_id in claimed:
        retry_after: timedelta | None = timedelta(0)  # cancelled half-way (shutdown): again, at once
        try:
            await refresh_pull_request(svc, pull_id)
            retry_after = None
        except RetryLater as exc:
            retry_after = timedelta(seconds=max(exc.retry_after, 1))
            log.warning("refresh of pull %s postponed %ss: GitHub rate limit", pull_id, int(exc.retry_after))
        except Exception:  # noqa: BLE001 - contained: the pull request is retried later
            retry_after = REFRESH_RETRY
            log.exception("refresh of pull %s failed; retrying in %s", pull_id, REFRESH_RETRY)
        finally:
            await asyncio.shield(_release(svc, pull_id, retry_after))
    return len(claimed)


async def _release(svc: Services, pull_id: int, retry_after: timedelta | None) -> None:
    async with session_scope(svc.engine) as db:
        await pulls.release(db, pull_id, retry_after)


async def drain(svc: Services, patience: timedelta = timedelta(seconds=5)) -> tuple[int, int]:
    """Handle deliveries and refresh pull requests until nothing is pending, waiting out debounces
    but not retries (the demo and tests use it; the service's worker loop does the same work)."""
    handled = refreshed = 0
    while True:
        step = await process_deliveries(svc), await refresh_dirty(svc)
        handled, refreshed = handled + step[0], refreshed + step[1]
        if step != (0, 0):
            continue
        async with session_scope(svc.engine) as db:
            due = await pulls.next_refresh_at(db)
        wait = (due - datetime.now(UTC)).total_seconds() if due else None
        if wait is None or wait > patience.total_seconds():
            return handled, refreshed
        await asyncio.sleep(max(wait, 0.05))


async def prune_deliveries(svc: Services) -> int:
    """Delete processed deliveries after a month; failed ones stay until someone looks."""
    cutoff = datetime.now(UTC) - KEEP_DONE_DELIVERIES
    table = Delivery.__table__
    async with session_scope(svc.engine) as db:
        result = await db.execute(sa.delete(table).where(table.c.state == "done", table.c.received_at < cutoff))
    return result.rowcount


async def tick(svc: Services) -> None:
    """One round of the worker: due deliveries first, then due pull requests."""
    await process_deliveries(svc)
    await refresh_dirty(svc)


def scheduler(svc: Services, tick_seconds: float = 1.0) -> AsyncIOScheduler:
    """The worker tick on every instance (a pull request's debounce is 2 s, so a trace that
    arrives after the webhook is on GitHub within seconds), housekeeping on the leader only."""
    sched = AsyncIOScheduler(timezone="UTC")
    sched.add_job(tick, "interval", seconds=tick_seconds, args=(svc,), max_instances=1, coalesce=True,
                  misfire_grace_time=None)
    sched.add_job(_as_leader, "interval", hours=6, args=(svc, prune_deliveries), max_instances=1, coalesce=True)
    return sched


async def _as_leader(svc: Services, job) -> None:  # noqa: ANN001 - any job of this module
    if svc.engine.dialect.name != "postgresql":
        await job(svc)
        return
    async with svc.engine.connect() as conn:
        got = (await conn.execute(sa.select(sa.func.pg_try_advisory_lock(LEADER_LOCK)))).scalar_one()
        if not got:
            return
        try:
            await job(svc)
        finally:
            await conn.execute(sa.select(sa.func.pg_advisory_unlock(LEADER_LOCK)))

"""Stored webhook deliveries: insert once by delivery id, claim due ones, record the outcome.

Processing is at least once: a delivery is marked done only after its handler's effects are
committed, and a failure is retried with backoff until the last attempt marks it failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Delivery
from bot.db.queries import insert_for

MAX_ATTEMPTS = 5
LEASE = timedelta(minutes=2)
"""A claimed delivery is invisible to other workers this long; a crashed worker's claim expires."""
_TABLE = Delivery.__table__


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    event: str
    action: str | None
    payload: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class Received:
    """A verified webhook delivery, before it is stored."""

    id: str
    event: str
    action: str | None
    installation_id: int | None
    payload: bytes


async def store(db: AsyncSession, delivery_id: str, event: str, action: str | None, installation_id: int | None, payload: bytes) -> bool:
    """Insert the delivery; False when this id was stored before (a redelivery has no second effect)."""
    return bool(await store_many(db, [Received(delivery_id, event, action, installation_id, payload)]))


async def store_many(db: AsyncSession, received: list[Received]) -> set[str]:
    """Insert deliveries in one statement; returns the ids that are new (a redelivery, or a
    second copy in the same batch, has no second effect)."""
    now = _now()
    rows = [
        {"id": r.id, "event": r.event, "action": r.action, "installation_id": r.installation_id, "payload": r.payload,
         "state": "pending", "attempts": 0, "next_attempt_at": now, "received_at": now}
        for r in {r.id: r for r in reversed(received)}.values()  # the first copy of an id
    ]
    # Parameters apart from the statement (executemany with RETURNING): its compiled form is
    # cached, where a multi-row VALUES of a new length is compiled afresh every time.
    stmt = insert_for(db, _TABLE).on_conflict_do_nothing(index_elements=["id"]).returning(_TABLE.c.id)
    return set((await db.execute(stmt, rows)).scalars())


async def claim_due(db: AsyncSession, limit: int = 50, lease: timedelta = LEASE) -> list[Claimed]:
    """Pending deliveries whose time has come, oldest first, leased to this worker.

    On Postgres `SKIP LOCKED` lets several instances drain the table without blocking each
    other; on both databases the conditional lease update decides who gets each delivery.
    """
    now = _now()
    query = (
        sa.select(_TABLE.c.id)
        .where(_TABLE.c.state == "pending", _TABLE.c.next_attempt_at <= now)
        .order_by(_TABLE.c.received_at, _TABLE.c.id)
        .limit(limit)
    )
    if db.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    candidates = list((await db.execute(query)).scalars())
    if not candidates:
        return []
    # Conditional: a worker that read the same candidates a moment earlier keeps the ones it got.
    claim = (
        sa.update(_TABLE)
        .where(_TABLE.c.id.in_(candidates), _TABLE.c.state == "pending", _TABLE.c.next_attempt_at <= now)
        .values(attempts=_TABLE.c.attempts + 1, next_attempt_at=now + lease)
        .returning(_TABLE.c.id, _TABLE.c.event, _TABLE.c.action, _TABLE.c.payload, _TABLE.c.attempts, _TABLE.c.received_at)
    )
    rows = sorted((await db.execute(claim)).all(), key=lambda r: (r.received_at, r.id))
    return [Claimed(r.id, r.event, r.action, r.payload, r.attempts) for r in rows]


async def mark_done(db: AsyncSession, *delivery_ids: str) -> None:
    await db.execute(
        sa.update(_TABLE).where(_TABLE.c.id.in_(delivery_ids)).values(state="done", processed_at=_now(), last_error=None)
    )


async def mark_failed_attempt(db: AsyncSession, delivery_id: str, attempts: int, error: str) -> str:
    """Schedule a retry with exponential backoff, or give up after MAX_ATTEMPTS; returns the new state."""
    state = "failed" if attempts >= MAX_ATTEMPTS else "pending"
    await db.execute(
        sa.update(_TABLE)
        .where(_TABLE.c.id == delivery_id)
        .values(state=state, last_error=error[:2000], next_attempt_at=_now() + backoff(attempts))
    )
    return state


def backoff(attempts: int) -> timedelta:
    """5 s, 20 s, 80 s, … capped at an hour."""
    return timedelta(seconds=min(3600, 5 * 4 ** max(0, attempts - 1)))


async def retry(db: AsyncSession, delivery_id: str) -> bool:
    """Put a delivery back in the queue now, with its attempts reset; False if the id is unknown."""
    result = await db.execute(
        sa.update(_TABLE).where(_TABLE.c.id == delivery_id).values(state="pending", attempts=0, next_attempt_at=_now())
    )
    return result.rowcount == 1


@dataclass(frozen=True, slots=True)
class Listed:
    id: str
    event: str
    action: str | None
    state: str
    attempts: int
    received_at: datetime
    last_error: str | None


async def listing(db: AsyncSession, failed_only: bool = False, limit: int = 200) -> list[Listed]:
    query = sa.select(_TABLE).order_by(_TABLE.c.received_at.desc()).limit(limit)
    if failed_only:
        query = query.where(_TABLE.c.state == "failed")
    rows = (await db.execute(query)).all()
    return [Listed(r.id, r.event, r.action, r.state, r.attempts, r.received_at, r.last_error) for r in rows]


def _now() -> datetime:
    return datetime.now(UTC)

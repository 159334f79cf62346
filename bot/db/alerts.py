"""Alert tiers claimed once per window: the unique key (owner, scope, subject, period, window start, tier) is the "once".

Claiming is an insert that does nothing when the row exists, so two instances, or two ticks,
can never both warn about the same tier of the same window.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.alerts import Status
from bot.db.models import AlertRow
from bot.db.queries import insert_for

MAX_ATTEMPTS = 5
_TABLE = AlertRow.__table__


async def claim(db: AsyncSession, owner: str, status: Status, state: str = "pending") -> int:
    """Record every crossed tier not recorded yet in this window; returns how many were new."""
    b, now = status.budget, datetime.now(UTC)
    rows = [
        {"owner": owner.lower(), "scope": b.scope, "subject": b.subject, "period": b.period,
         "window_start": status.window_start, "tier": tier, "budget_usd": b.usd, "spent_usd": status.spent_usd,
         "state": state, "attempts": 0, "created_at": now}
        for tier in status.crossed
    ]
    new = 0
    for row in rows:
        stmt = insert_for(db, _TABLE).values(**row).on_conflict_do_nothing(
            index_elements=["owner", "scope", "subject", "period", "window_start", "tier"])
        new += (await db.execute(stmt)).rowcount
    return new


async def due(db: AsyncSession, owner: str) -> list[Any]:
    """Claimed tiers still to send (new, or failed fewer than MAX_ATTEMPTS times), oldest first."""
    query = sa.select(_TABLE).where(
        _TABLE.c.owner == owner.lower(), _TABLE.c.state.in_(["pending", "failed"]), _TABLE.c.attempts < MAX_ATTEMPTS,
    ).order_by(_TABLE.c.id)
    return list((await db.execute(query)).all())


async def mark(db: AsyncSession, ids: Iterable[int], state: str, error: str | None = None) -> None:
    values: dict[str, Any] = {"state": state, "error": error, "attempts": _TABLE.c.attempts + 1}
    if state == "sent":
        values["sent_at"] = datetime.now(UTC)
    await db.execute(sa.update(_TABLE).where(_TABLE.c.id.in_(list(ids))).values(**values))


async def recent(db: AsyncSession, owner: str, since: datetime, limit: int = 50) -> list[Any]:
    query = (sa.select(_TABLE).where(_TABLE.c.owner == owner.lower(), _TABLE.c.created_at >= since)
             .order_by(_TABLE.c.created_at.desc(), _TABLE.c.id.desc()).limit(limit))
    return list((await db.execute(query)).all())

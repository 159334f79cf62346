"""What a signed-in person's own token could see, as GitHub last answered, kept a few minutes.

A short cache: losing access on GitHub takes effect here within `TTL`, and a page view does not
cost one API call per repository.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import AccessCheck
from bot.db.queries import insert_for

TTL = timedelta(minutes=5)
LISTED = "*"
"""The row that says "the person's list of repositories was fetched at checked_at"."""
_TABLE = AccessCheck.__table__


async def fresh(db: AsyncSession, login: str) -> dict[str, bool]:
    """repo → allowed, for the answers younger than TTL (the `*` row included)."""
    since = datetime.now(UTC) - TTL
    rows = (await db.execute(
        sa.select(_TABLE.c.repo, _TABLE.c.allowed).where(_TABLE.c.login == login.lower(), _TABLE.c.checked_at >= since)
    )).all()
    return {r.repo: r.allowed for r in rows}


async def remember(db: AsyncSession, login: str, answers: Iterable[tuple[str, bool]]) -> None:
    now = datetime.now(UTC)
    rows = [{"login": login.lower(), "repo": repo.lower(), "allowed": allowed, "checked_at": now} for repo, allowed in answers]
    if rows:
        stmt = insert_for(db, _TABLE)
        update = {"allowed": stmt.excluded.allowed, "checked_at": stmt.excluded.checked_at}
        await db.execute(stmt.on_conflict_do_update(index_elements=["login", "repo"], set_=update), rows)


async def forget(db: AsyncSession, login: str) -> None:
    """On sign-out: the next sign-in asks GitHub again."""
    await db.execute(sa.delete(_TABLE).where(_TABLE.c.login == login.lower()))

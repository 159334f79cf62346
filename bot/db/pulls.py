"""Pull requests we track: facts from events, the dirty flag that schedules a refresh, and leases.

Every webhook and every arriving trace becomes "this pull request is dirty"; a debounced job
refreshes it. A lease on the row keeps two workers (or two instances) from publishing the same
pull request at once, which is what guarantees a single sticky comment.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Approval, Link, PullRequestRow

DEBOUNCE = timedelta(seconds=2)
"""A burst of events for one pull request within this window becomes one refresh."""
LEASE = timedelta(minutes=2)
"""A claimed refresh is reserved this long; a lease that runs out unreleased means the worker
died mid-refresh, and the pull request is refreshed again."""
_PRS = PullRequestRow.__table__
_LINKS = Link.__table__
_APPROVALS = Approval.__table__


def _now() -> datetime:
    return datetime.now(UTC)


async def upsert_pull(db: AsyncSession, *, repo: str, number: int, installation_id: int, head_sha: str,
                      head_ref: str, base_ref: str, **facts: Any) -> int:
    """Record the pull request's current facts and mark it dirty; returns its id.

    A new head SHA remembers the previous head and the total shown then, so the comment can
    say what changed since the last push.
    """
    repo = repo.lower()
    row = (await db.execute(sa.select(_PRS).where(_PRS.c.repo == repo, _PRS.c.number == number))).first()
    values = {"installation_id": installation_id, "head_sha": head_sha, "head_ref": head_ref, "base_ref": base_ref, **facts}
    if row is None:
        result = await db.execute(sa.insert(_PRS).values(repo=repo, number=number, dirty=True,
                                                         dirty_since=_now(), refresh_after=_now() + DEBOUNCE, **values))
        return int(result.inserted_primary_key[0])
    if row.head_sha != head_sha:
        values |= {"previous_head_sha": row.head_sha, "previous_cost_usd": row.published_cost_usd}
    await db.execute(sa.update(_PRS).where(_PRS.c.id == row.id).values(**values))
    await mark_dirty(db, _PRS.c.id == row.id)
    return int(row.id)


async def mark_dirty(db: AsyncSession, condition: Any) -> int:
    """Schedule a refresh of the matching pull requests; an already pending one keeps its time."""
    now = _now()
    result = await db.execute(
        sa.update(_PRS)
        .where(condition)
        .values(
            dirty=True,
            dirty_since=sa.case((_PRS.c.dirty, _PRS.c.dirty_since), else_=now),
            refresh_after=sa.case((_PRS.c.dirty, sa.func.coalesce(_PRS.c.refresh_after, now)), else_=now + DEBOUNCE),
        )
    )
    return result.rowcount


def open_in_repo(repo: str) -> Any:
    return sa.and_(_PRS.c.repo == repo.lower(), _PRS.c.state == "open")


def on_branch(repo: str, branch: str) -> Any:
    return sa.and_(open_in_repo(repo), _PRS.c.head_ref == branch)


def at_head(repo: str, head_sha: str) -> Any:
    return sa.and_(_PRS.c.repo == repo.lower(), _PRS.c.head_sha == head_sha)


def by_number(repo: str, number: int) -> Any:
    return sa.and_(_PRS.c.repo == repo.lower(), _PRS.c.number == number)


async def claim_dirty(db: AsyncSession, limit: int = 20, lease: timedelta = LEASE) -> list[int]:
    """Due dirty pull requests, leased to this worker and marked clean before the refresh starts.

    Marking clean first means an event arriving during the refresh makes it dirty again, so
    nothing that happens mid-refresh is lost. A lease that ran out without being released is
    a refresh that died (the process was killed): it is claimed again, dirty or not.
    """
    now = _now()
    claimable = sa.or_(_due_and_free(now), _abandoned(now))
    query = sa.select(_PRS.c.id).where(claimable).order_by(_PRS.c.dirty_since).limit(limit)
    if db.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = [int(i) for i in (await db.execute(query)).scalars()]
    claimed = []
    for pull_id in ids:
        result = await db.execute(
            sa.update(_PRS).where(_PRS.c.id == pull_id, claimable).values(dirty=False, lease_until=now + lease)
        )
        if result.rowcount == 1:
            claimed.append(pull_id)
    return claimed


def _due_and_free(now: datetime) -> Any:
    return sa.and_(
        _PRS.c.dirty,
        sa.or_(_PRS.c.refresh_after.is_(None), _PRS.c.refresh_after <= now),
        sa.or_(_PRS.c.lease_until.is_(None), _PRS.c.lease_until <= now),
    )


def _abandoned(now: datetime) -> Any:
    return sa.and_(_PRS.c.lease_until.is_not(None), _PRS.c.lease_until <= now)


async def next_refresh_at(db: AsyncSession) -> datetime | None:
    """When the earliest pending refresh becomes due (None: nothing is dirty)."""
    due = sa.func.min(sa.func.coalesce(_PRS.c.refresh_after, _PRS.c.dirty_since))
    value = (await db.execute(sa.select(due).where(_PRS.c.dirty))).scalar_one_or_none()
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


async def release(db: AsyncSession, pull_id: int, retry_after: timedelta | None = None) -> None:
    """End the lease; with `retry_after`, the refresh failed and is scheduled again."""
    values: dict[str, Any] = {"lease_until": None}
    if retry_after is not None:
        values |= {"dirty": True, "refresh_after": _now() + retry_after}
    await db.execute(sa.update(_PRS).where(_PRS.c.id == pull_id).values(**values))


async def get(db: AsyncSession, pull_id: int) -> Any:
    return (await db.execute(sa.select(_PRS).where(_PRS.c.id == pull_id))).one()


async def find(db: AsyncSession, repo: str, number: int) -> Any | None:
    return (await db.execute(sa.select(_PRS).where(by_number(repo, number)))).first()


async def ids_where(db: AsyncSession, condition: Any) -> list[int]:
    return [int(i) for i in (await db.execute(sa.select(_PRS.c.id).where(condition))).scalars()]


async def open_pulls(db: AsyncSession, repo: str, exclude: int) -> list[Any]:
    return list((await db.execute(sa.select(_PRS).where(open_in_repo(repo), _PRS.c.id != exclude))).all())


async def record_publication(db: AsyncSession, pull_id: int, **values: Any) -> None:
    await db.execute(sa.update(_PRS).where(_PRS.c.id == pull_id).values(**values))


async def replace_links(db: AsyncSession, pull_id: int, links: Iterable[tuple[str, str, str]]) -> None:
    """Store the sessions counted on the pull request with their evidence (key, evidence, detail)."""
    await db.execute(sa.delete(_LINKS).where(_LINKS.c.pull_id == pull_id))
    rows = [{"pull_id": pull_id, "session_key": k, "evidence": e, "detail": d} for k, e, d in links]
    if rows:
        await db.execute(sa.insert(_LINKS), rows)


async def links_of(db: AsyncSession, pull_id: int) -> list[Any]:
    return list((await db.execute(sa.select(_LINKS).where(_LINKS.c.pull_id == pull_id))).all())


async def request_approval(db: AsyncSession, pull_id: int, by: str, reason: str) -> None:
    await db.execute(sa.insert(_APPROVALS).values(pull_id=pull_id, by=by, reason=reason[:500], status="requested", at=_now()))


async def approvals_of(db: AsyncSession, pull_id: int) -> list[Any]:
    return list((await db.execute(sa.select(_APPROVALS).where(_APPROVALS.c.pull_id == pull_id).order_by(_APPROVALS.c.id))).all())


async def decide_approval(db: AsyncSession, approval_id: int, granted: bool, amount_usd: float | None) -> None:
    await db.execute(
        sa.update(_APPROVALS)
        .where(_APPROVALS.c.id == approval_id)
        .values(status="granted" if granted else "refused", amount_usd=amount_usd)
    )

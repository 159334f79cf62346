"""Revert signals and pull request commits as they arrive, and the outcomes decided from them.

Signals are facts kept forever (inserting one twice is a no-op); outcomes are derived and
recomputed for a repository whenever one of its facts changes, so a late webhook or a revert
of a revert rewrites them without any special case.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outcomes
from bot.db.models import Outcome, PullCommit, PullRequestRow, Revert
from bot.db.queries import insert_for

_PRS = PullRequestRow.__table__
_COMMITS = PullCommit.__table__
_REVERTS = Revert.__table__
_OUTCOMES = Outcome.__table__


async def record_revert(db: AsyncSession, repo: str, source: str, target: str) -> None:
    stmt = insert_for(db, _REVERTS).values(repo=repo.lower(), source=source, target=target, seen_at=datetime.now(UTC))
    await db.execute(stmt.on_conflict_do_nothing(index_elements=["repo", "source", "target"]))


async def record_commits(db: AsyncSession, pull_id: int, shas: Iterable[str]) -> None:
    rows = [{"pull_id": pull_id, "sha": sha.lower()} for sha in dict.fromkeys(shas)]
    if rows:
        stmt = insert_for(db, _COMMITS)
        await db.execute(stmt.on_conflict_do_nothing(index_elements=["pull_id", "sha"]), rows)


async def recompute(db: AsyncSession, repo: str) -> int:
    """Decide again every outcome the repository's signals can touch; returns how many changed."""
    repos = {repo.lower()}
    signals = await _signals(db, repos)
    repos |= {s.target[7:].rpartition("#")[0] for s in signals if s.target.startswith("number:")}
    signals = await _signals(db, repos)
    pulls = await _pull_states(db, repos)
    decided = outcomes.decide(pulls, signals)
    stored = {r.pull_id: r for r in (await db.execute(
        sa.select(_OUTCOMES).where(_OUTCOMES.c.pull_id.in_([p.id for p in pulls])))).all()}
    changed = 0
    for d in decided:
        before = stored.get(d.pull_id)
        if before is not None and (before.outcome, before.reverted_by, before.reverts) == (d.outcome, d.reverted_by, d.reverts):
            continue
        values = {"outcome": d.outcome, "reverted_by": d.reverted_by, "reverts": d.reverts, "decided_at": datetime.now(UTC)}
        stmt = insert_for(db, _OUTCOMES).values(pull_id=d.pull_id, **values)
        await db.execute(stmt.on_conflict_do_update(index_elements=["pull_id"], set_=values))
        changed += 1
    return changed


async def _signals(db: AsyncSession, repos: set[str]) -> list[outcomes.Signal]:
    rows = (await db.execute(sa.select(_REVERTS).where(_REVERTS.c.repo.in_(sorted(repos))))).all()
    return [outcomes.Signal(r.repo, r.source, r.target) for r in rows]


async def _pull_states(db: AsyncSession, repos: set[str]) -> list[outcomes.PullState]:
    rows = (await db.execute(sa.select(_PRS).where(_PRS.c.repo.in_(sorted(repos))))).all()
    commits: dict[int, list[str]] = {r.id: [] for r in rows}
    if commits:
        query = sa.select(_COMMITS).where(_COMMITS.c.pull_id.in_(list(commits)))
        for c in (await db.execute(query)).all():
            commits[c.pull_id].append(c.sha)
    return [
        outcomes.PullState(r.id, r.repo, r.number, r.state, r.merged, r.merge_commit_sha, tuple(commits[r.id]))
        for r in rows
    ]


async def outcome_of(db: AsyncSession, pull_id: int) -> object | None:
    return (await db.execute(sa.select(_OUTCOMES).where(_OUTCOMES.c.pull_id == pull_id))).first()


async def recompute_all(db: AsyncSession) -> int:
    """Every repository's outcomes decided again (the daily reconcile)."""
    repos = (await db.execute(sa.select(_PRS.c.repo).distinct())).scalars().all()
    return sum([await recompute(db, repo) for repo in repos])

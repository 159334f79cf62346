"""Named queries behind the dashboard, the metrics API, alerts and digests: rows in, plain values out.

Whom a session's spend is charged to is decided here once: its repository is its own or that
of the pull request it is linked to, its user is the one its log names or else the author of
that pull request. A subagent inherits both from its parent.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Installation,
    InstallationRepo,
    Link,
    OrgConfig,
    Outcome,
    PullRequestRow,
    SessionRow,
    TeamMember,
)
from bot.db.queries import insert_for, load_sessions
from bot.metrics import Attributed, PullInfo, Window

_PRS = PullRequestRow.__table__
_OUTCOMES = Outcome.__table__
_LINKS = Link.__table__
_SESSIONS = SessionRow.__table__
_REPOS = InstallationRepo.__table__
_INSTALLATIONS = Installation.__table__
_ORG_CONFIGS = OrgConfig.__table__
_TEAMS = TeamMember.__table__


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


async def installed_repos(db: AsyncSession) -> dict[str, set[str]]:
    """Account login → its repositories that an active installation covers (lower-cased)."""
    query = (
        sa.select(_REPOS.c.repo, _INSTALLATIONS.c.account_login)
        .select_from(_REPOS.join(_INSTALLATIONS, _INSTALLATIONS.c.id == _REPOS.c.installation_id))
        .where(sa.not_(_INSTALLATIONS.c.deleted), sa.not_(_INSTALLATIONS.c.suspended))
    )
    owners: dict[str, set[str]] = defaultdict(set)
    for r in (await db.execute(query)).all():
        owners[r.repo.split("/", 1)[0]].add(r.repo)
    return dict(owners)


async def installations(db: AsyncSession) -> list[tuple[int, str]]:
    """(installation id, account login) of the active installations."""
    query = sa.select(_INSTALLATIONS.c.id, _INSTALLATIONS.c.account_login).where(
        sa.not_(_INSTALLATIONS.c.deleted), sa.not_(_INSTALLATIONS.c.suspended)).order_by(_INSTALLATIONS.c.id)
    return [(int(r.id), r.account_login) for r in (await db.execute(query)).all()]


async def pulls(db: AsyncSession, repos: set[str], number: int | None = None) -> list[PullInfo]:
    """Pull requests of `repos` with their outcome and the total and breakdowns of their last report."""
    if not repos:
        return []
    query = (
        sa.select(_PRS, _OUTCOMES.c.outcome, _OUTCOMES.c.reverted_by, _OUTCOMES.c.reverts)
        .select_from(_PRS.outerjoin(_OUTCOMES, _OUTCOMES.c.pull_id == _PRS.c.id))
        .where(_PRS.c.repo.in_(sorted(repos)))
        .order_by(_PRS.c.repo, _PRS.c.number)
    )
    if number is not None:
        query = query.where(_PRS.c.number == number)
    return [_pull_info(r) for r in (await db.execute(query)).all()]


def _pull_info(r: Any) -> PullInfo:
    report = json.loads(r.report_json) if r.report_json else {}
    return PullInfo(
        id=r.id, repo=r.repo, number=r.number, author=r.author, head_ref=r.head_ref, state=r.state,
        outcome=r.outcome or ("open" if r.state == "open" else "abandoned"),
        closed_at=_aware(r.closed_at), cost_usd=float(report.get("total_cost_usd") or 0.0),
        by_runtime={row["name"]: row["cost_usd"] for row in report.get("by_runtime", [])},
        by_model={row["name"]: row["cost_usd"] for row in report.get("by_model", [])},
        findings=tuple(report.get("findings") or ()), reverted_by=r.reverted_by, reverts=r.reverts,
    )


async def report_of(db: AsyncSession, pull_id: int) -> dict[str, Any] | None:
    text = (await db.execute(sa.select(_PRS.c.report_json).where(_PRS.c.id == pull_id))).scalar_one_or_none()
    return json.loads(text) if text else None


async def attributed_sessions(db: AsyncSession, repos: set[str], window: Window | None = None,
                              pull_ids: set[int] | None = None) -> list[Attributed]:
    """Sessions of `repos` (their own repository, or the pull request they are linked to) active in `window`,
    or — with `pull_ids` — the sessions counted on those pull requests."""
    if not repos:
        return []
    s = _SESSIONS.c
    linked = (await db.execute(
        sa.select(_LINKS.c.session_key, _LINKS.c.pull_id, _PRS.c.repo, _PRS.c.author)
        .select_from(_LINKS.join(_PRS, _PRS.c.id == _LINKS.c.pull_id))
        .where(_PRS.c.repo.in_(sorted(repos)))
        .order_by(_LINKS.c.pull_id)
    )).all()
    link_of: dict[str, Any] = {}
    for row in linked:
        if pull_ids is None or row.pull_id in pull_ids:
            link_of.setdefault(row.session_key, row)
    if pull_ids is not None:
        condition = s.key.in_(sorted(link_of) or [""])
    else:
        condition = sa.or_(s.repo.in_(sorted(repos)), s.key.in_(sorted(link_of) or [""]))
        if window is not None:
            condition = sa.and_(condition, sa.or_(s.ended_at.is_(None), s.ended_at >= window.start),
                                sa.or_(s.started_at.is_(None), s.started_at < window.end))
    sessions = await load_sessions(db, condition)
    by_key = {session.key: session for session in sessions}

    def context(key: str, depth: int = 0) -> tuple[str | None, str | None, int | None]:
        session, link = by_key[key], link_of.get(key)
        repo = session.repo.lower() if session.repo else (link.repo if link else None)
        user = session.user or (link.author if link else None)
        pull_id = link.pull_id if link else None
        if session.parent_key in by_key and depth < 20 and None in (repo, user, pull_id):
            parent = context(session.parent_key, depth + 1)
            repo, user, pull_id = repo or parent[0], user or parent[1], pull_id or parent[2]
        return repo, user, pull_id

    attributed = [Attributed(session, *context(session.key)) for session in sessions]
    return [a for a in attributed if a.repo in repos or a.pull_id is not None]


async def teams(db: AsyncSession, owner: str) -> dict[str, set[str]]:
    """login (lower-cased) → the teams of the organisation config they belong to."""
    rows = (await db.execute(sa.select(_TEAMS).where(_TEAMS.c.owner == owner.lower()))).all()
    found: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        found[r.login.lower()].add(r.team)
    return dict(found)


async def replace_teams(db: AsyncSession, owner: str, members: dict[str, set[str]]) -> None:
    """Store team name → member logins as the organisation config (and GitHub) say now."""
    await db.execute(sa.delete(_TEAMS).where(_TEAMS.c.owner == owner.lower()))
    rows = [{"owner": owner.lower(), "team": team, "login": login.lower()}
            for team, logins in members.items() for login in sorted(logins)]
    if rows:
        stmt = insert_for(db, _TEAMS)
        await db.execute(stmt.on_conflict_do_nothing(index_elements=["owner", "team", "login"]), rows)


async def org_config_text(db: AsyncSession, owner: str) -> tuple[str | None, datetime | None]:
    """The stored organisation config and when it was fetched ((None, None): never fetched)."""
    row = (await db.execute(sa.select(_ORG_CONFIGS).where(_ORG_CONFIGS.c.owner == owner.lower()))).first()
    return (row.text, _aware(row.fetched_at)) if row else (None, None)


async def store_org_config(db: AsyncSession, owner: str, text: str | None) -> None:
    values = {"text": text, "fetched_at": datetime.now(UTC)}
    stmt = insert_for(db, _ORG_CONFIGS).values(owner=owner.lower(), **values)
    await db.execute(stmt.on_conflict_do_update(index_elements=["owner"], set_=values))


async def expire_org_config(db: AsyncSession, owner: str) -> None:
    """A push to the organisation's `.github` repository: fetch its config again at the next sync."""
    await db.execute(sa.update(_ORG_CONFIGS).where(_ORG_CONFIGS.c.owner == owner.lower())
                     .values(fetched_at=datetime(1970, 1, 1, tzinfo=UTC)))

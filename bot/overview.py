"""The engineering lead's figures for a set of repositories: metrics, alert status, weekly review.

One place loads the rows and runs the pure steps (`metrics`, `alerts`, `review`), so the pages,
the JSON API, the alert job and the weekly digest all print the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from bot import alerts, metrics
from bot.alerts import Status
from bot.db import dashboard
from bot.db.engine import session_scope
from bot.github import org_config
from bot.github.repo_config import ConfigError
from bot.review import Review, review
from bot.services import Services


@dataclass(frozen=True, slots=True)
class Figures:
    metrics: metrics.Metrics
    sessions: list[metrics.Attributed]
    pulls: dict[int, metrics.PullInfo]


async def figures(svc: Services, owner: str, repos: set[str], window: metrics.Window) -> Figures:
    async with session_scope(svc.engine) as db:
        sessions = await dashboard.attributed_sessions(db, repos, window)
        pulls = await dashboard.pulls(db, repos)
        teams = await dashboard.teams(db, owner)
    computed = metrics.compute(window, sessions, pulls, teams, sorted(repos), svc.prices.source)
    return Figures(computed, sessions, {p.id: p for p in pulls})


async def config_of(svc: Services, owner: str) -> org_config.OrgConfig | ConfigError:
    async with session_scope(svc.engine) as db:
        text, _ = await dashboard.org_config_text(db, owner)
    return org_config.parse(text)


async def alert_statuses(svc: Services, owner: str, repos: set[str], config: org_config.OrgConfig,
                         at: datetime | None = None) -> list[Status]:
    """Every budget of the organisation config against its spend in the current window."""
    at = at or datetime.now(UTC)
    found: list[Status] = []
    periods = {b.period for b in alerts.budgets(config, owner, ["*"], repos)}
    for period in sorted(periods):
        start, _ = alerts.window_of(period, at)
        computed = (await figures(svc, owner, repos, metrics.Window(period, start, at))).metrics
        spent = spend_by_subject(computed, owner)
        users = [row.name for row in computed.by_user if row.name != metrics.UNKNOWN_USER]
        for budget in alerts.budgets(config, owner, users, repos):
            if budget.period == period:
                found.append(alerts.status(budget, spent, config.alerts.tiers, at))
    return found


def spend_by_subject(computed: metrics.Metrics, owner: str) -> dict[tuple[str, str], float]:
    spent = {("org", owner.lower()): computed.spend.total.cost_usd}
    spent |= {("user", r.name.lower()): r.cost_usd for r in computed.by_user}
    spent |= {("team", r.name): r.cost_usd for r in computed.by_team}
    spent |= {("repo", r.name): r.cost_usd for r in computed.by_repo}
    return spent


async def weekly(svc: Services, owner: str, repos: set[str], window: metrics.Window) -> tuple[Figures, Review]:
    found = await figures(svc, owner, repos, window)
    config = await config_of(svc, owner)
    settings = config.review if isinstance(config, org_config.OrgConfig) else org_config.Review()
    return found, review(found.metrics, found.sessions, found.pulls, settings)

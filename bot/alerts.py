"""Time-window budgets: how much of each hourly, daily, weekly or monthly budget is spent, and which warnings are due.

Windows are calendar windows in UTC (the hour, the day, the ISO week from Monday, the month),
so "once per window" has one meaning on every instance. Each tier of a budget (50 %, 80 %,
100 % by default) is warned about at most once per window; when spend jumps past several tiers
at once, one message names the highest. AgentSpend is not a proxy: this only warns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.github.org_config import EVERYONE, OrgConfig
from bot.report.render import usd

SCOPES = ("user", "team", "repo", "org")


@dataclass(frozen=True, slots=True)
class Budget:
    scope: str
    """user | team | repo | org."""
    subject: str
    """The login, team name, `owner/name` or organisation."""
    period: str
    usd: float


@dataclass(frozen=True, slots=True)
class Status:
    budget: Budget
    window_start: datetime
    window_end: datetime
    spent_usd: float
    crossed: tuple[float, ...]
    """The tiers the spend has reached, lowest first."""

    @property
    def fraction(self) -> float | None:
        return self.spent_usd / self.budget.usd if self.budget.usd > 0 else None

    @property
    def level(self) -> str:
        """ok | warn (a tier below 100 % reached) | over (100 % or more)."""
        if not self.crossed:
            return "ok"
        return "over" if max(self.crossed) >= 1 else "warn"


def window_of(period: str, at: datetime) -> tuple[datetime, datetime]:
    """The calendar window of `period` holding `at` (UTC): [start, end)."""
    hour = at.replace(minute=0, second=0, microsecond=0)
    if period == "hourly":
        return hour, hour + timedelta(hours=1)
    day = hour.replace(hour=0)
    if period == "daily":
        return day, day + timedelta(days=1)
    if period == "weekly":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    if period == "monthly":
        first = day.replace(day=1)
        return first, (first + timedelta(days=32)).replace(day=1)
    raise ValueError(f"unknown period {period!r}")


def budgets(config: OrgConfig, owner: str, users: Iterable[str], repos: Iterable[str]) -> list[Budget]:
    """Every budget the config sets; `*` gives each of `users` (the people seen spending) without their own line."""
    alerts, found = config.alerts, []
    named = {name.lower() for name in alerts.users if name != EVERYONE}
    for name, limits in alerts.users.items():
        subjects = sorted({u.lower() for u in users} - named) if name == EVERYONE else [name.lower()]
        found += [Budget("user", subject, period, amount) for subject in subjects for period, amount in limits.items()]
    for name, limits in alerts.teams.items():
        found += [Budget("team", name, period, amount) for period, amount in limits.items()]
    known = {r.lower() for r in repos}
    for name, limits in alerts.repos.items():
        full = name.lower() if "/" in name else f"{owner.lower()}/{name.lower()}"
        if full in known:
            found += [Budget("repo", full, period, amount) for period, amount in limits.items()]
    if alerts.org is not None:
        found += [Budget("org", owner.lower(), period, amount) for period, amount in alerts.org.items()]
    return found


def status(budget: Budget, spent: Mapping[tuple[str, str], float], tiers: Iterable[float], at: datetime) -> Status:
    start, end = window_of(budget.period, at)
    amount = spent.get((budget.scope, budget.subject), 0.0)
    # Whole cents, as the figures are shown: a warning never fires on a fraction of a cent.
    crossed = tuple(sorted(t for t in set(tiers) if budget.usd > 0 and round(amount, 2) >= round(t * budget.usd, 2)))
    return Status(budget, start, end, amount, crossed)


def message(s: Status, tier: float) -> str:
    """Slack's `text`: who, how much of which window, and that nothing was blocked."""
    b = s.budget
    who = {"user": f"@{b.subject}", "team": f"team {b.subject}", "repo": b.subject, "org": f"organisation {b.subject}"}[b.scope]
    share = f"{s.fraction * 100:.0f}%" if s.fraction is not None else "—"
    return (f"AgentSpend: {who} has spent {usd(s.spent_usd)} of its {usd(b.usd)} {b.period} budget ({share}, "
            f"{tier * 100:.0f}% warning) for the window from {s.window_start:%Y-%m-%d %H:%M} UTC. "
            "This is a warning only; no agent call is blocked.")

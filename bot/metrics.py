"""The figures an engineering lead reads: spend in a window, and what it bought.

Spend counts every model call made in the window (by its own timestamp), broken down by model,
repository, agent runtime, tool, user and team with the same arithmetic as the PR comment
(`report.build`). Value counts pull requests closed in the window: cost per accepted change =
spend on the pull requests closed in it ÷ those merged and not reverted; the rest of that spend
went to abandoned work, to reverted work, or to the reverts themselves.

Pure: the database side (`bot.db.dashboard`) loads the rows, the JSON API and the dashboard
both print what `compute` returns, so they cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.report import build
from bot.trace import RunType, Session

WindowName = Literal["week", "month"]
WINDOWS: dict[str, tuple[timedelta, timedelta]] = {
    "week": (timedelta(days=7), timedelta(days=1)),
    "month": (timedelta(days=30), timedelta(days=6)),
}
"""Rolling windows ending now, and the width of each bar of the cost-per-change chart."""
UNKNOWN_REPO = "(unknown repository)"
UNKNOWN_USER = "(unknown user)"
NO_TEAM = "(no team)"
WASTED_OUTCOMES = ("abandoned", "reverted", "revert")


@dataclass(frozen=True, slots=True)
class Window:
    name: str
    start: datetime
    end: datetime

    @classmethod
    def ending(cls, name: str, end: datetime) -> Window:
        length, _ = WINDOWS[name]
        return cls(name, end - length, end)

    def holds(self, at: datetime | None) -> bool:
        return at is not None and self.start <= at < self.end

    def buckets(self) -> list[Window]:
        """Consecutive slices of the window, oldest first, the last one ending at the window's end."""
        if self.name not in WINDOWS:
            return [self]
        _, width = WINDOWS[self.name]
        slices, end = [], self.end
        while end > self.start:
            slices.append(Window(self.name, max(self.start, end - width), end))
            end -= width
        return slices[::-1]


@dataclass(frozen=True, slots=True)
class PullInfo:
    """A pull request as the metrics see it: outcome, total (as its comment showed) and breakdown."""

    id: int
    repo: str
    number: int
    author: str | None
    head_ref: str
    state: str
    outcome: str
    closed_at: datetime | None
    cost_usd: float
    by_runtime: Mapping[str, float] = field(default_factory=dict)
    by_model: Mapping[str, float] = field(default_factory=dict)
    findings: tuple[Mapping[str, Any], ...] = ()
    reverted_by: str | None = None
    reverts: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "repo": self.repo, "number": self.number, "author": self.author, "branch": self.head_ref,
            "state": self.state, "outcome": self.outcome, "closed_at": _iso(self.closed_at),
            "cost_usd": _money(self.cost_usd), "reverted_by": self.reverted_by, "reverts": self.reverts,
        }


@dataclass(frozen=True, slots=True)
class Attributed:
    """A session with whom and what its spend is charged to."""

    session: Session
    repo: str | None
    user: str | None
    pull_id: int | None


@dataclass(slots=True)
class Value:
    """Spend on closed pull requests against what they became."""

    name: str
    closed: int = 0
    accepted: int = 0
    abandoned: int = 0
    reverted: int = 0
    reverts: int = 0
    spend_usd: float = 0.0
    accepted_usd: float = 0.0
    abandoned_usd: float = 0.0
    reverted_usd: float = 0.0
    """Reverted work and the reverts that undid it."""

    def add(self, outcome: str, cost: float) -> None:
        self.closed += 1
        self.spend_usd += cost
        if outcome == "accepted":
            self.accepted += 1
            self.accepted_usd += cost
        elif outcome == "abandoned":
            self.abandoned += 1
            self.abandoned_usd += cost
        elif outcome in ("reverted", "revert"):
            self.reverted += outcome == "reverted"
            self.reverts += outcome == "revert"
            self.reverted_usd += cost

    @property
    def cost_per_accepted_change(self) -> float | None:
        return self.spend_usd / self.accepted if self.accepted else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "closed_prs": self.closed, "accepted": self.accepted, "abandoned": self.abandoned,
            "reverted": self.reverted, "reverts": self.reverts, "spend_usd": _money(self.spend_usd),
            "accepted_usd": _money(self.accepted_usd), "abandoned_usd": _money(self.abandoned_usd),
            "reverted_usd": _money(self.reverted_usd),
            "cost_per_accepted_change_usd": _money(self.cost_per_accepted_change),
        }


@dataclass(slots=True)
class Point:
    """One bar of "cost per merged PR over time": PRs closed in the slice."""

    start: datetime
    end: datetime
    value: Value

    def as_dict(self) -> dict[str, Any]:
        return {"start": _iso(self.start), "end": _iso(self.end), **self.value.as_dict()}


@dataclass(slots=True)
class Metrics:
    window: Window
    repos: list[str]
    spend: build.Report
    by_repo: list[build.Row]
    by_user: list[build.Row]
    by_team: list[build.Row]
    value: Value
    value_by_repo: list[Value]
    value_by_runtime: list[Value]
    value_by_model: list[Value]
    value_by_team: list[Value]
    over_time: list[Point]
    pulls: list[PullInfo]

    def as_dict(self) -> dict[str, Any]:
        spend = self.spend
        return {
            "window": self.window.name, "start": _iso(self.window.start), "end": _iso(self.window.end),
            "repos": self.repos,
            "spend": {
                "total_usd": _money(spend.total.cost_usd), "unpriced_tokens": spend.total.unpriced_tokens,
                "calls": spend.total.calls, "sessions": len(spend.sessions),
                "by_model": _rows(spend.by_model), "by_repo": _rows(self.by_repo), "by_runtime": _rows(spend.by_runtime),
                "by_tool": _rows(spend.by_tool), "by_user": _rows(self.by_user), "by_team": _rows(self.by_team),
            },
            "outcomes": {
                **self.value.as_dict(),
                "by_repo": [v.as_dict() for v in self.value_by_repo],
                "by_runtime": [v.as_dict() for v in self.value_by_runtime],
                "by_model": [v.as_dict() for v in self.value_by_model],
                "by_team": [v.as_dict() for v in self.value_by_team],
            },
            "cost_per_merged_pr": [p.as_dict() for p in self.over_time],
            "pulls": [p.as_dict() for p in self.pulls],
        }


def compute(
    window: Window, sessions: Sequence[Attributed], pulls: Sequence[PullInfo], teams: Mapping[str, Iterable[str]],
    repos: Sequence[str], prices_source: str,
) -> Metrics:
    """Every figure of the overview for `window`. `teams`: login → the teams they are in (a person may be in several)."""
    windowed = [a for a in (_in_window(a, window) for a in sessions) if a is not None]
    spend = build.build([a.session for a in windowed], prices_source)
    cost = {s.key: s.totals for s in spend.sessions}
    by_repo: dict[str, build.Row] = {}
    by_user: dict[str, build.Row] = {}
    by_team: dict[str, build.Row] = {}
    for a in windowed:
        row = cost[a.session.key]
        user = a.user or UNKNOWN_USER
        _merge(by_repo, a.repo or UNKNOWN_REPO, row)
        _merge(by_user, user, row)
        for team in sorted(teams.get(user.lower(), ())) or [NO_TEAM]:
            _merge(by_team, team, row)

    closed = sorted((p for p in pulls if p.state == "closed" and window.holds(p.closed_at)),
                    key=lambda p: (p.closed_at, p.repo, p.number))
    return Metrics(
        window=window, repos=list(repos), spend=spend,
        by_repo=_ranked(by_repo), by_user=_ranked(by_user), by_team=_ranked(by_team),
        value=_value("all", closed),
        value_by_repo=_values_by(closed, lambda p: [p.repo]),
        value_by_runtime=_values_by(closed, lambda p: [k for k, v in p.by_runtime.items() if v > 0], lambda p, k: p.by_runtime[k]),
        value_by_model=_values_by(closed, lambda p: [k for k, v in p.by_model.items() if v > 0], lambda p, k: p.by_model[k]),
        value_by_team=_values_by(closed, lambda p: sorted(teams.get((p.author or "").lower(), ())) or [NO_TEAM]),
        over_time=[Point(b.start, b.end, _value("all", [p for p in closed if b.holds(p.closed_at)])) for b in window.buckets()],
        pulls=closed,
    )


def _in_window(a: Attributed, window: Window) -> Attributed | None:
    """The session with only the model calls made inside the window (tool spans stay, for by-tool)."""
    fallback = a.session.started_at
    spans = [s for s in a.session.spans if s.run_type is not RunType.LLM or window.holds(s.started_at or fallback)]
    if not any(s.run_type is RunType.LLM for s in spans):
        return None
    return replace(a, session=replace(a.session, spans=spans))


def _ranked(rows: dict[str, build.Row]) -> list[build.Row]:
    """Ordered like the comment's breakdowns: most expensive first."""
    return sorted(rows.values(), key=lambda r: (-r.cost_usd, -r.unpriced_tokens, -r.tokens.total, r.name))


def _merge(rows: dict[str, build.Row], name: str, row: build.Row) -> None:
    target = rows.setdefault(name, build.Row(name))
    target.add_counts(row)
    target.cost_usd += row.cost_usd


def _value(name: str, pulls: Iterable[PullInfo], cost: Any = None) -> Value:
    value = Value(name)
    for p in pulls:
        value.add(p.outcome, p.cost_usd if cost is None else cost(p))
    return value


def _values_by(pulls: Sequence[PullInfo], keys: Any, cost: Any = None) -> list[Value]:
    """Value per dimension: a pull request counts under each key it has, with the part of its cost under that key."""
    groups: dict[str, Value] = defaultdict(lambda: Value(""))
    for p in pulls:
        for key in keys(p):
            value = groups[key]
            value.name = key
            value.add(p.outcome, p.cost_usd if cost is None else cost(p, key))
    return sorted(groups.values(), key=lambda v: (-v.spend_usd, v.name))


def _rows(rows: Sequence[build.Row]) -> list[dict[str, Any]]:
    return [r.as_dict() for r in rows]


def _money(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None

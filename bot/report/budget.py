"""Judge a pull request's agent spend against the repository's budget, and say how to unblock it.

The verdict is the one place that decides the check run's conclusion. Only an enforced overrun
is `failure`: a required check passes on `neutral`, and red crosses that are not real failures
teach people to ignore the check (docs/github.md, section 8). So a missing file, missing traces
and a broken config file are all `neutral`, each with a title that says which one it is.

Decisions, in the order `evaluate` applies them:

- A config error wins over everything: the budget cannot be judged, and the title carries the
  error's line so the admin can fix it. It is `neutral`, not `failure`, because the file is read
  from the base branch: the pull request's author cannot fix it, and blocking every pull request
  in the repository on an admin's typo would punish the wrong people.
- No sessions: `no_traces` ("no agent traces found" beats silence, and never reads as "$0").
- No budget in force (no file, or no `pr`, label or `session` budget): `no_budget`, report only.
- Over: spend above the budget (a budget of $20 allows $20.00), or, with `check.fail_on:
  session`, any session over the session budget. Amounts are compared in whole cents, so the
  decision always agrees with the figures the title shows.
- An approval covers the spend at the moment it was given: when spend grows past its amount the
  pull request is over again and needs a new approval. Approvals reaching `evaluate` are trusted:
  whoever records them checks that the approver may approve.
- A session's cost includes its subagents' sessions: a fan-out cannot dodge the session budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from bot.github.repo_config import CONFIG_PATH, ConfigError, RepoConfig
from bot.report.build import Report, SessionSummary

Status = Literal["ok", "warn", "over", "approved", "no_budget", "no_traces", "config_error"]
Conclusion = Literal["success", "failure", "neutral"]

APPROVE_HINT = "an approver can comment `/agentspend approve <reason>`"


@dataclass(frozen=True, slots=True)
class Approval:
    """An approver's go-ahead for an overrun, as stored from the comment or the check-run button."""

    by: str
    at: datetime
    amount_usd: float
    """The pull request's spend when it was approved: the approval covers this much and no more."""
    reason: str

    def as_dict(self) -> dict[str, Any]:
        at, amount = self.at.isoformat(), round(self.amount_usd, 6)
        return {"by": self.by, "at": at, "amount_usd": amount, "reason": self.reason}


class SessionOver(NamedTuple):
    """A top-level session (its subagents included) that cost more than `budget.session`."""

    key: str
    cost_usd: float
    budget_usd: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """The budget decision for one pull request, finished: templates only format it."""

    status: Status
    conclusion: Conclusion
    title: str
    """One sentence for the check run's title, the text GitHub shows in the PR's checks list."""
    spent_usd: float
    budget_usd: float | None = None
    fraction: float | None = None
    """Spend as a fraction of the budget; None without a (non-zero) budget."""
    label_used: str | None = None
    """The label whose exception budget replaced `budget.pr`."""
    unpriced_tokens: int = 0
    """Tokens we could not price: when non-zero the real spend is higher than `spent_usd`."""
    sessions_over: tuple[SessionOver, ...] = ()
    approval: Approval | None = None
    """The approval that makes an overrun pass, if one covers the current spend."""
    config_error: ConfigError | None = None
    message: str | None = None
    docs_url: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The `budget` key of the JSON report."""
        return {
            "status": self.status,
            "conclusion": self.conclusion,
            "title": self.title,
            "spent_usd": round(self.spent_usd, 6),
            "budget_usd": self.budget_usd,
            "fraction": None if self.fraction is None else round(self.fraction, 4),
            "label_used": self.label_used,
            "unpriced_tokens": self.unpriced_tokens,
            "sessions_over": [
                {"key": s.key, "cost_usd": round(s.cost_usd, 6), "budget_usd": s.budget_usd} for s in self.sessions_over
            ],
            "approval": self.approval.as_dict() if self.approval else None,
            "config_error": self.config_error.as_dict() if self.config_error else None,
            "message": self.message,
            "docs_url": self.docs_url,
        }


def evaluate(
    report: Report,
    config: RepoConfig | ConfigError,
    labels: Sequence[str],
    approvals: Sequence[Approval],
) -> Verdict:
    """The verdict for a pull request's report, given the PR's labels and its stored approvals."""
    spent, unpriced = report.total.cost_usd, report.total.unpriced_tokens
    if isinstance(config, ConfigError):
        title = f"{config.describe()} — budget not checked until the file is fixed on the base branch"
        return Verdict("config_error", "neutral", title, spent, unpriced_tokens=unpriced, config_error=config)
    common: dict[str, Any] = {"unpriced_tokens": unpriced, "message": config.message, "docs_url": config.docs_url}
    if not report.sessions:
        return Verdict("no_traces", "neutral", "No agent traces found for this pull request", spent, **common)
    budget, session_budget = config.budget_for(labels), config.budget.session
    if budget is None and session_budget is None:
        title = f"{_usd(spent)} of agent spend, no budget set{_unpriced_note(unpriced)}"
        if not config.present:
            title += f" (no `{CONFIG_PATH}`: report only)"
        return Verdict("no_budget", "neutral", title, spent, **common)
    label = config.label_for(labels)
    facts = _Facts(spent, budget, _sessions_over(report.sessions, session_budget), label, unpriced)
    fraction = spent / budget if budget else None
    common |= {"budget_usd": budget, "fraction": fraction, "label_used": label, "sessions_over": facts.sessions_over}
    if facts.pr_over or (config.check.fail_on == "session" and facts.sessions_over):
        return _overrun(facts, config, approvals, common)
    if budget and _cents(spent) >= _cents(config.budget.warn * budget):
        return Verdict("warn", "success", f"Near budget: {facts.amounts()}{facts.notes()}", spent, **common)
    return Verdict("ok", "success", f"Within budget: {facts.amounts()}{facts.notes()}", spent, **common)


@dataclass(frozen=True, slots=True)
class _Facts:
    """The numbers a title is written from."""

    spent: float
    budget: float | None
    sessions_over: tuple[SessionOver, ...]
    label: str | None
    unpriced: int

    @property
    def pr_over(self) -> bool:
        return self.budget is not None and _cents(self.spent) > _cents(self.budget)

    def amounts(self) -> str:
        """"$27.40 of $20.00 (137%, `incident` label)", or the spend alone under a session-only budget."""
        if self.budget is None:
            return f"{_usd(self.spent)} spent"
        details = [f"{self.spent / self.budget:.0%}"] if self.budget else []
        if self.label is not None:
            details.append(f"`{self.label}` label")
        suffix = f" ({', '.join(details)})" if details else ""
        return f"{_usd(self.spent)} of {_usd(self.budget)}{suffix}"

    def sessions_note(self) -> str:
        if not self.sessions_over:
            return ""
        count = len(self.sessions_over)
        noun = "session" if count == 1 else "sessions"
        return f"{count} {noun} over the {_usd(self.sessions_over[0].budget_usd)} session budget"

    def notes(self) -> str:
        """What a within-budget title must not hide: sessions over their budget, unpriced tokens."""
        sessions = self.sessions_note()
        return (f"; {sessions}" if sessions else "") + _unpriced_note(self.unpriced)


def _overrun(facts: _Facts, config: RepoConfig, approvals: Sequence[Approval], common: dict[str, Any]) -> Verdict:
    """Over: approved if an approval covers today's spend, else failing or, when not enforced, neutral."""
    headline = f"Over budget: {facts.amounts()}" if facts.pr_over else f"Over budget: {facts.sessions_note()}"
    covering = [a for a in approvals if _cents(a.amount_usd) >= _cents(facts.spent)]
    if covering:
        approval = max(covering, key=lambda a: a.at)
        title = f"{headline}, approved by @{approval.by} up to {_usd(approval.amount_usd)}"
        return Verdict("approved", "success", title, facts.spent, approval=approval, **common)
    if config.check.mode == "warn" or not config.check.fail_on_exceeded:
        why = "mode is warn" if config.check.mode == "warn" else "fail_on_exceeded is false"
        return Verdict("over", "neutral", f"{headline}, not blocking because {why}", facts.spent, **common)
    stale = max(approvals, key=lambda a: a.at, default=None)
    if stale is not None:
        headline += f"; the approval by @{stale.by} covered {_usd(stale.amount_usd)} only"
    return Verdict("over", "failure", f"{headline} — {APPROVE_HINT}", facts.spent, **common)


def _sessions_over(sessions: Sequence[SessionSummary], budget: float | None) -> tuple[SessionOver, ...]:
    if budget is None:
        return ()
    costs = _cost_by_root(sessions)
    return tuple(SessionOver(key, cost, budget) for key, cost in costs.items() if _cents(cost) > _cents(budget))


def _cost_by_root(sessions: Sequence[SessionSummary]) -> dict[str, float]:
    """Each top-level session's cost with its subagents' (at any depth) folded in, in report order.

    A subagent whose parent is not in this report counts as top-level: its parent's spend
    belongs to another pull request, or was never uploaded.
    """
    parent_of = {s.key: s.parent_key for s in sessions}
    costs: dict[str, float] = {}
    for session in sessions:
        root, seen = session.key, {session.key}
        while (parent := parent_of.get(root)) is not None and parent in parent_of and parent not in seen:
            root = parent
            seen.add(root)
        costs[root] = costs.get(root, 0.0) + session.totals.cost_usd
    return costs


def _unpriced_note(tokens: int) -> str:
    return f"; {tokens:,} tokens unpriced, so the real spend may be higher" if tokens else ""


def _usd(amount: float) -> str:
    return f"${amount:,.2f}"


def _cents(amount: float) -> int:
    return round(amount * 100)

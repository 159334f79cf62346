"""The weekly review: which expensive sessions were worth it, which were not, and what to prevent next week.

A session (its subagents rolled into it, as budgets count them) is expensive when its spend in
the week reaches `review.expensive_usd`. It was useful when its pull request was merged and not
reverted; wasteful when the pull request was abandoned, reverted or was itself a revert, or when
waste findings say that at least `review.heavy_waste` of its cost was avoidable. A session of a
pull request still open, or of none, is not decided yet. Pure: it reads what `metrics.compute`
and the stored reports already hold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.github.org_config import Review as ReviewConfig
from bot.metrics import WASTED_OUTCOMES, Attributed, Metrics, PullInfo

OUTCOME_FIXES = {
    "abandoned": "Spend on pull requests closed without merging: settle the approach before a long agent run, and stop sessions on branches that stall.",
    "reverted": "Merged work that was reverted: ask the agent for tests that pin the behaviour, and review large agent changes before merging.",
    "revert": "The cost of undoing merged work: it comes on top of the reverted change itself.",
}


@dataclass(slots=True)
class Item:
    key: str
    runtime: str
    repo: str | None
    user: str | None
    pull: PullInfo | None
    cost_usd: float
    avoidable_usd: float = 0.0
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "session": self.key, "runtime": self.runtime, "repo": self.repo, "user": self.user,
            "pull": None if self.pull is None else {"repo": self.pull.repo, "number": self.pull.number, "outcome": self.pull.outcome},
            "cost_usd": round(self.cost_usd, 6), "avoidable_usd": round(self.avoidable_usd, 6), "reasons": self.reasons,
        }


@dataclass(slots=True)
class Prevention:
    kind: str
    count: int
    cost_usd: float
    avoidable_usd: float
    fix: str
    examples: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "cost_usd": round(self.cost_usd, 6),
                "avoidable_usd": round(self.avoidable_usd, 6), "fix": self.fix, "examples": self.examples}


@dataclass(slots=True)
class Review:
    expensive_usd: float
    useful: list[Item]
    wasteful: list[Item]
    undecided: list[Item]
    prevent: list[Prevention]

    def as_dict(self) -> dict[str, Any]:
        return {
            "expensive_usd": self.expensive_usd,
            "useful": [i.as_dict() for i in self.useful], "wasteful": [i.as_dict() for i in self.wasteful],
            "undecided": [i.as_dict() for i in self.undecided], "prevent": [p.as_dict() for p in self.prevent],
            "useful_usd": round(sum(i.cost_usd for i in self.useful), 6),
            "wasteful_usd": round(sum(i.cost_usd for i in self.wasteful), 6),
        }


def review(metrics: Metrics, sessions: Sequence[Attributed], pulls: Mapping[int, PullInfo], config: ReviewConfig) -> Review:
    cost = {s.key: s.totals.cost_usd for s in metrics.spend.sessions}
    context = {a.session.key: a for a in sessions}
    top = {key: _top(key, context) for key in cost}
    rolled: dict[str, float] = defaultdict(float)
    for key, amount in cost.items():
        rolled[top[key]] += amount
    findings = _findings_by_session(pulls.values(), top)
    useful, wasteful, undecided = [], [], []
    for key, amount in sorted(rolled.items(), key=lambda kv: (-kv[1], kv[0])):
        if amount < config.expensive_usd:
            continue
        a = context[key]
        pull = pulls.get(a.pull_id) if a.pull_id is not None else None
        avoidable = sum(f.get("avoidable_usd") or 0.0 for f in findings.get(key, ()))
        item = Item(key, str(a.session.runtime), a.repo, a.user, pull, amount, avoidable)
        if pull is not None and pull.outcome in WASTED_OUTCOMES:
            item.reasons.append(pull.outcome + (f" by {pull.reverted_by}" if pull.reverted_by else "")
                                + (f" of {pull.reverts}" if pull.reverts else ""))
        if amount > 0 and avoidable >= config.heavy_waste * amount:
            kinds = sorted({f["kind"] for f in findings[key]})
            item.reasons.append(f"waste findings ({', '.join(kinds)}): {avoidable / amount:.0%} avoidable")
        if item.reasons:
            wasteful.append(item)
        elif pull is not None and pull.outcome == "accepted":
            useful.append(item)
        else:
            undecided.append(item)
    return Review(config.expensive_usd, useful, wasteful, undecided, _preventable(metrics.pulls, findings, rolled))


def _top(key: str, context: Mapping[str, Attributed]) -> str:
    """The top-level session a subagent belongs to (subagents are judged with their parent)."""
    seen = {key}
    while (parent := context[key].session.parent_key) in context and parent not in seen:
        key = parent
        seen.add(key)
    return key


def _findings_by_session(pulls: Any, top: Mapping[str, str]) -> dict[str, list[Mapping[str, Any]]]:
    found: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for pull in pulls:
        for finding in pull.findings:
            session = finding.get("session")
            if session in top:
                found[top[session]].append(finding)
    return found


def _preventable(closed: Sequence[PullInfo], findings: Mapping[str, list[Mapping[str, Any]]],
                 rolled: Mapping[str, float]) -> list[Prevention]:
    """Waste findings by kind with their fix, then spend lost to abandoned and reverted work; largest first."""
    by_kind: dict[str, Prevention] = {}
    for key, items in findings.items():
        if key not in rolled:
            continue
        for f in items:
            kind = str(f.get("kind"))
            p = by_kind.setdefault(kind, Prevention(kind, 0, 0.0, 0.0, str(f.get("fix") or ""), []))
            p.count += 1
            p.cost_usd += f.get("cost_usd") or 0.0
            p.avoidable_usd += f.get("avoidable_usd") or 0.0
            if key not in p.examples:
                p.examples.append(key)
    for outcome, fix in OUTCOME_FIXES.items():
        lost = [p for p in closed if p.outcome == outcome and p.cost_usd > 0]
        if lost:
            by_kind[outcome] = Prevention(outcome, len(lost), sum(p.cost_usd for p in lost), sum(p.cost_usd for p in lost),
                                          fix, [f"{p.repo}#{p.number}" for p in lost])
    return sorted(by_kind.values(), key=lambda p: (-p.avoidable_usd, p.kind))

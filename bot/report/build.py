"""Turn priced sessions into the report a reviewer reads: totals and breakdowns, no formatting.

Every figure is computed here, in Python, so the Markdown comment, the JSON API and the
dashboard cannot disagree. By-tool cost splits each model call's cost evenly across the tool
calls it emitted (a call that emitted none goes to "(no tool)"), so the by-tool rows add up to
the total like every other breakdown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.pricing import UNKNOWN_MODEL, unpriced_name
from bot.report.waste import Finding
from bot.trace import LLM, SUBAGENT, TOOL, Session, Span, Tokens

RECONCILE_TOLERANCE = 0.01
"""A tool's own cost and ours differ visibly past 1 %."""

NO_TOOL = "(no tool)"
MAIN_AGENT = "(main agent)"
UNNAMED_SUBAGENT = "(unnamed subagent)"


@dataclass(slots=True)
class Row:
    """One line of a breakdown: tokens and cost of the calls that fall under `name`."""

    name: str
    tokens: Tokens = field(default_factory=Tokens)
    cost_usd: float = 0.0
    unpriced_tokens: int = 0
    calls: int = 0

    def add_call(self, tokens: Tokens, cost: float | None) -> None:
        self.tokens.accumulate(tokens)
        self.calls += 1
        if cost is None:
            self.unpriced_tokens += tokens.total
        else:
            self.cost_usd += cost

    def add_counts(self, other: Row) -> None:
        """Add another row's tokens and calls, not its cost. Counts are integers, so adding a
        subtotal gives what adding each call would; costs are floats, added call by call so that
        every total rounds as it always has."""
        self.tokens.accumulate(other.tokens)
        self.calls += other.calls
        self.unpriced_tokens += other.unpriced_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tokens": self.tokens.as_dict(),
            "cost_usd": round(self.cost_usd, 6),
            "unpriced_tokens": self.unpriced_tokens,
            "calls": self.calls,
        }


@dataclass(slots=True)
class SessionSummary:
    key: str
    runtime: str
    agent_name: str | None
    parent_key: str | None
    repo: str | None
    branch: str | None
    started_at: datetime | None
    ended_at: datetime | None
    models: list[str]
    totals: Row
    unknown_usage_calls: int
    reported_cost_usd: float | None
    reported_compared_usd: tuple[float, float] | None = None
    """(what the tool reported, what we compute) over the calls that have both figures."""

    @property
    def reported_difference(self) -> float | None:
        """Our cost relative to the tool's, over the same calls (0.05 = we say 5 % more)."""
        if self.reported_compared_usd is None or not self.reported_compared_usd[0]:
            return None
        reported, ours = self.reported_compared_usd
        return (ours - reported) / reported

    @property
    def reported_mismatch(self) -> bool:
        if self.reported_compared_usd is None:
            return False
        difference = self.reported_difference
        return self.reported_compared_usd[1] > 0 if difference is None else abs(difference) > RECONCILE_TOLERANCE

    def as_dict(self) -> dict[str, Any]:
        difference = self.reported_difference
        return {
            "key": self.key,
            "runtime": self.runtime,
            "agent_name": self.agent_name,
            "parent_key": self.parent_key,
            "repo": self.repo,
            "branch": self.branch,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "models": self.models,
            "tokens": self.totals.tokens.as_dict(),
            "cost_usd": round(self.totals.cost_usd, 6),
            "unpriced_tokens": self.totals.unpriced_tokens,
            "calls": self.totals.calls,
            "unknown_usage_calls": self.unknown_usage_calls,
            "reported_cost_usd": self.reported_cost_usd,
            "reported_difference_pct": None if difference is None else round(100 * difference, 2),
            "reported_mismatch": self.reported_mismatch,
        }


@dataclass(slots=True)
class Report:
    total: Row
    by_runtime: list[Row]
    by_model: list[Row]
    by_tool: list[Row]
    by_subagent: list[Row]
    by_tier: list[Row]
    """Calls billed at another tier than the standard one (fast mode, priority, flex), by tier:
    part of the other breakdowns too, shown apart because a tier multiplies what a call costs."""
    sessions: list[SessionSummary]
    unpriced_by_model: dict[str, int]
    unknown_usage_calls: int
    prices_source: str
    skipped: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    """Waste findings, most avoidable first (set by the caller from `waste.find`)."""
    waste_thresholds: str | None = None
    """Where the findings' thresholds came from, for the reader: the repository's file or the defaults."""
    budget: dict[str, Any] | None = None

    @property
    def total_cost_usd(self) -> float:
        return self.total.cost_usd

    @property
    def avoidable_usd(self) -> float:
        """The findings' avoidable cost together. Findings can overlap (a retry loop inside a
        runaway session's last hours), so the sum is capped at what was spent."""
        return min(sum(f.avoidable_usd for f in self.findings), self.total.cost_usd)

    def as_dict(self, *, session_rows: bool = True) -> dict[str, Any]:
        """The JSON report; without `session_rows`, `sessions` is left empty for a caller that
        writes the rows one at a time (bot.report.render.json_chunks)."""
        return {
            "total_cost_usd": round(self.total.cost_usd, 6),
            "tokens": self.total.tokens.as_dict(),
            "unpriced_tokens": self.total.unpriced_tokens,
            "unpriced_by_model": self.unpriced_by_model,
            "unknown_usage_calls": self.unknown_usage_calls,
            "by_runtime": [r.as_dict() for r in self.by_runtime],
            "by_model": [r.as_dict() for r in self.by_model],
            "by_tool": [r.as_dict() for r in self.by_tool],
            "by_subagent": [r.as_dict() for r in self.by_subagent],
            "by_tier": [r.as_dict() for r in self.by_tier],
            "sessions": [s.as_dict() for s in self.sessions] if session_rows else [],
            "findings": [f.as_dict() for f in self.findings],
            "waste_thresholds": self.waste_thresholds,
            "budget": self.budget,
            "prices": self.prices_source,
            "skipped_lines": self.skipped,
        }


def build(
    sessions: Iterable[Session], prices_source: str, skipped: dict[str, int] | None = None, *,
    release_spans: bool = False,
) -> Report:
    """Aggregate priced sessions. Only LLM spans carry cost; tool spans only steer by-tool.

    With `release_spans`, each session's spans are dropped once it is summed up, so that a large
    report's rows take the memory of the spans they summarize instead of adding to it (the
    offline report, whose findings are made first)."""
    sessions = sorted(sessions, key=_session_order)
    total = Row("total")
    by_runtime: dict[str, Row] = {}
    by_model: dict[str, Row] = {}
    by_subagent: dict[str, Row] = {}
    by_tool: dict[str, Row] = {}
    by_tier: dict[str, Row] = {}
    unpriced_by_model: dict[str, int] = defaultdict(int)
    summaries = []
    unknown_total = 0
    for session in sessions:
        tools_of = _tools_by_caller(session.spans)
        row = Row(session.key)
        unknown = 0
        shared: tuple[Row, ...] = ()  # total, runtime, agent: made at the first call, given costs call by call, counts at the end
        for span in session.spans:
            if span.run_type is not LLM:
                continue
            tokens, cost = span.tokens, span.cost_usd
            if tokens is None:
                unknown += 1
                continue
            if not shared:
                shared = (total, _row(by_runtime, str(session.runtime)), _row(by_subagent, _agent_label(session)))
            model = span.model or UNKNOWN_MODEL
            row.add_call(tokens, cost)
            if cost is not None:
                for target in shared:
                    target.cost_usd += cost
            _row(by_model, model).add_call(tokens, cost)
            if span.tier is not None:
                _row(by_tier, span.tier).add_call(tokens, cost)
            if cost is None:
                unpriced_by_model[unpriced_name(span)] += tokens.total
            _split_across_tools(by_tool, span, tools_of.get(span.span_id, ()))
        for target in shared:
            target.add_counts(row)
        unknown_total += unknown
        summaries.append(_summary(session, row, unknown))
        if release_spans:
            session.spans = []
    return Report(
        total=total,
        by_runtime=_ranked(by_runtime),
        by_model=_ranked(by_model),
        by_tool=_ranked(by_tool),
        by_subagent=_ranked(by_subagent),
        by_tier=_ranked(by_tier),
        sessions=summaries,
        unpriced_by_model=dict(sorted(unpriced_by_model.items(), key=lambda kv: -kv[1])),
        unknown_usage_calls=unknown_total,
        prices_source=prices_source,
        skipped=dict(skipped or {}),
    )


def _agent_label(session: Session) -> str:
    if session.parent_key is None:
        return MAIN_AGENT
    return session.agent_name or UNNAMED_SUBAGENT


def _row(rows: dict[str, Row], name: str) -> Row:
    row = rows.get(name)
    if row is None:
        row = rows[name] = Row(name)
    return row


def _ranked(rows: dict[str, Row]) -> list[Row]:
    return sorted(rows.values(), key=lambda r: (-r.cost_usd, -r.unpriced_tokens, -r.tokens.total, r.name))


def _tools_by_caller(spans: list[Span]) -> dict[str, list[str]]:
    """Tool names keyed by the id of the model call that emitted them."""
    tools: dict[str, list[str]] = defaultdict(list)
    for span in spans:
        if span.parent_id and (span.run_type is TOOL or span.run_type is SUBAGENT):
            tools[span.parent_id].append(span.tool_name or span.name)
    return tools


def _split_across_tools(by_tool: dict[str, Row], call: Span, tools: list[str] | tuple[()]) -> None:
    """Even split; integer tokens are shared out so the parts add up exactly to the call."""
    assert call.tokens is not None
    if not tools:
        _row(by_tool, NO_TOOL).add_call(call.tokens, call.cost_usd)
        return
    parts = len(tools)
    shares = [call.tokens] if parts == 1 else _shares(call.tokens, parts)
    cost = None if call.cost_usd is None else call.cost_usd / parts
    for tool, share in zip(tools, shares):
        _row(by_tool, tool).add_call(share, cost)


def _shares(tokens: Tokens, parts: int) -> list[Tokens]:
    """`tokens` in `parts` shares that add up exactly: each count divided evenly, what is left
    over a token each to the first shares."""
    split = [divmod(value, parts) for value in (
        tokens.input, tokens.output, tokens.cache_read, tokens.cache_write_5m, tokens.cache_write_1h, tokens.reasoning,
    )]
    return [Tokens(*[whole + (index < rest) for whole, rest in split]) for index in range(parts)]


def _summary(session: Session, row: Row, unknown: int) -> SessionSummary:
    models, reported, pairs = set(), [], []
    for span in session.spans:  # one pass, not one per figure: sessions are many and mostly short
        if span.run_type is LLM and span.model:
            models.add(span.model)
        if span.reported_cost_usd is not None:
            reported.append(span.reported_cost_usd)
            if span.run_type is LLM and span.cost_usd is not None:
                pairs.append((span.reported_cost_usd, span.cost_usd))
    return SessionSummary(
        key=session.key,
        runtime=str(session.runtime),
        agent_name=session.agent_name,
        parent_key=session.parent_key,
        repo=session.repo,
        branch=session.branch,
        started_at=session.started_at,
        ended_at=session.ended_at,
        models=sorted(models),
        totals=row,
        unknown_usage_calls=unknown,
        reported_cost_usd=sum(reported) if reported else None,
        reported_compared_usd=(sum(r for r, _ in pairs), sum(c for _, c in pairs)) if pairs else None,
    )


def _session_order(session: Session) -> tuple[float, str]:
    return (session.started_at.timestamp() if session.started_at else 0.0, session.key)


def keep_sessions(sessions: Iterable[Session], wanted: Callable[[Session], bool]) -> list[Session]:
    """The sessions `wanted` keeps, plus every subagent of a kept session (they follow their parent)."""
    sessions = list(sessions)
    kept = {s.key for s in sessions if wanted(s)}
    changed = True
    while changed:
        changed = False
        for session in sessions:
            if session.key not in kept and session.parent_key in kept:
                kept.add(session.key)
                changed = True
    return [s for s in sessions if s.key in kept]

"""The budget verdict: one table row per branch, each with the exact title people read."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from bot.github.repo_config import parse
from bot.report.budget import Approval, SessionOver, evaluate
from bot.report.build import Report, build
from bot.trace import Runtime, RunType, Session, Span, Tokens

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
HINT = "an approver can comment `/agentspend approve <reason>`"


def _session(key: str, cost: float | None, parent: str | None = None, minute: int = 0) -> Session:
    """A session of one model call costing `cost` (None: unpriced, 1,000 tokens)."""
    started = T0.replace(minute=minute)
    call = Span(f"{key}:1", RunType.LLM, "call", started_at=started, model="claude-sonnet-4-5",
                tokens=Tokens(input=1000), cost_usd=cost)
    return Session(key, Runtime.CLAUDE_CODE, parent_key=parent, started_at=started, spans=[call])


def _report(*sessions: Session) -> Report:
    return build(sessions, "test prices")


PR20 = "budget:\n  pr: 20\n"
PR20_S8 = "budget:\n  pr: 20\n  session: 8\n"
LABELS = "budget:\n  pr: 20\n  labels:\n    incident: 100\n    docs: 5\n"


@dataclass
class Case:
    config: str | None
    sessions: list[Session]
    status: str
    conclusion: str
    title: str
    labels: list[str] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)


CASES = {
    "no file": Case(
        None, [_session("a", 5)], "no_budget", "neutral",
        "$5.00 of agent spend, no budget set (no `.github/agentspend.yml`: report only)",
    ),
    "file without a budget": Case(
        "waste:\n  retry_loop: 4\n", [_session("a", 5), _session("b", None)], "no_budget", "neutral",
        "$5.00 of agent spend, no budget set; 1,000 tokens unpriced, so the real spend may be higher",
    ),
    "config error": Case(
        "budget:\n  pr: 20\n  warn: 1.5\n", [_session("a", 5)], "config_error", "neutral",
        "`.github/agentspend.yml` line 3: budget.warn must be between 0 and 1 (0.8 means 80%), got 1.5"
        " — budget not checked until the file is fixed on the base branch",
    ),
    "no traces": Case(PR20, [], "no_traces", "neutral", "No agent traces found for this pull request"),
    "within": Case(PR20, [_session("a", 4.10)], "ok", "success", "Within budget: $4.10 of $20.00 (20%)"),
    "within, unpriced tokens": Case(
        PR20, [_session("a", 4.10), _session("b", None)], "ok", "success",
        "Within budget: $4.10 of $20.00 (20%); 1,000 tokens unpriced, so the real spend may be higher",
    ),
    "at the warn threshold": Case(PR20, [_session("a", 16)], "warn", "success", "Near budget: $16.00 of $20.00 (80%)"),
    "warn, unpriced tokens": Case(
        PR20, [_session("a", 17), _session("b", None)], "warn", "success",
        "Near budget: $17.00 of $20.00 (85%); 1,000 tokens unpriced, so the real spend may be higher",
    ),
    "exactly the budget is within it": Case(
        PR20, [_session("a", 12.5), _session("b", 7.5)], "warn", "success", "Near budget: $20.00 of $20.00 (100%)",
    ),
    "sub-cent excess is not over": Case(
        PR20, [_session("a", 20.004)], "warn", "success", "Near budget: $20.00 of $20.00 (100%)",
    ),
    "over, enforced": Case(
        PR20, [_session("a", 27.40)], "over", "failure", f"Over budget: $27.40 of $20.00 (137%) — {HINT}",
    ),
    "over, warn mode": Case(
        PR20 + "check:\n  mode: warn\n", [_session("a", 27.40)], "over", "neutral",
        "Over budget: $27.40 of $20.00 (137%), not blocking because mode is warn",
    ),
    "over, fail_on_exceeded false": Case(
        PR20 + "check:\n  fail_on_exceeded: false\n", [_session("a", 27.40)], "over", "neutral",
        "Over budget: $27.40 of $20.00 (137%), not blocking because fail_on_exceeded is false",
    ),
    "over, approved": Case(
        PR20, [_session("a", 27.40)], "approved", "success",
        "Over budget: $27.40 of $20.00 (137%), approved by @octocat up to $27.40",
        approvals=[Approval("octocat", T0, 27.40, "incident fix")],
    ),
    "over, the latest covering approval applies": Case(
        PR20, [_session("a", 27.40)], "approved", "success",
        "Over budget: $27.40 of $20.00 (137%), approved by @hubot up to $30.00",
        approvals=[Approval("octocat", T0, 40, "first"), Approval("hubot", T1, 30, "again")],
    ),
    "over, spend grew past the approval": Case(
        PR20, [_session("a", 27.40)], "over", "failure",
        f"Over budget: $27.40 of $20.00 (137%); the approval by @octocat covered $25.00 only — {HINT}",
        approvals=[Approval("octocat", T0, 25, "first")],
    ),
    "label budget": Case(
        LABELS, [_session("a", 27.40)], "ok", "success", "Within budget: $27.40 of $100.00 (27%, `incident` label)",
        labels=["incident"],
    ),
    "label budget tightens": Case(
        LABELS, [_session("a", 6)], "over", "failure", f"Over budget: $6.00 of $5.00 (120%, `docs` label) — {HINT}",
        labels=["docs"],
    ),
    "session over, fail_on pr: listed only": Case(
        PR20_S8, [_session("a", 9), _session("b", 1, minute=5)], "ok", "success",
        "Within budget: $10.00 of $20.00 (50%); 1 session over the $8.00 session budget",
    ),
    "session over, fail_on session": Case(
        PR20_S8 + "check:\n  fail_on: session\n", [_session("a", 9), _session("b", 1, minute=5)], "over", "failure",
        f"Over budget: 1 session over the $8.00 session budget — {HINT}",
    ),
    "subagents count toward their session": Case(
        PR20_S8 + "check:\n  fail_on: session\n",
        [
            _session("a", 5),
            _session("a.sub", 2, parent="a", minute=1),
            _session("a.sub.sub", 2, parent="a.sub", minute=2),
        ],
        "over", "failure", f"Over budget: 1 session over the $8.00 session budget — {HINT}",
    ),
    "session budget only": Case(
        "budget:\n  session: 8\n", [_session("a", 5)], "ok", "success", "Within budget: $5.00 spent",
    ),
    "zero budget, nothing priced": Case(
        "budget:\n  pr: 0\n", [_session("a", None)], "ok", "success",
        "Within budget: $0.00 of $0.00; 1,000 tokens unpriced, so the real spend may be higher",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_verdict(name: str) -> None:
    case = CASES[name]
    verdict = evaluate(_report(*case.sessions), parse(case.config), case.labels, case.approvals)
    assert (verdict.status, verdict.conclusion, verdict.title) == (case.status, case.conclusion, case.title)
    json.dumps(verdict.as_dict())  # the JSON report's `budget` key


def test_verdict_fields_when_over() -> None:
    config = parse(LABELS.replace("    docs: 5\n", "") + "  session: 8\n")
    report = _report(_session("a", 9), _session("b", 30, minute=3), _session("b.1", 1, parent="b", minute=4))
    verdict = evaluate(report, config, ["incident", "bug"], [])
    assert verdict.status == "ok"
    assert (verdict.budget_usd, verdict.spent_usd, verdict.label_used) == (100, 40, "incident")
    assert verdict.fraction == pytest.approx(0.4)
    assert verdict.sessions_over == (SessionOver("a", 9, 8), SessionOver("b", 31, 8))
    assert verdict.as_dict()["sessions_over"] == [
        {"key": "a", "cost_usd": 9, "budget_usd": 8},
        {"key": "b", "cost_usd": 31, "budget_usd": 8},
    ]


def test_approval_is_reported() -> None:
    approval = Approval("octocat", T0, 30, "release blocker")
    verdict = evaluate(_report(_session("a", 27.40)), parse(PR20), [], [approval])
    assert verdict.approval == approval
    assert verdict.as_dict()["approval"] == {
        "by": "octocat", "at": "2026-03-01T12:00:00+00:00", "amount_usd": 30, "reason": "release blocker",
    }


def test_a_stale_approval_is_not_applied() -> None:
    verdict = evaluate(_report(_session("a", 27.40)), parse(PR20), [], [Approval("octocat", T0, 25, "first")])
    assert verdict.approval is None


def test_message_and_docs_link_travel_with_the_verdict() -> None:
    config = parse(PR20 + 'message: "Ask in #budgets"\ndocs_url: https://wiki.example.com/b\n')
    verdict = evaluate(_report(_session("a", 1)), config, [], [])
    assert (verdict.message, verdict.docs_url) == ("Ask in #budgets", "https://wiki.example.com/b")


def test_config_error_travels_with_the_verdict() -> None:
    verdict = evaluate(_report(), parse("budgt: 1\n"), [], [])
    assert verdict.config_error is not None
    assert verdict.as_dict()["config_error"]["description"] == (
        "`.github/agentspend.yml` line 1: unknown key `budgt` (did you mean `budget`?)"
    )


def test_unpriced_tokens_are_reported() -> None:
    verdict = evaluate(_report(_session("a", 1), _session("b", None)), parse(PR20), [], [])
    assert verdict.unpriced_tokens == 1000
    assert verdict.as_dict()["unpriced_tokens"] == 1000

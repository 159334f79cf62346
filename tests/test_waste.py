"""Waste findings: each detector on a constructed trace that shows the behaviour and on near misses
that do not, the shared fixtures, the amounts, privacy, and how findings reach people."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import adapters
from bot.corpus import merge
from bot.github.repo_config import ConfigError, RepoConfig, Waste, parse
from bot.pricing import PriceBook
from bot.report import budget, build, render, waste
from bot.report.waste import Finding, cheaper_model
from bot.trace import Runtime, RunType, Session, Span, Status, Tokens, hash_tool_input
from conftest import FUZZ_RANDOM

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SONNET = "claude-sonnet-4-5"
OPUS = "claude-opus-4-1"
PRICES = PriceBook()
"""List prices (genai-prices): Sonnet 4.5 $3 in, $15 out, $0.30 cache read, $3.75 5-minute write per
MTok, doubled above a 200k-token prompt; Opus 4.1 $15 in, $75 out."""


# --- building traces --------------------------------------------------------------------------


@dataclass
class Tool:
    name: str
    input: str
    fails: bool = False
    error_kind: str = "is_error"
    duration_ms: int | None = 1000
    subagent: str | None = None
    """The child session key, for a subagent hand-off."""


@dataclass
class Call:
    tools: Sequence[Tool] = ()
    tokens: Tokens = field(default_factory=lambda: Tokens(input=10, cache_read=40_000, output=100))
    after: timedelta = timedelta(seconds=30)
    """Time since the previous call started."""
    model: str = SONNET
    tier: str | None = None


def trace(*calls: Call, key: str = "claude-code:s1", parent: str | None = None, agent: str | None = None) -> Session:
    """A session of model calls, each emitting its tools a second after it, priced at list prices."""
    spans, at = [], T0
    for n, call in enumerate(calls):
        at += call.after if n else timedelta(0)
        llm = Span(f"{key}:c{n}", RunType.LLM, call.model, started_at=at, model=call.model,
                   provider="anthropic" if call.model.startswith("claude") else None, tokens=call.tokens,
                   tier=call.tier)
        spans.append(llm)
        for m, tool in enumerate(call.tools):
            spans.append(Span(
                f"{key}:c{n}:t{m}", RunType.SUBAGENT if tool.subagent else RunType.TOOL, tool.name,
                started_at=at + timedelta(seconds=1), parent_id=llm.span_id, duration_ms=tool.duration_ms,
                status=Status.ERROR if tool.fails else Status.OK, error_kind=tool.error_kind if tool.fails else None,
                tool_name=tool.name, tool_input_hash=hash_tool_input(tool.input), child_session_key=tool.subagent,
            ))
    session = Session(key, Runtime.CLAUDE_CODE, parent_key=parent, agent_name=agent, started_at=T0, ended_at=at,
                      spans=spans)
    PRICES.price_sessions([session])
    return session


def findings(*sessions: Session, **thresholds: object) -> list[Finding]:
    return waste.find(list(sessions), Waste(**thresholds), PRICES)


def calls_cost(session: Session, *indexes: int) -> float:
    by_id = {s.span_id: s for s in session.spans}
    return sum(by_id[f"{session.key}:c{i}"].cost_usd or 0.0 for i in indexes)


def bash(command: str, fails: bool = True) -> Call:
    return Call([Tool("Bash", command, fails=fails, error_kind="exit_code")])


def read(path: str) -> Call:
    return Call([Tool("Read", path)])


def edit(path: str) -> Call:
    return Call([Tool("Edit", path)])


# --- retry loop -------------------------------------------------------------------------------


def test_retry_loop_three_identical_failures() -> None:
    session = trace(read("src/a.py"), bash("pytest -q"), bash("pytest -q"), bash("pytest -q"), bash("pytest -q", False))
    [found] = findings(session)
    assert (found.kind, found.session) == ("retry_loop", "claude-code:s1")
    assert found.span_ids == ("claude-code:s1:c1:t0", "claude-code:s1:c2:t0", "claude-code:s1:c3:t0")
    assert found.cost_usd == pytest.approx(calls_cost(session, 1, 2, 3))
    assert found.avoidable_usd == pytest.approx(calls_cost(session, 2, 3))  # the retries after the first
    digest = hash_tool_input("pytest -q")[:6]
    assert found.evidence == f"`Bash` with input #{digest}… failed 3× in a row (non-zero exit, 10:00–10:01 UTC)"
    assert "pytest" not in found.evidence


def test_retry_loop_other_calls_in_between_do_not_break_the_run() -> None:
    """Reading logs or listing files between the reruns changes nothing the command depends on."""
    session = trace(bash("make"), read("build.log"), bash("make"), Call([Tool("Grep", "error")]), bash("make"))
    [found] = findings(session)
    assert found.kind == "retry_loop" and len(found.span_ids) == 3


@pytest.mark.parametrize(
    ("name", "calls"),
    [
        ("two failures then success", [bash("pytest"), bash("pytest"), bash("pytest", fails=False)]),
        ("three failures, three commands", [bash("pytest a"), bash("pytest b"), bash("pytest c")]),
        ("an edit between the reruns", [bash("pytest"), bash("pytest"), edit("src/a.py"), bash("pytest")]),
        ("a success between", [bash("pytest"), bash("pytest"), bash("pytest", fails=False), bash("pytest")]),
        ("rejected by the user", [Call([Tool("Write", "a.py", fails=True, error_kind="rejected")])] * 3),
    ],
)
def test_retry_loop_near_misses(name: str, calls: list[Call]) -> None:
    assert findings(trace(*calls)) == [], name


def test_retry_loop_threshold_from_config_and_off() -> None:
    session = trace(bash("npm ci"), bash("npm ci"))
    assert findings(session) == []
    assert [f.kind for f in findings(session, retry_loop=2)] == ["retry_loop"]
    assert findings(trace(*[bash("npm ci")] * 6), retry_loop=False) == []


def test_a_failing_edit_loop_suggests_reading_the_file() -> None:
    session = trace(*[Call([Tool("Edit", "src/a.py", fails=True)])] * 3)
    [found] = findings(session)
    assert found.kind == "retry_loop" and found.fix.startswith("Re-read the file")


# --- repeated read ------------------------------------------------------------------------------


def test_repeated_read_five_reads_of_an_unchanged_file() -> None:
    session = trace(*[read("src/a.py")] * 3, edit("src/other.py"), *[read("src/a.py")] * 2)
    [found] = findings(session)
    assert found.kind == "repeated_read" and len(found.span_ids) == 5
    assert found.avoidable_usd == pytest.approx(calls_cost(session, 1, 2, 4, 5))
    assert "`Read` of the same path" in found.evidence and "5× with no edit of it in between" in found.evidence


def test_repeated_read_near_misses() -> None:
    assert findings(trace(*[read("src/a.py")] * 4)) == []
    assert findings(trace(*[read("src/a.py")] * 3, edit("src/a.py"), *[read("src/a.py")] * 2)) == []
    assert findings(trace(*[read(f"src/{n}.py") for n in range(8)])) == []


def test_parallel_tool_calls_share_their_call_cost() -> None:
    """Two reads emitted by one call are charged half of it each, as the by-tool breakdown splits it."""
    both = Call([Tool("Read", "src/a.py"), Tool("Grep", "TODO")])
    session = trace(both, *[read("src/a.py")] * 4)
    [found] = findings(session)
    assert found.cost_usd == pytest.approx(calls_cost(session, 0) / 2 + calls_cost(session, 1, 2, 3, 4))


# --- premium model on routine work ---------------------------------------------------------------


def routine(n: int = 0, model: str = OPUS, output: int = 200, tools: Sequence[Tool] | None = None) -> Call:
    """A call reading one file (file `n`) and writing 200 tokens: 2,000 tokens in."""
    return Call([Tool("Read", f"src/{n}.py")] if tools is None else tools, Tokens(input=2000, output=output), model=model)


def routines(count: int, **kwargs: object) -> list[Call]:
    return [routine(n, **kwargs) for n in range(count)]


def test_model_overkill_on_a_routine_opus_session() -> None:
    session = trace(*routines(6))
    [found] = findings(session)
    assert found.kind == "model_overkill" and len(found.span_ids) == 6
    opus, sonnet = 2000 * 15e-6 + 200 * 75e-6, 2000 * 3e-6 + 200 * 15e-6  # list prices, by hand
    assert found.cost_usd == pytest.approx(6 * opus)
    assert found.avoidable_usd == pytest.approx(6 * (opus - sonnet))
    assert "`claude-sonnet-4-5`" in found.evidence and "all 6 calls" in found.evidence


@pytest.mark.parametrize(
    ("name", "calls"),
    [
        ("not premium", routines(6, model=SONNET)),
        ("too few calls", routines(4)),
        ("one call wrote code", [*routines(5), routine(9, output=3000)]),
        ("one call ran two tools", [*routines(5), routine(tools=[Tool("Read", "a"), Tool("Read", "b")])]),
        ("one call handed off", [*routines(5), routine(tools=[Tool("Task", "x", subagent="claude-code:k")])]),
    ],
)
def test_model_overkill_near_misses(name: str, calls: list[Call]) -> None:
    assert findings(trace(*calls)) == [], name


@pytest.mark.parametrize(
    ("model", "provider", "cheaper"),
    [
        ("claude-opus-4-1-20250805", "anthropic", "claude-sonnet-4-5"),
        ("claude-4.5-opus-high-thinking", None, "claude-sonnet-4-5"),
        ("gpt-5", "openai", "gpt-5-mini"),
        ("gpt-5.1-codex", "openai", "gpt-5.1-codex-mini"),
        ("o3", "openai", "o4-mini"),
        ("gemini-2.5-pro", "google", "gemini-2.5-flash"),
        ("claude-sonnet-4-5-20250929", "anthropic", None),
        ("gpt-5-mini", "openai", None),
        ("gpt-5.1-codex-mini", "openai", None),
        ("gemini-2.5-flash", "google", None),
        ("<synthetic>", None, None),
    ],
)
def test_cheaper_model_of_the_same_provider(model: str, provider: str | None, cheaper: str | None) -> None:
    assert cheaper_model(model, provider) == cheaper


# --- subagent fan-out ----------------------------------------------------------------------------


def fan_out(count: int, *, at_once: bool) -> list[Session]:
    """A main session starting `count` subagents, from one call (at once) or one call each, far apart."""
    children = [trace(Call(tokens=Tokens(input=10_000 * (n + 1))), key=f"claude-code:s1/a{n}", parent="claude-code:s1",
                      agent="Explore" if n % 2 else "general-purpose") for n in range(count)]
    handoffs = [Tool("Task", f"task {n}", duration_ms=60_000, subagent=c.key) for n, c in enumerate(children)]
    calls = [Call(handoffs)] if at_once else [Call([h], after=timedelta(minutes=5)) for h in handoffs]
    return [trace(*calls), *children]


def test_subagent_fanout_seven_at_once() -> None:
    sessions = fan_out(7, at_once=True)
    [found] = findings(*sessions)
    assert found.kind == "subagent_fanout" and len(found.span_ids) == 7
    child_costs = sorted(calls_cost(c, 0) for c in sessions[1:])
    assert found.cost_usd == pytest.approx(sum(child_costs))
    assert found.avoidable_usd == pytest.approx(sum(child_costs[:2]))  # the two cheapest beyond five
    assert found.evidence == ("7 subagents at once (4 general-purpose, 3 Explore; limit 5), 7 in the session; "
                              "the avoidable part is the 2 cheapest of them")


def test_subagent_fanout_by_overlapping_runs_from_separate_calls() -> None:
    children = [trace(Call(), key=f"claude-code:s1/a{n}", parent="claude-code:s1") for n in range(6)]
    calls = [Call([Tool("Task", f"t{n}", duration_ms=600_000, subagent=c.key)], after=timedelta(seconds=20))
             for n, c in enumerate(children)]
    [found] = findings(trace(*calls), *children)
    assert found.kind == "subagent_fanout" and found.evidence.startswith("6 subagents at once")


def test_subagent_fanout_too_many_in_one_session() -> None:
    [found] = findings(*fan_out(12, at_once=False))
    assert found.kind == "subagent_fanout" and len(found.span_ids) == 12
    assert found.evidence.startswith("12 subagents in the session (6 Explore, 6 general-purpose; limit 10), at most 1 at once")


def test_subagent_fanout_near_misses() -> None:
    assert findings(*fan_out(5, at_once=True)) == []
    assert findings(*fan_out(10, at_once=False)) == []


# --- context growth without cache hits -------------------------------------------------------------


def test_context_growth_large_uncached_prompts() -> None:
    session = trace(*[Call(tokens=Tokens(input=150_000, output=100))] * 5)
    [found] = findings(session)
    assert found.kind == "context_growth" and len(found.span_ids) == 4  # the first call has nothing to reuse
    assert found.avoidable_usd == pytest.approx(4 * 150_000 * (3 - 0.3) / 1e6)
    assert found.evidence == "4 calls with prompts over 100,000 tokens (up to 150,000) read 0% of them from the prompt cache"


def test_context_growth_near_misses() -> None:
    cached = Tokens(input=10_000, cache_read=140_000, output=100)
    assert findings(trace(*[Call(tokens=cached)] * 5)) == []
    assert findings(trace(*[Call(tokens=Tokens(input=50_000))] * 5)) == []
    cold = Call(tokens=Tokens(input=150_000), after=timedelta(minutes=10))  # the cache had expired each time
    assert findings(trace(*[cold] * 5)) == []


# --- long-context premium ----------------------------------------------------------------------------


def test_long_context_premium_on_a_prompt_over_200k() -> None:
    session = trace(Call(tokens=Tokens(input=250_000)))
    [found] = findings(session)
    assert found.kind == "long_context_premium"
    assert (found.cost_usd, found.avoidable_usd) == (pytest.approx(250_000 * 6 / 1e6), pytest.approx(250_000 * 3 / 1e6))
    assert found.evidence == ("1 call on `claude-sonnet-4-5` had a prompt of 250k tokens, over 200k, which bills the "
                              "whole request at the long-context rate")
    [twice] = findings(trace(Call(tokens=Tokens(input=250_000)), Call(tokens=Tokens(input=300_000))))
    assert "2 calls on `claude-sonnet-4-5` had prompts over 200k tokens (largest 300k)" in twice.evidence


def test_long_context_premium_near_misses() -> None:
    assert findings(trace(Call(tokens=Tokens(input=190_000)))) == []
    assert findings(trace(Call(tokens=Tokens(input=250_000), model=OPUS))) == []  # no long-context tier
    assert findings(trace(Call(tokens=Tokens(input=250_000))), long_context_premium=2) == []


# --- premium billing tier --------------------------------------------------------------------------


def test_fast_mode_premium_is_what_standard_rates_would_have_saved() -> None:
    """Opus 4.8 fast mode: $10 in / $50 out, twice its standard $5 / $25."""
    fast = Call(tokens=Tokens(input=1000, output=100), model="claude-opus-4-8", tier="fast")
    [found] = findings(trace(fast, fast, Call(tokens=Tokens(input=1000, output=100), model="claude-opus-4-8")))
    assert found.kind == "tier_premium" and found.title == "Premium billing tier"
    assert len(found.span_ids) == 2
    assert (found.cost_usd, found.avoidable_usd) == (pytest.approx(2 * 0.015), pytest.approx(2 * 0.0075))
    assert found.evidence == "2 calls on `claude-opus-4-8` ran in fast mode, 2.0× the standard rates"
    assert "at standard rates these calls cost $0.01" in found.fix


def test_tier_premium_near_misses() -> None:
    fast = Call(tokens=Tokens(input=1000, output=100), model="claude-opus-4-8", tier="fast")
    assert findings(trace(fast), tier_premium=False) == []
    assert findings(trace(fast), tier_premium=2) == []
    # No fast price listed for Opus 4.6: the call is unpriced, so it weighs nothing here.
    assert findings(trace(Call(tokens=Tokens(input=1000, output=100), model="claude-opus-4-6", tier="fast"))) == []


# --- runaway session -----------------------------------------------------------------------------------


def test_runaway_by_active_time() -> None:
    every_ten_minutes = [Call(after=timedelta(minutes=10))] * 55  # nine hours
    session = trace(*every_ten_minutes)
    [found] = findings(session)
    assert found.kind == "runaway_session"
    assert found.span_ids == tuple(f"claude-code:s1:c{n}" for n in range(49, 55))  # after the 8-hour mark
    assert found.avoidable_usd == pytest.approx(calls_cost(session, *range(49, 55)))
    assert found.evidence == "still running after 8h00m of activity: 6 of its 55 model calls came after that point"
    [shorter] = findings(trace(*every_ten_minutes[:31]), runaway_minutes=240)
    assert shorter.span_ids == tuple(f"claude-code:s1:c{n}" for n in range(25, 31))


def test_runaway_by_cost_when_asked() -> None:
    session = trace(*[Call(tokens=Tokens(input=100_000))] * 5)  # $0.30 a call, with a low cache ratio
    found = [f for f in findings(session, runaway_usd=1.0) if f.kind == "runaway_session"]
    assert [f.span_ids for f in found] == [("claude-code:s1:c4",)]
    assert [f for f in findings(session) if f.kind == "runaway_session"] == []  # off by default


def test_resumed_after_a_long_break_pays_the_context_again() -> None:
    warm = Tokens(input=10, cache_read=100_000, output=100)
    cold = Tokens(input=10, cache_write_5m=100_000, output=100)
    session = trace(Call(tokens=warm), Call(tokens=cold, after=timedelta(hours=3)))
    [found] = findings(session)
    assert found.kind == "runaway_session" and found.span_ids == ("claude-code:s1:c1",)
    assert found.avoidable_usd == pytest.approx((100_000 * (3.75 - 0.3) + 10 * (3 - 0.3)) / 1e6)
    assert found.evidence.startswith("resumed after 1 break of 60 min or more (longest 3h00m)")


def test_runaway_near_misses() -> None:
    cold = Tokens(input=10, cache_write_5m=100_000, output=100)
    assert findings(trace(Call(), Call(tokens=cold, after=timedelta(minutes=30)))) == []
    long_test_run = Call([Tool("Bash", "make test", fails=False, duration_ms=3 * 3600_000)])
    assert findings(trace(long_test_run, Call(tokens=cold, after=timedelta(hours=3)))) == []  # busy, not idle
    ten_minutes = Call(after=timedelta(minutes=10))
    with_lunch = [ten_minutes] * 13 + [Call(after=timedelta(hours=2))] + [ten_minutes] * 11
    assert findings(trace(*with_lunch), runaway_minutes=240) == []  # 5h50m of wall clock, 3h50m active


# --- all detectors together ----------------------------------------------------------------------------


def test_findings_are_ordered_by_avoidable_cost_and_small_ones_dropped() -> None:
    loop = trace(*[bash("pytest")] * 3, key="claude-code:loop")
    reads = trace(*[read("a.py")] * 5, key="claude-code:reads")
    overkill = trace(*routines(6), key="claude-code:opus")
    found = findings(loop, reads, overkill)
    assert {f.session for f in found} == {"claude-code:loop", "claude-code:reads", "claude-code:opus"}
    assert [f.avoidable_usd for f in found] == sorted((f.avoidable_usd for f in found), reverse=True)
    top = findings(loop, reads, overkill, min_avoidable_usd=found[1].avoidable_usd + 1e-9)
    assert top == found[:1]


def test_an_unpriced_session_has_no_findings_rather_than_free_ones() -> None:
    session = trace(*[bash("pytest")] * 4)
    for span in session.spans:
        span.cost_usd = None
    assert findings(session) == []


# --- properties: amounts and privacy over arbitrary traces -----------------------------------------------

_TOOLS = st.sampled_from(["Bash", "Read", "Edit", "Write", "Grep", "read_file", "apply_patch", "Task"])
_STEP = st.builds(
    Call,
    tools=st.lists(st.builds(Tool, name=_TOOLS, input=st.sampled_from(["SECRET-a", "SECRET-b", "SECRET-c"]),
                             fails=st.booleans(), duration_ms=st.none() | st.integers(0, 4 * 3600_000)), max_size=3),
    tokens=st.builds(Tokens, input=st.integers(0, 400_000), output=st.integers(0, 5000),
                     cache_read=st.integers(0, 300_000), cache_write_5m=st.integers(0, 100_000)),
    after=st.timedeltas(timedelta(0), timedelta(hours=5)),
    model=st.sampled_from([SONNET, OPUS, "claude-haiku-4-5", "gpt-5", "unknown-model-x"]),
)
_LOOSE = {"retry_loop": 2, "repeated_read": 2, "subagent_fanout": 1, "subagent_total": 1, "context_growth": 1000,
          "model_overkill": 5000, "runaway_minutes": 30, "runaway_usd": 0.5, "runaway_idle_minutes": 6,
          "min_avoidable_usd": 0.0}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=not FUZZ_RANDOM)
@given(st.lists(_STEP, min_size=1, max_size=25))
def test_avoidable_never_exceeds_the_cost_of_the_spans_involved(steps: list[Call]) -> None:
    session = trace(*steps)
    ids = {s.span_id for s in session.spans}
    for found in findings(session, **_LOOSE) + findings(session):
        assert 0 < found.avoidable_usd <= found.cost_usd
        assert found.span_ids and set(found.span_ids) <= ids
        assert "SECRET" not in found.evidence + found.fix  # hashes only, never the input
        assert found.as_dict()["avoidable_usd"] <= found.as_dict()["cost_usd"]


# --- the shared fixtures -----------------------------------------------------------------------------------


def _fixture_sessions(agent_fixtures: Path) -> dict[str, list[Session]]:
    """Every fixture unit of the four adapters, read as `agentspend report` reads it, priced."""
    units = {}
    for agent in ("claude-code", "codex", "opencode", "gemini-cli"):
        for unit in sorted((agent_fixtures / agent).iterdir()):
            sessions = merge(a.read(p) for a, p in adapters.walk(unit)).finish()
            PRICES.price_sessions(sessions)
            units[f"{agent}/{unit.name}"] = sessions
    return units


def test_no_findings_on_the_fixture_sessions(agent_fixtures: Path) -> None:
    """They are short, clean sessions. The nearest misses: fasthooks' two failing Bash calls differ
    in input and fail once each; gemini-cli/codemie reads one file twice; gemini-cli/codemie-more
    pauses 89 minutes, but on gemini-3-pro, which has no price to weigh it with; codex/codemie's
    `019e1695` pauses 50 minutes, under the hour, with no usage recorded."""
    units = _fixture_sessions(agent_fixtures)
    assert sum(len(s) for s in units.values()) > 25
    assert {unit: findings(*sessions) for unit, sessions in units.items() if findings(*sessions)} == {}


LOWERED = {"repeated_read": 2, "context_growth": 15_000, "runaway_idle_minutes": 5, "subagent_fanout": 1,
           "min_avoidable_usd": 0.0}
"""Thresholds far below the defaults, to show each behaviour the fixtures really contain in small."""


def test_fixture_behaviour_found_with_lowered_thresholds(agent_fixtures: Path) -> None:
    units = _fixture_sessions(agent_fixtures)
    found = {(unit, f.kind, f.session.split(":", 1)[1][:8], len(f.span_ids))
             for unit, sessions in units.items() for f in findings(*sessions, **LOWERED)}
    assert found == {
        # read_file of one path at 21:46 and again at 21:48, nothing written to it in between
        ("gemini-cli/codemie", "repeated_read", "5b959dae", 2),
        # gpt-5.5 prompts of 18k-31k tokens, 41% of them read from cache
        ("codex/codemie", "context_growth", "019e1625", 9),
        # the same session paused 5.5 minutes at 08:27-08:33, then re-sent 20k tokens uncached
        ("codex/codemie", "runaway_session", "019e1625", 1),
        # Sonnet calls of 27k-43k tokens after the subagents returned, 16% from cache
        ("claude-code/codemie-session-9eda1058", "context_growth", "9eda1058", 4),
        # Harvey and Leibniz spawned from one call
        ("codex/langsmith-subagents", "subagent_fanout", "019dbc02", 2),
    }


def test_the_demo_sample_holds_the_failing_pytest_loop() -> None:
    sample = Path(__file__).resolve().parent.parent / "bot/samples/claude"
    sessions = merge(a.read(p) for a, p in adapters.walk(sample)).finish()
    PRICES.price_sessions(sessions)
    [found] = findings(*sessions)
    assert found.kind == "retry_loop" and len(found.span_ids) == 3 and found.avoidable_usd > 0.01


# --- thresholds from the config, and where they came from ----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "retry_loop", "source"),
    [
        (None, 3, "defaults (no `waste:` section in `.github/agentspend.yml` on the base branch)"),
        ("budget:\n  pr: 5\n", 3, "defaults (no `waste:` section in `.github/agentspend.yml` on the base branch)"),
        ("waste:\n  retry_loop: 4\n", 4, "`waste:` in `.github/agentspend.yml` on the base branch"),
        ("waste:\n  retry_loop: 1\n", 3,
         "defaults, as `.github/agentspend.yml` line 2: waste.retry_loop must be 2 or more, got 1"),
    ],
)
def test_thresholds_come_from_the_config_or_the_defaults(text: str | None, retry_loop: int, source: str) -> None:
    config = parse(text)
    assert isinstance(config, RepoConfig | ConfigError)
    thresholds, where = waste.thresholds(config, "on the base branch")
    assert (thresholds.retry_loop, where) == (retry_loop, source)


# --- what people read -------------------------------------------------------------------------------------


def _report_with_findings() -> build.Report:
    sessions = [
        trace(*[bash("pytest -q")] * 4, bash("pytest -q", False), key="claude-code:loop"),
        trace(*[read("src/a.py")] * 6, key="claude-code:reads"),
        trace(*routines(6), key="claude-code:opus"),
        trace(Call(), Call(tokens=Tokens(input=10, cache_write_5m=150_000), after=timedelta(hours=9)), key="claude-code:idle"),
        trace(Call(tokens=Tokens(input=240_000, output=900)), key="claude-code:long"),
    ]
    report = build.build(sessions, "genai-prices (test)")
    thresholds, report.waste_thresholds = waste.thresholds(parse("waste:\n  retry_loop: 3\n"), "on the base branch")
    report.findings = waste.find(sessions, thresholds, PRICES)
    return report


def test_comment_shows_the_top_three_and_counts_the_rest(golden: Callable[[str, object], None]) -> None:
    report = _report_with_findings()
    assert len(report.findings) == 5
    verdict = budget.evaluate(report, RepoConfig(), [], [])
    text = render.comment(report, marker="<!-- agentspend:v1 -->", verdict=verdict, approvals=[])
    top, rest = report.findings[:3], report.findings[3:]
    assert all(f.evidence in text for f in top) and not any(f.evidence in text for f in rest)
    assert "…and 2 more in the check run." in text
    golden("comment/findings.md", text)


def test_check_run_lists_every_finding(golden: Callable[[str, object], None]) -> None:
    report = _report_with_findings()
    verdict = budget.evaluate(report, RepoConfig(), [], [])
    summary = render.check_output(report, verdict).summary
    assert all(f.evidence in summary and f.fix in summary for f in report.findings)
    golden("check/findings.md", summary)


def test_json_report_carries_every_finding() -> None:
    report = _report_with_findings()
    data = json.loads(render.as_json(report))
    assert [f["kind"] for f in data["findings"]] == [f.kind for f in report.findings]
    assert set(data["findings"][0]) == {"kind", "session", "span_ids", "cost_usd", "avoidable_usd", "evidence", "fix"}
    assert data["waste_thresholds"] == "`waste:` in `.github/agentspend.yml` on the base branch"


def test_a_check_summary_with_too_many_findings_stays_under_the_limit() -> None:
    report = _report_with_findings()
    report.findings = report.findings * 400
    verdict = budget.evaluate(report, RepoConfig(), [], [])
    summary = render.check_output(report, verdict).summary
    assert len(summary) <= render.CHECK_SUMMARY_LIMIT
    assert summary.rstrip().endswith("</sub>") and "more in the JSON report (too many to list here)" in summary


def test_overlapping_findings_never_add_up_to_more_than_was_spent() -> None:
    """A retry loop after a session passed its runaway limit is claimed by both findings."""
    session = trace(*[bash("pytest")] * 6)
    report = build.build([session], "test prices")
    report.findings = findings(session, runaway_usd=0.001)
    assert {f.kind for f in report.findings} == {"runaway_session", "retry_loop"}
    assert sum(f.avoidable_usd for f in report.findings) > report.total.cost_usd
    assert report.avoidable_usd == report.total.cost_usd

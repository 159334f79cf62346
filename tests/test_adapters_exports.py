"""Cursor usage CSV, LangSmith runs, Copilot CLI sessions and telemetry files: goldens, the facts of
the shared fixtures, and reconciliation of the cost a tool reports against ours."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot import adapters, wire
from bot.adapters import copilot_cli, cursor_csv, langsmith, otlp
from bot.corpus import merge
from bot.pricing import PriceBook
from bot.report.build import build
from bot.report.render import comment
from bot.trace import Session

UNITS = {
    "cursor-csv/kind-format": "cursor/usage-csv/tokscale-cursor-rs-kind-format.csv",
    "cursor-csv/legacy-format": "cursor/usage-csv/tokscale-cursor-rs-legacy-format.csv",
    "cursor-csv/cloud-agent-format": "cursor/usage-csv/p-dev-harness-runner-sample-usage.csv",
    "langsmith/reasoning": "langsmith/sdk-recorded-runs/langsmith_py_wrap_openai_reasoning.json",
    "langsmith/stream-no-usage": "langsmith/sdk-recorded-runs/langsmith_py_wrap_openai_stream_no_usage.json",
    "copilot-cli/small": "copilot-cli/agent-sessions/small.jsonl",
    "copilot-cli/session-state": "copilot-cli/agent-sessions/session-state/aaaabbbb-1111-2222-3333-ccccddddeeee/events.jsonl",
    "copilot-cli/large": "copilot-cli/agent-sessions-more/large.jsonl",
    "copilot-cli/schema-drift": "copilot-cli/agent-sessions-more/schema_drift.jsonl",
    "otlp/claude-code-events": "otel/claude-code/codemie-otel-events.sample.jsonl",
}


def _read(agent_fixtures: Path, rel: str) -> list[Session]:
    path = agent_fixtures / rel
    adapter = adapters.identify(path)
    assert adapter is not None, rel
    sessions = adapter.read(path).sessions
    for session in sessions:  # golden files must not depend on where the checkout lives
        session.source = str(Path(session.source).relative_to(agent_fixtures))
    return sessions


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_golden(agent_fixtures: Path, golden: Callable[[str, object], None], unit: str) -> None:
    golden(f"adapters/{unit}.json", wire.to_builtins(_read(agent_fixtures, UNITS[unit])))


def test_each_file_has_one_owner(agent_fixtures: Path) -> None:
    owners = {str(path.relative_to(agent_fixtures)): adapter.name for adapter, path in adapters.walk(agent_fixtures)}
    for unit, rel in UNITS.items():
        assert owners[rel] == unit.partition("/")[0]
    assert "langsmith/coding-agent-v1/worked-examples.json" not in owners  # metadata examples, not runs


# -- Cursor -----------------------------------------------------------------------------------


def test_cursor_columns_by_name_and_cost_words(agent_fixtures: Path) -> None:
    [session] = _read(agent_fixtures, UNITS["cursor-csv/kind-format"])
    auto, codex = sorted(session.spans, key=lambda s: s.model)
    assert codex.tokens.as_dict() == {"input": 8263, "cache_read": 66964, "cache_write": 0, "output": 1612, "reasoning": 0}
    assert auto.tokens.total == 156290 and auto.tokens.cache_write == 28342  # Total = the four disjoint columns
    assert (auto.reported_cost_usd, codex.reported_cost_usd) == (0.19, 0.03)
    legacy = _read(agent_fixtures, UNITS["cursor-csv/legacy-format"])
    assert [s.spans[0].reported_cost_usd for s in legacy] == [0.10, 0.05]  # `$0.10`
    [included] = _read(agent_fixtures, UNITS["cursor-csv/cloud-agent-format"])
    assert {s.reported_cost_usd for s in included.spans} == {None}  # `Included` is not $0


def test_cursor_reexport_lands_on_the_same_calls(agent_fixtures: Path, tmp_path: Path) -> None:
    source = (agent_fixtures / UNITS["cursor-csv/kind-format"]).read_text()
    first, second = tmp_path / "usage-nov.csv", tmp_path / "usage-nov-again.csv"
    first.write_text(source)
    second.write_text(source.replace("\n", "\r\n"))
    sessions = merge([cursor_csv.ADAPTER.read(first), cursor_csv.ADAPTER.read(second)]).finish()
    assert [len(s.spans) for s in sessions] == [2]


# -- LangSmith --------------------------------------------------------------------------------


def test_langsmith_post_and_patch_merge(agent_fixtures: Path) -> None:
    [session] = _read(agent_fixtures, UNITS["langsmith/reasoning"])
    [call] = session.spans
    assert call.model == "o1-mini" and call.provider == "openai"
    assert call.tokens.as_dict() == {"input": 43, "cache_read": 0, "cache_write": 0, "output": 2497, "reasoning": 1408}
    assert call.duration_ms == 15138
    [unknown] = _read(agent_fixtures, UNITS["langsmith/stream-no-usage"])[0].spans
    assert unknown.tokens is None  # usage unknown, not zero


def test_langsmith_batch_whose_post_or_patch_is_not_a_list_is_counted(tmp_path: Path) -> None:
    """A batch body with `"post": true` (found by the fuzz test) keeps its other half's runs and
    counts the bad half, instead of failing the whole read."""
    run = {"id": "r1", "trace_id": "t", "run_type": "llm", "name": "gpt", "start_time": "2026-01-01T10:00:00Z",
           "outputs": {"usage_metadata": {"input_tokens": 10, "output_tokens": 5}}}
    batch = tmp_path / "batch.json"
    batch.write_text(__import__("json").dumps({"post": True, "patch": [run]}))
    result = langsmith.ADAPTER.read(batch)
    assert [span.span_id for session in result.sessions for span in session.spans] == ["deepagents:run:r1"]
    assert result.skipped == {"bad_record": 1}


def test_langsmith_coding_agent_metadata(tmp_path: Path) -> None:
    """coding-agent-v1: session `<ls_integration>:<thread_id>`, subagents apart, git metadata, inclusive input."""
    identity = {"ls_integration": "claude-code", "thread_id": "sess_7f3c", "repository_url": "https://github.com/acme/widgets",
                "git_branch": "main", "git_commit_sha": "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0", "ls_agent_type": "root"}
    usage = {"input_tokens": 12873, "output_tokens": 412, "input_token_details": {"cache_read": 10000, "cache_creation": 800}}
    runs = [
        {"id": "r1", "trace_id": "t", "run_type": "chain", "name": "turn", "start_time": "2026-01-01T10:00:00Z",
         "extra": {"metadata": identity}, "outputs": {"usage_metadata": {"input_tokens": 99999}}},
        {"id": "r2", "trace_id": "t", "parent_run_id": "r1", "run_type": "llm", "name": "claude",
         "start_time": "2026-01-01T10:00:01Z", "extra": {"metadata": identity | {
             "ls_provider": "anthropic", "ls_model_name": "claude-sonnet-4-5"}}, "outputs": {"usage_metadata": usage}},
        {"id": "r3", "trace_id": "t", "run_type": "llm", "start_time": "2026-01-01T10:00:02Z", "extra": {"metadata": identity | {
            "ls_agent_type": "subagent", "ls_subagent_id": "toolu_9", "ls_subagent_type": "Explore",
            "ls_model_name": "claude-haiku-4-5"}}, "outputs": {"usage_metadata": {"input_tokens": 10, "output_tokens": 5}}},
        {"id": "r4", "trace_id": "t", "run_type": "tool", "name": "Bash", "start_time": "2026-01-01T10:00:03Z",
         "error": "exit 1", "extra": {"metadata": identity | {"ls_tool_name": "Bash"}}},
    ]
    export = tmp_path / "runs.jsonl"
    export.write_text("".join(__import__("json").dumps(r) + "\n" for r in runs))
    assert adapters.identify(export) is langsmith.ADAPTER
    sessions = {s.key: s for s in langsmith.ADAPTER.read(export).sessions}
    root, child = sessions["claude-code:sess_7f3c"], sessions["claude-code:sess_7f3c/toolu_9"]
    assert (root.repo, root.branch, root.commits) == ("acme/widgets", "main", ["a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0"])
    [call, tool] = sorted(root.spans, key=lambda s: s.run_type)  # the chain's total is not a call
    assert call.tokens.as_dict() == {"input": 2073, "cache_read": 10000, "cache_write": 800, "output": 412, "reasoning": 0}
    assert (tool.tool_name, tool.status) == ("Bash", "error")
    assert (child.parent_key, child.agent_name, child.spans[0].tokens.total) == ("claude-code:sess_7f3c", "Explore", 15)
    assert call.origin == "telemetry"  # a Claude Code session's own transcript, when present, wins


# -- Copilot CLI ------------------------------------------------------------------------------


def test_copilot_cli_session_totals_and_context(agent_fixtures: Path) -> None:
    [small] = _read(agent_fixtures, UNITS["copilot-cli/small"])
    assert (small.repo, small.branch, small.cwd) == ("example/repo", "main", "/tmp/repo")
    [total] = [s for s in small.spans if s.run_type == "llm"]
    # shutdown tokenDetails: input 100 includes the 5 cached (OpenAI-style)
    assert total.tokens.as_dict() == {"input": 95, "cache_read": 5, "cache_write": 0, "output": 15, "reasoning": 0}
    assert total.reported_cost_usd == pytest.approx(3236385000 / 1e9 * 0.01)
    [drift] = _read(agent_fixtures, UNITS["copilot-cli/schema-drift"])
    [per_model] = [s for s in drift.spans if s.run_type == "llm"]
    assert (per_model.model, per_model.tokens.input, per_model.tokens.cache_read) == ("gpt-4.1", 200, 800)
    [running] = _read(agent_fixtures, UNITS["copilot-cli/large"])  # no shutdown yet: usage unknown per reply
    assert [s.tokens for s in running.spans if s.run_type == "llm"] == [None] * 4


# -- reconciliation ---------------------------------------------------------------------------


def test_reported_cost_beside_ours_flags_over_one_percent(agent_fixtures: Path) -> None:
    sessions = merge([cursor_csv.ADAPTER.read(agent_fixtures / UNITS["cursor-csv/kind-format"])]).finish()
    PriceBook.load(None).price_sessions(sessions)
    report = build(sessions, "test prices")
    [summary] = report.sessions
    # gpt-5-codex at list price: 8263 × $1.25 + 66964 × $0.125 + 1612 × $10 per MTok; `auto` has no price
    ours = (8263 * 1.25 + 66964 * 0.125 + 1612 * 10) / 1e6
    assert summary.reported_compared_usd == pytest.approx((0.03, ours))
    assert summary.reported_mismatch and summary.as_dict()["reported_difference_pct"] == pytest.approx(
        round(100 * (ours - 0.03) / 0.03, 2))
    assert summary.reported_cost_usd == pytest.approx(0.22)  # both rows, beside ours
    text = comment(report)
    assert "(reported $0.22 ⚠️)" in text
    assert "the tool reported $0.03, list prices give $0.03 for the same calls (+16.1 %)" in text


def test_matching_reported_cost_is_not_flagged(agent_fixtures: Path) -> None:
    sessions = merge([otlp.ADAPTER.read(agent_fixtures / UNITS["otlp/claude-code-events"])]).finish()
    PriceBook.load(None).price_sessions(sessions)
    for session in sessions:
        for span in session.spans:
            if span.cost_usd is not None:
                span.reported_cost_usd = span.cost_usd * 1.005  # within 1 %
    report = build(sessions, "test prices")
    assert not any(s.reported_mismatch for s in report.sessions)
    assert "Reported cost differs" not in comment(report)


def test_copilot_cli_adapter_is_registered() -> None:
    assert adapters.by_name("copilot-cli") is copilot_cli.ADAPTER


def test_the_registry_asks_only_adapters_that_may_claim_a_path(agent_fixtures: Path) -> None:
    """Asking only the adapters whose suffixes (or directory claim) fit gives, on every file and
    directory of the shared fixtures, the answer of asking every adapter, refusals included."""

    def asking_everyone(path: Path) -> str | None:
        head = adapters._head(path) if path.is_file() else b""
        claimed = [adapter.name for adapter in adapters.ADAPTERS if adapter.identify(path, head)]
        return "several" if len(claimed) > 1 else (claimed[0] if claimed else None)

    def registry(path: Path) -> str | None:
        try:
            found = adapters.identify(path)
        except adapters.FormatError:
            return "several"
        return found.name if found else None

    paths = [agent_fixtures, *sorted(agent_fixtures.rglob("*"))]
    answers = {str(path): registry(path) for path in paths}
    assert answers == {str(path): asking_everyone(path) for path in paths}
    claimed = {name for name in answers.values() if name}
    assert {"claude-code", "codex", "opencode", "gemini-cli", "cursor-csv", "langsmith", "copilot-cli", "otlp"} <= claimed

"""The Claude Code transcript adapter against the shared fixtures: golden output, token facts, traps."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from bot import wire
from bot.adapters.base import HEAD_BYTES, Cursor, ParseResult
from bot.adapters.claude_code import ADAPTER
from bot.corpus import merge
from bot.trace import RunType, Session, Span, Status, Tokens, hash_tool_input

CC = "claude-code"
FASTHOOKS_MAIN = f"{CC}/fasthooks/sample_main_transcript.jsonl"
FASTHOOKS_SIDECHAIN = f"{CC}/fasthooks/sample_agent_sidechain.jsonl"
LEGACY_DIR = f"{CC}/codemie-legacy-agent-files/projects/-tmp-private"
LEGACY_MAIN = f"{LEGACY_DIR}/4c2ddfdc-b619-4525-8d03-1950fb1b0257.jsonl"
LEGACY_AGENT = f"{LEGACY_DIR}/agent-36541525.jsonl"
LEGACY_CONVERSE = f"{LEGACY_DIR}/agent-50243ee8.jsonl"
INCREMENTAL = f"{CC}/codemie-incremental-subagents"
TURN_1 = f"{INCREMENTAL}/turn-1.jsonl"
TURN_2 = f"{INCREMENTAL}/turn-2.jsonl"
TURN_1_AGENT = f"{INCREMENTAL}/turn-1/subagents/agent-a485154.jsonl"
SESSION_9EDA = f"{CC}/codemie-session-9eda1058/session-9eda1058.jsonl"
LAYOUT = f"{CC}/agent-sessions-subagent-layout"
LAYOUT_MAIN = f"{LAYOUT}/0a1b2c3d-4e5f-4061-8071-2a3b4c5d6e7f.jsonl"
LAYOUT_AGENT = f"{LAYOUT}/0a1b2c3d-4e5f-4061-8071-2a3b4c5d6e7f/subagents/agent-a0ad4f44468bdf20d.jsonl"

UNITS = {
    "fasthooks": f"{CC}/fasthooks",
    "codemie-legacy-agent-files": f"{CC}/codemie-legacy-agent-files",
    "codemie-incremental-subagents": INCREMENTAL,
    "codemie-session-9eda1058": f"{CC}/codemie-session-9eda1058",
    "agent-sessions-subagent-layout": LAYOUT,
}
"""Golden name → fixture folder whose transcripts are read together."""

ALL_FILES = [
    FASTHOOKS_MAIN, FASTHOOKS_SIDECHAIN, LEGACY_MAIN, LEGACY_AGENT, LEGACY_CONVERSE,
    TURN_1, TURN_2, TURN_1_AGENT, SESSION_9EDA, LAYOUT_MAIN, LAYOUT_AGENT,
]

SID = "11111111-2222-4333-8444-555555555555"
MODEL = "claude-sonnet-4-5-20250929"


# -- helpers -------------------------------------------------------------------------------------


def _files(root: Path, rel: str) -> list[Path]:
    path = root / rel
    return sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]


def _finish(results: Iterable[ParseResult]) -> list[Session]:
    return sorted(merge(results).finish(), key=lambda s: s.key)


def _read(root: Path, *rels: str) -> list[Session]:
    return _finish(ADAPTER.read(path) for rel in rels for path in _files(root, rel))


def _one(root: Path, *rels: str) -> Session:
    (session,) = _read(root, *rels)
    return session


def _spans(session: Session, run_type: RunType) -> list[Span]:
    return [span for span in session.spans if span.run_type is run_type]


def _total(session: Session) -> Tokens:
    total = Tokens()
    for span in _spans(session, RunType.LLM):
        assert span.tokens is not None, span
        total = total + span.tokens
    return total


def _usage(inp: int, out: int, read: int = 0, write: int | None = None, **extra: Any) -> dict[str, Any]:
    usage: dict[str, Any] = {"input_tokens": inp, "output_tokens": out, "cache_read_input_tokens": read}
    if write is not None:
        usage["cache_creation_input_tokens"] = write
    return usage | extra


def _assistant(
    uuid: str, ts: str, mid: str, usage: Any, *blocks: dict[str, Any], request: str | None = "req_1",
    model: str = MODEL, **extra: Any,
) -> dict[str, Any]:
    message = {
        "id": mid, "type": "message", "role": "assistant", "model": model, "content": list(blocks), "usage": usage,
    }
    line = {"parentUuid": None, "isSidechain": False, "cwd": "/w", "sessionId": SID, "gitBranch": "main",
            "type": "assistant", "message": message, "uuid": uuid, "timestamp": ts}
    if request is not None:
        line["requestId"] = request
    return line | extra


def _user(uuid: str, ts: str, content: Any, **extra: Any) -> dict[str, Any]:
    line = {"parentUuid": None, "isSidechain": False, "cwd": "/w", "sessionId": SID, "gitBranch": "main",
            "type": "user", "message": {"role": "user", "content": content}, "uuid": uuid, "timestamp": ts}
    return line | extra


def _tool_use(tool_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": arguments}


def _result(tool_id: str, error: bool | None = None) -> dict[str, Any]:
    block = {"type": "tool_result", "tool_use_id": tool_id, "content": "tool said something"}
    return block if error is None else block | {"is_error": error}


def _json(record: Any) -> bytes:
    """Compact, as Claude Code writes it."""
    return json.dumps(record, separators=(",", ":")).encode()


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(_json(r) + b"\n" for r in records))
    return path


def _read_files(*paths: Path) -> list[Session]:
    return _finish(ADAPTER.read(path) for path in paths)


# -- golden output and fixture facts -----------------------------------------------------------


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_golden(agent_fixtures: Path, golden: Callable[[str, object], None], unit: str) -> None:
    sessions = _read(agent_fixtures, UNITS[unit])
    for session in sessions:  # golden files must not depend on where the checkout lives
        session.source = str(Path(session.source).relative_to(agent_fixtures))
    golden(f"adapters/claude-code/{unit}.json", wire.to_builtins(sessions))


@pytest.mark.parametrize(
    ("rel", "input_tokens", "output", "cache_read", "cache_write"),
    [
        (FASTHOOKS_MAIN, 132, 1480, 223265, 8467),
        (LEGACY_MAIN, 33, 806, 214627, 37172),
        (TURN_2, 537, 10099, 223343, 157962),
        (SESSION_9EDA, 47, 4509, 22912, 147267),
        (FASTHOOKS_SIDECHAIN, 728, 152, 0, 0),
    ],
)
def test_facts(
    agent_fixtures: Path, rel: str, input_tokens: int, output: int, cache_read: int, cache_write: int
) -> None:
    """SOURCES.md: one call per message.id, the copy with the largest usage."""
    total = _total(_one(agent_fixtures, rel))
    assert total.as_dict() == {
        "input": input_tokens, "output": output, "cache_read": cache_read, "cache_write": cache_write, "reasoning": 0,
    }
    assert total.cache_write_1h == 0  # every fixture write is a 5-minute one


def test_a_session_read_twice_as_it_grew_counts_once(agent_fixtures: Path) -> None:
    """turn-1.jsonl ⊂ turn-2.jsonl: one session at two times gives turn-2's totals, not the sum."""
    early = _one(agent_fixtures, TURN_1)
    both = _one(agent_fixtures, TURN_1, TURN_2)
    later = _one(agent_fixtures, TURN_2)
    assert early.key == both.key == later.key == "claude-code:e9fb405b-169f-40eb-9396-7e75076f045d"
    assert _total(both) == _total(later) and _total(early).output < _total(later).output
    assert len(_spans(both, RunType.LLM)) == 11


# -- traps from docs/agent-formats.md ----------------------------------------------------------


def test_trap_streamed_copies_keep_the_largest_not_the_first(agent_fixtures: Path) -> None:
    """28 assistant lines, 12 message ids; the first copies' output sums to 40, the last to 1480."""
    session = _one(agent_fixtures, FASTHOOKS_MAIN)
    calls = _spans(session, RunType.LLM)
    assert len(calls) == 12
    assert len({span.span_id for span in calls}) == 12
    assert sorted(span.tokens.output for span in calls)[-3:] == [228, 231, 993]


def test_tool_uses_are_collected_from_every_streamed_copy(agent_fixtures: Path) -> None:
    """msg_01WMh3… streams one block per line: thinking, Read, Bash, Bash — three tools, one call."""
    session = _one(agent_fixtures, FASTHOOKS_MAIN)
    parent = "claude-code:msg_01WMh3eZ1wBMUSJpiqpPxEy4"
    children = [s.tool_name for s in _spans(session, RunType.TOOL) if s.parent_id == parent]
    assert children == ["Read", "Bash", "Bash"]
    assert len(_spans(session, RunType.TOOL)) == 10


def test_message_id_alone_names_a_call_replayed_under_a_new_request(tmp_path: Path) -> None:
    """ccusage keys calls on message.id + requestId; a resumed session replays a message under a
    new requestId, which is still the same (already billed) call, so the span id is message.id alone."""
    original = _write(tmp_path / f"{SID}.jsonl", [
        _assistant("a1", "2026-05-01T10:00:01.000Z", "msg_1", _usage(10, 2, 100, 50), request="req_1"),
        _assistant("a2", "2026-05-01T10:00:02.000Z", "msg_1", _usage(10, 80, 100, 50), request="req_1"),
    ])
    resumed_sid = "99999999-2222-4333-8444-555555555555"
    resumed = _write(tmp_path / f"{resumed_sid}.jsonl", [
        _assistant("b1", "2026-05-01T11:00:00.000Z", "msg_1", _usage(10, 80, 100, 50), request="req_9",
                   sessionId=resumed_sid, isSidechain=True),
        _assistant("b2", "2026-05-01T11:00:05.000Z", "msg_2", _usage(5, 7), request="req_10", sessionId=resumed_sid),
    ])
    sessions = _read_files(resumed, original)
    spans = {s.span_id: (session.key, s) for session in sessions for s in _spans(session, RunType.LLM)}
    assert sorted(spans) == ["claude-code:msg_1", "claude-code:msg_2"]
    owner, call = spans["claude-code:msg_1"]
    assert owner == f"claude-code:{SID}" and not call.sidechain  # the original wins over the replay
    assert sum((s.tokens for _, s in spans.values()), Tokens()).output == 87


def test_sidechain_copy_in_a_main_file_yields_to_the_subagent_file(tmp_path: Path) -> None:
    """A main file's isSidechain line is a replay: the subagent file's copy is the billed call."""
    agent_line = {"isSidechain": True, "agentId": "abc123"}
    main = _write(tmp_path / "projects" / "-w" / f"{SID}.jsonl", [
        _assistant("m1", "2026-05-01T10:00:00.000Z", "msg_main", _usage(1, 1)),
        _assistant("s1", "2026-05-01T10:00:01.000Z", "msg_sub", _usage(3, 4), **agent_line),
    ])
    agent = _write(tmp_path / "projects" / "-w" / SID / "subagents" / "agent-abc123.jsonl", [
        _user("u1", "2026-05-01T10:00:00.500Z", "do the search", **agent_line),
        _assistant("s1", "2026-05-01T10:00:01.000Z", "msg_sub", _usage(3, 40), **agent_line),
    ])
    for order in ((main, agent), (agent, main)):
        parent, child = _read_files(*order)
        assert (parent.key, child.key) == (f"claude-code:{SID}", f"claude-code:{SID}/abc123")
        assert child.parent_key == parent.key
        assert [s.span_id for s in _spans(parent, RunType.LLM)] == ["claude-code:msg_main"]
        (call,) = _spans(child, RunType.LLM)
        assert (call.span_id, call.sidechain, call.tokens.output) == ("claude-code:msg_sub", False, 40)


def test_interleaved_sidechain_lines_alone_still_count_once(tmp_path: Path) -> None:
    """Old builds kept subagent lines only in the main file: flagged, but nothing else holds them."""
    main = _write(tmp_path / f"{SID}.jsonl", [
        _assistant("m1", "2026-05-01T10:00:00.000Z", "msg_main", _usage(1, 1)),
        _assistant("s1", "2026-05-01T10:00:02.000Z", "msg_side", _usage(3, 4), isSidechain=True),
        _assistant("m2", "2026-05-01T10:00:01.000Z", "msg_next", _usage(2, 2)),
    ])
    session = _one(tmp_path, main.name)
    assert [(s.span_id, s.sidechain) for s in _spans(session, RunType.LLM)] == [
        ("claude-code:msg_main", False), ("claude-code:msg_next", False), ("claude-code:msg_side", True),
    ]
    assert _total(session).input == 6
    assert session.ended_at.isoformat() == "2026-05-01T10:00:02+00:00"  # lines out of order


def test_cache_writes_split_by_ttl(tmp_path: Path) -> None:
    split = {"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 700}
    path = _write(tmp_path / f"{SID}.jsonl", [
        _assistant("a1", "2026-05-01T10:00:00.000Z", "msg_split", _usage(1, 2, 3, 1000, cache_creation=split)),
        _assistant("a2", "2026-05-01T10:00:01.000Z", "msg_total", _usage(1, 2, 3, 500)),
        _assistant("a3", "2026-05-01T10:00:02.000Z", "msg_bare", {"input_tokens": 9, "output_tokens": 4}),
    ])
    calls = {s.span_id: s.tokens for s in _spans(_one(tmp_path, path.name), RunType.LLM)}
    assert (calls["claude-code:msg_split"].cache_write_5m, calls["claude-code:msg_split"].cache_write_1h) == (300, 700)
    assert (calls["claude-code:msg_total"].cache_write_5m, calls["claude-code:msg_total"].cache_write_1h) == (500, 0)
    assert calls["claude-code:msg_bare"] == Tokens(input=9, output=4)


def test_fast_mode_is_the_calls_tier(tmp_path: Path) -> None:
    """`usage.speed` says whether a call ran in fast mode (billed at its own rates); the tier
    goes with the copy whose usage is kept, as a streamed placeholder may not say it yet."""
    path = _write(tmp_path / f"{SID}.jsonl", [
        _assistant("a1", "2026-05-01T10:00:00.000Z", "msg_fast", _usage(1, 2, 3, speed="fast")),
        _assistant("a2", "2026-05-01T10:00:01.000Z", "msg_std", _usage(1, 2, 3, speed="standard")),
        _assistant("a3", "2026-05-01T10:00:02.000Z", "msg_streamed", _usage(1, 1)),
        _assistant("a4", "2026-05-01T10:00:02.500Z", "msg_streamed", _usage(1, 90, speed="fast")),
        _assistant("a5", "2026-05-01T10:00:03.000Z", "msg_odd", _usage(1, 2, speed=7)),
    ])
    tiers = {s.span_id: s.tier for s in _spans(_one(tmp_path, path.name), RunType.LLM)}
    assert tiers == {
        "claude-code:msg_fast": "fast", "claude-code:msg_std": None, "claude-code:msg_streamed": "fast",
        "claude-code:msg_odd": None,
    }


def test_server_side_compaction_is_billed_beside_the_reply(tmp_path: Path) -> None:
    """Where ccusage 20 is wrong: the API's top-level usage of a compacted request counts the
    reply only; the `compaction` iteration (the summarizing pass over the whole conversation,
    billed at the same model's rates) is listed in `usage.iterations` alone."""
    compaction = {"type": "compaction", **_usage(180_000, 3500, 0, 2000)}
    reply = {"type": "message", **_usage(23_000, 1000)}
    path = _write(tmp_path / f"{SID}.jsonl", [
        _assistant("a1", "2026-05-01T10:00:00.000Z", "msg_both", _usage(23_000, 1000, iterations=[compaction, reply])),
        _assistant("a2", "2026-05-01T10:00:01.000Z", "msg_paused", _usage(0, 0, iterations=[compaction])),
        _assistant("a3", "2026-05-01T10:00:02.000Z", "msg_plain", _usage(5, 6, iterations=[{"type": "message"}])),
        _assistant("a4", "2026-05-01T10:00:03.000Z", "msg_odd",
                   _usage(5, 6, iterations=["x", {"type": "compaction", "input_tokens": -1}])),
    ])
    result = ADAPTER.read(path)
    calls = {s.span_id: s.tokens for s in _spans(_one(tmp_path, path.name), RunType.LLM)}
    assert calls["claude-code:msg_both"] == Tokens(input=203_000, output=4500, cache_write_5m=2000)
    assert calls["claude-code:msg_paused"] == Tokens(input=180_000, output=3500, cache_write_5m=2000)
    assert calls["claude-code:msg_plain"] == Tokens(input=5, output=6)
    assert calls["claude-code:msg_odd"] == Tokens(input=5, output=6)  # the bad entry is counted, the reply kept
    assert result.skipped == {"bad_usage": 1}


def test_web_searches_of_a_call(tmp_path: Path) -> None:
    """`server_tool_use.web_search_requests`, billed per search; taken with the usage kept."""
    def tools(**counts: object) -> dict[str, object]:
        return {"server_tool_use": counts}

    path = _write(tmp_path / f"{SID}.jsonl", [
        _assistant("a1", "2026-05-01T10:00:00.000Z", "msg_s", _usage(1, 1)),
        _assistant("a2", "2026-05-01T10:00:01.000Z", "msg_s", _usage(1, 90, **tools(web_search_requests=4))),
        _assistant("a3", "2026-05-01T10:00:02.000Z", "msg_none", _usage(1, 2, **tools(web_fetch_requests=2))),
        _assistant("a4", "2026-05-01T10:00:03.000Z", "msg_bad", _usage(1, 2, **tools(web_search_requests="x"))),
    ])
    result = ADAPTER.read(path)
    searches = {s.span_id: s.web_searches for s in _spans(_one(tmp_path, path.name), RunType.LLM)}
    assert searches == {"claude-code:msg_s": 4, "claude-code:msg_none": 0, "claude-code:msg_bad": 0}
    assert result.skipped == {"bad_web_search_count": 1}


def test_missing_cache_keys_are_zero_not_an_error(agent_fixtures: Path) -> None:
    """agent-50243ee8 has only input/output tokens, and a Bedrock Converse model id."""
    result = ADAPTER.read(agent_fixtures / LEGACY_CONVERSE)
    assert not result.skipped
    (call,) = _spans(result.sessions[0], RunType.LLM)
    assert call.tokens == Tokens(input=16878, output=237)
    assert (call.model, call.provider) == ("converse/jp.anthropic.claude-haiku-4-5-20251001-v1:0", "bedrock")


@pytest.mark.parametrize(
    ("mid", "model", "provider"),
    [
        ("msg_01abc", "claude-opus-4-5-20251101", "anthropic"),
        ("msg_bdrk_01abc", "claude-sonnet-4-5-20250929", "bedrock"),
        ("msg_01abc", "us.anthropic.claude-sonnet-4-20250514-v1:0", "bedrock"),
        ("msg_01abc", "converse/jp.anthropic.claude-haiku-4-5-20251001-v1:0", "bedrock"),
        ("msg_vrtx_01abc", "claude-sonnet-4-5", "vertex"),
        ("msg_01abc", "claude-sonnet-4@20250514", "vertex"),
        ("msg_01abc", "glm-4.6", None),
    ],
)
def test_provider_from_ids(tmp_path: Path, mid: str, model: str, provider: str | None) -> None:
    line = _assistant("a1", "2026-05-01T10:00:00.000Z", mid, _usage(1, 1), model=model)
    path = _write(tmp_path / f"{SID}.jsonl", [line])
    (call,) = _spans(_one(tmp_path, path.name), RunType.LLM)
    assert (call.model, call.provider) == (model, provider)


def test_synthetic_messages_are_not_calls(tmp_path: Path) -> None:
    """`<synthetic>` lines are client-side errors with zero usage: no span, and nothing counted."""
    path = _write(tmp_path / f"{SID}.jsonl", [
        _assistant("a1", "2026-05-01T10:00:00.000Z", "msg_err", _usage(0, 0), {"type": "text", "text": "API Error"},
                   model="<synthetic>", isApiErrorMessage=True),
        _assistant("a2", "2026-05-01T10:00:01.000Z", "msg_ok", _usage(5, 5)),
    ])
    result = ADAPTER.read(path)
    assert not result.skipped
    assert [s.span_id for s in result.sessions[0].spans] == ["claude-code:msg_ok"]


def test_call_without_usage_is_unknown_not_zero(agent_fixtures: Path) -> None:
    """The synthetic layout fixture has assistant lines with no usage (and no message id)."""
    parent, child = _read(agent_fixtures, LAYOUT)
    for session, request in ((parent, "preq1"), (child, "creq1")):
        (call,) = _spans(session, RunType.LLM)
        assert (call.span_id, call.tokens, call.provider) == (f"claude-code:{request}", None, None)


def test_git_branch_empty_means_no_repository(agent_fixtures: Path) -> None:
    result = ADAPTER.read(agent_fixtures / FASTHOOKS_MAIN)
    (session,) = result.sessions
    assert (session.branch, session.cwd, session.repo) == (None, "/workspace", None)
    legacy = ADAPTER.read(agent_fixtures / LEGACY_MAIN).sessions[0]
    assert (legacy.branch, legacy.cwd, legacy.repo) == ("analytics-v2", "/tmp/private", None)  # repo: corpus, from cwd


def test_times_span_the_conversation(agent_fixtures: Path) -> None:
    session = _one(agent_fixtures, SESSION_9EDA)
    assert session.started_at.isoformat() == "2026-01-11T09:53:23.575000+00:00"
    assert session.ended_at.isoformat() == "2026-01-11T10:03:26.842000+00:00"


# -- subagents -----------------------------------------------------------------------------------


def test_new_layout_subagent_is_named_by_its_parents_task(agent_fixtures: Path) -> None:
    parent, child = _read(agent_fixtures, INCREMENTAL)
    assert child.key == "claude-code:e9fb405b-169f-40eb-9396-7e75076f045d/a485154"
    assert (child.parent_key, child.agent_name) == (parent.key, "solution-architect")
    (task,) = _spans(parent, RunType.SUBAGENT)
    assert (task.name, task.tool_name, task.child_session_key) == ("solution-architect", "Task", child.key)
    assert task.parent_id == "claude-code:msg_bdrk_01VM4thvLD5XPnExh4wMDu8Z"
    assert not any(s.sidechain for s in child.spans)  # a subagent file's lines are its own calls
    assert _total(child).as_dict() == {
        "input": 5219, "output": 1549, "cache_read": 52932, "cache_write": 56207, "reasoning": 0,
    }


def test_subagent_read_alone_knows_its_parent_but_not_its_name(agent_fixtures: Path) -> None:
    child = _one(agent_fixtures, TURN_1_AGENT)
    assert (child.parent_key, child.agent_name) == ("claude-code:e9fb405b-169f-40eb-9396-7e75076f045d", None)


def test_meta_json_names_the_subagent_and_the_folder_names_its_parent(agent_fixtures: Path) -> None:
    """The synthetic fixture writes `agent-<id>` as sessionId: the folder above subagents/ wins."""
    child = _one(agent_fixtures, LAYOUT_AGENT)
    assert child.key == "claude-code:0a1b2c3d-4e5f-4061-8071-2a3b4c5d6e7f/a0ad4f44468bdf20d"
    assert child.parent_key == "claude-code:0a1b2c3d-4e5f-4061-8071-2a3b4c5d6e7f"
    assert child.agent_name == "general-purpose"


def test_old_layout_agent_files_beside_the_main_file(agent_fixtures: Path) -> None:
    main, first, second = _read(agent_fixtures, LEGACY_DIR)
    assert [first.key, second.key] == [f"{main.key}/36541525", f"{main.key}/50243ee8"]
    assert first.parent_key == second.parent_key == main.key


def test_sidechain_file_with_another_name_is_still_a_subagent(agent_fixtures: Path) -> None:
    session = _one(agent_fixtures, FASTHOOKS_SIDECHAIN)
    assert session.key == "claude-code:c45af7b1-cb7c-4e51-93db-8cbb250a877a/af1ff21"
    assert session.parent_key == "claude-code:c45af7b1-cb7c-4e51-93db-8cbb250a877a"


def test_two_task_spawns_link_two_children(agent_fixtures: Path) -> None:
    session = _one(agent_fixtures, SESSION_9EDA)
    tasks = _spans(session, RunType.SUBAGENT)
    assert [(t.name, t.child_session_key) for t in tasks] == [
        ("Explore", f"{session.key}/a693a87"), ("Explore", f"{session.key}/a46b9c3"),
    ]


def test_workflow_agents_deeper_below_subagents(tmp_path: Path) -> None:
    agent = _write(tmp_path / SID / "subagents" / "workflows" / "wf1" / "agent-w1.jsonl", [
        _assistant("a1", "2026-05-01T10:00:00.000Z", "msg_1", _usage(1, 1), isSidechain=True, agentId="w1",
                   sessionId="agent-w1"),
    ])
    session = _one(tmp_path, str(agent.relative_to(tmp_path)))
    assert (session.key, session.parent_key) == (f"claude-code:{SID}/w1", f"claude-code:{SID}")


# -- tools ---------------------------------------------------------------------------------------


def test_failed_tools_are_errors_with_a_kind_never_text(agent_fixtures: Path) -> None:
    session = _one(agent_fixtures, FASTHOOKS_MAIN)
    failed = [s for s in _spans(session, RunType.TOOL) if s.status is not Status.OK]
    assert [(s.tool_name, s.status, s.error_kind) for s in failed] == [("Bash", Status.ERROR, "is_error")] * 2
    assert failed[0].tool_input_hash == hash_tool_input("cat nonexistent.txt")


def test_refused_tool_is_rejected_and_the_interruption_is_a_span(agent_fixtures: Path) -> None:
    """A refused Write: error result, then the client's "interrupted … for tool use" line."""
    session = _one(agent_fixtures, SESSION_9EDA)
    (write,) = _spans(session, RunType.TOOL)
    assert (write.tool_name, write.status, write.error_kind) == ("Write", Status.ERROR, "rejected")
    (stop,) = _spans(session, RunType.INTERRUPTED)
    assert (stop.span_id, stop.status, stop.name) == (
        "claude-code:2b736b2c-77dd-4619-8310-4b6beaab2c79", Status.INTERRUPTED, "interrupted",
    )
    assert stop.parent_id == write.parent_id == "claude-code:msg_bdrk_01P75ryByUmPybsgSkdRtaZU"


def test_interruption_without_a_failed_tool_and_structured_bash_interrupt(tmp_path: Path) -> None:
    path = _write(tmp_path / f"{SID}.jsonl", [
        _assistant("a1", "2026-05-01T10:00:00.000Z", "msg_1", _usage(1, 1), _tool_use("t1", "Bash", command="sleep")),
        _user("u1", "2026-05-01T10:00:05.000Z", [_result("t1", error=True)], toolUseResult={"interrupted": True}),
        _user("u2", "2026-05-01T10:00:06.000Z", "[Request interrupted by user]", parentUuid="u1"),
        _assistant("a2", "2026-05-01T10:00:07.000Z", "msg_2", _usage(1, 1), _tool_use("t2", "Read", file_path="/w/a")),
        _user("u3", "2026-05-01T10:00:08.000Z", [_result("t2", error=True)]),
        _user("u4", "2026-05-01T10:00:09.000Z", "next prompt", parentUuid="u3"),
    ])
    session = _one(tmp_path, path.name)
    tools = {s.span_id: s for s in _spans(session, RunType.TOOL)}
    assert (tools["claude-code:t1"].status, tools["claude-code:t1"].error_kind) == (Status.INTERRUPTED, "interrupted")
    assert tools["claude-code:t1"].duration_ms == 5000
    assert (tools["claude-code:t2"].status, tools["claude-code:t2"].error_kind) == (Status.ERROR, "is_error")
    (stop,) = _spans(session, RunType.INTERRUPTED)
    assert (stop.span_id, stop.parent_id) == ("claude-code:u2", "claude-code:msg_1")


def test_tool_input_hash_normalisation(tmp_path: Path) -> None:
    blocks = [
        _tool_use("t1", "Read", file_path="/w/a.py", offset=10),
        _tool_use("t2", "MultiEdit", file_path="/w/b.py", edits=[{"old_string": "x"}]),
        _tool_use("t3", "NotebookEdit", notebook_path="/w/n.ipynb", new_source="x"),
        _tool_use("t4", "Bash", command="ls -la", description="list"),
        _tool_use("t5", "Glob", pattern="**/*.py", path="/w"),
        _tool_use("t6", "Grep", pattern="TODO"),
        _tool_use("t7", "WebFetch", url="https://example.com", prompt="p"),
    ]
    line = _assistant("a1", "2026-05-01T10:00:00.000Z", "msg_1", _usage(1, 1), *blocks)
    path = _write(tmp_path / f"{SID}.jsonl", [line])
    hashes = {s.span_id: s.tool_input_hash for s in _spans(_one(tmp_path, path.name), RunType.TOOL)}
    assert hashes == {
        "claude-code:t1": hash_tool_input("/w/a.py"),
        "claude-code:t2": hash_tool_input("/w/b.py"),
        "claude-code:t3": hash_tool_input("/w/n.ipynb"),
        "claude-code:t4": hash_tool_input("ls -la"),
        "claude-code:t5": hash_tool_input("**/*.py\n/w"),
        "claude-code:t6": hash_tool_input("TODO\n"),
        "claude-code:t7": hash_tool_input('{"prompt":"p","url":"https://example.com"}'),
    }


def test_session_id_from_the_file_name_when_it_is_one(tmp_path: Path) -> None:
    """Summary lines carry no sessionId; a uuid-named main file is its own session."""
    name = "0f8e6f2a-1111-4222-8333-444455556666"
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(
        b'{"type":"summary","summary":"Fix the bug","leafUuid":"x"}\n'
        + _json(_assistant("a1", "2026-05-01T10:00:00.000Z", "msg_1", _usage(1, 1))) + b"\n"
    )
    assert ADAPTER.identify(path, path.read_bytes()[:HEAD_BYTES])
    assert _one(tmp_path, path.name).key == f"claude-code:{name}"


# -- incremental reads ----------------------------------------------------------------------------


def _cut_points(data: bytes) -> list[int]:
    ends = [i + 1 for i, byte in enumerate(data) if byte == 0x0A]
    return ends + [ends[len(ends) // 2] - 7]  # every line boundary and one cut inside a line


def _two_reads(path: Path, data: bytes, cut: int) -> list[Session]:
    path.write_bytes(data[:cut])
    first = ADAPTER.read(path)
    path.write_bytes(data)
    second = ADAPTER.read(path, first.cursors)
    return _finish([first, second])


@pytest.mark.parametrize("rel", ALL_FILES)
def test_resume_equals_full_read(agent_fixtures: Path, tmp_path: Path, rel: str) -> None:
    data = (agent_fixtures / rel).read_bytes()
    path = tmp_path / Path(rel).name
    path.write_bytes(data)
    full = wire.to_builtins(_finish([ADAPTER.read(path)]))
    for cut in _cut_points(data):
        assert wire.to_builtins(_two_reads(path, data, cut)) == full, f"cut at byte {cut}"


def test_cursor_state_is_small_json_with_the_pending_tools(agent_fixtures: Path, tmp_path: Path) -> None:
    lines = (agent_fixtures / FASTHOOKS_MAIN).read_bytes().splitlines(keepends=True)
    path = tmp_path / "sample.jsonl"
    path.write_bytes(b"".join(lines[:4]))  # the Bash tool_use is in, its result is not
    (cursor,) = ADAPTER.read(path).cursors.values()
    assert json.loads(json.dumps(cursor.state)) == cursor.state
    assert cursor.state["sid"] == "c45af7b1-cb7c-4e51-93db-8cbb250a877a" and cursor.state["agent"] is None
    assert list(cursor.state["tools"]) == ["toolu_01BYfGNktE4d25hZnxHwFh2s"]
    assert len(json.dumps(cursor.state)) < 1000


@pytest.mark.parametrize("state", [
    {"bogus": 1},
    {"sid": "s", "agent": None, "cwd": None, "branch": None, "last_call": None, "failed_line": None, "failed": [],
     "tools": {"t1": ["claude-code:t1", None, "Bash", "Bash", False, None, None, False, "weird"]}},
])
def test_unreadable_cursor_state_reads_again_from_the_start(
    agent_fixtures: Path, tmp_path: Path, state: dict[str, Any]
) -> None:
    path = tmp_path / "sample.jsonl"
    path.write_bytes((agent_fixtures / FASTHOOKS_MAIN).read_bytes())
    offset = path.stat().st_size // 2
    result = ADAPTER.read(path, {str(path): Cursor(offset=offset, state=state, size=offset)})
    assert result.skipped == {"bad_cursor": 1}
    assert _total(result.sessions[0]).output == 1480


def test_replaced_file_is_read_from_the_start(agent_fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "sample.jsonl"
    path.write_bytes((agent_fixtures / FASTHOOKS_MAIN).read_bytes())
    result = ADAPTER.read(path, {str(path): Cursor(offset=10**9, size=10**9)})
    assert _total(result.sessions[0]).output == 1480


# -- robustness ----------------------------------------------------------------------------------


def test_truncated_last_line_is_read_once_complete(tmp_path: Path) -> None:
    path = _write(tmp_path / f"{SID}.jsonl", [_assistant("a1", "2026-05-01T10:00:00.000Z", "msg_1", _usage(1, 1))])
    complete = path.read_bytes()
    tail = _json(_assistant("a2", "2026-05-01T10:00:01.000Z", "msg_2", _usage(2, 2)))
    path.write_bytes(complete + tail[:60])
    first = ADAPTER.read(path)
    assert first.skipped == {"truncated_line": 1}
    assert first.cursors[str(path)].offset == len(complete)
    path.write_bytes(complete + tail + b"\n")
    second = ADAPTER.read(path, first.cursors)
    assert not second.skipped
    assert [s.tokens.output for s in _spans(_finish([first, second])[0], RunType.LLM)] == [1, 2]


def test_garbage_and_wrong_types_are_counted_not_raised(tmp_path: Path) -> None:
    ts = "2026-05-01T10:00:00.000Z"
    lines = [
        b'not json "type":"user"',
        b'["type":"assistant"]',
        _json({"type": "assistant", "sessionId": SID, "message": "hello"}),
        _json(_assistant("a1", ts, "msg_a", [1, 2])),
        _json(_assistant("a2", ts, "msg_b", {"input_tokens": "10", "output_tokens": 1})),
        _json(_assistant("a3", ts, "msg_c", {"input_tokens": -3})),
        _json(_assistant("a4", ts, "msg_d", {"service_tier": "standard"})),
        _json(_assistant("a5", ts, 7, _usage(1, 1), request=None)),
        _json(_assistant("a6", ts, "msg_e", _usage(1, 1), {"type": "tool_use", "name": "Bash"}, "junk")),
        _json(_assistant("a7", ts, "msg_f", _usage(1, 1), {"type": "tool_use", "id": "t1", "name": "X",
                                                                 "input": {"n": 10**40}})),
        _json(_user("u1", 12345, {"weird": True}, isSidechain="yes", cwd=["x"], gitBranch=3)),
        _json(_user("u2", ts, [{"type": "tool_result", "tool_use_id": ["t9"], "is_error": "yes"}])),
        _json(_assistant("a8", "2026-05-01T10:00:01.000Z", "msg_ok", _usage(10, 1))),
    ]
    path = tmp_path / f"{SID}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = ADAPTER.read(path)
    assert result.skipped == {
        "malformed_json": 2, "bad_record": 1, "bad_usage": 3, "usage_without_tokens": 1,
        "assistant_without_id": 1, "tool_without_id": 1,
    }
    (session,) = result.sessions
    assert session.key == f"claude-code:{SID}"
    known = {s.span_id: s.tokens for s in _spans(session, RunType.LLM)}
    assert known["claude-code:msg_ok"] == Tokens(input=10, output=1)
    assert all(known[f"claude-code:msg_{x}"] is None for x in "abcd")


def test_lines_after_the_last_kept_one_are_consumed_once(tmp_path: Path) -> None:
    """Skipped kinds (and garbage) after the last user/assistant line are not read again."""
    path = _write(tmp_path / f"{SID}.jsonl", [_assistant("a1", "2026-05-01T10:00:00.000Z", "msg_1", _usage(1, 1))])
    with path.open("ab") as fh:
        fh.write(b'{"type":"system","subtype":"turn_duration"}\nnot json\n{"type":"summary","lea')
    first = ADAPTER.read(path)
    assert first.skipped == {"malformed_json": 1, "truncated_line": 1}
    assert first.cursors[str(path)].offset == path.stat().st_size - len(b'{"type":"summary","lea')
    second = ADAPTER.read(path, first.cursors)
    assert second.skipped == {"truncated_line": 1} and second.sessions == []


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / f"{SID}.jsonl"
    path.write_bytes(b"")
    result = ADAPTER.read(path)
    assert (result.sessions, dict(result.skipped)) == ([], {})
    assert result.cursors[str(path)].offset == 0


def test_broken_meta_sidecar_is_counted(tmp_path: Path) -> None:
    agent = _write(tmp_path / SID / "subagents" / "agent-x1.jsonl", [
        _assistant("a1", "2026-05-01T10:00:00.000Z", "msg_1", _usage(1, 1), isSidechain=True, agentId="x1"),
    ])
    agent.with_name("agent-x1.meta.json").write_text("{not json")
    result = ADAPTER.read(agent)
    assert result.skipped == {"bad_meta": 1}
    assert (result.sessions[0].key, result.sessions[0].agent_name) == (f"claude-code:{SID}/x1", None)


# -- privacy -------------------------------------------------------------------------------------


def test_no_prompt_output_or_command_text_is_kept(agent_fixtures: Path) -> None:
    blob = wire.to_json([s for unit in UNITS.values() for s in _read(agent_fixtures, unit)])
    for secret in (
        "can you run a command ls -la",  # prompt
        "IMPLEMENTATION_REPORT.md",  # tool output
        "This is a simple hello file",  # Write input (file content)
        "cat nonexistent.txt",  # command
        "No such file or directory",  # error text
        "doesn't want to proceed",  # rejection text
        "Request interrupted by user",  # interruption marker
        "Done! Here's the output",  # reply
        "solution-architect agent to analyze",  # reply before a Task
        "Warmup",  # subagent prompt
    ):
        assert any(secret.encode() in (agent_fixtures / rel).read_bytes() for rel in ALL_FILES), secret
        assert secret.encode() not in blob, secret


# -- identify and discover -----------------------------------------------------------------------


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(HEAD_BYTES)


def test_identify_claims_exactly_the_claude_code_transcripts(agent_fixtures: Path) -> None:
    claimed = {
        str(p.relative_to(agent_fixtures))
        for p in agent_fixtures.rglob("*")
        if p.is_file() and ADAPTER.identify(p, _head(p))
    }
    assert claimed == set(ALL_FILES)


def test_identify_a_file_opening_with_a_long_snapshot(tmp_path: Path) -> None:
    snapshot = {"type": "file-history-snapshot", "messageId": "m", "snapshot": {"files": "x" * 20000}}
    path = _write(tmp_path / f"{SID}.jsonl", [snapshot, _user("u1", "2026-05-01T10:00:00.000Z", "hi")])
    assert ADAPTER.identify(path, _head(path))
    assert not ADAPTER.identify(tmp_path, b"")


def test_discover_honours_claude_config_dir(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert list(ADAPTER.discover({}, home)) == [home / ".config/claude/projects", home / ".claude/projects"]
    env = {"CLAUDE_CONFIG_DIR": f"{tmp_path}/a, ~/b ,"}
    assert list(ADAPTER.discover(env, home)) == [tmp_path / "a/projects", home / "b/projects"]


def test_discover_reads_a_directory_listed_twice_once(tmp_path: Path) -> None:
    env = {"CLAUDE_CONFIG_DIR": f"{tmp_path}/a,{tmp_path}/a/,~/b,{tmp_path}/a"}
    assert list(ADAPTER.discover(env, tmp_path)) == [tmp_path / "a/projects", tmp_path / "b/projects"]

"""Gemini CLI chat recordings: golden outputs, the token facts of SOURCES.md, the format's traps,
resuming, robustness, privacy and identification."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from bot import adapters, wire
from bot.adapters.base import HEAD_BYTES, Cursor, ParseResult
from bot.adapters.gemini_cli import ADAPTER
from bot.corpus import merge
from bot.trace import RunType, Session, Status, Tokens

GEMINI = "gemini-cli"
CODEMIE = "gemini-cli/codemie/tmp/fb8e242a6fbbb5c48a1d0be57a8a4cc934d33e0a1caf73ab5d4ecaa17269960c"
CODEMIE_SESSION = f"{CODEMIE}/chats/session-2025-12-01T21-45-5b959dae.json"
FILE_OPS = "gemini-cli/codemie-more/session-2026-01-16T11-01-file-ops-37b7abef.json"
JSONL = "gemini-cli/agent-sessions/jsonl_v040.jsonl"


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(HEAD_BYTES)


def _claimed(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and ADAPTER.identify(p, _head(p)))


def _portable(sessions: list[Session], root: Path) -> list[Session]:
    """Sessions sorted by key, `source` relative to the fixture root (goldens must not hold
    this machine's paths)."""
    for session in sessions:
        if session.source:
            session.source = Path(session.source).relative_to(root).as_posix()
    return sorted(sessions, key=lambda s: s.key)


def _canonical(sessions: list[Session]) -> list[dict]:
    """Order-free form for comparing two reads: sessions by key, spans by id."""
    for session in sessions:
        session.spans.sort(key=lambda s: s.span_id)
    return wire.to_builtins(sorted(sessions, key=lambda s: s.key))


def _merged(*results: ParseResult) -> list[dict]:
    return _canonical(merge(results).finish())


def _llm_total(sessions: list[Session]) -> Tokens:
    return sum((s.tokens for x in sessions for s in x.spans if s.is_llm and s.tokens), Tokens())


def _write_json(path: Path, data: object) -> Path:
    path.write_bytes(orjson.dumps(data))
    return path


# --- golden and facts ---------------------------------------------------------------------------


def test_golden_every_fixture(agent_fixtures: Path, golden: Callable[[str, object], None]) -> None:
    files = _claimed(agent_fixtures / GEMINI)
    assert len(files) == 8
    for path in files:
        result = ADAPTER.read(path)
        assert not result.skipped, path
        golden(f"adapters/gemini-cli/{path.stem}.json", wire.to_builtins(_portable(result.sessions, agent_fixtures)))


def test_codemie_session_facts(agent_fixtures: Path) -> None:
    """SOURCES.md: input 101630 of which cached 56538, output 2734, thoughts 1493, tool 0."""
    sessions = ADAPTER.read(agent_fixtures / CODEMIE_SESSION).sessions
    total = _llm_total(sessions)
    assert total.input + total.cache_read == 101630
    assert total.cache_read == 56538
    assert total.output == 2734 + 1493
    assert total.reasoning == 1493
    assert total.total == 105857
    assert [s.key for s in sessions] == ["gemini-cli:5b959dae-8655-4cd1-b10f-720b8c336ea2"]
    assert {s.model for s in sessions[0].spans if s.is_llm} == {"gemini-3-pro-image-preview"}


def test_file_ops_session_facts(agent_fixtures: Path) -> None:
    """SOURCES.md: input 87418 (cached 62117), output 1441, thoughts 2914, total 91773."""
    total = _llm_total(ADAPTER.read(agent_fixtures / FILE_OPS).sessions)
    assert (total.input, total.cache_read, total.output, total.reasoning) == (87418 - 62117, 62117, 1441 + 2914, 2914)
    assert total.total == 91773


# --- traps ----------------------------------------------------------------------------------------


def test_input_includes_cached_and_tool_prompt_is_added(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "session-x.json", {
        "sessionId": "s", "messages": [{"id": "m", "type": "gemini", "timestamp": "2026-01-01T00:00:00Z",
        "tokens": {"input": 1000, "cached": 600, "tool": 50, "output": 70, "thoughts": 30, "total": 1150}}],
    })
    (span,) = ADAPTER.read(path).sessions[0].spans
    assert span.tokens == Tokens(input=450, output=100, cache_read=600, reasoning=30)
    assert span.tokens.total == 1150


def test_messages_without_tokens_are_unknown_not_zero(agent_fixtures: Path) -> None:
    for name in ("agentsview/tool_calls.json", "agentsview/thinking_only.json"):
        llm = [s for s in ADAPTER.read(agent_fixtures / GEMINI / name).sessions[0].spans if s.is_llm]
        assert llm and all(s.tokens is None for s in llm)


def test_model_may_be_missing(agent_fixtures: Path) -> None:
    (session,) = ADAPTER.read(agent_fixtures / GEMINI / "codemie-more/timestamp-mismatch-session.json").sessions
    (span,) = session.spans
    assert span.model is None and span.tokens == Tokens(input=100, output=50)
    spans = ADAPTER.read(agent_fixtures / GEMINI / "agent-sessions-more/large.json").sessions[0].spans
    assert [s.model for s in spans if s.is_llm] == ["gemini-3-flash-preview", None]


def test_cwd_is_never_the_project_hash(agent_fixtures: Path) -> None:
    for path in _claimed(agent_fixtures / GEMINI):
        assert all(s.cwd is None for s in ADAPTER.read(path).sessions)


def test_schema_drift_is_a_counted_skip(agent_fixtures: Path) -> None:
    path = agent_fixtures / GEMINI / "agent-sessions-more/schema_drift.json"
    assert not ADAPTER.identify(path, _head(path))
    result = ADAPTER.read(path)
    assert result.sessions == [] and result.skipped == {"not_a_chat_recording": 1}


def test_delegate_to_agent_is_a_subagent_span(agent_fixtures: Path) -> None:
    spans = ADAPTER.read(agent_fixtures / FILE_OPS).sessions[0].spans
    (handoff,) = [s for s in spans if s.run_type is RunType.SUBAGENT]
    assert handoff.name == "codebase_investigator" and handoff.tool_name == "delegate_to_agent"
    assert handoff.child_session_key is None  # no agentId recorded in this version
    assert handoff.parent_id == "gemini-cli:37b7abef-713d-4522-85f0-8ff15a4e6d17:9d6e5250-8892-491e-84ed-0506e7fffcdc"


def test_subagent_recording_links_to_its_parent(tmp_path: Path) -> None:
    chats = tmp_path / "chats"
    (chats / "parent-1").mkdir(parents=True)
    parent = _write_json(chats / "session-p.json", {"sessionId": "parent-1", "projectHash": "h", "messages": [
        {"id": "g1", "type": "gemini", "toolCalls": [
            {"id": "t1", "name": "invoke_agent", "agentId": "sub-9", "args": {"agent_name": "investigator"},
             "status": "success"}]}]})
    child = chats / "parent-1" / "sub-9.jsonl"
    child.write_bytes(orjson.dumps({"sessionId": "sub-9", "projectHash": "h", "kind": "subagent"}) + b"\n" + orjson.dumps(
        {"id": "c1", "type": "gemini", "tokens": {"input": 10, "output": 1}}) + b"\n")
    assert ADAPTER.identify(child, _head(child))
    sessions = {s.key: s for s in merge([ADAPTER.read(parent), ADAPTER.read(child)]).finish()}
    (handoff,) = [s for s in sessions["gemini-cli:parent-1"].spans if s.run_type is RunType.SUBAGENT]
    assert handoff.child_session_key == "gemini-cli:sub-9"
    assert sessions["gemini-cli:sub-9"].parent_key == "gemini-cli:parent-1"
    assert sessions["gemini-cli:sub-9"].agent_name == "investigator"


@pytest.mark.parametrize(("status", "expected"), [
    ("success", (Status.OK, None)),
    ("error", (Status.ERROR, "error")),
    ("cancelled", (Status.ERROR, "cancelled")),
    ("executing", (Status.OK, None)),
    ("Disk full: /home/me/secret", (Status.ERROR, "error")),
])
def test_tool_status(tmp_path: Path, status: str, expected: tuple[Status, str | None]) -> None:
    call = {"id": "t", "name": "read_file", "status": status, "args": {"file_path": "a"}}
    path = _write_json(tmp_path / "session-t.json", {"sessionId": "s", "messages": [
        {"id": "g", "type": "gemini", "toolCalls": [call]}]})
    tool = ADAPTER.read(path).sessions[0].spans[1]
    assert (tool.status, tool.error_kind) == expected


def test_tool_input_hash_uses_path_and_command(tmp_path: Path) -> None:
    calls = [
        {"id": "1", "name": "read_file", "args": {"file_path": "a.py"}},
        {"id": "2", "name": "read_file", "args": {"file_path": "a.py", "offset": 10}},
        {"id": "3", "name": "run_shell_command", "args": {"command": "ls", "description": "list"}},
        {"id": "4", "name": "run_shell_command", "args": {"command": "ls"}},
        {"id": "5", "name": "glob", "args": {"pattern": "*.py"}},
        {"id": "6", "name": "glob", "args": {"pattern": "*.md"}},
    ]
    path = _write_json(tmp_path / "session-h.json", {"sessionId": "s", "messages": [{"id": "g", "type": "gemini", "toolCalls": calls}]})
    hashes = [s.tool_input_hash for s in ADAPTER.read(path).sessions[0].spans[1:]]
    assert hashes[0] == hashes[1] and hashes[2] == hashes[3] and hashes[4] != hashes[5]


def test_jsonl_last_copy_of_a_message_wins_and_set_patches_apply(tmp_path: Path) -> None:
    path = tmp_path / "session-r.jsonl"
    lines = [
        {"sessionId": "r", "projectHash": "h", "startTime": "2026-01-01T00:00:00Z", "kind": "main"},
        {"id": "g", "type": "gemini", "timestamp": "2026-01-01T00:00:01Z",
         "toolCalls": [{"id": "t", "name": "read_file", "status": "executing"}]},
        {"id": "g", "type": "gemini", "timestamp": "2026-01-01T00:00:01Z", "tokens": {"input": 5, "output": 2},
         "toolCalls": [{"id": "t", "name": "read_file", "status": "error"}]},
        {"$set": {"lastUpdated": "2026-01-01T00:05:00Z"}},
    ]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    (session,) = ADAPTER.read(path).sessions
    llm, tool = session.spans
    assert llm.tokens == Tokens(input=5, output=2) and tool.status is Status.ERROR
    assert session.ended_at is not None and session.ended_at.minute == 5


# --- resuming -----------------------------------------------------------------------------------


def _cut_points(data: bytes) -> list[int]:
    ends = [i + 1 for i, b in enumerate(data) if b == ord("\n")]
    return [*ends[:-1], ends[2] + 40]  # every line boundary, and one cut inside a line


def test_jsonl_resume_equals_full_read(agent_fixtures: Path, tmp_path: Path) -> None:
    data = (agent_fixtures / JSONL).read_bytes()
    path = tmp_path / "session-resume.jsonl"
    path.write_bytes(data)
    full = _merged(ADAPTER.read(path))
    for cut in _cut_points(data):
        path.write_bytes(data[:cut])
        first = ADAPTER.read(path)
        path.write_bytes(data)
        second = ADAPTER.read(path, first.cursors)
        assert _merged(first, second) == full, cut


def test_jsonl_first_read_before_the_header_was_written(agent_fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "session-late.jsonl"
    path.write_bytes(b"")
    first = ADAPTER.read(path)
    path.write_bytes((agent_fixtures / JSONL).read_bytes())
    (session,) = ADAPTER.read(path, first.cursors).sessions
    assert session.key == "gemini-cli:gemini_stage0_jsonl"


def test_json_unchanged_file_is_not_read_again(agent_fixtures: Path, tmp_path: Path) -> None:
    path = shutil.copy(agent_fixtures / CODEMIE_SESSION, tmp_path / "session-a.json")
    first = ADAPTER.read(path)
    again = ADAPTER.read(path, first.cursors)
    assert again.sessions == [] and again.cursors == first.cursors


def test_json_rewritten_file_is_read_whole_and_merges_idempotently(agent_fixtures: Path, tmp_path: Path) -> None:
    full = orjson.loads((agent_fixtures / CODEMIE_SESSION).read_bytes())
    path = tmp_path / "session-a.json"
    _write_json(path, {**full, "messages": full["messages"][:5]})
    first = ADAPTER.read(path)
    _write_json(path, full)
    os.utime(path, ns=(1, 1))  # a rewrite must be noticed even if the clock says otherwise
    second = ADAPTER.read(path, first.cursors)
    assert _merged(first, second) == _merged(ADAPTER.read(path))


# --- robustness ----------------------------------------------------------------------------------


def test_garbage_and_truncated_lines_are_counted_and_resumed(tmp_path: Path) -> None:
    header = orjson.dumps({"sessionId": "g", "kind": "main"})
    good = orjson.dumps({"id": "a", "type": "gemini", "tokens": {"input": 1, "output": 1}})
    late = orjson.dumps({"id": "b", "type": "gemini", "tokens": {"input": 2, "output": 2}})
    path = tmp_path / "session-g.jsonl"
    path.write_bytes(header + b'\n{"gemini" not json\n[1, "$set"]\n' + good + b"\n" + late[:20])
    first = ADAPTER.read(path)
    assert first.skipped == {"malformed_json": 1, "not_an_object": 1, "truncated_line": 1}
    assert [s.span_id for s in first.sessions[0].spans] == ["gemini-cli:g:a"]
    path.write_bytes(path.read_bytes() + late[20:] + b"\n")
    second = ADAPTER.read(path, first.cursors)
    assert not second.skipped
    assert [s.span_id for s in second.sessions[0].spans] == ["gemini-cli:g:b"]


def test_wrong_types_never_raise(tmp_path: Path) -> None:
    path = _write_json(tmp_path / "session-w.json", {"sessionId": "w", "startTime": 12, "messages": [
        "not a message", {"type": "gemini"}, {"id": "1", "type": "gemini", "tokens": "lots"},
        {"id": "2", "type": "gemini", "tokens": {"input": "10", "output": -5, "cached": None}, "model": 7},
        {"id": "3", "type": "gemini", "toolCalls": "none", "timestamp": ["x"], "tokens": {"input": 9, "output": "7"}},
        {"id": "4", "type": "gemini", "toolCalls": [None, {"name": 3}, {"name": "read_file", "args": "x", "status": 404}]},
    ]})
    result = ADAPTER.read(path)
    assert result.skipped == {"not_an_object": 1, "bad_record": 1}
    spans = {s.span_id: s for s in result.sessions[0].spans}
    assert spans["gemini-cli:w:1"].tokens is None
    assert spans["gemini-cli:w:2"].tokens is None and spans["gemini-cli:w:2"].model is None  # no usable count
    assert spans["gemini-cli:w:3"].tokens == Tokens(input=9)  # the usable counts are kept
    assert spans["gemini-cli:w:4#2"].error_kind == "error"


@pytest.mark.parametrize("content", [b"", b"{", b"[]", b"null", b'{"sessionId": "x", "messages": {}}'])
def test_empty_or_foreign_json_is_counted(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "session-e.json"
    path.write_bytes(content)
    result = ADAPTER.read(path)
    assert result.sessions == [] and sum(result.skipped.values()) == 1


def test_empty_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "session-e.jsonl"
    path.write_bytes(b"")
    result = ADAPTER.read(path)
    assert result.sessions == [] and not result.skipped and result.cursors[str(path)].offset == 0


# --- privacy ----------------------------------------------------------------------------------------


def test_no_text_leaves_the_log(agent_fixtures: Path) -> None:
    texts = {
        CODEMIE_SESSION: [b"Explain what this is", b"lead_gemini.txt", b"@"],
        FILE_OPS: [b"Adaptability", b"SummaryOfFindings"],
        JSONL: [b"Say hello", b"Process Group PGID", b"ls -F"],
        "gemini-cli/agentsview/thinking_only.json": [b"config loading flow", b"Planning response"],
    }
    for name, needles in texts.items():
        log = (agent_fixtures / name).read_bytes()
        out = wire.to_json(ADAPTER.read(agent_fixtures / name).sessions)
        for needle in needles:
            assert needle in log and needle not in out, (name, needle)


# --- identification --------------------------------------------------------------------------------


def test_identify_claims_exactly_the_chat_recordings(agent_fixtures: Path) -> None:
    claimed = {p.relative_to(agent_fixtures).as_posix() for p in _claimed(agent_fixtures)}
    assert claimed == {
        JSONL, CODEMIE_SESSION, FILE_OPS,
        "gemini-cli/agent-sessions/small.json",
        "gemini-cli/agent-sessions-more/large.json",
        "gemini-cli/agentsview/thinking_only.json",
        "gemini-cli/agentsview/tool_calls.json",
        "gemini-cli/codemie-more/timestamp-mismatch-session.json",
    }


def test_no_other_adapter_claims_gemini_recordings(agent_fixtures: Path) -> None:
    for path in _claimed(agent_fixtures / GEMINI):
        assert adapters.identify(path) is ADAPTER, path


def test_big_sorted_key_file_in_chats_is_claimed_by_name(tmp_path: Path) -> None:
    chats = tmp_path / "chats"
    chats.mkdir()
    big = {"lastUpdated": "x", "messages": [{"content": "x" * HEAD_BYTES}], "sessionId": "s"}
    path = _write_json(chats / "session-big.json", big)
    assert ADAPTER.identify(path, _head(path))
    assert not ADAPTER.identify(tmp_path / "other.json", _head(path))


def test_discover_honours_gemini_cli_home(tmp_path: Path) -> None:
    assert list(ADAPTER.discover({}, tmp_path)) == [tmp_path / ".gemini" / "tmp"]
    assert list(ADAPTER.discover({"GEMINI_CLI_HOME": "/opt/g"}, tmp_path)) == [Path("/opt/g/.gemini/tmp")]


def test_cursor_of_a_replaced_jsonl_is_ignored(agent_fixtures: Path, tmp_path: Path) -> None:
    path = shutil.copy(agent_fixtures / JSONL, tmp_path / "session-x.jsonl")
    stale = {str(path): Cursor(offset=10**6, size=10**6)}
    assert _merged(ADAPTER.read(path, stale)) == _merged(ADAPTER.read(path))

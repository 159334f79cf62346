"""The Codex rollout adapter against the shared fixtures: golden output, token facts, traps."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from bot import wire
from bot.adapters.base import HEAD_BYTES, Cursor, ParseResult
from bot.adapters.codex import ADAPTER
from bot.corpus import merge
from bot.trace import RunType, Session, Span, Status, Tokens, hash_tool_input

SUBAGENTS = "codex/langsmith-subagents/sessions/2026/04/23"
PARENT = f"{SUBAGENTS}/rollout-subagents.jsonl"
HARVEY = f"{SUBAGENTS}/rollout-subagents-019dbc03-79de-7d53-8196-3167d9a32762.jsonl"
LEIBNIZ = f"{SUBAGENTS}/rollout-subagents-019dbc03-79ee-7ee0-b40b-26920c74c524.jsonl"
CODEMIE = "codex/codemie/sessions/2026/05/11"
TUI = f"{CODEMIE}/rollout-2026-05-11T11-26-55-019e1625-789d-76c0-80ab-3724b5ddb799.jsonl"
DESKTOP = f"{CODEMIE}/rollout-2026-05-11T13-28-45-019e1695-0522-7c83-8b39-0dd379793f80.jsonl"
BRANCH_DIR = "codex/ccusage-branch-history"
SPAWN_SKILL = "codex/codemie-spawn-skill/turn-spawn-skill.jsonl"
MORE = "codex/langsmith-plugins-more/sessions/2026/04/23"
EDITING = f"{MORE}/rollout-editing.jsonl"
ATTACHMENTS = f"{MORE}/rollout-attachments.jsonl"

UNITS = {
    "langsmith-subagents": "codex/langsmith-subagents",
    "codemie-tui": TUI,
    "codemie-desktop": DESKTOP,
    "ccusage-branch-history": BRANCH_DIR,
    "codemie-spawn-skill": SPAWN_SKILL,
    "langsmith-editing": EDITING,
    "langsmith-attachments": ATTACHMENTS,
}
"""Golden name → fixture file, or folder whose rollouts are read together."""

ALL_FILES = [
    PARENT, HARVEY, LEIBNIZ, TUI, DESKTOP, SPAWN_SKILL, EDITING, ATTACHMENTS,
    f"{BRANCH_DIR}/2026-05-12T08-00-00-parent.jsonl", f"{BRANCH_DIR}/2026-05-12T08-02-00-branch.jsonl",
]


# -- helpers -------------------------------------------------------------------------------------


def _files(root: Path, rel: str) -> list[Path]:
    path = root / rel
    return sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]


def _finish(results: Iterable[ParseResult]) -> list[Session]:
    return sorted(merge(results).finish(), key=lambda s: s.key)


def _read(root: Path, rel: str) -> list[Session]:
    return _finish(ADAPTER.read(path) for path in _files(root, rel))


def _one(root: Path, rel: str) -> Session:
    (session,) = _read(root, rel)
    return session


def _llm(session: Session) -> list[Span]:
    return [span for span in session.spans if span.run_type is RunType.LLM]


def _total(session: Session) -> Tokens:
    total = Tokens()
    for span in _llm(session):
        assert span.tokens is not None, span
        total = total + span.tokens
    return total


def _rollout(tmp_path: Path, records: list[dict[str, Any]], name: str = "rollout-test.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in records))
    return path


def _meta(sid: str = "thread-1", ts: str = "2026-05-12T10:00:00.000Z", **extra: Any) -> dict[str, Any]:
    return {"timestamp": ts, "type": "session_meta", "payload": {"id": sid, "cwd": "/w", **extra}}


def _context(model: str, ts: str = "2026-05-12T10:00:00.100Z") -> dict[str, Any]:
    return {"timestamp": ts, "type": "turn_context", "payload": {"model": model}}


def _usage(inp: int, cached: int, out: int, reasoning: int = 0) -> dict[str, int]:
    return {
        "input_tokens": inp, "cached_input_tokens": cached, "output_tokens": out,
        "reasoning_output_tokens": reasoning, "total_tokens": inp + out,
    }


def _count(ts: str, total: dict[str, int] | None = None, last: dict[str, int] | None = None) -> dict[str, Any]:
    info = {k: v for k, v in (("total_token_usage", total), ("last_token_usage", last)) if v is not None}
    return {"timestamp": ts, "type": "event_msg", "payload": {"type": "token_count", "info": info}}


def _call(ts: str, call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    payload = {"type": "function_call", "name": name, "arguments": json.dumps(arguments), "call_id": call_id}
    return {"timestamp": ts, "type": "response_item", "payload": payload}


def _output(ts: str, call_id: str, text: str = "done") -> dict[str, Any]:
    payload = {"type": "function_call_output", "call_id": call_id, "output": text}
    return {"timestamp": ts, "type": "response_item", "payload": payload}


def _event(ts: str, **payload: Any) -> dict[str, Any]:
    return {"timestamp": ts, "type": "event_msg", "payload": payload}


def _item(ts: str, **payload: Any) -> dict[str, Any]:
    return {"timestamp": ts, "type": "response_item", "payload": payload}


# -- golden output and fixture facts -----------------------------------------------------------


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_golden(agent_fixtures: Path, golden: Callable[[str, object], None], unit: str) -> None:
    sessions = _read(agent_fixtures, UNITS[unit])
    for session in sessions:  # golden files must not depend on where the checkout lives
        session.source = str(Path(session.source).relative_to(agent_fixtures))
    golden(f"adapters/codex/{unit}.json", wire.to_builtins(sessions))


@pytest.mark.parametrize(
    ("rel", "input_tokens", "cached", "output", "reasoning"),
    [
        (PARENT, 84553, 70656, 1049, 457),
        (HARVEY, 10744, 4480, 20, 0),
        (LEIBNIZ, 21693, 10752, 132, 55),
        (TUI, 251030, 87552, 1691, 240),
        (EDITING, 71213, 57088, 1627, 337),
        (ATTACHMENTS, 14243, 3840, 262, 121),
    ],
)
def test_facts_last_total_usage(
    agent_fixtures: Path, rel: str, input_tokens: int, cached: int, output: int, reasoning: int
) -> None:
    """SOURCES.md's final `total_token_usage`; our `input` excludes the cached part (trap 3)."""
    total = _total(_one(agent_fixtures, rel))
    assert total.as_dict() == {
        "input": input_tokens - cached, "cache_read": cached, "cache_write": 0, "output": output, "reasoning": reasoning,
    }


def test_one_llm_span_per_token_count(agent_fixtures: Path) -> None:
    assert [len(_llm(_one(agent_fixtures, rel))) for rel in (PARENT, HARVEY, LEIBNIZ, TUI, EDITING)] == [6, 1, 2, 11, 5]


def test_subagents_are_linked_both_ways(agent_fixtures: Path) -> None:
    parent, harvey, leibniz = _read(agent_fixtures, "codex/langsmith-subagents")
    assert (harvey.parent_key, harvey.agent_name) == (parent.key, "Harvey")
    assert (leibniz.parent_key, leibniz.agent_name) == (parent.key, "Leibniz")
    spawns = [span for span in parent.spans if span.run_type is RunType.SUBAGENT]
    assert [s.child_session_key for s in spawns if s.status is Status.OK] == [harvey.key, leibniz.key]
    assert {s.tool_name for s in spawns} == {"spawn_agent"}


def test_rejected_spawns_are_errors_without_text(agent_fixtures: Path) -> None:
    """The first two spawn_agent calls got an answer but no collab_agent_spawn_end: no agent ran."""
    parent = _one(agent_fixtures, PARENT)
    failed = [s for s in parent.spans if s.run_type is RunType.SUBAGENT and s.status is Status.ERROR]
    assert [(s.error_kind, s.child_session_key) for s in failed] == [("not_spawned", None)] * 2


def test_spawn_skill_subagent_type_and_child(agent_fixtures: Path) -> None:
    session = _one(agent_fixtures, SPAWN_SKILL)
    (spawn,) = [s for s in session.spans if s.run_type is RunType.SUBAGENT]
    assert (spawn.name, spawn.child_session_key) == ("explorer", "codex:child-thread-uuid")
    assert (session.branch, session.repo, session.commits) == ("main", None, [])
    with_usage = [s for s in _llm(session) if s.tokens is not None]
    assert [(s.model, s.tokens.as_dict()) for s in with_usage] == [
        ("gpt-5.4", {"input": 4000, "output": 200, "cache_read": 1000, "cache_write": 0, "reasoning": 0}),
    ]


# -- traps from docs/agent-formats.md ----------------------------------------------------------


def test_trap_cumulative_totals_difference_equals_last(agent_fixtures: Path, tmp_path: Path) -> None:
    """Without `last_token_usage`, consecutive totals are differenced, never summed (trap 2)."""
    lines = (agent_fixtures / TUI).read_text().splitlines()
    stripped = []
    for line in lines:
        record = json.loads(line)
        info = record["payload"].get("info") if isinstance(record.get("payload"), dict) else None
        if isinstance(info, dict):
            info.pop("last_token_usage", None)
        stripped.append(record)
    with_last = _one(agent_fixtures, TUI)
    without_last = _one(tmp_path, _rollout(tmp_path, stripped).name)
    assert [s.tokens for s in _llm(without_last)] == [s.tokens for s in _llm(with_last)]


def test_trap_info_null_is_rate_limits_only(tmp_path: Path) -> None:
    path = _rollout(tmp_path, [
        _meta(), _context("gpt-5.4"),
        _event("2026-05-12T10:00:01.000Z", type="token_count", info=None, rate_limits={"primary": {"used_percent": 3}}),
        _count("2026-05-12T10:00:02.000Z", total=_usage(100, 40, 10)),
    ])
    result = ADAPTER.read(path)
    assert not result.skipped
    (session,) = result.sessions
    assert [s.tokens.as_dict() for s in _llm(session)] == [
        {"input": 60, "output": 10, "cache_read": 40, "cache_write": 0, "reasoning": 0},
    ]


def test_trap_reemitted_token_count_is_skipped(tmp_path: Path) -> None:
    usage = _usage(100, 0, 10)
    path = _rollout(tmp_path, [
        _meta(), _context("gpt-5.4"),
        _count("2026-05-12T10:00:02.000Z", total=usage, last=usage),
        _count("2026-05-12T10:00:02.500Z", total=usage, last=usage),
    ])
    assert len(_llm(_one(tmp_path, path.name))) == 1


def test_trap_total_going_down_is_a_restart_not_a_negative_delta(tmp_path: Path) -> None:
    path = _rollout(tmp_path, [
        _meta(), _context("gpt-5.4"),
        _count("2026-05-12T10:00:01.000Z", total=_usage(1000, 0, 100)),
        _count("2026-05-12T10:00:02.000Z", total=_usage(300, 0, 30)),
        _count("2026-05-12T10:00:03.000Z", total=_usage(500, 100, 50)),
    ])
    tokens = [s.tokens for s in _llm(_one(tmp_path, path.name))]
    assert [(t.input, t.cache_read, t.output) for t in tokens] == [(1000, 0, 100), (300, 0, 30), (100, 100, 20)]


def test_trap_forked_branch_history_counted_once(agent_fixtures: Path) -> None:
    """Both files hold the 08:01 call (1000 in / 200 out); together they still count it once."""
    parent, branch = _read(agent_fixtures, BRANCH_DIR)
    total = _total(parent) + _total(branch)
    assert (total.input + total.cache_read, total.output, total.reasoning) == (1600, 450, 40)
    assert (_total(parent).input, _total(parent).cache_read, _total(parent).output) == (900, 100, 200)
    assert {s.model for s in _llm(parent) + _llm(branch)} == {"gpt-5.2"}


def test_trap_forked_branch_read_alone_counts_its_replay(agent_fixtures: Path) -> None:
    """Dedup is across files (same span id), not by dropping the branch's copy on its own."""
    branch = _one(agent_fixtures, f"{BRANCH_DIR}/2026-05-12T08-02-00-branch.jsonl")
    assert (_total(branch).input + _total(branch).cache_read, _total(branch).output) == (1600, 450)


def _spawned_child(replay_seconds: tuple[str, str]) -> list[dict[str, Any]]:
    """A full-history subagent: the parent's two calls and a tool rewritten in its spawn second."""
    first, second = replay_seconds
    spawn = {"subagent": {"thread_spawn": {"parent_thread_id": "parent-1", "depth": 1, "agent_nickname": "Ada"}}}
    return [
        _meta("child-1", "2026-05-12T10:05:00.100Z", source=spawn),
        _context("gpt-5.4", "2026-05-12T10:05:00.110Z"),
        _call(f"{first}.120Z", "call_parent", "exec_command", {"cmd": "ls"}),
        _count(f"{first}.130Z", total=_usage(1000, 200, 100)),
        _output(f"{first}.140Z", "call_parent"),
        _count(f"{second}.150Z", total=_usage(2500, 1200, 300)),
        _event("2026-05-12T10:05:00.160Z", type="user_message", message="do the thing"),
        _call("2026-05-12T10:05:03.000Z", "call_child", "exec_command", {"cmd": "pwd"}),
        _count("2026-05-12T10:05:03.100Z", total=_usage(3700, 2200, 350)),
    ]


def test_trap_full_history_subagent_replay_is_skipped(tmp_path: Path) -> None:
    """ccusage's rule: the first two usage token_counts share a second → they are the parent's."""
    path = _rollout(tmp_path, _spawned_child(("2026-05-12T10:05:00", "2026-05-12T10:05:00")))
    session = _one(tmp_path, path.name)
    assert (session.key, session.parent_key, session.agent_name) == ("codex:child-1", "codex:parent-1", "Ada")
    (call,) = _llm(session)
    assert (call.tokens.input, call.tokens.cache_read, call.tokens.output) == (200, 1000, 50)
    assert [s.span_id for s in session.spans if s.run_type is RunType.TOOL] == ["codex:call_child"]


def test_trap_subagent_without_replay_keeps_every_call(tmp_path: Path) -> None:
    path = _rollout(tmp_path, _spawned_child(("2026-05-12T10:05:00", "2026-05-12T10:05:01")))
    calls = _llm(_one(tmp_path, path.name))
    assert [(s.tokens.input + s.tokens.cache_read, s.tokens.output) for s in calls] == [(1000, 100), (1500, 200), (1200, 50)]


def test_trap_reemitted_count_in_a_subagent_is_not_taken_for_a_replay(tmp_path: Path) -> None:
    """Two token_counts in one second that repeat one total are one call, not a replayed history."""
    usage = _usage(800, 0, 40)
    records = _spawned_child(("2026-05-12T10:05:00", "2026-05-12T10:05:00"))[:2] + [
        _count("2026-05-12T10:05:02.100Z", total=usage, last=usage),
        _count("2026-05-12T10:05:02.200Z", total=usage, last=usage),
    ]
    calls = _llm(_one(tmp_path, _rollout(tmp_path, records).name))
    assert [(s.tokens.input, s.tokens.output) for s in calls] == [(800, 40)]


def test_spawn_known_only_from_its_event(tmp_path: Path) -> None:
    path = _rollout(tmp_path, [
        _meta(), _context("gpt-5.4"),
        _event(
            "2026-05-12T10:00:01.000Z",
            type="collab_agent_spawn_end", call_id="c9", new_thread_id="kid", new_agent_role="worker",
        ),
    ])
    (spawn,) = _one(tmp_path, path.name).spans
    assert (spawn.run_type, spawn.name, spawn.child_session_key) == (RunType.SUBAGENT, "worker", "codex:kid")


def test_trap_no_usage_session_is_unknown_not_zero(agent_fixtures: Path) -> None:
    """Codex Desktop writes no token_count and no turn_context: calls are known, usage is not."""
    session = _one(agent_fixtures, DESKTOP)
    calls = _llm(session)
    assert len(calls) == 7
    assert all(s.tokens is None and s.model is None and s.provider == "openai" for s in calls)
    tools = [s for s in session.spans if s.run_type is RunType.TOOL]
    assert tools and {s.parent_id for s in tools} <= {s.span_id for s in calls}


def test_trap_ssh_remote_becomes_owner_name(agent_fixtures: Path) -> None:
    session = _one(agent_fixtures, TUI)
    assert (session.repo, session.branch) == ("codemie-ai/codemie-code", "feat/codex-agent-plugin")
    assert session.commits == ["c8c252acd853de59c54b5c31374fec6028ee812e"]
    assert session.cwd == "/Users/Sample_User/repos/codemie-ai/codemie-code"


def test_trap_times_are_utc_from_records_not_the_local_file_name(agent_fixtures: Path) -> None:
    session = _one(agent_fixtures, TUI)  # file name says 11-26-55 local; records say 08:27 UTC
    assert session.started_at.isoformat() == "2026-05-11T08:27:17.490000+00:00"
    assert session.ended_at.isoformat() == "2026-05-11T08:33:54.640000+00:00"


def test_tool_parent_is_the_response_that_emitted_it(agent_fixtures: Path) -> None:
    """In a rollout the function_call precedes the token_count of the response containing it."""
    session = _one(agent_fixtures, EDITING)
    calls = _llm(session)
    position = {call.span_id: index for index, call in enumerate(calls)}
    parents = [position[s.parent_id] for s in session.spans if s.run_type is RunType.TOOL]
    assert parents == [0, 0, 0, 1, 1, 2, 3, 3]


def test_tool_status_and_input_hash(agent_fixtures: Path) -> None:
    tools = {s.span_id: s for s in _one(agent_fixtures, EDITING).spans if s.run_type is RunType.TOOL}
    rg = tools["codex:call_WCk7yJsnuFpDLdVTPRW0u8ES"]
    assert (rg.name, rg.status, rg.error_kind) == ("exec_command", Status.ERROR, "exit_code")
    assert rg.tool_input_hash == hash_tool_input("rg --files")
    patch = tools["codex:call_knyQUScDg6E37886AesTRAV9"]
    assert (patch.tool_name, patch.status, patch.duration_ms) == ("apply_patch", Status.OK, 132)
    assert patch.tool_input_hash == hash_tool_input(
        "\n".join(f"/Users/duongtat/Work/ls-codex-sample/{name}" for name in ("package.json", "index.js", "README.md"))
    )
    assert sum(s.status is Status.ERROR for s in tools.values()) == 1


def test_failed_patch_and_mcp_error(tmp_path: Path) -> None:
    body = "*** Begin Patch\n*** Update File: a.py\n"
    patch = {"type": "custom_tool_call", "name": "apply_patch", "call_id": "c1", "input": body}
    path = _rollout(tmp_path, [
        _meta(), _context("gpt-5.4"),
        _item("2026-05-12T10:00:01.000Z", **patch),
        _call("2026-05-12T10:00:01.100Z", "c2", "docs__search", {"q": "x"}),
        _count("2026-05-12T10:00:01.200Z", last=_usage(10, 0, 1)),
        _event("2026-05-12T10:00:01.300Z", type="patch_apply_end", call_id="c1", success=False, stderr="boom"),
        _event("2026-05-12T10:00:01.400Z", type="mcp_tool_call_end", call_id="c2", result={"Err": "server gone"}),
    ])
    tools = {s.span_id: s for s in _one(tmp_path, path.name).spans if s.run_type is RunType.TOOL}
    assert (tools["codex:c1"].error_kind, tools["codex:c1"].tool_input_hash) == ("patch_failed", hash_tool_input("a.py"))
    assert tools["codex:c2"].error_kind == "mcp_error"


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


def test_resume_inside_a_full_history_replay(tmp_path: Path) -> None:
    path = _rollout(tmp_path, _spawned_child(("2026-05-12T10:05:00", "2026-05-12T10:05:00")))
    data = path.read_bytes()
    full = wire.to_builtins(_finish([ADAPTER.read(path)]))
    lines = _cut_points(data)[:-1]
    for cut in lines[:2] + lines[5:]:  # not between the two replayed counts: see the adapter's notes
        assert wire.to_builtins(_two_reads(path, data, cut)) == full, f"cut at byte {cut}"


def test_cache_writes_are_part_of_input_and_counted_apart(tmp_path: Path) -> None:
    """Codex 0.15x reports `cache_write_input_tokens` inside `input_tokens`, as it does cached
    input; ccusage 20 counts them as cache creation (1000 - 400 - 100 = 500 input)."""
    usage = {**_usage(1000, 400, 50, 10), "cache_write_input_tokens": 100}
    path = _rollout(tmp_path, [_meta(), _context("gpt-5.5"), _count("2026-05-12T10:00:02.000Z", total=usage, last=usage)])
    (span,) = _llm(_one(tmp_path, path.name))
    assert span.tokens == Tokens(input=500, output=50, cache_read=400, cache_write_5m=100, reasoning=10)


def test_cache_writes_leave_the_call_id_as_it_was(tmp_path: Path) -> None:
    """A call's id hashes its usage: reading the new field must not rename calls already stored."""
    usage = _usage(1000, 400, 50)
    records = [_meta(), _context("gpt-5.5"), _count("2026-05-12T10:00:02.000Z", total=usage, last=usage)]
    plain = _llm(_one(tmp_path, _rollout(tmp_path, records, "rollout-a.jsonl").name))
    usage["cache_write_input_tokens"] = 0
    with_field = _llm(_one(tmp_path, _rollout(tmp_path, records, "rollout-b.jsonl").name))
    assert [s.span_id for s in plain] == [s.span_id for s in with_field]


def _settings(ts: str, **settings: Any) -> dict[str, Any]:
    return _event(ts, type="thread_settings_applied", thread_settings={"model": "gpt-5.5", **settings})


def test_service_tier_from_thread_settings_applies_to_later_calls(tmp_path: Path) -> None:
    path = _rollout(tmp_path, [
        _meta(), _context("gpt-5.5"),
        _count("2026-05-12T10:00:01.000Z", total=_usage(100, 0, 10)),
        _settings("2026-05-12T10:00:02.000Z", service_tier="fast"),
        _count("2026-05-12T10:00:03.000Z", total=_usage(300, 0, 30)),
        _settings("2026-05-12T10:00:04.000Z", approval_policy="never"),  # says nothing of the tier
        _count("2026-05-12T10:00:05.000Z", total=_usage(600, 0, 60)),
        _settings("2026-05-12T10:00:06.000Z", service_tier="default"),
        _count("2026-05-12T10:00:07.000Z", total=_usage(900, 0, 90)),
    ])
    assert [s.tier for s in _llm(_one(tmp_path, path.name))] == [None, "fast", "fast", None]


def test_service_tier_survives_a_resumed_read(tmp_path: Path) -> None:
    records = [
        _meta(), _context("gpt-5.5"), _settings("2026-05-12T10:00:01.000Z", service_tier="flex"),
        _count("2026-05-12T10:00:02.000Z", total=_usage(100, 0, 10)),
    ]
    path = _rollout(tmp_path, records)
    first = ADAPTER.read(path)
    with path.open("ab") as fh:
        fh.write(json.dumps(_count("2026-05-12T10:00:03.000Z", total=_usage(300, 0, 30))).encode() + b"\n")
    resumed = ADAPTER.read(path, first.cursors)
    (span,) = _llm(resumed.sessions[0])
    assert span.tier == "flex" and span.tokens.input == 200


def test_cursor_from_before_cache_writes_reads_again_from_the_start(tmp_path: Path) -> None:
    """A baseline of five figures (written before cache writes were read) cannot be differenced
    against six: the file is read again, which span ids make harmless."""
    path = _rollout(tmp_path, [_meta(), _context("gpt-5.5"), _count("2026-05-12T10:00:02.000Z", total=_usage(100, 0, 10))])
    (cursor,) = ADAPTER.read(path).cursors.values()
    cursor.state["total"] = cursor.state["total"][:5]
    result = ADAPTER.read(path, {str(path): Cursor(offset=0, state=cursor.state, size=0)})
    assert result.skipped == {"bad_cursor": 1}
    assert _total(result.sessions[0]).input == 100


def test_web_search_calls_are_counted_on_their_response(tmp_path: Path) -> None:
    """Each `web_search_call` item is one search, billed on top of its response's tokens; a
    response still open when a read ends is completed, searches included, by the next read."""
    search = _item("2026-05-12T10:00:01.000Z", type="web_search_call", status="completed", action={"type": "search"})
    first = [
        _meta(), _context("gpt-5.5"), search,
        {**search, "timestamp": "2026-05-12T10:00:02.000Z"},
    ]
    rest = [
        {**search, "timestamp": "2026-05-12T10:00:03.000Z"},
        _count("2026-05-12T10:00:04.000Z", total=_usage(100, 0, 10)),
        _count("2026-05-12T10:00:05.000Z", total=_usage(300, 0, 30)),
    ]
    whole = _llm(_one(tmp_path, _rollout(tmp_path, first + rest, "rollout-whole.jsonl").name))
    assert [s.web_searches for s in whole] == [3, 0]
    path = _rollout(tmp_path, first, "rollout-cut.jsonl")
    before = ADAPTER.read(path)
    assert [s.web_searches for s in _llm(before.sessions[0])] == [2]  # provisional, usage unknown
    with path.open("ab") as fh:
        fh.write(b"".join(json.dumps(r).encode() + b"\n" for r in rest))
    after = _finish([before, ADAPTER.read(path, before.cursors)])
    assert [(s.span_id, s.web_searches) for s in _llm(after[0])] == [(s.span_id, s.web_searches) for s in whole]


def test_cursor_state_is_json(agent_fixtures: Path, tmp_path: Path) -> None:
    data = (agent_fixtures / TUI).read_bytes()
    path = tmp_path / "rollout.jsonl"
    path.write_bytes(data[: len(data) // 2])
    (cursor,) = ADAPTER.read(path).cursors.values()
    assert json.loads(json.dumps(cursor.state)) == cursor.state
    assert cursor.state["model"] == "gpt-5.5" and cursor.state["total"]


def test_unreadable_cursor_state_reads_again_from_the_start(agent_fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "rollout.jsonl"
    path.write_bytes((agent_fixtures / ATTACHMENTS).read_bytes())
    offset = path.stat().st_size // 2
    result = ADAPTER.read(path, {str(path): Cursor(offset=offset, state={"bogus": 1}, size=offset)})
    assert result.skipped == {"bad_cursor": 1}
    assert _total(result.sessions[0]).output == 262


def test_replaced_file_is_read_from_the_start(agent_fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "rollout.jsonl"
    path.write_bytes((agent_fixtures / ATTACHMENTS).read_bytes())
    stale = Cursor(offset=10**9, size=10**9)
    result = ADAPTER.read(path, {str(path): stale})
    assert _total(result.sessions[0]).output == 262


# -- robustness ----------------------------------------------------------------------------------


def test_truncated_last_line_is_read_once_complete(tmp_path: Path) -> None:
    path = _rollout(tmp_path, [_meta(), _context("gpt-5.4"), _count("2026-05-12T10:00:01.000Z", last=_usage(10, 0, 1))])
    tail = json.dumps(_count("2026-05-12T10:00:02.000Z", last=_usage(20, 0, 2))).encode()
    complete = path.read_bytes()
    path.write_bytes(complete + tail[:40])
    first = ADAPTER.read(path)
    assert first.skipped == {"truncated_line": 1}
    assert first.cursors[str(path)].offset == len(complete)
    path.write_bytes(complete + tail + b"\n")
    second = ADAPTER.read(path, first.cursors)
    assert not second.skipped
    assert [s.tokens.output for s in _llm(_finish([first, second])[0])] == [1, 2]


def test_garbage_and_wrong_types_are_counted_not_raised(tmp_path: Path) -> None:
    ts = "2026-05-12T10:00:01.000Z"
    lines = [
        b"not json at all _call",
        b'[1, "_call"]',
        json.dumps({"timestamp": ts, "type": "event_msg", "payload": "token_count"}).encode(),
        json.dumps({"timestamp": 5, "type": "session_meta", "payload": {"id": 7, "git": "x", "source": [1]}}).encode(),
        json.dumps(_count(ts, last={"input_tokens": "10", "output_tokens": 1})).encode(),
        json.dumps(_count(ts, last={"input_tokens": -3})).encode(),
        json.dumps(_count(ts, last=[1, 2])).encode(),
        json.dumps(_event(ts, type="token_count", info=[1])).encode(),
        json.dumps(_event(ts, type="token_count", info={})).encode(),
        json.dumps(_item(ts, type="function_call", call_id=3, arguments=4)).encode(),
        json.dumps(_item(ts, type="function_call", call_id="c", name=["x"], arguments="{")).encode(),
        json.dumps(_event(ts, type="exec_command_end", call_id="c", exit_code="1")).encode(),
        json.dumps(_event(ts, type="collab_agent_spawn_end", call_id=None)).encode(),
        json.dumps(_count("2026-05-12T10:00:02.000Z", last=_usage(10, 0, 1))).encode(),
    ]
    path = tmp_path / "rollout-bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    result = ADAPTER.read(path)
    assert result.skipped == {
        "malformed_json": 1, "not_an_object": 1, "bad_record": 2, "bad_usage": 3,
        "token_count_without_usage": 1, "tool_without_call_id": 2,
    }
    (session,) = result.sessions
    assert session.key == "codex:rollout-bad"
    assert [s.tokens.input for s in _llm(session) if s.tokens] == [10]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "rollout-empty.jsonl"
    path.write_bytes(b"")
    result = ADAPTER.read(path)
    assert (result.sessions, dict(result.skipped)) == ([], {})
    assert result.cursors[str(path)].offset == 0


# -- privacy -------------------------------------------------------------------------------------


def test_no_prompt_output_or_command_text_is_kept(agent_fixtures: Path) -> None:
    sessions = [s for rel in ALL_FILES for s in _read(agent_fixtures, rel)]
    blob = wire.to_json(sessions)
    for secret in (
        "Tell one short original joke",  # prompt
        "I told my bug tracker",  # subagent answer
        "Process exited with code",  # tool output
        "v22.14.0",
        "Sample app works",  # command line
        "rg --files",
        "sed -n",
        "Full-history forked agents",  # the rejection text
        "prints cowsay output",  # patch content
        "encrypted_content",
    ):
        assert secret.encode() not in blob, secret


# -- identify and discover -----------------------------------------------------------------------


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(HEAD_BYTES)


def test_identify_claims_exactly_the_codex_fixtures(agent_fixtures: Path) -> None:
    claimed = {
        str(p.relative_to(agent_fixtures))
        for p in agent_fixtures.rglob("*")
        if p.is_file() and ADAPTER.identify(p, _head(p))
    }
    assert claimed == set(ALL_FILES)


def test_identify_prefers_the_live_copy_over_the_archived_one(agent_fixtures: Path, tmp_path: Path) -> None:
    data = (agent_fixtures / TUI).read_bytes()
    name = Path(TUI).name
    archived = tmp_path / "archived_sessions" / name
    archived.parent.mkdir()
    archived.write_bytes(data)
    assert ADAPTER.identify(archived, data[:HEAD_BYTES])
    live = tmp_path / "sessions" / "2026" / "05" / "11" / name
    live.parent.mkdir(parents=True)
    live.write_bytes(data)
    assert not ADAPTER.identify(archived, data[:HEAD_BYTES])
    assert ADAPTER.identify(live, data[:HEAD_BYTES])


def test_discover_honours_codex_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert list(ADAPTER.discover({}, home)) == [home / ".codex" / "sessions", home / ".codex" / "archived_sessions"]
    custom = tmp_path / "custom"
    assert list(ADAPTER.discover({"CODEX_HOME": str(custom)}, home)) == [custom / "sessions", custom / "archived_sessions"]

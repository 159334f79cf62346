"""OpenCode storage (JSON tree and SQLite): golden outputs, the format's traps, incremental reads,
robustness, privacy and identification."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from bot import adapters, wire
from bot.adapters import opencode
from bot.adapters.base import HEAD_BYTES, ParseResult
from bot.adapters.opencode import ADAPTER
from bot.corpus import merge
from bot.trace import RunType, Session, Status, Tokens

UNITS = ("agent-sessions-storage_legacy", "agent-sessions-storage_v2", "codemie-storage", "tokscale")
MS_2026 = 1767225600000  # 2026-01-01, after OpenCode stopped storing inclusive input
MS_2025_09 = 1757894400000  # 2025-09-15, before


def _storage(root: Path, unit: str) -> Path:
    return root / "opencode" / unit / "storage"


def _head(path: Path) -> bytes:
    if not path.is_file():
        return b""
    with path.open("rb") as fh:
        return fh.read(HEAD_BYTES)


def _portable(sessions: list[Session], root: Path) -> list[Session]:
    for session in sessions:
        if session.source:
            session.source = Path(session.source).relative_to(root).as_posix()
    return sorted(sessions, key=lambda s: s.key)


def _canonical(sessions: list[Session], *, keep_source: bool = True) -> list[dict]:
    for session in sessions:
        session.spans.sort(key=lambda s: s.span_id)
        if not keep_source:
            session.source = None
    return wire.to_builtins(sorted(sessions, key=lambda s: s.key))


def _merged(*results: ParseResult, keep_source: bool = True) -> list[dict]:
    return _canonical(merge(results).finish(), keep_source=keep_source)


def _llm(sessions: list[Session]) -> list[Any]:
    return [s for x in sessions for s in x.spans if s.is_llm]


def _write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data))
    return path


def _session(storage: Path, sid: str, **extra: Any) -> Path:
    info = {"id": sid, "version": "1.3.0", "projectID": "p", "directory": "/work/app",
            "time": {"created": MS_2026, "updated": MS_2026}}
    return _write(storage / "session" / "p" / f"{sid}.json", {**info, **extra})


def _message(storage: Path, sid: str, mid: str, **extra: Any) -> Path:
    info = {"id": mid, "sessionID": sid, "role": "assistant", "providerID": "openai", "modelID": "gpt-5",
            "time": {"created": MS_2026, "completed": MS_2026 + 900}}
    return _write(storage / "message" / sid / f"{mid}.json", {**info, **extra})


def _part(storage: Path, mid: str, pid: str, **extra: Any) -> Path:
    return _write(storage / "part" / mid / f"{pid}.json", {"id": pid, "messageID": mid, **extra})


def _tool(storage: Path, mid: str, pid: str, tool: str, **state: Any) -> Path:
    return _part(storage, mid, pid, type="tool", tool=tool, state=state)


def _tokens(inp: int, out: int, read: int = 0, write: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {"input": inp, "output": out, "reasoning": reasoning, "cache": {"read": read, "write": write}}


# --- golden and fixture facts --------------------------------------------------------------------


@pytest.mark.parametrize("unit", UNITS)
def test_golden(agent_fixtures: Path, golden: Callable[[str, object], None], unit: str) -> None:
    result = ADAPTER.read(_storage(agent_fixtures, unit))
    assert not result.skipped
    golden(f"adapters/opencode/{unit}.json", wire.to_builtins(_portable(result.sessions, agent_fixtures)))


def test_step_finish_with_the_message_tokens_is_not_counted_twice(agent_fixtures: Path) -> None:
    """codemie: the single step-finish repeats the message's tokens; one call, counted once."""
    (call,) = _llm(ADAPTER.read(_storage(agent_fixtures, "codemie-storage")).sessions)
    assert call.span_id == "opencode:msg-assistant-1"
    assert call.tokens == Tokens(input=1000, output=500, cache_read=200, cache_write_5m=100)
    assert (call.model, call.provider) == ("claude-sonnet-4-6", "anthropic")


def test_epoch_milliseconds(agent_fixtures: Path) -> None:
    (session,) = ADAPTER.read(_storage(agent_fixtures, "tokscale")).sessions
    (call,) = session.spans
    assert call.started_at is not None and call.started_at.isoformat() == "2024-12-01T00:00:00+00:00"
    assert call.duration_ms == 60000
    assert session.key == "opencode:ses_test001"


def test_tool_spans_and_failures(agent_fixtures: Path) -> None:
    sessions = ADAPTER.read(_storage(agent_fixtures, "agent-sessions-storage_v2")).sessions
    spans = {s.span_id: s for x in sessions for s in x.spans}
    failed = spans["opencode:p_tool_large_1"]
    assert (failed.run_type, failed.status, failed.error_kind) == (RunType.TOOL, Status.ERROR, "exit_code")
    assert failed.parent_id == "opencode:m_assistant_large_1" and failed.duration_ms == 500
    assert spans["opencode:p_tool_1"].status is Status.OK
    aborted = spans["opencode:m_assistant_large_1"]
    assert (aborted.status, aborted.error_kind) == (Status.INTERRUPTED, "aborted")
    assert spans["opencode:m_assistant_small"].tokens is None  # an assistant reply without usage: unknown


# --- traps -------------------------------------------------------------------------------------------


def test_several_steps_give_one_span_each_and_ignore_the_message_tokens(tmp_path: Path) -> None:
    """The message's `tokens` hold only the last step; the steps are the calls."""
    storage = tmp_path / "storage"
    _session(storage, "s")
    _message(storage, "s", "m", tokens=_tokens(300, 30), cost=0.5)
    _part(storage, "m", "prt_01", type="step-finish", tokens=_tokens(100, 10), cost=0.2)
    _part(storage, "m", "prt_02", type="step-finish", tokens=_tokens(300, 30), cost=0.3)
    calls = _llm(ADAPTER.read(storage).sessions)
    assert [c.span_id for c in calls] == ["opencode:m", "opencode:prt_02"]
    assert [c.tokens.input for c in calls] == [100, 300]
    assert [c.reported_cost_usd for c in calls] == [0.2, 0.3]


def test_a_message_read_between_its_steps_is_not_double_counted(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    _session(storage, "s")
    _message(storage, "s", "m", tokens=_tokens(100, 10), time={"created": MS_2026})  # not completed yet
    _part(storage, "m", "prt_01", type="step-finish", tokens=_tokens(100, 10))
    first = ADAPTER.read(storage)
    _message(storage, "s", "m", tokens=_tokens(300, 30))
    _part(storage, "m", "prt_02", type="step-finish", tokens=_tokens(300, 30))
    second = ADAPTER.read(storage, first.cursors)
    assert _merged(first, second) == _merged(ADAPTER.read(storage))
    assert sum(c.tokens.input for c in _llm(merge([first, second]).finish())) == 400


def test_reasoning_is_added_to_output(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    _message(storage, "s", "m", tokens=_tokens(10, 70, reasoning=30))
    (call,) = _llm(ADAPTER.read(storage).sessions)
    assert call.tokens == Tokens(input=10, output=100, reasoning=30)


@pytest.mark.parametrize(("provider", "created", "version", "tokens", "expected_input"), [
    ("openai", MS_2025_09, "1.0.20", _tokens(9640, 5, read=9600), 40),  # old build: inclusive
    ("openai", MS_2026, "1.3.0", _tokens(9640, 5, read=9600), 9640),  # fixed build: already uncached
    ("openai", MS_2026, "0.15.8", _tokens(9640, 5, read=9600), 40),  # an old build still in use
    ("openai", MS_2025_09, "0.9.0", _tokens(40, 5, read=9600), 40),  # cannot be inclusive: left alone
    ("anthropic", MS_2025_09, "0.9.0", _tokens(9640, 5, read=9600), 9640),  # Anthropic never was
    ("amazon-bedrock", MS_2025_09, None, _tokens(9640, 5, read=9600, write=20), 9640),
    ("openrouter", MS_2025_09, None, _tokens(1000, 5, read=600, write=100), 300),
])
def test_old_builds_inclusive_input(
    tmp_path: Path, provider: str, created: int, version: str | None, tokens: dict, expected_input: int
) -> None:
    storage = tmp_path / "storage"
    _session(storage, "s", version=version)
    _message(storage, "s", "m", providerID=provider, tokens=tokens, time={"created": created})
    (call,) = _llm(ADAPTER.read(storage).sessions)
    assert call.tokens.input == expected_input


def test_zero_cost_is_kept_as_reported(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    _message(storage, "s", "m", providerID="opencode", modelID="grok-code", tokens=_tokens(10, 1), cost=0)
    (call,) = _llm(ADAPTER.read(storage).sessions)
    assert call.reported_cost_usd == 0.0 and call.cost_usd is None


def test_task_tool_is_a_subagent_linked_to_its_child(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    _session(storage, "parent")
    _session(storage, "child", parentID="parent")
    _message(storage, "parent", "m1", tokens=_tokens(10, 1))
    _part(storage, "m1", "prt_task", type="tool", tool="task", callID="c", state={
        "status": "completed", "input": {"subagent_type": "general", "prompt": "do the thing"},
        "metadata": {"sessionId": "child"}, "time": {"start": MS_2026, "end": MS_2026 + 5000}})
    _message(storage, "child", "m2", tokens=_tokens(20, 2))
    _tool(storage, "m2", "prt_err", "read", status="error", input={"filePath": "/x"}, error="ENOENT /x")
    sessions = {s.key: s for s in merge([ADAPTER.read(storage)]).finish()}
    (handoff,) = [s for s in sessions["opencode:parent"].spans if s.run_type is RunType.SUBAGENT]
    assert (handoff.name, handoff.tool_name, handoff.child_session_key) == ("general", "task", "opencode:child")
    child = sessions["opencode:child"]
    assert (child.parent_key, child.agent_name, child.cwd) == ("opencode:parent", "general", "/work/app")
    failed = next(s for s in child.spans if s.span_id == "opencode:prt_err")
    assert (failed.status, failed.error_kind) == (Status.ERROR, "error")


def test_cwd_from_the_message_path_when_there_is_no_session_file(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    _message(storage, "s", "m", path={"cwd": "/src/app", "root": "/src/app"})
    assert ADAPTER.read(storage).sessions[0].cwd == "/src/app"


# --- incremental reads -------------------------------------------------------------------------------


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = opencode._read_bytes

    def counted(path: str, skipped: Any) -> bytes | None:
        calls.append(path)
        return real(path, skipped)

    monkeypatch.setattr(opencode, "_read_bytes", counted)
    return calls


@pytest.mark.parametrize("unit", UNITS)
def test_resume_after_a_new_message_equals_a_full_read(agent_fixtures: Path, tmp_path: Path, unit: str) -> None:
    storage = shutil.copytree(_storage(agent_fixtures, unit), tmp_path / "storage")
    first = ADAPTER.read(storage)
    sid = first.sessions[0].key.removeprefix("opencode:")
    _message(storage, sid, "msg_new", tokens=_tokens(50, 5, read=7))
    _tool(storage, "msg_new", "prt_new", "bash", status="completed", input={"command": "make"})
    second = ADAPTER.read(storage, first.cursors)
    assert [s.span_id for x in second.sessions for s in x.spans] == ["opencode:msg_new", "opencode:prt_new"]
    assert _merged(first, second) == _merged(ADAPTER.read(storage))


def test_unchanged_files_are_not_read_again(agent_fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = shutil.copytree(_storage(agent_fixtures, "agent-sessions-storage_v2"), tmp_path / "storage")
    first = ADAPTER.read(storage)
    calls = _counting_reads(monkeypatch)
    again = ADAPTER.read(storage, first.cursors)
    assert calls == [] and again.sessions == [] and again.cursors == first.cursors
    _tool(storage, "m_assistant_large_2", "009", "read", status="completed", input={"filePath": "a"})
    ADAPTER.read(storage, first.cursors)
    # only the changed message: its file and its parts (to tell one step from several)
    assert sorted(Path(c).name for c in calls) == ["001.json", "009.json", "msg_0004.json"]


def test_legacy_flat_part_change_rereads_its_message(agent_fixtures: Path, tmp_path: Path) -> None:
    storage = shutil.copytree(_storage(agent_fixtures, "agent-sessions-storage_legacy"), tmp_path / "storage")
    first = ADAPTER.read(storage)
    _write(storage / "part" / "prt_0003.json", {"id": "prt_tool_2", "messageID": "m_assistant_drift", "type": "tool",
                                                "tool": "read", "state": {"status": "completed", "input": {"filePath": "R"}}})
    second = ADAPTER.read(storage, first.cursors)
    reread = {s.span_id for x in second.sessions for s in x.spans}
    assert reread == {"opencode:m_assistant_drift", "opencode:prt_tool_1", "opencode:prt_tool_2"}
    assert _merged(first, second) == _merged(ADAPTER.read(storage))


# --- the SQLite store ---------------------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE session (id TEXT PRIMARY KEY, project_id TEXT, parent_id TEXT, slug TEXT, directory TEXT, title TEXT,
                      version TEXT, time_created INTEGER, time_updated INTEGER);
CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT, time_created INTEGER, time_updated INTEGER, data TEXT);
CREATE TABLE part (id TEXT PRIMARY KEY, message_id TEXT, session_id TEXT, time_created INTEGER, time_updated INTEGER,
                   data TEXT);
"""


def _json_files(path: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for file in sorted(path.rglob("*.json")):
        yield file, orjson.loads(file.read_bytes())


def _insert_message(con: sqlite3.Connection, info: dict[str, Any], updated: int) -> None:
    data = {k: v for k, v in info.items() if k not in ("id", "sessionID")}
    created = info.get("time", {}).get("created", updated)
    row = (info["id"], info["sessionID"], created, updated, orjson.dumps(data).decode())
    con.execute("INSERT INTO message VALUES (?,?,?,?,?)", row)


def _insert_part(con: sqlite3.Connection, part: dict[str, Any], mid: str, updated: int) -> None:
    data = {k: v for k, v in part.items() if k not in ("id", "sessionID", "messageID")}
    row = (part["id"], mid, part.get("sessionID"), updated, updated, orjson.dumps(data).decode())
    con.execute("INSERT INTO part VALUES (?,?,?,?,?,?)", row)


def _build_db(storage: Path, db: Path, *, wal: bool = False) -> sqlite3.Connection:
    """An opencode.db holding what the JSON tree holds, in the v1.2 table layout (ids as columns)."""
    con = sqlite3.connect(db, isolation_level=None)
    if wal:
        con.execute("PRAGMA journal_mode=WAL")
    con.executescript(_SCHEMA)
    for _, info in _json_files(storage / "session"):
        t = info.get("time", {})
        con.execute("INSERT INTO session VALUES (?,?,?,?,?,?,?,?,?)", (
            info["id"], info.get("projectID"), info.get("parentID"), info.get("slug"), info.get("directory"),
            info.get("title"), info.get("version"), t.get("created"), t.get("updated")))
    for _, info in _json_files(storage / "message"):
        _insert_message(con, info, info["time"]["created"])
    for file, part in _json_files(storage / "part"):
        mid = part.get("messageID") or file.parent.name
        _insert_part(con, part, mid, 1)
    return con


@pytest.mark.parametrize("unit", UNITS)
def test_db_reads_like_the_json_tree(agent_fixtures: Path, tmp_path: Path, unit: str) -> None:
    storage = _storage(agent_fixtures, unit)
    db = tmp_path / "opencode.db"
    _build_db(storage, db).close()
    assert ADAPTER.identify(db, _head(db))
    from_db = ADAPTER.read(db)
    assert not from_db.skipped
    assert _merged(from_db, keep_source=False) == _merged(ADAPTER.read(storage), keep_source=False)
    # Both stores of one machine merge into one copy of each call.
    assert _merged(from_db, ADAPTER.read(storage), keep_source=False) == _merged(ADAPTER.read(storage), keep_source=False)


def test_db_is_opened_read_only_and_sees_uncheckpointed_wal(
    agent_fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "opencode.db"
    writer = _build_db(_storage(agent_fixtures, "codemie-storage"), db, wal=True)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    _insert_message(writer, {"id": "late", "sessionID": "test-session-1", "role": "assistant", "providerID": "anthropic",
                             "modelID": "claude-sonnet-4-6", "tokens": _tokens(1, 1), "time": {"created": MS_2026}}, MS_2026)
    opened: list[str] = []
    connect = sqlite3.connect
    monkeypatch.setattr(opencode.sqlite3, "connect", lambda target, **kw: opened.append(target) or connect(target, **kw))
    result = ADAPTER.read(db)
    writer.close()
    assert {c.span_id for c in _llm(result.sessions)} == {"opencode:msg-assistant-1", "opencode:late"}
    assert opened == [f"{db.as_uri()}?mode=ro"]


def test_db_resume_by_time_updated(agent_fixtures: Path, tmp_path: Path) -> None:
    db = tmp_path / "opencode.db"
    con = _build_db(_storage(agent_fixtures, "codemie-storage"), db)
    first = ADAPTER.read(db)
    assert first.cursors[str(db)].state == {"time_updated": 1737979800000}
    nothing = ADAPTER.read(db, first.cursors)
    assert _llm(nothing.sessions) == []
    _insert_message(con, {"id": "m2", "sessionID": "test-session-1", "role": "assistant", "providerID": "anthropic",
                          "modelID": "claude-sonnet-4-6", "tokens": _tokens(5, 5), "time": {"created": MS_2026}}, MS_2026)
    # a new step on the old message: the whole message is read again, with its parts
    late = {"id": "part-tool-late", "type": "tool", "tool": "bash", "state": {"status": "error", "input": {"command": "x"}}}
    _insert_part(con, late, "msg-assistant-1", MS_2026)
    con.close()
    second = ADAPTER.read(db, first.cursors)
    reread = {s.span_id for x in second.sessions for s in x.spans}
    assert reread >= {"opencode:m2", "opencode:part-tool-late", "opencode:msg-assistant-1"}
    assert _merged(first, second) == _merged(ADAPTER.read(db))


def test_db_with_another_schema_or_corrupt_is_a_counted_skip(tmp_path: Path) -> None:
    other = tmp_path / "opencode.db"
    sqlite3.connect(other).executescript("CREATE TABLE notes (id TEXT); INSERT INTO notes VALUES ('x');")
    assert ADAPTER.read(other).skipped == {"db_schema": 1}
    corrupt = tmp_path / "opencode-dev.db"
    corrupt.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    assert ADAPTER.identify(corrupt, _head(corrupt))
    assert ADAPTER.read(corrupt).skipped == {"db_unreadable": 1}


# --- robustness -------------------------------------------------------------------------------------


def test_bad_files_are_counted_never_raised(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    (storage / "message" / "s").mkdir(parents=True)
    (storage / "message" / "s" / "broken.json").write_bytes(b'{"id": "x", "sessionID": ')
    (storage / "message" / "s" / "empty.json").write_bytes(b"")
    (storage / "message" / "s" / "list.json").write_bytes(b"[1, 2]")
    _write(storage / "message" / "s" / "noid.json", {"role": "assistant"})
    _message(storage, "s", "m", tokens={"input": "12", "output": -3, "cache": "none", "reasoning": None},
             time={"created": "yesterday"}, cost="free", error="boom", path="/not/a/dict", modelID=5)
    _part(storage, "m", "p1", type="tool", tool="bash", state="done")
    _tool(storage, "m", "p2", "bash", status="completed", input=["ls"], time={"start": "x"}, metadata={"exit": True})
    _part(storage, "m", "p3", type="step-finish", tokens="many")
    _message(storage, "s", "m2", tokens={"input": 5, "output": "5", "cache": {"read": -1}})
    (storage / "part" / "m" / "p4.json").write_bytes(b'{"type": "tool"')
    _part(storage, "ghost", "p5", type="tool", tool="read", state={})
    _session(storage, "s", parentID=7, directory=None, time="now")
    result = ADAPTER.read(storage)
    assert result.skipped == {"malformed_json": 3, "not_an_object": 1, "bad_record": 1, "orphan_part": 1}
    (session,) = result.sessions
    call, *tools, partial = session.spans
    assert partial.tokens == Tokens(input=5)  # the usable counts are kept
    assert call.tokens is None and call.reported_cost_usd is None and call.model is None  # no usable count
    assert (call.status, call.error_kind) == (Status.OK, None)
    assert [t.status for t in tools] == [Status.OK, Status.OK] and session.parent_key is None


# --- privacy ----------------------------------------------------------------------------------------


def test_no_text_leaves_the_store(agent_fixtures: Path) -> None:
    needles = {
        "codemie-storage": [b"Create a test file", b"console.log('Hello", b"existing content", b"three console.log"],
        "agent-sessions-storage_v2": [b"Investigating failing", b"No such file or directory", b"a.txt", b"Found 2 files"],
        "agent-sessions-storage_legacy": [b"# Title", b"extracted the title"],
    }
    for unit, texts in needles.items():
        storage = _storage(agent_fixtures, unit)
        out = wire.to_json(ADAPTER.read(storage).sessions)
        for text in texts:
            assert any(text in p.read_bytes() for p in storage.rglob("*.json")) and text not in out, (unit, text)


# --- identification ----------------------------------------------------------------------------------


def test_identify_claims_the_storage_directories_only(agent_fixtures: Path) -> None:
    claimed = {p.relative_to(agent_fixtures).as_posix() for p in agent_fixtures.rglob("*") if ADAPTER.identify(p, _head(p))}
    assert claimed == {f"opencode/{unit}/storage" for unit in UNITS}


def test_registry_reads_each_storage_as_one_unit(agent_fixtures: Path) -> None:
    units = [(a, p) for a, p in adapters.walk(agent_fixtures / "opencode")]
    assert units == [(ADAPTER, _storage(agent_fixtures, unit)) for unit in UNITS]


def test_no_adapter_claims_the_json_files_inside_a_storage_tree(agent_fixtures: Path) -> None:
    for file in (agent_fixtures / "opencode").rglob("*"):
        if file.is_file():
            assert adapters.identify(file) is None, file


def test_db_identification_needs_the_name_and_the_sqlite_header(tmp_path: Path) -> None:
    db = tmp_path / "opencode.db"
    sqlite3.connect(db).executescript(_SCHEMA)
    assert ADAPTER.identify(db, _head(db))
    for name in ("notes.db", "opencode.db-wal", "opencode.sqlite"):
        shutil.copy(db, tmp_path / name)
        assert not ADAPTER.identify(tmp_path / name, _head(tmp_path / name))
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "opencode.db").write_text("not sqlite")
    assert not ADAPTER.identify(tmp_path / "fake" / "opencode.db", b"not sqlite")


def test_discover_honours_the_data_dir_overrides(tmp_path: Path) -> None:
    data = tmp_path / "data" / "opencode"
    data.mkdir(parents=True)
    sqlite3.connect(data / "opencode.db").close()
    sqlite3.connect(data / "opencode-beta.db").close()
    (data / "auth.json").write_text("{}")
    assert list(ADAPTER.discover({"OPENCODE_DATA_DIR": str(data)}, tmp_path)) == [
        data / "storage", data / "opencode-beta.db", data / "opencode.db"]
    assert list(ADAPTER.discover({"XDG_DATA_HOME": str(tmp_path / "data")}, tmp_path))[0] == data / "storage"
    assert list(ADAPTER.discover({"XDG_DATA_HOME": "relative"}, tmp_path)) == [tmp_path / ".local/share/opencode/storage"]

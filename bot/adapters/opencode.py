"""Read OpenCode's local store, the JSON-file tree or the SQLite database, into sessions.

OpenCode keeps one file (or row) per session, per message and per message part, and rewrites
them in place while a reply streams, so there is no byte offset to resume from. Instead a
cursor per file remembers its size and mtime (per database, the newest `time_updated` seen),
and only messages with something changed are read again. Span ids are OpenCode's own message
and part ids, so the JSON tree and the database, or two reads of either, merge into one copy of
each call (docs/agent-formats.md, section 4).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bot.adapters.base import Cursor, ParseResult, normalized_input, parse_time
from bot.trace import RunType, Runtime, Session, Span, Status, Tokens, hash_tool_input

_PREFIX = "opencode:"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_DB_NAME = re.compile(r"^opencode(?:-[^/\\]+)?\.db$")

_TOOL, _STEP = b'"tool"', b'"step-finish"'
"""Only tool and step-finish parts matter; text, reasoning and file parts are never decoded."""

_CACHE_EXCLUSIVE_PROVIDERS = frozenset({"anthropic", "amazon-bedrock", "bedrock", "google-vertex-anthropic"})
"""Providers whose SDK reports input without cached tokens, in every OpenCode version."""
_CACHE_FIX_MS = int(datetime(2025, 11, 13, tzinfo=UTC).timestamp() * 1000)
"""OpenCode started subtracting cached tokens from other providers' input with PR #4256
(anomalyco/opencode, merged 2025-11-12); messages created before the next day came from builds
that stored the provider's inclusive figure."""

_SHELL_TOOLS = frozenset({"bash", "shell"})
_FILE_TOOLS = frozenset({"read", "write", "edit", "multiedit"})
_FILE_KEYS = ("filePath", "file_path", "path")
_ERROR_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")
_DB_CHUNK = 500


class _Adapter:
    name = "opencode"
    runtime = Runtime.OPENCODE
    suffixes = frozenset({".db"})
    claims_directories = True
    lists_root_parents = True

    def identify(self, path: Path, head: bytes) -> bool:
        """The `storage` directory as one unit, or an `opencode*.db` SQLite file; never the
        JSON files inside the tree, which only mean something together."""
        if not head and path.is_dir():  # a file with a head is no directory: no stat for it
            return _is_storage_dir(path)
        return bool(_DB_NAME.match(path.name)) and head.startswith(_SQLITE_MAGIC)

    def read(self, path: Path, cursors: Mapping[str, Cursor] | None = None) -> ParseResult:
        cursors = cursors or {}
        if path.is_dir():
            return _read_storage(path, cursors)
        return _read_db(path, cursors)

    def discover(self, env: Mapping[str, str], home: Path) -> Iterable[Path]:
        data = _data_dir(env, home)
        yield data / "storage"
        if data.is_dir():
            yield from sorted(p for p in data.iterdir() if _DB_NAME.match(p.name))


ADAPTER = _Adapter()


def _is_storage_dir(path: Path) -> bool:
    if not (path / "message").is_dir():
        return False
    # A tree holding only `message/` (as some exports do) is still ours when it is named storage.
    return path.name == "storage" or (path / "session").is_dir() or (path / "part").is_dir()


def _data_dir(env: Mapping[str, str], home: Path) -> Path:
    """OpenCode's data directory: `OPENCODE_DATA_DIR`, else `$XDG_DATA_HOME/opencode`."""
    if env.get("OPENCODE_DATA_DIR"):
        return Path(env["OPENCODE_DATA_DIR"]).expanduser()
    xdg = env.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".local" / "share"
    return base / "opencode"


# ---------------------------------------------------------------------------------------------
# Mapping: one message and its parts become spans. Shared by the JSON tree and the database.


@dataclass(slots=True)
class _Step:
    """What a `step-finish` part says: one model call's usage inside a multi-call message."""

    part_id: str
    tokens: dict[str, Any]
    cost: float | None


_Part = _Step | Span


@dataclass
class _Collector:
    """Sessions being built from one store, and what was skipped on the way."""

    source: str
    sessions: dict[str, Session] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)

    def session(self, native_id: str) -> Session:
        key = _PREFIX + native_id
        session = self.sessions.get(key)
        if session is None:
            session = Session(key=key, runtime=Runtime.OPENCODE, source=self.source)
            self.sessions[key] = session
        return session

    def add_session_info(self, info: dict[str, Any]) -> str | None:
        """Session metadata; returns the OpenCode version that wrote it (for the input pitfall)."""
        sid = info.get("id")
        if not isinstance(sid, str) or not sid:
            self.skipped["bad_record"] += 1
            return None
        session = self.session(sid)
        parent = info.get("parentID")
        if isinstance(parent, str) and parent:
            session.parent_key = _PREFIX + parent
        directory = info.get("directory")
        if isinstance(directory, str) and directory:
            session.cwd = directory
        times = _dict(info.get("time"))
        session.observe_time(parse_time(times.get("created")))
        session.observe_time(parse_time(times.get("updated")))
        version = info.get("version")
        return version if isinstance(version, str) else None

    def add_message(self, info: dict[str, Any], parts: list[_Part], version: str | None) -> None:
        try:
            self._add_message(info, parts, version)
        except (TypeError, ValueError, AttributeError, OverflowError):
            self.skipped["bad_record"] += 1

    def _add_message(self, info: dict[str, Any], parts: list[_Part], version: str | None) -> None:
        mid, sid = info.get("id"), info.get("sessionID")
        if not isinstance(mid, str) or not isinstance(sid, str) or not mid or not sid:
            self.skipped["bad_record"] += 1
            return
        session = self.session(sid)
        times = _dict(info.get("time"))
        session.observe_time(parse_time(times.get("created")))
        session.observe_time(parse_time(times.get("completed")))
        cwd = _dict(info.get("path")).get("cwd")
        if session.cwd is None and isinstance(cwd, str) and cwd:
            session.cwd = cwd
        if info.get("role") == "assistant":
            steps = [p for p in parts if isinstance(p, _Step)]
            session.spans.extend(_llm_spans(info, mid, steps, version))
        for span in parts:
            if isinstance(span, Span):
                session.spans.append(span)
                session.observe_time(span.started_at)

    def result(self, cursors: dict[str, Cursor]) -> ParseResult:
        return ParseResult(sessions=list(self.sessions.values()), skipped=self.skipped, cursors=cursors)


def _llm_spans(info: dict[str, Any], mid: str, steps: list[_Step], version: str | None) -> list[Span]:
    """One span per model call: per `step-finish` when the message has any, else the message.

    A message's own `tokens` are overwritten by each step (they hold the last step only, while
    `cost` accumulates), so once step-finish parts exist they are the truth and the message's
    figures are ignored. The first step reuses the message id: a message read after its first
    step and again after its second must not count the first step twice. Only a one-call
    message gets a duration, and only once `time.completed` is written, which OpenCode does
    after the last step, so a later read never contradicts it.
    """
    model, provider = _model(info)
    times = _dict(info.get("time"))
    created, completed = _int(times.get("created")), _int(times.get("completed"))
    started = parse_time(created)
    message_cost = _cost(info.get("cost"))
    if len(steps) > 1:
        steps = sorted(steps, key=lambda s: s.part_id)
        spans = [
            _llm_span(
                mid if i == 0 else step.part_id, started, None, model, provider,
                _tokens(step.tokens, provider, model, created, version), step.cost,
            )
            for i, step in enumerate(steps)
        ]
    else:
        raw = steps[0].tokens if steps else info.get("tokens")
        tokens = _tokens(raw, provider, model, created, version) if isinstance(raw, dict) else None
        cost = steps[0].cost if steps and steps[0].cost is not None else message_cost
        spans = [_llm_span(mid, started, _elapsed(created, completed), model, provider, tokens, cost)]
    spans[-1].status, spans[-1].error_kind = _message_status(info.get("error"))
    return spans


def _llm_span(
    native_id: str, started: datetime | None, duration: int | None, model: str | None,
    provider: str | None, tokens: Tokens | None, cost: float | None,
) -> Span:
    return Span(
        span_id=_PREFIX + native_id, run_type=RunType.LLM, name=model or "llm", started_at=started,
        duration_ms=duration, model=model, provider=provider, tokens=tokens, reported_cost_usd=cost,
    )


def _tokens(
    raw: dict[str, Any], provider: str | None, model: str | None, created: int | None, version: str | None
) -> Tokens | None:
    """OpenCode's `tokens` in our meaning: reasoning is extra to `output`, so it is added.

    Old builds stored the provider's inclusive input for non-Anthropic providers (the pitfall in
    docs/agent-formats.md §4); `_input_includes_cache` decides per message whether to subtract.
    A `tokens` object without a single usable count is unknown usage (None), not zero.
    """
    cache = _dict(raw.get("cache"))
    fields = (raw.get("input"), raw.get("output"), raw.get("reasoning"), cache.get("read"), cache.get("write"))
    counts = [_count(v) for v in fields]
    if all(c is None for c in counts):
        return None
    uncached, output, reasoning, read, write = (c or 0 for c in counts)
    if _input_includes_cache(provider, model, created, version, uncached, read, write):
        uncached -= read + write
    return Tokens(input=uncached, output=output + reasoning, cache_read=read, cache_write_5m=write, reasoning=reasoning)


def _input_includes_cache(
    provider: str | None, model: str | None, created: int | None, version: str | None,
    uncached: int, read: int, write: int,
) -> bool:
    """True when `tokens.input` still contains the cached tokens and they must be taken out.

    The rule: never for Anthropic-style providers (their SDK reports uncached input, and
    OpenCode's Zen serves Claude models through that SDK too); otherwise only for data written
    by an old build, i.e. an OpenCode version before 1.0 or a message created before the fix
    shipped (`_CACHE_FIX_MS`), and only when the figures allow it (input ≥ read + write), so a
    new-style figure is never pushed below zero.
    """
    if read + write == 0 or uncached < read + write:
        return False
    if provider in _CACHE_EXCLUSIVE_PROVIDERS or (provider == "opencode" and (model or "").startswith("claude")):
        return False
    return _version_before_1(version) or (created is not None and created < _CACHE_FIX_MS)


def _version_before_1(version: str | None) -> bool:
    major = (version or "").split(".", 1)[0]
    return major.isdigit() and int(major) < 1


def _model(info: dict[str, Any]) -> tuple[str | None, str | None]:
    nested = _dict(info.get("model"))
    model = info.get("modelID") or nested.get("modelID")
    provider = info.get("providerID") or nested.get("providerID")
    return (model if isinstance(model, str) else None, provider if isinstance(provider, str) else None)


def _message_status(error: Any) -> tuple[Status, str | None]:
    """A message's `error.name` is OpenCode's error class (never its text): aborted = interrupted."""
    if not isinstance(error, dict):
        return Status.OK, None
    name = error.get("name")
    if name == "MessageAbortedError":
        return Status.INTERRUPTED, "aborted"
    return Status.ERROR, name if isinstance(name, str) and _ERROR_NAME.match(name) else "error"


def _part_facts(part: dict[str, Any], message_id: str | None) -> _Part | None:
    """Reduce a decoded part to what we keep, right away, so no content outlives the decode."""
    kind = part.get("type")
    pid = part.get("id")
    if not isinstance(pid, str) or not pid:
        return None
    if kind == "step-finish":
        tokens = part.get("tokens")
        return _Step(pid, tokens, _cost(part.get("cost"))) if isinstance(tokens, dict) else None
    if kind == "tool" and isinstance(part.get("tool"), str):
        mid = part.get("messageID") if isinstance(part.get("messageID"), str) else message_id
        return _tool_span(part, pid, mid) if mid else None
    return None


def _tool_span(part: dict[str, Any], pid: str, message_id: str) -> Span:
    """A `tool` part; the `task` tool is a subagent hand-off whose child session OpenCode names."""
    tool: str = part["tool"]
    state = _dict(part.get("state"))
    args = _dict(state.get("input"))
    meta = _dict(state.get("metadata"))
    times = _dict(state.get("time"))
    start, end = _int(times.get("start")), _int(times.get("end"))
    status, kind = _tool_status(state.get("status"), meta)
    span = Span(
        span_id=_PREFIX + pid, run_type=RunType.TOOL, name=tool, parent_id=_PREFIX + message_id,
        started_at=parse_time(start), duration_ms=_elapsed(start, end), status=status, error_kind=kind,
        tool_name=tool, tool_input_hash=hash_tool_input(_normalized_input(tool, args)),
    )
    if tool == "task":
        span.run_type = RunType.SUBAGENT
        agent = args.get("subagent_type")
        span.name = agent if isinstance(agent, str) and agent else tool
        child = meta.get("sessionId")
        span.child_session_key = _PREFIX + child if isinstance(child, str) and child else None
    return span


def _tool_status(status: Any, meta: dict[str, Any]) -> tuple[Status, str | None]:
    """`error` status fails; so does a finished shell call whose recorded exit code is non-zero.

    pending/running are not failures yet: a later read sees the outcome, and a merge keeps a
    failure once seen, so calling them failed now would stick.
    """
    if status == "error":
        return Status.ERROR, "error"
    exit_code = meta.get("exit")
    if status == "completed" and isinstance(exit_code, int) and not isinstance(exit_code, bool) and exit_code != 0:
        return Status.ERROR, "exit_code"
    return Status.OK, None


def _normalized_input(tool: str, args: dict[str, Any]) -> str:
    name = tool.lower()
    return normalized_input(args, shell=name in _SHELL_TOOLS, file_tool=name in _FILE_TOOLS, file_keys=_FILE_KEYS)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _count(value: Any) -> int | None:
    """A token count; anything that is not a non-negative number is missing (None)."""
    number = _int(value)
    return number if number is not None and number >= 0 else None


def _elapsed(start: int | None, end: int | None) -> int | None:
    """Milliseconds between two epoch-ms stamps, when both are there and in order."""
    return end - start if start is not None and end is not None and end >= start else None


def _cost(value: Any) -> float | None:
    """The tool's own USD figure, kept as said (0.0 stays 0.0: reported, not ours)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return float(value)


# ---------------------------------------------------------------------------------------------
# The JSON-file tree: storage/{session,message,part}/...


@dataclass(slots=True)
class _File:
    path: str
    size: int
    mtime_ns: int

    def cursor(self, state: dict[str, Any]) -> Cursor:
        """Stamped with the stat taken before reading: a file that changes meanwhile is read again."""
        return Cursor(offset=self.size, state=state, size=self.size, mtime_ns=self.mtime_ns)

    def unchanged(self, cursor: Cursor) -> bool:
        return cursor.size == self.size and cursor.mtime_ns == self.mtime_ns


@dataclass
class _Tree:
    sessions: list[_File] = field(default_factory=list)
    messages: list[_File] = field(default_factory=list)
    part_dirs: dict[str, list[_File]] = field(default_factory=dict)
    flat_parts: list[_File] = field(default_factory=list)


def _read_storage(root: Path, cursors: Mapping[str, Cursor]) -> ParseResult:
    """Read what changed since `cursors`; a changed message is re-read with all its parts."""
    tree = _scan(root)
    out: dict[str, Cursor] = {}
    collector = _Collector(source=str(root))
    versions = _read_sessions(tree.sessions, cursors, out, collector)
    index, loaded = _read_messages(tree.messages, cursors, out, collector.skipped)
    dirty = set(loaded)
    for mid, files in tree.part_dirs.items():
        for f in files:
            cursor = cursors.get(f.path)
            if cursor is None or not f.unchanged(cursor):
                dirty.add(mid)
            out[f.path] = f.cursor({})
    flat = _read_flat_parts(tree.flat_parts, cursors, out, collector.skipped, dirty)
    for mid in sorted(dirty):
        info = loaded.get(mid) or (_load(index[mid], collector.skipped) if mid in index else None)
        files = tree.part_dirs.get(mid, [])
        parts = [p for f in files if (p := _load_part(f.path, mid, collector.skipped)) is not None]
        parts += [p for path in flat.get(mid, ()) if (p := _load_part(path, mid, collector.skipped)) is not None]
        if info is None:
            if parts:
                collector.skipped["orphan_part"] += len(parts)
            continue
        sid = info.get("sessionID")
        collector.add_message(info, parts, versions.get(sid) if isinstance(sid, str) else None)
    return collector.result(out)


def _read_sessions(
    files: list[_File], cursors: Mapping[str, Cursor], out: dict[str, Cursor], collector: _Collector
) -> dict[str, str | None]:
    """Changed session files are read; unchanged ones only lend the version their cursor kept."""
    versions: dict[str, str | None] = {}
    for f in files:
        cursor = cursors.get(f.path)
        if cursor is not None and f.unchanged(cursor):
            versions[cursor.state.get("id", "")] = cursor.state.get("version")
            out[f.path] = cursor
            continue
        info = _load(f.path, collector.skipped)
        state: dict[str, Any] = {}
        if info is not None:
            version = collector.add_session_info(info)
            if isinstance(info.get("id"), str):
                state = {"id": info["id"], "version": version}
                versions[info["id"]] = version
        out[f.path] = f.cursor(state)
    return versions


def _read_messages(
    files: list[_File], cursors: Mapping[str, Cursor], out: dict[str, Cursor], skipped: Counter[str]
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Message id → file for every message, and the decoded changed ones (the cursor keeps the
    id because file names need not match ids)."""
    index: dict[str, str] = {}
    loaded: dict[str, dict[str, Any]] = {}
    for f in files:
        cursor = cursors.get(f.path)
        if cursor is not None and f.unchanged(cursor):
            if isinstance(cursor.state.get("id"), str):
                index[cursor.state["id"]] = f.path
            out[f.path] = cursor
            continue
        info = _load(f.path, skipped)
        mid = info.get("id") if info is not None else None
        if info is not None and isinstance(mid, str) and mid:
            index[mid] = f.path
            loaded[mid] = info
            out[f.path] = f.cursor({"id": mid})
            continue
        if info is not None:
            skipped["bad_record"] += 1
        out[f.path] = f.cursor({})
    return index, loaded


def _read_flat_parts(
    files: list[_File], cursors: Mapping[str, Cursor], out: dict[str, Cursor], skipped: Counter[str], dirty: set[str]
) -> dict[str, list[str]]:
    """The legacy flat `part/*.json` files by message id; a changed one makes its message dirty."""
    by_message: dict[str, list[str]] = defaultdict(list)
    for f in files:
        cursor = cursors.get(f.path)
        if cursor is not None and f.unchanged(cursor):
            mid = cursor.state.get("message")
        else:
            mid = _flat_part_message(f.path, skipped)
            if mid is not None:
                dirty.add(mid)
            cursor = f.cursor({"message": mid} if mid else {})
        out[f.path] = cursor
        if isinstance(mid, str):
            by_message[mid].append(f.path)
    return by_message


def _flat_part_message(path: str, skipped: Counter[str]) -> str | None:
    raw = _read_bytes(path, skipped)
    if raw is None or not (_TOOL in raw or _STEP in raw):
        return None
    part = _decode(raw, skipped)
    mid = part.get("messageID") if part is not None else None
    return mid if isinstance(mid, str) and mid else None


def _load_part(path: str, message_id: str, skipped: Counter[str]) -> _Part | None:
    raw = _read_bytes(path, skipped)
    if raw is None or not (_TOOL in raw or _STEP in raw):
        return None
    part = _decode(raw, skipped)
    if part is None:
        return None
    try:
        return _part_facts(part, message_id)
    except (TypeError, ValueError, AttributeError, OverflowError):
        skipped["bad_record"] += 1
        return None


def _load(path: str, skipped: Counter[str]) -> dict[str, Any] | None:
    raw = _read_bytes(path, skipped)
    return _decode(raw, skipped) if raw is not None else None


def _read_bytes(path: str, skipped: Counter[str]) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        skipped["unreadable_file"] += 1
        return None


def _decode(raw: bytes | str, skipped: Counter[str]) -> dict[str, Any] | None:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        skipped["malformed_json"] += 1
        return None
    if not isinstance(value, dict):
        skipped["not_an_object"] += 1
        return None
    return value


def _scan(root: Path) -> _Tree:
    tree = _Tree()
    tree.sessions = [f for d in _subdirs(root / "session") for f in _json_files(d)]
    tree.messages = [f for d in _subdirs(root / "message") for f in _json_files(d)]
    for entry in _entries(root / "part"):
        if entry.is_dir(follow_symlinks=False):
            tree.part_dirs[entry.name] = list(_json_files(entry.path))
        elif entry.name.endswith(".json"):
            tree.flat_parts.append(_stat(entry))
    return tree


def _entries(path: Path | str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except OSError:
        return []


def _subdirs(path: Path) -> Iterator[str]:
    return (e.path for e in _entries(path) if e.is_dir(follow_symlinks=False))


def _json_files(path: str) -> Iterator[_File]:
    return (_stat(e) for e in _entries(path) if e.name.endswith(".json") and e.is_file(follow_symlinks=False))


def _stat(entry: os.DirEntry[str]) -> _File:
    st = entry.stat(follow_symlinks=False)
    return _File(entry.path, st.st_size, st.st_mtime_ns)


# ---------------------------------------------------------------------------------------------
# The SQLite store (v1.2+): tables session, message, part; message and part rows hold `data`
# JSON without the ids, which are columns.

_REQUIRED = {
    "session": {"id"},
    "message": {"id", "session_id", "time_updated", "data"},
    "part": {"id", "message_id", "time_updated", "data"},
}


def _read_db(path: Path, cursors: Mapping[str, Cursor]) -> ParseResult:
    """Read rows changed since the cursor's `time_updated` (all rows without a cursor).

    Rows updated at exactly that millisecond are read again (`>=`): a write landing in the
    same millisecond after our read is not lost, and re-reading is idempotent.
    """
    collector = _Collector(source=str(path))
    previous = cursors.get(str(path))
    since = _int(previous.state.get("time_updated")) if previous else None
    try:
        st = path.stat()
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except (OSError, sqlite3.Error):
        collector.skipped["db_unreadable"] += 1
        return collector.result({})
    try:
        with closing(con):
            high = _read_db_rows(con, since, collector)
    except sqlite3.Error:
        collector.skipped["db_unreadable"] += 1
        return collector.result({})
    if high is None:
        return collector.result({})
    state = {"time_updated": max(high, since or 0)}
    return collector.result({str(path): Cursor(offset=0, state=state, size=st.st_size, mtime_ns=st.st_mtime_ns)})


def _read_db_rows(con: sqlite3.Connection, since: int | None, collector: _Collector) -> int | None:
    """Fill `collector`; returns the newest `time_updated` in the store, None if not OpenCode's."""
    columns = {t: _columns(con, t) for t in _REQUIRED}
    if any(not need <= columns[t] for t, need in _REQUIRED.items()):
        collector.skipped["db_schema"] += 1
        return None
    high = max((_max_updated(con, t) for t in _REQUIRED if "time_updated" in columns[t]), default=0)
    versions = _db_sessions(con, since, collector)
    messages = _db_messages(con, since, collector.skipped)
    parts = _db_parts(con, None if since is None else list(messages), collector.skipped)
    for mid, info in messages.items():
        collector.add_message(info, parts.pop(mid, []), versions.get(info.get("sessionID")))
    orphans = sum(len(p) for p in parts.values())
    if orphans:
        collector.skipped["orphan_part"] += orphans
    return high


def _columns(con: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in con.execute(f"PRAGMA table_info({table})")}


def _max_updated(con: sqlite3.Connection, table: str) -> int:
    value = con.execute(f"SELECT max(time_updated) FROM {table}").fetchone()[0]
    return _int(value) or 0


def _db_sessions(con: sqlite3.Connection, since: int | None, collector: _Collector) -> dict[str, str | None]:
    """Every session's version (any message may need it); metadata only for changed sessions."""
    versions: dict[str, str | None] = {}
    rows = con.execute("SELECT * FROM session")
    names = [d[0] for d in rows.description]
    for row in rows:
        info = _db_session_info(dict(zip(names, row)), collector.skipped)
        sid = info.get("id")
        if not isinstance(sid, str) or not sid:
            collector.skipped["bad_record"] += 1
            continue
        updated = _int(_dict(info.get("time")).get("updated"))
        if since is None or updated is None or updated >= since:
            versions[sid] = collector.add_session_info(info)
        else:
            version = info.get("version")
            versions[sid] = version if isinstance(version, str) else None
    return versions


def _db_session_info(row: dict[str, Any], skipped: Counter[str]) -> dict[str, Any]:
    """A session row in the JSON file's shape (columns win over a `data` blob, if one exists)."""
    data = row.get("data")
    info = (_decode(data, skipped) or {}) if isinstance(data, (str, bytes)) else {}
    info["id"] = row.get("id")
    for column, key in (("parent_id", "parentID"), ("directory", "directory"), ("version", "version")):
        if row.get(column) is not None:
            info[key] = row[column]
    times = dict(_dict(info.get("time")))
    for column, key in (("time_created", "created"), ("time_updated", "updated")):
        if row.get(column) is not None:
            times[key] = row[column]
    info["time"] = times
    return info


def _db_messages(con: sqlite3.Connection, since: int | None, skipped: Counter[str]) -> dict[str, dict[str, Any]]:
    """Messages changed since `since`, and those whose parts changed (a new step or tool)."""
    query = "SELECT id, session_id, data FROM message"
    params: tuple[int, ...] = ()
    if since is not None:
        query += " WHERE time_updated >= ? OR id IN (SELECT message_id FROM part WHERE time_updated >= ?)"
        params = (since, since)
    messages: dict[str, dict[str, Any]] = {}
    for mid, sid, data in con.execute(query, params):
        if not isinstance(mid, str) or not isinstance(data, (str, bytes)):
            skipped["bad_record"] += 1
            continue
        info = _decode(data, skipped)
        if info is None:
            continue
        info["id"], info["sessionID"] = mid, sid
        messages[mid] = info
    return messages


def _db_parts(con: sqlite3.Connection, message_ids: list[str] | None, skipped: Counter[str]) -> dict[str, list[_Part]]:
    """The tool and step-finish parts of `message_ids` (of every message when None)."""
    query = "SELECT id, message_id, data FROM part"
    if message_ids is None:
        rows: Iterable[tuple[Any, Any, Any]] = con.execute(query)
    else:
        rows = (
            row
            for i in range(0, len(message_ids), _DB_CHUNK)
            for batch in [message_ids[i : i + _DB_CHUNK]]
            for row in con.execute(f"{query} WHERE message_id IN ({','.join('?' * len(batch))})", batch)
        )
    parts: dict[str, list[_Part]] = defaultdict(list)
    for pid, mid, data in rows:
        facts = _db_part(pid, mid, data, skipped)
        if facts is not None:
            parts[mid].append(facts)
    return parts


def _db_part(pid: Any, mid: Any, data: Any, skipped: Counter[str]) -> _Part | None:
    if isinstance(data, str):
        relevant = '"tool"' in data or '"step-finish"' in data
    elif isinstance(data, bytes):
        relevant = _TOOL in data or _STEP in data
    else:
        relevant = False
    if not relevant or not isinstance(pid, str) or not isinstance(mid, str):
        return None
    part = _decode(data, skipped)
    if part is None:
        return None
    part["id"], part["messageID"] = pid, mid
    try:
        return _part_facts(part, mid)
    except (TypeError, ValueError, AttributeError, OverflowError):
        skipped["bad_record"] += 1
        return None

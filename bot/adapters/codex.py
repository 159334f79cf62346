"""Read OpenAI Codex CLI rollouts: one LLM span per model response, tools paired by call id.

Codex writes `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<local time>-<thread id>.jsonl`, one
`{"timestamp", "type", "payload"}` record per line (docs/agent-formats.md, section 3). Usage
comes from `token_count` events whose totals are cumulative per thread, and forks and subagents
copy their parent's lines. So every span id is derived from what a copy repeats verbatim (the
record's timestamp and payload), never from the file it sits in: the same call read through two
files lands on one span, and bot.corpus.merge counts it once.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import orjson

from bot.adapters.base import (
    ANY_VALUE, Cursor, JsonLines, ParseResult, billing_tier, canonical_input, parse_time, pending_tool_span,
    raw_value,
)
from bot.gitmeta import normalize_remote
from bot.trace import Runtime, RunType, Session, Span, Status, Tokens, hash_tool_input

_RECORD_MARKERS = (
    b'"type":"session_meta"',
    b'"type":"turn_context"',
    b'"type":"event_msg"',
    b'"type":"response_item"',
    b'"type":"compacted"',
)
"""One of these in the first line (plus `timestamp` and `payload`) makes a file a rollout."""

_USAGE_KEYS = (
    "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens",
    "cache_write_input_tokens",
)
_ID_FIGURES = _USAGE_KEYS.index("cache_write_input_tokens")
"""How many usage figures a call's id hashes: those read before cache writes were, so an ingest
that re-reads a log after the upgrade lands on the rows it made."""
_RESPONSE_ITEMS = frozenset({"reasoning", "function_call", "custom_tool_call", "local_shell_call", "web_search_call"})
"""Response items only the model produces (besides assistant messages): they open a response."""
_TOOL_ITEMS = frozenset({"function_call", "custom_tool_call", "local_shell_call"})
_TOOL_OUTPUTS = frozenset({"function_call_output", "custom_tool_call_output"})
_EVENTS = {
    "user_message": "_turn_edge",
    "task_complete": "_turn_edge",
    "turn_aborted": "_turn_edge",
    "exec_command_end": "_tool_end",
    "patch_apply_end": "_tool_end",
    "mcp_tool_call_end": "_tool_end",
    "collab_agent_spawn_end": "_spawn_end",
    "thread_settings_applied": "_settings",
}
"""Events that matter besides token_count, and the `_Reader` method handling each."""
_SHELL_TOOLS = frozenset({"exec_command", "shell", "shell_command", "local_shell", "container.exec"})
_ENDED_TOOLS = _SHELL_TOOLS | {"apply_patch"}
"""Tools whose outcome arrives in a later `exec_command_end` / `patch_apply_end` event."""
_PATCH_HEADERS = ("Add File: ", "Update File: ", "Delete File: ", "Move to: ")
"""apply_patch header lines (after their `*** `) that name a file."""
_MAX_OPEN_TOOLS = 128
"""Bound on tool calls kept in the cursor while their output or end event is awaited."""

_BAD = object()
"""A usage block that is present but malformed (as opposed to absent)."""


# -- what a record is read for: msgspec skips every other field (messages, output) unbuilt --------


class _Payload(msgspec.Struct):
    """The payload fields of every record kind we read. Structured values we may hash or test
    are kept raw and decoded only when needed; message content and tool output are never read."""

    type: Any = None
    id: Any = None
    model_provider: Any = None
    cwd: Any = None
    git: Any = None
    source: Any = None
    agent_role: Any = None
    agent_nickname: Any = None
    model: Any = None
    info: msgspec.Raw = msgspec.Raw()
    role: Any = None
    call_id: Any = None
    name: Any = None
    input: msgspec.Raw = msgspec.Raw()
    action: msgspec.Raw = msgspec.Raw()
    arguments: msgspec.Raw = msgspec.Raw()
    output: msgspec.Raw = msgspec.Raw()
    exit_code: Any = None
    success: Any = None
    result: msgspec.Raw = msgspec.Raw()
    new_agent_role: Any = None
    new_thread_id: Any = None
    thread_settings: msgspec.Raw = msgspec.Raw()


class _Record(msgspec.Struct):
    timestamp: Any = None
    type: Any = None
    payload: _Payload | list[Any] | ANY_VALUE = None


_DECODER = msgspec.json.Decoder(_Record)


@dataclass(slots=True)
class _Tool:
    """A tool call, kept in the cursor until its output (and end event, for shells) arrived."""

    span_id: str
    ts: str
    name: str
    tool: str
    subagent: bool
    input_hash: str | None
    parent: str | None
    status: str = Status.OK.value
    error_kind: str | None = None
    child: str | None = None
    duration_ms: int | None = None
    has_output: bool = False
    awaits_end: bool = False
    spawned: bool = False

    def done(self) -> bool:
        return self.has_output and not self.awaits_end

    def fail(self, kind: str) -> None:
        self.status = Status.ERROR.value
        self.error_kind = kind

    def span(self) -> Span:
        return pending_tool_span(self)


@dataclass(slots=True)
class _State:
    """Everything a later read of the same file needs to continue as if it had read it all.

    `total` is the last cumulative usage (the baseline for differencing); `response` the model
    response still waiting for its `token_count` ([span id, start, web searches so far]);
    `probe`/`replay` track the history a full-history subagent file replays in its first second
    (see `_Reader._replayed`); `tier` is the service tier the thread's settings last named
    (None: the standard one).
    """

    sid: str
    meta_seen: bool = False
    provider: str = "openai"
    model: str | None = None
    total: list[int] | None = None
    thread_spawn: bool = False
    probe: str | None = None
    probe_done: bool = False
    replay: str | None = None
    response: list[str | int] | None = None
    tier: str | None = None

    def to_json(self, tools: dict[str, _Tool]) -> dict[str, Any]:
        """The cursor state: these fields plus the open tool calls, as plain JSON values."""
        state = {name: getattr(self, name) for name in self.__slots__}
        state["tools"] = {call_id: [getattr(tool, name) for name in _Tool.__slots__] for call_id, tool in tools.items()}
        return state

    @classmethod
    def from_json(cls, state: Mapping[str, Any]) -> tuple[_State, dict[str, _Tool]]:
        """Raises KeyError / TypeError on a state this version did not write."""
        restored = cls(**{name: state[name] for name in cls.__slots__})
        if restored.total is not None and len(restored.total) != len(_USAGE_KEYS):
            raise ValueError("a usage baseline of another version")
        if restored.response is not None and len(restored.response) != 3:
            raise ValueError("an open response of another version")
        tools = {call_id: _Tool(*values) for call_id, values in state["tools"].items()}
        return restored, tools


class _Reader:
    """One pass over the new part of one rollout file."""

    def __init__(self, path: Path, cursor: Cursor | None, skipped: Counter[str]) -> None:
        self.skipped = skipped
        self.state, self.tools = _State(sid=_session_id_from_name(path)), {}
        if cursor is not None and cursor.state:
            try:
                self.state, self.tools = _State.from_json(cursor.state)
            except (KeyError, TypeError, ValueError, AttributeError):
                skipped["bad_cursor"] += 1
                cursor = None  # re-read from the start: span ids make that idempotent
        # No `keep` prefilter: nearly every line is needed, and a ten-key substring scan of each
        # line cost more than decoding it (measured: 100 vs 180 MB/s on the fixtures).
        self.lines = JsonLines(path, cursor, skipped, decoder=_DECODER)
        self.session = Session(key="", runtime=Runtime.CODEX, source=str(path))
        self.llm: list[tuple[str, Span]] = []
        self.touched: dict[str, _Tool] = {}
        self.first_ts: str | None = None
        self.last_ts: str | None = None
        self.records = 0

    def run(self) -> tuple[Session | None, Cursor]:
        for record in self.lines:
            self.records += 1
            try:
                self._record(record)
            except (AttributeError, KeyError, TypeError, ValueError, IndexError):
                self.skipped["bad_record"] += 1
        cursor = self.lines.cursor(self.state.to_json(self.tools))
        return self._session(), cursor

    # -- dispatch ---------------------------------------------------------------------------

    def _record(self, record: _Record) -> None:
        """Route one record; this runs for every line, so it stays flat."""
        payload = record.payload
        if type(payload) is not _Payload:
            self.skipped["bad_record"] += 1
            return
        ts = record.timestamp
        if type(ts) is not str or not ts:
            ts = ""
        elif self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
            self.first_ts = self.first_ts or ts
        elif ts < self.first_ts:
            self.first_ts = ts
        kind = record.type
        if kind == "response_item":
            if not self._replayed(ts):
                self._response_item(ts, payload)
        elif kind == "event_msg":
            event = payload.type
            if event == "token_count":
                self._token_count(ts, payload)
            elif event in _EVENTS and not self._replayed(ts):
                getattr(self, _EVENTS[event])(ts, payload)
        elif kind == "turn_context":
            self._turn_context(payload)
        elif kind == "session_meta":
            self._session_meta(payload)

    def _replayed(self, ts: str) -> bool:
        """True for a line of the parent's history copied into a full-history subagent file.

        Such a file (`source.subagent.thread_spawn`) opens by rewriting the parent's lines, all
        stamped with the spawn second; ccusage recognises it by its first two usage-bearing
        `token_count`s sharing one second (`_token_count` sets `replay` then). Token counts in
        that second only move the baseline; other lines in it are the parent's calls and tools.
        """
        replay = self.state.replay
        return replay is not None and ts[:19] == replay

    # -- session and model ------------------------------------------------------------------

    def _session_meta(self, payload: _Payload) -> None:
        """The first session_meta names the thread; later ones are a parent's, copied by a fork."""
        state = self.state
        if state.meta_seen:
            return
        state.meta_seen = True
        if isinstance(payload.id, str) and payload.id:
            state.sid = payload.id
        if isinstance(payload.model_provider, str) and payload.model_provider:
            state.provider = payload.model_provider
        session = self.session
        session.cwd = _text(payload.cwd)
        git = payload.git
        if isinstance(git, dict):
            session.repo = normalize_remote(_text(git.get("repository_url")))
            session.branch = _text(git.get("branch"))
            commit = _text(git.get("commit_hash"))
            session.commits = [commit] if commit else []
        subagent = payload.source.get("subagent") if isinstance(payload.source, dict) else None
        spawn = subagent.get("thread_spawn") if isinstance(subagent, dict) else None
        if isinstance(spawn, dict):
            state.thread_spawn = True
            parent = _text(spawn.get("parent_thread_id"))
            session.parent_key = f"codex:{parent}" if parent else None
            session.agent_name = _text(spawn.get("agent_role")) or _text(spawn.get("agent_nickname"))
        session.agent_name = (
            session.agent_name
            or _text(payload.agent_role)
            or _text(payload.agent_nickname)
            or _text(subagent)  # Codex's own helpers: {"subagent": "review"} / "compact"
        )

    def _settings(self, ts: str, payload: _Payload) -> None:
        """`thread_settings_applied` (`/fast`, a profile's `service_tier`): the tier every later
        call is billed at, until settings name another. Settings that leave the tier out keep it."""
        settings = raw_value(payload.thread_settings)
        if isinstance(settings, dict) and "service_tier" in settings:
            self.state.tier = billing_tier(settings["service_tier"])

    def _turn_context(self, payload: _Payload) -> None:
        model = _text(payload.model)
        if model:
            self.state.model = model
        if self.session.cwd is None:
            self.session.cwd = _text(payload.cwd)

    # -- model responses --------------------------------------------------------------------

    def _response_item(self, ts: str, payload: _Payload) -> None:
        item = payload.type
        if item in _TOOL_OUTPUTS:
            self._tool_output(ts, payload)
            self._close_response()
        elif item in _RESPONSE_ITEMS or (item == "message" and payload.role == "assistant"):
            self._open_response(ts, payload)
            if item in _TOOL_ITEMS:
                self._tool_call(ts, item, payload)
            elif item == "web_search_call":
                self.state.response[2] += 1  # billed per search, on top of the response's tokens

    def _open_response(self, ts: str, payload: _Payload) -> None:
        """The first item the model streams starts a response; its `token_count` follows it.

        The id hashes that item's timestamp and payload, so a fork replaying it (same bytes)
        names the same call, and the id is known before the usage is: tools emitted by the
        response get it as their parent at once, and a response still open when the file
        ends is emitted with unknown tokens and completed by the next read. The payload is
        hashed as orjson writes it back, so only this line is decoded in full.
        """
        if self.state.response is None:
            whole = orjson.loads(self.lines.line)["payload"]
            self.state.response = [_span_id(ts, orjson.dumps(whole)), ts, 0]

    def _close_response(self) -> None:
        """Input arrived before any usage: the response's usage is unknown, not zero."""
        if self.state.response is not None:
            span_id, start, searches = self.state.response
            self.state.response = None
            self._emit_llm(span_id, start, None, searches=searches)

    def _token_count(self, ts: str, payload: _Payload) -> None:
        info = raw_value(payload.info)
        if info is None:
            return  # rate limits only
        if not isinstance(info, dict):
            self.skipped["bad_record"] += 1
            return
        total, last = _usage(info.get("total_token_usage")), _usage(info.get("last_token_usage"))
        if total is _BAD or last is _BAD:
            self.skipped["bad_usage"] += 1
            return
        if total is None and last is None:
            self.skipped["token_count_without_usage"] += 1
            return
        state = self.state
        if total is not None and total == state.total:
            return  # the same event emitted again
        if state.replay is not None:
            if ts[:19] == state.replay:
                state.total = total if total is not None else state.total
                return
            state.replay = None
        delta = last if last is not None else _difference(total, state.total)
        if total is not None:
            state.total = total
        if state.thread_spawn and not state.probe_done and self._probe_replay(ts[:19]):
            return
        if not any(delta[:4]):
            return
        model = state.model or _text(payload.model) or _text(info.get("model"))
        searches = 0
        if state.response is not None:
            span_id, start, searches = state.response
            state.response = None
        else:
            fingerprint = [model, total and total[:_ID_FIGURES], last and last[:_ID_FIGURES]]
            span_id, start = _span_id(ts, orjson.dumps(fingerprint)), ts
        self._emit_llm(span_id, start, _tokens(delta), model, searches)

    def _probe_replay(self, second: str) -> bool:
        """ccusage's test: the first two usage-bearing token_counts in one second are a replay.

        On a match everything this read produced in that second (the copied calls, tools and
        responses) is dropped and the rest of the second is skipped by `_replayed`.
        """
        state = self.state
        if state.probe is None:
            state.probe = second
            return False
        state.probe_done = True
        if second != state.probe:
            return False
        state.replay = second
        self.llm = [(ts, span) for ts, span in self.llm if ts[:19] != second]
        for call_id in [c for c, tool in self.tools.items() if tool.ts[:19] == second]:
            del self.tools[call_id]
        self.touched = {c: tool for c, tool in self.touched.items() if tool.ts[:19] != second}
        if state.response is not None and state.response[1][:19] == second:
            state.response = None
        return True

    def _emit_llm(
        self, span_id: str, start: str, tokens: Tokens | None, model: str | None = None, searches: int = 0,
    ) -> None:
        model = model or self.state.model
        span = Span(
            span_id=span_id,
            run_type=RunType.LLM,
            name=model or "unknown",
            started_at=parse_time(start),
            model=model,
            provider=self.state.provider,
            tokens=tokens,
            tier=self.state.tier,
            web_searches=searches,
        )
        self.llm.append((start, span))

    # -- tools ------------------------------------------------------------------------------

    def _tool_call(self, ts: str, item: str, payload: _Payload) -> None:
        call_id = _text(payload.call_id)
        if not call_id:
            self.skipped["tool_without_call_id"] += 1
            return
        name = _text(payload.name) or item.removesuffix("_call")
        if item == "custom_tool_call":
            arguments: Any = raw_value(payload.input)
        elif item == "local_shell_call":
            arguments = raw_value(payload.action)
        else:
            arguments = _decode_arguments(raw_value(payload.arguments))
        subagent = name == "spawn_agent"
        self._track(call_id, _Tool(
            span_id=f"codex:{call_id}",
            ts=ts,
            name=_agent_type(arguments) if subagent else name,
            tool=name,
            subagent=subagent,
            input_hash=hash_tool_input(_normalized_input(name, arguments)),
            parent=self.state.response[0] if self.state.response else None,
            awaits_end=name in _ENDED_TOOLS,
        ))

    def _track(self, call_id: str, tool: _Tool) -> None:
        self.tools[call_id] = tool
        self.touched[call_id] = tool
        while len(self.tools) > _MAX_OPEN_TOOLS:
            del self.tools[next(iter(self.tools))]

    def _update(self, call_id: Any) -> _Tool | None:
        """The open tool call `call_id`, marked for re-emission; None if unknown or closed."""
        tool = self.tools.get(call_id) if isinstance(call_id, str) else None
        if tool is not None:
            self.touched[call_id] = tool
        return tool

    def _settle(self, call_id: str, tool: _Tool) -> None:
        if tool.done():
            self.tools.pop(call_id, None)

    def _tool_output(self, ts: str, payload: _Payload) -> None:
        call_id = payload.call_id
        tool = self._update(call_id)
        if tool is None:
            return
        tool.has_output = True
        tool.duration_ms = _millis_between(tool.ts, ts)
        # Output is mostly text, never read: only a structured one is decoded, for its `success`.
        output = raw_value(payload.output) if memoryview(payload.output)[:1] == b"{" else None
        if isinstance(output, dict) and output.get("success") is False:
            tool.fail("unsuccessful")
        elif tool.subagent and not tool.spawned:
            tool.fail("not_spawned")  # answered without a collab_agent_spawn_end: no agent started
        self._settle(call_id, tool)

    def _turn_edge(self, ts: str, payload: _Payload) -> None:
        self._close_response()

    def _tool_end(self, ts: str, payload: _Payload) -> None:
        """Structured outcomes only; the output text may say "failed" but is never read."""
        event = payload.type
        call_id = payload.call_id
        tool = self._update(call_id)
        if tool is None:
            return
        tool.awaits_end = False
        exit_code = payload.exit_code
        result = raw_value(payload.result) if event == "mcp_tool_call_end" else None
        if event == "exec_command_end" and isinstance(exit_code, int) and exit_code != 0:
            tool.fail("exit_code")
        elif event == "patch_apply_end" and payload.success is False:
            tool.fail("patch_failed")
        elif event == "mcp_tool_call_end" and isinstance(result, dict):
            ok = result.get("Ok")
            if "Err" in result:
                tool.fail("mcp_error")
            elif isinstance(ok, dict) and ok.get("isError") is True:
                tool.fail("is_error")
        self._settle(call_id, tool)

    def _spawn_end(self, ts: str, payload: _Payload) -> None:
        """The forward link to the child thread; a spawn seen only through this event still counts."""
        call_id = _text(payload.call_id)
        if not call_id:
            self.skipped["tool_without_call_id"] += 1
            return
        tool = self._update(call_id)
        if tool is None:
            tool = _Tool(
                span_id=f"codex:{call_id}",
                ts=ts,
                name=_text(payload.new_agent_role) or "default",
                tool="spawn_agent",
                subagent=True,
                input_hash=None,
                parent=self.state.response[0] if self.state.response else None,
                has_output=True,  # nothing else will arrive for a call whose function_call is unseen
            )
            self._track(call_id, tool)
        child = _text(payload.new_thread_id)
        if child:
            tool.spawned = True
            tool.child = f"codex:{child}"
        else:
            tool.fail("not_spawned")
        self._settle(call_id, tool)

    # -- result -----------------------------------------------------------------------------

    def _session(self) -> Session | None:
        if not self.records and not self.llm:
            return None
        if self.state.response is not None:
            span_id, start, searches = self.state.response
            self._emit_llm(span_id, start, None, searches=searches)  # provisional: the next read completes it
        session = self.session
        session.key = f"codex:{self.state.sid}"
        session.spans = [span for _, span in self.llm] + [tool.span() for tool in self.touched.values()]
        session.observe_time(parse_time(self.first_ts))
        session.observe_time(parse_time(self.last_ts))
        return session


class _Adapter:
    name = "codex"
    runtime = Runtime.CODEX
    suffixes = frozenset({".jsonl"})
    claims_directories = False
    lists_root_parents = False

    def identify(self, path: Path, head: bytes) -> bool:
        """A `.jsonl` whose first record has the rollout envelope (names vary, so look inside)."""
        if path.suffix != ".jsonl" or not head:
            return False
        first = head.lstrip().split(b"\n", 1)[0].replace(b'": "', b'":"')
        return (
            first.startswith(b"{")
            and b'"timestamp"' in first
            and b'"payload"' in first
            and any(marker in first for marker in _RECORD_MARKERS)
            and not _archived_duplicate(path)
        )

    def read(self, path: Path, cursors: Mapping[str, Cursor] | None = None) -> ParseResult:
        result = ParseResult()
        cursor = (cursors or {}).get(str(path))
        if cursor is not None and cursor.size > path.stat().st_size:
            cursor = None  # the file was replaced: read it again from the start
        session, result.cursors[str(path)] = _Reader(path, cursor, result.skipped).run()
        if session is not None:
            result.sessions.append(session)
        return result

    def discover(self, env: Mapping[str, str], home: Path) -> Iterable[Path]:
        root = Path(env["CODEX_HOME"]).expanduser() if env.get("CODEX_HOME") else home / ".codex"
        return (root / "sessions", root / "archived_sessions")


ADAPTER = _Adapter()


# -- pure helpers -------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _span_id(ts: str, fingerprint: bytes) -> str:
    digest = hashlib.blake2b(ts.encode() + b"\0" + fingerprint, digest_size=12).hexdigest()
    return f"codex:{digest}"


def _session_id_from_name(path: Path) -> str:
    """The thread id at the end of `rollout-<time>-<uuid>`, else the stem (files without a session_meta)."""
    stem = path.stem
    tail = stem[-36:]
    if len(tail) == 36 and tail.count("-") == 4 and all(c in "0123456789abcdef-" for c in tail.lower()):
        return tail
    return stem


def _archived_duplicate(path: Path) -> bool:
    """An `archived_sessions/` file whose `sessions/` copy exists: the live copy is the one read."""
    if path.parent.name != "archived_sessions":
        return False
    sessions = path.parent.parent / "sessions"
    name = path.name
    date = name[len("rollout-") : len("rollout-") + 10]
    candidates = [sessions / name]
    if name.startswith("rollout-") and date[4:5] == "-" and date[7:8] == "-":
        candidates.append(sessions / date[:4] / date[5:7] / date[8:10] / name)
    return any(candidate.is_file() for candidate in candidates)


def _usage(block: Any) -> list[int] | None | object:
    """A usage block as [input, cached, output, reasoning, total, cache written]; missing keys count 0."""
    if block is None:
        return None
    if not isinstance(block, dict):
        return _BAD
    values = [block.get(key, 0) for key in _USAGE_KEYS]
    if any(type(v) is not int or v < 0 for v in values):
        return _BAD
    return values


def _difference(total: list[int], previous: list[int] | None) -> list[int]:
    """This call's usage from two cumulative totals; a total that went down restarted from zero."""
    if previous is None or any(now < before for now, before in zip(total, previous)):
        return total
    return [now - before for now, before in zip(total, previous)]


def _tokens(usage: list[int]) -> Tokens:
    """OpenAI counts cached input, and cache writes where a model reports them, inside input,
    and reasoning inside output. A write has no TTL here: it counts as a 5-minute write."""
    input_tokens, cached, output, reasoning, _, written = usage
    cache_read = min(cached, input_tokens)
    cache_write = min(written, input_tokens - cache_read)
    return Tokens(
        input=input_tokens - cache_read - cache_write, output=output, cache_read=cache_read,
        cache_write_5m=cache_write, reasoning=reasoning,
    )


def _millis_between(start: str, end: str) -> int | None:
    began, ended = parse_time(start), parse_time(end)
    if began is None or ended is None or ended < began:
        return None
    return int((ended - began).total_seconds() * 1000)


def _patched_path(part: str) -> str | None:
    """The path in one `*** <header>` line of an apply_patch body, if it names a file."""
    line = part.split("\n", 1)[0]
    for header in _PATCH_HEADERS:
        if line.startswith(header):
            return line[len(header) :].strip()
    return None


def _decode_arguments(arguments: Any) -> Any:
    """Function-call arguments are a JSON string; an undecodable one is kept as the raw string."""
    if not isinstance(arguments, str):
        return arguments
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments


def _agent_type(arguments: Any) -> str:
    """The subagent type asked for; Codex uses its `default` agent when none is given."""
    agent_type = arguments.get("agent_type") if isinstance(arguments, dict) else None
    return agent_type if isinstance(agent_type, str) and agent_type else "default"


def _normalized_input(name: str, arguments: Any) -> str:
    """What makes two calls "the same" for waste detection: the command, the patched paths."""
    if name in _SHELL_TOOLS and isinstance(arguments, dict):
        command = arguments.get("cmd", arguments.get("command"))
        if isinstance(command, list) and all(isinstance(part, str) for part in command):
            return " ".join(command)
        if isinstance(command, str):
            return command
    if name == "apply_patch":
        patch = arguments.get("input", arguments.get("patch")) if isinstance(arguments, dict) else arguments
        if isinstance(patch, str):
            paths = [_patched_path(part) for part in ("\n" + patch).split("\n*** ")[1:]]
            if any(paths):
                return "\n".join(path for path in paths if path)
    if isinstance(arguments, str):
        return arguments
    return canonical_input(arguments)

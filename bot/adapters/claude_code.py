"""Read Claude Code transcripts: one LLM span per API message, tools paired with their results.

Claude Code appends one JSON line per event to `<config>/projects/<encoded cwd>/<sessionId>.jsonl`
(docs/agent-formats.md, section 2). A streamed reply is written as several `assistant` lines,
one per content block, all sharing one `message.id`; early copies carry placeholder usage. So a
call's span id is `claude-code:<message.id>` (whatever file or `requestId` a copy arrives with:
a resumed session replays old messages under new request ids, and bot.corpus.merge then keeps
one copy with the largest usage), and its tools are collected from every copy. The span keeps
the `requestId` (of an original copy rather than a replay) so that the same call reported by
Claude Code's telemetry, which knows only the request id, merges into it.

Subagents are sessions of their own, keyed `claude-code:<sessionId>/<agentId>`: a file
`<sessionId>/subagents/agent-<agentId>.jsonl` (CC >= 2.1), a file `agent-<agentId>.jsonl` next
to the main one (CC 2.0.x), or, before that, `isSidechain` lines inside the main file. Only in
a main file is a sidechain line marked `Span.sidechain` (a replay, a side question, an old
interleaved subagent): when a subagent file holds the same call, unmarked, bot.corpus.merge
moves it to the subagent session; when nothing else holds it, it still counts, once.

`<synthetic>` messages (client-side errors with zero usage) are not model calls and are left
out; an assistant line without usage is a call of unknown usage (tokens None), never zero.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bot.adapters.base import Cursor, ParseResult, canonical_input, file_cursor, jsonl_records, parse_time, pending_tool_span
from bot.trace import Runtime, RunType, Session, Span, Status, Tokens, hash_tool_input

_KEEP = (b'"type":"assistant"', b'"type":"user"')
"""Only user and assistant lines are decoded (Claude Code writes compact JSON): snapshots,
summaries, progress and system lines hold no call, no tool outcome and nothing about the
session these lines do not repeat."""

_IDENTITY_MARKERS = (b'"leafUuid":"', b'"type":"file-history-snapshot"', b'"type":"queue-operation"')
"""Record kinds only Claude Code writes; a transcript may open with many of them."""

_SYNTHETIC_MODEL = "<synthetic>"
"""Client-side messages (API errors, "no response requested"): zero usage, never billed."""

_INTERRUPTED = "[Request interrupted by user"
_TOOL_USE_INTERRUPTED = "[Request interrupted by user for tool use"
"""Fixed markers the client writes as a user line; only the prefix is read, the text never kept."""

_PATH_KEYS = {
    "Read": "file_path",
    "Edit": "file_path",
    "Write": "file_path",
    "MultiEdit": "file_path",
    "NotebookEdit": "notebook_path",
}
_SUBAGENT_TOOLS = frozenset({"Task", "Agent"})
_MAX_OPEN_TOOLS = 256
"""Bound on tool calls kept in the cursor while their result is awaited."""


@dataclass(slots=True)
class _Tool:
    """A tool call, kept in the cursor until its result (and, for a failure, its kind) is known."""

    span_id: str
    ts: str | None
    tool: str
    name: str
    subagent: bool
    input_hash: str | None
    parent: str | None
    sidechain: bool
    status: str = Status.OK.value
    error_kind: str | None = None
    duration_ms: int | None = None
    child: str | None = None

    def span(self) -> Span:
        return pending_tool_span(self, self.sidechain)


@dataclass(slots=True)
class _State:
    """What a later read of the same file needs to continue as if it had read it all.

    `sid` is the (parent) session id and `agent` the agent id of a subagent file, both settled by
    the first conversation line; `last_call` is the latest model call (an interruption's parent);
    `failed_line` the uuid of the line whose failed results (`failed`, ids in `tools`) await
    their kind.
    """

    sid: str | None = None
    agent: str | None = None
    cwd: str | None = None
    branch: str | None = None
    last_call: str | None = None
    failed_line: str | None = None
    failed: list[str] = field(default_factory=list)
    tools: dict[str, _Tool] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        state: dict[str, Any] = {name: getattr(self, name) for name in self.__slots__ if name != "tools"}
        state["tools"] = {tool_id: list(astuple(tool)) for tool_id, tool in self.tools.items()}
        return state

    @classmethod
    def from_json(cls, state: Mapping[str, Any]) -> _State:
        """Raises KeyError / TypeError on a state this version did not write."""
        restored = cls(**{name: state[name] for name in cls.__slots__ if name != "tools"})
        restored.tools = {tool_id: _Tool(*values) for tool_id, values in state["tools"].items()}
        for tool in restored.tools.values():
            Status(tool.status)  # raises ValueError now rather than when the span is built
        return restored


@dataclass(slots=True)
class _Call:
    """The copies of one model message seen in this read, folded into one span."""

    span: Span
    total: int
    usage: Any
    """The last copy's usage block, as written."""


class _Reader:
    """One pass over the new part of one transcript file."""

    def __init__(self, path: Path, cursor: Cursor | None, skipped: Counter[str]) -> None:
        self.path = path
        self.skipped = skipped
        self.state = _State()
        if cursor is not None and cursor.state:
            try:
                self.state = _State.from_json(cursor.state)
            except (KeyError, TypeError, ValueError, AttributeError):
                skipped["bad_cursor"] += 1
                cursor = None  # re-read from the start: span ids make that idempotent
        self.cursor = cursor
        self.calls: dict[str, _Call] = {}
        self.touched: dict[str, _Tool] = {}
        self.interruptions: list[Span] = []
        self.lines = 0
        self.first: str | None = None
        self.last: str | None = None

    def run(self) -> tuple[Session | None, Cursor]:
        offset = self.cursor.offset if self.cursor else 0
        size = self.path.stat().st_size
        for record, offset in jsonl_records(self.path, self.cursor, self.skipped, _KEEP):
            kind = record.get("type")
            if kind != "assistant" and kind != "user":
                continue  # a nested message inside a progress line, or a kept line of another kind
            try:
                self._line(kind, record)
            except (AttributeError, KeyError, TypeError, ValueError, IndexError):
                self.skipped["bad_record"] += 1
        offset = max(offset, _last_line_end(self.path, offset, size))
        return self._session(), file_cursor(self.path, offset, self.state.to_json())

    # -- every conversation line ------------------------------------------------------------

    def _line(self, kind: str, record: dict[str, Any]) -> None:
        state = self.state
        self.lines += 1
        if state.sid is None:
            state.sid, state.agent = _identity(self.path, record)
        if state.cwd is None:
            state.cwd = _text(record.get("cwd"))
        if state.branch is None:
            state.branch = _text(record.get("gitBranch"))  # "" outside a repository
        ts = record.get("timestamp")
        if type(ts) is str and len(ts) >= 20 and ts[10] == "T":
            self._observe(ts)
        else:
            ts = None
        # In a main file a sidechain line is a replay or a side question; in a subagent file
        # every line is one, and those are the subagent's own billed calls.
        sidechain = state.agent is None and record.get("isSidechain") is True
        if state.failed_line is not None:
            self._classify_failures(kind, record)
        message = record.get("message")
        if not isinstance(message, dict):
            self.skipped["bad_record"] += 1
        elif kind == "assistant":
            self._assistant(message, record, ts, sidechain)
        else:
            self._user(message, record, ts, sidechain)

    def _observe(self, ts: str) -> None:
        """Claude Code stamps every line `toISOString()` (UTC, fixed width): strings order like times."""
        if self.first is None or ts < self.first:
            self.first = ts
        if self.last is None or ts > self.last:
            self.last = ts

    # -- model calls ------------------------------------------------------------------------

    def _assistant(self, message: dict[str, Any], record: dict[str, Any], ts: str | None, sidechain: bool) -> None:
        model = _text(message.get("model"))
        if model == _SYNTHETIC_MODEL:
            return
        native_id = _text(message.get("id")) or _text(record.get("requestId"))
        span_id = f"claude-code:{native_id}" if native_id else None
        if span_id is None:
            self.skipped["assistant_without_id"] += 1
        else:
            self._copy(span_id, native_id, model, message.get("usage"), record, ts, sidechain)
            self.state.last_call = span_id
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if isinstance(block, dict) and block.get("type") == "tool_use":
                    self._tool_use(block, ts, span_id, sidechain)

    def _copy(
        self, span_id: str, native_id: str, model: str | None, usage: Any,
        record: dict[str, Any], ts: str | None, sidechain: bool,
    ) -> None:
        """Fold one streamed copy: the first copy dates the call, the largest usage wins.

        Ties keep the earlier copy and the reported cost goes with the usage kept, the same rules
        bot.corpus.merge applies across reads, so reading a file in two parts changes nothing.
        """
        call = self.calls.get(span_id)
        if call is not None:
            span = call.span
            if usage != call.usage:  # most copies repeat the usage verbatim
                tokens = _tokens(usage, self.skipped)
                call.usage = usage
                if tokens is not None and tokens.total > call.total:
                    span.tokens, call.total = tokens, tokens.total
                    if (cost := _cost(record.get("costUSD"))) is not None:
                        span.reported_cost_usd = cost
            if span.request_id is None or (span.sidechain and not sidechain):
                span.request_id = _text(record.get("requestId")) or span.request_id
            span.sidechain = span.sidechain and sidechain
            if span.reported_cost_usd is None:
                span.reported_cost_usd = _cost(record.get("costUSD"))
            return
        tokens = _tokens(usage, self.skipped)
        span = Span(
            span_id=span_id,
            run_type=RunType.LLM,
            name=model or "unknown",
            started_at=parse_time(ts),
            model=model,
            provider=_provider(native_id, model),
            tokens=tokens,
            reported_cost_usd=_cost(record.get("costUSD")),
            sidechain=sidechain,
            request_id=_text(record.get("requestId")),
        )
        self.calls[span_id] = _Call(span, tokens.total if tokens is not None else -1, usage)

    # -- tools ------------------------------------------------------------------------------

    def _tool_use(self, block: dict[str, Any], ts: str | None, parent: str | None, sidechain: bool) -> None:
        tool_id = _text(block.get("id"))
        if tool_id is None:
            self.skipped["tool_without_id"] += 1
            return
        if tool_id in self.touched or tool_id in self.state.tools:
            return  # the same block again in a later copy of the message
        tool = _text(block.get("name")) or "unknown"
        arguments = block.get("input")
        subagent = tool in _SUBAGENT_TOOLS
        record = _Tool(
            span_id=f"claude-code:{tool_id}",
            ts=ts,
            tool=tool,
            name=(_subagent_type(arguments) or tool) if subagent else tool,
            subagent=subagent,
            input_hash=None if arguments is None else hash_tool_input(_normalized_input(tool, arguments)),
            parent=parent,
            sidechain=sidechain,
        )
        self.touched[tool_id] = record
        tools = self.state.tools
        tools[tool_id] = record
        while len(tools) > _MAX_OPEN_TOOLS:
            del tools[next(iter(tools))]

    def _user(self, message: dict[str, Any], record: dict[str, Any], ts: str | None, sidechain: bool) -> None:
        content = message.get("content")
        if isinstance(content, str):
            if content.startswith(_INTERRUPTED):
                self._interruption(record, ts, sidechain)
            return
        if not isinstance(content, list):
            return
        blocks = [block for block in content if isinstance(block, dict)]
        results = [block for block in blocks if block.get("type") == "tool_result"]
        detail = record.get("toolUseResult") if len(results) == 1 else None  # it describes one result
        failed = [block["tool_use_id"] for block in results if self._tool_result(block, detail, record, ts)]
        if failed:
            self.state.failed_line = _text(record.get("uuid")) or ""
            self.state.failed = failed
        if any(_interruption_text(block) for block in blocks):
            self._interruption(record, ts, sidechain)

    def _tool_result(self, block: dict[str, Any], detail: Any, record: dict[str, Any], ts: str | None) -> bool:
        """Settle the call `block` answers; True when it failed (its kind is decided later).

        A failed call stays in the cursor until the next conversation line: a user
        "interrupted … for tool use" marker answering the failed result means the user refused
        or stopped the call.
        """
        tool_id = block.get("tool_use_id")
        tools = self.state.tools
        tool = tools.get(tool_id) if isinstance(tool_id, str) else None
        if tool is None:
            return False  # answered before this file (or this bounded memory) began
        self.touched[tool_id] = tool
        tool.duration_ms = _millis_between(tool.ts, ts)
        if tool.subagent:
            tool.child = self._child_key(detail, record)
        if isinstance(detail, dict) and detail.get("interrupted") is True:
            tool.status, tool.error_kind = Status.INTERRUPTED.value, "interrupted"
        elif block.get("is_error") is True:
            tool.status = Status.ERROR.value
            return True
        del tools[tool_id]
        return False

    def _child_key(self, detail: Any, record: dict[str, Any]) -> str | None:
        """The subagent session a Task/Agent result names (`toolUseResult.agentId`)."""
        agent = _text(detail.get("agentId")) if isinstance(detail, dict) else None
        if agent is None and self.state.agent is None and record.get("isSidechain") is not True:
            agent = _text(record.get("agentId"))  # some versions put it on the result line itself
        return f"claude-code:{self.state.sid}/{agent}" if agent else None

    def _classify_failures(self, kind: str, record: dict[str, Any]) -> None:
        """The line after a failed result says whether the user refused (or stopped) the call.

        Claude Code answers a refused permission prompt with an error result and then a fixed
        "interrupted … for tool use" user line chained to it by `parentUuid`; any other next
        line leaves a plain failure. Until that line arrives the span carries no kind, which a
        later read can still fill in (bot.corpus.merge fills missing fields).
        """
        rejected = (
            kind == "user"
            and record.get("parentUuid") == self.state.failed_line
            and _is_tool_use_interruption(record.get("message"))
        )
        state = self.state
        for tool_id in state.failed:
            tool = state.tools.pop(tool_id, None)
            if tool is not None:
                tool.error_kind = "rejected" if rejected else "is_error"
                self.touched[tool_id] = tool
        state.failed_line, state.failed = None, []

    def _interruption(self, record: dict[str, Any], ts: str | None, sidechain: bool) -> None:
        uuid = _text(record.get("uuid"))
        if uuid is None:
            self.skipped["interruption_without_uuid"] += 1
            return
        self.interruptions.append(Span(
            span_id=f"claude-code:{uuid}",
            run_type=RunType.INTERRUPTED,
            name="interrupted",
            started_at=parse_time(ts),
            parent_id=self.state.last_call,
            status=Status.INTERRUPTED,
            sidechain=sidechain,
        ))

    # -- result -----------------------------------------------------------------------------

    def _session(self) -> Session | None:
        state = self.state
        if not self.lines or state.sid is None:
            return None  # no conversation line in this part: nothing to add
        session = Session(
            key=f"claude-code:{state.sid}/{state.agent}" if state.agent else f"claude-code:{state.sid}",
            runtime=Runtime.CLAUDE_CODE,
            parent_key=f"claude-code:{state.sid}" if state.agent else None,
            agent_name=_agent_type(self.path, self.skipped) if state.agent else None,
            branch=state.branch,
            cwd=state.cwd,
            started_at=parse_time(self.first),
            ended_at=parse_time(self.last),
            source=str(self.path),
        )
        session.spans = [call.span for call in self.calls.values()]
        session.spans += [tool.span() for tool in self.touched.values()]
        session.spans += self.interruptions
        return session


class _Adapter:
    name = "claude-code"
    runtime = Runtime.CLAUDE_CODE

    def identify(self, path: Path, head: bytes) -> bool:
        """A `.jsonl` whose first lines are Claude Code records (file names are free-form)."""
        if path.suffix != ".jsonl" or not head:
            return False
        return any(_is_transcript_line(line) for line in head.split(b"\n", 8)[:8])

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
        """`CLAUDE_CONFIG_DIR` (a comma-separated list) replaces both default locations."""
        roots = [_expand(part.strip(), home) for part in env.get("CLAUDE_CONFIG_DIR", "").split(",") if part.strip()]
        if not roots:
            roots = [home / ".config" / "claude", home / ".claude"]
        return [root / "projects" for root in roots]


ADAPTER = _Adapter()


# -- pure helpers -------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _is_transcript_line(line: bytes) -> bool:
    if b'"sessionId":"' in line and b'"uuid":"' in line and b'"type":"' in line:
        return True
    return line.startswith(b'{"type":"') and any(marker in line for marker in _IDENTITY_MARKERS)


def _last_line_end(path: Path, start: int, size: int) -> int:
    """The end of the last complete line between `start` and `size` (`start` if none).

    jsonl_records reports offsets only with the lines it yields, so the skipped lines after the
    last kept one would otherwise be read (and their garbage counted) again next time. Every
    complete line before `size`, taken before reading, was consumed by then.
    """
    end = size
    with path.open("rb") as fh:
        while end > start:
            begin = max(start, end - 65536)
            fh.seek(begin)
            newline = fh.read(end - begin).rfind(b"\n")
            if newline >= 0:
                return begin + newline + 1
            end = begin
    return start


def _expand(value: str, home: Path) -> Path:
    """`~` means the `home` given (not this process's), so discovery can be tested."""
    if value == "~" or value.startswith("~/"):
        return home / value[2:]
    return Path(value)


def _is_uuid(value: str | None) -> bool:
    return (
        value is not None
        and len(value) == 36
        and value.count("-") == 4
        and all(c in "0123456789abcdef-" for c in value.lower())
    )


def _identity(path: Path, record: dict[str, Any]) -> tuple[str, str | None]:
    """(session id, agent id or None) for the file, from its path and first conversation line.

    A main file is named after its session; when it was renamed (fixtures, copies) the lines'
    `sessionId` says. A subagent file is `agent-<agentId>.jsonl`, or any file whose first line
    is a sidechain line with an `agentId`; its session is the parent's: the folder above
    `subagents/`, or the lines' `sessionId` (some builds write `agent-<id>` there instead).
    """
    line_sid = _text(record.get("sessionId"))
    stem = path.stem
    agent = stem[len("agent-"):] if stem.startswith("agent-") else None
    if agent is None and record.get("isSidechain") is True:
        agent = _text(record.get("agentId"))
    if agent is None:
        return (stem if _is_uuid(stem) else line_sid or stem), None
    owner = next((p.parent.name for p in path.parents if p.name == "subagents"), None)
    if _is_uuid(owner):
        return owner, agent
    if line_sid and not line_sid.startswith("agent-"):
        return line_sid, agent
    return owner or line_sid or stem, agent


def _agent_type(path: Path, skipped: Counter[str]) -> str | None:
    """`agentType` from the `agent-<id>.meta.json` sidecar newer builds write beside the file."""
    meta = path.with_name(f"{path.stem}.meta.json")
    try:
        data = orjson.loads(meta.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError):
        skipped["bad_meta"] += 1
        return None
    return _text(data.get("agentType")) if isinstance(data, dict) else None


def _provider(native_id: str, model: str | None) -> str | None:
    """Who served the call, from the spellings Bedrock and Vertex give ids and model names."""
    lowered = (model or "").lower()
    if native_id.startswith("msg_bdrk_") or lowered.startswith("converse/") or "anthropic.claude" in lowered:
        return "bedrock"
    if "bedrock" in lowered:
        return "bedrock"
    if native_id.startswith("msg_vrtx_") or "@" in lowered:
        return "vertex"
    if lowered.startswith("claude"):
        return "anthropic"
    return None  # no model, or another vendor's model behind a compatible endpoint


_USAGE_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def _tokens(usage: Any, skipped: Counter[str]) -> Tokens | None:
    """Anthropic usage → Tokens; missing keys are 0, a malformed block is unknown usage.

    `input_tokens` is already uncached. Writes are split by TTL when `cache_creation` says so;
    a total larger than the split (or no split at all) counts the rest as 5-minute writes.
    """
    if usage is None:
        return None
    if not isinstance(usage, dict):
        skipped["bad_usage"] += 1
        return None
    get = usage.get
    input_tokens, output = get("input_tokens", 0), get("output_tokens", 0)
    cache_read, written = get("cache_read_input_tokens", 0), get("cache_creation_input_tokens", 0)
    split = get("cache_creation")
    write_5m, write_1h = (
        (split.get("ephemeral_5m_input_tokens", 0), split.get("ephemeral_1h_input_tokens", 0))
        if type(split) is dict else (0, 0)
    )
    for value in (input_tokens, output, cache_read, written, write_5m, write_1h):
        if type(value) is not int or value < 0:
            skipped["bad_usage"] += 1
            return None
    if not (input_tokens or output or cache_read or written) and not any(key in usage for key in _USAGE_KEYS):
        skipped["usage_without_tokens"] += 1
        return None
    write_5m += max(written - write_5m - write_1h, 0)
    return Tokens(
        input=input_tokens, output=output, cache_read=cache_read, cache_write_5m=write_5m, cache_write_1h=write_1h,
    )


def _cost(value: Any) -> float | None:
    """`costUSD`, written by old versions only."""
    if type(value) in (int, float) and value >= 0:
        return float(value)
    return None


def _millis_between(start: str | None, end: str | None) -> int | None:
    began, ended = parse_time(start), parse_time(end)
    if began is None or ended is None or ended < began:
        return None
    return int((ended - began).total_seconds() * 1000)


def _subagent_type(arguments: Any) -> str | None:
    return _text(arguments.get("subagent_type")) if isinstance(arguments, dict) else None


def _normalized_input(tool: str, arguments: Any) -> str:
    """What makes two calls "the same" for waste detection: the path, the command, the search."""
    if isinstance(arguments, dict):
        key = _PATH_KEYS.get(tool)
        if key is not None:
            path = _text(arguments.get(key)) or _text(arguments.get("file_path"))
            if path:
                return path
        elif tool == "Bash" and _text(arguments.get("command")):
            return arguments["command"]
        elif tool in ("Glob", "Grep") and _text(arguments.get("pattern")):
            return f"{arguments['pattern']}\n{_text(arguments.get('path')) or ''}"
    return canonical_input(arguments)


def _interruption_text(block: dict[str, Any]) -> bool:
    text = block.get("text")
    return block.get("type") == "text" and isinstance(text, str) and text.startswith(_INTERRUPTED)


def _is_tool_use_interruption(message: Any) -> bool:
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content.startswith(_TOOL_USE_INTERRUPTED)
    if isinstance(content, list):
        return any(
            isinstance(block, dict) and _interruption_text(block) and block["text"].startswith(_TOOL_USE_INTERRUPTED)
            for block in content
        )
    return False

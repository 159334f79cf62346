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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson

from bot.adapters.base import (
    ANY_VALUE, Cursor, JsonLines, ParseResult, billing_tier, canonical_input, parse_time, pending_tool_span,
    raw_value,
)
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


# -- what a line is read for: msgspec skips every other field (text, tool output) unbuilt ----------


class _Block(msgspec.Struct):
    """A content block: which tool was called or answered, and how it ended. Text is read only
    for the interruption marker a user line may carry."""

    type: Any = None
    id: Any = None
    name: Any = None
    input: msgspec.Raw = msgspec.Raw()
    tool_use_id: Any = None
    is_error: Any = None
    text: Any = None


class _Message(msgspec.Struct):
    id: Any = None
    model: Any = None
    usage: msgspec.Raw = msgspec.Raw()
    """Kept raw: compared as bytes across streamed copies, decoded only when it changed."""
    content: list[_Block | list[Any] | ANY_VALUE] | dict[str, Any] | ANY_VALUE = None


class _Detail(msgspec.Struct):
    """`toolUseResult`, for whether the call was interrupted and which subagent it ran."""

    agentId: Any = None
    interrupted: Any = None


class _Line(msgspec.Struct):
    type: Any = None
    timestamp: Any = None
    sessionId: Any = None
    agentId: Any = None
    uuid: Any = None
    parentUuid: Any = None
    requestId: Any = None
    isSidechain: Any = None
    cwd: Any = None
    gitBranch: Any = None
    costUSD: Any = None
    message: _Message | list[Any] | ANY_VALUE = None
    toolUseResult: _Detail | list[Any] | ANY_VALUE = None


_DECODER = msgspec.json.Decoder(_Line)


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
        state["tools"] = {tool_id: [getattr(tool, name) for name in _Tool.__slots__] for tool_id, tool in self.tools.items()}
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
    usage: msgspec.Raw
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
        lines = JsonLines(self.path, self.cursor, self.skipped, decoder=_DECODER, keep=_KEEP)
        for record in lines:
            kind = record.type
            if kind != "assistant" and kind != "user":
                continue  # a nested message inside a progress line, or a kept line of another kind
            try:
                self._line(kind, record)
            except (AttributeError, KeyError, TypeError, ValueError, IndexError):
                self.skipped["bad_record"] += 1
        return self._session(), lines.cursor(self.state.to_json())

    # -- every conversation line ------------------------------------------------------------

    def _line(self, kind: str, record: _Line) -> None:
        state = self.state
        self.lines += 1
        if state.sid is None:
            state.sid, state.agent = _identity(self.path, record)
        if state.cwd is None:
            state.cwd = _text(record.cwd)
        if state.branch is None:
            state.branch = _text(record.gitBranch)  # "" outside a repository
        ts = record.timestamp
        if type(ts) is str and len(ts) >= 20 and ts[10] == "T":
            self._observe(ts)
        else:
            ts = None
        # In a main file a sidechain line is a replay or a side question; in a subagent file
        # every line is one, and those are the subagent's own billed calls.
        sidechain = state.agent is None and record.isSidechain is True
        if state.failed_line is not None:
            self._classify_failures(kind, record)
        message = record.message
        if not isinstance(message, _Message):
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

    def _assistant(self, message: _Message, record: _Line, ts: str | None, sidechain: bool) -> None:
        model = _text(message.model)
        if model == _SYNTHETIC_MODEL:
            return
        native_id = _text(message.id) or _text(record.requestId)
        span_id = f"claude-code:{native_id}" if native_id else None
        if span_id is None:
            self.skipped["assistant_without_id"] += 1
        else:
            self._copy(span_id, native_id, model, message.usage, record, ts, sidechain)
            self.state.last_call = span_id
        content = message.content
        if isinstance(content, list):
            for block in content:
                if isinstance(block, _Block) and block.type == "tool_use":
                    self._tool_use(block, ts, span_id, sidechain)

    def _copy(
        self, span_id: str, native_id: str, model: str | None, usage: msgspec.Raw,
        record: _Line, ts: str | None, sidechain: bool,
    ) -> None:
        """Fold one streamed copy: the first copy dates the call, the largest usage wins.

        Ties keep the earlier copy and the reported cost goes with the usage kept, the same rules
        bot.corpus.merge applies across reads, so reading a file in two parts changes nothing.
        """
        call = self.calls.get(span_id)
        if call is not None:
            span = call.span
            if usage != call.usage:  # most copies repeat the usage verbatim
                decoded = raw_value(usage)
                tokens = _tokens(decoded, self.skipped)
                call.usage = usage.copy()
                if tokens is not None and tokens.total > call.total:
                    span.tokens, call.total = tokens, tokens.total
                    span.tier, span.web_searches = _tier(decoded), _searches(decoded, self.skipped)
                    if (cost := _cost(record.costUSD)) is not None:
                        span.reported_cost_usd = cost
            if span.request_id is None or (span.sidechain and not sidechain):
                span.request_id = _text(record.requestId) or span.request_id
            span.sidechain = span.sidechain and sidechain
            if span.reported_cost_usd is None:
                span.reported_cost_usd = _cost(record.costUSD)
            return
        decoded = raw_value(usage)
        tokens = _tokens(decoded, self.skipped)
        span = Span(
            span_id=span_id,
            run_type=RunType.LLM,
            name=model or "unknown",
            started_at=parse_time(ts),
            model=model,
            provider=_provider(native_id, model),
            tokens=tokens,
            tier=_tier(decoded),
            web_searches=_searches(decoded, self.skipped),
            reported_cost_usd=_cost(record.costUSD),
            sidechain=sidechain,
            request_id=_text(record.requestId),
        )
        self.calls[span_id] = _Call(span, tokens.total if tokens is not None else -1, usage.copy())

    # -- tools ------------------------------------------------------------------------------

    def _tool_use(self, block: _Block, ts: str | None, parent: str | None, sidechain: bool) -> None:
        tool_id = _text(block.id)
        if tool_id is None:
            self.skipped["tool_without_id"] += 1
            return
        if tool_id in self.touched or tool_id in self.state.tools:
            return  # the same block again in a later copy of the message
        tool = _text(block.name) or "unknown"
        arguments = raw_value(block.input)
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

    def _user(self, message: _Message, record: _Line, ts: str | None, sidechain: bool) -> None:
        content = message.content
        if isinstance(content, str):
            if content.startswith(_INTERRUPTED):
                self._interruption(record, ts, sidechain)
            return
        if not isinstance(content, list):
            return
        blocks = [block for block in content if isinstance(block, _Block)]
        results = [block for block in blocks if block.type == "tool_result"]
        detail = record.toolUseResult if len(results) == 1 else None  # it describes one result
        failed = [block.tool_use_id for block in results if self._tool_result(block, detail, record, ts)]
        if failed:
            self.state.failed_line = _text(record.uuid) or ""
            self.state.failed = failed
        if any(_interruption_text(block) for block in blocks):
            self._interruption(record, ts, sidechain)

    def _tool_result(self, block: _Block, detail: Any, record: _Line, ts: str | None) -> bool:
        """Settle the call `block` answers; True when it failed (its kind is decided later).

        A failed call stays in the cursor until the next conversation line: a user
        "interrupted … for tool use" marker answering the failed result means the user refused
        or stopped the call.
        """
        tool_id = block.tool_use_id
        tools = self.state.tools
        tool = tools.get(tool_id) if isinstance(tool_id, str) else None
        if tool is None:
            return False  # answered before this file (or this bounded memory) began
        self.touched[tool_id] = tool
        tool.duration_ms = _millis_between(tool.ts, ts)
        if tool.subagent:
            tool.child = self._child_key(detail, record)
        if isinstance(detail, _Detail) and detail.interrupted is True:
            tool.status, tool.error_kind = Status.INTERRUPTED.value, "interrupted"
        elif block.is_error is True:
            tool.status = Status.ERROR.value
            return True
        del tools[tool_id]
        return False

    def _child_key(self, detail: Any, record: _Line) -> str | None:
        """The subagent session a Task/Agent result names (`toolUseResult.agentId`)."""
        agent = _text(detail.agentId) if isinstance(detail, _Detail) else None
        if agent is None and self.state.agent is None and record.isSidechain is not True:
            agent = _text(record.agentId)  # some versions put it on the result line itself
        return f"claude-code:{self.state.sid}/{agent}" if agent else None

    def _classify_failures(self, kind: str, record: _Line) -> None:
        """The line after a failed result says whether the user refused (or stopped) the call.

        Claude Code answers a refused permission prompt with an error result and then a fixed
        "interrupted … for tool use" user line chained to it by `parentUuid`; any other next
        line leaves a plain failure. Until that line arrives the span carries no kind, which a
        later read can still fill in (bot.corpus.merge fills missing fields).
        """
        rejected = (
            kind == "user"
            and record.parentUuid == self.state.failed_line
            and _is_tool_use_interruption(record.message)
        )
        state = self.state
        for tool_id in state.failed:
            tool = state.tools.pop(tool_id, None)
            if tool is not None:
                tool.error_kind = "rejected" if rejected else "is_error"
                self.touched[tool_id] = tool
        state.failed_line, state.failed = None, []

    def _interruption(self, record: _Line, ts: str | None, sidechain: bool) -> None:
        uuid = _text(record.uuid)
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
    suffixes = frozenset({".jsonl"})
    claims_directories = False
    lists_root_parents = False

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
        """`CLAUDE_CONFIG_DIR` (a comma-separated list) replaces both default locations; a
        directory listed twice is read once (its skipped lines were counted twice)."""
        roots = [_expand(part.strip(), home) for part in env.get("CLAUDE_CONFIG_DIR", "").split(",") if part.strip()]
        if not roots:
            roots = [home / ".config" / "claude", home / ".claude"]
        return list(dict.fromkeys(root / "projects" for root in roots))


ADAPTER = _Adapter()


# -- pure helpers -------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _is_transcript_line(line: bytes) -> bool:
    if b'"sessionId":"' in line and b'"uuid":"' in line and b'"type":"' in line:
        return True
    return line.startswith(b'{"type":"') and any(marker in line for marker in _IDENTITY_MARKERS)


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


def _identity(path: Path, record: _Line) -> tuple[str, str | None]:
    """(session id, agent id or None) for the file, from its path and first conversation line.

    A main file is named after its session; when it was renamed (fixtures, copies) the lines'
    `sessionId` says. A subagent file is `agent-<agentId>.jsonl`, or any file whose first line
    is a sidechain line with an `agentId`; its session is the parent's: the folder above
    `subagents/`, or the lines' `sessionId` (some builds write `agent-<id>` there instead).
    """
    line_sid = _text(record.sessionId)
    stem = path.stem
    agent = stem[len("agent-"):] if stem.startswith("agent-") else None
    if agent is None and record.isSidechain is True:
        agent = _text(record.agentId)
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

    A request the API compacted server-side lists a `compaction` entry in `usage.iterations`:
    the summarizing pass, billed, but left out of the top-level counts (which are the reply's
    alone, zero when the request stopped after compacting). Its tokens are added; the other
    entries repeat the top level. ccusage 20 reads the top level only.
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
    tokens = Tokens(
        input=input_tokens, output=output, cache_read=cache_read, cache_write_5m=write_5m, cache_write_1h=write_1h,
    )
    iterations = get("iterations")
    if type(iterations) is list:
        for iteration in iterations:
            if type(iteration) is dict and iteration.get("type") == "compaction":
                summary = _tokens(iteration, skipped)
                if summary is not None:
                    tokens.accumulate(summary)
    return tokens


def _tier(usage: Any) -> str | None:
    """`usage.speed`: `fast` for a call in fast mode, billed at the fast-mode rates."""
    return billing_tier(usage.get("speed")) if type(usage) is dict else None


def _searches(usage: Any, skipped: Counter[str]) -> int:
    """`usage.server_tool_use.web_search_requests`: the searches the API ran for the call."""
    tools = usage.get("server_tool_use") if type(usage) is dict else None
    count = tools.get("web_search_requests", 0) if type(tools) is dict else 0
    if type(count) is not int or count < 0:
        skipped["bad_web_search_count"] += 1
        return 0
    return count


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


def _interruption_text(block: _Block) -> bool:
    text = block.text
    return block.type == "text" and isinstance(text, str) and text.startswith(_INTERRUPTED)


def _is_tool_use_interruption(message: Any) -> bool:
    content = message.content if isinstance(message, _Message) else None
    if isinstance(content, str):
        return content.startswith(_TOOL_USE_INTERRUPTED)
    if isinstance(content, list):
        return any(
            isinstance(block, _Block) and _interruption_text(block) and block.text.startswith(_TOOL_USE_INTERRUPTED)
            for block in content
        )
    return False

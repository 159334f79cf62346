"""Read Gemini CLI chat recordings (`~/.gemini/tmp/<projectHash>/chats/`) into sessions.

Two generations share one message shape: older `session-*.json` files hold one JSON object
that the CLI rewrites whole after every message, so they cannot be resumed by offset (a changed
file is read again; span ids are stable, so the merge is idempotent); newer `session-*.jsonl`
files are append-only (a header line, message lines, `{"$set": …}` patches, and a message id
written again when it changes, the last copy winning) and resume from a byte offset.
Token semantics follow the Gemini API's UsageMetadata (docs/agent-formats.md, section 5).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from bot.adapters.base import Cursor, JsonLines, ParseResult, normalized_input, parse_time
from bot.trace import RunType, Runtime, Session, Span, Status, Tokens, hash_tool_input

_PREFIX = "gemini-cli:"
_PROVIDER = "google"

_KEEP = (b'"gemini"', b'"$set"', b'"sessionId"')
"""JSONL lines worth decoding: model replies, patches and the header. User lines (prompt text)
and info lines are consumed without being decoded."""

_SUBAGENT_TOOLS = frozenset({"delegate_to_agent", "invoke_agent"})
_SHELL_TOOLS = frozenset({"run_shell_command", "shell"})
_FILE_TOOLS = frozenset({"read_file", "write_file", "replace", "edit", "edit_file"})
_FILE_KEYS = ("file_path", "absolute_path", "path")
_PENDING = frozenset({"scheduled", "validating", "executing", "awaiting_approval"})
"""Tool statuses that are not an outcome yet: a later copy of the message says how it ended."""
_STATUS_WORD = re.compile(r"^[a-z][a-z_]{0,31}$")


class _Adapter:
    name = "gemini-cli"
    runtime = Runtime.GEMINI_CLI
    suffixes = frozenset({".jsonl", ".json"})
    claims_directories = False
    lists_root_parents = False

    def identify(self, path: Path, head: bytes) -> bool:
        """A chat recording, told by its content: not `logs.json` (a list of prompts), not
        OpenCode's `sessionID` files, not another tool's JSON."""
        if path.suffix == ".jsonl":
            return _is_jsonl_header(head)
        if path.suffix == ".json":
            return _is_chat_json(path, head)
        return False

    def read(self, path: Path, cursors: Mapping[str, Cursor] | None = None) -> ParseResult:
        cursor = (cursors or {}).get(str(path))
        if path.suffix == ".jsonl":
            return _read_jsonl(path, cursor)
        return _read_json(path, cursor)

    def discover(self, env: Mapping[str, str], home: Path) -> Iterable[Path]:
        """`GEMINI_CLI_HOME` replaces the home directory for the CLI (packages/core/src/utils/paths.ts)."""
        base = Path(env["GEMINI_CLI_HOME"]).expanduser() if env.get("GEMINI_CLI_HOME") else home
        return (base / ".gemini" / "tmp",)


ADAPTER = _Adapter()


def _is_jsonl_header(head: bytes) -> bool:
    """The first line is a header: a `sessionId`, no `type`, and a `projectHash` or a `kind`."""
    first = head.split(b"\n", 1)[0]
    if b'"sessionId"' not in first:
        return False
    try:
        header = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return (
        isinstance(header, dict)
        and isinstance(header.get("sessionId"), str)
        and "type" not in header
        and ("projectHash" in header or header.get("kind") in ("main", "subagent"))
    )


def _is_chat_json(path: Path, head: bytes) -> bool:
    """An object with two of the recording's top-level keys in its head, or, for a big file whose
    keys come sorted (messages first), a `session-*.json` inside a `chats` directory."""
    if not head.lstrip().startswith(b"{"):
        return False
    if sum(k in head for k in (b'"sessionId"', b'"projectHash"', b'"messages"')) >= 2:
        return True
    return path.name.startswith("session-") and path.parent.name == "chats" and b'"messages"' in head


# ---------------------------------------------------------------------------------------------
# Reading the two file generations.


def _read_json(path: Path, cursor: Cursor | None) -> ParseResult:
    """The whole object, unless size and mtime say the file is the one already read."""
    result = ParseResult()
    try:
        st = path.stat()
        if cursor is not None and cursor.size == st.st_size and cursor.mtime_ns == st.st_mtime_ns:
            result.cursors[str(path)] = cursor
            return result
        raw = path.read_bytes()
    except OSError:
        result.skipped["unreadable_file"] += 1
        return result
    # The stat taken before reading stamps the cursor: a rewrite meanwhile is read next time.
    result.cursors[str(path)] = Cursor(offset=st.st_size, size=st.st_size, mtime_ns=st.st_mtime_ns)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        result.skipped["malformed_json"] += 1
        return result
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        result.skipped["not_a_chat_recording"] += 1
        return result
    session = _session_from_state(path, _header_state(path, data))
    session.observe_time(parse_time(data.get("startTime")))
    session.observe_time(parse_time(data.get("lastUpdated")))
    _add_messages(session, _last_copies(data["messages"], result.skipped), result.skipped)
    result.sessions.append(session)
    return result


def _read_jsonl(path: Path, cursor: Cursor | None) -> ParseResult:
    """Resume after `cursor`; the header read earlier lives on in the cursor's state."""
    result = ParseResult()
    try:
        size = path.stat().st_size
    except OSError:
        result.skipped["unreadable_file"] += 1
        return result
    if cursor is not None and cursor.size > size:
        cursor = None  # replaced or truncated: read again from the start
    state = dict(cursor.state) if cursor else {}
    messages: list[Any] = []
    times: list[Any] = []
    lines = JsonLines(path, cursor, result.skipped, keep=_KEEP)
    for record in lines:
        patch = record.get("$set")
        if isinstance(patch, dict):
            times.append(patch.get("lastUpdated"))
            messages.extend(patch["messages"] if isinstance(patch.get("messages"), list) else ())
        elif "type" in record:
            messages.append(record)
        elif isinstance(record.get("sessionId"), str) and not state:
            state = _header_state(path, record)
            times.append(record.get("startTime"))
    # Only a header seen is remembered: a file read before its header was written reads it later.
    result.cursors[str(path)] = lines.cursor(state)
    if messages or times:
        session = _session_from_state(path, state or _header_state(path, {}))
        for at in times:
            session.observe_time(parse_time(at))
        _add_messages(session, _last_copies(messages, result.skipped), result.skipped)
        result.sessions.append(session)
    return result


def _header_state(path: Path, header: dict[str, Any]) -> dict[str, Any]:
    """What a resumed read must remember of the header: session id, kind and parent.

    A subagent recording lives in `chats/<parentSessionId>/`, which names its parent when the
    header does not. Without a header the file name stands in for the session id.
    """
    kind = header.get("kind") if isinstance(header.get("kind"), str) else None
    parent = header.get("parentSessionId")
    if not isinstance(parent, str) and kind == "subagent" and path.parent.name != "chats":
        parent = path.parent.name
    sid = header.get("sessionId")
    return {
        "session_id": sid if isinstance(sid, str) and sid else path.stem,
        "kind": kind,
        "parent": parent if isinstance(parent, str) and parent else None,
    }


def _session_from_state(path: Path, state: dict[str, Any]) -> Session:
    # projectHash is a one-way hash of the project path: it is not a cwd and is not kept as one.
    return Session(
        key=_PREFIX + str(state["session_id"]),
        runtime=Runtime.GEMINI_CLI,
        parent_key=_PREFIX + state["parent"] if state.get("parent") else None,
        source=str(path),
    )


def _last_copies(messages: list[Any], skipped: Counter[str]) -> list[dict[str, Any]]:
    """One record per message id, the last one written (a message is re-written as it grows)."""
    by_id: dict[str, dict[str, Any]] = {}
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            skipped["not_an_object"] += 1
            continue
        mid = message.get("id")
        if isinstance(mid, str | int):
            by_id[str(mid)] = message
        elif message.get("type") == "gemini":
            skipped["bad_record"] += 1
        else:
            by_id[f"#{i}"] = message  # only its timestamp is used
    return list(by_id.values())


# ---------------------------------------------------------------------------------------------
# Mapping one `gemini` message to spans.


def _add_messages(session: Session, messages: list[dict[str, Any]], skipped: Counter[str]) -> None:
    for message in messages:
        session.observe_time(parse_time(message.get("timestamp")))
        if message.get("type") != "gemini":
            continue
        try:
            session.spans.extend(_message_spans(session, message))
        except (TypeError, ValueError, AttributeError, OverflowError):
            skipped["bad_record"] += 1


def _message_spans(session: Session, message: dict[str, Any]) -> list[Span]:
    """The model call (tokens None when the message has no `tokens`: unknown, never zero) and
    the tool calls it made."""
    native = session.key.removeprefix(_PREFIX)
    mid = str(message["id"])
    model = message.get("model") if isinstance(message.get("model"), str) else None
    raw = message.get("tokens")
    llm = Span(
        span_id=f"{_PREFIX}{native}:{mid}", run_type=RunType.LLM, name=model or "gemini",
        started_at=parse_time(message.get("timestamp")), model=model, provider=_PROVIDER,
        tokens=_tokens(raw) if isinstance(raw, dict) else None,
    )
    calls = message.get("toolCalls")
    tools = [
        _tool_span(call, f"{_PREFIX}{native}:{call.get('id') or f'{mid}#{i}'}", llm.span_id)
        for i, call in enumerate(calls if isinstance(calls, list) else ())
        if isinstance(call, dict) and isinstance(call.get("name"), str)
    ]
    return [llm, *tools]


def _tokens(raw: dict[str, Any]) -> Tokens | None:
    """Gemini's `input` (prompt) includes `cached`; `thoughts` and `tool` (tool-use prompt) are
    extra to `output` and `input`, so: input = input − cached + tool, output = output + thoughts.
    A `tokens` object without a single usable count is unknown usage (None), not zero."""
    counts = {k: _count(raw.get(k)) for k in ("input", "cached", "output", "thoughts", "tool")}
    if all(v is None for v in counts.values()):
        return None
    prompt, cached, output, thoughts, tool = (v or 0 for v in counts.values())
    return Tokens(input=max(prompt - cached, 0) + tool, output=output + thoughts, cache_read=cached, reasoning=thoughts)


def _tool_span(call: dict[str, Any], span_id: str, parent_id: str) -> Span:
    """A tool call; `delegate_to_agent`/`invoke_agent` are subagent hand-offs."""
    name: str = call["name"]
    args = call.get("args") if isinstance(call.get("args"), dict) else {}
    status, kind = _tool_status(call.get("status"))
    span = Span(
        span_id=span_id, run_type=RunType.TOOL, name=name, parent_id=parent_id,
        started_at=parse_time(call.get("timestamp")), status=status, error_kind=kind,
        tool_name=name, tool_input_hash=hash_tool_input(_normalized_input(name, args)),
    )
    if name in _SUBAGENT_TOOLS:
        span.run_type = RunType.SUBAGENT
        agent = args.get("agent_name") or args.get("name")
        span.name = agent if isinstance(agent, str) and agent else name
        child = call.get("agentId") or args.get("agentId")
        span.child_session_key = _PREFIX + child if isinstance(child, str) and child else None
    return span


def _tool_status(status: Any) -> tuple[Status, str | None]:
    """Anything but success fails, named by its status word (`error`, `cancelled`); statuses
    that are not an outcome yet stay OK, because a merge keeps a failure once seen."""
    if status is None or status == "success" or status in _PENDING:
        return Status.OK, None
    return Status.ERROR, status if isinstance(status, str) and _STATUS_WORD.match(status) else "error"


def _normalized_input(tool: str, args: dict[str, Any]) -> str:
    name = tool
    return normalized_input(args, shell=name in _SHELL_TOOLS, file_tool=name in _FILE_TOOLS, file_keys=_FILE_KEYS)


def _count(value: Any) -> int | None:
    """A token count; anything that is not a non-negative number is missing (None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        return None
    return int(value)

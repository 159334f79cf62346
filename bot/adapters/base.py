"""The contract every agent-log adapter fulfils, and the result it hands back.

Modelled on beangulp's importer protocol: `identify` says whether a path is ours, `read` turns
it into sessions. A bad line is counted under a reason and skipped, never raised, so one broken
log cannot hide the cost in a thousand good ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from bot.trace import RunType, Runtime, Session, Span, Status

HEAD_BYTES = 8192
"""How much of a file `identify` gets to look at."""


@dataclass(slots=True)
class Cursor:
    """Where a read of one append-only file stopped, and what it must remember to go on.

    `offset` is the byte just after the last complete line consumed; `state` is whatever small,
    JSON-serialisable memory the adapter needs so that reading the rest later gives the same
    result as reading the whole file at once (e.g. Codex's last cumulative total and model).
    `size` and `mtime_ns` identify the file version the cursor belongs to: a file that shrank
    or was replaced is read again from the start.
    """

    offset: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    size: int = 0
    mtime_ns: int = 0


@dataclass(slots=True)
class ParseResult:
    """Sessions found in one path, the lines skipped by reason, and a cursor per file read."""

    sessions: list[Session] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    cursors: dict[str, Cursor] = field(default_factory=dict)

    def extend(self, other: ParseResult) -> None:
        self.sessions.extend(other.sessions)
        self.skipped.update(other.skipped)
        self.cursors.update(other.cursors)


class Adapter(Protocol):
    """One agent log format."""

    name: str
    """Short format name, used by `--format` (e.g. "claude-code")."""
    runtime: Runtime

    def identify(self, path: Path, head: bytes) -> bool:
        """True when `path` (a file, or a directory for stores like OpenCode's) is in this format.

        `head` holds the first bytes of a file (empty for a directory). Must be cheap and must
        not claim another adapter's files: the registry refuses a path two adapters claim.
        """
        ...

    def read(self, path: Path, cursors: Mapping[str, Cursor] | None = None) -> ParseResult:
        """Parse `path`, resuming each file from its cursor when one is given.

        Must not raise on bad content: malformed or truncated lines are counted in `skipped`.
        A truncated last line is not consumed (the cursor stops before it), so it is read again
        once the agent finishes writing it.
        """
        ...

    def discover(self, env: Mapping[str, str], home: Path) -> Iterable[Path]:
        """The paths where this tool keeps its logs on this machine, honouring its own overrides."""
        ...


class FormatError(Exception):
    """A path no adapter, or more than one adapter, claims."""


_CHUNK = 8 << 20


def jsonl_records(
    path: Path, cursor: Cursor | None, skipped: Counter[str], keep: tuple[bytes, ...] = ()
) -> Iterable[tuple[dict[str, Any], int]]:
    """Yield `(record, end_offset)` for each complete JSON-object line of `path` after `cursor`.

    Reads in bounded chunks so memory stays flat on multi-GB logs. A line that is not a JSON
    object is counted as `malformed_json` (or `not_an_object`) and skipped. A last line with no
    newline that does not parse is counted as `truncated_line` and not consumed: the agent may
    still be writing it, and the next read starts there.

    `keep`, when given, is a speed filter: a line containing none of these byte strings is
    consumed without being decoded (most bytes of an agent log are content we never read).
    Such a line is only checked for the braces of a JSON object, so garbage is still counted.
    """
    offset = cursor.offset if cursor else 0
    with path.open("rb") as fh:
        fh.seek(offset)
        pending = b""
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            buf = pending + chunk if pending else chunk
            lines = buf.split(b"\n")
            pending = lines.pop()
            for line in lines:
                offset += len(line) + 1
                if keep and not any(k in line for k in keep):
                    if not _looks_like_object(line):
                        skipped["malformed_json"] += 1
                    continue
                record = _decode(line, skipped)
                if record is not None:
                    yield record, offset
        if pending.strip():
            try:
                record = orjson.loads(pending)
            except orjson.JSONDecodeError:
                skipped["truncated_line"] += 1
                return
            offset += len(pending)
            if isinstance(record, dict):
                yield record, offset
            else:
                skipped["not_an_object"] += 1


def _looks_like_object(line: bytes) -> bool:
    stripped = line.strip()
    return not stripped or (stripped[:1] == b"{" and stripped[-1:] == b"}")


def _decode(line: bytes, skipped: Counter[str]) -> dict[str, Any] | None:
    if not line.strip():
        return None
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        skipped["malformed_json"] += 1
        return None
    if not isinstance(record, dict):
        skipped["not_an_object"] += 1
        return None
    return record


def file_cursor(path: Path, offset: int, state: dict[str, Any] | None = None) -> Cursor:
    """A cursor for `path` at `offset`, stamped with the file's current size and mtime."""
    st = path.stat()
    return Cursor(offset=offset, state=state or {}, size=st.st_size, mtime_ns=st.st_mtime_ns)


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 string (with `Z`), epoch seconds or epoch milliseconds → aware UTC datetime.

    Sources disagree (docs/agent-formats.md, trap 9); anything unreadable is None, not an error.
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def canonical_input(arguments: Any) -> str:
    """A tool call's arguments as canonical JSON: the normalized input when no simpler key
    (a path, a command) identifies the call. Only ever hashed, never stored."""
    return orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def normalized_input(args: dict[str, Any], *, shell: bool, file_tool: bool, file_keys: tuple[str, ...]) -> str:
    """The command for shells, the path for file tools, else canonical JSON: repeats of "the
    same call" are then found by hash whatever else the call said."""
    if shell and isinstance(args.get("command"), str):
        return args["command"]
    if file_tool:
        for key in file_keys:
            if isinstance(args.get(key), str):
                return args[key]
    return canonical_input(args)


class PendingTool(Protocol):
    """A tool call an adapter keeps in its cursor until the result arrives."""

    span_id: str
    ts: str | None
    name: str
    tool: str
    subagent: bool
    input_hash: str | None
    parent: str | None
    status: str
    error_kind: str | None
    duration_ms: int | None
    child: str | None


def pending_tool_span(tool: PendingTool, sidechain: bool = False) -> Span:
    """The span of a tool call (or subagent hand-off) as far as it is known now."""
    return Span(
        span_id=tool.span_id,
        run_type=RunType.SUBAGENT if tool.subagent else RunType.TOOL,
        name=tool.name,
        started_at=parse_time(tool.ts),
        parent_id=tool.parent,
        duration_ms=tool.duration_ms,
        status=Status(tool.status),
        error_kind=tool.error_kind,
        tool_name=tool.tool,
        tool_input_hash=tool.input_hash,
        child_session_key=tool.child,
        sidechain=sidechain,
    )

"""The contract every agent-log adapter fulfils, and the result it hands back.

Modelled on beangulp's importer protocol: `identify` says whether a path is ours, `read` turns
it into sessions. A bad line is counted under a reason and skipped, never raised, so one broken
log cannot hide the cost in a thousand good ones.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec
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
    suffixes: frozenset[str]
    """The (lower-case) suffixes of the files it may claim: the registry asks it about no other
    file, which spares most of 8 identify calls on each of the tens of thousands of files a
    walk finds."""
    claims_directories: bool
    """Whether it may claim a directory (a store read as one unit); only such adapters are asked
    about directories."""
    lists_root_parents: bool
    """Whether `discover` lists the directories that hold its paths (OpenCode finds its databases
    beside its storage). A warm offline report then watches those directories for new entries
    too; the others it leaves alone, so that what an agent writes beside its logs (credentials,
    settings, history) does not void the cached report."""

    def identify(self, path: Path, head: bytes) -> bool:
        """True when `path` (a file, or a directory for stores like OpenCode's) is in this format.

        `head` holds the first bytes of a file (empty for a directory). Must be cheap and must
        not claim another adapter's files: the registry refuses a path two adapters claim. The
        offline report remembers a file it claimed while the file's size and mtime stay the
        same (bot.logcache), so the answer should depend on the path and `head` only.
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
        """The paths where this tool keeps its logs on this machine, honouring its own overrides.

        Read the environment through `env` only, and look into nothing but the paths returned
        (and, with `lists_root_parents`, the directories that hold them): a warm offline report
        trusts its cached answer while those variables and paths are unchanged (bot.snapshot).
        """
        ...


class FormatError(Exception):
    """A path no adapter, or more than one adapter, claims."""


_CHUNK = 8 << 20


class JsonLines:
    """The complete JSON-object lines of an append-only file after a cursor, decoded one by one.

    Iterating yields one record per line that is a JSON object: a dict, or, with `decoder`, an
    instance of its msgspec type. A record type declares only the fields an adapter reads, so
    msgspec skips the rest (prompts, tool output, file contents: most of the bytes) in C without
    building them. Its fields must accept any JSON value (see `ANY_VALUE`), so that the only
    record a decoder refuses is one that is not an object.

    Reads in bounded chunks so memory stays flat on multi-GB logs. A line that is not JSON is
    counted as `malformed_json`, one that is not an object as `not_an_object`. A last line with
    no newline that does not parse is counted as `truncated_line` and not consumed: the agent may
    still be writing it, and the next read starts there. Values in fields no adapter reads are
    checked for JSON syntax only (msgspec does not validate the UTF-8 of a string it skips).

    `keep`, when given, is a speed filter: a line containing none of these byte strings is
    consumed without being decoded. Such a line is only checked for the braces of a JSON object,
    so garbage is still counted.

    After the iteration, `offset` is the byte just after the last complete line consumed,
    whether it was decoded, filtered out or skipped, so the next read starts after all of them
    (`cursor()`). During it, `line` is the raw line of the record just yielded.
    """

    __slots__ = ("path", "skipped", "offset", "line", "size", "mtime_ns", "_decode", "_wanted")

    def __init__(
        self, path: Path, cursor: Cursor | None, skipped: Counter[str], *,
        decoder: msgspec.json.Decoder | None = None, keep: tuple[bytes, ...] = (),
    ) -> None:
        self.path = path
        self.skipped = skipped
        # One scan of the line for all markers (a regex alternation beats a loop of `in`).
        self._wanted = re.compile(b"|".join(map(re.escape, keep))).search if keep else None
        self.offset = cursor.offset if cursor else 0
        self.line = b""
        self.size = self.mtime_ns = 0
        self._decode = decoder.decode if decoder is not None else _object

    def cursor(self, state: dict[str, Any] | None = None) -> Cursor:
        """Where the read stopped, stamped with the size and mtime the file had when the read
        began: a file that grew meanwhile no longer matches its stamp, so it is read on from
        `offset` next time instead of passing for unchanged."""
        return Cursor(offset=self.offset, state=state or {}, size=self.size, mtime_ns=self.mtime_ns)

    def __iter__(self) -> Iterator[Any]:
        decode, wanted, skipped = self._decode, self._wanted, self.skipped
        with open(self.path, "rb", buffering=0) as fh:
            st = os.fstat(fh.fileno())
            self.size, self.mtime_ns = st.st_size, st.st_mtime_ns
            fh.seek(self.offset)
            # First ask for what is there (and one byte more, to see the end in the same call):
            # an 8 MB read of a 50 kB log costs four times as much, and most logs are small.
            # Whatever the agent appends meanwhile is read in whole chunks: reads of the first
            # size would crawl through it, re-joining a growing line each time.
            want = min(max(st.st_size - self.offset, 0) + 1, _CHUNK)
            pending = b""
            while chunk := fh.read(want):
                want = _CHUNK
                buf = pending + chunk if pending else chunk
                lines = buf.split(b"\n")
                pending = lines.pop()
                for line in lines:
                    if wanted is not None and wanted(line) is None:
                        if not _looks_like_object(line):
                            skipped["malformed_json"] += 1
                        continue
                    try:
                        record = decode(line)
                    except msgspec.DecodeError as exc:
                        self._skip(line, exc)
                        continue
                    self.line = line
                    yield record
                self.offset += len(buf) - len(pending)
            if pending.strip():
                try:
                    record = decode(pending)
                except msgspec.ValidationError as exc:
                    self._skip(pending, exc)
                except msgspec.DecodeError:
                    skipped["truncated_line"] += 1
                    return
                else:
                    self.line = pending
                    yield record
                self.offset += len(pending)

    def _skip(self, line: bytes, error: msgspec.DecodeError) -> None:
        """Count a line the decoder refused under the reason it was refused for.

        A typed decoder refuses a non-object (ValidationError); orjson, which the adapters used
        before they declared types, says whether it was a JSON value at all.
        """
        if not line.strip():
            return
        if not isinstance(error, msgspec.ValidationError):
            self.skipped["malformed_json"] += 1
            return
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            self.skipped["malformed_json"] += 1
            return
        self.skipped["bad_record" if isinstance(value, dict) else "not_an_object"] += 1


ANY_VALUE = str | int | float | bool | None
"""The JSON values besides objects and arrays: a record field declared `SomeStruct | list[Any] |
ANY_VALUE` takes whatever a line holds there, and the adapter checks which it got, as it would
with a dict."""


def whole_file_cursor(path: Path) -> Cursor:
    """The cursor of a format read whole each time (a JSON document, a CSV export): at its end,
    stamped with the size and mtime it has now, so an unchanged file is not read again. Take it
    before reading, so a file rewritten during the read is read again next time."""
    st = path.stat()
    return Cursor(offset=st.st_size, size=st.st_size, mtime_ns=st.st_mtime_ns)


def raw_value(raw: msgspec.Raw) -> Any:
    """A field kept as raw JSON (`msgspec.Raw`), decoded now; None when absent or null.

    orjson decodes it, as it decoded whole lines before: integers beyond 64 bits become floats
    (never valid counts) and the canonical JSON hashed for tool inputs stays the same.
    """
    return orjson.loads(memoryview(raw)) if raw else None


def _object(line: bytes) -> dict[str, Any]:
    """A line as a dict (orjson), refusing what is not an object as a typed decoder would."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise msgspec.DecodeError(str(exc)) from None
    if type(value) is not dict:
        raise msgspec.ValidationError("not an object")
    return value


def _looks_like_object(line: bytes) -> bool:
    stripped = line.strip()
    return not stripped or (stripped[:1] == b"{" and stripped[-1:] == b"}")


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
        return _parse_iso(value)
    return None


@lru_cache(maxsize=4096)
def _parse_iso(value: str) -> datetime | None:
    """Cached: a tool call's start is parsed again for its duration, and many lines of a
    session share a timestamp; the spans then share one (immutable) datetime too."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def billing_tier(value: Any) -> str | None:
    """A tier a log names (Claude's `usage.speed`, Codex's `service_tier`) as `Span.tier`: None
    for the standard tier under any of its names, or for anything that is not a name."""
    if not isinstance(value, str) or not value.strip():
        return None
    tier = value.strip().lower()
    return None if tier in _STANDARD_TIERS else tier


_STANDARD_TIERS = frozenset({"standard", "default", "auto", "normal"})
"""What the tools write for the ordinary tier: Claude `speed: standard`, Codex `service_tier:
default`, OpenAI's request `auto` (the response then names the tier run), `normal` for speed."""


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

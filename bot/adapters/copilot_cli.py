"""Read GitHub Copilot CLI session events (`~/.copilot/session-state/<id>/events.jsonl`).

The events give repository, branch and commit (`session.start` context), tool outcomes and,
per reply, only the output tokens (docs/agent-formats.md §6). Input tokens appear only in the
session totals of `session.shutdown` (`tokenDetails`, or `modelMetrics` usage per model). So a
finished session is one llm span per model carrying those totals, with the premium-request
cost (`totalNanoAiu`) as the reported cost; a session still running has one call of unknown
usage per reply, which is honest where a partial count would look priced and complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bot.adapters.base import Cursor, JsonLines, ParseResult, parse_time, whole_file_cursor
from bot.adapters.otlp import NANO_AIU_USD
from bot.gitmeta import normalize_remote
from bot.trace import Runtime, RunType, Session, Span, Status, Tokens

class _Adapter:
    name = "copilot-cli"
    runtime = Runtime.COPILOT
    suffixes = frozenset({".jsonl"})
    claims_directories = False
    lists_root_parents = False

    def identify(self, path: Path, head: bytes) -> bool:
        """A `.jsonl` opening with Copilot's `session.start` event."""
        return path.suffix == ".jsonl" and head.startswith(b'{"type":"session.start"') and b'"producer":"copilot-agent"' in head

    def read(self, path: Path, cursors: Mapping[str, Cursor] | None = None) -> ParseResult:
        """The whole file each time: the totals that price it come last."""
        stamp = whole_file_cursor(path)  # before reading: a rewrite meanwhile is read next time
        result = ParseResult()
        reader = _Reader(path)
        for record in JsonLines(path, None, result.skipped):
            try:
                reader.event(record)
            except (AttributeError, KeyError, TypeError, ValueError):
                result.skipped["bad_record"] += 1
        session = reader.session()
        if session is not None:
            result.sessions.append(session)
        result.cursors[str(path)] = stamp
        return result

    def discover(self, env: Mapping[str, str], home: Path) -> Iterable[Path]:
        return [home / ".copilot" / "session-state"]


ADAPTER = _Adapter()


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sid: str | None = None
        self.meta: dict[str, Any] = {}
        self.replies: list[Span] = []
        self.tools: dict[str, Span] = {}
        self.shutdown: dict[str, Any] | None = None
        self.model: str | None = None
        self.times: list[Any] = []

    def event(self, record: dict[str, Any]) -> None:
        kind, data = record.get("type"), record.get("data")
        if not isinstance(data, dict):
            return
        at = parse_time(record.get("timestamp"))
        if at is not None:
            self.times.append(at)
        if kind in ("session.start", "session.resume"):
            self.sid = self.sid or _str(data.get("sessionId"))
            self.model = self.model or _str(data.get("selectedModel"))
            context = data.get("context")
            if isinstance(context, dict):
                for key in ("cwd", "branch", "headCommit", "repository"):
                    self.meta.setdefault(key, _str(context.get(key)))
        elif kind == "session.model_change":
            self.model = _str(data.get("newModel")) or self.model
        elif kind == "assistant.message":
            self._reply(record, data, at)
        elif kind in ("tool.execution_start", "tool.execution_complete"):
            self._tool(data, at)
        elif kind == "session.shutdown":
            self.shutdown = data

    def _reply(self, record: dict[str, Any], data: dict[str, Any], at: Any) -> None:
        message = _str(data.get("messageId")) or _str(record.get("id"))
        if message is None or message.startswith("[trimmed"):
            return
        model = _str(data.get("model")) or self.model
        self.replies.append(Span(span_id=message, run_type=RunType.LLM, name=model or "unknown",
                                 started_at=at, model=model))

    def _tool(self, data: dict[str, Any], at: Any) -> None:
        """A tool call from its start and completion events (the name is on the start only)."""
        call = _str(data.get("toolCallId"))
        if call is None:
            return
        span = self.tools.get(call)
        if span is None:
            span = self.tools[call] = Span(span_id=call, run_type=RunType.TOOL, name="unknown", started_at=at)
        name = _str(data.get("toolName"))
        if name:
            span.name = span.tool_name = name
        if data.get("success") is False:
            span.status, span.error_kind = Status.ERROR, "is_error"

    def session(self) -> Session | None:
        sid = self.sid or (self.path.parent.name if self.path.name == "events.jsonl" else self.path.stem)
        if not sid:
            return None
        commit = self.meta.get("headCommit")
        session = Session(
            key=f"copilot:{sid}", runtime=Runtime.COPILOT, cwd=self.meta.get("cwd"), branch=self.meta.get("branch"),
            repo=normalize_remote(self.meta.get("repository")),
            commits=[commit] if commit and commit.strip("0") else [], source=str(self.path),
        )
        for at in self.times:
            session.observe_time(at)
        for span in [*self.replies, *self.tools.values()]:
            span.span_id = f"copilot:{sid}:{span.span_id}"  # message and tool-call ids repeat across sessions
        totals = _totals(sid, self.shutdown, self.model) if self.shutdown else []
        session.spans = [*(totals or self.replies), *self.tools.values()]
        for span in totals:
            span.started_at = session.started_at
        return session


def _totals(sid: str, shutdown: dict[str, Any], model: str | None) -> list[Span]:
    """The session's token totals: per model from `modelMetrics` usage, else `tokenDetails`."""
    spans = []
    metrics = shutdown.get("modelMetrics") if isinstance(shutdown.get("modelMetrics"), dict) else {}
    for name, entry in metrics.items():
        usage = entry.get("usage") if isinstance(entry, dict) else None
        if isinstance(usage, dict):
            tokens = Tokens(input=_int(usage.get("inputTokens")), output=_int(usage.get("outputTokens")),
                            cache_read=_int(usage.get("cacheReadTokens")), cache_write_5m=_int(usage.get("cacheWriteTokens")))
            spans.append(Span(span_id="", run_type=RunType.LLM, name=name, model=name, tokens=_uncached(tokens)))
    details = shutdown.get("tokenDetails")
    if not spans and isinstance(details, dict):
        count = lambda key: _int((details.get(key) or {}).get("tokenCount"))  # noqa: E731
        tokens = Tokens(input=count("input"), output=count("output"), cache_read=count("cache_read"),
                        cache_write_5m=count("cache_write"))
        name = _str(shutdown.get("currentModel")) or model
        spans.append(Span(span_id="", run_type=RunType.LLM, name=name or "unknown", model=name, tokens=_uncached(tokens)))
    nano_aiu = shutdown.get("totalNanoAiu")
    for index, span in enumerate(spans):
        span.span_id = f"copilot:{sid}:total:{span.model or index}"
        if index == 0 and isinstance(nano_aiu, (int, float)) and not isinstance(nano_aiu, bool) and len(spans) == 1:
            span.reported_cost_usd = nano_aiu * NANO_AIU_USD
    return spans


def _uncached(tokens: Tokens) -> Tokens:
    """Copilot counts input OpenAI-style, cached reads and writes included."""
    cached = tokens.cache_read + tokens.cache_write_5m
    if tokens.input >= cached:
        tokens.input -= cached
    return tokens


def _int(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value and not value.startswith("[trimmed") else None

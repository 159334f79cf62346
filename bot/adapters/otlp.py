"""OpenTelemetry from coding agents → sessions: one mapping for the OTLP receiver and for files.

Agents that export telemetry describe their model calls as log events (Claude Code, Codex),
as gen_ai spans (GitHub Copilot Chat, any gen_ai semantic-convention instrumentation) or as
counters (Claude Code's `claude_code.token.usage` / `claude_code.cost.usage`). Whatever the
transport — an OTLP/HTTP request in protobuf or JSON (bot.web.otlp), a collector's file
exporter writing one OTLP/JSON request per line, Copilot's span file, or the flattened event
lines of docs/agent-formats.md §7 — the content is first turned into a few plain records
(`Telemetry`; the protobuf side is bot.adapters.otlp_wire), and one set of rules maps those onto
the trace model (`to_sessions`).

The rules (docs/agent-formats.md §6, §7):
- Claude Code: one llm span per `api_request` event (tokens 1:1, `cost_usd` kept as the reported
  cost, `request_id` kept so the same call in a native transcript merges with it); subagent
  calls share the parent's `session.id` and are told apart by `agent.name` / `query_source`,
  so they go to a child session keyed by the agent's name. `tool_result` events are tool spans.
  The token and cost counters become one aggregate per session and model, marked
  `Origin.METRIC`, which gives way as soon as any call of the session is known one by one.
- Codex: `codex.sse_event` / `codex.websocket_event` with `event.kind=response.completed`
  carry the tokens of one response (input inclusive of cached, output inclusive of reasoning);
  `codex.tool_result` is a tool span keyed like the rollout's, so the two merge.
- gen_ai spans: `chat` → llm, `execute_tool` → tool, `invoke_agent` → turn (a subagent when
  called from a tool); an agent span's token totals are its children's and are not counted.
  Claude Code and Codex spans are left out: their events already count those calls.
- Repository, branch and commit come from the resource (`vcs.repository.url.full`,
  `vcs.ref.head.name`, `vcs.ref.head.revision`, set with `OTEL_RESOURCE_ATTRIBUTES`).

Everything is `Integration.OTLP` and `Origin.TELEMETRY` (or METRIC). Only names, counts, ids,
timestamps and hashes are taken from attributes: prompts and tool parameters never leave here.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.adapters.base import Cursor, JsonLines, ParseResult, billing_tier, parse_time
from bot.gitmeta import normalize_remote
from bot.trace import Integration, Origin, Runtime, RunType, Session, Span, Status, Tokens, hash_tool_input

STATUS_ERROR = 2  # Status.STATUS_CODE_ERROR
_COPILOT_SERVICES = frozenset({"github-copilot", "copilot-chat", "vscode-copilot-chat", "copilot"})
_SKIPPED_SPAN_SERVICES = ("claude-code", "claude_code", "codex")
"""Services whose spans repeat what their log events already count."""
_LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
_CLAUDE_TOKEN_TYPES = {"input": "input", "output": "output", "cacheRead": "cache_read", "cacheCreation": "cache_write_5m"}
NANO_AIU_USD = 0.01 / 1e9
"""A Copilot AI credit (10⁹ nano-AIU) is billed at $0.01."""


class OtlpError(ValueError):
    """A body that is not a valid OTLP export request; the message says why (for a 400)."""


# -- records: the content of any transport, before mapping --------------------------------------


@dataclass(slots=True)
class LogEvent:
    resource: dict[str, Any]
    scope: str
    name: str
    at: datetime | None
    attrs: dict[str, Any]


@dataclass(slots=True)
class SpanRecord:
    resource: dict[str, Any]
    scope: str
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start: datetime | None
    end: datetime | None
    error: bool
    attrs: dict[str, Any]


@dataclass(slots=True)
class MetricPoint:
    resource: dict[str, Any]
    metric: str
    start_ns: int
    time_ns: int
    value: float
    cumulative: bool
    attrs: dict[str, Any]


@dataclass(slots=True)
class Telemetry:
    """Decoded export content: log events, spans and metric points, whatever the transport."""

    logs: list[LogEvent] = field(default_factory=list)
    spans: list[SpanRecord] = field(default_factory=list)
    points: list[MetricPoint] = field(default_factory=list)

    def extend(self, other: Telemetry) -> None:
        self.logs += other.logs
        self.spans += other.spans
        self.points += other.points


# -- shared by every transport -----------------------------------------------------------------


def time_of_nanos(nanos: int) -> datetime | None:
    return datetime.fromtimestamp(nanos / 1e9, UTC) if nanos else None


def event_name(*candidates: Any) -> str:
    """Claude Code names an event twice (`event.name` `api_request`, body `claude_code.api_request`):
    the namespaced spelling wins, whichever field holds it."""
    names = [c for c in candidates if isinstance(c, str) and c]
    return next((n for n in names if n.startswith(("claude_code.", "codex."))), names[0] if names else "")


# -- mapping ------------------------------------------------------------------------------------


class _Rejected(ValueError):
    """An item meant for us that cannot be used; the message is the reason counted."""


@dataclass(slots=True)
class Mapped:
    sessions: list[Session]
    rejected: Counter[str]
    """Items that could not be used, by reason (reported as OTLP partial success)."""


def to_sessions(telemetry: Telemetry) -> Mapped:
    """Map records onto sessions: one Session per key, every call once within the batch."""
    builder = _Builder()
    for event in telemetry.logs:
        builder.guard(builder.log, event)
    builder.guard(builder.points, telemetry.points)
    for record in telemetry.spans:
        builder.guard(builder.span, record)
    return Mapped(builder.finish(), builder.rejected)


class _Builder:
    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self.spans: dict[str, tuple[str, Span]] = {}
        self.rejected: Counter[str] = Counter()

    def guard(self, step: Any, item: Any) -> None:
        """One bad record is rejected and counted (OTLP partial success), never the whole export."""
        try:
            step(item)
        except _Rejected as exc:
            self.rejected[str(exc)] += 1
        except (TypeError, ValueError, OverflowError, AttributeError, KeyError) as exc:
            self.rejected[f"unreadable record ({type(exc).__name__})"] += 1

    def finish(self) -> list[Session]:
        for key, span in self.spans.values():
            self.sessions[key].spans.append(span)
        return list(self.sessions.values())

    def session(self, key: str, runtime: Runtime, resource: Mapping[str, Any]) -> Session:
        session = self.sessions.get(key)
        if session is None:
            repo, branch, commit = _vcs(resource)
            session = Session(key=key, runtime=runtime, integration=Integration.OTLP, repo=repo, branch=branch,
                              commits=[commit] if commit else [], source="otlp")
            self.sessions[key] = session
        return session

    def add(self, session: Session, span: Span) -> None:
        """Within a batch a re-sent item replaces nothing: the copy with more usage is kept."""
        session.observe_time(span.started_at)
        known = self.spans.get(span.span_id)
        if known is None or _total(span) > _total(known[1]):
            self.spans[span.span_id] = (session.key, span)

    # -- log events -------------------------------------------------------------------------

    def log(self, event: LogEvent) -> None:
        name, service = event.name, str(event.resource.get("service.name") or "")
        if name.startswith("claude_code.") or (
            name and (event.scope.startswith("com.anthropic.claude_code") or service == "claude-code")
        ):
            kind = name.removeprefix("claude_code.")
            if kind == "api_request":
                self.claude_call(event)
            elif kind == "tool_result":
                self.claude_tool(event)
        elif name.startswith("codex."):
            kind = name.removeprefix("codex.")
            if kind in ("sse_event", "websocket_event") and event.attrs.get("event.kind") == "response.completed":
                self.codex_call(event)
            elif kind == "tool_result":
                self.codex_tool(event)
        elif event.attrs.get("event_type") == "claude.session.start":
            self.claude_session_start(event)

    def claude_session(self, event: LogEvent, what: str) -> tuple[str, Session]:
        sid = _text(event.attrs.get("session.id"))
        if sid is None:
            raise _Rejected(f"{what} without session.id")
        root = self.session(f"claude-code:{sid}", Runtime.CLAUDE_CODE, event.resource)
        agent = _agent_name(event.attrs)
        if agent is None:
            return sid, root
        child = self.session(f"{root.key}/{agent}", Runtime.CLAUDE_CODE, event.resource)
        child.parent_key, child.agent_name = root.key, agent
        return sid, child

    def claude_call(self, event: LogEvent) -> None:
        sid, session = self.claude_session(event, "api_request")
        attrs = event.attrs
        tokens = _tokens(attrs, "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
        model = _text(attrs.get("model"))
        request_id = _text(attrs.get("request_id"))
        at = parse_time(attrs.get("event.timestamp")) or event.at
        span_id = f"claude-code:request:{request_id}" if request_id else _event_id("claude-code", sid, event, tokens)
        self.add(session, Span(
            span_id=span_id, run_type=RunType.LLM, name=model or "unknown", started_at=at, model=model,
            provider="anthropic" if (model or "").startswith("claude") else None, tokens=tokens,
            tier=billing_tier(attrs.get("speed")),
            reported_cost_usd=_usd(attrs.get("cost_usd")), duration_ms=_millis(attrs.get("duration_ms")),
            request_id=request_id, origin=Origin.TELEMETRY,
        ))

    def claude_tool(self, event: LogEvent) -> None:
        sid, session = self.claude_session(event, "tool_result")
        attrs = event.attrs
        tool = _text(attrs.get("tool_name")) or "unknown"
        tool_use = _text(attrs.get("tool_use_id"))
        decision = str(attrs.get("decision") or attrs.get("decision_type") or "").lower()
        failed = _flag(attrs.get("success")) is False
        status = Status.ERROR if failed or decision == "reject" else Status.OK
        parameters = attrs.get("tool_parameters")
        self.add(session, Span(
            span_id=f"claude-code:{tool_use}" if tool_use else _event_id("claude-code", sid, event, None),
            run_type=RunType.TOOL, name=tool, tool_name=tool, started_at=parse_time(attrs.get("event.timestamp")) or event.at,
            duration_ms=_millis(attrs.get("duration_ms")), status=status,
            error_kind=("rejected" if decision == "reject" else "is_error") if status is Status.ERROR else None,
            tool_input_hash=hash_tool_input(str(parameters)) if parameters else None, origin=Origin.TELEMETRY,
        ))

    def claude_session_start(self, event: LogEvent) -> None:
        """The session-start line some Claude Code OTel plugins write: working directory and branch."""
        sid = _text(event.attrs.get("session_id")) or _text(event.attrs.get("session.id"))
        if sid is None:
            raise _Rejected("session start without session id")
        session = self.session(f"claude-code:{sid}", Runtime.CLAUDE_CODE, event.resource)
        session.cwd = session.cwd or _text(event.attrs.get("cwd"))
        session.branch = session.branch or _text(event.attrs.get("git_branch"))
        session.observe_time(event.at)

    def codex_call(self, event: LogEvent) -> None:
        attrs = event.attrs
        sid = _text(attrs.get("conversation.id"))
        if sid is None:
            raise _Rejected("codex response without conversation.id")
        session = self.session(f"codex:{sid}", Runtime.CODEX, event.resource)
        raw = _tokens(attrs, "input_token_count", "output_token_count", "cached_token_count", "cache_write_token_count",
                      "reasoning_token_count")
        tokens = None if raw is None else Tokens(
            input=max(raw.input - raw.cache_read - raw.cache_write_5m, 0), output=raw.output, cache_read=raw.cache_read,
            cache_write_5m=raw.cache_write_5m, reasoning=min(raw.reasoning, raw.output),
        )
        model = _text(attrs.get("model"))
        response = _text(attrs.get("response.id"))
        self.add(session, Span(
            # No request id: a rollout does not log one, so a Codex call cannot be matched across
            # the two sources and its telemetry gives way to a rollout of the same session.
            span_id=f"codex:response:{response}" if response else _event_id("codex", sid, event, tokens),
            run_type=RunType.LLM, name=model or "unknown", started_at=parse_time(attrs.get("event.timestamp")) or event.at,
            model=model, provider=_text(attrs.get("provider")) or "openai", tokens=tokens,
            duration_ms=_millis(attrs.get("duration_ms")), origin=Origin.TELEMETRY,
        ))

    def codex_tool(self, event: LogEvent) -> None:
        attrs = event.attrs
        sid = _text(attrs.get("conversation.id"))
        if sid is None:
            raise _Rejected("codex tool result without conversation.id")
        session = self.session(f"codex:{sid}", Runtime.CODEX, event.resource)
        tool = _text(attrs.get("tool_name")) or _text(attrs.get("tool")) or "unknown"
        call = _text(attrs.get("call_id"))
        failed = _flag(attrs.get("success")) is False
        self.add(session, Span(
            span_id=f"codex:{call}" if call else _event_id("codex", sid, event, None), run_type=RunType.TOOL,
            name=tool, tool_name=tool, started_at=event.at, duration_ms=_millis(attrs.get("duration_ms")),
            status=Status.ERROR if failed else Status.OK, error_kind="is_error" if failed else None,
            origin=Origin.TELEMETRY,
        ))

    # -- Claude Code counters ---------------------------------------------------------------

    def points(self, points: list[MetricPoint]) -> None:
        """`claude_code.token.usage` and `.cost.usage` → one aggregate span per session and model.

        Cumulative series: the aggregate of a series start is the latest value of each type, and
        the store keeps the largest, so each export supersedes the last. Delta series: each
        export interval is an aggregate of its own.
        """
        groups: dict[tuple[str, str, int], dict[str, tuple[int, float]]] = {}
        starts: dict[tuple[str, str, int], int] = {}
        resources: dict[tuple[str, str, int], Mapping[str, Any]] = {}
        for point in points:
            if point.metric not in ("claude_code.token.usage", "claude_code.cost.usage"):
                continue
            sid = _text(point.attrs.get("session.id"))
            if sid is None:
                self.rejected[f"{point.metric} point without session.id"] += 1
                continue
            model = _text(point.attrs.get("model")) or ""
            key = (sid, model, 0 if point.cumulative else point.time_ns)
            kind = "cost" if point.metric == "claude_code.cost.usage" else _CLAUDE_TOKEN_TYPES.get(point.attrs.get("type"))
            if kind is None or point.value < 0:
                self.rejected[f"{point.metric} point of unknown type"] += 1
                continue
            series = groups.setdefault(key, {})
            latest = series.get(kind)
            if not point.cumulative:
                series[kind] = (point.time_ns, (latest[1] if latest else 0.0) + point.value)
            elif latest is None or point.time_ns >= latest[0]:
                series[kind] = (point.time_ns, point.value)
            starts[key] = min(starts.get(key, point.start_ns), point.start_ns) if point.start_ns else starts.get(key, 0)
            resources[key] = point.resource
        for (sid, model, interval), series in groups.items():
            self.claude_aggregate(sid, model, interval, starts[(sid, model, interval)], series, resources[(sid, model, interval)])

    def claude_aggregate(self, sid: str, model: str, interval: int, start: int, series: dict[str, tuple[int, float]],
                         resource: Mapping[str, Any]) -> None:
        session = self.session(f"claude-code:{sid}", Runtime.CLAUDE_CODE, resource)
        counts = {kind: int(round(value)) for kind, (_, value) in series.items() if kind != "cost"}
        tokens = Tokens(**counts) if counts else None
        cost = series.get("cost")
        suffix = f"{start}-{interval}" if interval else str(start)
        at = time_of_nanos(start) or time_of_nanos(max(t for t, _ in series.values()))
        self.add(session, Span(
            span_id=f"claude-code:metric:{sid}:{model}:{suffix}", run_type=RunType.LLM,
            name=f"{model or 'unknown'} (token counters)", started_at=at, model=model or None,
            provider="anthropic" if model.startswith("claude") else None, tokens=tokens,
            reported_cost_usd=cost[1] if cost else None, origin=Origin.METRIC,
        ))

    # -- gen_ai spans -----------------------------------------------------------------------

    def span(self, record: SpanRecord) -> None:
        attrs = record.attrs
        service = str(record.resource.get("service.name") or "")
        if service.startswith(_SKIPPED_SPAN_SERVICES) or not any(k.startswith("gen_ai.") for k in attrs):
            return
        operation = _text(attrs.get("gen_ai.operation.name")) or record.name.partition(" ")[0]
        copilot = service in _COPILOT_SERVICES or any(k.startswith("copilot_chat.") for k in attrs)
        runtime, prefix = (Runtime.COPILOT, "copilot") if copilot else (Runtime.OTEL, "otel")
        conversation = next(
            (v for k in ("gen_ai.conversation.id", "copilot_chat.chat_session_id", "copilot_chat.session_id", "session.id")
             if (v := _text(attrs.get(k)))),
            record.trace_id,
        )
        session = self.session(f"{prefix}:{conversation}", runtime, record.resource)
        base = {
            "span_id": f"{prefix}:{record.span_id}", "started_at": record.start,
            "parent_id": f"{prefix}:{record.parent_id}" if record.parent_id else None,
            "duration_ms": _span_millis(record), "origin": Origin.TELEMETRY,
        }
        failed = record.error or attrs.get("error.type") is not None
        status = {"status": Status.ERROR, "error_kind": str(attrs.get("error.type") or "error")} if failed else {}
        if operation == "execute_tool":
            tool = _text(attrs.get("gen_ai.tool.name")) or record.name.removeprefix("execute_tool ").strip() or "unknown"
            arguments = attrs.get("gen_ai.tool.call.arguments")
            self.add(session, Span(run_type=RunType.TOOL, name=tool, tool_name=tool, **base, **status,
                                   tool_input_hash=hash_tool_input(str(arguments)) if arguments else None))
        elif operation == "invoke_agent":
            name = _text(attrs.get("gen_ai.agent.name")) or record.name.removeprefix("invoke_agent ").strip() or "agent"
            self.add(session, Span(run_type=RunType.TURN, name=name, **base, **status))
        elif operation in _LLM_OPERATIONS or any(k.startswith("gen_ai.usage.") for k in attrs):
            model = _text(attrs.get("gen_ai.response.model")) or _text(attrs.get("gen_ai.request.model"))
            provider = _text(attrs.get("gen_ai.provider.name")) or _text(attrs.get("gen_ai.system"))
            nano_aiu = _number(attrs.get("copilot_chat.copilot_usage_nano_aiu"))
            self.add(session, Span(
                run_type=RunType.LLM, name=model or "unknown", model=model, provider=provider,
                tokens=_gen_ai_tokens(attrs, provider), tier=_service_tier(attrs),
                **base, **status, reported_cost_usd=nano_aiu * NANO_AIU_USD if nano_aiu is not None else None,
            ))


def _gen_ai_tokens(attrs: Mapping[str, Any], provider: str | None) -> Tokens | None:
    """gen_ai.usage.* → Tokens. Input counts cached tokens too (the semantic conventions, and every
    OpenAI-compatible API) except when Anthropic itself served the call; a source whose input is
    smaller than its cached tokens evidently did not include them."""
    def first(*keys: str) -> int | None:
        for key in keys:
            if key in attrs:
                return _count(attrs[key], key)
        return None

    inp = first("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    out = first("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
    read = first("gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
    write = first("gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_write.input_tokens",
                  "gen_ai.usage.cache_creation_input_tokens")
    reasoning = first("gen_ai.usage.reasoning_tokens", "gen_ai.usage.reasoning.output_tokens")
    if inp is None and out is None:
        return None
    inp, out, read, write = inp or 0, out or 0, read or 0, write or 0
    cached = read + write
    uncached = inp if (provider or "").lower() == "anthropic" or inp < cached else inp - cached
    return Tokens(input=uncached, output=out, cache_read=read, cache_write_5m=write, reasoning=min(reasoning or 0, out))


# -- small helpers ------------------------------------------------------------------------------


def _service_tier(attrs: Mapping[str, Any]) -> str | None:
    """The tier an OpenAI call ran at: the response's (what was billed) before the request's
    (which may say `auto`), under the semantic conventions' current names, then the older ones."""
    for key in ("openai.response.service_tier", "gen_ai.openai.response.service_tier",
                "openai.request.service_tier", "gen_ai.openai.request.service_tier"):
        if (value := attrs.get(key)) is not None:
            return billing_tier(value)
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _number(value: Any) -> float | None:
    """Attributes arrive as ints, doubles or (Claude Code) decimal strings; NaN and infinities
    (`"1e400"` is one) are no number of tokens, dollars or milliseconds."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        number = float(value) if not isinstance(value, int) or abs(value) < 2**1000 else math.inf
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _count(value: Any, key: str) -> int:
    number = _number(value)
    if number is None or number < 0 or number != int(number):
        raise _Rejected(f"{key} is not a token count")
    return int(number)


def _tokens(attrs: Mapping[str, Any], inp: str, out: str, read: str, write: str, reasoning: str | None = None) -> Tokens | None:
    """Token attributes → Tokens; absent altogether is unknown usage (None), never zero."""
    keys = (inp, out, read, write, reasoning)
    if not any(key and key in attrs for key in keys):
        return None
    values = [_count(attrs[key], key) if key and key in attrs else 0 for key in keys]
    return Tokens(input=values[0], output=values[1], cache_read=values[2], cache_write_5m=values[3], reasoning=values[4])


def _usd(value: Any) -> float | None:
    number = _number(value)
    return number if number is not None and number >= 0 else None


def _millis(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number >= 0 else None


def _span_millis(record: SpanRecord) -> int | None:
    if record.start is None or record.end is None or record.end < record.start:
        return None
    return int((record.end - record.start).total_seconds() * 1000)


def _flag(value: Any) -> bool | None:
    """Claude Code sends `success` as the string "true" / "false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _total(span: Span) -> int:
    return span.tokens.total if span.tokens is not None else -1


def _agent_name(attrs: Mapping[str, Any]) -> str | None:
    """The subagent a Claude Code call ran in: `agent.name`, or `query_source` `agent:builtin:Explore`."""
    name = _text(attrs.get("agent.name"))
    if name:
        return name
    source = _text(attrs.get("query_source")) or ""
    return source.rpartition(":")[2] or None if source.startswith("agent:") else None


def _event_id(runtime: str, sid: str, event: LogEvent, tokens: Tokens | None) -> str:
    """A stable id for an event without one: its sequence number, or a digest of what it says."""
    sequence = _text(event.attrs.get("event.sequence"))
    if sequence:
        return f"{runtime}:event:{sid}:{sequence}"
    fingerprint = repr((
        sid, event.name, event.attrs.get("event.timestamp"), event.at.isoformat() if event.at else None,
        event.attrs.get("prompt.id"), event.attrs.get("model"), event.attrs.get("tool_name"),
        None if tokens is None else (tokens.input, tokens.output, tokens.cache_read, tokens.cache_write_5m),
    ))
    return f"{runtime}:event:{hashlib.blake2b(fingerprint.encode(), digest_size=12).hexdigest()}"


def _vcs(resource: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """Repository, branch and commit from the OTel VCS resource attributes."""
    repo = normalize_remote(_text(resource.get("vcs.repository.url.full")))
    if repo is None:
        owner, name = _text(resource.get("vcs.owner.name")), _text(resource.get("vcs.repository.name"))
        repo = f"{owner}/{name}".lower() if owner and name else None
    return repo, _text(resource.get("vcs.ref.head.name")), _text(resource.get("vcs.ref.head.revision"))


# -- files --------------------------------------------------------------------------------------

_REQUEST_KEYS = {"resourceLogs": "logs", "resourceSpans": "traces", "resourceMetrics": "metrics",
                 "resource_logs": "logs", "resource_spans": "traces", "resource_metrics": "metrics"}
_FILE_MARKERS = (b'"resourceLogs"', b'"resourceSpans"', b'"resourceMetrics"', b'"_type":"log"', b'"_type":"metric"')


def _from_line(record: dict[str, Any]) -> Telemetry:
    """One line of a telemetry file: an OTLP/JSON request (collector file exporter), a flattened
    event or metric line, or a span of Copilot's file exporter."""
    for key, signal in _REQUEST_KEYS.items():
        if key in record:
            from bot.adapters import otlp_wire  # protobuf: only for a file that holds requests

            return otlp_wire.from_dict(signal, record)
    kind = record.get("_type")
    resource = record.get("resource") if isinstance(record.get("resource"), dict) else {}
    attrs = record.get("attrs") if isinstance(record.get("attrs"), dict) else {}
    scope = str(record.get("scope") or "")
    at = parse_time(record.get("ts"))
    if kind == "log":
        return Telemetry(logs=[LogEvent(resource, scope, event_name(attrs.get("event.name"), record.get("name")), at, attrs)])
    if kind == "metric" and isinstance(record.get("value"), (int, float)):
        nanos = int(at.timestamp() * 1e9) if at else 0
        point = MetricPoint(resource, str(record.get("name") or ""), 0, nanos, float(record["value"]), True, attrs)
        return Telemetry(points=[point])
    if record.get("type") == "span" and isinstance(record.get("attributes"), dict):
        return Telemetry(spans=[_file_span(record)])
    raise OtlpError("not a telemetry record")


def _file_span(record: dict[str, Any]) -> SpanRecord:
    """Copilot's file exporter: `startTime`/`endTime` as [seconds, nanoseconds], attributes as a map."""
    resource = record.get("resource")
    resource = resource.get("attributes", resource) if isinstance(resource, dict) else {}
    status = record.get("status") if isinstance(record.get("status"), dict) else {}
    return SpanRecord(
        resource if isinstance(resource, dict) else {}, "", str(record.get("traceId") or ""), str(record.get("spanId") or ""),
        _text(record.get("parentSpanId")), str(record.get("name") or ""), _pair_time(record.get("startTime")),
        _pair_time(record.get("endTime")), status.get("code") == STATUS_ERROR, record["attributes"],
    )


def _pair_time(value: Any) -> datetime | None:
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return datetime.fromtimestamp(value[0] + value[1] / 1e9, UTC)
    return parse_time(value)


class _Adapter:
    name = "otlp"
    runtime = Runtime.OTEL
    suffixes = frozenset({".jsonl", ".json"})
    claims_directories = False
    lists_root_parents = False

    def identify(self, path: Path, head: bytes) -> bool:
        """A `.jsonl`/`.json` whose first line is an OTLP/JSON request or a telemetry line."""
        if path.suffix not in (".jsonl", ".json") or not head:
            return False
        first = head.lstrip().split(b"\n", 1)[0]
        if first.startswith(b'{"type":"span"') and b'"traceId"' in first:
            return True
        return first.startswith(b"{") and any(marker in first[:64] for marker in _FILE_MARKERS)

    def read(self, path: Path, cursors: Mapping[str, Cursor] | None = None) -> ParseResult:
        result = ParseResult()
        cursor = (cursors or {}).get(str(path))
        if cursor is not None and cursor.size > path.stat().st_size:
            cursor = None
        telemetry = Telemetry()
        lines = JsonLines(path, cursor, result.skipped)
        for record in lines:
            try:
                telemetry.extend(_from_line(record))
            except OtlpError:
                result.skipped["bad_telemetry_record"] += 1
        mapped = to_sessions(telemetry)
        for session in mapped.sessions:
            session.source = str(path)
        result.sessions = mapped.sessions
        result.skipped.update({f"rejected: {reason}": n for reason, n in mapped.rejected.items()})
        result.cursors[str(path)] = lines.cursor()
        return result

    def discover(self, env: Mapping[str, str], home: Path) -> Iterable[Path]:
        """Copilot CLI's file exporter writes here (`COPILOT_OTEL_EXPORTER_TYPE=file`)."""
        return [home / ".copilot" / "otel"]


ADAPTER = _Adapter()


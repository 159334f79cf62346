"""The one shape every agent source becomes: sessions of spans, with tokens of one meaning.

Nothing downstream of the adapters knows which tool wrote a log. Token fields have a single
meaning whatever the source (see docs/design.md): `input` is uncached input only, `cache_read`
and `cache_write_*` are separate, `output` includes reasoning and `reasoning` is the part of
`output` spent thinking, so a call's total is input + cache_read + cache_write + output.

Privacy: these types hold names, counts, hashes, ids, timestamps and git metadata only. There
is deliberately no field for prompt text, responses, file contents or tool output.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Runtime(StrEnum):
    CLAUDE_CODE = "claude-code"
    CODEX = "codex"
    OPENCODE = "opencode"
    GEMINI_CLI = "gemini-cli"
    COPILOT = "copilot"
    CURSOR = "cursor"
    DEEPAGENTS = "deepagents"
    OTEL = "otel"


class Integration(StrEnum):
    NATIVE_LOG = "native-log"
    OTLP = "otlp"
    UPLOAD = "upload"


class RunType(StrEnum):
    LLM = "llm"
    TOOL = "tool"
    TURN = "turn"
    SUBAGENT = "subagent"
    INTERRUPTED = "interrupted"


class Origin(StrEnum):
    """Which kind of record a model call was read from, when two may describe the same call.

    A native log (`log`) is the fullest record. Telemetry (`telemetry`: an OpenTelemetry event
    or span) describes the same calls again; when both carry the provider's request id they are
    merged into the logged call. A metric (`metric`) is an aggregate over many calls (Claude
    Code's token counters) and only stands in for calls nobody recorded one by one.
    """

    LOG = "log"
    TELEMETRY = "telemetry"
    METRIC = "metric"


class Status(StrEnum):
    OK = "ok"
    ERROR = "error"
    INTERRUPTED = "interrupted"


LLM, TOOL, SUBAGENT = RunType.LLM, RunType.TOOL, RunType.SUBAGENT
OK, ERROR = Status.OK, Status.ERROR
"""The members the report's loops test for every span, as plain names: in Python 3.11 looking a
member up on its enum class costs as much as the rest of the test."""


@dataclass(slots=True)
class Tokens:
    """Token counts of one model call (or a sum of calls).

    Cache writes are kept split by time-to-live because a 1-hour write costs 2x input and a
    5-minute write 1.25x; a source that does not say which is recorded as 5-minute, the
    default TTL of every provider that bills writes.
    """

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    reasoning: int = 0

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h

    @property
    def total(self) -> int:
        return self.input + self.cache_read + self.cache_write + self.output

    def __add__(self, other: Tokens) -> Tokens:
        total = Tokens()
        total.accumulate(self)
        total.accumulate(other)
        return total

    def accumulate(self, other: Tokens) -> None:
        """Add `other` in place: a report row's running total, so a hundred thousand calls make
        no new objects."""
        self.input += other.input
        self.output += other.output
        self.cache_read += other.cache_read
        self.cache_write_5m += other.cache_write_5m
        self.cache_write_1h += other.cache_write_1h
        self.reasoning += other.reasoning

    def as_dict(self) -> dict[str, int]:
        """The five figures every report row shows (writes summed, as peers and invoices do)."""
        return {
            "input": self.input,
            "output": self.output,
            "cache_read": self.cache_read,
            "cache_write": self.cache_write,
            "reasoning": self.reasoning,
        }


@dataclass(slots=True)
class Span:
    """One step inside a session: a model call, a tool call, a turn or a subagent hand-off.

    `span_id` is the source's own stable id (namespaced by runtime), so ingesting the same log
    twice, or the same call through two files, lands on the same row. `tokens is None` means the
    source did not say (unknown usage), which is different from zero usage.
    """

    span_id: str
    run_type: RunType
    name: str
    started_at: datetime | None = None
    parent_id: str | None = None
    duration_ms: int | None = None
    model: str | None = None
    provider: str | None = None
    tokens: Tokens | None = None
    cost_usd: float | None = None
    reported_cost_usd: float | None = None
    price_ref: str | None = None
    tier: str | None = None
    """The billing tier the call ran at when the log says it was not the standard one: `fast`
    (Claude's fast mode, Codex's fast service tier), `priority`, `flex`. Priced at that tier."""
    web_searches: int = 0
    """Server-side web searches the call ran (Anthropic's web search tool, OpenAI's
    `web_search_call`): billed per search on top of the tokens."""
    status: Status = Status.OK
    error_kind: str | None = None
    tool_name: str | None = None
    tool_input_hash: str | None = None
    child_session_key: str | None = None
    """For a subagent hand-off: the key of the session the subagent ran as."""
    sidechain: bool = False
    """A replayed or side-question copy; a non-sidechain copy of the same call wins a merge."""
    request_id: str | None = None
    """The provider's id of the API request (Anthropic `req_…`), when the source logs it: the
    key on which a telemetry copy of a call meets the logged call (see bot.corpus)."""
    origin: Origin = Origin.LOG

    @property
    def is_llm(self) -> bool:
        return self.run_type is RunType.LLM


@dataclass(slots=True)
class Session:
    """One agent run. A subagent is its own session with `parent_key` set."""

    key: str
    runtime: Runtime
    integration: Integration = Integration.NATIVE_LOG
    parent_key: str | None = None
    agent_name: str | None = None
    user: str | None = None
    repo: str | None = None
    branch: str | None = None
    commits: list[str] = field(default_factory=list)
    cwd: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    source: str | None = None
    spans: list[Span] = field(default_factory=list)

    def observe_time(self, at: datetime | None) -> None:
        """Widen the session's time range to include `at` (log lines are not always in order)."""
        if at is None:
            return
        if self.started_at is None or at < self.started_at:
            self.started_at = at
        if self.ended_at is None or at > self.ended_at:
            self.ended_at = at


def hash_tool_input(normalized: str) -> str:
    """A short, stable fingerprint of a tool call's normalized input (a path, a command).

    Lets waste detection find the same call repeated without storing what the call said.
    """
    return hashlib.blake2b(normalized.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()

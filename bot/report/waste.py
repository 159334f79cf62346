"""Name the behaviour that burned the money: each finding says what happened, what it cost and how to avoid it.

A cost report that cannot point at behaviour is accounting. Each detector is a pure function over
one session's spans (in time order) and the repository's thresholds (the `waste:` section of
`.github/agentspend.yml`), and says what it found in names, counts and hashes only: the trace
model holds no prompt, path or output to leak, and the evidence never asks for one.

What a finding costs. A tool call has no price of its own: it is charged its share of the model
call that emitted it (the even split the by-tool breakdown uses), because every retry or re-read
is one more round trip of the whole context. Subagents are charged their own sessions' cost. The
avoidable part is an estimate, and never more than the cost of the spans involved. Findings worth
less than `min_avoidable_usd` are dropped: a fraction of a cent is noise, not behaviour. A finding
whose calls could not be priced is worth nothing here, so it is dropped too (the report counts
those tokens as unpriced).

Which tools read and which edit a file is known by the runtimes' own tool names (the tools each
adapter hashes by path): a read and an edit of one file hash the same, so "no edit in between" is
checked from hashes alone. Codex reads files through shell commands, so it has no repeated reads.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.github.repo_config import CONFIG_PATH, ConfigError, RepoConfig, Waste
from bot.pricing import normalize_model
from bot.trace import ERROR, LLM, OK, SUBAGENT, TOOL, Session, Span, Tokens

if TYPE_CHECKING:
    from bot.pricing import LongContext, PriceBook

READ_TOOLS = frozenset({"Read", "read", "read_file"})
"""Claude Code, OpenCode, Gemini CLI: tools whose input hash is the path read."""
EDIT_TOOLS = frozenset(
    {"Edit", "MultiEdit", "Write", "NotebookEdit", "edit", "multiedit", "write", "patch",
     "write_file", "replace", "edit_file", "apply_patch"}
)
"""Tools that change a file; their input hash is the path written (one path, for apply_patch)."""
_ERROR_WORDS = {"is_error": "tool error", "exit_code": "non-zero exit"}
HUMAN_STOPS = frozenset({"rejected", "cancelled", "canceled", "interrupted"})
"""Error kinds that are a person's decision, not a failing call: no retry loop is made of them."""

CACHE_TTL = timedelta(minutes=5)
"""The shortest prompt-cache lifetime providers offer: a call later than this after the previous
activity may miss the cache for want of a warm cache, not because caching is broken."""
_NO_TIME = timedelta(0)
_MILLISECOND = timedelta(milliseconds=1)
"""Span durations are whole milliseconds: multiplying this is exact, and a third of what
`timedelta(milliseconds=…)` costs, which `_idle_before` pays for most spans."""
LOW_CACHE_RATIO = 0.5
"""Below this share of prompt tokens read from cache, a long context is not being cached."""
MIN_LOW_CACHE_CALLS = 3
"""Fewer large uncached calls than this are a hiccup (a model switch, a compaction), not a pattern."""
MIN_ROUTINE_CALLS = 5
"""A session needs this many calls before its calls can be called routine: one short answer is not a pattern."""

_CHEAPER: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"claude-opus-"), "claude-sonnet-4-5"),
    (re.compile(r"gpt-5(?:\.\d+)?-codex(?!-mini)"), "gpt-5.1-codex-mini"),
    (re.compile(r"gpt-5(?:\.\d+)?(?:-pro|-chat-latest)?$"), "gpt-5-mini"),
    (re.compile(r"o[13](?:-pro)?(?:-\d{4}-\d{2}-\d{2})?$"), "o4-mini"),
    (re.compile(r"gpt-4(?:\.1|o)(?:-\d{4}-\d{2}-\d{2})?$"), "gpt-4.1-mini"),
    (re.compile(r"gemini-[\d.]+-pro"), "gemini-2.5-flash"),
)
"""Premium models (as pricing normalises their ids) and the cheaper model of the same provider
that routine work could run on. Only the top tier is premium: a Sonnet or a mini is never overkill."""

TITLES = {
    "retry_loop": "Retry loop",
    "repeated_read": "Repeated read",
    "model_overkill": "Premium model on routine work",
    "subagent_fanout": "Subagent fan-out",
    "context_growth": "Context growing without cache hits",
    "long_context_premium": "Long-context premium",
    "tier_premium": "Premium billing tier",
    "runaway_session": "Runaway session",
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One behaviour worth changing, in one session, with the spans that show it."""

    kind: str
    session: str
    span_ids: tuple[str, ...]
    cost_usd: float
    """What the spans involved cost."""
    avoidable_usd: float
    """The part of `cost_usd` that the fix would have saved (an estimate)."""
    evidence: str
    """One line of names, counts, hashes and times: never content."""
    fix: str

    @property
    def title(self) -> str:
        return TITLES[self.kind]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "session": self.session,
            "span_ids": list(self.span_ids),
            "cost_usd": round(self.cost_usd, 6),
            "avoidable_usd": round(self.avoidable_usd, 6),
            "evidence": self.evidence,
            "fix": self.fix,
        }


@dataclass(frozen=True, slots=True)
class Timeline:
    """One session's spans in time order, with the cost each is charged (see the module docstring)."""

    session: Session
    at: dict[str, datetime | None]
    """Each span's start; a span the log gave no time takes the time of the span before it."""
    emitted: dict[str, list[Span]]
    """Tool calls and subagent hand-offs by the id of the model call that emitted them."""
    calls: list[Span]
    """The priced model calls: only they can weigh a finding."""
    tools: list[Span]
    handoffs: list[Span]
    """The subagent hand-offs."""
    cost_of: dict[str, float]
    """Each priced model call's cost by span id."""
    idle: dict[str, timedelta]
    """For each model call, the time since the session's previous activity ended (tool runs and
    subagents included, so waiting on a long test run or a subagent is not idling)."""

    @classmethod
    def of(cls, session: Session) -> Timeline:
        at, in_order = _start_times(session)
        spans = session.spans if in_order else _sorted_by_start(session.spans, at)
        emitted: dict[str, list[Span]] = defaultdict(list)
        calls, tools, handoffs, cost_of = [], [], [], {}
        for span in spans:  # one pass for all the lists: sessions are many and mostly short
            run_type = span.run_type
            if run_type is LLM:
                if _is_priced_call(span):
                    calls.append(span)
                    cost_of[span.span_id] = span.cost_usd or 0.0
                continue
            if run_type is TOOL:
                tools.append(span)
            elif run_type is SUBAGENT:
                handoffs.append(span)
            else:
                continue
            if span.parent_id:
                emitted[span.parent_id].append(span)
        return cls(session, at, dict(emitted), calls, tools, handoffs, cost_of, _idle_before(spans, at))

    def share(self, span: Span) -> float:
        """A tool call's even share of the model call that emitted it; 0 when that call is unpriced."""
        caller = span.parent_id or ""
        return self.cost_of.get(caller, 0.0) / len(self.emitted[caller]) if caller in self.emitted else 0.0


def _is_priced_call(span: Span) -> bool:
    """A model call with usage and a price: one of `Timeline.calls`."""
    return span.run_type is LLM and span.tokens is not None and span.cost_usd is not None


def _start_times(session: Session) -> tuple[dict[str, datetime | None], bool]:
    """Each span's start (see `Timeline.at`), and whether the spans are in time order already.

    Logs are written as things happen, so they nearly always are, and sorting can be skipped. A
    span id given twice counts as out of order: sorting keys both copies by the later one."""
    known, previous, at, in_order = session.started_at, None, {}, True
    for span in session.spans:
        known = span.started_at or known
        if previous is not None and known < previous:
            in_order = False
        at[span.span_id] = previous = known
    return at, in_order and len(at) == len(session.spans)


def _sorted_by_start(spans: list[Span], at: dict[str, datetime | None]) -> list[Span]:
    """`spans` by start, in log order where starts tie; the spans before any known time first."""
    last = at[spans[-1].span_id]
    floor = datetime.min.replace(tzinfo=last.tzinfo if last else None)
    order = {span.span_id: index for index, span in enumerate(spans)}
    return sorted(spans, key=lambda s: (at[s.span_id] or floor, order[s.span_id]))


def _idle_before(spans: list[Span], at: dict[str, datetime | None]) -> dict[str, timedelta]:
    gaps, busy_until = {}, None
    for span in spans:
        start = at[span.span_id]
        if start is None:
            continue
        if busy_until is not None and span.run_type is LLM:
            gaps[span.span_id] = start - busy_until if start > busy_until else _NO_TIME
        end = start + span.duration_ms * _MILLISECOND if span.duration_ms else start
        if busy_until is None or end > busy_until:
            busy_until = end
    return gaps


@dataclass(frozen=True, slots=True)
class Context:
    """What a detector may consult besides its own session."""

    thresholds: Waste
    prices: PriceBook
    sessions: Mapping[str, Session]
    """Every session by key, for the subagents that hand-offs ran as."""

    def session_cost(self, key: str | None) -> float:
        """A session's priced cost (0 for one not here): a subagent hand-off is charged its child
        session's cost. Summed on demand, as only a fan-out finding asks."""
        session = self.sessions.get(key or "")
        return 0.0 if session is None else sum(span.cost_usd or 0.0 for span in session.spans if _is_priced_call(span))

    def agent_name(self, key: str | None) -> str | None:
        session = self.sessions.get(key or "")
        return None if session is None else session.agent_name


Detector = Callable[[Timeline, Context], list[Finding]]


def find(sessions: Sequence[Session], thresholds: Waste, prices: PriceBook) -> list[Finding]:
    """Every finding above `min_avoidable_usd` in these (priced) sessions, most avoidable first."""
    context = Context(thresholds, prices, {s.key: s for s in sessions})
    found: list[Finding] = []
    for session in sessions:  # one timeline at a time: the collector would walk them all again and again
        timeline = Timeline.of(session)
        for detect in DETECTORS if timeline.calls else WITHOUT_PRICED_CALLS:
            found.extend(detect(timeline, context))
    kept = [f for f in found if f.avoidable_usd >= thresholds.min_avoidable_usd and f.avoidable_usd > 0]
    return sorted(kept, key=lambda f: (-f.avoidable_usd, f.session, f.kind, f.span_ids))


def thresholds(config: RepoConfig | ConfigError, where: str) -> tuple[Waste, str]:
    """The thresholds to judge with, and where they came from in words, for the report's reader
    (`where`: "on the base branch", "in this checkout"). A broken file means the defaults: the
    findings are still worth showing, and the file's error is reported beside them."""
    if isinstance(config, ConfigError):
        return Waste(), f"defaults, as {config.describe()}"
    if not config.present or "waste" not in config.model_fields_set:
        return Waste(), f"defaults (no `waste:` section in `{CONFIG_PATH}` {where})"
    return config.waste, f"`waste:` in `{CONFIG_PATH}` {where}"


def _finding(kind: str, timeline: Timeline, spans: Iterable[Span], cost: float, avoidable: float,
             evidence: str, fix: str) -> Finding:
    """Clamped in one place, so no finding claims more than its spans cost, or less than nothing."""
    cost = max(cost, 0.0)
    avoidable = min(max(avoidable, 0.0), cost)
    return Finding(kind, timeline.session.key, tuple(s.span_id for s in spans), cost, avoidable, evidence, fix)


# --- retry loop ---------------------------------------------------------------------------------


def retry_loop(timeline: Timeline, context: Context) -> list[Finding]:
    """The same tool with the same input failing `retry_loop` times in a row; the retries after the
    first are avoidable. A success of that call ends the run, and so does any successful edit,
    because then the retry runs against changed code and is the normal fix-and-rerun loop."""
    limit = context.thresholds.retry_loop
    if limit is None or sum(s.status is ERROR for s in timeline.tools) < limit:
        return []  # a run is made of failures only
    runs: dict[tuple[str, str], list[Span]] = {}
    loops: list[list[Span]] = []
    for span in timeline.tools:
        key = (span.tool_name or span.name, span.tool_input_hash or "")
        if span.status is OK and key[0] in EDIT_TOOLS:
            loops.extend(runs.values())
            runs.clear()
        elif span.status is ERROR and span.error_kind not in HUMAN_STOPS and span.tool_input_hash:
            runs.setdefault(key, []).append(span)
        else:
            loops.append(runs.pop(key, []))
    loops.extend(runs.values())
    return [_retry_finding(timeline, run) for run in loops if len(run) >= limit]


def _retry_finding(timeline: Timeline, run: list[Span]) -> Finding:
    first = run[0]
    tool = first.tool_name or first.name
    kinds = sorted({_ERROR_WORDS.get(s.error_kind or "", s.error_kind or "error") for s in run})
    details = ", ".join([*kinds, *_when(timeline, run)])
    evidence = f"`{tool}` with input {_hash(first)} failed {len(run)}× in a row ({details})"
    if tool in EDIT_TOOLS:
        fix = "Re-read the file before editing it again: the same edit of it kept failing."
    else:
        fix = ("Stop after the second identical failure: read the error and change the command or the "
               "code before running it again; a flaky test is fixed or skipped, not re-run.")
    shares = [timeline.share(s) for s in run]
    return _finding("retry_loop", timeline, run, sum(shares), sum(shares[1:]), evidence, fix)


# --- repeated read ------------------------------------------------------------------------------


def repeated_read(timeline: Timeline, context: Context) -> list[Finding]:
    """The same file read `repeated_read` times with no edit of it in between; the re-reads are avoidable."""
    limit = context.thresholds.repeated_read
    if limit is None or sum(s.tool_name in READ_TOOLS for s in timeline.tools) < limit:
        return []  # too few reads for a run of them
    runs: dict[str, list[Span]] = {}
    done: list[list[Span]] = []
    for span in timeline.tools:
        digest = span.tool_input_hash
        if digest is None or span.status is not OK:
            continue
        if span.tool_name in EDIT_TOOLS:
            done.append(runs.pop(digest, []))
        elif span.tool_name in READ_TOOLS:
            runs.setdefault(digest, []).append(span)
    done.extend(runs.values())
    return [_read_finding(timeline, run) for run in done if len(run) >= limit]


def _read_finding(timeline: Timeline, run: list[Span]) -> Finding:
    when = "".join(f" ({w})" for w in _when(timeline, run))
    evidence = f"`{run[0].tool_name}` of the same path ({_hash(run[0])}) {len(run)}× with no edit of it in between{when}"
    fix = ("The file did not change between these reads, so each re-read paid for its contents again: "
           "keep what matters from the first read, or search the file (grep) for the part needed.")
    shares = [timeline.share(s) for s in run]
    return _finding("repeated_read", timeline, run, sum(shares), sum(shares[1:]), evidence, fix)


# --- premium model on routine work ----------------------------------------------------------------


def model_overkill(timeline: Timeline, context: Context) -> list[Finding]:
    """A session whose every call was routine (at most `model_overkill` output tokens, reasoning
    included, and at most one tool call, no subagent) yet ran on a premium model. The avoidable
    cost is what the same calls would have cost on the provider's cheaper model.

    The whole session must be routine: a session that also designed or wrote code needed the
    strong model, and switching models mid-session would lose the prompt cache anyway."""
    limit = context.thresholds.model_overkill
    calls = timeline.calls
    if limit is None or len(calls) < MIN_ROUTINE_CALLS or not all(_routine(c, timeline, limit) for c in calls):
        return []
    by_model: dict[str, list[Span]] = defaultdict(list)
    for call in calls:
        by_model[call.model or ""].append(call)
    return [f for model, group in sorted(by_model.items()) if (f := _overkill(timeline, context, model, group))]


def _routine(call: Span, timeline: Timeline, limit: int) -> bool:
    emitted = timeline.emitted.get(call.span_id, [])
    small = call.tokens is not None and call.tokens.output <= limit
    return small and len(emitted) <= 1 and all(s.run_type is TOOL for s in emitted)


def _overkill(timeline: Timeline, context: Context, model: str, calls: list[Span]) -> Finding | None:
    cheaper = cheaper_model(model, calls[0].provider)
    if cheaper is None or len(calls) < MIN_ROUTINE_CALLS:
        return None
    priced = [(c, context.prices.reprice(c, timeline.at[c.span_id], model=cheaper)) for c in calls]
    priced = [(c, cheap) for c, cheap in priced if cheap is not None]
    cost = sum(c.cost_usd or 0.0 for c, _ in priced)
    cheap_cost = sum(cheap for _, cheap in priced)
    if not priced or cheap_cost >= cost:
        return None
    limit = context.thresholds.model_overkill
    evidence = (
        f"all {len(calls)} calls on `{model}` were routine (≤ {limit:,} output tokens, at most one tool call "
        f"each); the avoidable part is the price difference to `{cheaper}`"
    )
    fix = (f"Run routine work like this on `{cheaper}` (for a subagent, set the model in its agent definition); "
           f"keep `{model}` for design work and hard problems.")
    return _finding("model_overkill", timeline, [c for c, _ in priced], cost, cost - cheap_cost, evidence, fix)


def cheaper_model(model: str, provider: str | None) -> str | None:
    """The cheaper model of the same provider for a premium model; None when `model` is not premium."""
    normalized = normalize_model(model, provider)
    if normalized is None:
        return None
    name = normalized[0]
    return next((cheaper for premium, cheaper in _CHEAPER if premium.match(name) and cheaper != name), None)


# --- subagent fan-out -----------------------------------------------------------------------------


def subagent_fanout(timeline: Timeline, context: Context) -> list[Finding]:
    """More than `subagent_fanout` subagents at once, or more than `subagent_total` in the session.
    The cheapest subagents beyond the limit are the avoidable part (a conservative guess at the
    ones that duplicated another's exploration)."""
    at_once_limit, total_limit = context.thresholds.subagent_fanout, context.thresholds.subagent_total
    handoffs = [s for s in timeline.handoffs if s.status is OK]
    if not handoffs:
        return []  # the limits are at least one, so none is never too many
    peak = _largest_concurrent(timeline, handoffs)
    over_at_once = len(peak) - at_once_limit if at_once_limit is not None else 0
    over_total = len(handoffs) - total_limit if total_limit is not None else 0
    excess = max(over_at_once, over_total)
    if excess <= 0:
        return []
    by_total = over_total >= over_at_once
    involved = handoffs if by_total else peak
    costs = [context.session_cost(s.child_session_key) for s in involved]
    names = Counter(context.agent_name(s.child_session_key) or s.tool_name or s.name for s in involved)
    kinds = ", ".join(f"{count} {name}" for name, count in sorted(names.items(), key=lambda kv: (-kv[1], kv[0])))
    if by_total:
        head = f"{len(handoffs)} subagents in the session ({kinds}; limit {total_limit}), at most {len(peak)} at once"
    else:
        head = f"{len(peak)} subagents at once ({kinds}; limit {at_once_limit}), {len(handoffs)} in the session"
    cheapest = "cheapest" if excess == 1 else f"{excess} cheapest"
    evidence = f"{head}; the avoidable part is the {cheapest} of them"
    fix = ("Fan out to fewer subagents, each with its own scope: every subagent rebuilds its context, and "
           "parallel ones often explore the same files. Let one explore and pass its findings on.")
    return [_finding("subagent_fanout", timeline, involved, sum(costs), sum(sorted(costs)[:excess]), evidence, fix)]


def _largest_concurrent(timeline: Timeline, handoffs: list[Span]) -> list[Span]:
    """The most subagents running at one moment, or emitted by one model call when the log did
    not say how long they ran."""
    by_caller: dict[str, list[Span]] = defaultdict(list)
    for span in handoffs:
        by_caller[span.parent_id or span.span_id].append(span)
    best = max(by_caller.values(), key=len, default=[])
    timed = [(timeline.at[s.span_id], s) for s in handoffs if s.duration_ms is not None and timeline.at[s.span_id]]
    for start, _ in timed:
        running = [s for begun, s in timed if begun <= start < begun + timedelta(milliseconds=s.duration_ms or 0)]
        if len(running) > len(best):
            best = running
    return best


# --- context growth without cache hits -----------------------------------------------------------


def context_growth(timeline: Timeline, context: Context) -> list[Finding]:
    """Calls whose prompt passed `context_growth` tokens while little of it came from the cache,
    though the previous activity was recent enough for a warm cache. The avoidable part is what
    reading the previous call's prompt from cache would have saved."""
    limit = context.thresholds.context_growth
    calls = timeline.calls
    if limit is None or len(calls) <= MIN_LOW_CACHE_CALLS:
        return []  # too few calls after the first (which has no previous one) to judge the cache by
    idle, previous, large = timeline.idle, {}, []
    for before, call in zip(calls, calls[1:]):
        previous[call.span_id] = before
        if _prompt(call.tokens) >= limit and idle.get(call.span_id, _NO_TIME) <= CACHE_TTL:
            large.append(call)
    prompt = sum(_prompt(c.tokens) for c in large)
    cached = sum(c.tokens.cache_read for c in large if c.tokens)
    if len(large) < MIN_LOW_CACHE_CALLS or cached >= LOW_CACHE_RATIO * prompt:
        return []
    cost = sum(c.cost_usd or 0.0 for c in large)
    saved = sum(_cache_hit_saving(context, timeline, c, previous[c.span_id]) for c in large)
    evidence = (
        f"{len(large)} calls with prompts over {limit:,} tokens (up to {max(_prompt(c.tokens) for c in large):,}) "
        f"read {cached / prompt:.0%} of them from the prompt cache"
    )
    fix = ("Keep the start of the context stable so the prompt cache can hit (system prompt, tools, instructions "
           "unchanged; a proxy must pass caching through), and compact or start afresh before the context grows this large.")
    return [_finding("context_growth", timeline, large, cost, saved, evidence, fix)]


def _prompt(tokens: Tokens | None) -> int:
    return 0 if tokens is None else tokens.input + tokens.cache_read + tokens.cache_write


def _cache_hit_saving(context: Context, timeline: Timeline, call: Span, before: Span) -> float:
    """What `call` would have saved had the prompt of the call `before` it been read from cache."""
    assert call.tokens is not None
    hit = _as_cache_hit(call.tokens, _prompt(before.tokens))
    cheaper = context.prices.reprice(call, timeline.at[call.span_id], tokens=hit)
    return 0.0 if cheaper is None else max((call.cost_usd or 0.0) - cheaper, 0.0)


def _as_cache_hit(tokens: Tokens, prefix: int) -> Tokens:
    """`tokens` with up to `prefix` uncached prompt tokens (cache writes first, the way Anthropic
    bills a prefix, then plain input) turned into cache reads."""
    write_5m = min(tokens.cache_write_5m, prefix)
    write_1h = min(tokens.cache_write_1h, prefix - write_5m)
    plain = min(tokens.input, prefix - write_5m - write_1h)
    return Tokens(
        input=tokens.input - plain, output=tokens.output,
        cache_read=tokens.cache_read + write_5m + write_1h + plain,
        cache_write_5m=tokens.cache_write_5m - write_5m, cache_write_1h=tokens.cache_write_1h - write_1h,
        reasoning=tokens.reasoning,
    )


# --- long-context premium -------------------------------------------------------------------------


def long_context_premium(timeline: Timeline, context: Context) -> list[Finding]:
    """At least `long_context_premium` calls over their model's long-context threshold, where the
    whole request, output included, is billed at the higher rate; the premium is avoidable."""
    limit = context.thresholds.long_context_premium
    if limit is None:
        return []
    over: dict[str, list[tuple[Span, LongContext]]] = defaultdict(list)
    for call in timeline.calls:
        billed = context.prices.long_context(call, timeline.at[call.span_id])
        if billed is not None:
            over[call.model or ""].append((call, billed))
    return [_long_context_finding(timeline, model, group) for model, group in sorted(over.items()) if len(group) >= limit]


def _long_context_finding(timeline: Timeline, model: str, group: list[tuple[Span, LongContext]]) -> Finding:
    threshold = min(billed.threshold for _, billed in group)
    largest = max(_prompt(call.tokens) for call, _ in group)
    cost = sum(call.cost_usd or 0.0 for call, _ in group)
    premium = sum(min(billed.cost_usd - billed.base_cost_usd, call.cost_usd or 0.0) for call, billed in group)
    if len(group) == 1:
        evidence = f"1 call on `{model}` had a prompt of {_k(largest)} tokens, over {_k(threshold)}"
    else:
        evidence = f"{len(group)} calls on `{model}` had prompts over {_k(threshold)} tokens (largest {_k(largest)})"
    evidence += ", which bills the whole request at the long-context rate"
    fix = (f"Compact or start a fresh session before the context passes {_k(threshold)} tokens: above it the "
           "whole request, output included, costs the premium rate.")
    return _finding("long_context_premium", timeline, [c for c, _ in group], cost, premium, evidence, fix)


# --- premium billing tier --------------------------------------------------------------------------


def tier_premium(timeline: Timeline, context: Context) -> list[Finding]:
    """At least `tier_premium` calls billed at a premium tier (fast mode, priority) on one model:
    what they cost over the same calls at the standard rates is avoidable."""
    limit = context.thresholds.tier_premium
    if limit is None:
        return []
    billed: dict[tuple[str, str], list[tuple[Span, float]]] = defaultdict(list)
    for call in timeline.calls:
        if call.tier is not None:
            standard = context.prices.reprice(call, timeline.at[call.span_id], standard_tier=True)
            if standard is not None:
                billed[(call.model or "", call.tier)].append((call, standard))
    return [_tier_finding(timeline, model, tier, group)
            for (model, tier), group in sorted(billed.items()) if len(group) >= limit]


def _tier_finding(timeline: Timeline, model: str, tier: str, group: list[tuple[Span, float]]) -> Finding:
    cost = sum(call.cost_usd or 0.0 for call, _ in group)
    standard = sum(price for _, price in group)
    calls = f"{len(group)} call{'s' if len(group) != 1 else ''}"
    name = "fast mode" if tier == "fast" else f"the `{tier}` tier"
    ratio = f", {cost / standard:.1f}× the standard rates" if standard > 0 else ""
    fix = (f"Keep {name} for the turns where waiting costs more than the premium: at standard rates "
           f"these calls cost ${standard:,.2f}.")
    return _finding("tier_premium", timeline, [c for c, _ in group], cost, cost - standard,
                    f"{calls} on `{model}` ran in {name}{ratio}", fix)


# --- runaway session ------------------------------------------------------------------------------


def runaway_session(timeline: Timeline, context: Context) -> list[Finding]:
    """A session that ran too long (active time, breaks of `runaway_idle_minutes` or more not
    counted) or cost too much; the calls after the limit was reached are the avoidable part. And a
    session resumed after such breaks: each resumed call paid for its whole context again because
    the prompt cache had expired, which starting afresh (or compacting) would have avoided.

    The cost limit, `runaway_usd`, is off by default: `budget.session` already lists the sessions
    over a per-session budget, and this must not say it twice."""
    idle = timeline.idle
    breaks = _after_breaks(idle, context.thresholds.runaway_idle_minutes)
    found = []
    long_run = _long_run(timeline, context, idle, breaks)
    if long_run is not None:
        found.append(long_run)
    resumed = [c for c in timeline.calls if c.span_id in breaks and (long_run is None or c.span_id not in long_run.span_ids)]
    if resumed:
        found.append(_resumed_finding(timeline, context, resumed, idle))
    return found


def _after_breaks(idle: dict[str, timedelta], minutes: float | None) -> set[str]:
    """The model calls (priced or not) made after a break of `minutes` or more."""
    if minutes is None:
        return set()
    shortest = timedelta(minutes=minutes)
    return {key for key, gap in idle.items() if gap >= shortest}


def _long_run(timeline: Timeline, context: Context, idle: dict[str, timedelta], breaks: set[str]) -> Finding | None:
    calls = timeline.calls
    reached = _limit_reached(timeline, context, idle, breaks)
    if reached is None or not calls[reached[0]:]:
        return None
    after = calls[reached[0]:]
    cost = sum(c.cost_usd or 0.0 for c in after)
    evidence = f"{reached[1]}: {len(after)} of its {len(calls)} model calls came after that point"
    fix = ("Give long tasks a stopping point: split them into a session per sub-task, and cap unattended runs "
           "(a turn limit or a budget) so a stuck agent stops by itself.")
    return _finding("runaway_session", timeline, after, cost, cost, evidence, fix)


def _limit_reached(
    timeline: Timeline, context: Context, idle: dict[str, timedelta], breaks: set[str]
) -> tuple[int, str] | None:
    """The index of the first call past a runaway limit, and which limit that was."""
    minutes, usd = context.thresholds.runaway_minutes, context.thresholds.runaway_usd
    calls = timeline.calls
    start = timeline.at[calls[0].span_id] if calls else None
    longest = None if minutes is None else timedelta(minutes=minutes)
    if start is None:
        return None
    if usd is None and (longest is None or (timeline.at[calls[-1].span_id] or start) - start <= longest):
        return None  # calls are in time order, so none was active for longer than the first to the last took
    paused, spent = _NO_TIME, 0.0
    for index, call in enumerate(calls):
        if call.span_id in breaks:
            paused += idle[call.span_id]
        spent += call.cost_usd or 0.0
        active = (timeline.at[call.span_id] or start) - start - paused
        if longest is not None and active > longest:
            pauses = f", breaks of {context.thresholds.runaway_idle_minutes:g} min or more not counted" if breaks else ""
            return index, f"still running after {_duration(longest)} of activity{pauses}"
        if usd is not None and spent > usd:
            return index + 1, f"past ${usd:,.2f} of spend (`runaway_usd`)"
    return None


def _resumed_finding(timeline: Timeline, context: Context, resumed: list[Span], idle: dict[str, timedelta]) -> Finding:
    calls = timeline.calls
    before = {c.span_id: b for b, c in zip(calls, calls[1:])}
    cost = sum(c.cost_usd or 0.0 for c in resumed)
    saved = sum(_cache_hit_saving(context, timeline, c, before[c.span_id]) for c in resumed if c.span_id in before)
    resent = sum(_prompt(c.tokens) - (c.tokens.cache_read if c.tokens else 0) for c in resumed)
    longest = max(idle[c.span_id] for c in resumed)
    count = len(resumed)
    limit = context.thresholds.runaway_idle_minutes
    evidence = (
        f"resumed after {count} break{'s' if count != 1 else ''} of {limit:g} min or more (longest {_duration(longest)}); "
        f"the prompt cache had expired, so {_k(resent)} tokens of context were sent uncached"
    )
    fix = ("After a long break, start a fresh session (or compact first) rather than resuming a large context: "
           "the cache has expired and the whole context is paid for again.")
    return _finding("runaway_session", timeline, resumed, cost, saved, evidence, fix)


# --- formatting for evidence ----------------------------------------------------------------------


def _hash(span: Span) -> str:
    return f"#{(span.tool_input_hash or '')[:6]}…"


def _when(timeline: Timeline, run: list[Span]) -> list[str]:
    """["10:02–10:05 UTC"] for the time a run took; [] when the log gave no times."""
    start, end = timeline.at[run[0].span_id], timeline.at[run[-1].span_id]
    if start is None or end is None:
        return []
    if start.date() != end.date():
        return [f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"]
    if (start.hour, start.minute) == (end.hour, end.minute):
        return [f"{start:%H:%M} UTC"]
    return [f"{start:%H:%M}–{end:%H:%M} UTC"]


def _duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes} min"


def _k(tokens: int) -> str:
    return f"{tokens / 1000:,.0f}k" if tokens >= 1000 else str(tokens)


DETECTORS: tuple[Detector, ...] = (
    retry_loop,
    repeated_read,
    model_overkill,
    subagent_fanout,
    context_growth,
    long_context_premium,
    tier_premium,
    runaway_session,
)
"""Every detector `find` runs, in the order a reader meets their findings when amounts tie."""
WITHOUT_PRICED_CALLS: tuple[Detector, ...] = (subagent_fanout,)
"""The detectors worth running on a session without priced calls of its own (no model calls, or
none of known usage and price: a sixth of the sessions in a large corpus). A fan-out is charged
the subagents' sessions; every other detector weighs a finding by the session's own priced calls,
so there it could only find $0, which `find` drops."""

"""Merge what many files said into one deduplicated set of sessions.

The same model call can reach us several times: streamed partial copies, a resumed session that
replays its history, a forked rollout, a file read again after it grew, or a log read in two
halves. Each copy carries the same native span id, so merging by id — keeping the copy with the
most usage and preferring the original over a sidechain replay — counts every call exactly once.

Telemetry describes the calls of a native log a second time, under ids of its own. A telemetry
copy that carries the provider's request id is folded into the logged call with that request id
(whichever arrives first; the logged call keeps its id and session). What cannot be matched
stands in only where nothing better exists (see `stand_ins_to_drop`): a session family with
logged calls drops its unmatched telemetry, and any per-call record drops metric aggregates.
The store (bot.db.queries) applies the same rules in SQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace

from bot.adapters.base import ParseResult
from bot.gitmeta import repo_of_directory
from bot.trace import Integration, Origin, RunType, Session, Span, Status

_SPAN_FIELDS = tuple(f.name for f in fields(Span))
_SESSION_META = ("integration", "parent_key", "agent_name", "user", "repo", "branch", "cwd", "source")


@dataclass
class Corpus:
    """Sessions keyed by session key; each span id appears in exactly one session."""

    sessions: dict[str, Session] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    _owner: dict[str, tuple[str, Span]] = field(default_factory=dict)
    _by_request: dict[str, str] = field(default_factory=dict)
    """Request id → the id of the span that holds that call."""

    def add(self, result: ParseResult) -> None:
        self.skipped.update(result.skipped)
        for session in result.sessions:
            self.add_session(session)

    def add_session(self, incoming: Session) -> None:
        session = self.sessions.get(incoming.key)
        if session is None:
            session = Session(key=incoming.key, runtime=incoming.runtime)
            self.sessions[incoming.key] = session
        _merge_session_meta(session, incoming)
        for span in incoming.spans:
            self._add_span(incoming.key, span)

    def _add_span(self, session_key: str, span: Span) -> None:
        if span.request_id is not None:
            holder = self._by_request.setdefault(span.request_id, span.span_id)
            if holder != span.span_id and holder in self._owner:
                owner_key, current = self._owner[holder]
                if span.origin is not Origin.LOG:
                    self._add_by_id(session_key, as_copy_of(span, holder))
                    return
                if current.origin is not Origin.LOG:
                    del self._owner[holder]
                    self._by_request[span.request_id] = span.span_id
                    self._add_by_id(session_key, span)
                    self._add_by_id(owner_key, as_copy_of(current, span.span_id))
                    return
        self._add_by_id(session_key, span)

    def _add_by_id(self, session_key: str, span: Span) -> None:
        known = self._owner.get(span.span_id)
        if known is None:
            self._owner[span.span_id] = (session_key, span)
            return
        owner_key, current = known
        if current.sidechain and not span.sidechain:
            self._owner[span.span_id] = (session_key, _merge_span(span, current))
        else:
            self._owner[span.span_id] = (owner_key, _merge_span(current, span))

    def finish(self) -> list[Session]:
        """Attach spans to their sessions, fill repositories from local git, name subagents."""
        for session in self.sessions.values():
            session.spans = []
        dropped = stand_ins_to_drop(self.sessions.values(), self._owner.values())
        for owner_key, span in self._owner.values():
            if span.span_id not in dropped:
                self.sessions[owner_key].spans.append(span)
        for key in [k for k, s in self.sessions.items() if not s.spans and s.integration is Integration.OTLP]:
            del self.sessions[key]  # every call it reported was folded into a logged session
        for session in self.sessions.values():
            session.spans.sort(key=_span_order)
            if session.repo is None and session.cwd:
                session.repo = repo_of_directory(session.cwd)
        _name_subagents(self.sessions)
        return list(self.sessions.values())


def merge(results: Iterable[ParseResult]) -> Corpus:
    corpus = Corpus()
    for result in results:
        corpus.add(result)
    return corpus


def as_copy_of(copy: Span, span_id: str) -> Span:
    """A telemetry copy re-keyed onto the call it describes. Marked as a sidechain so that the
    call keeps its own session; usage is still the larger copy's and gaps (a reported cost)
    are filled from it."""
    return replace(copy, span_id=span_id, sidechain=True)


def family(session: Session) -> str:
    """A session and its subagents form one family, named by the root's key."""
    return session.parent_key or session.key


def stand_ins_to_drop(sessions: Iterable[Session], owned: Iterable[tuple[str, Span]]) -> set[str]:
    """Span ids that only stand in for records the same session family already has.

    Telemetry without a request id cannot be matched call by call, so it counts only in a
    family that has no native log; metric aggregates count only where no call was recorded one
    by one (Claude Code's token counters next to its `api_request` events: never both).
    """
    owned = list(owned)
    if all(span.origin is Origin.LOG for _, span in owned):
        return set()  # native logs only (every offline report): nothing stands in for anything
    family_of = {s.key: family(s) for s in sessions}
    logged: set[str] = set()
    per_call: set[str] = set()
    for key, span in owned:
        if span.run_type is RunType.LLM and span.origin is not Origin.METRIC:
            per_call.add(family_of.get(key, key))
            if span.origin is Origin.LOG:
                logged.add(family_of.get(key, key))
    return {span.span_id for key, span in owned
            if is_redundant(span.origin, span.request_id, family_of.get(key, key), per_call, logged)}


def is_redundant(origin: str, request_id: str | None, family: str, per_call: set[str], logged: set[str]) -> bool:
    """The rule of `stand_ins_to_drop` for one span of `family`, given the families with per-call
    records (`per_call`) and with native-log calls (`logged`); the store applies it too."""
    if origin == Origin.METRIC:
        return family in per_call
    return origin == Origin.TELEMETRY and request_id is None and family in logged


def _merge_session_meta(session: Session, incoming: Session) -> None:
    for name in _SESSION_META:
        if getattr(session, name) in (None, "") and getattr(incoming, name) not in (None, ""):
            setattr(session, name, getattr(incoming, name))
    for sha in incoming.commits:
        if sha not in session.commits:
            session.commits.append(sha)
    session.observe_time(incoming.started_at)
    session.observe_time(incoming.ended_at)


def _merge_span(primary: Span, other: Span) -> Span:
    """`primary` keeps its identity; usage is the larger copy's, a failure outcome is kept."""
    takes_usage = other.tokens is not None and (primary.tokens is None or other.tokens.total > primary.tokens.total)
    for name in _SPAN_FIELDS:
        if getattr(primary, name) is None and getattr(other, name) is not None:
            setattr(primary, name, getattr(other, name))
    if takes_usage:
        primary.tokens = other.tokens
        primary.web_searches = other.web_searches
        primary.cost_usd = other.cost_usd
        primary.price_ref = other.price_ref
        if other.reported_cost_usd is not None:
            primary.reported_cost_usd = other.reported_cost_usd
    if primary.status is Status.OK and other.status is not Status.OK:
        primary.status = other.status
        primary.error_kind = other.error_kind or primary.error_kind
    primary.sidechain = primary.sidechain and other.sidechain
    if primary.origin is not Origin.LOG and other.origin is Origin.LOG:
        primary.origin = Origin.LOG  # telemetry and the log gave the call the same id (tool calls)
    return primary


def _span_order(span: Span) -> tuple[float, str]:
    return (span.started_at.timestamp() if span.started_at else 0.0, span.span_id)


def _name_subagents(sessions: dict[str, Session]) -> None:
    """A child session without a name takes the subagent type its parent's hand-off recorded."""
    for session in sessions.values():
        for span in session.spans:
            child = sessions.get(span.child_session_key) if span.child_session_key else None
            if child is None:
                continue
            if child.agent_name is None:
                child.agent_name = span.name
            if child.parent_key is None:
                child.parent_key = session.key

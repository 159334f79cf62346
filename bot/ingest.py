"""Traces into the store: native logs read from where each file stopped, and uploaded batches.

Log units are read in batches (BATCH_UNITS cursors loaded at a time) and stored, priced, in
transactions of about BATCH_SPANS spans together with the cursors of the units they came from,
so an interrupted run loses nothing it committed and a re-run reads only what is new.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot import adapters
from bot.adapters.base import Adapter, Cursor, FormatError, ParseResult
from bot.corpus import merge
from bot.db import pulls, queries, tokens
from bot.db.engine import session_scope
from bot.pricing import PriceBook
from bot.trace import Integration, Session


@dataclass
class IngestSummary:
    units: int = 0
    sessions_added: int = 0
    spans_added: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    unpriced_tokens: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def plan(paths: Iterable[Path], forced: Adapter | None = None) -> tuple[list[tuple[Adapter, Path]], list[str]]:
    """The log units below `paths`, and an error line for each path that could not be read."""
    units: list[tuple[Adapter, Path]] = []
    errors: list[str] = []
    for path in paths:
        path = path.expanduser().resolve()
        if not path.exists():
            errors.append(f"{path}: no such file or directory")
            continue
        try:
            units.extend(adapters.walk(path, forced))
        except FormatError as exc:
            errors.append(str(exc))
    return units, errors


BATCH_UNITS = 200
BATCH_SPANS = 20_000
"""A transaction stores up to this many log units or spans, with their cursors: one statement
per table for many small logs, and an interrupted run still loses nothing it committed."""


async def ingest(
    engine: AsyncEngine,
    units: list[tuple[Adapter, Path]],
    prices: PriceBook,
    on_unit: Callable[[Path], None] = lambda _path: None,
) -> IngestSummary:
    summary = IngestSummary(units=len(units))
    async with session_scope(engine) as db:
        sessions_before, spans_before = await queries.count_rows(db)
    for start in range(0, len(units), BATCH_UNITS):
        await _ingest_batch(engine, units[start : start + BATCH_UNITS], prices, summary, on_unit)
    async with session_scope(engine) as db:
        sessions_after, spans_after = await queries.count_rows(db)
    summary.sessions_added = sessions_after - sessions_before
    summary.spans_added = spans_after - spans_before
    return summary


async def _ingest_batch(
    engine: AsyncEngine, units: list[tuple[Adapter, Path]], prices: PriceBook, summary: IngestSummary,
    on_unit: Callable[[Path], None],
) -> None:
    """Read the units that changed since their cursors; store them in transactions of about
    BATCH_SPANS spans. A log whose size and mtime match its cursor is not even opened."""
    async with session_scope(engine) as db:
        cursors = await queries.load_cursors(db, [str(path) for _, path in units], [p.is_dir() for _, p in units])
    pending: list[tuple[str, ParseResult]] = []
    pending_spans = 0
    for adapter, path in units:
        if not _unchanged(path, cursors):
            result = adapter.read(path, cursors)
            summary.skipped.update(result.skipped)
            pending.append((adapter.name, result))
            pending_spans += sum(len(s.spans) for s in result.sessions)
            if pending_spans >= BATCH_SPANS:
                await _store(engine, pending, prices, summary)
                pending, pending_spans = [], 0
        on_unit(path)
    if pending:
        await _store(engine, pending, prices, summary)


def _unchanged(path: Path, cursors: dict[str, Cursor]) -> bool:
    cursor = cursors.get(str(path))
    if cursor is None:
        return False
    try:
        st = path.stat()
    except OSError:
        return False
    return S_ISREG(st.st_mode) and (st.st_size, st.st_mtime_ns) == (cursor.size, cursor.mtime_ns)


async def _store(engine: AsyncEngine, results: list[tuple[str, ParseResult]], prices: PriceBook, summary: IngestSummary) -> None:
    sessions = merge([result for _, result in results]).finish()
    summary.unpriced_tokens.update(prices.price_sessions(sessions))
    async with session_scope(engine) as db:
        await queries.upsert_sessions(db, sessions)
        await queries.name_subagents(db, sessions)
        by_adapter: dict[str, dict[str, Cursor]] = {}
        for adapter, result in results:
            by_adapter.setdefault(adapter, {}).update(result.cursors)
        for adapter, cursors in by_adapter.items():
            await queries.save_cursors(db, adapter, cursors)


async def store_uploaded(db: AsyncSession, sessions: list[Session], owner: str, prices: PriceBook) -> dict[str, int]:
    """Price (on the server: client-side costs are not trusted), store, and mark affected PRs dirty."""
    for session in sessions:
        session.integration = Integration.UPLOAD if session.integration is Integration.NATIVE_LOG else session.integration
        for span in session.spans:
            span.cost_usd = span.price_ref = None
    unpriced = prices.price_sessions(sessions)
    await queries.upsert_sessions(db, sessions, owner=owner)
    await queries.name_subagents(db, sessions)
    repos = {s.repo for s in sessions if s.repo}
    if any(s.repo is None for s in sessions):
        repos |= await tokens.repos_of(db, owner)
    dirty = 0
    for repo in sorted(repos):
        dirty += await pulls.mark_dirty(db, pulls.open_in_repo(repo))
    return {"sessions": len(sessions), "spans": sum(len(s.spans) for s in sessions),
            "unpriced_tokens": sum(unpriced.values()), "pull_requests_marked": dirty}

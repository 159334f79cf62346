"""Native logs into the store: read from where each file stopped, price, upsert, remember.

Each log unit is read, priced and stored in its own transaction together with its cursors, so
an interrupted run loses nothing and a re-run reads only what is new.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot import adapters
from bot.adapters.base import Adapter, FormatError
from bot.corpus import merge
from bot.db import queries
from bot.db.engine import session_scope
from bot.pricing import PriceBook


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


async def ingest(
    engine: AsyncEngine,
    units: list[tuple[Adapter, Path]],
    prices: PriceBook,
    on_unit: Callable[[Path], None] = lambda _path: None,
) -> IngestSummary:
    summary = IngestSummary(units=len(units))
    async with session_scope(engine) as db:
        sessions_before, spans_before = await queries.count_rows(db)
    for adapter, path in units:
        async with session_scope(engine) as db:
            cursors = await queries.load_cursors(db, [str(path)])
            result = adapter.read(path, cursors)
            corpus = merge([result])
            sessions = corpus.finish()
            summary.skipped.update(result.skipped)
            summary.unpriced_tokens.update(prices.price_sessions(sessions))
            await queries.upsert_sessions(db, sessions)
            await queries.save_cursors(db, adapter.name, result.cursors)
        on_unit(path)
    async with session_scope(engine) as db:
        await queries.name_subagents(db)
        sessions_after, spans_after = await queries.count_rows(db)
    summary.sessions_added = sessions_after - sessions_before
    summary.spans_added = spans_after - spans_before
    return summary

"""The store's upserts keep one row per call whatever order copies arrive in (SQLite and Postgres)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bot.adapters.base import Cursor
from bot.db import queries
from bot.db.engine import session_scope
from bot.db.models import SpanRow
from bot.trace import RunType, Runtime, Session, Span, Status, Tokens

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _call(span_id: str, output: int, *, cost: float | None = 0.01, sidechain: bool = False) -> Span:
    return Span(
        span_id=span_id, run_type=RunType.LLM, name="claude-sonnet-4-5", started_at=T0,
        model="claude-sonnet-4-5", tokens=Tokens(input=10, output=output, cache_read=100, cache_write_1h=50),
        cost_usd=cost, sidechain=sidechain,
    )


def _session(key: str, *spans: Span, commits: tuple[str, ...] = (), at: datetime = T0) -> Session:
    return Session(
        key=key, runtime=Runtime.CLAUDE_CODE, repo="acme/app", branch="main", commits=list(commits),
        started_at=at, ended_at=at + timedelta(minutes=5), spans=list(spans),
    )


async def _spans(engine) -> dict[str, SpanRow]:
    async with session_scope(engine) as db:
        rows = (await db.execute(sa.select(SpanRow.__table__))).all()
    return {r.span_id: r for r in rows}


async def test_same_batch_twice_changes_nothing(engine) -> None:
    batch = [_session("claude-code:s1", _call("claude-code:m1", 100), _call("claude-code:m2", 5))]
    async with session_scope(engine) as db:
        await queries.upsert_sessions(db, batch)
    first = await _spans(engine)
    async with session_scope(engine) as db:
        await queries.upsert_sessions(db, batch)
        assert await queries.count_rows(db) == (1, 2)
    assert await _spans(engine) == first


async def test_larger_copy_wins_in_either_order(engine) -> None:
    async with session_scope(engine) as db:
        await queries.upsert_sessions(db, [_session("claude-code:s1", _call("claude-code:m1", 400, cost=0.4))])
        await queries.upsert_sessions(db, [_session("claude-code:s1", _call("claude-code:m1", 3, cost=0.003))])
    row = (await _spans(engine))["claude-code:m1"]
    assert (row.output, row.cost_usd, row.total_tokens) == (400, 0.4, 10 + 400 + 100 + 50)
    assert (row.cache_write_1h, row.cache_write_5m) == (50, 0)


async def test_tier_and_searches_go_with_the_usage_kept_and_read_back(engine) -> None:
    placeholder = _call("claude-code:m1", 3)
    streamed = _call("claude-code:m1", 400, cost=0.8)
    streamed.tier, streamed.web_searches = "fast", 3
    async with session_scope(engine) as db:
        await queries.upsert_sessions(db, [_session("claude-code:s1", streamed)])
        await queries.upsert_sessions(db, [_session("claude-code:s1", placeholder)])
        session = _session("claude-code:s1")
        (span,) = (await queries.attach_spans(db, [session]))[0].spans
    row = (await _spans(engine))["claude-code:m1"]
    assert (row.tier, row.web_searches) == ("fast", 3)
    assert (span.tier, span.web_searches, span.cost_usd, span.tokens.output) == ("fast", 3, 0.8, 400)


async def test_original_beats_sidechain_replay(engine) -> None:
    replay = _session("claude-code:resumed", _call("claude-code:m1", 100, sidechain=True))
    original = _session("claude-code:first", _call("claude-code:m1", 100))
    async with session_scope(engine) as db:
        await queries.upsert_sessions(db, [replay])
        await queries.upsert_sessions(db, [original])
    row = (await _spans(engine))["claude-code:m1"]
    assert row.session_key == "claude-code:first"
    assert row.sidechain is False


async def test_failure_outcome_is_kept(engine) -> None:
    ok = Span("claude-code:toolu_1", RunType.TOOL, "Bash", tool_name="Bash", tool_input_hash="abc")
    failed = Span("claude-code:toolu_1", RunType.TOOL, "Bash", status=Status.ERROR, error_kind="is_error")
    async with session_scope(engine) as db:
        await queries.upsert_sessions(db, [_session("claude-code:s1", ok)])
        await queries.upsert_sessions(db, [_session("claude-code:s1", failed)])
        await queries.upsert_sessions(db, [_session("claude-code:s1", ok)])
    row = (await _spans(engine))["claude-code:toolu_1"]
    assert (row.status, row.error_kind, row.tool_input_hash) == ("error", "is_error", "abc")


async def test_session_metadata_merges(engine) -> None:
    later = T0 + timedelta(hours=2)
    async with session_scope(engine) as db:
        await queries.upsert_sessions(db, [_session("codex:t1", commits=("aaa",))])
        await queries.upsert_sessions(db, [_session("codex:t1", commits=("bbb", "aaa"), at=later)])
        [totals] = await queries.session_totals(db)
    assert totals.started_at == T0
    async with session_scope(engine) as db:
        row = (await db.execute(sa.text("select commits, ended_at from sessions"))).one()
    commits = row.commits if isinstance(row.commits, list) else __import__("json").loads(row.commits)
    assert commits == ["aaa", "bbb"]


async def test_totals_separate_priced_unpriced_and_unknown(engine) -> None:
    unknown = Span("codex:x", RunType.LLM, "gpt-5", model="gpt-5", tokens=None)
    async with session_scope(engine) as db:
        await queries.upsert_sessions(
            db, [_session("claude-code:s1", _call("claude-code:m1", 100, cost=0.25), _call("claude-code:m2", 40, cost=None), unknown)]
        )
        [totals] = await queries.session_totals(db, repo="ACME/app")
    assert totals.cost_usd == 0.25
    assert totals.unpriced_tokens == 10 + 40 + 100 + 50
    assert totals.unknown_usage_calls == 1
    assert (totals.input, totals.output, totals.cache_read, totals.cache_write) == (20, 140, 200, 100)


async def test_cursors_round_trip_by_file_and_directory(engine) -> None:
    cursors = {"/logs/a.jsonl": Cursor(10, {"model": "gpt-5"}, 10, 99), "/logs/sub/b.jsonl": Cursor(5, {}, 7, 1)}
    async with session_scope(engine) as db:
        await queries.save_cursors(db, "codex", cursors)
        await queries.save_cursors(db, "codex", {"/logs/a.jsonl": Cursor(20, {"model": "gpt-5.1"}, 20, 100)})
        assert (await queries.load_cursors(db, ["/logs"])).keys() == {"/logs/a.jsonl", "/logs/sub/b.jsonl"}
        loaded = await queries.load_cursors(db, ["/logs/a.jsonl"])
        assert await queries.load_cursors(db, ["/log"]) == {}
    assert loaded == {"/logs/a.jsonl": Cursor(20, {"model": "gpt-5.1"}, 20, 100)}


async def test_migrations_build_the_schema_the_models_declare(engine) -> None:
    """Alembic's autogenerate finds nothing to add: every column a model declares has a revision."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import bot.db.models  # noqa: F401  (registers the tables)

    def diff(connection: sa.Connection) -> list[object]:
        return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)

    async with engine.connect() as connection:
        changes = await connection.run_sync(diff)
    assert changes == []

"""Named queries over the trace store; the same SQL on Postgres and SQLite.

Upserts follow the merge rules of `bot.corpus` (larger usage wins, a failure outcome is kept,
the original beats a sidechain replay), so a call that arrives twice — through two files, two
runs or two transports — is stored once, whatever the order. That includes a call logged
natively and reported again by telemetry under another id: the two meet on the request id
(`_fold_request_copies`), and telemetry that cannot be matched gives way to the log
(`_drop_stand_ins`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.adapters.base import Cursor
from bot.db.models import IngestCursor, SessionRow, SpanRow
from bot.corpus import family, is_redundant
from bot.trace import Integration, Origin, Runtime, RunType, Session, Span, Status, Tokens

_BATCH = 2000
_SESSIONS = SessionRow.__table__
_SPANS = SpanRow.__table__
_CURSORS = IngestCursor.__table__
_USAGE_COLUMNS = (
    "has_usage", "input", "output", "cache_read", "cache_write_5m", "cache_write_1h",
    "reasoning", "total_tokens", "cost_usd", "price_ref", "tier", "web_searches",
)
_OUTCOME_COLUMNS = ("status", "error_kind")
_FILLED_COLUMNS = (
    "parent_id", "model", "provider", "started_at", "duration_ms",
    "tool_name", "tool_input_hash", "child_session_key", "request_id",
)


def insert_for(db: AsyncSession, table: sa.Table) -> Any:
    """An INSERT that supports ON CONFLICT on whichever database `db` is bound to."""
    dialect = db.bind.dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def upsert_sessions(db: AsyncSession, sessions: Sequence[Session], owner: str | None = None) -> None:
    """Store sessions and their spans, merging with what is already stored.

    `owner` is the ingest token's account for uploads; the first owner recorded stays.
    """
    await _upsert_session_rows(db, sessions, owner)
    rows = [span_row(s.key, span) for s in sessions for span in s.spans]
    for wave in _waves(await _fold_request_copies(db, rows)):
        for start in range(0, len(wave), _BATCH):
            await _upsert_span_rows(db, wave[start : start + _BATCH])
    await _drop_stand_ins(db, {family(s) for s in sessions} | {s.key for s in sessions})


async def _fold_request_copies(db: AsyncSession, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Re-key telemetry copies onto the logged call with the same request id, in either order.

    An incoming telemetry row takes the id of a stored (or incoming) logged call; a stored
    telemetry row whose logged call arrives now is deleted and sent again under the call's id.
    Re-keyed rows come after the rows they merge into and are marked as sidechain copies, so
    the ordinary upsert keeps the call's session and the larger usage.
    """
    incoming = {r["request_id"] for r in rows if r["request_id"]}
    if not incoming:
        return rows
    stored: list[dict[str, Any]] = []
    requests = sorted(incoming)
    for start in range(0, len(requests), 500):
        query = sa.select(_SPANS).where(_SPANS.c.request_id.in_(requests[start : start + 500]))
        stored += [dict(r._mapping) for r in (await db.execute(query)).all()]
    holder: dict[str, str] = {}
    for row in sorted([*stored, *rows], key=lambda r: r["origin"] != Origin.LOG.value):
        if row["request_id"]:
            holder.setdefault(row["request_id"], row["span_id"])
    merged, copies = [], []
    for row in rows:
        target = holder.get(row["request_id"]) if row["request_id"] else None
        if target is None or target == row["span_id"] or row["origin"] == Origin.LOG.value:
            merged.append(row)
        else:
            copies.append(row | {"span_id": target, "sidechain": True})
    moved = [r for r in stored if r["origin"] != Origin.LOG.value and holder[r["request_id"]] != r["span_id"]]
    if moved:
        await db.execute(sa.delete(_SPANS).where(_SPANS.c.span_id.in_([r["span_id"] for r in moved])))
        copies += [r | {"span_id": holder[r["request_id"]], "sidechain": True} for r in moved]
    return merged + copies


def _waves(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Split rows so that no statement names a span twice (Postgres refuses that in one
    INSERT … ON CONFLICT); each later copy of a span goes one wave later, in order."""
    waves: list[list[dict[str, Any]]] = []
    copies: dict[str, int] = {}
    for row in rows:
        index = copies.get(row["span_id"], 0)
        copies[row["span_id"]] = index + 1
        if index == len(waves):
            waves.append([])
        waves[index].append(row)
    return waves


async def _drop_stand_ins(db: AsyncSession, families: set[str]) -> None:
    """The store's form of bot.corpus.stand_ins_to_drop, for the families just written: which
    families have per-call records of each origin, then the stand-ins those make redundant.

    Each step is a lookup by key (sessions, then their spans by session), so its cost follows
    the families written, not the size of the store."""
    if not families:
        return
    s, p = _SESSIONS.c, _SPANS.c
    wanted = sorted(families)
    family_of: dict[str, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        members = sa.select(s.key, sa.func.coalesce(s.parent_key, s.key)).where(
            sa.or_(sa.and_(s.parent_key.is_(None), s.key.in_(chunk)), s.parent_key.in_(chunk)))
        for key, root in (await db.execute(members)):
            family_of[key] = root
    keys = sorted(family_of)
    calls: set[tuple[str, str]] = set()  # (family, origin) with per-call records
    stand_ins: list[tuple[str, str, str | None, str | None]] = []  # (span id, session key, origin, request id)
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        origins = sa.select(p.session_key, p.origin).where(
            p.session_key.in_(chunk), p.run_type == RunType.LLM.value,
            p.origin.in_((Origin.LOG.value, Origin.TELEMETRY.value))).distinct()
        calls |= {(family_of[key], origin) for key, origin in await db.execute(origins)}
        candidates = sa.select(p.span_id, p.session_key, p.origin, p.request_id).where(
            p.session_key.in_(chunk),
            sa.or_(p.origin == Origin.METRIC.value, sa.and_(p.origin == Origin.TELEMETRY.value, p.request_id.is_(None))))
        stand_ins += [tuple(row) for row in await db.execute(candidates)]
    per_call = {family for family, _ in calls}
    logged = {family for family, origin in calls if origin == Origin.LOG.value}
    ids = [span_id for span_id, key, origin, request_id in stand_ins
           if is_redundant(origin, request_id, family_of[key], per_call, logged)]
    for start in range(0, len(ids), 500):
        await db.execute(sa.delete(_SPANS).where(_SPANS.c.span_id.in_(ids[start : start + 500])))


async def _upsert_session_rows(db: AsyncSession, sessions: Sequence[Session], owner: str | None) -> None:
    """Sessions are few, so they are merged in Python (commit lists are unions, not overwrites)."""
    for start in range(0, len(sessions), _BATCH):
        batch = sessions[start : start + _BATCH]
        stored = {
            row.key: row
            for row in (await db.execute(sa.select(_SESSIONS).where(_SESSIONS.c.key.in_([s.key for s in batch])))).all()
        }
        rows = [_merged_session_row(s, stored.get(s.key), owner) for s in batch]
        stmt = insert_for(db, _SESSIONS)
        update = {c.name: stmt.excluded[c.name] for c in _SESSIONS.columns if c.name != "key"}
        await db.execute(stmt.on_conflict_do_update(index_elements=["key"], set_=update), rows)


def _merged_session_row(session: Session, stored: Any, owner: str | None) -> dict[str, Any]:
    row = {
        "key": session.key,
        "runtime": str(session.runtime),
        "integration": str(session.integration),
        "parent_key": session.parent_key,
        "agent_name": session.agent_name,
        "user": session.user,
        "repo": session.repo,
        "branch": session.branch,
        "commits": list(session.commits),
        "cwd": session.cwd,
        "started_at": session.started_at,
        "ended_at": session.ended_at,
        "source": session.source,
        "owner": owner,
        "updated_at": datetime.now(UTC),
    }
    if stored is None:
        return row
    for name in ("parent_key", "agent_name", "user", "repo", "branch", "cwd", "source", "owner"):
        if getattr(stored, name) not in (None, ""):
            row[name] = getattr(stored, name)
    row["commits"] = list(dict.fromkeys([*stored.commits, *session.commits]))
    row["started_at"] = _earliest(stored.started_at, session.started_at)
    row["ended_at"] = _latest(stored.ended_at, session.ended_at)
    return row


def _aware(at: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    a, b = _aware(a), _aware(b)
    return min(x for x in (a, b) if x is not None) if (a or b) else None


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    a, b = _aware(a), _aware(b)
    return max(x for x in (a, b) if x is not None) if (a or b) else None


def span_row(session_key: str, span: Span) -> dict[str, Any]:
    tokens = span.tokens
    return {
        "span_id": span.span_id,
        "session_key": session_key,
        "parent_id": span.parent_id,
        "run_type": str(span.run_type),
        "name": span.name,
        "model": span.model,
        "provider": span.provider,
        "started_at": span.started_at,
        "duration_ms": span.duration_ms,
        "has_usage": tokens is not None,
        "input": tokens.input if tokens else 0,
        "output": tokens.output if tokens else 0,
        "cache_read": tokens.cache_read if tokens else 0,
        "cache_write_5m": tokens.cache_write_5m if tokens else 0,
        "cache_write_1h": tokens.cache_write_1h if tokens else 0,
        "reasoning": tokens.reasoning if tokens else 0,
        "total_tokens": tokens.total if tokens else 0,
        "cost_usd": span.cost_usd,
        "reported_cost_usd": span.reported_cost_usd,
        "price_ref": span.price_ref,
        "tier": span.tier,
        "web_searches": span.web_searches,
        "status": str(span.status),
        "error_kind": span.error_kind,
        "tool_name": span.tool_name,
        "tool_input_hash": span.tool_input_hash,
        "child_session_key": span.child_session_key,
        "sidechain": span.sidechain,
        "request_id": span.request_id,
        "origin": str(span.origin),
    }


async def _upsert_span_rows(db: AsyncSession, rows: list[dict[str, Any]]) -> None:
    stmt = insert_for(db, _SPANS)
    new, old = stmt.excluded, _SPANS.c
    more_usage = sa.and_(new.has_usage, sa.or_(sa.not_(old.has_usage), new.total_tokens > old.total_tokens))
    first_failure = sa.and_(old.status == "ok", new.status != "ok")
    update: dict[str, Any] = {
        "session_key": sa.case((sa.and_(old.sidechain, sa.not_(new.sidechain)), new.session_key), else_=old.session_key),
        "sidechain": sa.and_(old.sidechain, new.sidechain),
        "origin": sa.case((new.origin == Origin.LOG.value, new.origin), else_=old.origin),
    }
    update |= {name: sa.case((more_usage, new[name]), else_=old[name]) for name in _USAGE_COLUMNS}
    update |= {name: sa.case((first_failure, new[name]), else_=old[name]) for name in _OUTCOME_COLUMNS}
    update |= {name: sa.func.coalesce(old[name], new[name]) for name in _FILLED_COLUMNS}
    # The cost a source reports belongs with the usage kept (a cumulative counter's latest figure).
    update["reported_cost_usd"] = sa.case(
        (sa.and_(more_usage, new.reported_cost_usd.is_not(None)), new.reported_cost_usd),
        else_=sa.func.coalesce(old.reported_cost_usd, new.reported_cost_usd),
    )
    await db.execute(stmt.on_conflict_do_update(index_elements=["span_id"], set_=update), rows)


async def name_subagents(db: AsyncSession, batch: Sequence[Session]) -> None:
    """Name child sessions after the hand-off span that spawned them, and link them to their
    parent. Either may arrive first, so the sessions of `batch` and the children its hand-offs
    name are looked at; never the whole table, which grows with every upload."""
    keys = {s.key for s in batch} | {span.child_session_key for s in batch for span in s.spans if span.child_session_key}
    handoff = (
        sa.select(_SPANS.c.name)
        .where(_SPANS.c.child_session_key == _SESSIONS.c.key)
        .limit(1)
        .scalar_subquery()
    )
    parent = (
        sa.select(_SPANS.c.session_key)
        .where(_SPANS.c.child_session_key == _SESSIONS.c.key)
        .limit(1)
        .scalar_subquery()
    )
    for start in range(0, len(ordered := sorted(keys)), _BATCH):
        chunk = _SESSIONS.c.key.in_(ordered[start : start + _BATCH])
        await db.execute(sa.update(_SESSIONS).where(chunk, _SESSIONS.c.agent_name.is_(None)).values(agent_name=handoff))
        await db.execute(sa.update(_SESSIONS).where(chunk, _SESSIONS.c.parent_key.is_(None)).values(parent_key=parent))


async def count_rows(db: AsyncSession) -> tuple[int, int]:
    """(sessions, spans) stored."""
    sessions = (await db.execute(sa.select(sa.func.count()).select_from(_SESSIONS))).scalar_one()
    spans = (await db.execute(sa.select(sa.func.count()).select_from(_SPANS))).scalar_one()
    return sessions, spans


async def load_cursors(db: AsyncSession, paths: Sequence[str], directories: Sequence[bool] | None = None) -> dict[str, Cursor]:
    """Cursors for the given files, and for every file below the given directories (all of
    `paths` are treated as possible directories unless `directories` says which are)."""
    folders = [p for p, is_dir in zip(paths, directories or [True] * len(paths)) if is_dir]
    cursors: dict[str, Cursor] = {}
    conditions = [_CURSORS.c.path.in_(list(paths))] if paths else []
    conditions += [_CURSORS.c.path.startswith(p.rstrip("/") + "/", autoescape=True) for p in folders]
    for start in range(0, len(conditions), 200):
        rows = (await db.execute(sa.select(_CURSORS).where(sa.or_(*conditions[start : start + 200])))).all()
        cursors |= {r.path: Cursor(offset=r.offset, state=r.state, size=r.size, mtime_ns=r.mtime_ns) for r in rows}
    return cursors


async def save_cursors(db: AsyncSession, adapter: str, cursors: dict[str, Cursor]) -> None:
    if not cursors:
        return
    rows = [
        {
            "path": path, "adapter": adapter, "offset": c.offset, "size": c.size,
            "mtime_ns": c.mtime_ns, "state": c.state, "updated_at": datetime.now(UTC),
        }
        for path, c in cursors.items()
    ]
    stmt = insert_for(db, _CURSORS)
    update = {name: stmt.excluded[name] for name in ("adapter", "offset", "size", "mtime_ns", "state", "updated_at")}
    await db.execute(stmt.on_conflict_do_update(index_elements=["path"], set_=update), rows)


@dataclass(frozen=True, slots=True)
class SessionTotals:
    key: str
    runtime: str
    repo: str | None
    branch: str | None
    started_at: datetime | None
    input: int
    output: int
    cache_read: int
    cache_write: int
    reasoning: int
    cost_usd: float
    unpriced_tokens: int
    unknown_usage_calls: int


async def session_totals(db: AsyncSession, repo: str | None = None) -> list[SessionTotals]:
    """Every stored session with its token and cost totals, newest first."""
    s, p = _SESSIONS.c, _SPANS.c
    llm = p.run_type == "llm"
    priced = sa.and_(llm, p.has_usage, p.cost_usd.is_not(None))
    unpriced = sa.and_(llm, p.has_usage, p.cost_usd.is_(None))

    def total(column: Any, when: Any = llm) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((when, column), else_=0)), 0)

    query = (
        sa.select(
            s.key, s.runtime, s.repo, s.branch, s.started_at,
            total(p.input).label("input"),
            total(p.output).label("output"),
            total(p.cache_read).label("cache_read"),
            total(p.cache_write_5m + p.cache_write_1h).label("cache_write"),
            total(p.reasoning).label("reasoning"),
            total(p.cost_usd, priced).label("cost_usd"),
            total(p.total_tokens, unpriced).label("unpriced_tokens"),
            total(1, sa.and_(llm, sa.not_(p.has_usage))).label("unknown_usage_calls"),
        )
        .select_from(_SESSIONS.outerjoin(_SPANS, p.session_key == s.key))
        .group_by(s.key, s.runtime, s.repo, s.branch, s.started_at)
        .order_by(s.started_at.desc().nulls_last(), s.key)
    )
    if repo:
        query = query.where(s.repo == repo.lower())
    rows = (await db.execute(query)).all()
    return [
        SessionTotals(
            key=r.key, runtime=r.runtime, repo=r.repo, branch=r.branch, started_at=_aware(r.started_at),
            input=int(r.input), output=int(r.output), cache_read=int(r.cache_read),
            cache_write=int(r.cache_write), reasoning=int(r.reasoning), cost_usd=float(r.cost_usd),
            unpriced_tokens=int(r.unpriced_tokens), unknown_usage_calls=int(r.unknown_usage_calls),
        )
        for r in rows
    ]


async def load_sessions(db: AsyncSession, condition: Any, *, with_spans: bool = True) -> list[Session]:
    """Sessions matching `condition` and their subagent sessions, as trace objects; with their
    spans, or (`with_spans=False`) without, for deciding which of them matter before paying for
    their spans (`attach_spans`)."""
    s = _SESSIONS.c
    rows = list((await db.execute(sa.select(_SESSIONS).where(condition))).all())
    keys = {r.key for r in rows}
    frontier = set(keys)
    while frontier:  # subagents follow their parent, at any depth
        children = [r for r in (await db.execute(sa.select(_SESSIONS).where(s.parent_key.in_(frontier)))).all() if r.key not in keys]
        rows += children
        frontier = {r.key for r in children}
        keys |= frontier
    sessions = [_session_from_row(r) for r in rows]
    return await attach_spans(db, sessions) if with_spans else sessions


async def attach_spans(db: AsyncSession, sessions: list[Session]) -> list[Session]:
    """Fill each session's spans from the store, in time order; returns the same sessions."""
    spans: dict[str, list[Span]] = {session.key: [] for session in sessions}
    key_list = sorted(spans)
    for start in range(0, len(key_list), 500):
        chunk = key_list[start : start + 500]
        query = sa.select(*(_SPANS.c[name] for name in _SPAN_READ)).where(_SPANS.c.session_key.in_(chunk))
        for values in await db.execute(query):
            spans[values[0]].append(_span_from_values(values))
    for session in sessions:
        session.spans = sorted(spans[session.key], key=lambda x: (x.started_at or _DAWN, x.span_id))
    return sessions


_DAWN = datetime.min.replace(tzinfo=UTC)


def _session_from_row(r: Any) -> Session:
    return Session(
        key=r.key, runtime=Runtime(r.runtime), integration=Integration(r.integration), parent_key=r.parent_key,
        agent_name=r.agent_name, user=r.user, repo=r.repo, branch=r.branch, commits=list(r.commits or []),
        cwd=r.cwd, started_at=_aware(r.started_at), ended_at=_aware(r.ended_at), source=r.source,
    )


_SPAN_READ = (
    "session_key", "span_id", "run_type", "name", "started_at", "parent_id", "duration_ms", "model", "provider",
    "has_usage", "input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "reasoning", "cost_usd",
    "reported_cost_usd", "price_ref", "tier", "web_searches", "status", "error_kind", "tool_name", "tool_input_hash",
    "child_session_key", "sidechain", "request_id", "origin",
)
# Enum lookups by value through a dict: a pull request can have a million spans to read back.
_RUN_TYPES = {m.value: m for m in RunType}
_STATUSES = {m.value: m for m in Status}
_ORIGINS = {m.value: m for m in Origin}


def _span_from_values(values: tuple[Any, ...]) -> Span:
    (_, span_id, run_type, name, started_at, parent_id, duration_ms, model, provider, has_usage, input_, output,
     cache_read, cache_write_5m, cache_write_1h, reasoning, cost_usd, reported_cost_usd, price_ref, tier, web_searches,
     status, error_kind, tool_name, tool_input_hash, child_session_key, sidechain, request_id, origin) = values
    return Span(
        span_id=span_id, run_type=_RUN_TYPES[run_type], name=name, started_at=_aware(started_at), parent_id=parent_id,
        duration_ms=duration_ms, model=model, provider=provider,
        tokens=Tokens(input_, output, cache_read, cache_write_5m, cache_write_1h, reasoning) if has_usage else None,
        cost_usd=cost_usd, reported_cost_usd=reported_cost_usd, price_ref=price_ref, tier=tier,
        web_searches=web_searches, status=_STATUSES[status], error_kind=error_kind, tool_name=tool_name,
        tool_input_hash=tool_input_hash, child_session_key=child_session_key, sidechain=sidechain,
        request_id=request_id, origin=_ORIGINS[origin],
    )


def sessions_for_pull(repo: str, trailer_keys: Iterable[str]) -> Any:
    """Sessions that could belong to a pull request of `repo`: same repository, named by a
    trailer, or of unknown repository uploaded by the repository's owner."""
    s = _SESSIONS.c
    owner = repo.split("/", 1)[0].lower()
    return sa.or_(
        s.repo == repo.lower(),
        s.key.in_(list(trailer_keys)),
        sa.and_(s.repo.is_(None), sa.func.lower(s.owner) == owner),
    )


async def owners_of(db: AsyncSession, keys: list[str]) -> dict[str, str | None]:
    """The uploading token owner of each session (None for sessions ingested locally)."""
    if not keys:
        return {}
    rows = (await db.execute(sa.select(_SESSIONS.c.key, _SESSIONS.c.owner).where(_SESSIONS.c.key.in_(keys)))).all()
    return {r.key: r.owner for r in rows}


def keyed(keys: Iterable[str]) -> Any:
    """Sessions with these keys (for `load_sessions`, which adds their subagents)."""
    return _SESSIONS.c.key.in_(list(keys))

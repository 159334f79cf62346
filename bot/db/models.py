"""The tables: sessions, spans and ingest cursors.

Spans are keyed by their namespaced native id alone, not by session, because the same model
call can arrive through several files (resumed or forked sessions); one row per call is what
makes re-ingest idempotent and double counting impossible.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class SessionRow(SQLModel, table=True):
    __tablename__ = "sessions"

    key: str = Field(primary_key=True)
    runtime: str = Field(index=True)
    integration: str
    parent_key: str | None = Field(default=None, index=True)
    agent_name: str | None = None
    user: str | None = None
    repo: str | None = Field(default=None, index=True)
    branch: str | None = None
    commits: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    cwd: str | None = None
    started_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    ended_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    source: str | None = None
    updated_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))


class SpanRow(SQLModel, table=True):
    __tablename__ = "spans"

    span_id: str = Field(primary_key=True)
    session_key: str = Field(foreign_key="sessions.key", index=True)
    parent_id: str | None = None
    run_type: str
    name: str
    model: str | None = None
    provider: str | None = None
    started_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    duration_ms: int | None = None
    has_usage: bool = False
    """False when the source did not report usage: the token columns are then meaningless."""
    input: int = Field(default=0, sa_type=sa.BigInteger)
    output: int = Field(default=0, sa_type=sa.BigInteger)
    cache_read: int = Field(default=0, sa_type=sa.BigInteger)
    cache_write_5m: int = Field(default=0, sa_type=sa.BigInteger)
    cache_write_1h: int = Field(default=0, sa_type=sa.BigInteger)
    reasoning: int = Field(default=0, sa_type=sa.BigInteger)
    total_tokens: int = Field(default=0, sa_type=sa.BigInteger)
    """Kept so an upsert can keep the copy with the most usage in one SQL statement."""
    cost_usd: float | None = None
    reported_cost_usd: float | None = None
    price_ref: str | None = None
    status: str = "ok"
    error_kind: str | None = None
    tool_name: str | None = None
    tool_input_hash: str | None = None
    child_session_key: str | None = None
    sidechain: bool = False


class IngestCursor(SQLModel, table=True):
    """How far `agentspend ingest` has read each log file, so a re-run reads only new bytes."""

    __tablename__ = "ingest_cursors"

    path: str = Field(primary_key=True)
    adapter: str
    offset: int = Field(default=0, sa_type=sa.BigInteger)
    size: int = Field(default=0, sa_type=sa.BigInteger)
    mtime_ns: int = Field(default=0, sa_type=sa.BigInteger)
    state: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    updated_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))

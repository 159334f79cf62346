"""One engine factory for Postgres (asyncpg) and SQLite (aiosqlite), and schema upgrades.

The same code runs on both; only connection details differ. Migrations are Alembic's, applied
programmatically so `agentspend serve` and `agentspend db upgrade` need no alembic.ini.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).resolve().parent.parent.parent / "migrations"


def async_url(url: str) -> str:
    """Accept the URLs operators write (`postgresql://`, `postgres://`, `sqlite:///`)."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    return url


def is_sqlite(url: str) -> bool:
    return async_url(url).startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = async_url(url)
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL lets the report read while ingest writes; foreign keys are off by default in SQLite."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@asynccontextmanager
async def session_scope(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A unit of work: committed when the block ends normally, rolled back otherwise."""
    maker = async_sessionmaker(engine, expire_on_commit=False)
    async with maker() as session, session.begin():
        yield session


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to `revision` (synchronous: call it before, or beside, the event loop)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = async_url(url)
    command.upgrade(config, revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """`upgrade` from inside a running event loop (Alembic's env runs its own loop, in a thread here)."""
    import asyncio

    await asyncio.to_thread(upgrade, url, revision)

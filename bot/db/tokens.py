"""Ingest tokens and installations: who may upload sessions for which repositories.

A token is shown once and stored only as its SHA-256; it writes sessions only for the
repositories of its owner's installation.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import IngestToken, Installation, InstallationRepo
from bot.db.queries import insert_for

_TOKENS = IngestToken.__table__
_INSTALLATIONS = Installation.__table__
_REPOS = InstallationRepo.__table__
PREFIX = "ast_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create(db: AsyncSession, owner: str) -> str:
    token = PREFIX + secrets.token_urlsafe(32)
    await db.execute(sa.insert(_TOKENS).values(token_hash=_hash(token), owner=owner.lower(), created_at=datetime.now(UTC)))
    return token


async def owner_of(db: AsyncSession, token: str) -> str | None:
    """The owner the token belongs to, or None for an unknown token (recorded as used)."""
    digest = _hash(token)
    owner = (await db.execute(sa.select(_TOKENS.c.owner).where(_TOKENS.c.token_hash == digest))).scalar_one_or_none()
    if owner is not None:
        await db.execute(sa.update(_TOKENS).where(_TOKENS.c.token_hash == digest).values(last_used_at=datetime.now(UTC)))
    return owner


async def repos_of(db: AsyncSession, owner: str) -> set[str]:
    """Repositories of the owner's active installations."""
    query = (
        sa.select(_REPOS.c.repo)
        .select_from(_REPOS.join(_INSTALLATIONS, _INSTALLATIONS.c.id == _REPOS.c.installation_id))
        .where(sa.func.lower(_INSTALLATIONS.c.account_login) == owner.lower(), sa.not_(_INSTALLATIONS.c.deleted),
               sa.not_(_INSTALLATIONS.c.suspended))
    )
    return set((await db.execute(query)).scalars())


async def upsert_installation(db: AsyncSession, installation_id: int, account_login: str, account_type: str | None, **state: bool) -> None:
    stmt = insert_for(db, _INSTALLATIONS).values(
        id=installation_id, account_login=account_login.lower(), account_type=account_type,
        suspended=state.get("suspended", False), deleted=state.get("deleted", False), updated_at=datetime.now(UTC),
    )
    update = {"account_login": stmt.excluded.account_login, "updated_at": stmt.excluded.updated_at}
    update |= {name: stmt.excluded[name] for name in state}
    await db.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=update))


async def ensure_installation(db: AsyncSession, installation_id: int, account_login: str) -> None:
    """Know an installation seen only through its events (its `installation.created` may predate us)."""
    stmt = insert_for(db, _INSTALLATIONS).values(id=installation_id, account_login=account_login.lower(),
                                                 suspended=False, deleted=False, updated_at=datetime.now(UTC))
    await db.execute(stmt.on_conflict_do_nothing(index_elements=["id"]))


async def add_repos(db: AsyncSession, installation_id: int, repos: list[str]) -> None:
    if not repos:
        return
    stmt = insert_for(db, _REPOS)
    rows = [{"repo": r.lower(), "installation_id": installation_id} for r in repos]
    await db.execute(stmt.on_conflict_do_update(index_elements=["repo"], set_={"installation_id": stmt.excluded.installation_id}), rows)


async def remove_repos(db: AsyncSession, installation_id: int, repos: list[str]) -> None:
    if repos:
        await db.execute(sa.delete(_REPOS).where(_REPOS.c.installation_id == installation_id,
                                                 _REPOS.c.repo.in_([r.lower() for r in repos])))

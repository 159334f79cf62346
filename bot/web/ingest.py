"""POST /api/v1/sessions: normalized session batches from `agentspend push`, behind an ingest token.

A token writes only sessions of its owner's repositories (or sessions whose repository is
unknown, which then belong to the owner); one foreign repository refuses the whole batch. The
OTLP receiver (bot.web.otlp) applies the same rule through `authorize`.
"""

from __future__ import annotations

import logging

import msgspec
from litestar import Request, Response, post
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db import tokens
from bot.db.engine import session_scope
from bot.ingest import store_uploaded
from bot.trace import Session
from bot.web import services
from bot.wire import from_json

log = logging.getLogger(__name__)
MAX_BODY = 50 * 1024 * 1024


class Refused(Exception):
    """The token may not write this batch: 401 (no or unknown token) or 403 (foreign repository)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


async def authorize(db: AsyncSession, token: str | None, sessions: list[Session]) -> str:
    """The owner the batch is written for; raises Refused, before anything is written."""
    if token is None:
        raise Refused(401, "an ingest token is required (Authorization: Bearer …)")
    owner = await tokens.owner_of(db, token)
    if owner is None:
        raise Refused(401, "unknown ingest token")
    allowed = await tokens.repos_of(db, owner)
    foreign = sorted({s.repo for s in sessions if s.repo and s.repo.lower() not in allowed})
    if foreign:
        log.warning("upload refused: token of %s sent sessions of %s", owner, ", ".join(foreign))
        raise Refused(403, f"this token may not write sessions of {', '.join(foreign)}")
    return owner


def _negative_count(sessions: list[Session]) -> str | None:
    """Where a batch counts tokens or searches below zero: priced, it would subtract spend."""
    for session in sessions:
        for span in session.spans:
            t = span.tokens
            if span.web_searches < 0 or t is not None and min(
                t.input, t.output, t.cache_read, t.cache_write_5m, t.cache_write_1h, t.reasoning,
            ) < 0:
                return f"span {span.span_id!r} of {session.key!r} has a negative token or search count"
    return None


@post("/api/v1/sessions", request_max_body_size=MAX_BODY)
async def upload_sessions(request: Request) -> Response:
    svc = services(request)
    token = bearer(request)
    if token is None:
        return Response({"message": "an ingest token is required (Authorization: Bearer …)"}, status_code=401)
    body = await request.body()
    try:
        sessions = from_json(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return Response({"message": f"not a session batch: {exc}"}, status_code=400)
    if (negative := _negative_count(sessions)) is not None:
        return Response({"message": f"not a session batch: {negative}"}, status_code=400)
    async with session_scope(svc.engine) as db:
        try:
            owner = await authorize(db, token, sessions)
        except Refused as refused:
            return Response({"message": refused.message}, status_code=refused.status)
        summary = await store_uploaded(db, sessions, owner, svc.prices)
    return Response(summary, status_code=200)

"""POST /api/v1/sessions: normalized session batches from `agentspend push`, behind an ingest token.

A token writes only sessions of its owner's repositories (or sessions whose repository is
unknown, which then belong to the owner); one foreign repository refuses the whole batch.
"""

from __future__ import annotations

import logging

import msgspec
from litestar import Request, Response, post

from bot.db import tokens
from bot.db.engine import session_scope
from bot.ingest import store_uploaded
from bot.web import services
from bot.wire import from_json

log = logging.getLogger(__name__)
MAX_BODY = 50 * 1024 * 1024


@post("/api/v1/sessions", request_max_body_size=MAX_BODY)
async def upload_sessions(request: Request) -> Response:
    svc = services(request)
    token = _bearer(request)
    if token is None:
        return Response({"message": "an ingest token is required (Authorization: Bearer …)"}, status_code=401)
    body = await request.body()
    try:
        sessions = from_json(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return Response({"message": f"not a session batch: {exc}"}, status_code=400)
    async with session_scope(svc.engine) as db:
        owner = await tokens.owner_of(db, token)
        if owner is None:
            return Response({"message": "unknown ingest token"}, status_code=401)
        allowed = await tokens.repos_of(db, owner)
        foreign = sorted({s.repo for s in sessions if s.repo and s.repo.lower() not in allowed})
        if foreign:
            log.warning("upload refused: token of %s sent sessions of %s", owner, ", ".join(foreign))
            return Response({"message": f"this token may not write sessions of {', '.join(foreign)}"}, status_code=403)
        summary = await store_uploaded(db, sessions, owner, svc.prices)
    return Response(summary, status_code=200)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None

"""GET /healthz: liveness and database reachability, for the platform's health check."""

from __future__ import annotations

import sqlalchemy as sa
from litestar import Request, Response, get

from bot.web import services


@get("/healthz")
async def healthz(request: Request) -> Response:
    try:
        async with services(request).engine.connect() as conn:
            await conn.execute(sa.text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy", reported as such
        return Response({"status": "error", "database": type(exc).__name__}, status_code=503)
    return Response({"status": "ok", "database": "ok"}, status_code=200)

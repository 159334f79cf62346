"""HTML responses for the dashboard: one template environment, the signed-in person and the CSRF token in every page."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.utils.scope.state import ScopeState

from bot.report import render


def page(request: Request, template: str, *, status_code: int = 200, **context: Any) -> Response:
    session = request.scope.get("session") or {}
    token = ScopeState.from_scope(request.scope).csrf_token
    html = render.dashboard(
        template, login=session.get("login") if isinstance(session, dict) else None,
        csrf_token=token if isinstance(token, str) else "", **context,
    )
    return Response(html, media_type="text/html; charset=utf-8", status_code=status_code,
                    headers={"Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self' https:; frame-ancestors 'none'",
                             "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"})

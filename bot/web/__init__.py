"""HTTP entry points: webhooks, trace intake, reports and health."""

from __future__ import annotations

from litestar import Request

from bot.services import Services


def services(request: Request) -> Services:
    return request.app.state.services

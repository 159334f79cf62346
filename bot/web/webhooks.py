"""POST /webhooks/github: verify, store by delivery id, answer 202 — nothing else in the request.

Handlers run later from the stored delivery, so a slow GitHub, a crash or a restart loses
nothing, and GitHub's 10-second deadline is never at risk.
"""

from __future__ import annotations

import logging

import orjson
from litestar import Request, Response, post
from sqlalchemy.exc import DBAPIError

from bot.db import deliveries
from bot.github.events import verify
from bot.web import services

log = logging.getLogger(__name__)
MAX_BODY = 25 * 1024 * 1024
"""GitHub does not send payloads over 25 MB; anything larger is not from GitHub."""


@post("/webhooks/github", request_max_body_size=MAX_BODY)
async def github_webhook(request: Request) -> Response:
    svc = services(request)
    body = await request.body()
    delivery_id = request.headers.get("x-github-delivery", "")
    if not verify(body, request.headers.get("x-hub-signature-256"), svc.settings.webhook_secrets):
        log.warning("webhook rejected: bad or missing signature (delivery %s)", delivery_id or "-")
        return Response({"message": "signature does not match"}, status_code=401)
    event = request.headers.get("x-github-event", "")
    if not delivery_id or not event:
        return Response({"message": "X-GitHub-Delivery and X-GitHub-Event are required"}, status_code=400)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Response({"message": "body is not JSON"}, status_code=400)
    action, installation_id = _routing(payload)
    try:
        new = await svc.intake.store(deliveries.Received(delivery_id[:100], event[:100], action, installation_id, body))
    except (OSError, DBAPIError) as exc:
        # Not stored, so not acknowledged: GitHub shows the delivery as failed and it can be redelivered.
        log.error("webhook %s not stored: database unavailable (%s)", delivery_id, type(exc).__name__)
        return Response({"message": "storage unavailable; redeliver later"}, status_code=503)
    if not new:
        log.info("webhook %s (%s) already stored: redelivery ignored", delivery_id, event)
        return Response({"message": "already received"}, status_code=200)
    log.info("webhook %s stored: %s.%s", delivery_id, event, action or "-")
    return Response({"message": "accepted"}, status_code=202)


def _routing(payload: object) -> tuple[str | None, int | None]:
    if not isinstance(payload, dict):
        return None, None
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    installation = payload.get("installation")
    installation_id = installation.get("id") if isinstance(installation, dict) else None
    return action, installation_id if isinstance(installation_id, int) else None

"""Post a message to a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, Discord's /slack).

The URL is a secret (it is the credential), so it is never logged: only its host is.
"""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10.0


class NotifyError(Exception):
    """The message was not delivered; the text says why without the URL."""


async def post(url: str, text: str, allow_http: bool = False) -> None:
    parsed = httpx.URL(url)
    if parsed.scheme != "https" and not (allow_http and parsed.scheme == "http"):
        raise NotifyError(f"the webhook must be an https:// address (host {parsed.host})")
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            response = await client.post(url, json={"text": text})
    except httpx.HTTPError as exc:
        raise NotifyError(f"{parsed.host}: {type(exc).__name__}") from None
    if response.status_code >= 300:
        raise NotifyError(f"{parsed.host} answered {response.status_code}")
    log.info("alert posted to %s", parsed.host)

"""`create_app(settings)`: the Litestar service — routes, and a lifespan owning the database,
the GitHub client and the background worker."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import AsyncIterator

import httpx
from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.middleware.session.client_side import CookieBackendConfig

from bot import jobs
from bot.db.engine import make_engine
from bot.db.intake import Intake
from bot.github.client import GitHubApi, GitHubUsers, make_client
from bot.pricing import PriceBook
from bot.services import Services
from bot.settings import Settings
from bot.web import auth, dashboard, otlp
from bot.web.health import healthz
from bot.web.ingest import upload_sessions
from bot.web.reports import pull_report
from bot.web.webhooks import github_webhook

log = logging.getLogger(__name__)
MACHINE_ROUTES = ["^/webhooks/", "^/api/v1/sessions", "^/v1/", "^/healthz"]
"""Authenticated by signature or Bearer token, never by cookie: no session, no CSRF check."""
SESSION_HOURS = 8
"""A GitHub App's user token lasts 8 hours; the session does not outlive it."""


def create_app(settings: Settings, github: GitHubApi | None = None, run_worker: bool = True) -> Litestar:
    """Build the service. `github` replaces the real client (demo, tests); `run_worker=False`
    leaves deliveries and refreshes to the caller (`jobs.drain`)."""
    engine = make_engine(settings.database_url)
    svc = Services(
        settings=settings,
        engine=engine,
        github=github or make_client(settings),
        prices=PriceBook.load(settings.prices_path),
        users=GitHubUsers(settings),
        intake=Intake(engine),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:  # left in reverse: the database goes last
            stack.push_async_callback(svc.engine.dispose)
            await stack.enter_async_context(svc.github)
            await stack.enter_async_context(svc.users)
            await stack.enter_async_context(svc.intake.running())
            if run_worker:
                await stack.enter_async_context(_worker(svc))
            yield

    secret = _session_secret(settings)
    secure = settings.public_url.startswith("https://")
    session = CookieBackendConfig(
        secret=hashlib.sha256(b"session:" + secret).digest(), key="agentspend_session", max_age=SESSION_HOURS * 3600,
        secure=secure, httponly=True, samesite="lax", exclude=MACHINE_ROUTES,
    )
    csrf = CSRFConfig(
        secret=hashlib.sha256(b"csrf:" + secret).hexdigest(), cookie_name="agentspend_csrf", cookie_secure=secure,
        cookie_httponly=True, cookie_samesite="lax", exclude=MACHINE_ROUTES,
    )
    return Litestar(
        route_handlers=[
            github_webhook, upload_sessions, *otlp.ROUTES, pull_report, healthz,
            auth.login, auth.login_callback, auth.logout_form, auth.logout,
            dashboard.home, dashboard.repo_page, dashboard.pull_page, dashboard.weekly_review,
            dashboard.owner_metrics, dashboard.owner_review,
        ],
        lifespan=[lifespan],
        state=State({"services": svc}),
        middleware=[session.middleware],
        csrf_config=csrf,
        # The API description as JSON only: Litestar's HTML renderers load scripts from CDNs.
        openapi_config=OpenAPIConfig(title="AgentSpend", version="1", render_plugins=[JsonRenderPlugin()]),
    )


def _session_secret(settings: Settings) -> bytes:
    if settings.session_secret:
        return settings.session_secret.encode()
    if settings.github_client_id:
        log.warning("AGENTSPEND_SESSION_SECRET is not set: sign-ins last until this process restarts")
    return secrets.token_bytes(32)


@contextlib.asynccontextmanager
async def _worker(svc: Services) -> AsyncIterator[None]:
    sched = jobs.scheduler(svc)
    sched.start()
    try:
        yield
    finally:
        sched.shutdown(wait=False)


@contextlib.asynccontextmanager
async def in_process_client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to `app` inside the current event loop, lifespan included.

    Litestar's test client runs the app in a portal loop of its own; asyncpg connections
    belong to the loop that opened them, so the demo and the tests drive the app here instead.
    """
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://agentspend.local") as client:
        yield client

"""`create_app(settings)`: the Litestar service — routes, and a lifespan owning the database,
the GitHub client and the background worker."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from litestar import Litestar
from litestar.datastructures import State

from bot import jobs
from bot.db.engine import make_engine
from bot.github.client import GitHubApi, make_client
from bot.pricing import PriceBook
from bot.services import Services
from bot.settings import Settings
from bot.web.health import healthz
from bot.web import otlp
from bot.web.ingest import upload_sessions
from bot.web.reports import pull_report
from bot.web.webhooks import github_webhook

log = logging.getLogger(__name__)


def create_app(settings: Settings, github: GitHubApi | None = None, run_worker: bool = True) -> Litestar:
    """Build the service. `github` replaces the real client (demo, tests); `run_worker=False`
    leaves deliveries and refreshes to the caller (`jobs.drain`)."""
    svc = Services(
        settings=settings,
        engine=make_engine(settings.database_url),
        github=github or make_client(settings),
        prices=PriceBook.load(settings.prices_path),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(svc.github)
            if run_worker:
                await stack.enter_async_context(_worker(svc))
            try:
                yield
            finally:
                await svc.engine.dispose()

    return Litestar(
        route_handlers=[github_webhook, upload_sessions, *otlp.ROUTES, pull_report, healthz],
        lifespan=[lifespan],
        state=State({"services": svc}),
    )


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

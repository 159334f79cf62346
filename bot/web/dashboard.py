"""The dashboard pages and the JSON figures behind them, all behind `bot.web.access`.

Pages are server-rendered (Jinja2, `templates/dashboard/`) with SVG charts whose geometry comes
from `bot.report.charts`; each chart is built from the same `Metrics` the JSON API returns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect

from bot import metrics, overview
from bot.db import alerts as stored_alerts
from bot.db import dashboard, queries
from bot.db.engine import session_scope
from bot.github import org_config
from bot.report import charts
from bot.web import services
from bot.web.access import Viewer, require, viewer, visible_repos
from bot.web.pages import page

MAX_SPANS = 400
"""Spans listed per session on the pull request page; the rest are counted."""


def _window(name: str | None, until: datetime | None = None) -> metrics.Window:
    if (name or "month") not in metrics.WINDOWS:
        raise NotFoundException("window must be week or month")
    return metrics.Window.ending(name or "month", until or datetime.now(UTC))


async def _signed_in(request: Request) -> Viewer | Redirect:
    who = await viewer(request)
    return who if who is not None else Redirect(f"/login?next={request.url.path}")


def chart_set(m: metrics.Metrics) -> list[charts.Chart]:
    """The five charts: spend by model, repository, runtime and tool, and cost per merged PR over time."""
    spend = m.spend
    return [
        charts.rows("by-model", "Spend by model", [(r.name, r.cost_usd) for r in spend.by_model]),
        charts.rows("by-repo", "Spend by repository", [(r.name, r.cost_usd) for r in m.by_repo]),
        charts.rows("by-runtime", "Spend by agent runtime", [(r.name, r.cost_usd) for r in spend.by_runtime]),
        charts.rows("by-tool", "Spend by tool or MCP server", [(r.name, r.cost_usd) for r in spend.by_tool]),
        charts.columns("cost-per-merged-pr", "Cost per merged PR (merged, not reverted)",
                       [(p.start.strftime("%b %d"), p.value.cost_per_accepted_change) for p in m.over_time]),
    ]


@get("/")
async def home(request: Request) -> Response:
    who = await _signed_in(request)
    if isinstance(who, Redirect):
        return who
    svc = services(request)
    repos = await visible_repos(request, who)
    owners = sorted({r.split("/", 1)[0] for r in repos})
    owner = (request.query_params.get("owner") or (owners[0] if owners else "")).lower()
    if not owners:
        return page(request, "message.html.j2", title="Nothing to show yet",
                    message="None of the repositories AgentSpend is installed on is visible to your GitHub account.")
    if owner not in owners:
        raise NotFoundException()
    window = _window(request.query_params.get("window"))
    mine = {r for r in repos if r.startswith(owner + "/")}
    found = await overview.figures(svc, owner, mine, window)
    config = await overview.config_of(svc, owner)
    statuses = await overview.alert_statuses(svc, owner, mine, config) if isinstance(config, org_config.OrgConfig) else []
    async with session_scope(svc.engine) as db:
        sent = await stored_alerts.recent(db, owner, window.start)
    return page(request, "overview.html.j2", title=f"{owner}: agent spend", owner=owner, owners=owners, window=window,
                m=found.metrics, charts=chart_set(found.metrics), statuses=statuses, sent=sent,
                config_error=config if not isinstance(config, org_config.OrgConfig) else None)


@get("/repos/{owner:str}/{repo:str}")
async def repo_page(request: Request, owner: FromPath[str], repo: FromPath[str]) -> Response:
    full = f"{owner}/{repo}".lower()
    await require(request, full)
    window = _window(request.query_params.get("window"))
    found = await overview.figures(services(request), owner.lower(), {full}, window)
    every = sorted(found.pulls.values(), key=lambda p: -p.number)
    return page(request, "repo.html.j2", title=full, repo=full, owner=owner.lower(), window=window, m=found.metrics,
                charts=chart_set(found.metrics), pulls=every)


@get("/repos/{owner:str}/{repo:str}/pulls/{number:int}")
async def pull_page(request: Request, owner: FromPath[str], repo: FromPath[str], number: FromPath[int]) -> Response:
    full = f"{owner}/{repo}".lower()
    await require(request, full)
    svc = services(request)
    async with session_scope(svc.engine) as db:
        found = await dashboard.pulls(db, {full}, number)
        if not found:
            raise NotFoundException()
        pull = found[0]
        report = await dashboard.report_of(db, pull.id)
        keys = [s["key"] for s in (report or {}).get("sessions", [])]
        sessions = await queries.load_sessions(db, queries.keyed(keys)) if keys else []
    order = {key: index for index, key in enumerate(keys)}
    drill = [_drill(s) for s in sorted(sessions, key=lambda s: order.get(s.key, len(order)))]
    return page(request, "pull.html.j2", title=f"{full}#{number}", repo=full, pull=pull, report=report, sessions=drill)


def _drill(session: Any) -> dict[str, Any]:
    spans = sorted(session.spans, key=lambda s: (s.started_at or datetime.min.replace(tzinfo=UTC), s.span_id))
    return {"session": session, "spans": spans[:MAX_SPANS], "more": max(0, len(spans) - MAX_SPANS),
            "cost": sum(s.cost_usd or 0.0 for s in spans if s.is_llm)}


@get("/review/weekly")
async def weekly_review(request: Request) -> Response:
    who = await _signed_in(request)
    if isinstance(who, Redirect):
        return who
    repos = await visible_repos(request, who)
    owners = sorted({r.split("/", 1)[0] for r in repos})
    owner = (request.query_params.get("owner") or (owners[0] if owners else "")).lower()
    if owner not in owners:
        raise NotFoundException()
    window = _window("week")
    found, result = await overview.weekly(services(request), owner, {r for r in repos if r.startswith(owner + "/")}, window)
    return page(request, "weekly.html.j2", title=f"{owner}: weekly review", owner=owner, owners=owners, window=window,
                m=found.metrics, review=result)


async def _api_scope(request: Request, owner: str) -> tuple[set[str], metrics.Window] | Response:
    who = await viewer(request)
    if who is None:
        return Response({"message": "sign in, or send your GitHub token as Authorization: Bearer …"}, status_code=401)
    repos = await visible_repos(request, who, owner)
    if not repos:
        raise NotFoundException()
    name = request.query_params.get("window") or "month"
    if name not in metrics.WINDOWS:
        return Response({"message": "window must be week or month"}, status_code=400)
    until = request.query_params.get("until")
    try:
        end = datetime.fromisoformat(until).astimezone(UTC) if until else datetime.now(UTC)
    except ValueError:
        return Response({"message": "until must be an ISO 8601 time"}, status_code=400)
    return repos, metrics.Window.ending(name, end)


@get("/api/v1/owners/{owner:str}/metrics")
async def owner_metrics(request: Request, owner: FromPath[str]) -> Response:
    """Every figure of the overview: spend by model, repository, runtime, tool, user and team; cost per accepted
    change, abandoned and reverted cost, overall and per repository, runtime, model and team; the series by slice."""
    scope = await _api_scope(request, owner)
    if isinstance(scope, Response):
        return scope
    repos, window = scope
    found = await overview.figures(services(request), owner.lower(), repos, window)
    return Response({"owner": owner.lower(), **found.metrics.as_dict()})


@get("/api/v1/owners/{owner:str}/review/weekly")
async def owner_review(request: Request, owner: FromPath[str]) -> Response:
    scope = await _api_scope(request, owner)
    if isinstance(scope, Response):
        return scope
    repos, window = scope
    found, result = await overview.weekly(services(request), owner.lower(), repos, metrics.Window.ending("week", window.end))
    return Response({"owner": owner.lower(), "start": found.metrics.window.start.isoformat(),
                     "end": found.metrics.window.end.isoformat(), **result.as_dict()})

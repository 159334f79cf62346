"""Background work: drain stored deliveries, refresh dirty pull requests, housekeeping, alerts and digests.

Each job is a plain async function taking Services and returning a count, so tests and the
demo call them directly and APScheduler only decides when. Draining and refreshing run on
every instance (row locks and leases keep them apart); periodic housekeeping runs only on the
instance holding the Postgres advisory lock.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession

from bot import metrics, notify, overview
from bot.alerts import message as alert_message
from bot.db import alerts as stored_alerts
from bot.db import dashboard, deliveries, pulls
from bot.db.outcomes import recompute_all
from bot.db.engine import session_scope
from bot.db.models import Delivery, Digest, PullRequestRow
from bot.github import events, org_config
from bot.github.client import RetryLater
from bot.github.handlers import handle
from bot.refresh import refresh_pull_request
from bot.report.render import usd
from bot.review import Review
from bot.services import Services

log = logging.getLogger(__name__)
LEADER_LOCK = 0x4147_5350  # "AGSP": the advisory lock id for periodic jobs
REFRESH_RETRY = timedelta(seconds=30)
KEEP_DONE_DELIVERIES = timedelta(days=30)
DELIVERY_BATCH = 50
TICK_BUDGET = timedelta(seconds=5)
ORG_CONFIG_MAX_AGE = timedelta(minutes=30)
"""How stale the organisation config may get; a push to the `.github` repository refetches it at the next tick."""
RECENT_ACTIVITY = timedelta(days=14)


async def process_deliveries(svc: Services, limit: int = 50) -> int:
    """Run the handler of every due delivery; returns how many were handled.

    The claimed batch is handled in one transaction (a commit per delivery was most of the
    cost under load); if any of it fails, the batch is rolled back and handled one delivery at
    a time, so a bad delivery is retried or failed on its own and the others still go through.
    """
    async with session_scope(svc.engine) as db:
        claimed = await deliveries.claim_due(db, limit, svc.settings.lease)
    if not claimed:
        return 0
    try:
        async with session_scope(svc.engine) as db:
            for delivery in claimed:
                await _handle(svc, db, delivery)
            await deliveries.mark_done(db, *(d.id for d in claimed))
    except Exception:  # noqa: BLE001 - each delivery gets its own transaction, and its own error
        for delivery in claimed:
            await _process(svc, delivery)
    return len(claimed)


async def _handle(svc: Services, db: AsyncSession, delivery: deliveries.Claimed) -> None:
    event = events.parse(delivery.event, delivery.payload)
    if event is not None:
        await handle(db, delivery.event, event, app_id=svc.github.app_id)


async def _process(svc: Services, delivery: deliveries.Claimed) -> None:
    try:
        async with session_scope(svc.engine) as db:
            await _handle(svc, db, delivery)
            await deliveries.mark_done(db, delivery.id)
    except events.EventError as exc:
        await _failed(svc, delivery, f"bad payload: {exc}", final=True)
    except Exception as exc:  # noqa: BLE001 - contained: counted, logged, retried with backoff
        log.exception("delivery %s (%s) failed", delivery.id, delivery.event)
        await _failed(svc, delivery, f"{type(exc).__name__}: {exc}")


async def _failed(svc: Services, delivery: deliveries.Claimed, error: str, final: bool = False) -> None:
    attempts = deliveries.MAX_ATTEMPTS if final else delivery.attempts
    async with session_scope(svc.engine) as db:
        state = await deliveries.mark_failed_attempt(db, delivery.id, attempts, error)
    log.warning("delivery %s: %s (now %s)", delivery.id, error, state)


async def refresh_dirty(svc: Services, limit: int = 20) -> int:
    """Refresh every due dirty pull request; returns how many were refreshed."""
    async with session_scope(svc.engine) as db:
        claimed = await pulls.claim_dirty(db, limit, svc.settings.lease)
    for pull_id in claimed:
        retry_after: timedelta | None = timedelta(0)  # cancelled half-way (shutdown): again, at once
        try:
            await refresh_pull_request(svc, pull_id)
            retry_after = None
        except RetryLater as exc:
            retry_after = timedelta(seconds=max(exc.retry_after, 1))
            log.warning("refresh of pull %s postponed %ss: GitHub rate limit", pull_id, int(exc.retry_after))
        except Exception:  # noqa: BLE001 - contained: the pull request is retried later
            retry_after = REFRESH_RETRY
            log.exception("refresh of pull %s failed; retrying in %s", pull_id, REFRESH_RETRY)
        finally:
            await asyncio.shield(_release(svc, pull_id, retry_after))
    return len(claimed)


async def _release(svc: Services, pull_id: int, retry_after: timedelta | None) -> None:
    async with session_scope(svc.engine) as db:
        await pulls.release(db, pull_id, retry_after)


async def drain(svc: Services, patience: timedelta = timedelta(seconds=5)) -> tuple[int, int]:
    """Handle deliveries and refresh pull requests until nothing is pending, waiting out debounces
    but not retries (the demo and tests use it; the service's worker loop does the same work)."""
    handled = refreshed = 0
    while True:
        step = await process_deliveries(svc), await refresh_dirty(svc)
        handled, refreshed = handled + step[0], refreshed + step[1]
        if step != (0, 0):
            continue
        async with session_scope(svc.engine) as db:
            due = await pulls.next_refresh_at(db)
        wait = (due - datetime.now(UTC)).total_seconds() if due else None
        if wait is None or wait > patience.total_seconds():
            return handled, refreshed
        await asyncio.sleep(max(wait, 0.05))


async def prune_deliveries(svc: Services) -> int:
    """Delete processed deliveries after a month; failed ones stay until someone looks."""
    cutoff = datetime.now(UTC) - KEEP_DONE_DELIVERIES
    table = Delivery.__table__
    async with session_scope(svc.engine) as db:
        result = await db.execute(sa.delete(table).where(table.c.state == "done", table.c.received_at < cutoff))
    return result.rowcount


async def sync_org_configs(svc: Services, force: bool = False) -> int:
    """Fetch each installation's organisation config and resolve its GitHub teams; returns how many were fetched."""
    async with session_scope(svc.engine) as db:
        found = await dashboard.installations(db)
        stale = []
        for installation_id, owner in found:
            _, fetched_at = await dashboard.org_config_text(db, owner)
            if force or fetched_at is None or datetime.now(UTC) - fetched_at > ORG_CONFIG_MAX_AGE:
                stale.append((installation_id, owner))
    for installation_id, owner in stale:
        text = await svc.github.file_text(f"{owner}/{org_config.CONFIG_REPO}", org_config.CONFIG_FILE, installation_id)
        config = org_config.parse(text)
        members: dict[str, set[str]] = {}
        if isinstance(config, org_config.OrgConfig):
            for team, entries in config.teams.items():
                members[team] = {e.lower() for e in entries if not e.startswith("@")}
            for team, org, slug in config.github_teams():
                members[team] |= {m.lower() for m in await svc.github.team_members(org, slug, installation_id)}
        else:
            log.warning("organisation config of %s: %s", owner, config.describe())
        async with session_scope(svc.engine) as db:
            await dashboard.store_org_config(db, owner, text)
            if isinstance(config, org_config.OrgConfig):
                await dashboard.replace_teams(db, owner, members)
    return len(stale)


async def check_alerts(svc: Services, at: datetime | None = None) -> int:
    """Claim every newly crossed tier of every time-window budget and warn once per window; returns messages sent."""
    sent = 0
    async with session_scope(svc.engine) as db:
        owners = await dashboard.installed_repos(db)
    for owner, repos in sorted(owners.items()):
        config = await overview.config_of(svc, owner)
        if not isinstance(config, org_config.OrgConfig):
            continue
        webhook = config.alerts.webhook_url
        statuses = await overview.alert_statuses(svc, owner, repos, config, at)
        async with session_scope(svc.engine) as db:
            for status in statuses:
                await stored_alerts.claim(db, owner, status, "pending" if webhook else "unsent")
            due = await stored_alerts.due(db, owner)
        sent += await _send_alerts(svc, webhook, due, {(s.budget.scope, s.budget.subject, s.budget.period): s for s in statuses})
    return sent


async def _send_alerts(svc: Services, webhook: str | None, due: list[Any], statuses: dict[tuple[str, str, str], Any]) -> int:
    """One message per budget window: the highest tier claimed; the lower ones it jumped past go with it."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for row in due:
        groups.setdefault((row.scope, row.subject, row.period, row.window_start), []).append(row)
    sent = 0
    for (scope, subject, period, _), rows in groups.items():
        status = statuses.get((scope, subject, period))
        if webhook is None or status is None:
            continue
        top = max(rows, key=lambda r: r.tier)
        try:
            await notify.post(webhook, alert_message(status, top.tier), allow_http=svc.settings.allow_http_webhooks)
        except notify.NotifyError as exc:
            log.warning("alert for %s %s not delivered: %s", scope, subject, exc)
            async with session_scope(svc.engine) as db:
                await stored_alerts.mark(db, [r.id for r in rows], "failed", str(exc))
            continue
        async with session_scope(svc.engine) as db:
            await stored_alerts.mark(db, [r.id for r in rows], "sent")
        sent += 1
    return sent


async def weekly_digest(svc: Services, at: datetime | None = None) -> int:
    """The past ISO week's review for each installation, sent once to its webhook (if any); returns digests made."""
    at = at or datetime.now(UTC)
    monday = (at - timedelta(days=at.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    week = metrics.Window("week", monday - timedelta(days=7), monday)
    made = 0
    async with session_scope(svc.engine) as db:
        found = await dashboard.installations(db)
        owners = await dashboard.installed_repos(db)
    table = Digest.__table__
    for installation_id, owner in found:
        async with session_scope(svc.engine) as db:
            done = (await db.execute(sa.select(table.c.state).where(
                table.c.installation_id == installation_id, table.c.week_start == week.start))).scalar_one_or_none()
        if done is not None:
            continue
        figures, result = await overview.weekly(svc, owner, owners.get(owner, set()), week)
        summary = {"owner": owner, "start": week.start.isoformat(), "end": week.end.isoformat(),
                   "metrics": figures.metrics.as_dict(), "review": result.as_dict()}
        config = await overview.config_of(svc, owner)
        webhook = config.alerts.webhook_url if isinstance(config, org_config.OrgConfig) else None
        state = "unsent"
        if webhook:
            try:
                await notify.post(webhook, digest_text(owner, figures.metrics, result), allow_http=svc.settings.allow_http_webhooks)
                state = "sent"
            except notify.NotifyError as exc:
                log.warning("weekly digest of %s not delivered: %s", owner, exc)
                state = "failed"
        async with session_scope(svc.engine) as db:
            await db.execute(sa.insert(table).values(installation_id=installation_id, week_start=week.start,
                                                     summary_json=json.dumps(summary), state=state, created_at=datetime.now(UTC)))
        made += 1
    return made


def digest_text(owner: str, m: metrics.Metrics, result: Review) -> str:
    per_change = usd(m.value.cost_per_accepted_change) if m.value.cost_per_accepted_change is not None else "—"
    top = result.prevent[0] if result.prevent else None
    lines = [
        f"AgentSpend weekly digest for {owner}, week of {m.window.start:%Y-%m-%d}:",
        f"agent spend {usd(m.spend.total.cost_usd)}; cost per accepted change {per_change} "
        f"({m.value.accepted} accepted of {m.value.closed} closed); abandoned {usd(m.value.abandoned_usd)}, "
        f"reverted {usd(m.value.reverted_usd)}.",
        f"{len(result.useful)} expensive sessions were useful, {len(result.wasteful)} wasteful.",
    ]
    if top is not None:
        lines.append(f"Most to prevent: {top.kind} ({usd(top.avoidable_usd)}): {top.fix}")
    return "\n".join(lines)


async def reconcile(svc: Services) -> int:
    """Heal missed webhooks: refresh open pull requests with recent activity (their state comes back from
    GitHub), fetch merge SHAs that a missed `closed` never gave us, and decide every outcome again."""
    prs = PullRequestRow.__table__
    since = datetime.now(UTC) - RECENT_ACTIVITY
    async with session_scope(svc.engine) as db:
        recent = sa.or_(prs.c.dirty_since >= since, prs.c.opened_at >= since)
        marked = await pulls.mark_dirty(db, sa.and_(prs.c.state == "open", recent))
        missing = (await db.execute(sa.select(prs.c.id, prs.c.repo, prs.c.number, prs.c.installation_id).where(
            prs.c.merged, prs.c.merge_commit_sha.is_(None), sa.or_(prs.c.closed_at.is_(None), prs.c.closed_at >= since)))).all()
    for row in missing:
        sha = await svc.github.merge_commit_sha(row.repo, row.number, row.installation_id)
        if sha:
            async with session_scope(svc.engine) as db:
                await pulls.record_publication(db, row.id, merge_commit_sha=sha)
    async with session_scope(svc.engine) as db:
        await recompute_all(db)
    return marked + len(missing)


async def tick(svc: Services, budget: timedelta = TICK_BUDGET) -> None:
    """One round of the worker: every due delivery (batch after batch, so a burst is drained at
    the speed of the database rather than one batch a tick), then due pull requests. Under a
    sustained flood the deliveries stop after `budget` so refreshes still get their turn."""
    until = asyncio.get_running_loop().time() + budget.total_seconds()
    while await process_deliveries(svc, DELIVERY_BATCH) == DELIVERY_BATCH and asyncio.get_running_loop().time() < until:
        pass
    await refresh_dirty(svc)


def scheduler(svc: Services, tick_seconds: float = 1.0) -> AsyncIOScheduler:
    """The worker tick on every instance (a pull request's debounce is 2 s, so a trace that
    arrives after the webhook is on GitHub within seconds), housekeeping on the leader only."""
    sched = AsyncIOScheduler(timezone="UTC")
    sched.add_job(tick, "interval", seconds=tick_seconds, args=(svc,), max_instances=1, coalesce=True,
                  misfire_grace_time=None)
    for job, every in ((prune_deliveries, {"hours": 6}), (sync_org_configs, {"minutes": 5}), (check_alerts, {"minutes": 5}),
                       (weekly_digest, {"hours": 1}), (reconcile, {"hours": 24})):
        sched.add_job(_as_leader, "interval", **every, args=(svc, job), max_instances=1, coalesce=True)
    return sched


async def _as_leader(svc: Services, job) -> None:  # noqa: ANN001 - any job of this module
    if svc.engine.dialect.name != "postgresql":
        await job(svc)
        return
    async with svc.engine.connect() as conn:
        got = (await conn.execute(sa.select(sa.func.pg_try_advisory_lock(LEADER_LOCK)))).scalar_one()
        if not got:
            return
        try:
            await job(svc)
        finally:
            await conn.execute(sa.select(sa.func.pg_advisory_unlock(LEADER_LOCK)))

"""Refresh one pull request: fetch its facts once, decide in pure steps, write only what changed.

This is the only code path that writes to GitHub in normal operation. A burst of events for a
pull request becomes one call here (dirty flag plus debounce), and an unchanged rendering is
not sent again.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot import attribution, outcomes
from bot.db import outcomes as stored_outcomes
from bot.db import pulls, queries
from bot.db.engine import session_scope
from bot.github import repo_config
from bot.github.events import reverted_shas
from bot.github.facts import PullFacts
from bot.report import budget, build, render, waste
from bot.services import Services

log = logging.getLogger(__name__)
MARKER = "<!-- agentspend:v1 -->"
APPROVER_ROLES = {"admin", "maintain"}


@dataclass(frozen=True, slots=True)
class Delta:
    previous_head: str
    amount: float


async def refresh_pull_request(svc: Services, pull_id: int) -> str:
    """Returns what happened: "published", "unchanged" or "silent" (a human deleted our comment)."""
    async with session_scope(svc.engine) as db:
        pr = await pulls.get(db, pull_id)
    facts = await svc.github.pull_facts(pr.repo, pr.number, pr.installation_id)

    async with session_scope(svc.engine) as db:
        await _record_outcome_facts(db, pr, facts)
        trailers = {key for commit in facts.commits for key in attribution.trailer_sessions(commit.message)}
        candidates = await queries.load_sessions(db, queries.sessions_for_pull(pr.repo, trailers), with_spans=False)
        others = [_stored_facts(row) for row in await pulls.open_pulls(db, pr.repo, pull_id)]
        owners = await queries.owners_of(db, [s.key for s in candidates])
        requested = [a for a in await pulls.approvals_of(db, pull_id) if a.status == "requested"]

    config = repo_config.parse(facts.config_text)
    linked = attribution.link(facts, candidates, others, owner_of=owners.get)
    kept = {link.session_key for link in linked.links}
    async with session_scope(svc.engine) as db:  # only the linked sessions' spans: a repository's history can be millions
        sessions = await queries.attach_spans(db, [s for s in candidates if s.key in kept])
    report = build.build(sessions, svc.prices.source)
    thresholds, report.waste_thresholds = waste.thresholds(config, "on the base branch")
    report.findings = waste.find(sessions, thresholds, svc.prices)
    decisions = [await _decide(svc, facts, config, a, report.total.cost_usd) for a in requested]

    async with session_scope(svc.engine) as db:
        for approval_id, granted, amount in decisions:
            await pulls.decide_approval(db, approval_id, granted, amount)
        granted_rows = [a for a in await pulls.approvals_of(db, pull_id) if a.status == "granted"]
        await pulls.replace_links(db, pull_id, [(l.session_key, str(l.evidence), l.detail) for l in linked.links])
    approvals = [budget.Approval(by=a.by, at=a.at, amount_usd=a.amount_usd or 0.0, reason=a.reason) for a in granted_rows]
    verdict = budget.evaluate(report, config, facts.labels, approvals)
    report.budget = verdict.as_dict()

    delta = _delta(pr, report.total.cost_usd)
    body = render.comment(
        report, marker=MARKER, verdict=verdict, delta=delta, approvals=approvals, ties=linked.ties,
        evidence={l.session_key: f"{l.evidence}: {l.detail}" for l in linked.links},
    )
    check = render.check_output(report, verdict)
    async with session_scope(svc.engine) as db:
        await pulls.record_publication(db, pull_id, report_json=render.as_json(report).decode())
    return await _publish(svc, pr, facts, body if report.sessions or pr.comment_id else None, check, report.total.cost_usd)


async def _record_outcome_facts(db: Any, pr: Any, facts: PullFacts) -> None:
    """What GitHub says now heals a missed `closed` or `reopened` webhook; the commits let a later
    `This reverts commit <sha>` find this pull request, and its own revert lines count once it merges."""
    await stored_outcomes.record_commits(db, pr.id, [c.sha for c in facts.commits])
    reverted = [sha for c in facts.commits for sha in reverted_shas(c.message)]
    for sha in reverted:
        await stored_outcomes.record_revert(db, pr.repo, outcomes.pull_key(pr.id), outcomes.commit_key(sha))
    state = {"state": facts.state, "merged": facts.merged, "closed_at": facts.closed_at, "merged_at": facts.merged_at,
             "is_fork": facts.is_fork}
    if facts.author:
        state["author"] = facts.author
    changed = (pr.state, pr.merged) != (facts.state, facts.merged)
    await pulls.record_publication(db, pr.id, **state)
    if changed or reverted or await stored_outcomes.outcome_of(db, pr.id) is None:
        await stored_outcomes.recompute(db, pr.repo)


def _delta(pr: Any, total: float) -> Delta | None:
    """Spend since the previous head; None when there is no previous push or nothing changed
    (so a push that costs nothing new leaves the comment untouched)."""
    if pr.previous_cost_usd is None or not pr.previous_head_sha or round(total - pr.previous_cost_usd, 2) == 0:
        return None
    return Delta(pr.previous_head_sha, total - pr.previous_cost_usd)


async def _publish(svc: Services, pr: Any, facts: PullFacts, body: str | None, check: Any, total: float) -> str:
    """Write the check run and the comment, each only when its rendering changed.

    `body` None: no comment yet and nothing to say — a first comment notifies everyone, so it
    waits for data (the check run still reports "no agent traces").
    """
    changes: dict[str, Any] = {}
    check_digest = _digest(repr(check))
    if check_digest != pr.check_digest or facts.head_sha != pr.check_head_sha:
        same_sha = facts.head_sha == pr.check_head_sha
        changes["check_run_id"] = await svc.github.upsert_check_run(
            pr.repo, facts.head_sha, pr.installation_id, check, pr.check_run_id if same_sha else None
        )
        changes |= {"check_digest": check_digest, "check_head_sha": facts.head_sha}
    comment_digest = _digest(body or "")
    outcome = "unchanged"
    if body is not None and comment_digest != pr.comment_digest and pr.comment_id != 0:
        changes["comment_id"] = await svc.github.upsert_comment(pr.repo, pr.number, pr.installation_id, body, pr.comment_id, MARKER)
        changes |= {"comment_digest": comment_digest, "published_cost_usd": total}
        outcome = "published" if changes["comment_id"] else "silent"
    elif changes:
        outcome = "published"
    if changes:
        async with session_scope(svc.engine) as db:
            await pulls.record_publication(db, pr.id, **changes)
    log.info("refresh %s#%s: %s (total $%.4f)", pr.repo, pr.number, outcome, total)
    return outcome


async def _decide(svc: Services, facts: PullFacts, config: Any, approval: Any, spent: float) -> tuple[int, bool, float]:
    """An approval counts only from a listed approver or a user with admin/maintain permission,
    checked through the API now (never from the replayed event)."""
    allowed = await _may_approve(svc, facts, config, approval.by)
    log.info("approval by %s on %s#%s %s", approval.by, facts.repo, facts.number, "granted" if allowed else "refused")
    return approval.id, allowed, spent


async def _may_approve(svc: Services, facts: PullFacts, config: Any, login: str) -> bool:
    approvers = config.budget.approvers if isinstance(config, repo_config.RepoConfig) else []
    for entry in approvers:
        if entry.startswith("@") and "/" in entry:
            org, team = entry[1:].split("/", 1)
            if await svc.github.team_member(org, team, login, facts.installation_id):
                return True
        elif entry.lower() == login.lower():
            return True
    return await svc.github.permission(facts.repo, login, facts.installation_id) in APPROVER_ROLES


def _stored_facts(row: Any) -> PullFacts:
    """What we know of another open pull request without asking GitHub (enough to find ties)."""
    return PullFacts(
        repo=row.repo, number=row.number, installation_id=row.installation_id, head_sha=row.head_sha,
        head_ref=row.head_ref, base_ref=row.base_ref, base_sha="", is_fork=row.is_fork, opened_at=_aware(row.opened_at),
    )


def _aware(at: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; attribution compares them with aware ones."""
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()

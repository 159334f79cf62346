"""What each webhook means to us: record the fact, mark pull requests dirty, never call GitHub.

Every handler is small and idempotent (a delivery may be processed twice); the refresh job
turns "dirty" into one GitHub write per pull request.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import outcomes as outcome_keys
from bot.db import dashboard, outcomes, pulls, tokens
from bot.github.events import (
    CheckRunEvent,
    CheckSuiteEvent,
    InstallationEvent,
    InstallationRepositoriesEvent,
    IssueCommentEvent,
    PullRequestEvent,
    PushEvent,
)

log = logging.getLogger(__name__)
Handler = Callable[[AsyncSession, Any, int | None], Awaitable[None]]


async def installation(db: AsyncSession, event: InstallationEvent, app_id: int | None) -> None:
    if event.action == "created":
        await tokens.upsert_installation(db, event.installation_id, event.account_login, event.account_type, deleted=False, suspended=False)
        await tokens.add_repos(db, event.installation_id, list(event.repositories))
    elif event.action == "deleted":
        await tokens.upsert_installation(db, event.installation_id, event.account_login, event.account_type, deleted=True)
    else:
        await tokens.upsert_installation(db, event.installation_id, event.account_login, event.account_type,
                                         suspended=event.action == "suspend")


async def installation_repositories(db: AsyncSession, event: InstallationRepositoriesEvent, app_id: int | None) -> None:
    await tokens.upsert_installation(db, event.installation_id, event.account_login, None)
    await tokens.add_repos(db, event.installation_id, list(event.repositories_added))
    await tokens.remove_repos(db, event.installation_id, list(event.repositories_removed))


OUTCOME_ACTIONS = frozenset({"opened", "reopened", "closed"})
"""The actions that can change what became of a pull request."""


async def pull_request(db: AsyncSession, event: PullRequestEvent, app_id: int | None) -> None:
    """Any change to a pull request (new head, labels, base, close) means: refresh it.

    Closing, merging and reopening also decide its outcome again; a merged pull request made by
    GitHub's Revert button records what it reverts.
    """
    await tokens.ensure_installation(db, event.installation_id, event.repo.split("/", 1)[0])
    await tokens.add_repos(db, event.installation_id, [event.repo])
    # Only overwritten when the payload has them: a merge SHA once known is not forgotten.
    facts = {key: value for key, value in (("author", event.author), ("merge_commit_sha", event.merge_commit_sha)) if value}
    pull_id = await pulls.upsert_pull(
        db, repo=event.repo, number=event.number, installation_id=event.installation_id,
        head_sha=event.head_sha, head_ref=event.head_ref, base_ref=event.base_ref, is_fork=event.is_fork,
        state=event.state, merged=event.merged, merged_at=event.merged_at,
        opened_at=event.created_at, closed_at=event.closed_at, **facts,
    )
    if event.action not in OUTCOME_ACTIONS:
        return
    if event.merged and event.reverts is not None:
        reverted_repo, reverted_number = event.reverts
        await outcomes.record_revert(db, event.repo, outcome_keys.pull_key(pull_id),
                                     outcome_keys.number_key(reverted_repo, reverted_number))
    await outcomes.recompute(db, event.repo)


async def push(db: AsyncSession, event: PushEvent, app_id: int | None) -> None:
    """New commits may carry `Agent-Session:` trailers: refresh the open PRs of that branch.

    On the default branch, `This reverts commit <sha>.` lines are revert signals: they have landed.
    """
    if event.deleted or event.branch is None:
        return
    await pulls.mark_dirty(db, pulls.on_branch(event.repo, event.branch))
    if event.branch != event.default_branch:
        return
    owner, _, name = event.repo.partition("/")
    if name == ".github":
        await dashboard.expire_org_config(db, owner)
    signals = [(commit.id, sha) for commit in event.commits for sha in commit.reverts]
    for commit_sha, reverted in signals:
        await outcomes.record_revert(db, event.repo, outcome_keys.commit_key(commit_sha), outcome_keys.commit_key(reverted))
    if signals:
        await outcomes.recompute(db, event.repo)


async def check_run(db: AsyncSession, event: CheckRunEvent, app_id: int | None) -> None:
    """Re-run or a button on OUR check; other apps' check runs are none of our business."""
    if app_id is not None and event.app_id != app_id:
        return
    if event.action == "requested_action" and event.requested_action == "approve":
        for pull_id in await pulls.ids_where(db, pulls.at_head(event.repo, event.head_sha)):
            await pulls.request_approval(db, pull_id, event.sender.login, "approved from the check run")
    await pulls.mark_dirty(db, pulls.at_head(event.repo, event.head_sha))


async def check_suite(db: AsyncSession, event: CheckSuiteEvent, app_id: int | None) -> None:
    """`pull_requests` is empty for forks, so the head SHA, not the payload's list, finds the PR."""
    await pulls.mark_dirty(db, pulls.at_head(event.repo, event.head_sha))


async def issue_comment(db: AsyncSession, event: IssueCommentEvent, app_id: int | None) -> None:
    """`/agentspend approve <reason>` on a pull request: recorded now, checked at refresh."""
    if not event.is_pull_request or event.command is None or event.author_type == "Bot":
        return
    verb, reason = event.command
    if verb != "approve" or not event.author:
        return
    row = await pulls.find(db, event.repo, event.issue_number)
    if row is None:
        log.info("approval on %s#%s ignored: pull request not tracked yet", event.repo, event.issue_number)
        return
    await pulls.request_approval(db, row.id, event.author, reason or "(no reason given)")
    await pulls.mark_dirty(db, pulls.by_number(event.repo, event.issue_number))


async def _nothing(db: AsyncSession, event: Any, app_id: int | None) -> None:
    """Handled and deliberately without effect (ping; check_suite.requested for every push)."""


HANDLERS: dict[tuple[str, str | None], Handler] = {
    **{("installation", a): installation for a in ("created", "deleted", "suspend", "unsuspend")},
    **{("installation_repositories", a): installation_repositories for a in ("added", "removed")},
    **{("pull_request", a): pull_request for a in
       ("opened", "reopened", "synchronize", "edited", "labeled", "unlabeled", "closed")},
    ("push", None): push,
    ("check_run", "rerequested"): check_run,
    ("check_run", "requested_action"): check_run,
    ("check_suite", "rerequested"): check_suite,
    ("check_suite", "requested"): _nothing,
    ("issue_comment", "created"): issue_comment,
    ("ping", None): _nothing,
}


async def handle(db: AsyncSession, event_name: str, event: Any, app_id: int | None) -> None:
    handler = HANDLERS.get((event_name, getattr(event, "action", None)))
    if handler is None:
        log.info("unhandled event %s.%s", event_name, getattr(event, "action", None))
        return
    await handler(db, event, app_id)

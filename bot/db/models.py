"""The tables: traces (sessions, spans, cursors), the GitHub side (installations, deliveries, pull requests, links, approvals, tokens), outcomes and reverts, and the dashboard's (organisation config, alerts, access cache, digests).

Spans are keyed by their namespaced native id alone, not by session, because the same model
call can arrive through several files (resumed or forked sessions); one row per call is what
makes re-ingest idempotent and double counting impossible.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def _now() -> datetime:
    return datetime.now(UTC)


class SessionRow(SQLModel, table=True):
    __tablename__ = "sessions"

    key: str = Field(primary_key=True)
    runtime: str = Field(index=True)
    integration: str
    parent_key: str | None = Field(default=None, index=True)
    agent_name: str | None = None
    user: str | None = None
    repo: str | None = Field(default=None, index=True)
    branch: str | None = None
    commits: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    cwd: str | None = None
    started_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    ended_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    source: str | None = None
    owner: str | None = Field(default=None, index=True)
    """The ingest token's owner that uploaded it (None for local `agentspend ingest`)."""
    updated_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))


class SpanRow(SQLModel, table=True):
    __tablename__ = "spans"

    span_id: str = Field(primary_key=True)
    session_key: str = Field(foreign_key="sessions.key", index=True)
    parent_id: str | None = None
    run_type: str
    name: str
    model: str | None = None
    provider: str | None = None
    started_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    duration_ms: int | None = None
    has_usage: bool = False
    """False when the source did not report usage: the token columns are then meaningless."""
    input: int = Field(default=0, sa_type=sa.BigInteger)
    output: int = Field(default=0, sa_type=sa.BigInteger)
    cache_read: int = Field(default=0, sa_type=sa.BigInteger)
    cache_write_5m: int = Field(default=0, sa_type=sa.BigInteger)
    cache_write_1h: int = Field(default=0, sa_type=sa.BigInteger)
    reasoning: int = Field(default=0, sa_type=sa.BigInteger)
    total_tokens: int = Field(default=0, sa_type=sa.BigInteger)
    """Kept so an upsert can keep the copy with the most usage in one SQL statement."""
    cost_usd: float | None = None
    reported_cost_usd: float | None = None
    price_ref: str | None = None
    tier: str | None = None
    """The billing tier the cost was priced at (bot.trace.Span.tier); None for the standard one."""
    web_searches: int = 0
    """Server-side web searches of the call, priced per search (bot.trace.Span.web_searches)."""
    status: str = "ok"
    error_kind: str | None = None
    tool_name: str | None = None
    tool_input_hash: str | None = None
    child_session_key: str | None = Field(default=None, index=True)
    sidechain: bool = False
    request_id: str | None = Field(default=None, index=True)
    """The provider's request id: where a telemetry copy of a call meets the logged call."""
    origin: str = "log"
    """log | telemetry | metric (bot.trace.Origin)."""


class IngestCursor(SQLModel, table=True):
    """How far `agentspend ingest` has read each log file, so a re-run reads only new bytes."""

    __tablename__ = "ingest_cursors"

    path: str = Field(primary_key=True)
    adapter: str
    offset: int = Field(default=0, sa_type=sa.BigInteger)
    size: int = Field(default=0, sa_type=sa.BigInteger)
    mtime_ns: int = Field(default=0, sa_type=sa.BigInteger)
    state: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    updated_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))


class Installation(SQLModel, table=True):
    """A GitHub App installation: whose repositories we may comment on and ingest for."""

    __tablename__ = "installations"

    id: int = Field(primary_key=True, sa_type=sa.BigInteger, sa_column_kwargs={"autoincrement": False})
    account_login: str = Field(index=True)
    account_type: str | None = None
    suspended: bool = False
    deleted: bool = False
    updated_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))


class InstallationRepo(SQLModel, table=True):
    __tablename__ = "installation_repos"

    repo: str = Field(primary_key=True)
    """`owner/name`, lower-cased."""
    installation_id: int = Field(index=True, sa_type=sa.BigInteger)


class Delivery(SQLModel, table=True):
    """A webhook delivery, stored before it is acknowledged so a crash or outage loses nothing."""

    __tablename__ = "deliveries"

    id: str = Field(primary_key=True)
    """`X-GitHub-Delivery`: a redelivery keeps its id, so it cannot have a second effect."""
    event: str
    action: str | None = None
    installation_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    payload: bytes = Field(sa_type=sa.LargeBinary)
    state: str = Field(default="pending", index=True)
    """pending | done | failed."""
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True), index=True)
    last_error: str | None = None
    received_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))
    processed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class PullRequestRow(SQLModel, table=True):
    """What we know of a pull request, and what we last published on it."""

    __tablename__ = "pull_requests"
    __table_args__ = (sa.UniqueConstraint("repo", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    repo: str = Field(index=True)
    number: int
    installation_id: int = Field(sa_type=sa.BigInteger)
    head_sha: str
    head_ref: str = Field(index=True)
    base_ref: str
    is_fork: bool = False
    """The head branch lives in another repository (or one since deleted): a session on a
    same-named branch of this repository is no evidence for it, nor a tie with it."""
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    """From the raw `closed` payload (githubkit's 2026-03-10 models no longer carry it)."""
    author: str | None = None
    """The pull request's author: whom its sessions' spend is charged to in per-user figures."""
    merged_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    opened_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    dirty: bool = Field(default=True, index=True)
    dirty_since: datetime | None = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))
    refresh_after: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    """Debounce and retry: the refresh job leaves the PR alone until then."""
    lease_until: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))
    """Held by the refresh in progress, so two workers never publish the same PR at once."""
    comment_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    """0 means a human deleted our comment: we do not come back (Codecov's `once`)."""
    comment_digest: str | None = None
    check_run_id: int | None = Field(default=None, sa_type=sa.BigInteger)
    check_head_sha: str | None = None
    check_digest: str | None = None
    published_cost_usd: float | None = None
    """The total shown at the last publication, for "change since the last push"."""
    previous_cost_usd: float | None = None
    previous_head_sha: str | None = None
    report_json: str | None = Field(default=None, sa_type=sa.Text)
    """The last refresh's report as JSON: the report route serves exactly what the comment showed."""


class Link(SQLModel, table=True):
    """A session counted on a pull request, with the evidence the comment shows."""

    __tablename__ = "links"

    pull_id: int = Field(foreign_key="pull_requests.id", primary_key=True)
    session_key: str = Field(primary_key=True, index=True)
    evidence: str
    detail: str


class Approval(SQLModel, table=True):
    """An approved budget overrun: who, when, how much and why."""

    __tablename__ = "approvals"

    id: int | None = Field(default=None, primary_key=True)
    pull_id: int = Field(foreign_key="pull_requests.id", index=True)
    by: str
    at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))
    amount_usd: float | None = None
    """The spend approved, set when the approval is granted (it covers that amount, no more)."""
    reason: str
    status: str = "requested"
    """requested | granted | refused: handlers only record the request; the refresh checks the
    approver's permission through the API, because handlers never call GitHub."""


class IngestToken(SQLModel, table=True):
    """A Bearer token for trace uploads; only its hash is stored."""

    __tablename__ = "ingest_tokens"

    token_hash: str = Field(primary_key=True)
    owner: str = Field(index=True)
    """The installation account login whose repositories this token may write sessions for."""
    created_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))
    last_used_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class PullCommit(SQLModel, table=True):
    """A commit of a pull request (recorded at refresh), so "This reverts commit <sha>" finds the pull request."""

    __tablename__ = "pull_commits"

    pull_id: int = Field(foreign_key="pull_requests.id", primary_key=True)
    sha: str = Field(primary_key=True, index=True)


class Revert(SQLModel, table=True):
    """One revert signal, as seen: `source` undoes `target` once `source` has landed.

    Keys are text so the fact can be stored before either side is known: `commit:<sha>` (a
    commit pushed to the default branch, or of a pull request), `pull:<id>` (a pull request of
    ours), `number:<owner/repo>#<n>` (the Revert button's "Reverts owner/repo#N").
    """

    __tablename__ = "reverts"

    repo: str = Field(primary_key=True)
    source: str = Field(primary_key=True)
    target: str = Field(primary_key=True)
    seen_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))


class Outcome(SQLModel, table=True):
    """What became of a pull request, recomputed from its state and every revert signal."""

    __tablename__ = "outcomes"

    pull_id: int = Field(foreign_key="pull_requests.id", primary_key=True)
    outcome: str = Field(index=True)
    """open | accepted | abandoned | reverted | revert (a merged revert of another change)."""
    reverted_by: str | None = None
    """What undid it: `#12` or a commit SHA."""
    reverts: str | None = None
    """For a revert: the pull request (`#5`) or commit it undid."""
    decided_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))


class OrgConfig(SQLModel, table=True):
    """An account's `agentspend.yml` from its `.github` repository, as last fetched (teams and alerts)."""

    __tablename__ = "org_configs"

    owner: str = Field(primary_key=True)
    """The account login, lower-cased."""
    text: str | None = Field(default=None, sa_type=sa.Text)
    """None: the account has no such file (no teams, no alerts)."""
    fetched_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))


class TeamMember(SQLModel, table=True):
    """A member of a team named in the organisation config (listed there, or read from a GitHub team)."""

    __tablename__ = "team_members"

    owner: str = Field(primary_key=True)
    team: str = Field(primary_key=True)
    login: str = Field(primary_key=True)


class AlertRow(SQLModel, table=True):
    """A tier of a time-window budget crossed: claimed once per window, then sent to the webhook."""

    __tablename__ = "alerts"
    __table_args__ = (sa.UniqueConstraint("owner", "scope", "subject", "period", "window_start", "tier"),)

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(index=True)
    scope: str
    """user | team | repo | org."""
    subject: str
    period: str
    """hourly | daily | weekly | monthly."""
    window_start: datetime = Field(sa_type=sa.DateTime(timezone=True))
    tier: float
    budget_usd: float
    spent_usd: float
    state: str = "pending"
    """pending | sent | failed (retried) | unsent (no webhook configured: shown on the dashboard only)."""
    attempts: int = 0
    error: str | None = None
    created_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))
    sent_at: datetime | None = Field(default=None, sa_type=sa.DateTime(timezone=True))


class AccessCheck(SQLModel, table=True):
    """Whether a signed-in user's own token can see a repository, asked of GitHub and kept briefly."""

    __tablename__ = "access_cache"

    login: str = Field(primary_key=True)
    repo: str = Field(primary_key=True)
    """`owner/name` lower-cased; `*` marks "the list of the user's repositories was fetched"."""
    allowed: bool
    checked_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))


class Digest(SQLModel, table=True):
    """The weekly digest of an installation, sent once per week."""

    __tablename__ = "digests"

    installation_id: int = Field(primary_key=True, sa_type=sa.BigInteger, sa_column_kwargs={"autoincrement": False})
    week_start: datetime = Field(primary_key=True, sa_type=sa.DateTime(timezone=True))
    summary_json: str = Field(sa_type=sa.Text)
    state: str = "pending"
    """pending | sent | failed | unsent (no webhook configured)."""
    created_at: datetime = Field(default_factory=_now, sa_type=sa.DateTime(timezone=True))

"""Talk to GitHub as the App: read a pull request's facts, and keep our one comment and one check run current.

This is the only module that imports githubkit's client, and it returns our own dataclasses
(`bot.github.facts`), never githubkit models. Fields we depend on are read from `Response.json()`
dicts, because githubkit validates its models lazily and a field GitHub drops or adds turns
`.parsed_data` into a `ValidationError` (docs/github.md §3, gotcha 6).

Waiting is the caller's business: a rate limit that asks for more than a few seconds raises
`RetryLater` instead of sleeping inside a job, so the job is re-queued and the worker stays free.

`RecordingClient` has the same methods and sends nothing: `AGENTSPEND_DRY_RUN` and `agentspend
demo` use it, and it keeps every write for inspection. `make_client` picks one of the two.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, Self

import httpx
from githubkit import AppAuthStrategy, AppInstallationAuthStrategy, GitHub, OAuthWebAuthStrategy, TokenAuthStrategy
from githubkit.cache import MemCacheStrategy
from githubkit.exception import AuthExpiredError, GitHubException, RateLimitExceeded, RequestError, RequestFailed
from githubkit.response import Response
from githubkit.retry import RetryOption

from bot.github.facts import CheckAction, CheckOutput, CommitFact, PullFacts
from bot.github.repo_config import CONFIG_PATH
from bot.settings import Settings

log = logging.getLogger(__name__)

API_VERSION: Final = "2026-03-10"
"""Pinned, so a githubkit-schemas upgrade cannot change the shapes we read without a code change."""

USER_AGENT = "AgentSpend"
TIMEOUT_SECONDS = 15.0
"""githubkit's default is no timeout at all; a hung connection would hold a job forever."""

MAX_INLINE_WAIT = 10.0
"""The longest rate-limit wait we sleep through inside a job; anything longer becomes `RetryLater`."""

SERVER_ERROR_BACKOFF = (0.5, 1.0, 2.0)
"""Seconds before each retry of a 5xx answer: three retries, 3.5 s at worst, then the error propagates."""

LISTED_COMMITS = 250
"""GitHub's list-commits endpoint for a pull request stops at 250 commits (see `pull_facts`)."""

MAX_COMMITS = 5000
"""The most commits of one pull request we read (50 requests); a bigger one is read up to here."""

MAX_OUTPUT = 65535
"""Check run `output.summary` and `output.text`, in characters."""

MAX_ACTIONS = 3
ACTION_LIMITS = {"label": 20, "description": 40, "identifier": 20}
TRUNCATED = "\n\n… *(truncated: GitHub shows at most 65,535 characters here)*"

COMMENT_DELETED = 0
"""What `upsert_comment` returns after a person deleted our comment: store it, and we stay silent on that PR."""

CHECK_NAME = "AgentSpend"
"""Branch protection matches required checks by this name: never change it casually."""

RAW = {"Accept": "application/vnd.github.raw+json"}
VERSIONED = {"X-GitHub-Api-Version": API_VERSION}
OLD_API_VERSION: Final = "2022-11-28"
"""Only for `merge_commit_sha`, which the pinned version no longer returns."""
"""githubkit's paginator sends only the headers we pass on pages after the first (docs/github.md §3, gotcha 7)."""

ROLES = ("admin", "maintain", "write", "triage", "read", "none")


class RetryLater(Exception):
    """GitHub asked us to wait longer than a job should block; re-queue the job after `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"GitHub rate limit: retry after {retry_after:.0f} s")
        self.retry_after = retry_after


class GitHubApi(Protocol):
    """What the service needs from GitHub; `GitHubClient` does it for real, `RecordingClient` on paper."""

    @property
    def app_id(self) -> int: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def pull_facts(
        self, repo: str, number: int, installation_id: int, config_path: str = CONFIG_PATH
    ) -> PullFacts: ...

    async def upsert_comment(
        self, repo: str, number: int, installation_id: int, body: str, comment_id: int | None, marker: str
    ) -> int: ...

    async def upsert_check_run(
        self, repo: str, head_sha: str, installation_id: int, output: CheckOutput, check_run_id: int | None = None,
        name: str = CHECK_NAME, external_id: str | None = None,
    ) -> int: ...

    async def create_in_progress_check(
        self, repo: str, head_sha: str, installation_id: int, title: str, name: str = CHECK_NAME
    ) -> int: ...

    async def permission(self, repo: str, login: str, installation_id: int) -> str: ...

    async def team_member(self, org: str, team_slug: str, login: str, installation_id: int) -> bool: ...

    async def file_text(self, repo: str, path: str, installation_id: int) -> str | None: ...

    async def team_members(self, org: str, team_slug: str, installation_id: int) -> list[str]: ...

    async def merge_commit_sha(self, repo: str, number: int, installation_id: int) -> str | None: ...


def make_client(settings: Settings) -> GitHubApi:
    """The real client, or a recording one when `AGENTSPEND_DRY_RUN` is set (it needs no App credentials)."""
    if settings.dry_run:
        return RecordingClient(app_id=int(settings.github_app_id or 0))
    return GitHubClient(settings)


# --- the real client -----------------------------------------------------------------------------


class GitHubClient:
    """GitHub's REST API as our App, one installation token per installation, one connection pool for all.

    Use it as `async with GitHubClient(settings) as gh:` for the service's lifetime; leaving the
    block closes the connection pool.
    """

    def __init__(self, settings: Settings) -> None:
        if not (settings.github_app_id and settings.github_private_key):
            raise ValueError("GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY are required unless AGENTSPEND_DRY_RUN=1")
        self._app_id = int(settings.github_app_id)
        self._private_key = settings.github_private_key
        self._pool = httpx.AsyncHTTPTransport()
        self._app = GitHub(
            AppAuthStrategy(self._app_id, self._private_key),
            base_url=settings.github_api_url,
            user_agent=USER_AGENT,
            timeout=TIMEOUT_SECONDS,
            # githubkit's default token cache is shared by the whole process; ours belongs to this client,
            # so two clients (two Apps, or two test servers) never hand each other's tokens around.
            cache_strategy=MemCacheStrategy(),
            # ETag revalidation would keep every pull request we ever read in memory, for requests that
            # the dirty flag and debounce already make rare.
            http_cache=False,
            auto_retry=_retry,
            async_transport=_SharedPool(self._pool),
        )
        self._installations: dict[int, GitHub[AppInstallationAuthStrategy]] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._pool.aclose()

    @property
    def app_id(self) -> int:
        return self._app_id

    async def pull_facts(
        self, repo: str, number: int, installation_id: int, config_path: str = CONFIG_PATH
    ) -> PullFacts:
        """The pull request, its commits and our config at its base branch: three requests, one more per 100 commits.

        GitHub lists at most 250 commits of a pull request (the oldest ones), so the commits of a
        bigger one are read from the comparison of its base and head instead, which pages through
        all of them (up to MAX_COMMITS): trailers in its later commits still attribute sessions.
        """
        gh, (owner, name) = self._installation(installation_id), _split(repo)
        pr = (await gh.rest(API_VERSION).pulls.async_get(owner, name, number)).json()
        commits = None
        if pr.get("commits", 0) > LISTED_COMMITS:
            commits = await self._compared_commits(gh, owner, name, f"{pr['base']['sha']}...{pr['head']['sha']}")
        if commits is None:
            commits = await self._commits(gh, owner, name, number)
        if pr.get("commits", 0) > len(commits):
            log.warning("%s#%s has %s commits; only the first %s are read", repo, number, pr["commits"], len(commits))
        base_ref = pr["base"]["ref"]
        return PullFacts(
            repo=repo.lower(),
            number=number,
            installation_id=installation_id,
            head_sha=pr["head"]["sha"],
            head_ref=pr["head"]["ref"],
            base_ref=base_ref,
            base_sha=pr["base"]["sha"],
            author=(pr.get("user") or {}).get("login"),
            labels=tuple(label["name"] for label in pr.get("labels") or ()),
            state=pr["state"],
            merged=bool(pr.get("merged")),
            is_fork=_is_fork(pr),
            opened_at=_time(pr.get("created_at")),
            closed_at=_time(pr.get("closed_at")),
            merged_at=_time(pr.get("merged_at")),
            commits=commits,
            # Never the head: the author of a pull request must not be able to raise their own budget.
            config_text=await self._file(gh, owner, name, config_path, base_ref),
        )

    async def upsert_comment(
        self, repo: str, number: int, installation_id: int, body: str, comment_id: int | None, marker: str
    ) -> int:
        """Edit our one comment in place (edits notify nobody) and return its id, to be stored.

        `comment_id` is what the caller stored: None when we never posted (then we look for our marker,
        so a lost id does not produce a second comment), or `COMMENT_DELETED`. A person deleting our
        comment is read as "not on this PR": we return `COMMENT_DELETED` and never post again there,
        like Codecov's `once` behaviour (docs/github.md §8, lesson 1).
        """
        if marker not in body:
            raise ValueError(f"the comment body must contain its marker {marker!r}, or we cannot find it again")
        if comment_id == COMMENT_DELETED:
            return COMMENT_DELETED
        gh, (owner, name) = self._installation(installation_id), _split(repo)
        issues = gh.rest(API_VERSION).issues
        if comment_id is not None:
            try:
                await issues.async_update_comment(owner, name, comment_id, body=body)
            except RequestFailed as failure:
                if failure.response.status_code != 404:
                    raise
                log.info("%s#%s: our comment %s was deleted; staying silent on this PR", repo, number, comment_id)
                return COMMENT_DELETED
            return comment_id
        return await self._heal_or_create(gh, owner, name, number, body, marker)

    async def upsert_check_run(
        self, repo: str, head_sha: str, installation_id: int, output: CheckOutput, check_run_id: int | None = None,
        name: str = CHECK_NAME, external_id: str | None = None,
    ) -> int:
        """Complete our check run on `head_sha` with `output`, creating it if that SHA has none of ours yet.

        A required check must always report, so this always sends `status: completed`. The stored
        `check_run_id` is preferred when it is one of our runs on this SHA; otherwise GitHub's newest run
        of ours with this name on the SHA is updated (the "waiting for traces" one, say).
        """
        gh, (owner, repo_name) = self._installation(installation_id), _split(repo)
        checks = gh.rest(API_VERSION).checks
        body = _completed(_fit(output), external_id)
        listed = await checks.async_list_for_ref(
            owner, repo_name, head_sha, check_name=name, app_id=self._app_id, filter_="latest", per_page=100
        )
        ours = [run["id"] for run in listed.json()["check_runs"]]
        if ours:
            run_id = check_run_id if check_run_id in ours else ours[0]
            await checks.async_update(owner, repo_name, run_id, data=body)
            return run_id
        created = await checks.async_create(owner, repo_name, data={"name": name, "head_sha": head_sha, **body})
        return int(created.json()["id"])

    async def create_in_progress_check(
        self, repo: str, head_sha: str, installation_id: int, title: str, name: str = CHECK_NAME
    ) -> int:
        """A quiet `in_progress` run on a new head SHA, so branch protection shows us as pending, not missing."""
        gh, (owner, repo_name) = self._installation(installation_id), _split(repo)
        output = {"title": title, "summary": title}
        data = {"name": name, "head_sha": head_sha, "status": "in_progress", "output": output}
        created = await gh.rest(API_VERSION).checks.async_create(owner, repo_name, data=data)
        return int(created.json()["id"])

    async def permission(self, repo: str, login: str, installation_id: int) -> str:
        """admin | maintain | write | triage | read | none; asked now, never taken from a replayed event."""
        gh, (owner, name) = self._installation(installation_id), _split(repo)
        try:
            answer = await gh.rest(API_VERSION).repos.async_get_collaborator_permission_level(owner, name, login)
        except RequestFailed as failure:
            if failure.response.status_code == 404:  # no such user
                return "none"
            raise
        level = answer.json()
        # A custom repository role reports its own name in role_name; its base role is in `permission`.
        return level["role_name"] if level.get("role_name") in ROLES else level.get("permission", "none")

    async def team_member(self, org: str, team_slug: str, login: str, installation_id: int) -> bool:
        """True for an active member (or maintainer) of the team; a pending invitation does not count."""
        gh = self._installation(installation_id)
        try:
            answer = await gh.rest(API_VERSION).teams.async_get_membership_for_user_in_org(org, team_slug, login)
        except RequestFailed as failure:
            if failure.response.status_code == 404:
                return False
            raise
        return answer.json().get("state") == "active"

    async def file_text(self, repo: str, path: str, installation_id: int) -> str | None:
        """A file on the repository's default branch (the organisation config), None when missing.

        A repository the installation cannot see answers 404 too: for an organisation without a
        `.github` repository, or one the App is not installed on, that means "no config".
        """
        gh, (owner, name) = self._installation(installation_id), _split(repo)
        try:
            answer = await gh.rest(API_VERSION).repos.async_get_content(owner, name, path, headers=RAW)
        except RequestFailed as failure:
            if failure.response.status_code == 404:
                return None
            raise
        return answer.text

    async def team_members(self, org: str, team_slug: str, installation_id: int) -> list[str]:
        """Logins of the team's members (child teams included, as GitHub lists them); [] for an unknown team."""
        gh = self._installation(installation_id)
        pages = gh.rest.paginate(
            gh.rest(API_VERSION).teams.async_list_members_in_org, _json_list,
            org=org, team_slug=team_slug, per_page=100, headers=VERSIONED,
        )
        try:
            return [member["login"] async for member in pages]
        except RequestFailed as failure:
            if failure.response.status_code == 404:
                return []
            raise

    async def merge_commit_sha(self, repo: str, number: int, installation_id: int) -> str | None:
        """The merge commit of a merged pull request, for when its `closed` webhook was missed.

        API version 2026-03-10 dropped the field (docs/github.md §3, gotcha 1); 2022-11-28 still has it.
        """
        gh, (owner, name) = self._installation(installation_id), _split(repo)
        answer = await gh.arequest("GET", f"/repos/{owner}/{name}/pulls/{number}", headers={"X-GitHub-Api-Version": OLD_API_VERSION})
        return answer.json().get("merge_commit_sha")

    # helpers

    def _installation(self, installation_id: int) -> GitHub[AppInstallationAuthStrategy]:
        """One githubkit client per installation; it shares our config, token cache and connection pool."""
        if installation_id not in self._installations:
            auth = AppInstallationAuthStrategy(self._app_id, self._private_key, installation_id)
            self._installations[installation_id] = self._app.with_auth(auth)
        return self._installations[installation_id]

    async def _commits(
        self, gh: GitHub[AppInstallationAuthStrategy], owner: str, name: str, number: int
    ) -> tuple[CommitFact, ...]:
        return await _first_commits(gh.rest.paginate(
            gh.rest(API_VERSION).pulls.async_list_commits, _json_list,
            owner=owner, repo=name, pull_number=number, per_page=100, headers=VERSIONED,
        ), LISTED_COMMITS)

    async def _compared_commits(
        self, gh: GitHub[AppInstallationAuthStrategy], owner: str, name: str, basehead: str
    ) -> tuple[CommitFact, ...] | None:
        """The commits the pull request's head adds to its base, oldest first. Unpaged, GitHub
        answers with the newest 250 only; asked page by page (per_page), with every one. None
        when GitHub will not compare them (404: a head gone; 422: a comparison it refuses):
        the list of the first 250 is still there."""
        try:
            return await _first_commits(gh.rest.paginate(
                gh.rest(API_VERSION).repos.async_compare_commits, _compared,
                owner=owner, repo=name, basehead=basehead, per_page=100, headers=VERSIONED,
            ), MAX_COMMITS)
        except RequestFailed as failure:
            if failure.response.status_code not in (404, 422):
                raise
            log.warning("%s/%s: GitHub did not compare %s (%s); reading the listed commits",
                        owner, name, basehead, failure.response.status_code)
            return None

    async def _file(
        self, gh: GitHub[AppInstallationAuthStrategy], owner: str, name: str, path: str, ref: str
    ) -> str | None:
        """A file's text at `ref`, or None when it does not exist there (then the repository has no config)."""
        try:
            # The raw media type returns the bytes themselves: no base64, no union of content types.
            answer = await gh.rest(API_VERSION).repos.async_get_content(owner, name, path, ref=ref, headers=RAW)
        except RequestFailed as failure:
            if failure.response.status_code == 404:
                return None
            raise
        return answer.text

    async def _heal_or_create(
        self, gh: GitHub[AppInstallationAuthStrategy], owner: str, name: str, number: int, body: str, marker: str
    ) -> int:
        """Adopt our marked comment if one exists; of several (racing writers), keep the oldest, delete the rest."""
        issues = gh.rest(API_VERSION).issues
        pages = gh.rest.paginate(
            issues.async_list_comments, _json_list,
            owner=owner, repo=name, issue_number=number, per_page=100, headers=VERSIONED,
        )
        # Only comments our App wrote count: a person quoting our marker must not be overwritten.
        # GitHub sets performed_via_github_app on every comment written with an installation token.
        ours = [c async for c in pages if _by_app(c, self._app_id) and marker in (c.get("body") or "")]
        if not ours:
            created = await issues.async_create_comment(owner, name, number, body=body)
            return int(created.json()["id"])
        keep, *extra = ours  # listed oldest first
        if keep.get("body") != body:
            await issues.async_update_comment(owner, name, keep["id"], body=body)
        for duplicate in extra:
            await issues.async_delete_comment(owner, name, duplicate["id"])
        return int(keep["id"])


class _SharedPool(httpx.AsyncBaseTransport):
    """Lends one connection pool to the short-lived httpx clients githubkit builds, and ignores their close.

    Outside `async with` githubkit builds (and closes) a new httpx client per request: ~85 ms each
    against the loopback fake, ~9 ms with this shared pool, most of the difference a fresh TLS
    context. Its `async with` does not help a service: the open client lives in a ContextVar, so only
    the task that entered it (and tasks it starts later) see it, while webhook requests and scheduler
    jobs run in other tasks. Sharing the transport keeps connections for every task;
    `GitHubClient.__aexit__` closes the pool itself.
    """

    def __init__(self, pool: httpx.AsyncHTTPTransport) -> None:
        self._pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._pool.handle_async_request(request)

    async def aclose(self) -> None:
        """Called by every per-request client; the pool outlives them."""


def _retry(exc: GitHubException, attempt: int) -> RetryOption:
    """githubkit's retry hook: a few quick retries of 5xx, one short rate-limit wait, else `RetryLater`.

    githubkit's own default sleeps the whole wait a rate limit asks for, up to an hour for a primary
    limit, inside whatever awaited the request; a job must never do that.
    """
    # A failure while minting the installation token surfaces wrapped in RequestError.
    failure = exc.exc if isinstance(exc, RequestError) and isinstance(exc.exc, RequestFailed) else exc
    if isinstance(failure, RateLimitExceeded):
        # githubkit treats a zero timedelta as "no wait given" and sleeps 60 s: never hand it one.
        wait = max(failure.retry_after.total_seconds(), 1.0)
        if attempt == 0 and wait <= MAX_INLINE_WAIT:
            log.warning("rate limited on %s; retrying in %.0f s", failure.request.url.path, wait)
            return RetryOption(True, timedelta(seconds=wait))
        raise RetryLater(wait) from failure
    retries_left = attempt < len(SERVER_ERROR_BACKOFF)
    if isinstance(failure, RequestFailed) and failure.response.status_code >= 500 and retries_left:
        status, path = failure.response.status_code, failure.request.url.path
        log.warning("GitHub answered %s on %s; retry %d of %d", status, path, attempt + 1, len(SERVER_ERROR_BACKOFF))
        return RetryOption(True, timedelta(seconds=SERVER_ERROR_BACKOFF[attempt]))
    return RetryOption(False)


# --- GitHub's JSON to our facts --------------------------------------------------------------------


def _split(repo: str) -> tuple[str, str]:
    owner, _, name = repo.partition("/")
    if not owner or not name:
        raise ValueError(f"expected owner/name, got {repo!r}")
    return owner, name


def _json_list(response: Response[Any]) -> list[dict[str, Any]]:
    return response.json()


def _compared(response: Response[Any]) -> list[dict[str, Any]]:
    return response.json()["commits"]


async def _first_commits(pages: AsyncIterator[Mapping[str, Any]], limit: int) -> tuple[CommitFact, ...]:
    commits: list[CommitFact] = []
    async for commit in pages:
        commits.append(_commit(commit))
        if len(commits) == limit:
            break
    return tuple(commits)


def _is_fork(pr: Mapping[str, Any]) -> bool:
    """The head lives in another repository, or in one that was deleted (GitHub then sends `repo: null`)."""
    head, base = pr["head"].get("repo"), pr["base"]["repo"]
    return head is None or head["full_name"].lower() != base["full_name"].lower()


def _commit(commit: Mapping[str, Any]) -> CommitFact:
    author = commit["commit"].get("author") or {}
    return CommitFact(
        sha=commit["sha"],
        message=commit["commit"]["message"],
        authored_at=_time(author.get("date")),
        author_login=(commit.get("author") or {}).get("login"),
    )


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _by_app(comment: Mapping[str, Any], app_id: int) -> bool:
    return (comment.get("performed_via_github_app") or {}).get("id") == app_id


# --- GitHub's limits on check runs -----------------------------------------------------------------


def _fit(output: CheckOutput) -> CheckOutput:
    """The same output within GitHub's limits, so an oversized report still completes the check (no 422)."""
    if len(output.actions) > MAX_ACTIONS:
        log.warning("check run has %d actions; GitHub shows %d", len(output.actions), MAX_ACTIONS)
    return replace(
        output,
        summary=_cut(output.summary),
        text=None if output.text is None else _cut(output.text),
        actions=tuple(_fit_action(action) for action in output.actions[:MAX_ACTIONS]),
    )


def _cut(markdown: str) -> str:
    """At most MAX_OUTPUT characters, cut at a line break, with a note saying so.

    Lengths are counted in UTF-16 code units, which is never fewer than characters, so an
    emoji-heavy report cannot slip past the limit whichever way GitHub counts.
    """
    if _utf16_len(markdown) <= MAX_OUTPUT:
        return markdown
    budget = MAX_OUTPUT - _utf16_len(TRUNCATED)
    kept = markdown.encode("utf-16-le")[: 2 * budget].decode("utf-16-le", errors="ignore")  # drops a split pair
    head, newline, _ = kept.rpartition("\n")
    return (head if newline else kept) + TRUNCATED


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit_action(action: CheckAction) -> CheckAction:
    """Labels and descriptions are shortened with an ellipsis; the identifier is cut, since GitHub sends it back."""
    return CheckAction(
        label=_clip(action.label, ACTION_LIMITS["label"]),
        description=_clip(action.description, ACTION_LIMITS["description"]),
        identifier=action.identifier[: ACTION_LIMITS["identifier"]],
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _completed(output: CheckOutput, external_id: str | None) -> dict[str, Any]:
    """The body of a create or update that leaves the run completed with `output`."""
    body: dict[str, Any] = {
        "status": "completed",
        "conclusion": output.conclusion,
        "output": {"title": output.title, "summary": output.summary}
        | ({"text": output.text} if output.text is not None else {}),
        # Always sent, even empty, so buttons from an earlier rendering disappear when they no longer apply.
        "actions": [asdict(action) for action in output.actions],
    }
    if output.details_url:
        body["details_url"] = output.details_url
    if external_id:
        body["external_id"] = external_id
    return body


# --- the recording client --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Write:
    """One call that would have changed something on GitHub."""

    method: str
    arguments: dict[str, Any]


@dataclass
class RecordingClient:
    """Sends nothing: keeps every write in `writes`, serves reads from what it was given.

    Ids are synthetic and increasing. Check-run outputs are recorded after GitHub's limits are
    applied, so a dry run shows exactly what would have been sent.
    """

    facts: Mapping[tuple[str, int], PullFacts] = field(default_factory=dict)
    """(repo, number) -> facts; `repo` as the caller spells it."""
    permissions: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """(repo, login) -> role; anyone else has "none"."""
    teams: Mapping[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    """(org, team slug) -> member logins."""
    files: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """(repo, path) -> text on the default branch."""
    app_id: int = 0
    writes: list[Write] = field(default_factory=list)
    _ids: int = field(default=0, init=False, repr=False)
    _runs: dict[tuple[str, str, str], int] = field(default_factory=dict, init=False, repr=False)
    """(repo, head sha, name) -> the id of our newest run there."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    async def pull_facts(
        self, repo: str, number: int, installation_id: int, config_path: str = CONFIG_PATH
    ) -> PullFacts:
        try:
            return self.facts[(repo, number)]
        except KeyError:
            raise LookupError(f"RecordingClient was given no facts for {repo}#{number}") from None

    async def upsert_comment(
        self, repo: str, number: int, installation_id: int, body: str, comment_id: int | None, marker: str
    ) -> int:
        if comment_id == COMMENT_DELETED:
            return COMMENT_DELETED
        self._record("upsert_comment", repo=repo, number=number, installation_id=installation_id, body=body,
                     comment_id=comment_id, marker=marker)
        return comment_id if comment_id is not None else self._next_id()

    async def upsert_check_run(
        self, repo: str, head_sha: str, installation_id: int, output: CheckOutput, check_run_id: int | None = None,
        name: str = CHECK_NAME, external_id: str | None = None,
    ) -> int:
        self._record("upsert_check_run", repo=repo, head_sha=head_sha, installation_id=installation_id,
                     output=_fit(output), check_run_id=check_run_id, name=name, external_id=external_id)
        return self._run_id(repo, head_sha, name)

    async def create_in_progress_check(
        self, repo: str, head_sha: str, installation_id: int, title: str, name: str = CHECK_NAME
    ) -> int:
        self._record("create_in_progress_check", repo=repo, head_sha=head_sha, installation_id=installation_id,
                     title=title, name=name)
        self._runs[(repo, head_sha, name)] = self._next_id()
        return self._runs[(repo, head_sha, name)]

    async def permission(self, repo: str, login: str, installation_id: int) -> str:
        return self.permissions.get((repo, login), "none")

    async def team_member(self, org: str, team_slug: str, login: str, installation_id: int) -> bool:
        return login in self.teams.get((org, team_slug), frozenset())

    async def file_text(self, repo: str, path: str, installation_id: int) -> str | None:
        return self.files.get((repo, path))

    async def team_members(self, org: str, team_slug: str, installation_id: int) -> list[str]:
        return sorted(self.teams.get((org, team_slug), frozenset()))

    async def merge_commit_sha(self, repo: str, number: int, installation_id: int) -> str | None:
        return None

    def to_json(self) -> str:
        """The writes as a JSON list of {method, arguments}, for `agentspend demo` and dry-run logs."""
        return json.dumps([asdict(write) for write in self.writes], indent=2)

    def _record(self, method: str, **arguments: Any) -> None:
        self.writes.append(Write(method, arguments))

    def _run_id(self, repo: str, head_sha: str, name: str) -> int:
        """Like the real client: one run of ours per (SHA, name), created the first time."""
        key = (repo, head_sha, name)
        if key not in self._runs:
            self._runs[key] = self._next_id()
        return self._runs[key]

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids


# --- signed-in people: the App's OAuth web flow and what a person's own token can see ------------


class SignInError(Exception):
    """GitHub refused the sign-in (a bad or used code, wrong client credentials); the message is safe to show."""


def web_url(api_url: str) -> str:
    """Where people sign in: github.com for api.github.com, the host itself for GitHub Enterprise (…/api/v3) or a test server."""
    url = httpx.URL(api_url)
    if url.host == "api.github.com":
        return "https://github.com"
    return str(url.copy_with(raw_path=b"/")).rstrip("/")


class GitHubUsers:
    """GitHub as the signed-in person sees it, through their own user token: who they are, which repositories they can see.

    The dashboard never uses the App's installation token to decide what a person may see.
    """

    def __init__(self, settings: Settings) -> None:
        self._client_id = settings.github_client_id
        self._client_secret = settings.github_client_secret
        self._api_url = settings.github_api_url
        self._pool = httpx.AsyncHTTPTransport()

    @property
    def configured(self) -> bool:
        return bool(self._client_id and self._client_secret)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._pool.aclose()

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        query = httpx.QueryParams({"client_id": self._client_id or "", "redirect_uri": redirect_uri, "state": state})
        return f"{web_url(self._api_url)}/login/oauth/authorize?{query}"

    async def exchange_code(self, code: str, redirect_uri: str) -> str:
        """The user access token for the code GitHub handed our callback (single use)."""
        auth = OAuthWebAuthStrategy(self._client_id or "", self._client_secret or "", code, redirect_uri)
        try:
            token = await auth.async_exchange_token(self._github(None))
        except AuthExpiredError as refused:
            detail = refused.args[1] if len(refused.args) > 1 and isinstance(refused.args[1], dict) else {}
            raise SignInError(detail.get("error_description") or "GitHub did not accept the sign-in code") from None
        return str(token.token)

    async def login(self, token: str) -> str:
        gh = self._github(token)  # held: githubkit's namespaces keep only a weak reference to their client
        return (await gh.rest(API_VERSION).users.async_get_authenticated()).json()["login"]

    async def repositories(self, token: str) -> set[str]:
        """`owner/name` (lower-cased) of every repository the person can see through their token."""
        gh = self._github(token)
        pages = gh.rest.paginate(gh.rest(API_VERSION).repos.async_list_for_authenticated_user, _json_list,
                                 per_page=100, headers=VERSIONED)
        return {repo["full_name"].lower() async for repo in pages}

    async def can_see(self, token: str, repo: str) -> bool:
        """Asked of GitHub with the person's token: a 404 (or 403) means they cannot."""
        owner, name = _split(repo)
        gh = self._github(token)
        try:
            await gh.rest(API_VERSION).repos.async_get(owner, name)
        except RequestFailed as failure:
            if failure.response.status_code in (403, 404):
                return False
            raise
        return True

    def _github(self, token: str | None) -> GitHub[Any]:
        return GitHub(
            TokenAuthStrategy(token) if token else None, base_url=self._api_url, user_agent=USER_AGENT,
            timeout=TIMEOUT_SECONDS, http_cache=False, auto_retry=_retry, cache_strategy=MemCacheStrategy(),
            async_transport=_SharedPool(self._pool),
        )

"""Who is asking, and which repositories they may see: only what their own GitHub token can access.

A person signs in with GitHub (the App's OAuth web flow, `bot.web.auth`); the encrypted session
cookie holds their login and user token. Scripts may instead send that token as
`Authorization: Bearer …`. Every repository, pull request and figure is filtered through
`visible_repos` / `can_see`; anything else answers 404, exactly as for a repository that does
not exist, so the dashboard never confirms that a private repository is there.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from githubkit.exception import GitHubException
from litestar import Request
from litestar.exceptions import NotFoundException

from bot.db import access, dashboard
from bot.db.engine import session_scope
from bot.web import services

log = logging.getLogger(__name__)
_BEARER_LOGINS: dict[str, tuple[str, float]] = {}
"""sha256(token) → (login, when asked): a script's token is not sent to GET /user on every call."""


@dataclass(frozen=True, slots=True)
class Viewer:
    login: str
    token: str


async def viewer(request: Request) -> Viewer | None:
    """The signed-in person (session cookie) or the owner of a Bearer GitHub token; None for anyone else."""
    session = request.scope.get("session") or {}
    if isinstance(session, dict) and session.get("login") and session.get("token"):
        return Viewer(session["login"], session["token"])
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return await _bearer_viewer(request, token.strip())


async def _bearer_viewer(request: Request, token: str) -> Viewer | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    known = _BEARER_LOGINS.get(digest)
    if known and time.monotonic() - known[1] < access.TTL.total_seconds():
        return Viewer(known[0], token)
    try:
        login = await services(request).users.login(token)
    except GitHubException:
        log.info("API request with a GitHub token that GitHub refused")
        return None
    _BEARER_LOGINS[digest] = (login, time.monotonic())
    return Viewer(login, token)


async def visible_repos(request: Request, who: Viewer, owner: str | None = None) -> set[str]:
    """Installed repositories (of `owner`, if given) that the person's token can see."""
    svc = services(request)
    async with session_scope(svc.engine) as db:
        installed = await dashboard.installed_repos(db)
        known = await access.fresh(db, who.login)
    candidates = set().union(*installed.values()) if owner is None else installed.get(owner.lower(), set())
    if access.LISTED not in known:
        listed = await svc.users.repositories(who.token)
        # Only the yeses: a repository missing from the list may still be visible (public), see can_see.
        answers = [(access.LISTED, True), *((repo, True) for repo in listed & set().union(*installed.values()))]
        async with session_scope(svc.engine) as db:
            await access.remember(db, who.login, answers)
        known = dict(answers)
    return {repo for repo in candidates if known.get(repo)}


async def can_see(request: Request, who: Viewer | None, repo: str) -> bool:
    """Whether `repo` is ours to show and the person's token can access it (asked of GitHub, cached briefly).

    A repository missing from the person's list (a public one, say) is asked about on its own.
    """
    if who is None:
        return False
    repo = repo.lower()
    svc = services(request)
    async with session_scope(svc.engine) as db:
        installed = await dashboard.installed_repos(db)
        known = await access.fresh(db, who.login)
    if repo not in installed.get(repo.split("/", 1)[0], set()):
        return False
    if repo in known:
        return known[repo]
    allowed = await svc.users.can_see(who.token, repo)
    async with session_scope(svc.engine) as db:
        await access.remember(db, who.login, [(repo, allowed)])
    return allowed


async def require(request: Request, repo: str) -> Viewer:
    """The viewer, if they may see `repo`; otherwise 404, as for a repository that does not exist."""
    who = await viewer(request)
    if not await can_see(request, who, repo):
        raise NotFoundException()
    assert who is not None
    return who

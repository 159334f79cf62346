"""One fake GitHub for every test: a real HTTP server on 127.0.0.1 that answers the REST calls AgentSpend makes.

Why a server and not a mocked transport: the code under test builds its own githubkit client from
`Settings.github_api_url`, so pointing that URL here exercises auth, headers, pagination and error
handling as in production. Every request lands in `fake.calls` (tests assert on the order); anything
the fake does not serve is answered 404 like GitHub and also lands in `fake.strays`, so an unexpected
call is visible (the idea of pydantic/hooky's tests/dummy_server.py, grown into a stateful fake).

    with FakeGitHub() as fake:                 # or the `fake_github` pytest fixture below
        fake.seed_hello_world()                # repo, PR #2 and installation 1 of shared/fixtures/github/webhooks
        fake.add_file(HELLO_WORLD, ".github/agentspend.yml", "budget_usd: 5\n", ref="master")
        ...run the code under test with github_api_url=fake.url...
        assert fake.requests() == ["POST /app/installations/1/access_tokens", "GET /repos/Codertocat/Hello-World/pulls/2"]
        fake.fail("POST", "/repos/*/check-runs", status=502)   # the next matching call answers 502

Responses carry every field the OpenAPI description marks `required` (tests/test_fake_github.py checks
this against shared/fixtures/github/openapi/). Requests sending `X-GitHub-Api-Version: 2026-03-10`
(githubkit's default) get that version's shapes: no `merge_commit_sha`/`assignee` on pull requests,
no `has_downloads` on repositories. Ids of comments and check runs are above 2**31, as on github.com.
"""

from __future__ import annotations

import base64
import fnmatch
import functools
import hashlib
import itertools
import json
import re
import secrets
import sys
import threading
import time
import traceback
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlencode

import pytest

HTML = "https://github.com"
DOCS = "https://docs.github.com/rest"
OLD_API, NEW_API = "2022-11-28", "2026-03-10"
MAX_COMMENT = 65536  # issue comment body, characters
MAX_OUTPUT = 65535  # check run output.summary / output.text, characters

# The repository and pull request of shared/fixtures/github/webhooks/pull_request.*.json.
HELLO_WORLD = "Codertocat/Hello-World"
HELLO_HEAD_SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
HELLO_BASE_SHA = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
HELLO_MERGE_SHA = "c4295bd74fb0f4fda03689c3df3f2803b658fd85"

Role = Literal["admin", "maintain", "write", "triage", "read", "none"]
Json = Any


# --- state ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class App:
    """The GitHub App the fake pretends we registered; its bot writes our comments and check runs."""

    id: int = 424242
    slug: str = "agentspend"
    name: str = "AgentSpend"
    owner: str = "agentspend-dev"
    client_id: str = "Iv23liFakeAgentSpend"
    client_secret: str = "fake-client-secret"

    @property
    def bot_login(self) -> str:
        return f"{self.slug}[bot]"


@dataclass
class Repo:
    full_name: str
    id: int
    default_branch: str = "main"
    installation_id: int | None = 1
    private: bool = False
    fork: bool = False
    branches: dict[str, str] = field(default_factory=dict)  # branch name -> head sha

    @property
    def owner(self) -> str:
        return self.full_name.split("/")[0]


@dataclass
class Commit:
    sha: str
    message: str
    author_name: str = "Codertocat"
    author_email: str = "21031067+Codertocat@users.noreply.github.com"
    author_login: str | None = "Codertocat"
    date: str = "2019-05-15T15:20:30Z"
    parents: list[str] = field(default_factory=list)


@dataclass
class PullRequest:
    repo: str
    number: int
    head_sha: str
    head_ref: str
    base_sha: str
    base_ref: str
    id: int
    commits: list[Commit]
    state: Literal["open", "closed"] = "open"
    user: str = "Codertocat"
    title: str = "Update the README with new information."
    body: str | None = None
    labels: list[str] = field(default_factory=list)
    merged: bool = False
    merge_commit_sha: str | None = None
    head_repo: str | None = None  # "someone/Hello-World" for a fork PR; None = same repository
    created_at: str = "2019-05-15T15:20:33Z"
    updated_at: str = "2019-05-15T15:20:33Z"


@dataclass
class Comment:
    id: int
    repo: str
    issue_number: int
    body: str
    user: str
    app: App | None  # performed_via_github_app
    created_at: str
    updated_at: str


@dataclass
class CheckRun:
    id: int
    repo: str
    name: str
    head_sha: str
    app: App
    status: str = "queued"
    conclusion: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    details_url: str | None = None
    external_id: str | None = None
    output: dict[str, str | None] = field(default_factory=lambda: {"title": None, "summary": None, "text": None})
    annotations: list[Json] = field(default_factory=list)
    actions: list[Json] = field(default_factory=list)  # not returned by GitHub, kept for assertions


@dataclass
class Token:
    value: str
    expires_at: datetime
    installation_id: int | None = None  # installation access token
    login: str | None = None  # OAuth user access token


@dataclass
class Call:
    """One request as the fake saw it. `json` is the decoded body (JSON, or a dict for form posts)."""

    method: str
    path: str
    query: dict[str, str]
    json: Json
    headers: dict[str, str]
    status: int = 0

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


@dataclass
class Reply:
    """A response; also what fault scripts queue. `body` is JSON-able, or bytes sent as they are."""

    status: int
    body: Json = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class _Fail(Exception):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply


def error(status: int, message: str, **extra: Json) -> Reply:
    """GitHub's error body: message, documentation_url, status (as a string), plus e.g. `errors`."""
    return Reply(status, {"message": message, "documentation_url": DOCS, **extra, "status": str(status)})


def _fail(status: int, message: str, **extra: Json) -> _Fail:
    return _Fail(error(status, message, **extra))


def _invalid(resource: str, field_: str, message: str) -> _Fail:
    errors = [{"resource": resource, "code": "custom", "field": field_, "message": message}]
    return _fail(422, "Validation Failed", errors=errors)


@dataclass
class _Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Json
    params: dict[str, str]
    version: str
    token: Token | None = None

    @property
    def new_api(self) -> bool:
        return self.version >= NEW_API


@dataclass
class _Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Callable[[FakeGitHub, _Request], Reply]
    auth: Literal["jwt", "token", "user", "none"]


_ROUTES: list[_Route] = []


def _route(method: str, template: str, auth: Literal["jwt", "token", "user", "none"] = "token") -> Callable:
    """Register a handler under its OpenAPI path template (the schema test looks the template up)."""

    def param(m: re.Match[str]) -> str:
        name = m.group(1)
        pattern = ".+" if name == "path" else r"\d+" if name.endswith(("_id", "_number")) else "[^/]+"
        return f"(?P<{name}>{pattern})"

    regex = re.compile("^" + re.sub(r"\{(\w+)\}", param, template) + "$")

    def register(fn: Callable[[FakeGitHub, _Request], Reply]) -> Callable[[FakeGitHub, _Request], Reply]:
        _ROUTES.append(_Route(method, template, regex, fn, auth))
        return fn

    return register


@functools.cache
def private_key_pem() -> str:
    """An RSA key for the fake App, made once per test run (the fake accepts any JWT, signed by anyone)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind):02d}:{kind}{number}".encode()).decode()


def _stable_id(text: str) -> int:
    return 10_000_000 + zlib.crc32(text.encode()) % 90_000_000


# --- the fake ------------------------------------------------------------------------------------


class FakeGitHub:
    """GitHub's REST API for one test: seed state, point githubkit at `url`, then inspect calls and state.

    Seed: add_repo, add_pull, add_commit, add_file, add_comment, add_check_run, set_permission,
    add_team_member, add_user, add_oauth_code (or seed_hello_world for the webhook fixtures' world).
    Inspect: calls, strays, errors, requests(), calls_to(), comments_on(), check_runs_for(), tokens.
    Faults: script(), fail(), rate_limit(), expire_tokens(), and `latency` (seconds added to every reply).
    `strict_auth=False` turns off token checks for tests that build clients with made-up tokens.
    """

    def __init__(self, app: App | None = None, *, strict_auth: bool = True) -> None:
        self.app = app or App()
        self.strict_auth = strict_auth
        self.latency = 0.0
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self.reset()

    # lifecycle

    def start(self) -> FakeGitHub:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-github", daemon=True).start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL for githubkit's `base_url` / our GITHUB_API_URL (also serves /login/oauth/*)."""
        assert self._server is not None, "FakeGitHub is not running; use `with FakeGitHub() as fake:`"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def reset(self) -> None:
        """Forget all state, calls, scripts and tokens; the server keeps running on the same port."""
        with self._lock:
            self.repos: dict[str, Repo] = {}
            self.pulls: dict[tuple[str, int], PullRequest] = {}
            self.commits: dict[tuple[str, str], Commit] = {}
            self.files: dict[tuple[str, str, str], bytes] = {}  # (repo, ref, path) -> content
            self.comments: dict[int, Comment] = {}
            self.check_runs: dict[int, CheckRun] = {}
            self.permissions: dict[tuple[str, str], Role] = {}  # (repo, login) -> role
            self.teams: dict[tuple[str, str], dict[str, str]] = {}  # (org, team slug) -> {login: role}
            self.users: dict[str, tuple[int, str]] = {}  # login -> (id, type)
            self.oauth_codes: dict[str, str] = {}  # code -> login
            self.signed_in: str | None = None  # who is signed in to github.com in "the browser" (see authorize)
            self.tokens: dict[str, Token] = {}
            self.calls: list[Call] = []
            self.strays: list[Call] = []
            self.errors: list[str] = []  # tracebacks of bugs in the fake itself
            self._scripts: list[tuple[str, str, deque[Reply]]] = []
            self._ids = itertools.count(1)
            self._comment_ids = itertools.count(2_200_000_001)
            self._check_run_ids = itertools.count(31_000_000_001)

    def clear_calls(self) -> None:
        """Empty the call log (e.g. after setup calls) without touching state."""
        with self._lock:
            self.calls.clear()
            self.strays.clear()

    # seeding

    def add_user(self, login: str, *, id: int | None = None, type: str = "User") -> None:
        with self._lock:
            self.users[login] = (id or _stable_id(login), type)

    def add_repo(
        self, full_name: str, *, default_branch: str = "main", installation_id: int | None = 1, id: int | None = None,
        private: bool = False,
    ) -> Repo:
        with self._lock:
            repo = Repo(full_name, id or _stable_id(full_name), default_branch, installation_id, private)
            self.repos[full_name] = repo
            return repo

    def add_commit(self, repo: str, commit: Commit, *, branch: str | None = None) -> Commit:
        """Make a SHA known (check runs need one); `branch` moves that branch to it."""
        with self._lock:
            self.commits[(repo, commit.sha)] = commit
            if branch:
                self.repos[repo].branches[branch] = commit.sha
            return commit

    def add_pull(
        self, repo: str, number: int, *, head_sha: str, base_sha: str, head_ref: str = "feature",
        base_ref: str | None = None, commits: list[Commit] | None = None, **fields: Any,
    ) -> PullRequest:
        """Seed a PR; `commits` default to one commit at `head_sha`. Extra fields: see PullRequest."""
        with self._lock:
            base_ref = base_ref or self.repos[repo].default_branch
            commits = commits or [Commit(head_sha, fields.get("title", PullRequest.title))]
            parent = base_sha
            for commit in commits:
                commit.parents = commit.parents or [parent]
                parent = commit.sha
                self.commits[(repo, commit.sha)] = commit
            self.commits.setdefault((repo, base_sha), Commit(base_sha, "Initial commit"))
            pr = PullRequest(repo, number, head_sha, head_ref, base_sha, base_ref, self._stable_pr_id(repo, number),
                             commits, **fields)
            self.pulls[(repo, number)] = pr
            self.repos[repo].branches.setdefault(base_ref, base_sha)
            if not pr.head_repo:
                self.repos[repo].branches[head_ref] = head_sha
            return pr

    def add_file(self, repo: str, path: str, content: str | bytes, *, ref: str | None = None) -> None:
        """File content at one ref exactly as the code will ask for it (a branch name or a SHA)."""
        with self._lock:
            ref = ref or self.repos[repo].default_branch
            self.files[(repo, ref, path)] = content.encode() if isinstance(content, str) else content

    def add_comment(
        self, repo: str, issue_number: int, body: str, *, user: str | None = None, app: App | None = None
    ) -> Comment:
        """A pre-existing PR comment; pass `app=fake.app` for one our bot wrote earlier."""
        with self._lock:
            user = user or (app.bot_login if app else "Codertocat")
            now = _iso(self.clock())
            comment = Comment(next(self._comment_ids), repo, issue_number, body, user, app, now, now)
            self.comments[comment.id] = comment
            return comment

    def add_check_run(self, repo: str, name: str, head_sha: str, *, app: App | None = None, **fields: Any) -> CheckRun:
        with self._lock:
            run = CheckRun(next(self._check_run_ids), repo, name, head_sha, app or self.app, **fields)
            self.check_runs[run.id] = run
            return run

    def set_permission(self, repo: str, login: str, role: Role) -> None:
        with self._lock:
            self.permissions[(repo, login)] = role

    def add_team_member(self, org: str, team_slug: str, login: str, *, role: str = "member") -> None:
        with self._lock:
            self.teams.setdefault((org, team_slug), {})[login] = role

    def add_oauth_code(self, code: str, login: str) -> None:
        """The `code` GitHub would hand our OAuth callback after `login` signs in."""
        with self._lock:
            self.oauth_codes[code] = login

    def sign_in(self, login: str | None) -> None:
        """Who /login/oauth/authorize treats as signed in to GitHub (None: nobody; authorize then refuses)."""
        with self._lock:
            self.signed_in = login

    def user_token(self, login: str) -> str:
        """A user access token for `login`, as the OAuth flow would end with (for API clients in tests)."""
        with self._lock:
            token = self._new_token("ghu_", login=login)
            token.expires_at = self.clock() + timedelta(hours=8)
            return token.value

    def seed_hello_world(self, commits: list[Commit] | None = None) -> PullRequest:
        """Codertocat/Hello-World, installation 1, PR #2 (changes -> master) as in the webhook fixtures."""
        self.add_user("Codertocat", id=21031067)
        self.add_repo(HELLO_WORLD, default_branch="master", installation_id=1, id=186853002)
        self.add_commit(HELLO_WORLD, Commit(HELLO_BASE_SHA, "Initial commit"), branch="master")
        return self.add_pull(
            HELLO_WORLD, 2, head_sha=HELLO_HEAD_SHA, head_ref="changes", base_sha=HELLO_BASE_SHA, base_ref="master",
            commits=commits, labels=["bug"], body="This is a pretty simple change that we need to pull into master.",
            merge_commit_sha=HELLO_MERGE_SHA,
        )

    # inspection

    def requests(self, *, with_status: bool = False) -> list[str]:
        """The call log as "METHOD /path" lines (no query), in arrival order."""
        with self._lock:
            return [str(c) if with_status else f"{c.method} {c.path}" for c in self.calls]

    def calls_to(self, method: str, path: str) -> list[Call]:
        """Calls matching a method ("*" for any) and a path glob, e.g. "/repos/*/check-runs/*"."""
        with self._lock:
            return [c for c in self.calls if method in ("*", c.method) and fnmatch.fnmatchcase(c.path, path)]

    def comments_on(self, repo: str, issue_number: int) -> list[Comment]:
        with self._lock:
            return sorted((c for c in self.comments.values() if (c.repo, c.issue_number) == (repo, issue_number)),
                          key=lambda c: c.id)

    def check_runs_for(self, repo: str, head_sha: str | None = None, name: str | None = None) -> list[CheckRun]:
        with self._lock:
            return [r for r in self.check_runs.values() if r.repo == repo
                    and head_sha in (None, r.head_sha) and name in (None, r.name)]

    # fault injection

    def script(self, method: str, path: str, *replies: Reply) -> None:
        """The next len(replies) calls matching (method, path glob) get these replies instead of the real one."""
        with self._lock:
            self._scripts.append((method, path, deque(replies)))

    def fail(self, method: str, path: str, *, status: int = 502, times: int = 1, delay: float = 0.0) -> None:
        message = {500: "Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "Error")
        self.script(method, path, *[Reply(status, {"message": message}, delay=delay) for _ in range(times)])

    def rate_limit(self, method: str, path: str, *, retry_after: int = 1, secondary: bool = True, times: int = 1) -> None:
        """403 the way GitHub does: secondary limits send Retry-After; primary ones x-ratelimit-remaining: 0."""
        if secondary:
            body = error(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.")
            headers = {"Retry-After": str(retry_after)}
        else:
            body = error(403, "API rate limit exceeded for installation ID 1.")
            reset = int(time.time()) + retry_after
            headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
        self.script(method, path, *[Reply(403, body.body, dict(headers)) for _ in range(times)])

    def expire_tokens(self) -> None:
        """Every issued token is now expired: the next call with one gets 401 Bad credentials."""
        with self._lock:
            for token in self.tokens.values():
                token.expires_at = self.clock() - timedelta(seconds=1)

    @classmethod
    def routes(cls) -> list[tuple[str, str, str]]:
        """(method, OpenAPI path template, auth kind: jwt|token|user|none) of every endpoint served."""
        return [(r.method, r.template, r.auth) for r in _ROUTES]

    # request pipeline

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        """Log the call, then answer it: a scripted fault, a route, or the 404 catch-all."""
        path, _, qs = raw_path.partition("?")
        query = {k: v[0] for k, v in parse_qs(qs, keep_blank_values=True).items()}
        call = Call(method, unquote(path), query, _decode_body(body, headers), headers)
        with self._lock:
            self.calls.append(call)
            scripted = self._take_script(method, call.path)
        if delay := self.latency + (scripted.delay if scripted else 0.0):
            time.sleep(delay)
        if scripted:
            reply = scripted
        else:
            with self._lock:
                reply = self._dispatch(call, path)
        call.status = reply.status
        return reply

    def _canonical(self, params: dict[str, str]) -> dict[str, str]:
        """GitHub matches owner and repository names case-insensitively; so does the fake."""
        if "owner" in params and "repo" in params:
            asked = f"{params['owner']}/{params['repo']}".lower()
            for full_name in self.repos:
                if full_name.lower() == asked:
                    params["owner"], params["repo"] = full_name.split("/", 1)
        return params

    def _take_script(self, method: str, path: str) -> Reply | None:
        for want_method, pattern, replies in self._scripts:
            if replies and want_method in ("*", method) and fnmatch.fnmatchcase(path, pattern):
                return replies.popleft()
        return None

    def _dispatch(self, call: Call, raw_path: str) -> Reply:
        for route in _ROUTES:
            if route.method == call.method and (m := route.regex.match(raw_path)):
                params = self._canonical({k: unquote(v) for k, v in m.groupdict().items()})
                version = call.headers.get("x-github-api-version", OLD_API)
                req = _Request(call.method, call.path, call.query, call.headers, call.json, params, version)
                try:
                    if version not in (OLD_API, NEW_API):
                        raise _fail(400, f"API version {version} is not supported.")
                    self._authorize(route, req)
                    return route.handler(self, req)
                except _Fail as failure:
                    return failure.reply
                except Exception:  # a bug in the fake: answer 500 and keep the traceback for the test
                    self.errors.append(traceback.format_exc())
                    return error(500, "fake GitHub crashed; see fake.errors")
        self.strays.append(call)
        print(f"fake GitHub: stray {call.method} {call.path} -> 404")  # shown in pytest's captured output
        return error(404, "Not Found")

    def _authorize(self, route: _Route, req: _Request) -> None:
        """App routes want a JWT; the rest an unexpired token we issued, for an installation that has the repo."""
        if not self.strict_auth or route.auth == "none":
            return
        scheme, _, credential = req.headers.get("authorization", "").partition(" ")
        if route.auth == "jwt":
            if scheme.lower() != "bearer" or credential.count(".") != 2:
                raise _fail(401, "A JSON web token could not be decoded")
            return
        token = self.tokens.get(credential)
        if scheme.lower() not in ("token", "bearer") or token is None or token.expires_at <= self.clock():
            # githubkit caches installation tokens process-wide (DEFAULT_CACHE_STRATEGY): a token from an
            # earlier test's fake lands here. Give each client its own MemCacheStrategy() in tests.
            raise _fail(401, "Bad credentials", fake_hint="token unknown to this FakeGitHub, or expired")
        req.token = token
        if route.auth == "user" and token.login is None:
            raise _fail(403, "Resource not accessible by integration")
        if "repo" in req.params and (repo := self.repos.get(f"{req.params['owner']}/{req.params['repo']}")):
            # A person sees every public repository, and private ones they have a role on.
            visible = (token.installation_id == repo.installation_id if token.login is None
                       else not repo.private or self._role(repo.full_name, token.login) != "none")
            if not visible:
                raise _fail(404, "Not Found")

    # helpers for handlers

    def _repo(self, req: _Request) -> Repo:
        repo = self.repos.get(f"{req.params['owner']}/{req.params['repo']}")
        if repo is None:
            raise _fail(404, "Not Found")
        return repo

    def _pull(self, req: _Request, number_param: str = "pull_number") -> PullRequest:
        pr = self.pulls.get((self._repo(req).full_name, int(req.params[number_param])))
        if pr is None:
            raise _fail(404, "Not Found")
        return pr

    def _comment(self, req: _Request) -> Comment:
        comment = self.comments.get(int(req.params["comment_id"]))
        if comment is None or comment.repo != self._repo(req).full_name:
            raise _fail(404, "Not Found")
        return comment

    def _check_run(self, req: _Request) -> CheckRun:
        run = self.check_runs.get(int(req.params["check_run_id"]))
        if run is None or run.repo != self._repo(req).full_name:
            raise _fail(404, "Not Found")
        return run

    def _role(self, repo: str, login: str) -> Role:
        if login == repo.split("/")[0]:
            return "admin"
        return self.permissions.get((repo, login), "none")

    def _resolve_sha(self, repo: Repo, ref: str) -> str:
        if (repo.full_name, ref) in self.commits:
            return ref
        if ref in repo.branches:
            return repo.branches[ref]
        raise _fail(422, f"No commit found for SHA: {ref}")

    def _writer(self, req: _Request) -> tuple[str, App | None]:
        """Who a write is attributed to: our bot for installation tokens, the person for OAuth tokens."""
        if req.token and req.token.login:
            return req.token.login, None
        return self.app.bot_login, self.app

    def _page(self, req: _Request, items: list[Any], per_page_default: int = 30) -> tuple[list[Any], dict[str, str]]:
        """Slice by per_page/page and build GitHub's Link header (next/last, then prev/first)."""
        per_page = max(1, min(_int(req.query.get("per_page"), per_page_default), 100))
        page = max(1, _int(req.query.get("page"), 1))
        last = max(1, -(-len(items) // per_page))

        def link(number: int, rel: str) -> str:
            query = urlencode({**req.query, "per_page": per_page, "page": number})
            return f'<{self.url}{req.path}?{query}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link(page - 1, "prev"))
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links.append(link(1, "first"))
        return items[(page - 1) * per_page : page * per_page], ({"Link": ", ".join(links)} if links else {})

    def _new_token(self, prefix: str = "ghs_", **owner: Any) -> Token:
        token = Token(prefix + secrets.token_hex(18), self.clock() + timedelta(hours=1), **owner)
        self.tokens[token.value] = token
        return token

    # --- endpoints: apps and auth ---

    @_route("POST", "/app/installations/{installation_id}/access_tokens", auth="jwt")
    def _create_installation_token(self, req: _Request) -> Reply:
        installation_id = int(req.params["installation_id"])
        repos = [r for r in self.repos.values() if r.installation_id == installation_id]
        if not repos:
            raise _fail(404, "Not Found")
        token = self._new_token(installation_id=installation_id)
        body = {"token": token.value, "expires_at": _iso(token.expires_at), "permissions": _APP_PERMISSIONS,
                "repository_selection": "selected"}
        return Reply(201, body)

    @_route("GET", "/app", auth="jwt")
    def _get_app(self, req: _Request) -> Reply:
        return Reply(200, self._integration(self.app))

    @_route("GET", "/repos/{owner}/{repo}/installation", auth="jwt")
    def _get_repo_installation(self, req: _Request) -> Reply:
        repo = self._repo(req)
        if repo.installation_id is None:
            raise _fail(404, "Not Found")
        return Reply(200, self._installation(repo))

    @_route("GET", "/login/oauth/authorize", auth="none")
    def _oauth_authorize(self, req: _Request) -> Reply:
        """The page a browser is sent to: GitHub asks the signed-in person, then redirects back with a code.

        The fake's person has already authorised the App: it redirects at once, keeping `state`.
        """
        redirect_uri, client_id = req.query.get("redirect_uri"), req.query.get("client_id")
        if client_id != self.app.client_id or not redirect_uri:
            return Reply(404, b"<html><body>Not Found</body></html>", {"Content-Type": "text/html; charset=utf-8"})
        if self.signed_in is None:
            return Reply(200, b"<html><body>Sign in to GitHub</body></html>", {"Content-Type": "text/html; charset=utf-8"})
        code = secrets.token_hex(10)
        self.oauth_codes[code] = self.signed_in
        query = urlencode({"code": code, **({"state": req.query["state"]} if "state" in req.query else {})})
        return Reply(302, b"", {"Location": f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}",
                                "Content-Type": "text/html; charset=utf-8"})

    @_route("POST", "/login/oauth/access_token", auth="none")
    def _oauth_access_token(self, req: _Request) -> Reply:
        """GitHub answers 200 even for a bad code, with an `error` field; form-encoded unless JSON is accepted."""
        form = {**req.query, **(req.json if isinstance(req.json, dict) else {})}
        login = self.oauth_codes.pop(str(form.get("code")), None)
        if form.get("client_id") != self.app.client_id or form.get("client_secret") != self.app.client_secret:
            body = {"error": "incorrect_client_credentials",
                    "error_description": "The client_id and/or client_secret passed are incorrect."}
        elif login is None:
            body = {"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}
        else:
            token = self._new_token("ghu_", login=login)  # a GitHub App's user token: expiring, with a refresh token
            token.expires_at = self.clock() + timedelta(hours=8)
            body = {"access_token": token.value, "expires_in": 28800, "refresh_token": "ghr_" + secrets.token_hex(30),
                    "refresh_token_expires_in": 15811200, "token_type": "bearer", "scope": ""}
        if "json" in req.headers.get("accept", ""):
            return Reply(200, body)
        return Reply(200, urlencode(body).encode(), {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})

    @_route("GET", "/user", auth="user")
    def _get_user(self, req: _Request) -> Reply:
        login = req.token.login if req.token and req.token.login else "Codertocat"
        return Reply(200, self._private_user(login))

    @_route("GET", "/user/repos", auth="user")
    def _list_user_repos(self, req: _Request) -> Reply:
        login = req.token.login if req.token and req.token.login else "Codertocat"
        repos = [self._repository(r, req) for r in self.repos.values() if self._role(r.full_name, login) != "none"]
        page, headers = self._page(req, repos)
        return Reply(200, page, headers)

    # --- endpoints: repository, contents, pulls ---

    @_route("GET", "/repos/{owner}/{repo}")
    def _get_repo(self, req: _Request) -> Reply:
        return Reply(200, self._repository(self._repo(req), req, full=True))

    @_route("GET", "/repos/{owner}/{repo}/contents/{path}")
    def _get_content(self, req: _Request) -> Reply:
        repo = self._repo(req)
        ref, path = req.query.get("ref") or repo.default_branch, req.params["path"]
        content = self.files.get((repo.full_name, ref, path))
        if content is None:
            raise _fail(404, "Not Found")
        if ".raw" in req.headers.get("accept", ""):  # application/vnd.github.raw+json, …github.v3.raw
            return Reply(200, content, {"Content-Type": "text/plain; charset=utf-8"})
        return Reply(200, self._content_file(repo, ref, path, content))

    @_route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}")
    def _get_pull(self, req: _Request) -> Reply:
        return Reply(200, self._pull_request(self._pull(req), req, full=True))

    @_route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/commits")
    def _list_pull_commits(self, req: _Request) -> Reply:
        pr = self._pull(req)
        commits = [self._commit(pr.repo, c) for c in pr.commits[:250]]  # GitHub stops at 250
        page, headers = self._page(req, commits)
        return Reply(200, page, headers)

    @_route("GET", "/repos/{owner}/{repo}/compare/{basehead}")
    def _compare(self, req: _Request) -> Reply:
        """The commits a pull request adds, named by its base and head SHAs (what `git log base..head`
        lists, oldest first). Unpaged, GitHub returns the newest 250; paged, every one."""
        repo, basehead = self._repo(req), req.params["basehead"]
        base, dots, head = basehead.partition("...")
        pr = next((p for p in self.pulls.values()
                   if dots and p.repo == repo.full_name and (p.base_sha, p.head_sha) == (base, head)), None)
        if pr is None:
            raise _fail(404, "Not Found")
        if {"page", "per_page"} & req.query.keys():
            chosen, headers = self._page(req, pr.commits)
        else:
            chosen, headers = pr.commits[-250:], {}
        commits = [self._commit(pr.repo, c) for c in chosen]
        api, html = f"{self.url}/repos/{pr.repo}/compare/{basehead}", f"{HTML}/{pr.repo}/compare/{basehead}"
        base_commit = self._commit(pr.repo, self.commits[(pr.repo, base)])
        return Reply(200, {
            "url": api, "html_url": html, "permalink_url": html, "diff_url": f"{html}.diff", "patch_url": f"{html}.patch",
            "base_commit": base_commit, "merge_base_commit": base_commit, "status": "ahead",
            "ahead_by": len(pr.commits), "behind_by": 0, "total_commits": len(pr.commits), "commits": commits, "files": [],
        }, headers)

    @_route("GET", "/repos/{owner}/{repo}/commits/{commit_sha}/pulls")
    def _list_pulls_for_commit(self, req: _Request) -> Reply:
        repo, sha = self._repo(req), req.params["commit_sha"]
        pulls = [self._pull_request(p, req) for p in self.pulls.values() if p.repo == repo.full_name
                 and sha in {p.head_sha, p.merge_commit_sha, *(c.sha for c in p.commits)}]
        page, headers = self._page(req, pulls)
        return Reply(200, page, headers)

    # --- endpoints: issue comments ---

    @_route("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
    def _list_comments(self, req: _Request) -> Reply:
        pr = self._pull(req, "issue_number")
        since = req.query.get("since", "")
        comments = [self._issue_comment(c) for c in self.comments_on(pr.repo, pr.number) if c.updated_at >= since]
        page, headers = self._page(req, comments)
        return Reply(200, page, headers)

    @_route("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments")
    def _create_comment(self, req: _Request) -> Reply:
        pr = self._pull(req, "issue_number")
        body = _comment_body(req)
        user, app = self._writer(req)
        now = _iso(self.clock())
        comment = Comment(next(self._comment_ids), pr.repo, pr.number, body, user, app, now, now)
        self.comments[comment.id] = comment
        location = f"{self.url}/repos/{pr.repo}/issues/comments/{comment.id}"
        return Reply(201, self._issue_comment(comment), {"Location": location})

    @_route("GET", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
    def _get_comment(self, req: _Request) -> Reply:
        return Reply(200, self._issue_comment(self._comment(req)))

    @_route("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
    def _update_comment(self, req: _Request) -> Reply:
        comment = self._comment(req)
        comment.body = _comment_body(req)
        comment.updated_at = _iso(self.clock())
        return Reply(200, self._issue_comment(comment))

    @_route("DELETE", "/repos/{owner}/{repo}/issues/comments/{comment_id}")
    def _delete_comment(self, req: _Request) -> Reply:
        del self.comments[self._comment(req).id]
        return Reply(204)

    # --- endpoints: check runs ---

    @_route("POST", "/repos/{owner}/{repo}/check-runs")
    def _create_check_run(self, req: _Request) -> Reply:
        repo, data = self._repo(req), req.json if isinstance(req.json, dict) else {}
        for required in ("name", "head_sha"):
            if not isinstance(data.get(required), str):
                raise _invalid("CheckRun", required, f"{required} wasn't supplied.")
        self._resolve_sha(repo, data["head_sha"])
        run = CheckRun(next(self._check_run_ids), repo.full_name, data["name"], data["head_sha"], self.app,
                       started_at=_iso(self.clock()))
        self._apply_check_run(run, data)
        self.check_runs[run.id] = run
        return Reply(201, self._check_run_json(run))

    @_route("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}")
    def _get_check_run(self, req: _Request) -> Reply:
        return Reply(200, self._check_run_json(self._check_run(req)))

    @_route("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}")
    def _update_check_run(self, req: _Request) -> Reply:
        run = self._check_run(req)
        if run.app.id != self.app.id:
            raise _fail(403, "Invalid app_id `%d` - check run can only be modified by its creator." % self.app.id)
        self._apply_check_run(run, req.json if isinstance(req.json, dict) else {})
        return Reply(200, self._check_run_json(run))

    @_route("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs")
    def _list_check_runs_for_ref(self, req: _Request) -> Reply:
        repo = self._repo(req)
        sha, q = self._resolve_sha(repo, req.params["ref"]), req.query
        runs = sorted(self.check_runs_for(repo.full_name, sha), key=lambda r: r.id, reverse=True)  # newest first
        runs = [r for r in runs if q.get("check_name") in (None, r.name) and q.get("status") in (None, r.status)
                and q.get("app_id") in (None, str(r.app.id))]
        if q.get("filter", "latest") == "latest":
            newest: dict[tuple[str, int], CheckRun] = {}
            for run in runs:
                newest.setdefault((run.name, run.app.id), run)
            runs = list(newest.values())
        page, headers = self._page(req, runs)
        return Reply(200, {"total_count": len(runs), "check_runs": [self._check_run_json(r) for r in page]}, headers)

    def _apply_check_run(self, run: CheckRun, data: dict[str, Json]) -> None:
        """Validate like GitHub (422s) and merge a create/update body into the run."""
        now = _iso(self.clock())
        if (status := data.get("status")) not in (None, "queued", "in_progress", "completed"):
            raise _invalid("CheckRun", "status", f"status is not included in the list: {status}")
        if (conclusion := data.get("conclusion")) is not None and conclusion not in _CONCLUSIONS:
            raise _invalid("CheckRun", "conclusion", f"conclusion is not included in the list: {conclusion}")
        if status == "completed" and not (conclusion or run.conclusion):
            raise _invalid("CheckRun", "conclusion", "Conclusion can't be blank when status is completed")
        actions = data.get("actions", run.actions)
        if len(actions) > 3:
            raise _invalid("CheckRun", "actions", "Only 3 actions are allowed.")
        for action in actions:
            for key, limit in (("label", 20), ("description", 40), ("identifier", 20)):
                if not isinstance(action.get(key), str) or len(action[key]) > limit:
                    raise _invalid("CheckRun", f"actions.{key}", f"{key} is missing or longer than {limit} characters")
        output = data.get("output")
        if output is not None:
            if not output.get("title") or output.get("summary") is None:
                raise _invalid("CheckRun", "output", "output requires title and summary")
            for key in ("summary", "text"):
                if len(output.get(key) or "") > MAX_OUTPUT:
                    message = f"Only {MAX_OUTPUT} characters are allowed; {len(output[key])} were supplied."
                    raise _invalid("CheckRun", f"output.{key}", message)
            run.output = {k: output.get(k) for k in ("title", "summary", "text")}
            run.annotations += output.get("annotations", [])  # GitHub appends annotations across updates
        for key in ("name", "details_url", "external_id", "started_at", "completed_at"):
            if key in data:
                setattr(run, key, data[key])
        run.actions = actions
        if conclusion:
            run.conclusion, run.status = conclusion, "completed"
        elif status:
            run.status = status
        if run.status == "completed" and run.completed_at is None:
            run.completed_at = now

    # --- endpoints: people ---

    @_route("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission")
    def _get_permission(self, req: _Request) -> Reply:
        repo, login = self._repo(req), req.params["username"]
        role = self._role(repo.full_name, login)
        legacy = {"maintain": "write", "triage": "read"}.get(role, role)
        user = {**self._user(login), "role_name": role, "permissions": _permission_flags(role)}
        return Reply(200, {"permission": legacy, "role_name": role, "user": user})

    @_route("GET", "/orgs/{org}/teams/{team_slug}/memberships/{username}")
    def _get_team_membership(self, req: _Request) -> Reply:
        org, slug, login = req.params["org"], req.params["team_slug"], req.params["username"]
        role = self.teams.get((org, slug), {}).get(login)
        if role is None:
            raise _fail(404, "Not Found")
        team_id = _stable_id(f"{org}/{slug}")
        url = f"{self.url}/organizations/{_stable_id(org)}/team/{team_id}/memberships/{login}"
        return Reply(200, {"url": url, "role": role, "state": "active"})

    @_route("GET", "/orgs/{org}/teams/{team_slug}/members")
    def _list_team_members(self, req: _Request) -> Reply:
        members = self.teams.get((req.params["org"], req.params["team_slug"]))
        if members is None:
            raise _fail(404, "Not Found")
        page, headers = self._page(req, [self._user(login) for login in sorted(members)])
        return Reply(200, page, headers)

    # --- response shapes (field sets follow the OpenAPI `required` lists) ---

    def _user(self, login: str) -> dict[str, Json]:
        uid, kind = self.users.get(login, (_stable_id(login), "Bot" if login.endswith("[bot]") else "User"))
        api = f"{self.url}/users/{login}"
        html = f"{HTML}/apps/{login.removesuffix('[bot]')}" if kind == "Bot" else f"{HTML}/{login}"
        return {
            "login": login, "id": uid, "node_id": _node_id(kind, uid),
            "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4", "gravatar_id": "", "url": api,
            "html_url": html, "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}", "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs", "repos_url": f"{api}/repos", "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events", "type": kind, "site_admin": False, "user_view_type": "public",
        }

    def _private_user(self, login: str) -> dict[str, Json]:
        counts = dict.fromkeys(("followers", "following", "public_gists", "public_repos", "private_gists",
                                "total_private_repos", "owned_private_repos", "disk_usage", "collaborators"), 0)
        return {**self._user(login), **counts, "user_view_type": "private", "name": login, "company": None,
                "blog": "", "location": None, "email": None, "hireable": None, "bio": None,
                "two_factor_authentication": True, "created_at": "2019-01-01T00:00:00Z",
                "updated_at": "2019-01-01T00:00:00Z"}

    def _integration(self, app: App) -> dict[str, Json]:
        return {
            "id": app.id, "slug": app.slug, "node_id": _node_id("Integration", app.id), "client_id": app.client_id,
            "owner": self._user(app.owner), "name": app.name, "description": "Agent cost on the pull request.",
            "external_url": "https://agentspend.example.com", "html_url": f"{HTML}/apps/{app.slug}",
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "permissions": _APP_PERMISSIONS, "events": ["check_run", "check_suite", "issue_comment", "pull_request", "push"],
        }

    def _installation(self, repo: Repo) -> dict[str, Json]:
        iid, account = repo.installation_id, self._user(repo.owner)
        return {
            "id": iid, "account": account, "repository_selection": "selected",
            "access_tokens_url": f"{self.url}/app/installations/{iid}/access_tokens",
            "repositories_url": f"{self.url}/installation/repositories",
            "html_url": f"{HTML}/settings/installations/{iid}", "app_id": self.app.id, "app_slug": self.app.slug,
            "target_id": account["id"], "target_type": account["type"], "permissions": _APP_PERMISSIONS,
            "events": ["check_run", "pull_request", "push"], "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "single_file_name": None, "has_multiple_single_files": False,
            "single_file_paths": [], "suspended_by": None, "suspended_at": None,
        }

    def _repository(self, repo: Repo, req: _Request, *, full: bool = False) -> dict[str, Json]:
        api, html, name = f"{self.url}/repos/{repo.full_name}", f"{HTML}/{repo.full_name}", repo.full_name.split("/")[1]
        shape = {key: api + suffix for key, suffix in _REPO_URLS.items()} | {
            "id": repo.id, "node_id": _node_id("Repository", repo.id), "name": name, "full_name": repo.full_name,
            "private": repo.private, "owner": self._user(repo.owner), "html_url": html, "description": None,
            "fork": repo.fork, "url": api, "git_url": f"git://github.com/{repo.full_name}.git",
            "ssh_url": f"git@github.com:{repo.full_name}.git", "clone_url": f"{html}.git", "svn_url": html,
            "mirror_url": None, "homepage": None, "language": None, "size": 0, "default_branch": repo.default_branch,
            "forks_count": 0, "forks": 0, "stargazers_count": 0, "watchers_count": 0, "watchers": 0,
            "open_issues_count": 0, "open_issues": 0, "is_template": False, "topics": [],
            "has_issues": True, "has_projects": True, "has_wiki": True, "has_pages": False, "has_discussions": False,
            "archived": False, "disabled": False, "visibility": "private" if repo.private else "public",
            "license": None, "allow_forking": True, "web_commit_signoff_required": False,
            "pushed_at": "2019-05-15T15:20:32Z", "created_at": "2019-05-15T15:19:25Z", "updated_at": "2019-05-15T15:20:41Z",
        }
        if not req.new_api:
            shape["has_downloads"] = True  # removed in 2026-03-10 (remove_has_downloads)
        if full:
            shape |= {"network_count": 0, "subscribers_count": 0}
        return shape

    def _pull_request(self, pr: PullRequest, req: _Request, *, full: bool = False) -> dict[str, Json]:
        repo = self.repos[pr.repo]
        api, html = f"{self.url}/repos/{pr.repo}/pulls/{pr.number}", f"{HTML}/{pr.repo}/pull/{pr.number}"
        issue = f"{self.url}/repos/{pr.repo}/issues/{pr.number}"
        review_comment = f"{self.url}/repos/{pr.repo}/pulls/comments{{/number}}"
        head_name = pr.head_repo or pr.repo  # a fork nobody seeded still gets a plausible repository object
        head_repo = self.repos.get(head_name) or Repo(head_name, _stable_id(head_name), installation_id=None, fork=True)
        closed_at = pr.updated_at if pr.state == "closed" else None
        shape = {
            "url": api, "id": pr.id, "node_id": _node_id("PullRequest", pr.id), "html_url": html,
            "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": issue, "number": pr.number,
            "state": pr.state, "locked": False, "title": pr.title, "user": self._user(pr.user), "body": pr.body,
            "labels": [_label(self.url, pr.repo, name) for name in pr.labels], "milestone": None,
            "active_lock_reason": None, "created_at": pr.created_at, "updated_at": pr.updated_at,
            "closed_at": closed_at, "merged_at": closed_at if pr.merged else None, "assignees": [],
            "requested_reviewers": [], "requested_teams": [], "draft": False,
            "commits_url": f"{api}/commits", "review_comments_url": f"{api}/comments",
            "review_comment_url": review_comment,
            "comments_url": f"{issue}/comments", "statuses_url": f"{self.url}/repos/{pr.repo}/statuses/{pr.head_sha}",
            "head": self._pull_ref(head_repo, pr.head_ref, pr.head_sha, req),
            "base": self._pull_ref(repo, pr.base_ref, pr.base_sha, req),
            "_links": {rel: {"href": href} for rel, href in {
                "self": api, "html": html, "issue": issue, "comments": f"{issue}/comments",
                "review_comments": f"{api}/comments", "review_comment": review_comment,
                "commits": f"{api}/commits", "statuses": f"{self.url}/repos/{pr.repo}/statuses/{pr.head_sha}"}.items()},
            "author_association": "OWNER" if pr.user == repo.owner else "CONTRIBUTOR", "auto_merge": None,
        }
        if not req.new_api:  # removed in 2026-03-10 (remove_pull_request_merge_commit_sha, remove_singular_assignee)
            shape |= {"merge_commit_sha": pr.merge_commit_sha, "assignee": None}
        if full:
            shape |= {
                "merged": pr.merged, "mergeable": None if pr.state == "closed" else True, "rebaseable": True,
                "mergeable_state": "unknown" if pr.state == "closed" else "clean",
                "merged_by": self._user(repo.owner) if pr.merged else None,
                "comments": len(self.comments_on(pr.repo, pr.number)),
                "review_comments": 0, "maintainer_can_modify": False, "commits": len(pr.commits),
                "additions": len(pr.commits), "deletions": 0, "changed_files": len(pr.commits),
            }
        return shape

    def _pull_ref(self, repo: Repo, ref: str, sha: str, req: _Request) -> dict[str, Json]:
        return {"label": f"{repo.owner}:{ref}", "ref": ref, "sha": sha, "user": self._user(repo.owner),
                "repo": self._repository(repo, req)}

    def _commit(self, repo: str, commit: Commit) -> dict[str, Json]:
        api, html = f"{self.url}/repos/{repo}/commits/{commit.sha}", f"{HTML}/{repo}/commit/{commit.sha}"
        person = {"name": commit.author_name, "email": commit.author_email, "date": commit.date}
        tree = hashlib.sha1(commit.sha.encode()).hexdigest()
        user = self._user(commit.author_login) if commit.author_login else None
        return {
            "sha": commit.sha, "node_id": _node_id("Commit", int(commit.sha[:8], 16)), "url": api, "html_url": html,
            "comments_url": f"{api}/comments", "author": user, "committer": user,
            "commit": {"url": f"{self.url}/repos/{repo}/git/commits/{commit.sha}", "author": person, "committer": person,
                       "message": commit.message, "comment_count": 0,
                       "tree": {"sha": tree, "url": f"{self.url}/repos/{repo}/git/trees/{tree}"},
                       "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                                        "verified_at": None}},
            "parents": [{"sha": p, "url": f"{self.url}/repos/{repo}/commits/{p}", "html_url": f"{HTML}/{repo}/commit/{p}"}
                        for p in commit.parents],
        }

    def _content_file(self, repo: Repo, ref: str, path: str, content: bytes) -> dict[str, Json]:
        blob_sha = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
        encoded = base64.b64encode(content).decode()
        api = f"{self.url}/repos/{repo.full_name}/contents/{path}?ref={ref}"
        git, html = f"{self.url}/repos/{repo.full_name}/git/blobs/{blob_sha}", f"{HTML}/{repo.full_name}/blob/{ref}/{path}"
        return {
            "type": "file", "encoding": "base64", "size": len(content), "name": path.rsplit("/", 1)[-1], "path": path,
            "content": "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n",  # GitHub wraps at 60
            "sha": blob_sha, "url": api, "git_url": git, "html_url": html,
            "download_url": f"https://raw.githubusercontent.com/{repo.full_name}/{ref}/{path}",
            "_links": {"self": api, "git": git, "html": html},
        }

    def _issue_comment(self, comment: Comment) -> dict[str, Json]:
        api = f"{self.url}/repos/{comment.repo}/issues"
        association = "OWNER" if comment.user == comment.repo.split("/")[0] else "NONE"
        return {
            "id": comment.id, "node_id": _node_id("IssueComment", comment.id), "url": f"{api}/comments/{comment.id}",
            "html_url": f"{HTML}/{comment.repo}/pull/{comment.issue_number}#issuecomment-{comment.id}",
            "body": comment.body, "user": self._user(comment.user), "created_at": comment.created_at,
            "updated_at": comment.updated_at, "issue_url": f"{api}/{comment.issue_number}",
            "author_association": association,
            "performed_via_github_app": self._integration(comment.app) if comment.app else None,
            "reactions": {"url": f"{api}/comments/{comment.id}/reactions", "total_count": 0, "+1": 0, "-1": 0,
                          "laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
        }

    def _check_run_json(self, run: CheckRun) -> dict[str, Json]:
        api = f"{self.url}/repos/{run.repo}/check-runs/{run.id}"
        pulls = [p for p in self.pulls.values() if p.repo == run.repo and p.head_sha == run.head_sha and p.state == "open"]
        return {
            "id": run.id, "node_id": _node_id("CheckRun", run.id), "head_sha": run.head_sha, "name": run.name,
            "external_id": run.external_id, "url": api, "html_url": f"{HTML}/{run.repo}/runs/{run.id}",
            "details_url": run.details_url, "status": run.status, "conclusion": run.conclusion,
            "started_at": run.started_at, "completed_at": run.completed_at,
            "output": {**run.output, "annotations_count": len(run.annotations), "annotations_url": f"{api}/annotations"},
            "check_suite": {"id": _stable_id(f"{run.repo}@{run.head_sha}")}, "app": self._integration(run.app),
            "pull_requests": [self._pull_minimal(p) for p in pulls],
        }

    def _pull_minimal(self, pr: PullRequest) -> dict[str, Json]:
        def ref(name: str, sha: str, full_name: str) -> dict[str, Json]:
            repo_id = self.repos[full_name].id if full_name in self.repos else _stable_id(full_name)
            repo = {"id": repo_id, "url": f"{self.url}/repos/{full_name}", "name": full_name.split("/")[-1]}
            return {"ref": name, "sha": sha, "repo": repo}

        return {"id": pr.id, "number": pr.number, "url": f"{self.url}/repos/{pr.repo}/pulls/{pr.number}",
                "head": ref(pr.head_ref, pr.head_sha, pr.head_repo or pr.repo),
                "base": ref(pr.base_ref, pr.base_sha, pr.repo)}

    def _stable_pr_id(self, repo: str, number: int) -> int:
        return 279147437 if (repo, number) == (HELLO_WORLD, 2) else _stable_id(f"{repo}#{number}")


_APP_PERMISSIONS = {"checks": "write", "contents": "read", "metadata": "read", "pull_requests": "write", "members": "read"}
_CONCLUSIONS = {"success", "failure", "neutral", "cancelled", "skipped", "timed_out", "action_required"}
_REPO_URLS = {
    "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}", "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}", "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}", "commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}", "contributors_url": "/contributors", "deployments_url": "/deployments",
    "downloads_url": "/downloads", "events_url": "/events", "forks_url": "/forks", "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}", "git_tags_url": "/git/tags{/sha}", "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}", "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}", "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}",
    "languages_url": "/languages", "merges_url": "/merges", "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}", "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}", "stargazers_url": "/stargazers", "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers", "subscription_url": "/subscription", "tags_url": "/tags", "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def _label(api: str, repo: str, name: str) -> dict[str, Json]:
    label_id = _stable_id(f"{repo}:{name}")
    return {"id": label_id, "node_id": _node_id("Label", label_id), "url": f"{api}/repos/{repo}/labels/{name}",
            "name": name, "description": "Something isn't working" if name == "bug" else "", "color": "d73a4a",
            "default": name == "bug", "archived_by": None}  # githubkit-schemas 26.x requires archived_by


def _permission_flags(role: str) -> dict[str, bool]:
    order = ["read", "triage", "write", "maintain", "admin"]
    rank = order.index(role) if role in order else -1
    return {"pull": rank >= 0, "triage": rank >= 1, "push": rank >= 2, "maintain": rank >= 3, "admin": rank >= 4}


def _int(text: str | None, default: int) -> int:
    return int(text) if text and text.isdigit() else default  # GitHub ignores junk paging values


def _comment_body(req: _Request) -> str:
    body = req.json.get("body") if isinstance(req.json, dict) else None
    if not isinstance(body, str):
        raise _invalid("IssueComment", "body", "body wasn't supplied.")
    if len(body) > MAX_COMMENT:
        raise _invalid("IssueComment", "body", f"body is too long (maximum is {MAX_COMMENT} characters)")
    return body


def _decode_body(body: bytes, headers: dict[str, str]) -> Json:
    if not body:
        return None
    if "x-www-form-urlencoded" in headers.get("content-type", ""):
        return {k: v[0] for k, v in parse_qs(body.decode()).items()}
    try:
        return json.loads(body)
    except ValueError:
        return body


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGitHub

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout tests) is expected; anything else is a bug worth printing."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Moves bytes between the socket and FakeGitHub.handle; keep-alive so httpx can reuse connections."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall

    def _serve(self) -> None:
        fake = self.server.fake  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = fake.handle(self.command, self.path, headers, body)
        payload = reply.body if isinstance(reply.body, bytes) else b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        out = {"Content-Type": "application/json; charset=utf-8", "X-GitHub-Request-Id": secrets.token_hex(8).upper(),
               "X-GitHub-Api-Version-Selected": headers.get("x-github-api-version", OLD_API),
               "x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999", "x-ratelimit-resource": "core",
               "x-ratelimit-reset": str(int(time.time()) + 3600), **reply.headers, "Content-Length": str(len(payload))}
        for key, value in out.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # the call log replaces stderr noise
        pass


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A running, empty FakeGitHub; fails the test if the fake itself crashed while serving."""
    with FakeGitHub() as fake:
        yield fake
    assert not fake.errors, "fake GitHub crashed:\n" + "\n".join(fake.errors)

"""The fake GitHub speaks GitHub: its shapes match the OpenAPI description and githubkit's own models accept them.

Everyone else's GitHub tests trust tests/fakes/github.py, so this file proves three things about it:
1. every endpoint it serves answers with the fields the OpenAPI description requires, for both API versions;
2. githubkit 0.16 (App JWT -> installation token -> REST calls, pagination) works against it end to end;
3. errors, scripted faults and stray calls look the way tests will assert on them.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.github import (
    HELLO_BASE_SHA,
    HELLO_HEAD_SHA,
    HELLO_WORLD,
    MAX_COMMENT,
    NEW_API,
    OLD_API,
    App,
    Commit,
    FakeGitHub,
    Reply,
    private_key_pem,
)
from githubkit import AppAuthStrategy, AppInstallationAuthStrategy, GitHub, OAuthWebAuthStrategy
from githubkit.cache import MemCacheStrategy
from githubkit.exception import RequestFailed, RequestTimeout, SecondaryRateLimitExceeded
from githubkit_schemas.latest.models import CheckRun, ContentFile, IssueComment, PullRequest

OPENAPI = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "github" / "openapi"
OWNER, REPO = HELLO_WORLD.split("/")
CONFIG = ".github/agentspend.yml"
CONFIG_TEXT = "budget_usd: 5\nmode: warn\n"
Schema = dict[str, Any]


# --- a compact OpenAPI 3.0 response checker (no jsonschema dependency) ---------------------------

FORBIDDEN: Schema = {"not": {}}  # a property a breaking change removed: it must be absent


@functools.cache
def openapi(name: str) -> Schema:
    return json.loads((OPENAPI / name).read_text())


def response_schema(method: str, template: str, status: int) -> tuple[Schema, Schema | None]:
    """(document, schema) of a documented response; the subset first, the full description as fallback."""
    for name in ("api.github.com.subset.json", "api.github.com.json"):
        doc = openapi(name)
        if operation := doc["paths"].get(template, {}).get(method.lower()):
            response = resolve(doc, operation["responses"][str(status)])
            return doc, response.get("content", {}).get("application/json", {}).get("schema")
    raise LookupError(f"{method} {template} is in neither OpenAPI file")


def resolve(doc: Schema, node: Schema) -> Schema:
    while "$ref" in node:
        node = functools.reduce(lambda at, key: at[key], node["$ref"].removeprefix("#/").split("/"), doc)
    return node


def for_version(schema: Schema, version: str) -> Schema:
    """Apply the schema's x-github-breaking-changes up to `version` (JSON merge patches; null removes)."""
    for change in schema.get("x-github-breaking-changes", []):
        if change["version"] <= version and isinstance(change["patch"], dict):
            schema = merge_patch(schema, change["patch"])
    return schema


def merge_patch(base: Schema, patch: Schema) -> Schema:
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged[key] = FORBIDDEN
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = merge_patch(base[key], value)
        else:
            merged[key] = value
    return merged


TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list,), "string": (str,), "boolean": (bool,), "integer": (int,), "number": (int, float),
}


def schema_errors(doc: Schema, value: Any, schema: Schema, version: str, where: str = "$") -> list[str]:
    """Required properties, JSON types, nullable, enum, items; anyOf/oneOf pass if any branch passes."""
    schema = for_version(resolve(doc, schema), version)
    if schema is FORBIDDEN:
        return [f"{where}: removed in API version {version}, must be absent"]
    if value is None:
        untyped = not ({"type", "anyOf", "oneOf", "allOf"} & schema.keys())
        return [] if schema.get("nullable") or untyped else [f"{where}: null"]
    errors = [e for sub in schema.get("allOf", []) for e in schema_errors(doc, value, sub, version, where)]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            tries = [schema_errors(doc, value, sub, version, where) for sub in schema[key]]
            if all(tries):  # report the branch of the right type with the fewest problems
                closest = min(tries, key=lambda e: (any(x.startswith(f"{where}: expected") for x in e), len(e)))
                errors += [f"{where}: matches no {key} branch; closest: {closest}"]
    kind = schema.get("type")
    if kind and (not isinstance(value, TYPES[kind]) or (kind in ("integer", "number") and isinstance(value, bool))):
        return [*errors, f"{where}: expected {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        errors += [f"{where}: missing required {key!r}" for key in schema.get("required", []) if key not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                errors += schema_errors(doc, value[key], sub, version, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += schema_errors(doc, item, schema["items"], version, f"{where}[{index}]")
    return errors


def test_checker_catches_missing_and_removed_fields() -> None:
    """The checker itself must fail on bad shapes, or a green shape test proves nothing."""
    doc = openapi("api.github.com.subset.json")
    pr = {"$ref": "#/components/schemas/pull-request"}
    assert any("missing required 'head'" in e for e in schema_errors(doc, {"number": 2}, pr, OLD_API))
    assert schema_errors(doc, {"id": "7"}, {"$ref": "#/components/schemas/link"}, OLD_API) == ["$: missing required 'href'"]
    removed = schema_errors(doc, {"merge_commit_sha": "abc"}, pr, NEW_API)
    assert "$.merge_commit_sha: removed in API version 2026-03-10, must be absent" in removed


# --- 1. every served endpoint against the OpenAPI description ------------------------------------


def seed(fake: FakeGitHub) -> dict[str, str]:
    """Hello-World PR #2 with five commits, our config at the base branch, comments, a check run, people."""
    commits = [Commit(f"{i:040x}", f"Step {i}\n\nAgent-Session: s{i}") for i in range(1, 5)]
    commits.append(Commit(HELLO_HEAD_SHA, "Update README\n\nCo-authored-by: Claude <noreply@anthropic.com>"))
    fake.seed_hello_world(commits)
    fake.add_file(HELLO_WORLD, CONFIG, CONFIG_TEXT, ref="master")
    human = fake.add_comment(HELLO_WORLD, 2, "Looks good", user="octocat")
    ours = fake.add_comment(HELLO_WORLD, 2, "<!-- agentspend -->\nold", app=fake.app)
    run = fake.add_check_run(HELLO_WORLD, "AgentSpend", HELLO_HEAD_SHA, status="in_progress")
    fake.set_permission(HELLO_WORLD, "octocat", "maintain")
    fake.add_team_member("Codertocat", "budget-approvers", "octocat")
    fake.add_oauth_code("oauth-code", "octocat")
    fake.sign_in("octocat")
    return {"owner": OWNER, "repo": REPO, "installation_id": "1", "path": CONFIG, "pull_number": "2",
            "issue_number": "2", "ref": HELLO_HEAD_SHA, "commit_sha": HELLO_HEAD_SHA, "username": "octocat",
            "org": "Codertocat", "team_slug": "budget-approvers", "comment_id": str(ours.id),
            "check_run_id": str(run.id), "human_comment_id": str(human.id),
            "basehead": f"{HELLO_BASE_SHA}...{HELLO_HEAD_SHA}"}


BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments"): {"body": "<!-- agentspend -->\nnew"},
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}"): {"body": "<!-- agentspend -->\nedited"},
    ("POST", "/repos/{owner}/{repo}/check-runs"): {
        "name": "AgentSpend", "head_sha": HELLO_HEAD_SHA, "status": "in_progress"},
    ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}"): {
        "conclusion": "neutral", "output": {"title": "$1.20 of $5.00", "summary": "Within budget."}},
    ("POST", "/login/oauth/access_token"): {
        "client_id": App.client_id, "client_secret": App.client_secret, "code": "oauth-code"},
}
NOT_IN_OPENAPI = {("POST", "/login/oauth/access_token"), ("GET", "/login/oauth/authorize")}  # github.com, not the REST API
QUERIES = {("GET", "/login/oauth/authorize"): f"?client_id={App.client_id}&redirect_uri=http://127.0.0.1:1/cb&state=s"}


def auth_headers(fake: FakeGitHub) -> dict[str, dict[str, str]]:
    """One Authorization header per auth kind, obtained through the fake's own endpoints."""
    jwt = {"Authorization": "Bearer header.claims.signature"}
    token = httpx.post(f"{fake.url}/app/installations/1/access_tokens", headers=jwt).json()["token"]
    user = httpx.post(f"{fake.url}/login/oauth/access_token", json=BODIES[("POST", "/login/oauth/access_token")],
                      headers={"Accept": "application/json"}).json()["access_token"]
    fake.add_oauth_code("oauth-code", "octocat")  # spent above; the sweep posts it once more
    return {"jwt": jwt, "token": {"Authorization": f"token {token}"}, "user": {"Authorization": f"Bearer {user}"},
            "none": {}}


def call_every_route(fake: FakeGitHub, version: str) -> Iterator[tuple[str, str, httpx.Response]]:
    """Each served endpoint once, in registration order, with raw httpx so the JSON is checked as sent."""
    params, headers = seed(fake), auth_headers(fake)
    with httpx.Client(base_url=fake.url) as client:
        for method, template, auth in FakeGitHub.routes():
            values = {**params, "comment_id": params["human_comment_id"]} if method == "DELETE" else params
            request_headers = {**headers[auth], "X-GitHub-Api-Version": version, "Accept": "application/json"}
            body = BODIES.get((method, template))
            path = template.format(**values) + QUERIES.get((method, template), "")
            yield method, template, client.request(method, path, json=body, headers=request_headers)


@pytest.mark.parametrize("version", [OLD_API, NEW_API])
def test_every_endpoint_matches_the_openapi_description(fake_github: FakeGitHub, version: str) -> None:
    problems = []
    for method, template, response in call_every_route(fake_github, version):
        if (method, template) == ("GET", "/login/oauth/authorize"):
            assert response.status_code == 302 and "code=" in response.headers["location"] and "state=s" in response.headers["location"]
            continue
        if response.status_code >= 300:
            problems.append(f"{method} {template}: {response.status_code} {response.text[:200]}")
            continue
        if (method, template) in NOT_IN_OPENAPI:
            assert "access_token" in response.json()
            continue
        doc, schema = response_schema(method, template, response.status_code)  # KeyError: status not documented
        if response.status_code == 204:
            continue
        assert schema is not None, f"{method} {template} has no documented JSON body to check"
        problems += [f"{method} {template} {e}" for e in schema_errors(doc, response.json(), schema, version)]
    assert problems == []
    assert fake_github.strays == []


ERRORS = [  # (method, template, path, body, status): GitHub's error bodies are documented too
    ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", f"/repos/{HELLO_WORLD}/pulls/999", None, 404),
    ("GET", "/repos/{owner}/{repo}/contents/{path}", f"/repos/{HELLO_WORLD}/contents/nope.yml", None, 404),
    ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", f"/repos/{HELLO_WORLD}/issues/2/comments",
     {"body": "x" * (MAX_COMMENT + 1)}, 422),
    ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", "/repos/{repo}/issues/comments/{comment_id}",
     {"body": "x" * (MAX_COMMENT + 1)}, 422),
]


def test_error_bodies_match_the_openapi_description(fake_github: FakeGitHub) -> None:
    params, headers = seed(fake_github), auth_headers(fake_github)["token"]
    for method, template, path, body, status in ERRORS:
        path = path.format(repo=HELLO_WORLD, comment_id=params["comment_id"])
        response = httpx.request(method, fake_github.url + path, json=body, headers=headers)
        assert response.status_code == status, (method, path, response.text)
        doc, schema = response_schema(method, template, status)
        assert schema is not None and schema_errors(doc, response.json(), schema, NEW_API) == []


# --- 2. githubkit drives it ----------------------------------------------------------------------


def app_client(fake: FakeGitHub) -> GitHub[AppAuthStrategy]:
    """Our App as githubkit sees it. A fresh token cache: githubkit's default one is process-wide."""
    auth = AppAuthStrategy(fake.app.id, private_key_pem())
    return GitHub(auth, base_url=fake.url, http_cache=False, auto_retry=False, cache_strategy=MemCacheStrategy(), timeout=5)


def installation_client(fake: FakeGitHub, installation_id: int = 1) -> GitHub[AppInstallationAuthStrategy]:
    """Use it as a context manager: outside one githubkit builds a new httpx client (~50 ms) per request."""
    return app_client(fake).with_auth(AppInstallationAuthStrategy(fake.app.id, private_key_pem(), installation_id))


async def test_githubkit_round_trip(fake_github: FakeGitHub) -> None:
    """The calls bot/github/client.py will make, parsed by githubkit's models, in this exact order."""
    fake = fake_github
    seed(fake)
    fake.clear_calls()
    raw = {"Accept": "application/vnd.github.raw+json"}
    actions = [{"label": "Approve overrun", "description": "Accept the cost", "identifier": "approve"}]
    output = {"title": "$1.30 of $5.00", "summary": "Within budget.", "text": "details"}
    async with app_client(fake) as app_gh, installation_client(fake) as gh:
        token = (await app_gh.rest.apps.async_create_installation_access_token(1)).parsed_data
        config = await gh.rest.repos.async_get_content(OWNER, REPO, CONFIG, ref="master", headers=raw)
        pull = (await gh.rest.pulls.async_get(OWNER, REPO, 2)).parsed_data
        pages = gh.rest.paginate(gh.rest.pulls.async_list_commits, owner=OWNER, repo=REPO, pull_number=2, per_page=2)
        commits = [c async for c in pages]
        created = (await gh.rest.issues.async_create_comment(OWNER, REPO, 2, body="<!-- agentspend -->\n$1.20")).parsed_data
        updated = (await gh.rest.issues.async_update_comment(OWNER, REPO, created.id, body="<!-- agentspend -->\n$1.30")
                   ).parsed_data
        listed = (await gh.rest.issues.async_list_comments(OWNER, REPO, 2, per_page=100)).parsed_data
        run = (await gh.rest.checks.async_create(OWNER, REPO, name="AgentSpend", head_sha=HELLO_HEAD_SHA,
                                                 status="in_progress", output=output, actions=actions)).parsed_data
        done = (await gh.rest.checks.async_update(OWNER, REPO, run.id, conclusion="neutral", output=output)).parsed_data
        runs = (await gh.rest.checks.async_list_for_ref(OWNER, REPO, HELLO_HEAD_SHA, check_name="AgentSpend")).parsed_data
        permission = (await gh.rest.repos.async_get_collaborator_permission_level(OWNER, REPO, "octocat")).parsed_data

    assert token.token.startswith("ghs_")
    assert config.text == CONFIG_TEXT
    assert isinstance(pull, PullRequest) and (pull.head.sha, pull.base.ref, pull.number) == (HELLO_HEAD_SHA, "master", 2)
    assert [c.sha for c in commits][-1] == HELLO_HEAD_SHA and len(commits) == 5
    assert isinstance(updated, IssueComment) and updated.user and updated.user.login == "agentspend[bot]"
    assert updated.performed_via_github_app and updated.performed_via_github_app.id == fake.app.id
    assert [c.id for c in listed][-1] == created.id and listed[-1].body and listed[-1].body.endswith("$1.30")
    assert isinstance(done, CheckRun) and (done.status, done.conclusion) == ("completed", "neutral")
    assert runs.total_count == 1 and runs.check_runs[0].id == run.id  # the seeded run has the same name but is older
    assert (permission.permission, permission.role_name) == ("write", "maintain")
    assert fake.check_runs[run.id].actions == actions
    assert fake.requests() == [
        "POST /app/installations/1/access_tokens",  # explicit, with the App JWT
        "POST /app/installations/1/access_tokens",  # githubkit's installation auth flow, on the first repo call
        f"GET /repos/{HELLO_WORLD}/contents/{CONFIG}",
        f"GET /repos/{HELLO_WORLD}/pulls/2",
        *[f"GET /repos/{HELLO_WORLD}/pulls/2/commits"] * 3,
        f"POST /repos/{HELLO_WORLD}/issues/2/comments",
        f"PATCH /repos/{HELLO_WORLD}/issues/comments/{created.id}",
        f"GET /repos/{HELLO_WORLD}/issues/2/comments",
        f"POST /repos/{HELLO_WORLD}/check-runs",
        f"PATCH /repos/{HELLO_WORLD}/check-runs/{run.id}",
        f"GET /repos/{HELLO_WORLD}/commits/{HELLO_HEAD_SHA}/check-runs",
        f"GET /repos/{HELLO_WORLD}/collaborators/octocat/permission",
    ]
    assert [c.query.get("page") for c in fake.calls_to("GET", "*/pulls/2/commits")] == [None, "2", "3"]
    assert fake.calls_to("GET", "*/contents/*")[0].query == {"ref": "master"}


def test_content_json_and_merge_commit_sha_by_version(fake_github: FakeGitHub) -> None:
    """Without the raw media type contents are base64 JSON; 2026-03-10 pull requests lack merge_commit_sha."""
    seed(fake_github)
    with installation_client(fake_github) as gh:
        content = gh.rest.repos.get_content(OWNER, REPO, CONFIG, ref="master").parsed_data
        assert isinstance(content, ContentFile)
        assert base64.b64decode(content.content).decode() == CONFIG_TEXT
        assert "merge_commit_sha" not in gh.rest.pulls.get(OWNER, REPO, 2).json()
        old = gh.request("GET", f"/repos/{HELLO_WORLD}/pulls/2", headers={"X-GitHub-Api-Version": OLD_API}).json()
        assert old["merge_commit_sha"] == "c4295bd74fb0f4fda03689c3df3f2803b658fd85"


# --- 3. errors, faults, strays -------------------------------------------------------------------


def test_overlong_comment_is_a_422(fake_github: FakeGitHub) -> None:
    seed(fake_github)
    with installation_client(fake_github) as gh:
        with pytest.raises(RequestFailed) as failure:
            gh.rest.issues.create_comment(OWNER, REPO, 2, body="x" * (MAX_COMMENT + 1))
        assert failure.value.response.status_code == 422
        assert failure.value.response.json()["errors"][0]["message"] == "body is too long (maximum is 65536 characters)"
        assert len(fake_github.comments_on(HELLO_WORLD, 2)) == 2  # the two seeded ones, nothing added


def test_scripted_502_then_success(fake_github: FakeGitHub) -> None:
    seed(fake_github)
    with installation_client(fake_github) as gh:
        fake_github.fail("POST", "/repos/*/check-runs", status=502)
        with pytest.raises(RequestFailed):
            gh.rest.checks.create(OWNER, REPO, name="AgentSpend", head_sha=HELLO_HEAD_SHA)
        gh.rest.checks.create(OWNER, REPO, name="AgentSpend", head_sha=HELLO_HEAD_SHA)
        assert [str(c) for c in fake_github.calls_to("POST", "*/check-runs")] == [
            f"POST /repos/{HELLO_WORLD}/check-runs -> 502", f"POST /repos/{HELLO_WORLD}/check-runs -> 201"]


def test_secondary_rate_limit_and_custom_script(fake_github: FakeGitHub) -> None:
    """githubkit turns the 403 + Retry-After into SecondaryRateLimitExceeded with the wait we asked for."""
    seed(fake_github)
    with installation_client(fake_github) as gh:
        fake_github.rate_limit("POST", "*/issues/2/comments", retry_after=7)
        with pytest.raises(SecondaryRateLimitExceeded) as limited:
            gh.rest.issues.create_comment(OWNER, REPO, 2, body="hi")
        assert limited.value.retry_after.total_seconds() == 7
        fake_github.script("GET", "*/pulls/2", Reply(404, {"message": "Not Found"}))
        with pytest.raises(RequestFailed):
            gh.rest.pulls.get(OWNER, REPO, 2)
        assert gh.rest.pulls.get(OWNER, REPO, 2).parsed_data.number == 2  # the script is used up


def test_slow_reply_times_out(fake_github: FakeGitHub) -> None:
    """`delay` on a scripted reply (or `fake.latency` for all) makes githubkit's timeout fire."""
    seed(fake_github)
    fake_github.script("GET", "*/pulls/2", Reply(200, {}, delay=0.5))
    gh = GitHub(AppInstallationAuthStrategy(fake_github.app.id, private_key_pem(), 1), base_url=fake_github.url,
                http_cache=False, auto_retry=False, cache_strategy=MemCacheStrategy(), timeout=0.1)
    with gh, pytest.raises(RequestTimeout):
        gh.rest.pulls.get(OWNER, REPO, 2)


def test_strays_and_bad_credentials(fake_github: FakeGitHub) -> None:
    """Unknown routes are 404 and named in `strays`; a token the fake never issued is 401."""
    seed(fake_github)
    with installation_client(fake_github) as gh:
        with pytest.raises(RequestFailed) as stray:
            gh.rest.repos.list_branches(OWNER, REPO)
        assert stray.value.response.status_code == 404
        assert [f"{c.method} {c.path}" for c in fake_github.strays] == [f"GET /repos/{HELLO_WORLD}/branches"]
        fake_github.expire_tokens()
        with pytest.raises(RequestFailed) as expired:
            gh.rest.pulls.get(OWNER, REPO, 2)  # githubkit still holds the now-expired token
        assert expired.value.response.status_code == 401


def test_oauth_web_flow(fake_github: FakeGitHub) -> None:
    """Sign-in for the dashboard: githubkit exchanges the code at {base}/login/oauth/access_token, then calls /user."""
    seed(fake_github)
    fake_github.add_oauth_code("abc", "octocat")
    auth = OAuthWebAuthStrategy(fake_github.app.client_id, fake_github.app.client_secret, "abc")
    with GitHub(auth, base_url=fake_github.url, http_cache=False, auto_retry=False, timeout=5) as gh:
        me = gh.rest.users.get_authenticated().parsed_data
        repos = gh.rest.repos.list_for_authenticated_user().parsed_data
    assert me.login == "octocat"
    assert [r.full_name for r in repos] == [HELLO_WORLD]  # octocat maintains it
    assert fake_github.requests() == ["POST /login/oauth/access_token", "GET /user", "GET /user/repos"]


def test_wrong_installation_cannot_see_the_repo(fake_github: FakeGitHub) -> None:
    seed(fake_github)
    fake_github.add_repo("someone/else", installation_id=2)
    with installation_client(fake_github, 2) as gh:
        with pytest.raises(RequestFailed) as hidden:
            gh.rest.pulls.get(OWNER, REPO, 2)
        assert hidden.value.response.status_code == 404

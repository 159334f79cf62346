"""The whole GitHub App loop on SQLite and Postgres, against the fake GitHub on loopback.

Webhooks are GitHub's own examples from the shared fixtures, signed; traces arrive through the
upload API with an ingest token; the fake records what we asked of GitHub.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fakes.github import Commit, FakeGitHub, private_key_pem

from bot import jobs
from bot.app import create_app, in_process_client
from bot.db import tokens
from bot.db.engine import session_scope
from bot.github.events import sign
from bot.settings import Settings
from bot.trace import RunType, Runtime, Session, Span, Status, Tokens, hash_tool_input
from bot.wire import to_json

from conftest import FIXTURES

REPO = "Codertocat/Hello-World"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
BASE = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
SECRET = "loop-secret"
OPENED_AT = datetime(2019, 5, 15, 15, 20, 33, tzinfo=UTC)
TRAILER_SESSION = "claude-code:7f3e0b52-trailer"
BUDGET = "version: 1\nbudget:\n  pr: 0.25\n  approvers: [octo-lead]\ncheck:\n  fail_on_exceeded: true\n"


def _session(key: str, *, repo: str | None, branch: str | None, output: int, at: datetime) -> Session:
    """A session of two Claude Sonnet 4.5 calls: (1000 in + `output` out) each, priced by the server."""
    spans = [
        Span(f"{key}:call{i}", RunType.LLM, "claude-sonnet-4-5", started_at=at + timedelta(minutes=i),
             model="claude-sonnet-4-5", provider="anthropic", tokens=Tokens(input=1000, output=output))
        for i in range(2)
    ]
    return Session(key=key, runtime=Runtime.CLAUDE_CODE, repo=repo, branch=branch, started_at=at,
                   ended_at=at + timedelta(minutes=5), spans=spans)


def _cost(output: int) -> float:
    """List price of claude-sonnet-4-5: $3/MTok input, $15/MTok output, two calls."""
    return 2 * (1000 * 3 + output * 15) / 1e6


@dataclass
class Loop:
    client: httpx.AsyncClient
    fake: FakeGitHub
    app: object
    token: str

    @property
    def svc(self):  # noqa: ANN201
        return self.app.state.services

    async def send(self, event: str, payload: dict | bytes, delivery: str, secret: str = SECRET) -> int:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        response = await self.client.post("/webhooks/github", content=body, headers={
            "X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(body, secret)})
        return response.status_code

    async def upload(self, *sessions: Session) -> int:
        response = await self.client.post("/api/v1/sessions", content=to_json(list(sessions)),
                                          headers={"Authorization": f"Bearer {self.token}"})
        return response.status_code

    async def settle(self) -> None:
        await jobs.drain(self.svc)

    def comments(self) -> list:
        return self.fake.comments_on(REPO, 2)

    def checks(self, sha: str = HEAD) -> list:
        return self.fake.check_runs_for(REPO, sha, "AgentSpend")


def _pull_request(action: str, head: str = HEAD, **changes: object) -> dict:
    payload = json.loads((FIXTURES / "github/webhooks/pull_request.opened.json").read_text())
    payload["action"] = action
    payload["pull_request"]["head"]["sha"] = head
    if action == "synchronize":
        payload |= {"before": HEAD, "after": head}
    payload.update(changes)
    return payload


@pytest.fixture
async def loop(database_url: str, fake_github: FakeGitHub) -> AsyncIterator[Loop]:
    async with loop_on(database_url, fake_github) as running:
        yield running


@contextlib.asynccontextmanager
async def loop_on(database_url: str, fake_github: FakeGitHub, **settings: object) -> AsyncIterator[Loop]:
    """The service (without its worker) on a migrated database, the fake GitHub seeded with
    Hello-World's pull request #2 and its budget, and an ingest token for its owner."""
    pr = fake_github.seed_hello_world(commits=[
        Commit("a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", "Start", date="2019-05-15T14:00:00Z"),
        Commit(HEAD, f"Update README\n\nAgent-Session: {TRAILER_SESSION}\n", date="2019-05-15T15:10:00Z"),
    ])
    assert pr.head_sha == HEAD and pr.base_ref == "master"
    fake_github.add_file(REPO, ".github/agentspend.yml", BUDGET, ref="master")
    fake_github.add_file(REPO, ".github/agentspend.yml", "version: 1\nbudget:\n  pr: 1000\n", ref="changes")
    config = Settings(**{
        "database_url": database_url, "webhook_secrets": (SECRET,), "github_app_id": str(fake_github.app.id),
        "github_private_key": private_key_pem(), "github_api_url": fake_github.url, **settings,
    })
    app = create_app(config, run_worker=False)
    async with _serving(app) as client:
        async with session_scope(app.state.services.engine) as db:
            await tokens.ensure_installation(db, 1, "codertocat")
            await tokens.add_repos(db, 1, [REPO])
            token = await tokens.create(db, "codertocat")
        yield Loop(client, fake_github, app, token)


@contextlib.asynccontextmanager
async def _serving(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """The app's lifespan entered and left in one task of its own: pytest-asyncio sets a
    fixture up and tears it down in different tasks, which anyio's task groups refuse."""
    ready: asyncio.Future[httpx.AsyncClient] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()

    async def hold() -> None:
        async with in_process_client(app) as client:
            ready.set_result(client)
            await stop.wait()

    task = asyncio.create_task(hold())
    try:
        yield await ready
    finally:
        stop.set()
        await task


def _trailer_session(output: int = 5000) -> Session:
    return _session(TRAILER_SESSION, repo=None, branch=None, output=output, at=OPENED_AT - timedelta(hours=2))


def _branch_session(output: int = 5000) -> Session:
    return _session("codex:0199-branch", repo="codertocat/hello-world", branch="changes", output=output,
                    at=OPENED_AT - timedelta(hours=1))


async def test_webhook_before_traces(loop: Loop) -> None:
    assert await loop.send("pull_request", _pull_request("opened"), "d-1") == 202
    await loop.settle()
    [check] = loop.checks()
    assert (check.conclusion, check.output["title"]) == ("neutral", "No agent traces found for this pull request")
    assert loop.comments() == []  # no first comment (and e-mail) before there is anything to say

    assert await loop.upload(_trailer_session(), _branch_session()) == 200
    await loop.settle()
    [comment] = loop.comments()
    spent = 2 * _cost(5000)
    assert f"${spent:,.2f}" in comment.body and "trailer" in comment.body and "branch" in comment.body
    [check] = loop.checks()  # the same run, updated in place
    assert check.conclusion == "failure" and check.output["title"].startswith("Over budget")

    as_user = {"Authorization": f"Bearer {loop.fake.user_token('Codertocat')}"}
    report = (await loop.client.get("/api/v1/repos/codertocat/hello-world/pulls/2/report", headers=as_user)).json()
    assert report["total_cost_usd"] == pytest.approx(spent)
    assert {s["key"] for s in report["sessions"]} == {TRAILER_SESSION, "codex:0199-branch"}
    assert report["budget"]["status"] == "over" and report["budget"]["budget_usd"] == 0.25


async def test_traces_before_webhook(loop: Loop) -> None:
    assert await loop.upload(_trailer_session(100)) == 200
    await loop.settle()
    assert loop.fake.calls == []  # no pull request known yet: nothing to tell GitHub
    assert await loop.send("pull_request", _pull_request("opened"), "d-1") == 202
    await loop.settle()
    [comment] = loop.comments()
    assert f"${_cost(100):,.2f}" in comment.body
    [check] = loop.checks()
    assert check.conclusion == "success" and check.output["title"].startswith("Within budget")
    config_reads = loop.fake.calls_to("GET", "/repos/*/contents/.github/agentspend.yml")
    assert {c.query.get("ref") for c in config_reads} == {"master"}  # the base, never the head


async def test_push_with_unchanged_cost_writes_no_comment(loop: Loop) -> None:
    await loop.upload(_trailer_session(100))
    await loop.send("pull_request", _pull_request("opened"), "d-1")
    await loop.settle()
    loop.fake.clear_calls()
    await loop.send("pull_request", _pull_request("labeled"), "d-2")  # same head, nothing new
    await loop.settle()
    assert [c for c in loop.fake.calls if c.method != "GET" and "access_tokens" not in c.path] == []

    new_head = "0123456789abcdef0123456789abcdef01234567"
    loop.fake.add_commit(REPO, Commit(new_head, "More\n"), branch="changes")
    loop.fake.pulls[(REPO, 2)].head_sha = new_head
    await loop.send("pull_request", _pull_request("synchronize", head=new_head), "d-3")
    await loop.settle()
    writes = [f"{c.method} {c.path}" for c in loop.fake.calls if c.method != "GET" and "access_tokens" not in c.path]
    assert writes == ["POST /repos/codertocat/hello-world/check-runs"]  # the new head needs its check
    assert len(loop.checks(new_head)) == 1 and len(loop.comments()) == 1


async def test_twenty_concurrent_synchronize_deliveries_one_comment(loop: Loop) -> None:
    await loop.upload(_trailer_session(100))
    statuses = await asyncio.gather(*(
        loop.send("pull_request", _pull_request("synchronize"), f"sync-{i}") for i in range(20)))
    assert statuses == [202] * 20
    await asyncio.gather(*(jobs.drain(loop.svc) for _ in range(4)))  # four workers racing
    assert len(loop.comments()) == 1
    assert len(loop.checks()) == 1
    async with session_scope(loop.svc.engine) as db:
        states = (await db.execute(sa.text("select state, count(*) from deliveries group by state"))).all()
    assert dict(states) == {"done": 20}


async def test_over_budget_then_approval_turns_success(loop: Loop) -> None:
    await loop.upload(_trailer_session(20000))
    await loop.send("pull_request", _pull_request("opened"), "d-1")
    await loop.settle()
    assert loop.checks()[0].conclusion == "failure"
    assert any(a["identifier"] == "approve" for a in loop.checks()[0].actions)

    comment = json.loads((FIXTURES / "github/webhooks/issue_comment.created.json").read_text())
    comment["issue"]["number"] = 2
    comment["comment"]["body"] = "/agentspend approve hotfix for the release"
    comment["comment"]["user"] = {"login": "mallory", "type": "User", "id": 9}
    await loop.send("issue_comment", comment, "c-1")  # no permission: refused
    await loop.settle()
    assert loop.checks()[0].conclusion == "failure"

    loop.fake.set_permission(REPO, "maintainer-mo", "maintain")
    comment["comment"]["user"] = {"login": "maintainer-mo", "type": "User", "id": 10}
    await loop.send("issue_comment", comment, "c-2")
    await loop.settle()
    [check] = loop.checks()
    assert check.conclusion == "success" and "approved by @maintainer-mo" in check.output["title"]
    [body] = [c.body for c in loop.comments()]
    assert "@maintainer-mo" in body and "hotfix for the release" in body and "mallory" not in body


async def test_config_error_is_shown_with_its_line(loop: Loop) -> None:
    loop.fake.add_file(REPO, ".github/agentspend.yml", "version: 1\nbudget:\n  pr: 20\n  warn: 1.5\n", ref="master")
    await loop.upload(_trailer_session(100))
    await loop.send("pull_request", _pull_request("opened"), "d-1")
    await loop.settle()
    [check] = loop.checks()
    assert check.conclusion == "neutral"
    assert "line 4" in check.output["title"] and "warn" in check.output["title"]
    assert "line 4" in check.output["summary"]


async def test_fork_pull_request_reads_the_base_config(loop: Loop) -> None:
    loop.fake.pulls[(REPO, 2)].head_repo = "forker/Hello-World"
    payload = _pull_request("opened")
    payload["pull_request"]["head"]["repo"] = {**payload["pull_request"]["head"]["repo"], "full_name": "forker/Hello-World"}
    await loop.upload(_trailer_session(20000))
    await loop.send("pull_request", payload, "d-1")
    await loop.settle()
    [check] = loop.checks()
    assert check.conclusion == "failure"  # the fork's own branch cannot raise the budget


async def test_a_fork_branch_of_the_same_name_is_no_tie(loop: Loop) -> None:
    """GitHub names every web edit's branch `patch-1`, in forks and in the repository alike: a
    fork's pull request from its own `changes` says nothing about this repository's `changes`."""
    fork_head = "f0" * 20
    loop.fake.add_pull(REPO, 3, head_sha=fork_head, base_sha=BASE, head_ref="changes", head_repo="forker/Hello-World")
    fork = _pull_request("opened", head=fork_head, number=3)
    fork["pull_request"] |= {"number": 3, "id": 3}
    fork["pull_request"]["head"] |= {"ref": "changes", "repo": {**fork["pull_request"]["head"]["repo"],
                                                                "full_name": "forker/Hello-World"}}
    assert await loop.send("pull_request", fork, "d-fork") == 202
    assert await loop.send("pull_request", _pull_request("opened"), "d-own") == 202
    assert await loop.upload(_branch_session()) == 200
    await loop.settle()

    [comment] = loop.comments()
    assert f"${_cost(5000):,.2f}" in comment.body and "#3" not in comment.body
    assert loop.fake.comments_on(REPO, 3) == []  # the fork's pull request counts nothing of it


async def test_duplicate_delivery_has_no_second_effect(loop: Loop) -> None:
    payload = _pull_request("opened")
    assert await loop.send("pull_request", payload, "same-id") == 202
    assert await loop.send("pull_request", payload, "same-id") == 200
    async with session_scope(loop.svc.engine) as db:
        assert (await db.execute(sa.text("select count(*) from deliveries"))).scalar_one() == 1


async def test_bad_signature_is_refused_and_nothing_stored(loop: Loop) -> None:
    body = json.dumps(_pull_request("opened")).encode()
    assert await loop.send("pull_request", body, "evil-1", secret="wrong") == 401
    missing = await loop.client.post("/webhooks/github", content=body,
                                     headers={"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "evil-2"})
    assert missing.status_code == 401
    async with session_scope(loop.svc.engine) as db:
        assert (await db.execute(sa.text("select count(*) from deliveries"))).scalar_one() == 0


async def test_token_writes_only_its_owners_repositories(loop: Loop) -> None:
    foreign = _session("codex:foreign", repo="someone-else/private", branch="main", output=10, at=OPENED_AT)
    assert await loop.upload(foreign, _trailer_session()) == 403
    async with session_scope(loop.svc.engine) as db:
        assert (await db.execute(sa.text("select count(*) from sessions"))).scalar_one() == 0
    response = await loop.client.post("/api/v1/sessions", content=b"[]", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


async def test_findings_reach_the_comment_the_check_and_the_report_route(loop: Loop) -> None:
    """The thresholds are the base branch's: there, two identical failures already make a retry loop."""
    loop.fake.add_file(REPO, ".github/agentspend.yml", BUDGET + "waste:\n  retry_loop: 2\n", ref="master")
    session = _trailer_session()
    for call in list(session.spans):
        session.spans.append(Span(f"{call.span_id}:bash", RunType.TOOL, "Bash", started_at=call.started_at,
                                  parent_id=call.span_id, status=Status.ERROR, error_kind="is_error",
                                  tool_name="Bash", tool_input_hash=hash_tool_input("pytest -q")))
    await loop.upload(session)
    await loop.send("pull_request", _pull_request("opened"), "d-1")
    await loop.settle()

    as_user = {"Authorization": f"Bearer {loop.fake.user_token('Codertocat')}"}
    report = (await loop.client.get("/api/v1/repos/codertocat/hello-world/pulls/2/report", headers=as_user)).json()
    [finding] = report["findings"]
    assert finding["kind"] == "retry_loop" and finding["session"] == TRAILER_SESSION
    assert finding["span_ids"] == [f"{TRAILER_SESSION}:call{i}:bash" for i in range(2)]
    assert finding["cost_usd"] == pytest.approx(_cost(5000)) and finding["avoidable_usd"] == pytest.approx(_cost(5000) / 2)
    assert report["waste_thresholds"] == "`waste:` in `.github/agentspend.yml` on the base branch"
    [comment] = loop.comments()
    [check] = loop.checks()
    for text in (comment.body, check.output["summary"]):
        assert "**Retry loop**" in text and finding["evidence"] in text and finding["fix"] in text


def test_demo_runs_without_credentials(tmp_path: Path) -> None:
    from bot.cli import main

    assert main(["demo", "--out", str(tmp_path)]) == 0
    comment = (tmp_path / "comment.md").read_text()
    check = json.loads((tmp_path / "check.json").read_text())
    report = json.loads((tmp_path / "report.json").read_text())
    assert f"${report['total_cost_usd']:,.2f}" in comment
    assert check["name"] == "AgentSpend" and check["conclusion"] in {"success", "failure", "neutral"}
    assert {s["runtime"] for s in report["sessions"]} == {"claude-code", "codex"}
    [loop] = report["findings"]  # the sample's pytest run that fails three times in a row
    assert loop["kind"] == "retry_loop" and len(loop["span_ids"]) == 3 and loop["evidence"] in comment


async def test_check_run_button_approves_only_for_permitted_users(loop: Loop) -> None:
    await loop.upload(_trailer_session(20000))
    await loop.send("pull_request", _pull_request("opened"), "d-1")
    await loop.settle()
    [check] = loop.checks()
    click = json.loads((FIXTURES / "github/webhooks/check_run.requested_action.json").read_text())
    click["repository"] = json.loads((FIXTURES / "github/webhooks/pull_request.opened.json").read_text())["repository"]
    click["installation"] = {"id": 1}
    click["check_run"] |= {"id": check.id, "head_sha": HEAD, "name": "AgentSpend"}
    click["check_run"]["app"]["id"] = 999  # another app's button: none of our business
    click["requested_action"] = {"identifier": "approve"}
    click["sender"] = {"login": "octo-admin", "type": "User", "id": 11}
    await loop.send("check_run", click, "b-0")
    await loop.settle()
    assert loop.checks()[0].conclusion == "failure"

    click["check_run"]["app"]["id"] = loop.fake.app.id
    await loop.send("check_run", click, "b-1")  # octo-admin has no permission yet: refused
    await loop.settle()
    assert loop.checks()[0].conclusion == "failure"

    loop.fake.set_permission(REPO, "octo-admin", "admin")
    await loop.send("check_run", click, "b-2")
    await loop.settle()
    [check] = loop.checks()
    assert check.conclusion == "success" and "@octo-admin" in check.output["title"]
    assert not check.actions  # the button goes once the overrun is approved

"""bot/github/client.py against the fake GitHub on loopback: what it reads, what it writes, in which order.

Each test builds the real client from Settings pointed at the fake, with a real App key, so the
JWT -> installation token -> REST path runs as in production, and asserts the fake's call log.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from fakes.github import (
    HELLO_BASE_SHA,
    HELLO_HEAD_SHA,
    HELLO_WORLD,
    MAX_OUTPUT,
    NEW_API,
    App,
    Commit,
    FakeGitHub,
    Reply,
    private_key_pem,
)
from githubkit.exception import RequestFailed

from bot.github import client
from bot.github.client import (
    COMMENT_DELETED,
    GitHubClient,
    RecordingClient,
    RetryLater,
    make_client,
)
from bot.github.facts import CheckAction, CheckOutput, PullFacts
from bot.settings import Settings

CONFIG = ".github/agentspend.yml"
MARKER = "<!-- agentspend:v1 -->"
TOKEN = "POST /app/installations/1/access_tokens"
PR = f"/repos/{HELLO_WORLD}/pulls/2"
COMMENTS = f"/repos/{HELLO_WORLD}/issues/2/comments"
CHECK_RUNS = f"/repos/{HELLO_WORLD}/check-runs"
RUNS_ON_HEAD = f"/repos/{HELLO_WORLD}/commits/{HELLO_HEAD_SHA}/check-runs"
WITHIN = CheckOutput(conclusion="success", title="$1.20 of $5.00", summary="Within budget.")


def settings_for(fake: FakeGitHub) -> Settings:
    return Settings(github_app_id=str(fake.app.id), github_private_key=private_key_pem(), github_api_url=fake.url)


@pytest.fixture
async def gh(fake_github: FakeGitHub) -> AsyncIterator[GitHubClient]:
    async with GitHubClient(settings_for(fake_github)) as github:
        yield github


@pytest.fixture
def world(fake_github: FakeGitHub) -> FakeGitHub:
    """Hello-World PR #2 (changes -> master), two commits with trailers, an empty call log."""
    commits = [Commit("a" * 40, "Add greeting\n\nAgent-Session: claude-code:s1", author_login="octocat"),
               Commit(HELLO_HEAD_SHA, "Update README\n\nAgent-Session: codex:s2")]
    fake_github.seed_hello_world(commits)
    fake_github.clear_calls()
    return fake_github


def bodies(fake: FakeGitHub, method: str, path: str) -> list[dict]:
    return [call.json for call in fake.calls_to(method, path)]


# --- pull_facts ----------------------------------------------------------------------------------


async def test_pull_facts_reads_the_pull_its_commits_and_the_config_at_the_base_branch(
    world: FakeGitHub, gh: GitHubClient
) -> None:
    world.add_file(HELLO_WORLD, CONFIG, "budget_usd: 5\n", ref="master")
    world.add_file(HELLO_WORLD, CONFIG, "budget_usd: 5000\n", ref="changes")  # the author's own branch
    world.add_file(HELLO_WORLD, CONFIG, "budget_usd: 5000\n", ref=HELLO_HEAD_SHA)

    facts = await gh.pull_facts(HELLO_WORLD, 2, 1)

    assert facts.config_text == "budget_usd: 5\n"
    assert (facts.repo, facts.number, facts.installation_id) == ("codertocat/hello-world", 2, 1)
    assert (facts.head_sha, facts.head_ref, facts.base_ref, facts.base_sha) == (
        HELLO_HEAD_SHA, "changes", "master", HELLO_BASE_SHA)
    assert (facts.author, facts.labels, facts.state, facts.merged, facts.is_fork) == (
        "Codertocat", ("bug",), "open", False, False)
    assert facts.opened_at == datetime(2019, 5, 15, 15, 20, 33, tzinfo=UTC)
    assert [(c.sha, c.author_login) for c in facts.commits] == [("a" * 40, "octocat"), (HELLO_HEAD_SHA, "Codertocat")]
    assert facts.commits[1].message == "Update README\n\nAgent-Session: codex:s2"
    assert facts.commits[0].authored_at == datetime(2019, 5, 15, 15, 20, 30, tzinfo=UTC)
    assert world.requests() == [TOKEN, f"GET {PR}", f"GET {PR}/commits", f"GET /repos/{HELLO_WORLD}/contents/{CONFIG}"]
    content = world.calls_to("GET", "*/contents/*")[0]
    assert content.query == {"ref": "master"}
    assert content.headers["accept"] == "application/vnd.github.raw+json"


async def test_a_missing_config_is_none_and_a_fork_is_recognised(fake_github: FakeGitHub, gh: GitHubClient) -> None:
    fake_github.seed_hello_world()
    fake_github.add_pull(HELLO_WORLD, 3, head_sha="b" * 40, base_sha=HELLO_BASE_SHA, head_repo="someone/Hello-World")

    fork = await gh.pull_facts(HELLO_WORLD, 3, 1)
    own = await gh.pull_facts(HELLO_WORLD, 2, 1)

    assert (fork.is_fork, own.is_fork) == (True, False)
    assert fork.config_text is None
    assert [c.status for c in fake_github.calls_to("GET", "*/contents/*")] == [404, 404]


async def test_a_pull_of_up_to_250_commits_is_listed_in_pages(fake_github: FakeGitHub, gh: GitHubClient) -> None:
    fake_github.seed_hello_world([Commit(f"{i:040x}", f"Step {i}") for i in range(1, 251)])
    fake_github.clear_calls()

    facts = await gh.pull_facts(HELLO_WORLD, 2, 1)

    assert [c.message for c in facts.commits] == [f"Step {i}" for i in range(1, 251)]
    pages = fake_github.calls_to("GET", f"{PR}/commits")
    assert [(c.query.get("page"), c.query.get("per_page")) for c in pages] == [
        (None, "100"), ("2", "100"), ("3", "100")]
    # githubkit sends the API version on later pages only because we pass it (docs/github.md §3, gotcha 7)
    assert {c.headers.get("x-github-api-version") for c in pages} == {NEW_API}
    assert not fake_github.calls_to("GET", "*/compare/*")


async def test_a_300_commit_pull_is_read_whole_from_the_comparison(
    fake_github: FakeGitHub, gh: GitHubClient, caplog: pytest.LogCaptureFixture
) -> None:
    """GitHub lists 250 commits of a pull request; a trailer in commit 300 must still be seen."""
    commits = [Commit(f"{i:040x}", f"Step {i}") for i in range(1, 300)]
    fake_github.seed_hello_world([*commits, Commit(HELLO_HEAD_SHA, "Last\n\nAgent-Session: s300")])
    fake_github.clear_calls()

    facts = await gh.pull_facts(HELLO_WORLD, 2, 1)

    assert [c.message for c in facts.commits[:-1]] == [f"Step {i}" for i in range(1, 300)]
    assert facts.commits[-1].sha == HELLO_HEAD_SHA and "Agent-Session: s300" in facts.commits[-1].message
    assert not [m for m in caplog.messages if "only the first" in m]
    assert not fake_github.calls_to("GET", f"{PR}/commits")
    pages = fake_github.calls_to("GET", f"/repos/{HELLO_WORLD}/compare/{HELLO_BASE_SHA}...{HELLO_HEAD_SHA}")
    assert [(c.query.get("page"), c.query.get("per_page"), c.status) for c in pages] == [
        (None, "100", 200), ("2", "100", 200), ("3", "100", 200)]
    assert {c.headers.get("x-github-api-version") for c in pages} == {NEW_API}


async def test_a_comparison_github_refuses_falls_back_to_the_first_250(
    fake_github: FakeGitHub, gh: GitHubClient, caplog: pytest.LogCaptureFixture
) -> None:
    fake_github.seed_hello_world([Commit(f"{i:040x}", f"Step {i}") for i in range(1, 301)])
    fake_github.script("GET", "*/compare/*", Reply(422, {"message": "Validation Failed"}))

    facts = await gh.pull_facts(HELLO_WORLD, 2, 1)

    assert [c.message for c in facts.commits] == [f"Step {i}" for i in range(1, 251)]
    assert any("GitHub did not compare" in m and "(422)" in m for m in caplog.messages)
    assert "Codertocat/Hello-World#2 has 300 commits; only the first 250 are read" in caplog.messages


async def test_a_pull_beyond_the_commit_limit_is_read_up_to_it_and_says_so(
    fake_github: FakeGitHub, gh: GitHubClient, caplog: pytest.LogCaptureFixture
) -> None:
    over = client.MAX_COMMITS + 1
    fake_github.seed_hello_world([Commit(f"{i:040x}", f"Step {i}") for i in range(1, over + 1)])

    facts = await gh.pull_facts(HELLO_WORLD, 2, 1)

    assert [c.message for c in facts.commits] == [f"Step {i}" for i in range(1, over)]
    assert f"Codertocat/Hello-World#2 has {over} commits; only the first {over - 1} are read" in caplog.messages


# --- upsert_comment ------------------------------------------------------------------------------


async def test_the_comment_is_created_once_then_edited_in_place(world: FakeGitHub, gh: GitHubClient) -> None:
    first = await gh.upsert_comment(HELLO_WORLD, 2, 1, f"{MARKER}\n$1.20", None, MARKER)
    again = await gh.upsert_comment(HELLO_WORLD, 2, 1, f"{MARKER}\n$1.30", first, MARKER)

    assert again == first
    assert [(c.id, c.body, c.user) for c in world.comments_on(HELLO_WORLD, 2)] == [
        (first, f"{MARKER}\n$1.30", "agentspend[bot]")]
    assert world.requests() == [TOKEN, f"GET {COMMENTS}", f"POST {COMMENTS}",
                                f"PATCH /repos/{HELLO_WORLD}/issues/comments/{first}"]


async def test_without_a_stored_id_our_marked_comment_is_found_and_a_quoting_human_is_left_alone(
    world: FakeGitHub, gh: GitHubClient
) -> None:
    human = world.add_comment(HELLO_WORLD, 2, f"> {MARKER}\n> $1.20\nwhy so expensive?", user="octocat")
    unmarked = world.add_comment(HELLO_WORLD, 2, "an older note from our bot", app=world.app)
    ours = world.add_comment(HELLO_WORLD, 2, f"{MARKER}\n$1.20", app=world.app)

    found = await gh.upsert_comment(HELLO_WORLD, 2, 1, f"{MARKER}\n$1.30", None, MARKER)

    assert found == ours.id
    assert world.comments[ours.id].body == f"{MARKER}\n$1.30"
    assert world.comments[human.id].body.startswith("> ") and world.comments[unmarked.id].body.startswith("an older")
    assert world.requests() == [TOKEN, f"GET {COMMENTS}", f"PATCH /repos/{HELLO_WORLD}/issues/comments/{ours.id}"]


async def test_a_found_comment_with_the_same_body_is_not_edited(world: FakeGitHub, gh: GitHubClient) -> None:
    ours = world.add_comment(HELLO_WORLD, 2, f"{MARKER}\n$1.20", app=world.app)

    assert await gh.upsert_comment(HELLO_WORLD, 2, 1, f"{MARKER}\n$1.20", None, MARKER) == ours.id
    assert world.requests() == [TOKEN, f"GET {COMMENTS}"]


async def test_duplicate_marked_comments_collapse_into_the_oldest(world: FakeGitHub, gh: GitHubClient) -> None:
    oldest = world.add_comment(HELLO_WORLD, 2, f"{MARKER}\n$1.00", app=world.app)
    newer = [world.add_comment(HELLO_WORLD, 2, f"{MARKER}\n$1.10", app=world.app) for _ in range(2)]

    kept = await gh.upsert_comment(HELLO_WORLD, 2, 1, f"{MARKER}\n$1.30", None, MARKER)

    assert kept == oldest.id
    assert [(c.id, c.body) for c in world.comments_on(HELLO_WORLD, 2)] == [(oldest.id, f"{MARKER}\n$1.30")]
    assert world.requests() == [
        TOKEN, f"GET {COMMENTS}", f"PATCH /repos/{HELLO_WORLD}/issues/comments/{oldest.id}",
        *[f"DELETE /repos/{HELLO_WORLD}/issues/comments/{c.id}" for c in newer],
    ]


async def test_after_a_person_deletes_our_comment_we_stay_silent(world: FakeGitHub, gh: GitHubClient) -> None:
    posted = await gh.upsert_comment(HELLO_WORLD, 2, 1, f"{MARKER}\n$1.20", None, MARKER)
    del world.comments[posted]  # someone pressed "Delete" on it
    world.clear_calls()

    assert await gh.upsert_comment(HELLO_WORLD, 2, 1, f"{MARKER}\n$1.30", posted, MARKER) == COMMENT_DELETED
    assert await gh.upsert_comment(HELLO_WORLD, 2, 1, f"{MARKER}\n$1.40", COMMENT_DELETED, MARKER) == COMMENT_DELETED

    assert world.comments_on(HELLO_WORLD, 2) == []
    assert world.requests(with_status=True) == [f"PATCH /repos/{HELLO_WORLD}/issues/comments/{posted} -> 404"]


async def test_a_body_without_its_marker_is_refused_before_any_call(world: FakeGitHub, gh: GitHubClient) -> None:
    with pytest.raises(ValueError, match="marker"):
        await gh.upsert_comment(HELLO_WORLD, 2, 1, "$1.20", None, MARKER)
    assert world.calls == []


# --- check runs ----------------------------------------------------------------------------------


async def test_a_check_run_is_created_completed_then_updated_in_place(world: FakeGitHub, gh: GitHubClient) -> None:
    output = CheckOutput("neutral", "$6.10 of $5.00 (warn only)", "Over budget.", text="details",
                         actions=(CheckAction("Approve overrun", "Accept this cost", "approve"),),
                         details_url="https://agentspend.example.com/r/2")

    created = await gh.upsert_check_run(HELLO_WORLD, HELLO_HEAD_SHA, 1, output, None, external_id="pr-2")
    updated = await gh.upsert_check_run(HELLO_WORLD, HELLO_HEAD_SHA, 1, WITHIN, created)

    assert updated == created
    [run] = world.check_runs_for(HELLO_WORLD, HELLO_HEAD_SHA)
    assert (run.id, run.name, run.status, run.conclusion) == (created, "AgentSpend", "completed", "success")
    assert (run.details_url, run.external_id) == ("https://agentspend.example.com/r/2", "pr-2")
    assert run.output == {"title": "$1.20 of $5.00", "summary": "Within budget.", "text": None}
    assert run.actions == []  # the button of the over-budget rendering is gone
    assert bodies(world, "POST", CHECK_RUNS)[0]["actions"] == [
        {"label": "Approve overrun", "description": "Accept this cost", "identifier": "approve"}]
    assert world.requests() == [TOKEN, f"GET {RUNS_ON_HEAD}", f"POST {CHECK_RUNS}",
                                f"GET {RUNS_ON_HEAD}", f"PATCH {CHECK_RUNS}/{created}"]
    assert world.calls_to("GET", RUNS_ON_HEAD)[0].query == {
        "check_name": "AgentSpend", "app_id": str(world.app.id), "filter": "latest", "per_page": "100"}


async def test_the_waiting_run_on_the_head_sha_is_found_and_completed(world: FakeGitHub, gh: GitHubClient) -> None:
    other_app = world.add_check_run(HELLO_WORLD, "AgentSpend", HELLO_HEAD_SHA, app=App(id=7, slug="impostor"))
    waiting = await gh.create_in_progress_check(HELLO_WORLD, HELLO_HEAD_SHA, 1, "Waiting for agent traces…")
    assert world.check_runs[waiting].status == "in_progress"

    completed = await gh.upsert_check_run(HELLO_WORLD, HELLO_HEAD_SHA, 1, WITHIN, None)

    assert completed == waiting
    assert (world.check_runs[waiting].status, world.check_runs[waiting].conclusion) == ("completed", "success")
    assert world.check_runs[other_app.id].status == "queued"  # another App's run of the same name is not ours
    assert world.requests()[-2:] == [f"GET {RUNS_ON_HEAD}", f"PATCH {CHECK_RUNS}/{waiting}"]


async def test_a_stored_id_from_an_older_head_gets_a_new_run_on_the_new_head(
    world: FakeGitHub, gh: GitHubClient
) -> None:
    world.add_commit(HELLO_WORLD, Commit("c" * 40, "Next push"))
    old = await gh.upsert_check_run(HELLO_WORLD, HELLO_HEAD_SHA, 1, WITHIN, None)

    new = await gh.upsert_check_run(HELLO_WORLD, "c" * 40, 1, WITHIN, old)

    assert new != old
    assert [r.head_sha for r in world.check_runs_for(HELLO_WORLD, name="AgentSpend")] == [HELLO_HEAD_SHA, "c" * 40]
    assert world.requests()[-2:] == [f"GET /repos/{HELLO_WORLD}/commits/{'c' * 40}/check-runs", f"POST {CHECK_RUNS}"]


async def test_github_limits_are_applied_before_sending(world: FakeGitHub, gh: GitHubClient) -> None:
    row = "| claude-code | claude-sonnet | Read | $0.01 |\n"
    long_description = "Accept this cost and record who accepted it"
    actions = tuple(CheckAction(f"Approve overrun number {i}", long_description, f"approve-budget-{i}-right-now")
                    for i in range(4))
    output = CheckOutput("failure", "$9 of $5", row * 2000, text="🙂" * 40_000, actions=actions)

    await gh.upsert_check_run(HELLO_WORLD, HELLO_HEAD_SHA, 1, output, None)

    [sent] = bodies(world, "POST", CHECK_RUNS)
    summary, text = sent["output"]["summary"], sent["output"]["text"]
    assert len(summary) <= MAX_OUTPUT and summary.endswith(client.TRUNCATED)
    assert summary.removesuffix(client.TRUNCATED).endswith("$0.01 |")  # cut at a line break, not inside a row
    assert len(text.encode("utf-16-le")) // 2 <= MAX_OUTPUT and text.startswith("🙂" * 100)
    assert [a["identifier"] for a in sent["actions"]] == [  # cut, not ellipsized: GitHub sends it back to us
        "approve-budget-0-rig", "approve-budget-1-rig", "approve-budget-2-rig"]
    assert all(len(a["label"]) <= 20 and len(a["description"]) <= 40 for a in sent["actions"])
    assert sent["actions"][0]["label"] == "Approve overrun num…"
    assert world.check_runs_for(HELLO_WORLD, HELLO_HEAD_SHA)[0].conclusion == "failure"  # GitHub accepted it


# --- retries and rate limits ---------------------------------------------------------------------


async def test_a_5xx_is_retried(world: FakeGitHub, gh: GitHubClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client, "SERVER_ERROR_BACKOFF", (0.2, 0.2, 0.2))
    world.fail("GET", PR, status=502, times=2)

    started = time.monotonic()
    facts = await gh.pull_facts(HELLO_WORLD, 2, 1)

    assert facts.head_sha == HELLO_HEAD_SHA
    assert time.monotonic() - started >= 0.4  # it waited between attempts
    assert [c.status for c in world.calls_to("GET", PR)] == [502, 502, 200]


async def test_a_5xx_that_persists_is_raised_after_three_retries(
    world: FakeGitHub, gh: GitHubClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "SERVER_ERROR_BACKOFF", (0.01, 0.01, 0.01))
    world.fail("GET", PR, status=503, times=5)

    with pytest.raises(RequestFailed) as failure:
        await gh.pull_facts(HELLO_WORLD, 2, 1)

    assert failure.value.response.status_code == 503
    assert len(world.calls_to("GET", PR)) == 4


async def test_a_long_secondary_rate_limit_raises_retry_later_without_sleeping(
    world: FakeGitHub, gh: GitHubClient
) -> None:
    world.rate_limit("POST", COMMENTS, retry_after=60)

    started = time.monotonic()
    with pytest.raises(RetryLater) as later:
        await gh.upsert_comment(HELLO_WORLD, 2, 1, f"{MARKER}\n$1.20", None, MARKER)

    assert time.monotonic() - started < 2
    assert later.value.retry_after == 60
    assert world.requests(with_status=True)[-1] == f"POST {COMMENTS} -> 403"
    assert world.comments_on(HELLO_WORLD, 2) == []


async def test_a_short_secondary_rate_limit_is_waited_out_once(world: FakeGitHub, gh: GitHubClient) -> None:
    world.rate_limit("POST", COMMENTS, retry_after=1, times=1)

    started = time.monotonic()
    posted = await gh.upsert_comment(HELLO_WORLD, 2, 1, f"{MARKER}\n$1.20", None, MARKER)

    assert 1 <= time.monotonic() - started < 5
    assert [c.id for c in world.comments_on(HELLO_WORLD, 2)] == [posted]
    assert [c.status for c in world.calls_to("POST", COMMENTS)] == [403, 201]


async def test_a_short_limit_hit_twice_becomes_retry_later(world: FakeGitHub, gh: GitHubClient) -> None:
    world.rate_limit("POST", COMMENTS, retry_after=1, times=2)

    with pytest.raises(RetryLater) as later:
        await gh.upsert_comment(HELLO_WORLD, 2, 1, f"{MARKER}\n$1.20", None, MARKER)

    assert later.value.retry_after == 1
    assert [c.status for c in world.calls_to("POST", COMMENTS)] == [403, 403]


async def test_an_exhausted_primary_limit_raises_retry_later_until_the_reset(
    world: FakeGitHub, gh: GitHubClient
) -> None:
    world.rate_limit("GET", PR, retry_after=3600, secondary=False)

    started = time.monotonic()
    with pytest.raises(RetryLater) as later:
        await gh.pull_facts(HELLO_WORLD, 2, 1)

    assert time.monotonic() - started < 2
    assert 3500 < later.value.retry_after <= 3600


async def test_a_rate_limited_token_request_also_raises_retry_later(world: FakeGitHub, gh: GitHubClient) -> None:
    world.rate_limit("POST", "/app/installations/1/access_tokens", retry_after=120)

    with pytest.raises(RetryLater) as later:
        await gh.permission(HELLO_WORLD, "octocat", 1)

    assert later.value.retry_after == 120
    assert world.requests() == [TOKEN]


# --- people --------------------------------------------------------------------------------------


async def test_permission_levels(world: FakeGitHub, gh: GitHubClient) -> None:
    world.set_permission(HELLO_WORLD, "octocat", "maintain")
    world.set_permission(HELLO_WORLD, "hubot", "triage")
    world.script("GET", "*/collaborators/ghost/permission", Reply(404, {"message": "Not Found"}))

    logins = ("Codertocat", "octocat", "hubot", "stranger", "ghost")
    levels = [await gh.permission(HELLO_WORLD, login, 1) for login in logins]

    assert levels == ["admin", "maintain", "triage", "none", "none"]


async def test_team_membership(world: FakeGitHub, gh: GitHubClient) -> None:
    world.add_team_member("Codertocat", "budget-approvers", "octocat")

    assert await gh.team_member("Codertocat", "budget-approvers", "octocat", 1) is True
    assert await gh.team_member("Codertocat", "budget-approvers", "hubot", 1) is False
    assert world.requests(with_status=True)[-2:] == [
        "GET /orgs/Codertocat/teams/budget-approvers/memberships/octocat -> 200",
        "GET /orgs/Codertocat/teams/budget-approvers/memberships/hubot -> 404",
    ]


async def test_one_token_per_installation_and_app_id(world: FakeGitHub, gh: GitHubClient) -> None:
    world.add_repo("acme/rocket", installation_id=2)
    world.set_permission("acme/rocket", "octocat", "write")

    for _ in range(2):
        assert await gh.permission(HELLO_WORLD, "Codertocat", 1) == "admin"
        assert await gh.permission("acme/rocket", "octocat", 2) == "write"

    assert gh.app_id == world.app.id
    assert [c.path for c in world.calls_to("POST", "/app/installations/*")] == [
        "/app/installations/1/access_tokens", "/app/installations/2/access_tokens"]


# --- the recording client and the choice between the two ----------------------------------------


async def test_recording_client_records_writes_and_serves_reads() -> None:
    facts = PullFacts(repo="acme/rocket", number=7, installation_id=3, head_sha="d" * 40, head_ref="agent/fix",
                      base_ref="main", base_sha="e" * 40)
    recorder = RecordingClient(facts={("acme/rocket", 7): facts}, permissions={("acme/rocket", "octocat"): "admin"},
                               teams={("acme", "leads"): frozenset({"hubot"})})
    many = CheckOutput("success", "ok", "x" * (MAX_OUTPUT + 10),
                       actions=tuple(CheckAction("A", "B", f"id{i}") for i in range(5)))

    async with recorder as gh:
        assert await gh.pull_facts("acme/rocket", 7, 3) is facts
        with pytest.raises(LookupError):
            await gh.pull_facts("acme/rocket", 8, 3)
        waiting = await gh.create_in_progress_check("acme/rocket", "d" * 40, 3, "Waiting for traces")
        run = await gh.upsert_check_run("acme/rocket", "d" * 40, 3, many, None)
        comment = await gh.upsert_comment("acme/rocket", 7, 3, f"{MARKER}\nhi", None, MARKER)
        same = await gh.upsert_comment("acme/rocket", 7, 3, f"{MARKER}\nbye", comment, MARKER)
        silent = await gh.upsert_comment("acme/rocket", 7, 3, f"{MARKER}\nagain", COMMENT_DELETED, MARKER)
        roles = [await gh.permission("acme/rocket", who, 3) for who in ("octocat", "hubot")]
        members = [await gh.team_member("acme", "leads", who, 3) for who in ("octocat", "hubot")]

    assert (waiting, run, comment, same, silent) == (1, 1, 2, 2, COMMENT_DELETED)
    assert (roles, members) == (["admin", "none"], [False, True])
    assert [w.method for w in recorder.writes] == [
        "create_in_progress_check", "upsert_check_run", "upsert_comment", "upsert_comment"]
    recorded = recorder.writes[1].arguments["output"]
    assert len(recorded.actions) == 3 and len(recorded.summary) <= MAX_OUTPUT  # what GitHub would have received
    written = json.loads(recorder.to_json())
    assert written[3] == {"method": "upsert_comment", "arguments": {
        "repo": "acme/rocket", "number": 7, "installation_id": 3, "body": f"{MARKER}\nbye", "comment_id": 2,
        "marker": MARKER}}
    assert written[1]["arguments"]["output"]["conclusion"] == "success"


def test_make_client_records_in_dry_run_and_needs_credentials_otherwise(fake_github: FakeGitHub) -> None:
    assert isinstance(make_client(Settings(dry_run=True)), RecordingClient)
    assert isinstance(make_client(settings_for(fake_github)), GitHubClient)
    with pytest.raises(ValueError, match="GITHUB_APP_ID"):
        make_client(Settings())

"""Acceptance on SQLite and Postgres: a seeded month behind sign-in — figures, charts, review, alerts, access.

The JSON API and the HTML pages are read through the real routes; the charts' bars are parsed
out of the served SVG and held against the API to the cent.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import pytest
import seed
from fakes.github import HELLO_MERGE_SHA, FakeGitHub, private_key_pem
from fakes.slack import FakeSlack, fake_slack  # noqa: F401  (fixture)

from bot import jobs
from bot.app import create_app
from bot.db import tokens
from bot.db.engine import session_scope
from bot.settings import Settings
from conftest import FIXTURES
from test_loop import _serving

PUBLIC = "http://agentspend.local"
NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Site:
    client: httpx.AsyncClient
    fake: FakeGitHub
    app: object

    @property
    def svc(self):  # noqa: ANN201
        return self.app.state.services

    async def sign_in(self, login: str) -> None:
        """The OAuth web flow as a browser does it: us → GitHub's authorize page → back to our callback."""
        self.fake.sign_in(login)
        start = await self.client.get("/login")
        assert start.status_code in (302, 307) and "state=" in start.headers["location"]
        at_github = httpx.get(start.headers["location"], follow_redirects=False)
        back = urlsplit(at_github.headers["location"])
        done = await self.client.get(f"{back.path}?{back.query}")
        assert done.status_code in (302, 307), done.text

    async def json(self, path: str) -> dict:
        response = await self.client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        return response.json()


def settings_for(database_url: str, fake: FakeGitHub, **extra: object) -> Settings:
    return Settings(
        database_url=database_url, webhook_secrets=(seed.SECRET,), github_app_id=str(fake.app.id),
        github_private_key=private_key_pem(), github_api_url=fake.url, github_client_id=fake.app.client_id,
        github_client_secret=fake.app.client_secret, session_secret="s" * 32, public_url=PUBLIC,
        allow_http_webhooks=True, **extra,
    )


@pytest.fixture
async def site(database_url: str, fake_github: FakeGitHub, fake_slack: FakeSlack) -> AsyncIterator[Site]:
    seed.seed_github(fake_github, NOW)
    fake_github.add_file("acme/.github", "agentspend.yml", seed.org_config(fake_slack.url))
    app = create_app(settings_for(database_url, fake_github), run_worker=False)
    async with _serving(app) as client:
        await seed.seed_month(client, app.state.services, NOW)
        yield Site(client, fake_github, app)


def bars(html: str, chart: str) -> list[tuple[str, str, float]]:
    """(label, data-value, width or height) of every bar of one chart, as served."""
    block = re.search(rf'<figure class="chart" id="chart-{chart}".*?</figure>', html, re.S)
    assert block, f"chart {chart} is missing"
    found = []
    for rect in re.findall(r"<rect [^>]*>", block.group(0)):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', rect))
        size = float(attrs["width"] if chart != "cost-per-merged-pr" else attrs["height"])
        found.append((attrs["data-label"], attrs["data-value"], size))
    return found


def cents(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


ACME_KEYS = [s[0] for s in seed.SESSIONS if s[2].startswith("acme/")]


async def test_seeded_month(site: Site) -> None:
    await site.sign_in("octocat")
    m = await site.json("/api/v1/owners/acme/metrics?window=month")
    assert m["repos"] == ["acme/api", "acme/web"]
    spend = m["spend"]
    assert spend["total_usd"] == pytest.approx(sum(seed.cost(k) for k in ACME_KEYS))
    assert {r["name"]: r["cost_usd"] for r in spend["by_repo"]} == pytest.approx({
        "acme/api": sum(seed.cost(k) for k in ("claude-code:a1", "claude-code:b1", "claude-code:c1", "claude-code:h1")),
        "acme/web": sum(seed.cost(k) for k in ("codex:d1", "claude-code:d2", "claude-code:e1", "claude-code:f1"))})
    assert {r["name"] for r in spend["by_model"]} == {"claude-sonnet-4-5", "gpt-5"}
    assert {r["name"]: r["cost_usd"] for r in spend["by_team"]}["web"] == pytest.approx(
        sum(seed.cost(k) for k in ("codex:d1", "claude-code:d2", "claude-code:e1", "claude-code:f1")))

    # Cost per accepted change: spend on PRs closed in the window ÷ those merged and not reverted.
    closed = {1: 2.10, 2: 3.30, 3: 1.80, 4: 2.05, 5: 1.50}
    out = m["outcomes"]
    assert (out["closed_prs"], out["accepted"], out["abandoned"], out["reverted"]) == (5, 3, 1, 1)
    assert out["spend_usd"] == pytest.approx(sum(closed.values()))
    assert out["cost_per_accepted_change_usd"] == pytest.approx(sum(closed.values()) / 3)
    assert (out["abandoned_usd"], out["reverted_usd"]) == (pytest.approx(1.80), pytest.approx(3.30))
    assert {p["number"]: p["outcome"] for p in m["pulls"] if p["repo"] == "acme/api"} == {1: "accepted", 2: "reverted", 3: "abandoned"}
    assert sum(p["accepted"] for p in m["cost_per_merged_pr"]) == 3

    # The five charts draw exactly the API's figures, to the cent, with widths in proportion.
    page = (await site.client.get("/?owner=acme&window=month")).text
    expected = {
        "by-model": spend["by_model"], "by-repo": spend["by_repo"], "by-runtime": spend["by_runtime"], "by-tool": spend["by_tool"],
    }
    for chart, rows in expected.items():
        drawn = bars(page, chart)
        assert [(label, value) for label, value, _ in drawn] == [(r["name"], cents(r["cost_usd"])) for r in rows], chart
        largest = max(r["cost_usd"] for r in rows)
        assert [size for *_, size in drawn] == [round(r["cost_usd"] / largest * 360, 2) for r in rows], chart
    series = bars(page, "cost-per-merged-pr")
    assert [value for _, value, _ in series] == [cents(p["cost_per_accepted_change_usd"]) for p in m["cost_per_merged_pr"]]
    assert f'data-value="{spend["total_usd"]:.2f}"' in page

    # The weekly review.
    review = await site.json("/api/v1/owners/acme/review/weekly")
    assert [i["session"] for i in review["useful"]] == ["codex:d1"]
    assert [i["session"] for i in review["wasteful"]] == ["claude-code:b1", "claude-code:c1", "claude-code:e1"]
    assert [i["reasons"] for i in review["wasteful"]][0] == ["reverted by " + seed.sha(f"revert of {seed.PULLS[1].merge_sha}")[:7]]
    assert [i["session"] for i in review["undecided"]] == ["claude-code:f1"]
    assert {p["kind"] for p in review["prevent"]} == {"retry_loop", "abandoned", "reverted"}
    weekly = (await site.client.get("/review/weekly?owner=acme")).text
    for group, keys in (("useful", ["codex:d1"]), ("wasteful", ["claude-code:b1", "claude-code:c1", "claude-code:e1"])):
        table = re.search(rf'data-group="{group}".*?</table>', weekly, re.S).group(0)
        assert re.findall(r'data-session="([^"]+)"', table) == keys

    # The pull request page: the comment's figures and the sessions → spans drill-down.
    pr_page = (await site.client.get("/repos/acme/web/pulls/4")).text
    report = await site.json("/api/v1/repos/acme/web/pulls/4/report")
    assert f'data-value="{report["total_cost_usd"]:.2f}"' in pr_page
    assert 'data-session="codex:d1"' in pr_page and "codex:d1:tool1" not in pr_page  # span names, never ids
    assert pr_page.count("<tr><td>") >= 3

    # Another account's private repository is invisible, to the cent and the name.
    assert "other/secret" not in page and "9.00" not in page
    assert (await site.client.get("/repos/other/secret")).status_code == 404
    assert (await site.client.get("/api/v1/owners/other/metrics")).status_code == 404
    assert (await site.client.get("/api/v1/repos/other/secret/pulls/1/report")).status_code == 404


async def test_access(site: Site) -> None:
    anonymous = await site.client.get("/repos/acme/api")
    assert anonymous.status_code == 404
    assert (await site.client.get("/")).headers["location"] == "/login?next=/"
    assert (await site.client.get("/api/v1/owners/acme/metrics")).status_code == 401
    assert (await site.client.get("/api/v1/repos/acme/web/pulls/4/report")).status_code == 401

    await site.sign_in("mallory")  # a GitHub user without any role on acme's private repositories
    for path in ("/repos/acme/api", "/repos/acme/web/pulls/4", "/api/v1/owners/acme/metrics",
                 "/api/v1/repos/acme/web/pulls/4/report", "/api/v1/owners/acme/review/weekly"):
        response = await site.client.get(path)
        assert response.status_code == 404, path
        assert "claude" not in response.text and "$" not in response.text
    assert "acme" not in (await site.client.get("/")).text

    # A script with its own GitHub token sees what its owner may see.
    token = site.fake.user_token("octocat")
    async with httpx.AsyncClient(transport=site.client._transport, base_url=PUBLIC) as script:  # no session cookie
        response = await script.get("/api/v1/repos/acme/web/pulls/4/report", headers={"Authorization": f"Bearer {token}"})
        assert (await script.get("/api/v1/owners/acme/metrics", headers={"Authorization": "Bearer ghu_forged"})).status_code == 401
    assert response.status_code == 200 and response.json()["total_cost_usd"] == pytest.approx(seed.cost("codex:d1") + seed.cost("claude-code:d2"))


async def test_sign_in_checks_state_and_sign_out_needs_csrf(site: Site) -> None:
    site.fake.sign_in("octocat")
    start = await site.client.get("/login")
    at_github = urlsplit(httpx.get(start.headers["location"], follow_redirects=False).headers["location"])
    forged = re.sub(r"state=[^&]+", "state=forged", at_github.query)
    assert (await site.client.get(f"{at_github.path}?{forged}")).status_code == 400
    assert (await site.client.get("/")).status_code in (302, 307)  # not signed in

    await site.sign_in("octocat")
    assert (await site.client.get("/")).status_code == 200
    assert (await site.client.post("/logout")).status_code == 403  # no CSRF token
    form = (await site.client.get("/logout")).text
    token = re.search(r'name="_csrf_token" value="([^"]+)"', form).group(1)
    out = await site.client.post("/logout", data={"_csrf_token": token})
    assert out.status_code == 303
    assert (await site.client.get("/")).status_code in (302, 307)
    cookie = next(c for c in out.headers.get_list("set-cookie") if c.startswith("agentspend_session"))
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower() and "agentspend_session=null" in cookie


async def test_a_window_crossing_80_percent_warns_once(database_url: str, fake_github: FakeGitHub, fake_slack: FakeSlack) -> None:
    at = datetime(2026, 11, 18, 12, 30, tzinfo=UTC)
    seed.seed_github(fake_github, at)
    config = f"alerts:\n  webhook_url: {fake_slack.url}\n  repos:\n    api: {{daily: 2.00}}\n  users:\n    '*': {{hourly: 100}}\n"
    fake_github.add_file("acme/.github", "agentspend.yml", config)
    app = create_app(settings_for(database_url, fake_github), run_worker=False)
    svc = app.state.services
    async with _serving(app) as client:
        async with session_scope(svc.engine) as db:
            await tokens.upsert_installation(db, seed.ACME, "acme", "Organization")
            await tokens.add_repos(db, seed.ACME, ["acme/api", "acme/.github"])
            token = await tokens.create(db, "acme")
        await jobs.sync_org_configs(svc)

        async def spend(key: str, output: int, minutes_ago: int) -> None:
            started = at - timedelta(minutes=minutes_ago)
            s = seed.Session(key=key, runtime=seed.Runtime.CLAUDE_CODE, repo="acme/api", started_at=started, spans=[
                seed.Span(f"{key}:0", seed.RunType.LLM, "m", started_at=started, model="claude-sonnet-4-5",
                          provider="anthropic", tokens=seed.Tokens(output=output))])
            response = await client.post("/api/v1/sessions", content=seed.to_json([s]), headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200

        await spend("claude-code:yesterday", 200_000, 24 * 60)  # $3.00, but in yesterday's window
        await spend("claude-code:morning", 110_000, 120)  # $1.65 of $2.00: 82 %
        assert await jobs.check_alerts(svc, at) == 1
        assert len(fake_slack.messages) == 1 and "acme/api has spent $1.65 of its $2.00 daily budget (82%, 80% warning)" in fake_slack.messages[0]
        assert await jobs.check_alerts(svc, at) == 0
        assert await jobs.check_alerts(svc, at + timedelta(minutes=5)) == 0
        assert len(fake_slack.messages) == 1  # once per window: no second warning

        await spend("claude-code:noon", 30_000, 10)  # $2.10: over
        assert await jobs.check_alerts(svc, at) == 1
        assert "(105%, 100% warning)" in fake_slack.messages[-1] and len(fake_slack.messages) == 2
        assert await jobs.check_alerts(svc, at + timedelta(days=1)) == 0  # a new day: nothing spent yet


async def test_outcomes_from_webhook_fixtures(database_url: str, fake_github: FakeGitHub) -> None:
    """GitHub's merged-PR example and its `git revert` push; then the Revert button, its revert, and a reopen."""
    fake_github.seed_hello_world()
    app = create_app(settings_for(database_url, fake_github), run_worker=False)
    svc = app.state.services
    async with _serving(app) as client:
        async def deliver(event: str, payload: dict, delivery: str) -> None:
            await seed.send(client, event, payload, delivery)
            await jobs.process_deliveries(svc)

        async def outcome(number: int) -> tuple:
            async with session_scope(svc.engine) as db:
                rows = await seed_dashboard_pulls(db)
            return next((p.outcome, p.reverted_by, p.reverts) for p in rows if p.number == number)

        merged = json.loads((FIXTURES / "github/webhooks/pull_request.closed.merged.json").read_text())
        await deliver("pull_request", merged, "m-1")
        assert await outcome(2) == ("accepted", None, None)
        await deliver("push", json.loads((FIXTURES / "github/webhooks/push.revert.json").read_text()), "r-1")
        assert await outcome(2) == ("reverted", "d96f853", None)

        # The Revert button on #5: PR #6 "Reverts Codertocat/Hello-World#5", then #7 reverting #6.
        for number, body in ((5, None), (6, "Reverts Codertocat/Hello-World#5"), (7, "Reverts Codertocat/Hello-World#6")):
            payload = json.loads(json.dumps(merged))
            payload["number"] = payload["pull_request"]["number"] = number
            payload["pull_request"] |= {"body": body, "merge_commit_sha": seed.sha(f"merge {number}")}
            await deliver("pull_request", payload, f"m-{number}")
            if number == 6:
                assert (await outcome(5), await outcome(6)) == (("reverted", "#6", None), ("revert", None, "#5"))
        assert (await outcome(5), await outcome(6), await outcome(7)) == (
            ("accepted", None, None), ("reverted", "#7", None), ("revert", None, "#6"))

        unmerged = json.loads((FIXTURES / "github/webhooks/pull_request.closed.unmerged.json").read_text())
        unmerged["number"] = unmerged["pull_request"]["number"] = 9
        await deliver("pull_request", unmerged, "c-9")
        assert (await outcome(9))[0] == "abandoned"
        reopened = json.loads((FIXTURES / "github/webhooks/pull_request.reopened.json").read_text())
        reopened["number"] = reopened["pull_request"]["number"] = 9
        await deliver("pull_request", reopened, "o-9")
        assert (await outcome(9))[0] == "open"
    assert HELLO_MERGE_SHA.startswith("c4295bd")


async def seed_dashboard_pulls(db):  # noqa: ANN001, ANN201
    from bot.db import dashboard

    return await dashboard.pulls(db, {"codertocat/hello-world"})

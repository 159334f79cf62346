"""The dashboard in a real browser: Debian's chromium driven by Playwright, against a running server with a seeded month.

Sign-in goes through the fake GitHub's OAuth pages; the overview's bars and the PR page's total
are read from the rendered page and held against the JSON API; a user without access sees 404.
Screenshots land in tests/artifacts/ (git-ignored). Chromium missing is a failure, not a skip:
scripts/setup installs it, as scripts/test starts Postgres.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import seed
import uvicorn
from fakes.github import FakeGitHub

from bot.app import create_app
from bot.db import tokens
from bot.db.engine import make_engine, session_scope, upgrade
from bot.wire import to_json
from test_dashboard import settings_for

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
NOW = datetime.now(UTC).replace(microsecond=0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _accounts(url: str) -> dict[str, str]:
    engine = make_engine(url)
    async with session_scope(engine) as db:
        for installation, owner in ((seed.ACME, "acme"), (seed.OTHER, "other")):
            await tokens.upsert_installation(db, installation, owner, "Organization")
        await tokens.add_repos(db, seed.ACME, ["acme/api", "acme/web"])
        await tokens.add_repos(db, seed.OTHER, ["other/secret"])
        found = {"acme": await tokens.create(db, "acme"), "other": await tokens.create(db, "other")}
    await engine.dispose()
    return found


@pytest.fixture
def server(tmp_path: Path, fake_github: FakeGitHub) -> Iterator[str]:
    database = f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}"
    upgrade(database)
    ingest = asyncio.run(_accounts(database))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    seed.seed_github(fake_github, NOW)
    settings = settings_for(database, fake_github)

    app = create_app(settings._replace(public_url=base))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    _until(lambda: httpx.get(f"{base}/healthz").status_code == 200)
    _feed(base, ingest)
    yield base
    running.should_exit = True
    thread.join(10)


def _until(check, timeout: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("timed out")


def _send(base: str, event: str, payload: dict, delivery: str) -> None:
    body = json.dumps(payload).encode()
    response = httpx.post(f"{base}/webhooks/github", content=body, headers={
        "X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": seed.sign(body, seed.SECRET)})
    assert response.status_code == 202


def _feed(base: str, ingest: dict[str, str]) -> None:
    """The seeded month through the running server's routes; its own worker does the rest."""
    for index, p in enumerate(seed.PULLS):
        _send(base, "pull_request", seed.pull_payload(p, "opened", NOW), f"open-{index}")
    for owner, token in ingest.items():
        batch = [seed.session(s, NOW) for s in seed.SESSIONS if s[2].startswith(owner + "/")]
        assert httpx.post(f"{base}/api/v1/sessions", content=to_json(batch), headers={"Authorization": f"Bearer {token}"}).status_code == 200
    for index, p in enumerate(seed.PULLS):
        if p.closed:
            _send(base, "pull_request", seed.pull_payload(p, "closed", NOW), f"close-{index}")
    _send(base, "push", seed.revert_push("acme/api", seed.PULLS[1].merge_sha, NOW), "revert-1")


def test_dashboard_in_chromium(server: str, fake_github: FakeGitHub) -> None:
    assert CHROMIUM.exists(), "Debian's chromium is not installed: scripts/setup installs it (apt-get install chromium)"
    from playwright.sync_api import sync_playwright

    as_octocat = {"Authorization": f"Bearer {fake_github.user_token('octocat')}"}

    def settled() -> bool:
        m = httpx.get(f"{server}/api/v1/owners/acme/metrics?window=month", headers=as_octocat).json()
        closed = sum(seed.cost(s[0]) for s in seed.SESSIONS if s[3] is not None and seed.PULLS[s[3]].closed)
        out = m["outcomes"]
        return out["closed_prs"] == 5 and out["reverted"] == 1 and abs(out["spend_usd"] - closed) < 1e-6  # every report refreshed

    _until(settled, timeout=60)
    api = httpx.get(f"{server}/api/v1/owners/acme/metrics?window=month", headers=as_octocat).json()
    report = httpx.get(f"{server}/api/v1/repos/acme/web/pulls/4/report", headers=as_octocat).json()
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1800})
            fake_github.sign_in("octocat")
            page.goto(f"{server}/?window=month")  # → /login → GitHub's authorize page → our callback → back
            assert page.url.startswith(f"{server}/")
            assert page.locator("header .who").inner_text().startswith("@octocat")
            page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
            for chart, rows in (("by-model", api["spend"]["by_model"]), ("by-repo", api["spend"]["by_repo"]),
                                ("by-runtime", api["spend"]["by_runtime"]), ("by-tool", api["spend"]["by_tool"])):
                drawn = page.locator(f"#chart-{chart} rect.bar").evaluate_all(
                    "rects => rects.map(r => [r.dataset.label, r.dataset.value, r.getBBox().width])")
                largest = max(r["cost_usd"] for r in rows)
                assert [(d[0], d[1]) for d in drawn] == [(r["name"], f"{r['cost_usd']:.2f}") for r in rows], chart
                assert [d[2] for d in drawn] == pytest.approx([r["cost_usd"] / largest * 360 for r in rows], abs=0.01), chart
            series = page.locator("#chart-cost-per-merged-pr rect.bar").evaluate_all("rects => rects.map(r => r.dataset.value)")
            assert series == [f"{p['cost_per_accepted_change_usd']:.2f}" if p["cost_per_accepted_change_usd"] is not None else ""
                              for p in api["cost_per_merged_pr"]]
            assert page.locator("#total-spend b").inner_text() == f"${api['spend']['total_usd']:,.2f}"

            page.goto(f"{server}/repos/acme/web/pulls/4")
            assert page.locator("#pr-total b").inner_text() == f"${report['total_cost_usd']:,.2f}"
            page.locator('details[data-session="codex:d1"] summary').click()
            assert page.locator('details[data-session="codex:d1"] tr').count() == 1 + 3  # header, the call, two tool calls
            page.screenshot(path=str(ARTIFACTS / "pull.png"), full_page=True)

            page.goto(f"{server}/review/weekly")
            assert page.locator('#wasteful tr[data-session]').count() == 2  # reverted and abandoned (no findings seeded here)
            page.screenshot(path=str(ARTIFACTS / "weekly.png"), full_page=True)

            other = browser.new_page()
            fake_github.sign_in("mallory")
            other.goto(f"{server}/login")
            response = other.goto(f"{server}/repos/acme/web/pulls/4")
            assert response is not None and response.status == 404
            assert "codex" not in other.content()
            other.screenshot(path=str(ARTIFACTS / "no-access.png"))
        finally:
            browser.close()

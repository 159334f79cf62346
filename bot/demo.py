"""`agentspend demo`: the whole loop on the embedded default, with no GitHub credentials.

Bundled sample logs are ingested into SQLite, a signed `pull_request.opened` webhook goes
through the real route, the stored delivery is handled and the pull request refreshed; GitHub
writes are recorded instead of sent, and the comment and check run are written to DIR.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path


from bot import jobs
from bot.app import create_app, in_process_client
from bot.db import pulls
from bot.db.engine import session_scope
from bot.db.engine import upgrade_async
from bot.github.client import RecordingClient
from bot.github.events import sign
from bot.github.facts import CommitFact, PullFacts
from bot.ingest import ingest, plan
from bot.settings import Settings

SAMPLES = Path(__file__).resolve().parent / "samples"
SECRET = "agentspend-demo-secret"
REPO = "acme/widgets"


def _facts(payload: dict) -> PullFacts:
    """What the recorded GitHub answers about the sample pull request: its commits carry the
    evidence (one names the Claude Code session in a trailer, one is the Codex session's commit)."""
    pr = payload["pull_request"]
    return PullFacts(
        repo=REPO, number=pr["number"], installation_id=payload["installation"]["id"],
        head_sha=pr["head"]["sha"], head_ref=pr["head"]["ref"], base_ref=pr["base"]["ref"], base_sha=pr["base"]["sha"],
        author=pr["user"]["login"], opened_at=datetime.fromisoformat(pr["created_at"].replace("Z", "+00:00")),
        commits=(
            CommitFact("9f2b6c1d4e5a7b8c9d0e1f2a3b4c5d6e7f8a9b0c", "Add the budget check\n", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
            CommitFact(pr["head"]["sha"], "Test the label exception\n\nAgent-Session: claude-code:5d1c7a9e-2b4f-4c1e-9a57-0e7d3c2b1a00\n",
                       datetime(2026, 11, 20, 10, 40, tzinfo=UTC)),
        ),
        config_text=(SAMPLES / "github/agentspend.yml").read_text(),
    )


async def run(out: Path) -> tuple[str, dict]:
    """Returns the comment's Markdown and the check run, as they would have been sent."""
    out.mkdir(parents=True, exist_ok=True)
    database = out / "demo.db"
    database.unlink(missing_ok=True)
    settings = Settings(database_url=f"sqlite+aiosqlite:///{database}", webhook_secrets=(SECRET,), dry_run=True)
    await upgrade_async(settings.database_url)
    body = (SAMPLES / "github/pull_request.opened.json").read_bytes()
    github = RecordingClient(facts={(REPO, 7): _facts(json.loads(body))})
    app = create_app(settings, github=github, run_worker=False)
    svc = app.state.services

    units, _ = plan([SAMPLES / "claude", SAMPLES / "codex"])
    await ingest(svc.engine, units, svc.prices)
    async with in_process_client(app) as client:
        response = await client.post("/webhooks/github", content=body, headers={
            "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "demo-0001",
            "X-Hub-Signature-256": sign(body, SECRET), "Content-Type": "application/json",
        })
        if response.status_code != 202:
            raise RuntimeError(f"the webhook route answered {response.status_code}: {response.text}")
        await jobs.drain(svc)
    # The report route wants a signed-in GitHub user; the demo has none, so it reads what the route serves.
    async with session_scope(svc.engine) as db:
        report = json.loads((await pulls.find(db, REPO, 7)).report_json)

    comment = _last_write(github, "upsert_comment")["body"]
    check_json = {"name": "AgentSpend", **asdict(_last_write(github, "upsert_check_run")["output"])}
    (out / "comment.md").write_text(comment)
    (out / "check.json").write_text(json.dumps(check_json, indent=2, default=str) + "\n")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return comment, check_json


def _last_write(github: RecordingClient, method: str) -> dict:
    writes = [w.arguments for w in github.writes if w.method == method]
    if not writes:
        raise RuntimeError(f"the refresh made no {method} call")
    return writes[-1]


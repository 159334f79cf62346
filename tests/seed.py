"""A month of an organisation's agent work, fed to a running AgentSpend the way production feeds it.

Pull requests arrive as signed webhooks (shaped from GitHub's own `pull_request.opened.json`), a
`git revert` as a signed push, sessions through the upload API with an ingest token; the fake
GitHub holds the same pull requests for the refreshes. The figures below are list prices of
claude-sonnet-4-5 ($3 / $15 per MTok) and gpt-5 ($1.25 / $10 per MTok), so the expected
amounts are arithmetic, not recorded output.

    acme/api#1  merged 20 days ago                 A1 $2.10 (24 days ago)            accepted
    acme/api#2  merged 6 days ago, reverted (push) B1 $3.30 (6.5 days ago)           reverted
    acme/api#3  closed unmerged 2 days ago         C1 $1.80 (4 days ago)             abandoned
    acme/web#4  merged 1 day ago                   D1 $2.00 codex, D2 $0.05          accepted
    acme/web#5  merged 2 days ago                  E1 $1.50, findings: $0.60 avoidable  accepted
    acme/web#6  open                               F1 $1.80 (1 day ago)              open
    acme/api    no pull request                    H1 $0.45 (2 days ago)
    other/secret#1 (another account, private)      X1 $9.00
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from fakes.github import Commit, FakeGitHub

from bot.db import tokens
from bot.db.engine import session_scope
from bot.db.models import PullRequestRow
from bot.github.events import sign
from bot.trace import RunType, Runtime, Session, Span, Tokens
from bot.wire import to_json
from conftest import FIXTURES

SECRET = "seed-secret"
ACME, OTHER = 7, 9
SONNET, GPT5 = ("claude-sonnet-4-5", "anthropic"), ("gpt-5", "openai")


def sha(label: str) -> str:
    import hashlib

    return hashlib.sha1(label.encode()).hexdigest()


@dataclass(frozen=True)
class Pull:
    repo: str
    number: int
    branch: str
    author: str
    opened: timedelta
    closed: timedelta | None = None
    merged: bool = False
    body: str | None = None

    @property
    def head(self) -> str:
        return sha(f"{self.repo}#{self.number}:head")

    @property
    def merge_sha(self) -> str:
        return sha(f"{self.repo}#{self.number}:merge")


PULLS = [
    Pull("acme/api", 1, "feat-a", "dev-ann", timedelta(days=25), timedelta(days=20), True),
    Pull("acme/api", 2, "feat-b", "dev-ann", timedelta(days=12), timedelta(days=6), True),
    Pull("acme/api", 3, "feat-c", "dev-ann", timedelta(days=6), timedelta(days=2), False),
    Pull("acme/web", 4, "feat-d", "dev-bob", timedelta(days=5), timedelta(days=1), True),
    Pull("acme/web", 5, "feat-e", "dev-bob", timedelta(days=4), timedelta(days=2), True),
    Pull("acme/web", 6, "feat-f", "dev-bob", timedelta(days=2)),
    Pull("other/secret", 1, "hidden", "someone", timedelta(days=3)),
]
# (key, runtime, repo, pull index or None, model, input, output, days ago, tools)
SESSIONS = [
    ("claude-code:a1", Runtime.CLAUDE_CODE, "acme/api", 0, SONNET, 200_000, 100_000, 24, ["Read", "Edit"]),
    ("claude-code:b1", Runtime.CLAUDE_CODE, "acme/api", 1, SONNET, 100_000, 200_000, 6.5, ["Bash"]),
    ("claude-code:c1", Runtime.CLAUDE_CODE, "acme/api", 2, SONNET, 100_000, 100_000, 4, ["mcp__github__get_issue"]),
    ("codex:d1", Runtime.CODEX, "acme/web", 3, GPT5, 400_000, 150_000, 3, ["shell", "shell"]),
    ("claude-code:d2", Runtime.CLAUDE_CODE, "acme/web", 3, SONNET, 5_000, 2_333, 3, []),
    ("claude-code:e1", Runtime.CLAUDE_CODE, "acme/web", 4, SONNET, 100_000, 80_000, 3, ["Read"]),
    ("claude-code:f1", Runtime.CLAUDE_CODE, "acme/web", 5, SONNET, 100_000, 100_000, 1, ["Edit"]),
    ("claude-code:h1", Runtime.CLAUDE_CODE, "acme/api", None, SONNET, 50_000, 20_000, 2, []),
    ("claude-code:x1", Runtime.CLAUDE_CODE, "other/secret", 6, SONNET, 1_000_000, 400_000, 2, []),
]
PRICES = {"claude-sonnet-4-5": (3.0, 15.0), "gpt-5": (1.25, 10.0)}
FINDING = {"kind": "retry_loop", "session": "claude-code:e1", "span_ids": ["claude-code:e1:llm0"], "cost_usd": 1.5,
           "avoidable_usd": 0.6, "evidence": "Bash failed 4 times with the same command", "fix": "Stop after the second identical failure."}


def cost(key: str) -> float:
    for k, _, _, _, (model, _), inp, out, _, _ in SESSIONS:
        if k == key:
            price_in, price_out = PRICES[model]
            return (inp * price_in + out * price_out) / 1e6
    raise KeyError(key)


def session(spec: tuple, now: datetime) -> Session:
    key, runtime, repo, pull, (model, provider), inp, out, days, tools = spec
    at = now - timedelta(days=days)
    llm = Span(f"{key}:llm0", RunType.LLM, model, started_at=at, model=model, provider=provider, tokens=Tokens(input=inp, output=out))
    spans = [llm] + [Span(f"{key}:tool{i}", RunType.TOOL, name, started_at=at + timedelta(seconds=i + 1),
                          parent_id=llm.span_id, tool_name=name) for i, name in enumerate(tools)]
    commits = [PULLS[pull].head] if pull is not None else []
    branch = PULLS[pull].branch if pull is not None else "spike"
    return Session(key=key, runtime=runtime, repo=repo, branch=branch, commits=commits, started_at=at,
                   ended_at=at + timedelta(minutes=30), spans=spans)


def seed_github(fake: FakeGitHub, now: datetime) -> None:
    for owner, installation in (("acme", ACME), ("other", OTHER)):
        fake.add_user(owner, type="Organization")
    for repo, installation in (("acme/api", ACME), ("acme/web", ACME), ("acme/.github", ACME), ("other/secret", OTHER)):
        fake.add_repo(repo, installation_id=installation, private=True)
        fake.add_commit(repo, Commit(sha(f"{repo}:base"), "Initial commit"), branch="main")
    for p in PULLS:
        closed_at = _iso(now - p.closed) if p.closed else _iso(now - p.opened)
        fake.add_pull(p.repo, p.number, head_sha=p.head, base_sha=sha(f"{p.repo}:base"), head_ref=p.branch,
                      commits=[Commit(p.head, f"Work on {p.branch}\n")], state="closed" if p.closed else "open",
                      merged=p.merged, merge_commit_sha=p.merge_sha if p.merged else None, user=p.author, body=p.body,
                      created_at=_iso(now - p.opened), updated_at=closed_at)
    for repo in ("acme/api", "acme/web"):
        fake.set_permission(repo, "octocat", "read")
    fake.add_team_member("acme", "web-team", "dev-bob")


def org_config(webhook: str) -> str:
    return (
        "version: 1\nteams:\n  platform: [dev-ann]\n  web: ['@acme/web-team']\n"
        f"alerts:\n  webhook_url: {webhook}\n  tiers: [0.5, 0.8, 1.0]\n  repos:\n    web: {{monthly: 1000}}\n"
        "review:\n  expensive_usd: 1\n  heavy_waste: 0.2\n"
    )


def pull_payload(p: Pull, action: str, now: datetime) -> dict[str, Any]:
    payload = json.loads((FIXTURES / "github/webhooks/pull_request.opened.json").read_text())
    owner, name = p.repo.split("/")
    installation = ACME if owner == "acme" else OTHER
    pr = payload["pull_request"]
    closed = action == "closed"
    payload |= {"action": action, "number": p.number, "installation": {"id": installation}}
    payload["repository"] |= {"full_name": p.repo, "name": name, "private": True, "default_branch": "main"}
    payload["repository"]["owner"]["login"] = owner
    pr |= {"number": p.number, "state": "closed" if closed else "open", "merged": closed and p.merged,
           "merged_at": _iso(now - p.closed) if closed and p.merged else None,
           "closed_at": _iso(now - p.closed) if closed else None, "created_at": _iso(now - p.opened),
           "merge_commit_sha": p.merge_sha if closed and p.merged else None, "body": p.body,
           "user": {**pr["user"], "login": p.author}}
    pr["head"] |= {"sha": p.head, "ref": p.branch}
    pr["head"]["repo"] = {**pr["head"]["repo"], "full_name": p.repo}
    pr["base"] |= {"sha": sha(f"{p.repo}:base"), "ref": "main"}
    pr["base"]["repo"] = {**pr["base"]["repo"], "full_name": p.repo}
    return payload


def revert_push(repo: str, reverted: str, now: datetime) -> dict[str, Any]:
    payload = json.loads((FIXTURES / "github/webhooks/push.revert.json").read_text())
    revert = sha(f"revert of {reverted}")
    payload |= {"ref": "refs/heads/main", "installation": {"id": ACME}, "before": reverted, "after": revert}
    payload["repository"] |= {"full_name": repo, "default_branch": "main"}
    payload["commits"] = [{**payload["commits"][0], "id": revert,
                           "message": f'Revert "Work"\n\nThis reverts commit {reverted}.\n'}]
    payload["head_commit"] = {**payload["head_commit"], "id": revert}
    return payload


async def send(client: httpx.AsyncClient, event: str, payload: dict, delivery: str) -> None:
    body = json.dumps(payload).encode()
    response = await client.post("/webhooks/github", content=body, headers={
        "X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(body, SECRET)})
    assert response.status_code == 202, response.text


async def seed_month(client: httpx.AsyncClient, svc: Any, now: datetime) -> None:
    """Everything above, through the real routes; then the worker's jobs, as the scheduler would run them."""
    from bot import jobs

    async with session_scope(svc.engine) as db:
        for installation, owner in ((ACME, "acme"), (OTHER, "other")):
            await tokens.upsert_installation(db, installation, owner, "Organization")
        await tokens.add_repos(db, ACME, ["acme/api", "acme/web", "acme/.github"])
        await tokens.add_repos(db, OTHER, ["other/secret"])
        acme_token, other_token = await tokens.create(db, "acme"), await tokens.create(db, "other")
    for index, p in enumerate(PULLS):
        await send(client, "pull_request", pull_payload(p, "opened", now), f"open-{index}")
    for token, prefix in ((acme_token, "acme/"), (other_token, "other/")):
        batch = [session(s, now) for s in SESSIONS if s[2].startswith(prefix)]
        response = await client.post("/api/v1/sessions", content=to_json(batch), headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
    await jobs.drain(svc)
    for index, p in enumerate(PULLS):
        if p.closed:
            await send(client, "pull_request", pull_payload(p, "closed", now), f"close-{index}")
    await send(client, "push", revert_push("acme/api", PULLS[1].merge_sha, now), "revert-1")
    await jobs.drain(svc)
    await add_findings(svc, "acme/web", 5, [FINDING])
    await jobs.sync_org_configs(svc)


async def add_findings(svc: Any, repo: str, number: int, findings: list[dict]) -> None:
    """What the waste detectors will store in the report; the review reads them from there."""
    table = PullRequestRow.__table__
    async with session_scope(svc.engine) as db:
        row = (await db.execute(sa.select(table.c.id, table.c.report_json).where(
            table.c.repo == repo, table.c.number == number))).one()
        report = json.loads(row.report_json)
        report["findings"] = findings
        await db.execute(sa.update(table).where(table.c.id == row.id).values(report_json=json.dumps(report)))


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

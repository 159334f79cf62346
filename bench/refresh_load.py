"""Refresh of one pull request with a million spans stored, on Postgres: p50 and p99 wall time.

    .venv/bin/python bench/refresh_load.py [--total-spans 1000000] [--pr-spans 10000,1000000] [--runs 20]

For each `--pr-spans` value a fresh database gets `--total-spans` spans in sessions of 100
spans (a model call and its tool call, alternately), of which `--pr-spans` are on the pull
request's branch and the rest on other branches of the same repository. The spans are written
with COPY, priced once. Then `refresh_pull_request` (the real one, GitHub faked on loopback)
runs `--runs` times: the first publishes, the rest find nothing changed. Printed: seed time,
first refresh, p50 / p99 / max of the rest, and the process's peak RSS.

This script drives the service in-process (it imports `bot`), unlike the report benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakes.github import Commit, FakeGitHub, private_key_pem  # noqa: E402

from _service import fresh_database  # noqa: E402

from bot import jobs  # noqa: E402
from bot.app import create_app, in_process_client  # noqa: E402
from bot.db import tokens  # noqa: E402
from bot.db.engine import session_scope, upgrade  # noqa: E402
from bot.github.events import sign  # noqa: E402
from bot.refresh import refresh_pull_request  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.trace import RunType, Span, Tokens  # noqa: E402

FIXTURES = ROOT.parent / "shared" / "fixtures"
REPO = "codertocat/hello-world"
HEAD = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
OPENED = datetime(2019, 5, 15, 15, 20, 33, tzinfo=UTC)
SPANS_PER_SESSION = 100
SECRET = "bench-secret"
MODEL = "claude-sonnet-4-5"


def _call_cost() -> float:
    from bot.pricing import PriceBook

    span = Span("x", RunType.LLM, MODEL, started_at=OPENED, model=MODEL, provider="anthropic",
                tokens=Tokens(input=1200, output=800, cache_read=20000, cache_write_5m=1500))
    PriceBook.load(None).price_span(span)
    assert span.cost_usd is not None
    return span.cost_usd


async def _seed(url: str, total: int, on_pr: int) -> float:
    """COPY the sessions and spans in slices, so the seed's own lists do not count in the RSS."""
    started = time.perf_counter()
    cost = _call_cost()
    conn = await asyncpg.connect(url)
    try:
        count = total // SPANS_PER_SESSION
        for first in range(0, count, 1000):
            sessions, spans = _slice(range(first, min(first + 1000, count)), on_pr, cost)
            await conn.copy_records_to_table("sessions", records=sessions, columns=[
                "key", "runtime", "integration", "repo", "branch", "commits", "started_at", "ended_at", "updated_at"])
            await conn.copy_records_to_table("spans", records=spans, columns=[
                "span_id", "session_key", "parent_id", "run_type", "name", "model", "provider", "started_at", "has_usage",
                "input", "output", "cache_read", "cache_write_5m", "cache_write_1h", "reasoning", "total_tokens",
                "cost_usd", "price_ref", "status", "tool_name", "tool_input_hash", "sidechain", "origin"])
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return time.perf_counter() - started


def _slice(indexes: range, on_pr: int, cost: float) -> tuple[list[tuple], list[tuple]]:
    sessions, spans = [], []
    for index in indexes:
        key = f"claude-code:bench-{index:07d}"
        branch = "changes" if index * SPANS_PER_SESSION < on_pr else f"other-{index % 97}"
        start = OPENED - timedelta(hours=1) + timedelta(seconds=index % 3000)
        sessions.append((key, "claude-code", "native-log", REPO, branch, "[]", start, start + timedelta(minutes=30),
                         datetime.now(UTC)))
        for n in range(0, SPANS_PER_SESSION, 2):
            at = start + timedelta(seconds=n)
            call = f"{key}:msg_{n:03d}"
            spans.append((call, key, None, "llm", MODEL, MODEL, "anthropic", at, True, 1200, 800, 20000, 1500, 0, 0,
                          23500, cost, "genai-prices", "ok", None, None, False, "log"))
            spans.append((f"{call}:tool", key, call, "tool", "Bash", None, None, at, False, 0, 0, 0, 0, 0, 0,
                          0, None, None, "ok", "Bash", f"{n % 7:024x}", False, "log"))
    return sessions, spans


async def _scenario(total: int, on_pr: int, runs: int) -> dict[str, object]:
    async with fresh_database() as url:
        await asyncio.to_thread(upgrade, url)
        seed_s = await _seed(url, total, on_pr)
        with FakeGitHub() as fake:
            fake.seed_hello_world(commits=[Commit(HEAD, "Update README\n", date="2019-05-15T15:10:00Z")])
            settings = Settings(database_url=url, webhook_secrets=(SECRET,), github_app_id=str(fake.app.id),
                                github_private_key=private_key_pem(), github_api_url=fake.url)
            app = create_app(settings, run_worker=False)
            svc = app.state.services
            async with in_process_client(app) as client:
                body = (FIXTURES / "github/webhooks/pull_request.opened.json").read_bytes()
                await client.post("/webhooks/github", content=body, headers={
                    "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "bench", "X-Hub-Signature-256": sign(body, SECRET)})
                await jobs.process_deliveries(svc)
                async with session_scope(svc.engine) as db:
                    await tokens.ensure_installation(db, 1, "codertocat")
                    pull_id = int((await db.execute(sa.text("select id from pull_requests"))).scalar_one())
                walls, outcomes = [], []
                for _ in range(runs):
                    started = time.perf_counter()
                    outcomes.append(await refresh_pull_request(svc, pull_id))
                    walls.append(time.perf_counter() - started)
            comment = fake.comments_on("Codertocat/Hello-World", 2)
    rest = sorted(walls[1:]) or walls
    return {
        "total": total, "on_pr": on_pr, "seed_s": seed_s, "first_s": walls[0], "outcomes": outcomes,
        "p50_s": statistics.median(rest), "p99_s": rest[min(len(rest) - 1, int(0.99 * len(rest)))], "max_s": rest[-1],
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # the seed is streamed: this is the refreshes
        "comments": len(comment),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-spans", type=int, default=1_000_000)
    parser.add_argument("--pr-spans", default="10000,1000000")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    rows = ["| spans stored | spans on the PR | seed s | first refresh s | then p50 s | p99 s | max s | peak RSS MB (cumulative) |",
            "| --: | --: | --: | --: | --: | --: | --: | --: |"]
    failed = False
    for on_pr in (int(v) for v in args.pr_spans.split(",")):
        result = asyncio.run(_scenario(args.total_spans, min(on_pr, args.total_spans), args.runs))
        rows.append(f"| {result['total']:,} | {result['on_pr']:,} | {result['seed_s']:.1f} | {result['first_s']:.2f} | "
                    f"{result['p50_s']:.2f} | {result['p99_s']:.2f} | {result['max_s']:.2f} | {result['rss_mb']:.0f} |")
        if result["comments"] != 1 or result["outcomes"][0] != "published" or set(result["outcomes"][1:]) - {"unchanged"}:
            failed = True
            rows.append(f"FAILED: outcomes {result['outcomes'][:3]}…, {result['comments']} comments")
    load = os.getloadavg()
    print(f"Refresh of one pull request, Postgres, {args.runs} runs; {os.cpu_count()} CPUs "
          f"({platform.machine()}), load {load[0]:.2f}, {time.strftime('%Y-%m-%d')}\n")
    print("\n".join(rows))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

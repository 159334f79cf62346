"""Webhook intake of `agentspend serve` at fixed rates, on Postgres, with signed bodies.

    .venv/bin/python bench/webhook_intake.py [--rates 100,500,1000] [--seconds 30]

For each rate a fresh database and a fresh `agentspend serve` (the real process, with its
worker) receive `pull_request.synchronize` deliveries from an open-loop generator on loopback:
request i is due at start + i/rate whatever happened to the earlier ones, and its latency is
counted from that due time, so a server that falls behind shows it (no coordinated omission).
Printed per rate: acknowledgement latency p50/p99/max, deliveries acknowledged vs stored, the
time from the last send until every stored delivery is processed, and the server's peak RSS.
GitHub is the test suite's fake, in a process of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from _service import fresh_database, peak_rss_mb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fakes.github import private_key_pem  # noqa: E402 - any key: the fake accepts every JWT
from processes import free_port, stop  # noqa: E402

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
FIXTURES = REPO.parent / "shared" / "fixtures"
SECRET = "bench-secret"
CONNECTIONS = 64


@dataclass
class Outcome:
    rate: int
    sent: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    stored: int = 0
    processed_after_s: float | None = None
    failed: int = 0
    """Deliveries whose handler gave up: each one is a bug in the product or in this script."""
    peak_rss_mb: float = 0.0


def _body() -> bytes:
    payload = json.loads((FIXTURES / "github/webhooks/pull_request.opened.json").read_text())
    payload["action"] = "synchronize"
    payload |= {"before": payload["pull_request"]["base"]["sha"], "after": payload["pull_request"]["head"]["sha"]}
    return json.dumps(payload).encode()


def _request(body: bytes, delivery: str, port: int) -> bytes:
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    head = (f"POST /webhooks/github HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"X-GitHub-Event: pull_request\r\nX-GitHub-Delivery: {delivery}\r\nX-Hub-Signature-256: {signature}\r\n"
            f"User-Agent: GitHub-Hookshot/bench\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def _generate(port: int, rate: int, seconds: float, outcome: Outcome) -> None:
    """Open loop: a pool of keep-alive connections; request i leaves at start + i/rate."""
    body = _body()
    total = int(rate * seconds)
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    start = time.perf_counter() + 0.2

    async def one(i: int) -> None:
        due = start + i / rate
        reader, writer = await idle.get()
        try:
            writer.write(_request(body, f"bench-{rate}-{i}-{uuid.uuid4().hex[:8]}", port))
            status = await _read_response(reader)
            outcome.latencies.append(time.perf_counter() - due)
            outcome.statuses[status] = outcome.statuses.get(status, 0) + 1
            idle.put_nowait((reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            outcome.failures += 1
            idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))

    tasks = []
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
        outcome.sent += 1
    await asyncio.gather(*tasks)
    while not idle.empty():
        _, writer = idle.get_nowait()
        writer.close()


async def _count(url: str, sql: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _run_rate(rate: int, seconds: float, fake_url: str) -> Outcome:
    outcome = Outcome(rate)
    async with fresh_database() as url:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "AGENTSPEND_"))} | {
            "DATABASE_URL": url, "GITHUB_APP_ID": "424242", "GITHUB_APP_PRIVATE_KEY": private_key_pem(),
            "GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_API_URL": fake_url,
        }
        server = subprocess.Popen([str(REPO / ".venv/bin/agentspend"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await _wait_healthy(port, server)
            await _generate(port, rate, seconds, outcome)
            sent_at = time.perf_counter()
            outcome.stored = await _count(url, "select count(*) from deliveries")
            while await _count(url, "select count(*) from deliveries where state = 'pending'") > 0:
                if time.perf_counter() - sent_at > 600:
                    break
                await asyncio.sleep(0.1)
            else:
                outcome.processed_after_s = time.perf_counter() - sent_at
            outcome.failed = await _count(url, "select count(*) from deliveries where state = 'failed'")
            outcome.peak_rss_mb = peak_rss_mb(server.pid)
        finally:
            stop(server)
    return outcome


async def _wait_healthy(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"bench: agentspend serve exited with {server.returncode}")
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            status = await _read_response(reader)
            writer.close()
            if status == 200:
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    sys.exit("bench: agentspend serve did not become healthy in 60 s")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _table(outcomes: list[Outcome], seconds: float) -> str:
    rows = ["| rate (req/s) | sent | 202 | other / failed | stored | ack p50 ms | ack p99 ms | ack max ms | all processed after (s) | server peak RSS MB |",
            "| --: | --: | --: | --: | --: | --: | --: | --: | --: | --: |"]
    for o in outcomes:
        others = sum(n for s, n in o.statuses.items() if s != 202)
        done = f"{o.processed_after_s:.1f}" if o.processed_after_s is not None else "not within 600 s"
        rows.append(f"| {o.rate} | {o.sent} | {o.statuses.get(202, 0)} | {others} / {o.failures} | {o.stored} | "
                    f"{_percentile(o.latencies, 0.5) * 1e3:.1f} | {_percentile(o.latencies, 0.99) * 1e3:.1f} | "
                    f"{max(o.latencies, default=float('nan')) * 1e3:.1f} | {done} | {o.peak_rss_mb:.0f} |")
    load = os.getloadavg()
    return (f"Webhook intake, {seconds:.0f} s per rate, {CONNECTIONS} keep-alive connections, Postgres; "
            f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), load {load[0]:.2f} at the end, "
            f"{time.strftime('%Y-%m-%d')}\n\n" + "\n".join(rows))


async def _main(rates: list[int], seconds: float) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        url_file = Path(tmp) / "fake-url"
        fake = subprocess.Popen([sys.executable, str(BENCH / "fake_github_server.py"), str(url_file)])
        try:
            for _ in range(100):
                if url_file.exists() and url_file.read_text():
                    break
                time.sleep(0.1)
            outcomes = [await _run_rate(rate, seconds, url_file.read_text()) for rate in rates]
        finally:
            stop(fake, timeout=10)
    print(_table(outcomes, seconds))
    lost = [o.rate for o in outcomes if o.stored != o.statuses.get(202, 0)]
    if lost:
        print(f"\nFAILED: stored deliveries differ from acknowledged ones at {lost} req/s")
    failed = [o.rate for o in outcomes if o.failed]
    if failed:
        print(f"\nFAILED: deliveries ended in state 'failed' at {failed} req/s")
    if lost or failed:
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,500,1000")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    return asyncio.run(_main([int(r) for r in args.rates.split(",")], args.seconds))


if __name__ == "__main__":
    sys.exit(main())

"""OTLP intake of `agentspend serve` on Postgres: gen_ai spans per second, stored and priced.

    .venv/bin/python bench/otlp_intake.py [--seconds 30] [--batch 512] [--concurrency 4]

A fresh database and `agentspend serve` (the real process) receive protobuf
`ExportTraceServiceRequest`s of `--batch` gen_ai `chat` spans each (the OpenTelemetry SDK's
default batch size), from `--concurrency` exporters sending back to back, for `--seconds`.
Every span is a new call in one of 1000 conversations. Printed: requests, spans accepted per
second, request latency p50/p99, spans stored (must equal spans accepted), server peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from processes import free_port, stop, wait_healthy  # noqa: E402

from _service import fresh_database, peak_rss_mb  # noqa: E402

AGENTSPEND = str(ROOT / ".venv/bin/agentspend")


def _kv(key: str, value: str | int) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=value))


def _request(batch: int, counter: list[int]) -> bytes:
    spans = []
    now = time.time_ns()
    for _ in range(batch):
        n = counter[0] = counter[0] + 1
        spans.append(Span(
            trace_id=n.to_bytes(16, "big"), span_id=n.to_bytes(8, "big"), name="chat gpt-4o",
            start_time_unix_nano=now, end_time_unix_nano=now + 900_000_000,
            attributes=[_kv("gen_ai.operation.name", "chat"), _kv("gen_ai.request.model", "gpt-4o"),
                        _kv("gen_ai.provider.name", "openai"), _kv("gen_ai.conversation.id", f"conv-{n % 1000}"),
                        _kv("gen_ai.usage.input_tokens", 1200 + n % 50), _kv("gen_ai.usage.output_tokens", 300)]))
    resource = ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])
    resource.resource.attributes.append(_kv("service.name", "bench-agent"))
    return ExportTraceServiceRequest(resource_spans=[resource]).SerializeToString()


async def _export(url: str, token: str, seconds: float, batch: int, concurrency: int) -> tuple[int, int, list[float]]:
    counter = [0]
    latencies: list[float] = []
    accepted = 0
    errors = 0
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {token}"}
    deadline = time.perf_counter() + seconds

    async def exporter(client: httpx.AsyncClient) -> None:
        nonlocal accepted, errors
        while time.perf_counter() < deadline:
            body = _request(batch, counter)
            started = time.perf_counter()
            response = await client.post("/v1/traces", content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code == 200:
                accepted += batch
            else:
                errors += 1

    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        await asyncio.gather(*(exporter(client) for _ in range(concurrency)))
    return accepted, errors, latencies


async def _main(seconds: float, batch: int, concurrency: int) -> int:
    async with fresh_database() as db_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "AGENTSPEND_"))} | {
            "DATABASE_URL": db_url, "GITHUB_WEBHOOK_SECRET": "bench", "AGENTSPEND_DRY_RUN": "1"}
        port = free_port()
        server = subprocess.Popen([AGENTSPEND, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, server)
            token = subprocess.run([AGENTSPEND, "token", "create", "--owner", "bench"], env=env, capture_output=True,
                                   text=True, check=True).stdout.strip()
            started = time.perf_counter()
            accepted, errors, latencies = await _export(url, token, seconds, batch, concurrency)
            wall = time.perf_counter() - started
            conn = await asyncpg.connect(db_url)
            stored = await conn.fetchval("select count(*) from spans")
            priced = await conn.fetchval("select count(*) from spans where cost_usd is not null")
            await conn.close()
            rss = peak_rss_mb(server.pid)
        finally:
            stop(server)
    ordered = sorted(latencies)
    print(f"OTLP intake, {seconds:.0f} s, batches of {batch} gen_ai spans, {concurrency} exporters, protobuf, Postgres; "
          f"{os.cpu_count()} CPUs ({platform.machine()}), load {os.getloadavg()[0]:.2f}, {time.strftime('%Y-%m-%d')}\n")
    print("| requests | errors | spans accepted | spans/s | request p50 ms | p99 ms | spans stored | priced | server peak RSS MB |")
    print("| --: | --: | --: | --: | --: | --: | --: | --: | --: |")
    print(f"| {len(latencies)} | {errors} | {accepted:,} | {accepted / wall:,.0f} | {statistics.median(ordered) * 1e3:.0f} | "
          f"{ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3:.0f} | {stored:,} | {priced:,} | {rss:.0f} |")
    if stored != accepted or errors:
        print("\nFAILED: stored spans differ from accepted spans, or exports failed")
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    return asyncio.run(_main(args.seconds, args.batch, args.concurrency))


if __name__ == "__main__":
    sys.exit(main())

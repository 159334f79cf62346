"""The OTLP receiver against the official OpenTelemetry SDK: a running server on loopback, the
SDK's own OTLP/HTTP exporters (protobuf, and the OTLP/JSON exporter) sending logs, spans and
metrics, on SQLite and Postgres. The figures checked are the stored sessions and their prices.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
import sqlalchemy as sa
import uvicorn
from fakes.github import FakeGitHub, private_key_pem
from google.protobuf import json_format
from google.rpc import status_pb2
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.json.http import OTLPMetricExporter as JsonMetricExporter
from opentelemetry.exporter.otlp.json.http import OTLPSpanExporter as JsonSpanExporter
from opentelemetry.exporter.otlp.json.http._log_exporter import OTLPLogExporter as JsonLogExporter
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from bot import adapters
from bot.adapters import claude_code, otlp
from bot.app import create_app
from bot.corpus import merge
from bot.db import tokens
from bot.db.engine import make_engine, session_scope
from bot.db.queries import session_totals
from bot.ingest import ingest
from bot.pricing import PriceBook
from bot.settings import Settings

REPO = "acme/widgets"
RESOURCE = {
    "service.name": "claude-code",
    "vcs.repository.url.full": "https://github.com/Acme/Widgets.git",
    "vcs.ref.head.name": "feature/otlp",
    "vcs.ref.head.revision": "0123456789abcdef0123456789abcdef01234567",
}


def sonnet_45(inp: int = 0, out: int = 0, read: int = 0, write: int = 0) -> float:
    """Claude Sonnet 4.5 list prices (USD per MTok): 3 input, 15 output, 0.30 cache read, 3.75 5-minute write."""
    return (inp * 3 + out * 15 + read * 0.3 + write * 3.75) / 1e6


def gpt_4o(inp: int = 0, out: int = 0, read: int = 0) -> float:
    """GPT-4o list prices (USD per MTok): 2.50 input, 10 output, 1.25 cached input."""
    return (inp * 2.5 + out * 10 + read * 1.25) / 1e6


@dataclass
class Server:
    url: str
    token: str
    engine: object

    async def totals(self) -> dict[str, object]:
        async with session_scope(self.engine) as db:
            return {t.key: t for t in await session_totals(db)}

    async def count(self, table: str) -> int:
        async with session_scope(self.engine) as db:
            return (await db.execute(sa.text(f"select count(*) from {table}"))).scalar_one()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _serving(settings: Settings) -> Iterator[str]:
    """The app under uvicorn on a loopback port, in a thread with its own event loop."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, run_worker=False), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("the server did not start")
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
async def server(database_url: str, fake_github: FakeGitHub) -> object:
    settings = Settings(database_url=database_url, webhook_secrets=("s",), github_app_id=str(fake_github.app.id),
                        github_private_key=private_key_pem(), github_api_url=fake_github.url)
    engine = make_engine(database_url)
    async with session_scope(engine) as db:
        await tokens.ensure_installation(db, 7, "acme")
        await tokens.add_repos(db, 7, [REPO])
        token = await tokens.create(db, "acme")
    with _serving(settings) as url:
        yield Server(url, token, engine)
    await engine.dispose()


# -- what the agents send, built with the SDK ---------------------------------------------------


def _claude_events(exporter: object, session: str, calls: list[dict[str, object]], resource: dict = RESOURCE) -> None:
    """Claude Code's `api_request` / `tool_result` events as its logs exporter writes them:
    body `claude_code.<event>`, attributes as strings."""
    provider = LoggerProvider(resource=Resource.create(resource))
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("com.anthropic.claude_code.events")
    now = time.time_ns()
    for index, call in enumerate(calls):
        name = str(call.pop("event", "api_request"))
        attributes = {"event.name": name, "session.id": session, "event.sequence": str(index)}
        attributes |= {k: str(v) for k, v in call.items()}
        logger.emit(LogRecord(timestamp=now + index * 1_000_000, body=f"claude_code.{name}", attributes=attributes))
    provider.shutdown()


def _copilot_spans(exporter: object, conversation: str) -> None:
    """A Copilot Chat agent turn: invoke_agent → chat (CLIENT) and execute_tool, as VS Code sends them."""
    provider = TracerProvider(resource=Resource.create({"service.name": "copilot-chat",
                                                        "vcs.repository.url.full": "git@github.com:acme/widgets.git"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("copilot-chat")
    common = {"gen_ai.conversation.id": conversation}
    with tracer.start_as_current_span("invoke_agent GitHub Copilot Chat", attributes=common | {
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "GitHub Copilot Chat",
            "gen_ai.usage.input_tokens": 999_999, "gen_ai.usage.output_tokens": 999_999}):  # children's sum: not counted
        with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT, attributes=common | {
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": 12_000,
                "gen_ai.usage.cache_read.input_tokens": 8_000, "gen_ai.usage.output_tokens": 400}):
            pass
        with tracer.start_as_current_span("execute_tool readFile", attributes=common | {
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "readFile", "gen_ai.tool.call.id": "call_1"}) as tool:
            tool.set_status(Status(StatusCode.ERROR))
    provider.shutdown()


def _claude_counters(exporter: object, session: str, exports: list[dict[str, int]], cost: float) -> None:
    """`claude_code.token.usage` / `claude_code.cost.usage` counters, exported once per entry."""
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=Resource.create(RESOURCE), metric_readers=[reader])
    meter = provider.get_meter("com.anthropic.claude_code")
    usage = meter.create_counter("claude_code.token.usage", unit="tokens")
    spend = meter.create_counter("claude_code.cost.usage", unit="USD")
    for added in exports:
        for kind, value in added.items():
            usage.add(value, {"session.id": session, "model": "claude-sonnet-4-5", "type": kind})
        spend.add(cost / len(exports), {"session.id": session, "model": "claude-sonnet-4-5"})
        reader.force_flush()
    provider.shutdown()


def _log_exporters(url: str, headers: dict[str, str]) -> dict[str, object]:
    return {
        "protobuf": OTLPLogExporter(endpoint=f"{url}/v1/logs", headers=headers),
        "protobuf+gzip": OTLPLogExporter(endpoint=f"{url}/v1/logs", headers=headers, compression=Compression.Gzip),
        "json": JsonLogExporter(endpoint=f"{url}/v1/logs", headers=headers),
    }


CALLS = [
    {"model": "claude-sonnet-4-5", "input_tokens": 1200, "output_tokens": 800, "cache_read_tokens": 15000,
     "cache_creation_tokens": 2000, "cost_usd": 0.0, "request_id": "req_011A", "query_source": "repl_main_thread"},
    {"model": "claude-sonnet-4-5", "input_tokens": 900, "output_tokens": 600, "cache_read_tokens": 18000,
     "cache_creation_tokens": 0, "request_id": "req_011B", "query_source": "repl_main_thread"},
    {"model": "claude-sonnet-4-5", "input_tokens": 2200, "output_tokens": 1500, "request_id": "req_011C",
     "query_source": "agent:builtin:Explore", "agent.name": "Explore"},
    {"event": "tool_result", "tool_name": "Bash", "success": "false", "duration_ms": 42},
]
MAIN_COST = sonnet_45(1200, 800, 15000, 2000) + sonnet_45(900, 600, 18000)
EXPLORE_COST = sonnet_45(2200, 1500)
CALLS[0]["cost_usd"] = round(MAIN_COST, 6)


@pytest.mark.parametrize("encoding", ["protobuf", "protobuf+gzip", "json"])
async def test_claude_code_events_through_the_sdk(server: Server, encoding: str) -> None:
    exporter = _log_exporters(server.url, server.headers())[encoding]
    await asyncio.to_thread(_claude_events, exporter, "cc-otel-1", [dict(c) for c in CALLS])
    totals = await server.totals()
    main, explore = totals["claude-code:cc-otel-1"], totals["claude-code:cc-otel-1/Explore"]
    assert (main.repo, main.branch) == (REPO, "feature/otlp")
    assert (main.input, main.output, main.cache_read, main.cache_write) == (2100, 1400, 33000, 2000)
    assert main.cost_usd == pytest.approx(MAIN_COST, rel=1e-9)
    assert explore.cost_usd == pytest.approx(EXPLORE_COST, rel=1e-9)
    async with session_scope(server.engine) as db:
        rows = (await db.execute(sa.text(
            "select span_id, run_type, status, origin, request_id from spans order by span_id"))).all()
        commits = (await db.execute(sa.text("select commits from sessions where key = 'claude-code:cc-otel-1'"))).scalar_one()
    assert [r.request_id for r in rows if r.run_type == "llm"] == ["req_011A", "req_011B", "req_011C"]
    assert {r.origin for r in rows} == {"telemetry"}
    assert [(r.run_type, r.status) for r in rows if r.run_type == "tool"] == [("tool", "error")]
    assert "0123456789abcdef0123456789abcdef01234567" in str(commits)
    # the same export again (an SDK retry) changes nothing
    await asyncio.to_thread(_claude_events, _log_exporters(server.url, server.headers())[encoding], "cc-otel-1",
                            [dict(c) for c in CALLS])
    assert (await server.totals())["claude-code:cc-otel-1"].cost_usd == pytest.approx(MAIN_COST, rel=1e-9)
    assert await server.count("spans") == 4


@pytest.mark.parametrize("make", [
    lambda url, h: OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers=h),
    lambda url, h: JsonSpanExporter(endpoint=f"{url}/v1/traces", headers=h),
], ids=["protobuf", "json"])
async def test_copilot_chat_spans_through_the_sdk(server: Server, make: object) -> None:
    await asyncio.to_thread(_copilot_spans, make(server.url, server.headers()), "conv-42")
    session = (await server.totals())["copilot:conv-42"]
    assert session.repo == REPO
    # input 12 000 includes the 8 000 cached (OpenAI-style): 4 000 uncached; the agent span's totals are not added
    assert (session.input, session.cache_read, session.output) == (4000, 8000, 400)
    assert session.cost_usd == pytest.approx(gpt_4o(4000, 400, 8000), rel=1e-9)
    async with session_scope(server.engine) as db:
        kinds = sorted(tuple(r) for r in (await db.execute(sa.text("select run_type, name, status from spans"))).all())
    assert kinds == [("llm", "gpt-4o-2024-08-06", "ok"), ("tool", "readFile", "error"), ("turn", "GitHub Copilot Chat", "ok")]


@pytest.mark.parametrize("make", [
    lambda url, h, t: OTLPMetricExporter(endpoint=f"{url}/v1/metrics", headers=h, preferred_temporality=t),
    lambda url, h, t: JsonMetricExporter(endpoint=f"{url}/v1/metrics", headers=h, preferred_temporality=t),
], ids=["protobuf", "json"])
@pytest.mark.parametrize("temporality", [AggregationTemporality.CUMULATIVE, AggregationTemporality.DELTA],
                         ids=["cumulative", "delta"])
async def test_claude_code_counters_only_without_events(server: Server, make: object, temporality: object) -> None:
    exports = [{"input": 1000, "output": 200, "cacheRead": 5000}, {"input": 500, "output": 100, "cacheCreation": 300}]
    exporter = make(server.url, server.headers(), {Counter: temporality})
    await asyncio.to_thread(_claude_counters, exporter, "cc-metrics", exports, 0.02)
    session = (await server.totals())["claude-code:cc-metrics"]
    # two exports: cumulative points supersede each other, delta points add up — the same total
    assert (session.input, session.output, session.cache_read, session.cache_write) == (1500, 300, 5000, 300)
    assert session.cost_usd == pytest.approx(sonnet_45(1500, 300, 5000, 300), rel=1e-9)
    async with session_scope(server.engine) as db:
        reported = (await db.execute(sa.text("select sum(reported_cost_usd) from spans where origin = 'metric'"))).scalar_one()
    assert reported == pytest.approx(0.02)  # the latest cumulative cost, or the two deltas added
    # then the events of the same session arrive: the counters give way, never both
    calls = [{"model": "claude-sonnet-4-5", "input_tokens": 1500, "output_tokens": 300, "request_id": "req_m1"}]
    await asyncio.to_thread(_claude_events, OTLPLogExporter(endpoint=f"{server.url}/v1/logs", headers=server.headers()),
                            "cc-metrics", calls)
    session = (await server.totals())["claude-code:cc-metrics"]
    assert session.cost_usd == pytest.approx(sonnet_45(1500, 300), rel=1e-9)
    # and counters arriving after the events are dropped at once
    exporter = make(server.url, server.headers(), {Counter: temporality})
    await asyncio.to_thread(_claude_counters, exporter, "cc-metrics", exports[:1], 0.01)
    assert (await server.totals())["claude-code:cc-metrics"].cost_usd == pytest.approx(sonnet_45(1500, 300), rel=1e-9)


# -- the protocol around the payload -------------------------------------------------------------


def _encoded_logs(session: str, resource: dict = RESOURCE, calls: list[dict] | None = None) -> bytes:
    """A real SDK-built request (the exporter's own encoder), for the protocol checks."""
    memory = InMemoryLogRecordExporter()
    _claude_events(memory, session, calls or [dict(CALLS[0])], resource)
    return encode_logs(memory.get_finished_logs()).SerializeToString()


async def test_token_of_another_owner_is_refused_and_nothing_written(server: Server) -> None:
    foreign = RESOURCE | {"vcs.repository.url.full": "https://github.com/someone-else/private"}
    body = _encoded_logs("cc-foreign", foreign)
    async with httpx.AsyncClient(base_url=server.url) as client:
        kind = {"Content-Type": "application/x-protobuf"}
        refused = await client.post("/v1/logs", content=body, headers=kind | server.headers())
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/x-protobuf"
        assert "someone-else/private" in status_pb2.Status.FromString(refused.content).message
        assert (await client.post("/v1/logs", content=body, headers=kind)).status_code == 401
        assert (await client.post("/v1/logs", content=body, headers=kind | {"Authorization": "Bearer nope"})).status_code == 401
    assert await server.count("sessions") == 0 and await server.count("spans") == 0


async def test_malformed_oversized_and_unknown_bodies(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers()) as client:
        async def post(content: bytes, kind: str, **headers: str) -> httpx.Response:
            return await client.post("/v1/logs", content=content, headers={"Content-Type": kind, **headers})

        garbage = await post(b"\x0a\xff\xff\xff", "application/x-protobuf")
        assert garbage.status_code == 400 and "protobuf" in status_pb2.Status.FromString(garbage.content).message
        bad_json = await post(b'{"resourceLogs": [', "application/json")
        assert bad_json.status_code == 400 and bad_json.headers["content-type"] == "application/json"
        assert "not JSON" in bad_json.json()["message"]
        bad_ids = await post(b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}', "application/json")
        assert bad_ids.status_code == 400 and "hex" in bad_ids.json()["message"]
        assert (await post(b"{}", "text/plain")).status_code == 415
        assert (await post(b"x" * (9 * 1024 * 1024), "application/x-protobuf")).status_code == 413
        bomb = gzip.compress(b"\0" * (70 * 1024 * 1024))
        assert (await post(bomb, "application/x-protobuf", **{"Content-Encoding": "gzip"})).status_code == 413
        assert (await post(b"not gzip", "application/x-protobuf", **{"Content-Encoding": "gzip"})).status_code == 400
    assert await server.count("spans") == 0


async def test_partial_success_counts_rejected_records(server: Server) -> None:
    calls = [dict(CALLS[1]), {"model": "claude-sonnet-4-5", "input_tokens": "lots", "request_id": "req_bad"}]
    body = _encoded_logs("cc-partial", calls=calls)
    no_session = _encoded_logs("", calls=[dict(CALLS[1])])
    async with httpx.AsyncClient(base_url=server.url, headers=server.headers()) as client:
        response = await client.post("/v1/logs", content=body, headers={"Content-Type": "application/x-protobuf"})
        assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
        partial = ExportLogsServiceResponse.FromString(response.content).partial_success
        assert partial.rejected_log_records == 1 and "input_tokens is not a token count" in partial.error_message
        as_json = json_format.MessageToDict(ExportLogsServiceResponse.FromString(
            (await client.post("/v1/logs", content=no_session, headers={"Content-Type": "application/x-protobuf"})).content))
        assert as_json["partialSuccess"]["rejectedLogRecords"] == "1"
        assert "without session.id" in as_json["partialSuccess"]["errorMessage"]
    assert (await server.totals())["claude-code:cc-partial"].cost_usd == pytest.approx(sonnet_45(900, 600, 18000))


# -- the real telemetry sample ------------------------------------------------------------------


def test_shared_telemetry_sample_maps_to_its_sessions(agent_fixtures: Path) -> None:
    """The flattened Claude Code events of the shared fixtures, read as a telemetry file."""
    sample = agent_fixtures / "otel/claude-code/codemie-otel-events.sample.jsonl"
    sessions = {s.key: s for s in merge([otlp.ADAPTER.read(sample)]).finish()}
    assert sorted(sessions) == [
        "claude-code:11111111-1111-1111-1111-111111111111",
        "claude-code:22222222-2222-2222-2222-222222222222",
        "claude-code:22222222-2222-2222-2222-222222222222/tech-analyst",
    ]
    main = sessions["claude-code:11111111-1111-1111-1111-111111111111"]
    assert (main.cwd, main.branch) == ("/Users/dev/projects/codemie-code", "feature/analytics-otel-source")
    llm = [s for s in main.spans if s.run_type == "llm"]
    assert [s.tokens.total for s in llm] == [19000, 19500, 22100]
    assert sum(s.reported_cost_usd for s in llm) == pytest.approx(0.0345 + 0.0120 + 0.0080)
    assert [s.status for s in main.spans if s.run_type == "tool"].count("error") == 1  # success "false" (a string)
    child = sessions["claude-code:22222222-2222-2222-2222-222222222222/tech-analyst"]
    assert child.agent_name == "tech-analyst" and child.parent_key == "claude-code:22222222-2222-2222-2222-222222222222"
    assert PriceBook.load(None).price_sessions(sessions.values()) == {}
    assert all(s.cost_usd > 0 for s in llm)
    assert next(s for s in child.spans if s.model.startswith("converse/")).cost_usd > 0  # Bedrock id, normalized
    assert not any("Build the analytics loader" in repr(s) for s in sessions.values())  # the prompt is not kept


def test_telemetry_names_the_billing_tier(tmp_path: Path) -> None:
    """Claude Code's `speed` and OpenAI's `service_tier` (the response's over the request's)."""
    def event(request: str, **attrs: object) -> dict[str, object]:
        attrs = {"event.name": "api_request", "session.id": "s1", "model": "claude-opus-4-8", "request_id": request,
                 "input_tokens": 10, "output_tokens": 5, **attrs}
        return {"_type": "log", "ts": "2026-10-20T10:00:00Z", "scope": "com.anthropic.claude_code",
                "name": "api_request", "attrs": attrs, "resource": {"service.name": "claude-code"}}

    def span(span_id: str, **attrs: object) -> dict[str, object]:
        attrs = {"gen_ai.operation.name": "chat", "gen_ai.conversation.id": "c1", "gen_ai.provider.name": "openai",
                 "gen_ai.request.model": "gpt-5.5", "gen_ai.usage.input_tokens": 100, "gen_ai.usage.output_tokens": 7,
                 **attrs}
        return {"type": "span", "traceId": "t1", "spanId": span_id, "name": "chat gpt-5.5",
                "startTime": [1792490400, 0], "endTime": [1792490401, 0], "attributes": attrs, "resource": {}}

    path = tmp_path / "telemetry.jsonl"
    lines = [
        span("a", **{"openai.request.service_tier": "auto", "openai.response.service_tier": "priority"}),
        span("b", **{"gen_ai.openai.request.service_tier": "flex"}),
        span("c", **{"openai.response.service_tier": "default"}),
        event("req_fast", speed="fast"), event("req_normal", speed="normal"), event("req_plain"),
    ]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    spans = {s.span_id: s for session in otlp.ADAPTER.read(path).sessions for s in session.spans}
    tiers = {span_id: s.tier for span_id, s in spans.items()}
    assert [tiers[f"otel:{span_id}"] for span_id in "abc"] == ["priority", "flex", None]
    assert [tiers[f"claude-code:request:req_{name}"] for name in ("fast", "normal", "plain")] == ["fast", None, None]


# -- one session, two sources ------------------------------------------------------------------


def _native(agent_fixtures: Path) -> tuple[Path, list]:
    """A real Claude Code transcript (streamed copies, request ids) and its calls as read natively."""
    transcript = agent_fixtures / "claude-code/fasthooks/sample_main_transcript.jsonl"
    [session] = claude_code.ADAPTER.read(transcript).sessions
    calls = [s for s in session.spans if s.run_type == "llm"]
    assert len(calls) == 12 and all(c.request_id for c in calls)
    return transcript, calls


def _as_events(calls: list) -> list[dict[str, object]]:
    """What Claude Code's telemetry says about the same calls: request id and the final usage."""
    return [{"model": c.model, "request_id": c.request_id, "input_tokens": c.tokens.input,
             "output_tokens": c.tokens.output, "cache_read_tokens": c.tokens.cache_read,
             "cache_creation_tokens": c.tokens.cache_write} for c in calls]


@pytest.mark.parametrize("order", ["log-first", "telemetry-first"])
async def test_one_session_sent_both_ways_counts_once(server: Server, agent_fixtures: Path, order: str) -> None:
    transcript, calls = _native(agent_fixtures)
    sid = "c45af7b1-cb7c-4e51-93db-8cbb250a877a"
    key = f"claude-code:{sid}"
    prices = PriceBook.load(None)

    async def send_log() -> None:
        await ingest(server.engine, [(adapters.by_name("claude-code"), transcript)], prices)

    async def send_telemetry() -> None:
        exporter = OTLPLogExporter(endpoint=f"{server.url}/v1/logs", headers=server.headers())
        await asyncio.to_thread(_claude_events, exporter, sid, _as_events(calls))

    first, second = (send_log, send_telemetry) if order == "log-first" else (send_telemetry, send_log)
    await first()
    alone = (await server.totals())[key]
    assert alone.cost_usd > 0 and (alone.input, alone.output) == (132, 1480)  # the facts in SOURCES.md
    await second()
    both = (await server.totals())[key]
    assert both.cost_usd == pytest.approx(alone.cost_usd, rel=1e-12)
    assert (both.input, both.output, both.cache_read, both.cache_write) == (132, 1480, 223265, 8467)
    assert both.repo == REPO  # the telemetry's resource attributes fill what the transcript lacks
    async with session_scope(server.engine) as db:
        llm = (await db.execute(sa.text("select span_id, origin from spans where run_type = 'llm'"))).all()
    assert len(llm) == 12 and all(r.span_id.startswith("claude-code:msg_") and r.origin == "log" for r in llm)
    await send_telemetry()  # re-sent: still once
    assert (await server.totals())[key].cost_usd == pytest.approx(alone.cost_usd, rel=1e-12)


def test_one_session_both_ways_offline(agent_fixtures: Path, tmp_path: Path) -> None:
    """The same merge in the in-memory corpus (`agentspend report`): either file order, either alone."""
    transcript, calls = _native(agent_fixtures)
    sid = "c45af7b1-cb7c-4e51-93db-8cbb250a877a"
    events = _as_events(calls)
    events[0]["output_tokens"] = int(events[0]["output_tokens"]) + 50  # the log's last copy fell short
    telemetry = tmp_path / "claude-otel.jsonl"
    telemetry.write_bytes(b"".join(orjson.dumps({
        "_type": "log", "ts": "2026-01-01T00:00:00Z", "scope": "com.anthropic.claude_code", "name": "api_request",
        "attrs": {"event.name": "api_request", "session.id": sid, **e}, "resource": {"service.name": "claude-code"},
    }) + b"\n" for e in events))

    native_result = adapters.by_name("claude-code").read(transcript)
    prices = PriceBook.load(None)

    def cost(*results: object) -> tuple[float, int]:
        sessions = merge(results).finish()
        prices.price_sessions(sessions)
        [main] = [s for s in sessions if s.key == f"claude-code:{sid}"]
        llm = [s for s in main.spans if s.run_type == "llm"]
        return sum(s.cost_usd for s in llm), sum(s.tokens.output for s in llm)

    from_telemetry = cost(otlp.ADAPTER.read(telemetry))
    assert from_telemetry[1] == 1480 + 50
    assert cost(native_result, otlp.ADAPTER.read(telemetry)) == pytest.approx(from_telemetry)
    assert cost(otlp.ADAPTER.read(telemetry), adapters.by_name("claude-code").read(transcript)) == pytest.approx(from_telemetry)
    assert cost(adapters.by_name("claude-code").read(transcript))[1] == 1480


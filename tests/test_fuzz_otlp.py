"""Fuzzing OTLP decoding and mapping: arbitrary bytes, and well-formed export requests whose
attributes (the ones our mappings read) hold anything at all. The only acceptable outcomes are
`OtlpError` (a 400 with its message) or sessions plus counted rejections; pricing and the
report must take whatever the mapping produced.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.adapters.otlp import OtlpError, to_sessions
from bot.adapters.otlp_wire import REQUESTS, decode
from bot.pricing import PriceBook
from bot.report import build
from conftest import FUZZ_RANDOM

EXAMPLES = int(os.environ.get("AGENTSPEND_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                derandomize=not FUZZ_RANDOM)
PRICES = PriceBook.load(None)
SIGNALS = sorted(REQUESTS)

KEYS = st.sampled_from([
    "session.id", "event.name", "model", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_creation_tokens", "cost_usd", "request_id", "duration_ms", "query_source", "agent.name", "tool_name",
    "success", "tool_use_id", "gen_ai.operation.name", "gen_ai.request.model", "gen_ai.response.model",
    "gen_ai.provider.name", "gen_ai.system", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
    "gen_ai.usage.cache_read_input_tokens", "gen_ai.conversation.id", "gen_ai.tool.name", "gen_ai.agent.name",
    "service.name", "vcs.repository.url.full", "vcs.ref.head.name", "vcs.ref.head.revision", "type", "conversation.id",
])
SCALARS = (
    st.builds(lambda v: {"stringValue": v}, st.text(max_size=16) | st.sampled_from(
        ["claude_code.api_request", "claude_code.tool_result", "api_request", "chat", "execute_tool",
         "invoke_agent", "claude-code", "codex", "github-copilot", "true", "false", "-5", "1e400", "NaN",
         "claude-sonnet-4-5", "git@github.com:o/r.git", "https://github.com/o/r"]))
    | st.builds(lambda v: {"intValue": str(v)}, st.integers(-(2**63), 2**63 - 1))
    | st.builds(lambda v: {"doubleValue": v}, st.floats(allow_nan=False, allow_infinity=False))
    | st.builds(lambda v: {"boolValue": v}, st.booleans())
    | st.just({})
)
ANY_VALUE = st.recursive(
    SCALARS,
    lambda inner: st.builds(lambda vs: {"arrayValue": {"values": vs}}, st.lists(inner, max_size=3))
    | st.builds(lambda kv: {"kvlistValue": {"values": [{"key": k, "value": v} for k, v in kv.items()]}},
                st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=4,
)
ATTRIBUTES = st.lists(st.builds(lambda k, v: {"key": k, "value": v}, KEYS, ANY_VALUE), max_size=12)
NANOS = st.integers(0, 2**64 - 1).map(str)
HEX_ID = st.text("0123456789abcdef", min_size=0, max_size=32)


def _resource(attributes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"resource": {"attributes": attributes}}


LOGS = st.builds(
    lambda resource, records: {"resourceLogs": [_resource(resource) | {"scopeLogs": [{"scope": {"name": "com.anthropic.claude_code.events"}, "logRecords": records}]}]},
    ATTRIBUTES,
    st.lists(st.builds(lambda a, t, body: {"attributes": a, "timeUnixNano": t, "body": body}, ATTRIBUTES, NANOS, SCALARS), max_size=4),
)
SPANS = st.builds(
    lambda resource, spans: {"resourceSpans": [_resource(resource) | {"scopeSpans": [{"spans": spans}]}]},
    ATTRIBUTES,
    st.lists(st.builds(
        lambda a, name, tid, sid, pid, start, end, code: {
            "attributes": a, "name": name, "traceId": tid, "spanId": sid, "parentSpanId": pid,
            "startTimeUnixNano": start, "endTimeUnixNano": end, "status": {"code": code}},
        ATTRIBUTES, st.sampled_from(["chat gpt-4o", "execute_tool", "invoke_agent", "x"]), HEX_ID, HEX_ID, HEX_ID,
        NANOS, NANOS, st.integers(0, 2)), max_size=4),
)
POINT = st.builds(lambda a, s, t, v: {"attributes": a, "startTimeUnixNano": s, "timeUnixNano": t, "asDouble": v},
                  ATTRIBUTES, NANOS, NANOS, st.floats(allow_nan=True, allow_infinity=True))
METRICS = st.builds(
    lambda resource, name, points, temporality: {"resourceMetrics": [_resource(resource) | {"scopeMetrics": [{"metrics": [
        {"name": name, "sum": {"dataPoints": points, "aggregationTemporality": temporality, "isMonotonic": True}}]}]}]},
    ATTRIBUTES, st.sampled_from(["claude_code.token.usage", "claude_code.cost.usage", "other"]),
    st.lists(POINT, max_size=4), st.integers(0, 2),
)
REQUESTS_BY_SIGNAL = {"logs": LOGS, "traces": SPANS, "metrics": METRICS}


def _map_price_report(signal: str, body: bytes, as_json: bool) -> None:
    try:
        telemetry = decode(signal, body, json=as_json)
    except OtlpError as exc:
        assert str(exc)  # the 400's message
        return
    mapped = to_sessions(telemetry)
    assert all(isinstance(n, int) and n > 0 for n in mapped.rejected.values())
    PRICES.price_sessions(mapped.sessions)
    build.build(mapped.sessions, PRICES.source)


@pytest.mark.parametrize("signal", SIGNALS)
@pytest.mark.parametrize("as_json", [False, True])
@FUZZ
@given(body=st.binary(max_size=300))
def test_arbitrary_bytes(signal: str, as_json: bool, body: bytes) -> None:
    _map_price_report(signal, body, as_json)


@pytest.mark.parametrize("signal", SIGNALS)
@FUZZ
@given(data=st.data())
def test_well_formed_requests_with_any_attribute_values(signal: str, data: st.DataObject) -> None:
    import orjson

    request = data.draw(REQUESTS_BY_SIGNAL[signal])
    as_json = orjson.dumps(request)
    _map_price_report(signal, as_json, as_json=True)
    try:
        message = json_format.ParseDict(request, REQUESTS[signal](), ignore_unknown_fields=True)
    except json_format.ParseError:
        return  # hex ids are not base64: the JSON path above is the one that accepts them
    _map_price_report(signal, message.SerializeToString(), as_json=False)

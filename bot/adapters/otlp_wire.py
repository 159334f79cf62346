"""OTLP export requests, protobuf or OTLP/JSON → the plain records bot.adapters.otlp maps.

Kept apart because the protobuf runtime and the generated OpenTelemetry classes take 6 MB and
25 ms to import: the offline report, reading files, needs them only for a file of collector
requests, and the receiver (bot.web.otlp) for every request.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from bot.adapters.otlp import (
    STATUS_ERROR, LogEvent, MetricPoint, OtlpError, SpanRecord, Telemetry, event_name, time_of_nanos,
)

REQUESTS: dict[str, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
}
"""The export request of each OTLP signal, by the last segment of its path (`/v1/<signal>`)."""

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})
_CUMULATIVE = 2  # AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE


def decode(signal: str, body: bytes, json: bool) -> Telemetry:
    """An OTLP/HTTP export request body (protobuf, or OTLP/JSON when `json`) → records."""
    message = REQUESTS[signal]()
    if json:
        _parse_json(body, message)
    else:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise OtlpError(f"not a protobuf {type(message).__name__}: {exc}") from None
    return from_message(message)


def from_message(message: Message) -> Telemetry:
    if isinstance(message, ExportLogsServiceRequest):
        return Telemetry(logs=list(_logs(message)))
    if isinstance(message, ExportTraceServiceRequest):
        return Telemetry(spans=list(_spans(message)))
    if isinstance(message, ExportMetricsServiceRequest):
        return Telemetry(points=list(_points(message)))
    raise TypeError(type(message).__name__)


def from_dict(signal: str, data: dict[str, Any]) -> Telemetry:
    """One OTLP/JSON request already parsed from JSON (a line of a collector's file) → records."""
    message = REQUESTS[signal]()
    _parse_dict(data, message)
    return from_message(message)


def _parse_json(body: bytes, message: Message) -> None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise OtlpError(f"an OTLP/JSON {type(message).__name__} must be a JSON object")
    _parse_dict(data, message)


def _parse_dict(data: dict[str, Any], message: Message) -> None:
    """OTLP/JSON differs from protobuf's JSON mapping in one way: ids are hex, not base64."""
    try:
        json_format.ParseDict(_ids_as_base64(data), message, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OtlpError(f"not an OTLP/JSON {type(message).__name__}: {exc}") from None


def _ids_as_base64(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _hex_id(v) if k in _ID_KEYS else _ids_as_base64(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_ids_as_base64(v) for v in value]
    return value


def _hex_id(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        raise OtlpError(f"trace and span ids must be hex in OTLP/JSON, got {value[:40]!r}") from None


def _any(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "kvlist_value":
        return {kv.key: _any(kv.value) for kv in value.kvlist_value.values}
    if kind == "array_value":
        return [_any(v) for v in value.array_value.values]
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def _attrs(values: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: _any(kv.value) for kv in values}


def _logs(request: ExportLogsServiceRequest) -> Iterator[LogEvent]:
    for resource_logs in request.resource_logs:
        resource = _attrs(resource_logs.resource.attributes)
        for scope_logs in resource_logs.scope_logs:
            scope = scope_logs.scope.name
            for record in scope_logs.log_records:
                attrs = _attrs(record.attributes)
                body = _any(record.body) if record.HasField("body") else None
                at = time_of_nanos(record.time_unix_nano or record.observed_time_unix_nano)
                yield LogEvent(resource, scope, event_name(attrs.get("event.name"), record.event_name, body), at, attrs)


def _spans(request: ExportTraceServiceRequest) -> Iterator[SpanRecord]:
    for resource_spans in request.resource_spans:
        resource = _attrs(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope.name
            for span in scope_spans.spans:
                yield SpanRecord(
                    resource, scope, span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex() or None,
                    span.name, time_of_nanos(span.start_time_unix_nano), time_of_nanos(span.end_time_unix_nano),
                    span.status.code == STATUS_ERROR, _attrs(span.attributes),
                )


def _points(request: ExportMetricsServiceRequest) -> Iterator[MetricPoint]:
    for resource_metrics in request.resource_metrics:
        resource = _attrs(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                kind = metric.WhichOneof("data")
                if kind == "sum":
                    points, cumulative = metric.sum.data_points, metric.sum.aggregation_temporality == _CUMULATIVE
                elif kind == "gauge":
                    points, cumulative = metric.gauge.data_points, True
                else:
                    continue  # histograms and summaries carry no per-session token counts
                for point in points:
                    value = point.as_double if point.WhichOneof("value") == "as_double" else point.as_int
                    yield MetricPoint(resource, metric.name, point.start_time_unix_nano, point.time_unix_nano,
                                      float(value), cumulative, _attrs(point.attributes))

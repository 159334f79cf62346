"""POST /v1/traces, /v1/logs, /v1/metrics: the OTLP/HTTP receiver, behind an ingest token.

What the OpenTelemetry specification asks of an OTLP/HTTP server (protocol/otlp.md): protobuf
(`application/x-protobuf`) and OTLP/JSON (`application/json`) bodies, optionally gzip-encoded;
the response in the request's encoding, an `Export*ServiceResponse` whose `partial_success`
counts the items that were not accepted and says why; failures as a `google.rpc.Status` with a
message (400 for a malformed body, 413 for one too large, 415 for an unknown encoding). Agents
send the token the way `OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <token>"` does, and
the token writes only its owner's repositories, like the upload route: a batch naming another
owner's repository is refused whole (403), nothing written.

Decoding and mapping live in bot.adapters.otlp, shared with telemetry files; sessions are then
priced and stored like uploads (bot.ingest.store_uploaded).
"""

from __future__ import annotations

import logging
import zlib
from collections import Counter

from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from litestar import Request, Response, post
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsPartialSuccess, ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTracePartialSuccess, ExportTraceServiceResponse

from bot.adapters.otlp import OtlpError, to_sessions
from bot.adapters.otlp_wire import decode
from bot.db.engine import session_scope
from bot.ingest import store_uploaded
from bot.web import services
from bot.web.ingest import Refused, authorize, bearer

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024
"""Bytes on the wire. The OTel SDKs batch 512 items per request by default, far below this."""
MAX_DECODED = 64 * 1024 * 1024
"""Bytes after gzip, so a small compressed body cannot expand without bound."""

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

_RESPONSES = {
    "traces": (ExportTraceServiceResponse, ExportTracePartialSuccess, "rejected_spans"),
    "logs": (ExportLogsServiceResponse, ExportLogsPartialSuccess, "rejected_log_records"),
    "metrics": (ExportMetricsServiceResponse, ExportMetricsPartialSuccess, "rejected_data_points"),
}
_CODES = {400: code_pb2.INVALID_ARGUMENT, 401: code_pb2.UNAUTHENTICATED, 403: code_pb2.PERMISSION_DENIED,
          413: code_pb2.RESOURCE_EXHAUSTED, 415: code_pb2.INVALID_ARGUMENT}


class _Failure(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@post("/v1/traces", request_max_body_size=None)
async def otlp_traces(request: Request) -> Response:
    return await _export(request, "traces")


@post("/v1/logs", request_max_body_size=None)
async def otlp_logs(request: Request) -> Response:
    return await _export(request, "logs")


@post("/v1/metrics", request_max_body_size=None)
async def otlp_metrics(request: Request) -> Response:
    return await _export(request, "metrics")


ROUTES = [otlp_traces, otlp_logs, otlp_metrics]


async def _export(request: Request, signal: str) -> Response:
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    media = JSON if kind == JSON else PROTOBUF
    try:
        if kind not in (PROTOBUF, JSON):
            raise _Failure(415, f"unsupported content type {kind or '(none)'!r}: send {PROTOBUF} or {JSON}")
        if bearer(request) is None:
            raise _Failure(401, "an ingest token is required (OTEL_EXPORTER_OTLP_HEADERS=\"Authorization=Bearer <token>\")")
        body = _decompressed(request.headers.get("content-encoding", ""), await _body(request))
        try:
            telemetry = decode(signal, body, json=kind == JSON)
        except OtlpError as exc:
            raise _Failure(400, str(exc)) from None
        mapped = to_sessions(telemetry)
        svc = services(request)
        async with session_scope(svc.engine) as db:
            try:
                owner = await authorize(db, bearer(request), mapped.sessions)
            except Refused as refused:
                raise _Failure(refused.status, refused.message) from None
            summary = await store_uploaded(db, mapped.sessions, owner, svc.prices) if mapped.sessions else {}
    except _Failure as failure:
        log.info("OTLP %s refused (%d): %s", signal, failure.status, failure.message)
        return _status(failure.status, failure.message, media)
    log.info("OTLP %s from %s: %s; rejected %s", signal, owner, summary, dict(mapped.rejected) or "none")
    return _encoded(_response(signal, mapped.rejected), media, 200)


async def _body(request: Request) -> bytes:
    """The body, refused as soon as it passes MAX_BODY (a Content-Length saying so is enough)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise _Failure(413, f"the body is {declared} bytes; the limit is {MAX_BODY}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _Failure(413, f"the body is over {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decompressed(encoding: str, body: bytes) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise _Failure(415, f"unsupported content encoding {encoding!r}: send gzip or none")
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, MAX_DECODED + 1)
    except zlib.error as exc:
        raise _Failure(400, f"the body is not valid gzip: {exc}") from None
    if len(data) > MAX_DECODED or inflater.unconsumed_tail:
        raise _Failure(413, f"the body expands to over {MAX_DECODED} bytes")
    if not inflater.eof:
        raise _Failure(400, "the gzip body is truncated")
    return data


def _response(signal: str, rejected: Counter[str]) -> Message:
    response_type, partial_type, field = _RESPONSES[signal]
    count = sum(rejected.values())
    if not count:
        return response_type()
    why = "; ".join(f"{n} {reason}" for reason, n in rejected.most_common())
    return response_type(partial_success=partial_type(**{field: count, "error_message": why}))


def _status(status: int, message: str, media: str) -> Response:
    return _encoded(status_pb2.Status(code=_CODES.get(status, code_pb2.UNKNOWN), message=message), media, status)


def _encoded(message: Message, media: str, status: int) -> Response:
    if media == JSON:
        return Response(json_format.MessageToJson(message, indent=None).encode(), media_type=JSON, status_code=status)
    return Response(message.SerializeToString(), media_type=PROTOBUF, status_code=status)

"""The store's merge of telemetry with native logs, on SQLite and Postgres, in either order."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.corpus import Corpus
from bot.db import queries
from bot.db.engine import session_scope
from bot.trace import Origin, RunType, Runtime, Session, Span, Tokens

def _call(span_id: str, origin: Origin, output: int, request_id: str | None = None) -> Span:
    return Span(span_id, RunType.LLM, "claude-sonnet-4-5", model="claude-sonnet-4-5", origin=origin,
                request_id=request_id, tokens=Tokens(input=10, output=output))


def _family(origin_spans: dict[str, list[Span]]) -> list[Session]:
    return [Session(key=key, runtime=Runtime.CLAUDE_CODE, parent_key="claude-code:s1" if "/" in key else None, spans=spans)
            for key, spans in origin_spans.items()]


@pytest.mark.parametrize("log_first", [True, False], ids=["log-first", "telemetry-first"])
async def test_store_gives_unmatched_telemetry_and_counters_way(engine, log_first: bool) -> None:
    telemetry = _family({"claude-code:s1": [_call("claude-code:event:1", Origin.TELEMETRY, 700),
                                            _call("claude-code:metric:s1", Origin.METRIC, 5000),
                                            _call("claude-code:request:req_9", Origin.TELEMETRY, 90, "req_9")]})
    native = _family({"claude-code:s1/a1": [_call("claude-code:msg_9", Origin.LOG, 80, "req_9"),
                                            _call("claude-code:msg_8", Origin.LOG, 30)]})
    batches = [native, telemetry] if log_first else [telemetry, native]
    async with session_scope(engine) as db:
        await queries.upsert_sessions(db, batches[0])
    async with session_scope(engine) as db:
        await queries.upsert_sessions(db, batches[1])
    async with session_scope(engine) as db:
        rows = (await db.execute(sa.text("select span_id, session_key, output, origin from spans order by span_id"))).all()
    # the telemetry copy of req_9 merged into the logged call (its larger output kept, the call's session
    # and id kept); the request-less event and the counters gave way to the log of the same family
    assert [tuple(r) for r in rows] == [
        ("claude-code:msg_8", "claude-code:s1/a1", 30, "log"),
        ("claude-code:msg_9", "claude-code:s1/a1", 90, "log"),
    ]


@pytest.mark.parametrize("log_first", [True, False], ids=["log-first", "telemetry-first"])
def test_corpus_applies_the_same_rules(log_first: bool) -> None:
    telemetry = _family({"claude-code:s1": [_call("claude-code:event:1", Origin.TELEMETRY, 700),
                                            _call("claude-code:metric:s1", Origin.METRIC, 5000),
                                            _call("claude-code:request:req_9", Origin.TELEMETRY, 90, "req_9")]})
    native = _family({"claude-code:s1/a1": [_call("claude-code:msg_9", Origin.LOG, 80, "req_9"),
                                            _call("claude-code:msg_8", Origin.LOG, 30)]})
    corpus = Corpus()
    for session in (native + telemetry if log_first else telemetry + native):
        corpus.add_session(session)
    spans = sorted((s.span_id, key, s.tokens.output, str(s.origin))
                   for key, session in ((x.key, x) for x in corpus.finish()) for s in session.spans)
    assert spans == [("claude-code:msg_8", "claude-code:s1/a1", 30, "log"), ("claude-code:msg_9", "claude-code:s1/a1", 90, "log")]

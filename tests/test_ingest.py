"""`agentspend ingest` over the shared fixtures: idempotent, resumable, tolerant, and private."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.db import queries
from bot.db.engine import session_scope
from bot.ingest import ingest, plan
from bot.pricing import PriceBook

# Text known to be in the fixture logs: prompts, file contents, tool output, replies.
PRIVATE_TEXT = (
    "can you run a command ls -la",            # Claude Code prompt (fasthooks)
    "IMPLEMENTATION_REPORT.md",                # Claude Code tool output (an `ls` listing)
    "This is a simple hello file",             # Claude Code Write tool input (file content)
    "update the defailt context compart",      # Codex user prompt
    "Full-history forked agents inherit",      # Codex function_call_output
    "Create a test file with console.log",     # OpenCode user prompt
    "Created src/test.ts with three",          # OpenCode reply
    "I see we're all set up with the Gemini",  # Gemini reply
)


async def _snapshot(engine) -> tuple[list, list]:
    async with session_scope(engine) as db:
        spans = (await db.execute(sa.text("select * from spans order by span_id"))).all()
        sessions = (await db.execute(sa.text("select * from sessions order by key"))).all()
    timeless = [tuple(v for k, v in r._mapping.items() if k != "updated_at") for r in sessions]
    return [tuple(r) for r in spans], timeless


async def test_fixtures_twice_change_nothing(engine, agent_fixtures: Path) -> None:
    units, errors = plan([agent_fixtures])
    assert errors == []
    prices = PriceBook.load(None)
    first = await ingest(engine, units, prices)
    assert first.sessions_added > 10 and first.spans_added > 100
    before = await _snapshot(engine)
    second = await ingest(engine, units, prices)
    assert (second.sessions_added, second.spans_added) == (0, 0)
    assert await _snapshot(engine) == before


async def test_fresh_cursors_still_change_nothing(engine, agent_fixtures: Path) -> None:
    """Even re-reading everything from byte 0 (cursors lost) lands on the same rows."""
    units, _ = plan([agent_fixtures])
    prices = PriceBook.load(None)
    await ingest(engine, units, prices)
    before = await _snapshot(engine)
    async with session_scope(engine) as db:
        await db.execute(sa.text("delete from ingest_cursors"))
    again = await ingest(engine, units, prices)
    assert (again.sessions_added, again.spans_added) == (0, 0)
    assert await _snapshot(engine) == before


async def test_nothing_private_is_stored(engine, agent_fixtures: Path) -> None:
    for text in PRIVATE_TEXT:  # the search below only means something if the text is really there
        assert any(text.encode() in p.read_bytes() for p in agent_fixtures.rglob("*") if p.is_file()), text
    units, _ = plan([agent_fixtures])
    await ingest(engine, units, PriceBook.load(None))
    async with session_scope(engine) as db:
        dump = []
        for table in ("sessions", "spans", "ingest_cursors"):
            dump += [repr(tuple(r)) for r in (await db.execute(sa.text(f"select * from {table}"))).all()]
    stored = "\n".join(dump)
    assert len(stored) > 10_000
    for text in PRIVATE_TEXT:
        assert text not in stored


async def test_garbage_and_truncated_lines_are_counted_then_resumed(engine, agent_fixtures: Path, tmp_path: Path) -> None:
    source = agent_fixtures / "claude-code/fasthooks/sample_main_transcript.jsonl"
    log = tmp_path / "projects/-workspace" / source.name
    log.parent.mkdir(parents=True)
    lines = source.read_bytes().splitlines(keepends=True)
    last = lines[-1]
    log.write_bytes(b"".join(lines[:-1]) + b"this is not json\n" + last[: len(last) // 2])
    units, _ = plan([log])
    prices = PriceBook.load(None)
    summary = await ingest(engine, units, prices)
    assert summary.skipped["malformed_json"] == 1
    assert summary.skipped["truncated_line"] == 1
    async with session_scope(engine) as db:
        _, spans_before = await queries.count_rows(db)

    with log.open("ab") as fh:  # the agent finishes writing the line
        fh.write(last[len(last) // 2 :])
    summary = await ingest(engine, units, prices)
    assert summary.skipped == {}
    full = tmp_path / "full" / source.name
    full.parent.mkdir()
    shutil.copy(source, full)
    async with session_scope(engine) as db:
        [totals] = await queries.session_totals(db)
        _, spans_after = await queries.count_rows(db)
    assert spans_after >= spans_before
    assert (totals.input, totals.output, totals.cache_read, totals.cache_write) == (132, 1480, 223265, 8467)


async def test_unknown_model_is_unpriced_not_free(engine, tmp_path: Path) -> None:
    log = tmp_path / "projects/-x/0f8e6f2a-1111-4222-8333-444455556666.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(
        '{"type":"assistant","sessionId":"0f8e6f2a-1111-4222-8333-444455556666","cwd":"/x","gitBranch":"",'
        '"timestamp":"2026-05-01T10:00:00Z","requestId":"req_1","uuid":"u1",'
        '"message":{"id":"msg_1","model":"acme-secret-model-9","role":"assistant","content":[],'
        '"usage":{"input_tokens":100,"output_tokens":50}}}\n'
    )
    summary = await ingest(engine, plan([log])[0], PriceBook.load(None))
    assert summary.unpriced_tokens == {"acme-secret-model-9": 150}
    async with session_scope(engine) as db:
        [totals] = await queries.session_totals(db)
    assert totals.cost_usd == 0 and totals.unpriced_tokens == 150


def test_unreadable_paths_are_reported(tmp_path: Path) -> None:
    units, errors = plan([tmp_path / "missing"])
    assert units == [] and errors and "no such file" in errors[0]


@pytest.mark.parametrize("name", ["codex", "claude-code"])
def test_forced_format_reads_the_named_file(agent_fixtures: Path, name: str) -> None:
    from bot import adapters

    path = agent_fixtures / "codex/ccusage-branch-history/2026-05-12T08-00-00-parent.jsonl"
    units, errors = plan([path], adapters.by_name(name))
    assert errors == [] and [(a.name, p) for a, p in units] == [(name, path)]

"""Read LangSmith / LangChain Deep Agents runs: exports and recorded SDK batches.

Accepted shapes (docs/agent-formats.md §9): a JSON list of runs, `{"runs": [...]}`, the SDK's
batch body `{"post": [...], "patch": [...]}` (a run is created, then updated: merged by `id`),
or JSON lines of runs. Only `llm` runs are counted — chain and root runs total their
children — with usage from `outputs.usage_metadata` (LangChain's `input_tokens` includes
cache reads and writes, `output_tokens` includes reasoning). A run without usage is a call of
unknown usage, never a free one.

Sessions follow the coding-agent-v1 metadata on each run: `<ls_integration>:<thread_id>` (so
a traced Claude Code session meets the same session read from disk, where its unmatched copy
gives way to the transcript), `ls_agent_type: subagent` runs in a child session of their
`ls_subagent_id`, and repository, branch and commit from `repository_url`, `git_branch`,
`git_commit_sha`. Runs without that metadata form one `deepagents:<trace_id>` session per trace.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from bot.adapters.base import Cursor, JsonLines, ParseResult, parse_time, whole_file_cursor
from bot.gitmeta import normalize_remote
from bot.trace import Origin, Runtime, RunType, Session, Span, Status, Tokens

_INTEGRATIONS = {
    "claude-code": Runtime.CLAUDE_CODE,
    "openai-codex": Runtime.CODEX,
    "codex": Runtime.CODEX,
    "cursor": Runtime.CURSOR,
    "opencode": Runtime.OPENCODE,
    "gemini-cli": Runtime.GEMINI_CLI,
}
_RUN_TYPES = {"llm": RunType.LLM, "tool": RunType.TOOL}


class _Adapter:
    name = "langsmith"
    runtime = Runtime.DEEPAGENTS
    suffixes = frozenset({".json", ".jsonl"})
    claims_directories = False
    lists_root_parents = False

    def identify(self, path: Path, head: bytes) -> bool:
        """JSON holding runs: a `run_type` next to a `trace_id` or `dotted_order`."""
        if path.suffix not in (".json", ".jsonl") or not head:
            return False
        return b'"run_type"' in head and (b'"dotted_order"' in head or b'"trace_id"' in head)

    def read(self, path: Path, cursors: Mapping[str, Cursor] | None = None) -> ParseResult:
        stamp = whole_file_cursor(path)  # before reading: a rewrite meanwhile is read next time
        result = ParseResult()
        runs = _load(path, result.skipped)
        sessions: dict[str, Session] = {}
        for run in runs.values():
            try:
                _add(run, sessions, str(path), result.skipped)
            except (AttributeError, TypeError, ValueError):
                result.skipped["bad_run"] += 1
        result.sessions = list(sessions.values())
        result.cursors[str(path)] = stamp
        return result

    def discover(self, env: Mapping[str, str], home: Path) -> Iterable[Path]:
        return []  # exports live wherever the user saved them


ADAPTER = _Adapter()


def _load(path: Path, skipped: Counter[str]) -> dict[str, dict[str, Any]]:
    """Every run in the file, its create and update merged (the update's fields win)."""
    if path.suffix == ".jsonl":
        records = list(JsonLines(path, None, skipped))
    else:
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError:
            skipped["malformed_json"] += 1
            return {}
        if isinstance(data, dict) and ("post" in data or "patch" in data):
            parts = [data.get("post"), data.get("patch")]
            records = [record for part in parts if isinstance(part, list) for record in part]
            skipped["bad_record"] += sum(part is not None and not isinstance(part, list) for part in parts)
        elif isinstance(data, dict) and isinstance(data.get("runs"), list):
            records = data["runs"]
        else:
            records = data if isinstance(data, list) else [data]
    runs: dict[str, dict[str, Any]] = {}
    for record in records:
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            skipped["run_without_id"] += 1
            continue
        merged = runs.setdefault(record["id"], {})
        for key, value in record.items():
            if value not in (None, {}, []):
                merged[key] = value
    return runs


def _add(run: dict[str, Any], sessions: dict[str, Session], source: str, skipped: Counter[str]) -> None:
    run_type = _RUN_TYPES.get(str(run.get("run_type") or "").lower())
    extra = run.get("extra") if isinstance(run.get("extra"), dict) else {}
    meta = extra.get("metadata") if isinstance(extra.get("metadata"), dict) else {}
    session = _session(run, meta, sessions, source)
    started = parse_time(run.get("start_time"))
    session.observe_time(started)
    session.observe_time(parse_time(run.get("end_time")))
    if run_type is None:
        return  # chains, prompts, parsers: their usage is their children's
    error = run.get("error")
    span = Span(
        span_id=f"{session.runtime}:run:{run['id']}", run_type=run_type, name=str(run.get("name") or run_type),
        started_at=started, parent_id=f"{session.runtime}:run:{run['parent_run_id']}" if run.get("parent_run_id") else None,
        duration_ms=_millis(started, parse_time(run.get("end_time"))),
        status=Status.ERROR if error else Status.OK, error_kind="error" if error else None,
        # A second-hand record of the agent's own calls: it gives way to the agent's log.
        origin=Origin.TELEMETRY if session.runtime is not Runtime.DEEPAGENTS else Origin.LOG,
    )
    if run_type is RunType.LLM:
        span.model = _model(run, meta)
        span.provider = meta.get("ls_provider") if isinstance(meta.get("ls_provider"), str) else None
        span.name = span.model or span.name
        span.tokens = _tokens(_usage(run, meta), skipped)
    else:
        span.tool_name = meta.get("ls_tool_name") if isinstance(meta.get("ls_tool_name"), str) else span.name
    session.spans.append(span)


def _session(run: dict[str, Any], meta: dict[str, Any], sessions: dict[str, Session], source: str) -> Session:
    integration = str(meta.get("ls_integration") or "")
    runtime = _INTEGRATIONS.get(integration, Runtime.DEEPAGENTS)
    thread = meta.get("thread_id") or meta.get("session_id")
    key = f"{runtime}:{thread}" if thread else f"{Runtime.DEEPAGENTS}:{run.get('trace_id') or run['id']}"
    parent = None
    if meta.get("ls_agent_type") == "subagent" and meta.get("ls_subagent_id"):
        parent, key = key, f"{key}/{meta['ls_subagent_id']}"
    session = sessions.get(key)
    if session is None:
        session = sessions[key] = Session(key=key, runtime=runtime, parent_key=parent, source=source)
    if parent:
        session.agent_name = session.agent_name or _str(meta.get("ls_subagent_type"))
    session.repo = session.repo or normalize_remote(_str(meta.get("repository_url")))
    session.branch = session.branch or _str(meta.get("git_branch"))
    session.cwd = session.cwd or _str(meta.get("cwd"))
    sha = _str(meta.get("git_commit_sha"))
    if sha and sha not in session.commits:
        session.commits.append(sha)
    return session


def _usage(run: dict[str, Any], meta: dict[str, Any]) -> Any:
    """`outputs.usage_metadata`, else the AIMessage inside `outputs.generations`, else metadata."""
    outputs = run.get("outputs") if isinstance(run.get("outputs"), dict) else {}
    if isinstance(outputs.get("usage_metadata"), dict):
        return outputs["usage_metadata"]
    for generation in (g for batch in outputs.get("generations") or [] for g in (batch if isinstance(batch, list) else [batch])):
        message = generation.get("message") if isinstance(generation, dict) else None
        kwargs = message.get("kwargs") if isinstance(message, dict) else None
        if isinstance(kwargs, dict) and isinstance(kwargs.get("usage_metadata"), dict):
            return kwargs["usage_metadata"]
    return meta.get("usage_metadata")


def _tokens(usage: Any, skipped: Counter[str]) -> Tokens | None:
    if not isinstance(usage, dict):
        return None
    details_in = usage.get("input_token_details") if isinstance(usage.get("input_token_details"), dict) else {}
    details_out = usage.get("output_token_details") if isinstance(usage.get("output_token_details"), dict) else {}
    values = (usage.get("input_tokens", 0), usage.get("output_tokens", 0), details_in.get("cache_read", 0),
              details_in.get("cache_creation", 0), details_out.get("reasoning", 0))
    if any(type(v) is not int or v < 0 for v in values):
        skipped["bad_usage"] += 1
        return None
    inp, out, read, write, reasoning = values
    return Tokens(input=max(inp - read - write, 0), output=out, cache_read=read, cache_write_5m=write,
                  reasoning=min(reasoning, out))


def _model(run: dict[str, Any], meta: dict[str, Any]) -> str | None:
    outputs = run.get("outputs") if isinstance(run.get("outputs"), dict) else {}
    inputs = run.get("inputs") if isinstance(run.get("inputs"), dict) else {}
    invocation = meta.get("ls_invocation_params") if isinstance(meta.get("ls_invocation_params"), dict) else {}
    for value in (meta.get("ls_model_name"), outputs.get("model"), inputs.get("model"), invocation.get("model")):
        if isinstance(value, str) and value:
            return value
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _millis(start: Any, end: Any) -> int | None:
    if start is None or end is None or end < start:
        return None
    return int((end - start).total_seconds() * 1000)

#!/usr/bin/env python3
"""Build a benchmark corpus of about N MB by replicating the fixture logs with fresh ids.

    .venv/bin/python bench/corpus.py 100 bench/out/corpus-100mb [--agents claude,codex] [--check]

Layout (what CLAUDE_CONFIG_DIR and CODEX_HOME point at):

    OUT/claude/projects/<fixture project>-c<copy>/<session>.jsonl (+ subagents/, agent-*.jsonl)
    OUT/codex/sessions/YYYY/MM/DD/rollout-YYYY-MM-DDTHH-MM-SS-<uuid>.jsonl
    OUT/manifest.json        what was built (read by throughput.py to reuse the corpus)

Every copy is the whole fixture set made distinct for both tools' deduplication:

- every id is replaced consistently within a copy (so turn-1/turn-2, a subagent and its parent,
  a Codex child and its `parent_thread_id` still refer to each other): UUIDs (sessionId, uuid,
  parentUuid, Codex thread ids …) become other UUIDs derived from (id, copy); other ids
  (message.id `msg_…`, requestId `req_…`, tool ids `toolu_…`/`call_…`, agentId …) get a
  `c<copy>` suffix. Ids are the values of JSON keys named `…id`/`…Id`/`…ID`/`…uuid`/`…Uuid`
  plus any UUID anywhere (paths in text mention session ids);
- every date of an ISO timestamp moves back <copy> days (time of day unchanged), so Codex calls,
  which have no native id and are recognised by timestamp + payload (ours) or timestamp +
  model + usage (ccusage), are distinct too, while within a copy the relations the parsers rely
  on (fork replays with equal timestamps, a subagent's replay second) are kept.

Each fixture file is split once into literal byte runs and id/date slots; a copy is a
`b"".join` of the runs with that copy's replacements, so building is bound by disk writes.
Each copy therefore holds exactly the fixture's calls: both tools must report copies × their
fixture totals (`--check` runs both and says so).
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402  (a dependency of agentspend: present in its venv)

from _common import (  # noqa: E402
    AGENTS,
    FIXTURES,
    MB,
    TOKEN_KEYS,
    Roots,
    agentspend_cmd,
    ccusage_by_model,
    ccusage_cmd,
    fixture_files,
    fixture_tree,
    ours_by_model,
    run_json,
    sum_tokens,
    tool_env,
)

DIRTY = ".appended"
"""Marker present while `append_new_calls` has grown files that are not yet restored."""
GENERATOR = "3"
"""Bump when the output of the generator changes: a corpus built by another version is rebuilt."""

_UUID = rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_ID_VALUE = re.compile(rb'"([A-Za-z_]*(?:id|Id|ID|uuid|Uuid|UUID))"\s*:\s*"([^"\\]{1,120})"')
_UUID_ANYWHERE = re.compile(rb"(?<![0-9A-Za-z])" + _UUID + rb"(?![0-9A-Za-z])")
_IS_UUID = re.compile(rb"^" + _UUID + rb"$")
_DATE = rb"20\d\d-\d\d-\d\d(?=T\d\d:\d\d)"


def _collect_ids(blobs: list[bytes]) -> set[bytes]:
    ids: set[bytes] = set()
    for blob in blobs:
        for m in _ID_VALUE.finditer(blob):
            value = m.group(2)
            if len(value) >= 6 and not value.isdigit():  # pids, counters and tiny labels stay
                ids.add(value)
        ids.update(m.group(0) for m in _UUID_ANYWHERE.finditer(blob))
    return ids


def _slot_regex(ids: set[bytes]) -> re.Pattern[bytes]:
    alternatives = b"|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
    return re.compile(rb"((?<![0-9A-Za-z])(?:" + alternatives + rb")(?![0-9A-Za-z])|(?<![0-9])" + _DATE + rb")")


@dataclass
class _Template:
    rel: str
    """Path inside the agent root (`projects/…` or `sessions/…`), itself a template."""
    parts: list[bytes]
    """Literal runs at even indexes, slots (an id or a date) at odd indexes."""
    path_parts: list[bytes]
    session_id: bytes | None = None
    first_time: bytes | None = None


@dataclass
class _Agent:
    name: str
    templates: list[_Template] = field(default_factory=list)
    dates: set[bytes] = field(default_factory=set)
    ids: set[bytes] = field(default_factory=set)
    size: int = 0


def _load(agent: str) -> _Agent:
    files = fixture_files(agent)
    blobs = [src.read_bytes() for src, _ in files]
    loaded = _Agent(agent, size=sum(len(b) for b in blobs))
    loaded.ids = _collect_ids(blobs + [str(rel).encode() for _, rel in files])
    slots = _slot_regex(loaded.ids)
    for (src, rel), blob in zip(files, blobs, strict=True):
        parts = slots.split(blob)
        path_parts = slots.split(str(rel).encode())
        template = _Template(str(rel), parts, path_parts)
        if agent == "codex":
            m = re.search(rb'"type":"session_meta","payload":\{"id":"([^"]+)"', blob)
            template.session_id = m.group(1) if m else None
            m = re.search(rb'"timestamp":"(20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d)', blob)
            template.first_time = m.group(1) if m else b"2026-05-11T00:00:00"
        loaded.dates.update(p for p in parts[1::2] if _is_date(p))
        loaded.templates.append(template)
    return loaded


def _is_date(slot: bytes) -> bool:
    return len(slot) == 10 and slot[4:5] == b"-" and slot[7:8] == b"-" and slot[:4].isdigit() and slot[5:7].isdigit()


def _mapping(agent: _Agent, copy: int) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    salt = copy.to_bytes(4, "big")
    for ident in agent.ids:
        if _IS_UUID.match(ident):
            h = hashlib.blake2b(ident.lower() + salt, digest_size=16).hexdigest()
            out[ident] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}".encode()
        else:
            out[ident] = ident + b"c%x" % copy
    for day in agent.dates:
        shifted = date.fromisoformat(day.decode()) - timedelta(days=copy)
        out[day] = shifted.isoformat().encode()
    return out


def _render(parts: list[bytes], mapping: dict[bytes, bytes]) -> bytes:
    out = parts.copy()
    out[1::2] = [mapping[s] for s in parts[1::2]]
    return b"".join(out)


def _target(agent: _Agent, template: _Template, copy: int, mapping: dict[bytes, bytes]) -> str:
    if agent.name == "claude":
        project, _, rest = _render(template.path_parts, mapping).decode().partition("/")
        return f"claude/projects/{project}-c{copy:05d}/{rest}"
    sid = mapping.get(template.session_id, b"") if template.session_id else b""
    if not _IS_UUID.match(sid):  # no session_meta, or a non-UUID id: name the file after a fresh UUID
        h = hashlib.blake2b(template.rel.encode() + copy.to_bytes(4, "big"), digest_size=16).hexdigest()
        sid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}".encode()
    first = template.first_time or b"2026-05-11T00:00:00"
    day = date.fromisoformat(first[:10].decode()) - timedelta(days=copy)
    clock = first[11:19].decode().replace(":", "-")
    return f"codex/sessions/{day:%Y/%m/%d}/rollout-{day.isoformat()}T{clock}-{sid.decode()}.jsonl"


def fixture_bytes(agents: tuple[str, ...]) -> int:
    return sum(src.stat().st_size for agent in agents for src, _ in fixture_files(agent))


def copies_for(mb: float, agents: tuple[str, ...]) -> int:
    return max(1, round(mb * MB / fixture_bytes(agents)))


def build(mb: float, out: Path, agents: tuple[str, ...] = AGENTS, force: bool = False, quiet: bool = False) -> dict:
    """Build (or reuse) the corpus; returns its manifest."""
    copies = copies_for(mb, agents)
    fingerprint = hashlib.blake2b(digest_size=8)
    for agent in agents:
        for src, rel in fixture_files(agent):
            fingerprint.update(f"{rel}\0{src.stat().st_size}\n".encode())
    wanted = {"generator": GENERATOR, "agents": list(agents), "copies": copies, "fixtures": fingerprint.hexdigest()}
    manifest_path = out / "manifest.json"
    if not force and manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        clean = not (out / DIRTY).exists()
        if clean and {k: manifest.get(k) for k in wanted} == wanted and all((out / a).is_dir() for a in agents):
            if not quiet:
                print(f"corpus: reusing {out} ({manifest['bytes_total'] / MB:.1f} MB, {copies} copies)", file=sys.stderr)
            return manifest
    started = time.perf_counter()
    manifest_path.unlink(missing_ok=True)
    for agent in AGENTS:
        shutil.rmtree(out / agent, ignore_errors=True)
    sizes: dict[str, int] = {}
    files: dict[str, int] = {}
    made_dirs: set[str] = set()
    for agent_name in agents:
        agent = _load(agent_name)
        written = count = 0
        for copy in range(1, copies + 1):
            mapping = _mapping(agent, copy)
            for template in agent.templates:
                target = out / _target(agent, template, copy, mapping)
                parent = str(target.parent)
                if parent not in made_dirs:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made_dirs.add(parent)
                data = _render(template.parts, mapping)
                with open(target, "wb") as fh:
                    fh.write(data)
                written += len(data)
                count += 1
        sizes[agent_name] = written
        files[agent_name] = count
    manifest = {
        **wanted,
        "requested_mb": mb,
        "bytes": sizes,
        "bytes_total": sum(sizes.values()),
        "files": files,
        "fixture_bytes": {a: fixture_bytes((a,)) for a in agents},
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    (out / DIRTY).unlink(missing_ok=True)
    if not quiet:
        print(f"corpus: built {out}: {manifest['bytes_total'] / MB:.1f} MB, {copies} copies, "
              f"{sum(files.values())} files in {manifest['build_seconds']} s", file=sys.stderr)
    return manifest


def roots_of(out: Path, agents: tuple[str, ...]) -> Roots:
    return Roots(claude=out / "claude" if "claude" in agents else None, codex=out / "codex" if "codex" in agents else None)


# -- checking: copies × fixture totals ----------------------------------------------------------


def fixture_totals(agents: tuple[str, ...]) -> dict[str, dict[str, dict[str, int]]]:
    """{agent: {"agentspend": tokens, "ccusage": tokens}} over the plain fixtures."""
    totals: dict[str, dict[str, dict[str, int]]] = {}
    with tempfile.TemporaryDirectory(prefix="agentspend-fixtures-") as tmp:
        roots = fixture_tree(Path(tmp), FIXTURES / "claude-code" if "claude" in agents else None,
                             FIXTURES / "codex" if "codex" in agents else None)
        for agent in agents:
            only = roots.only(agent)
            ours = run_json(agentspend_cmd(no_cache=True), tool_env(only, Path(tmp) / f"cache-{agent}"))
            peer = run_json(ccusage_cmd(agent), tool_env(only))
            totals[agent] = {"agentspend": sum_tokens(ours_by_model(ours)),
                             "ccusage": sum_tokens(ccusage_by_model(agent, peer).models)}
    return totals


def check_lines(copies: int, fixture: dict, measured: dict) -> tuple[list[str], bool]:
    """Markdown rows comparing measured corpus totals with copies × fixture totals."""
    ok_all = True
    lines = ["| agent | tool | tokens | fixture | × copies | corpus | |", "|---|---|---|--:|--:|--:|:-:|"]
    for agent, tools in measured.items():
        for tool, tokens in tools.items():
            for key in TOKEN_KEYS:
                expected = fixture[agent][tool][key] * copies
                got = tokens[key]
                ok = got == expected
                ok_all &= ok
                lines.append(f"| {agent} | {tool} | {key} | {fixture[agent][tool][key]:,} | {expected:,} | {got:,} | "
                             f"{'✓' if ok else '✗'} |")
    return lines, ok_all


def check(out: Path, manifest: dict) -> bool:
    agents = tuple(manifest["agents"])
    fixture = fixture_totals(agents)
    measured: dict[str, dict[str, dict[str, int]]] = {}
    roots = roots_of(out, agents)
    with tempfile.TemporaryDirectory(prefix="agentspend-check-") as tmp:
        for agent in agents:
            only = roots.only(agent)
            ours = run_json(agentspend_cmd(no_cache=True), tool_env(only, Path(tmp) / agent))
            peer = run_json(ccusage_cmd(agent), tool_env(only))
            measured[agent] = {"agentspend": sum_tokens(ours_by_model(ours)),
                               "ccusage": sum_tokens(ccusage_by_model(agent, peer).models)}
    lines, ok = check_lines(manifest["copies"], fixture, measured)
    print("\n".join([f"### Corpus check: {manifest['copies']} copies", ""] + lines + [""]))
    print("corpus check: " + ("both tools see copies × fixture totals" if ok else "MISMATCH"))
    return ok


# -- incremental appends (throughput case c) ----------------------------------------------------


@dataclass
class Appended:
    originals: dict[Path, int]
    """File → size before the append (to restore the corpus afterwards)."""
    delta: dict[str, dict[str, int]]
    """Agent → tokens the appended calls add (our convention)."""
    bytes: int
    lines: int

    root: Path | None = None

    def restore(self) -> None:
        for path, size in self.originals.items():
            os.truncate(path, size)
        if self.root is not None:
            (self.root / DIRTY).unlink(missing_ok=True)


def append_new_calls(out: Path, agents: tuple[str, ...], fraction: float = 0.01,
                     files_fraction: float = 0.01) -> Appended:
    """Append new model calls, ~`fraction` of the corpus bytes, to ~`files_fraction` of its files.

    That is what a day of work looks like to a re-run: a few live sessions grew, the rest did
    not. The files are spread over the corpus (a fixed stride), each gets an equal share of the
    bytes. Claude: rounds of copies of the file's own assistant lines (the final copy of each
    message) with a new message.id / requestId / uuid / tool ids. Codex: new `token_count`
    events after the last one, a minute apart, with the file's last per-call usage and a
    cumulative total that keeps growing. Every appended line is a new call for the parser;
    `delta` says what they add.
    """
    manifest = json.loads((out / "manifest.json").read_text())
    budget = int(manifest["bytes_total"] * fraction)
    result = Appended({}, {a: dict.fromkeys(TOKEN_KEYS, 0) for a in agents}, 0, 0, out)
    (out / DIRTY).write_text("files were appended to; rebuild unless restored\n")
    serial = 0
    for agent in agents:
        files = sorted((out / agent).rglob("*.jsonl"))
        wanted = max(1, round(len(files) * files_fraction))
        per_file = budget * manifest["bytes"][agent] / manifest["bytes_total"] / wanted
        stride = max(1, len(files) // wanted)
        order = files[::stride] + [f for i, f in enumerate(files) if i % stride]
        touched = spent = 0
        for path in order:
            if touched >= wanted:
                break
            blob = path.read_bytes()
            if agent == "claude":
                lines = _claude_appends(blob, serial, result.delta[agent], per_file)
            else:
                lines = _codex_appends(blob, result.delta[agent], per_file)
            if not lines:
                continue
            serial += 1
            data = (b"" if blob.endswith(b"\n") else b"\n") + b"\n".join(lines) + b"\n"
            result.originals[path] = len(blob)
            with open(path, "ab") as fh:
                fh.write(data)
            spent += len(data)
            touched += 1
            result.lines += len(lines)
        result.bytes += spent
    return result


def _claude_appends(blob: bytes, serial: int, delta: dict[str, int], target: float) -> list[bytes]:
    finals: dict[str, bytes] = {}
    totals: dict[str, int] = {}
    for line in blob.split(b"\n"):
        if b'"type":"assistant"' not in line or b'"usage"' not in line:
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        message = record.get("message") or {}
        usage = message.get("usage")
        if not isinstance(usage, dict) or not message.get("id") or message.get("model") == "<synthetic>":
            continue
        if _claude_total(usage) > totals.get(message["id"], -1):
            finals[message["id"]], totals[message["id"]] = line, _claude_total(usage)
    out: list[bytes] = []
    size = rounds = 0
    while finals and size < target:
        rounds += 1
        for n, line in enumerate(finals.values()):
            record = orjson.loads(line)  # a fresh copy per round
            tag = f"i{serial:x}r{rounds:x}n{n:x}"
            message = record["message"]
            message["id"] = f"{message['id']}{tag}"
            if record.get("requestId"):
                record["requestId"] = f"{record['requestId']}{tag}"
            for key in ("uuid", "parentUuid"):
                if isinstance(record.get(key), str):
                    digest = hashlib.blake2b((record[key] + tag).encode(), digest_size=6).hexdigest()
                    record[key] = f"{record[key][:-12]}{digest}"
            for block in message.get("content") or []:
                if isinstance(block, dict) and block.get("type") == "tool_use" and block.get("id"):
                    block["id"] = f"{block['id']}{tag}"
            usage = message["usage"]
            delta["input"] += usage.get("input_tokens", 0)
            delta["output"] += usage.get("output_tokens", 0)
            delta["cache_read"] += usage.get("cache_read_input_tokens", 0)
            delta["cache_write"] += usage.get("cache_creation_input_tokens", 0)
            out.append(orjson.dumps(record))
            size += len(out[-1]) + 1
    return out


def _claude_total(usage: dict) -> int:
    return sum(usage.get(k, 0) for k in ("input_tokens", "output_tokens", "cache_read_input_tokens",
                                         "cache_creation_input_tokens"))


_USAGE = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens", "total_tokens")


def _codex_appends(blob: bytes, delta: dict[str, int], target: float) -> list[bytes]:
    last = None
    for line in blob.split(b"\n"):
        if b'"token_count"' in line and b'"last_token_usage"' in line:
            last = line
    if last is None:
        return []
    record = orjson.loads(last)
    info = record["payload"]["info"]
    per_call, total = info["last_token_usage"], dict(info["total_token_usage"])
    if not any(per_call.get(k, 0) for k in _USAGE[:4]):
        return []
    stamp = record["timestamp"]  # e.g. 2026-04-23T20:22:48.015Z
    base = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    out: list[bytes] = []
    size = n = 0
    while size < target:
        n += 1
        total = {k: total.get(k, 0) + per_call.get(k, 0) for k in _USAGE}
        info = dict(info, total_token_usage=total)
        new = dict(record, timestamp=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + 60 * n)) + stamp[19:],
                   payload=dict(record["payload"], info=info))
        cached = min(per_call.get("cached_input_tokens", 0), per_call.get("input_tokens", 0))
        delta["input"] += per_call.get("input_tokens", 0) - cached
        delta["cache_read"] += cached
        delta["output"] += per_call.get("output_tokens", 0)
        delta["reasoning"] += per_call.get("reasoning_output_tokens", 0)
        out.append(orjson.dumps(new))
        size += len(out[-1]) + 1
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mb", type=float, metavar="N_MB", help="target size in MB (10^6 bytes)")
    parser.add_argument("out", type=Path, metavar="OUT_DIR")
    parser.add_argument("--agents", default="claude,codex", help="comma-separated: claude, codex (default both)")
    parser.add_argument("--force", action="store_true", help="rebuild even if OUT_DIR holds a matching corpus")
    parser.add_argument("--check", action="store_true", help="run both tools and verify copies × fixture totals")
    args = parser.parse_args()
    agents = tuple(a.strip() for a in args.agents.split(",") if a.strip())
    if not agents or any(a not in AGENTS for a in agents):
        parser.error(f"--agents takes a comma-separated subset of {','.join(AGENTS)}")
    manifest = build(args.mb, args.out, agents, force=args.force)
    print(json.dumps(manifest, indent=2))
    if args.check:
        return 0 if check(args.out, manifest) else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

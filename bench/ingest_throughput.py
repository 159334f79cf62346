"""`agentspend ingest` of native logs into SQLite and Postgres, beside ccusage on the same corpus.

    .venv/bin/python bench/ingest_throughput.py [--sizes 100,1000] [--skip-build]

For each size the corpus of `corpus.py` (fixture logs replicated with fresh ids) is ingested
cold into a fresh database of each kind, then again over the unchanged logs (the cursors make
that a no-op), then after new calls worth 1 % of the bytes were appended to 1 % of the files
(only the new bytes are read), each under `/usr/bin/time -v`; the corpus is restored after. ccusage 20 reads the same logs in the same run
(`claude session` + `codex session`; it has no database, so it is the reading peer). Checked:
the stored spans' tokens equal `agentspend report --all --no-cache` on the same corpus (with
the appended calls, for the incremental run), and the second ingest adds nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg

from _common import AGENTSPEND, MB, OUT, agentspend_cmd, ccusage_cmd, ensure_ccusage, ensure_gnu_time, machine, tool_env
from _service import fresh_database
from corpus import append_new_calls, build, roots_of

TOKEN_SQL = ("select count(*), coalesce(sum(input), 0), coalesce(sum(output), 0), coalesce(sum(cache_read), 0), "
             "coalesce(sum(cache_write_5m + cache_write_1h), 0) from spans where run_type = 'llm' and has_usage")


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall s, user+sys s, peak RSS MB) of one run; fails loudly if the command does."""
    with tempfile.NamedTemporaryFile(suffix=".time") as report:
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", report.name, *cmd], env=env, capture_output=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[:3]} failed: {proc.stderr.decode(errors='replace')[-1500:]}")
        text = Path(report.name).read_text()
    def field(name: str) -> str:
        return re.search(rf"{re.escape(name)}: (.+)", text).group(1).strip()
    clock = field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")
    wall = sum(float(part) * 60 ** i for i, part in enumerate(reversed(clock)))
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    return wall, cpu, int(field("Maximum resident set size (kbytes)")) / 1024


async def _tokens_pg(url: str) -> tuple[int, ...]:
    conn = await asyncpg.connect(url)
    try:
        return tuple(int(v) for v in await conn.fetchrow(TOKEN_SQL))
    finally:
        await conn.close()


def _tokens_sqlite(path: Path) -> tuple[int, ...]:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return tuple(int(v) for v in conn.execute(TOKEN_SQL).fetchone())


def _report_tokens(env: dict[str, str]) -> tuple[int, ...]:
    report = json.loads(subprocess.run(agentspend_cmd(no_cache=True), env=env, capture_output=True, check=True).stdout)
    t = report["tokens"]
    return (sum(r["calls"] for r in report["by_model"]), t["input"], t["output"], t["cache_read"], t["cache_write"])


def bench_size(size: float, skip_build: bool) -> tuple[list[str], bool]:
    out = OUT / f"corpus-{int(size)}mb"
    manifest = json.loads((out / "manifest.json").read_text()) if skip_build else build(size, out)
    mb = manifest["bytes_total"] / MB
    roots = roots_of(out, ("claude", "codex"))
    env = tool_env(roots)
    paths = [str(roots.claude / "projects"), str(roots.codex / "sessions")]
    rows, ok = [], True
    expected = _report_tokens(env)

    peer = [_timed(ccusage_cmd(agent), env) for agent in ("claude", "codex")]
    peer_wall, peer_cpu, peer_rss = sum(p[0] for p in peer), sum(p[1] for p in peer), max(p[2] for p in peer)

    def ingest_into(kind: str, url: str, stored_tokens) -> None:  # noqa: ANN001 - () -> the stored totals
        nonlocal ok
        db_env = env | {"DATABASE_URL": url}
        subprocess.run([str(AGENTSPEND), "db", "upgrade"], env=db_env, check=True, capture_output=True)
        for case in ("cold", "again, unchanged", "incremental"):
            wanted = expected
            if case == "incremental":
                appended = append_new_calls(out, ("claude", "codex"))
                wanted = _report_tokens(env)
            try:
                wall, cpu, rss = _timed([str(AGENTSPEND), "ingest", *paths], db_env)
                stored = stored_tokens()
            finally:
                if case == "incremental":
                    appended.restore()
            fine = stored == wanted
            ok &= fine
            label = f"+{appended.bytes / MB:.1f} MB appended" if case == "incremental" else case
            rows.append(f"| agentspend ingest → {kind} | {label} | {mb:.0f} | {wall:.2f} | {mb / wall:.0f} | {cpu:.2f} | "
                        f"{rss:.0f} | {wall / peer_wall:.1f}× | {stored[0]:,} calls{'' if fine else ' ✗ ≠ report ' + repr(wanted)} |")

    with tempfile.TemporaryDirectory(prefix="agentspend-ingest-") as tmp:
        sqlite_path = Path(tmp) / "bench.db"
        ingest_into("SQLite", f"sqlite+aiosqlite:///{sqlite_path}", lambda: _tokens_sqlite(sqlite_path))

    async def on_postgres() -> None:
        async with fresh_database() as url:
            await asyncio.to_thread(ingest_into, "Postgres", url, lambda: asyncio.run(_tokens_pg(url)))

    asyncio.run(on_postgres())
    rows.append(f"| ccusage claude + codex session | reading | {mb:.0f} | {peer_wall:.2f} | {mb / peer_wall:.0f} | "
                f"{peer_cpu:.2f} | {peer_rss:.0f} | 1 | no database |")
    return rows, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()
    ensure_gnu_time()
    ensure_ccusage()
    info = machine()
    lines = [f"Native-log ingest, {info['date']}: {info['nproc']} CPUs ({info['cpu']}), agentspend @ {info['agentspend commit']}, "
             f"load {os.getloadavg()[0]:.2f} at the start", "",
             "| tool | case | corpus MB | wall s | MB/s | CPU s | peak RSS MB | ÷ ccusage | stored |",
             "| --- | --- | --: | --: | --: | --: | --: | --: | --- |"]
    ok = True
    started = time.perf_counter()
    for size in (float(s) for s in args.sizes.split(",")):
        rows, fine = bench_size(size, args.skip_build)
        lines += rows
        ok &= fine
    lines += ["", f"_{time.perf_counter() - started:.0f} s; stored tokens checked against `report --all --no-cache`: "
              f"{'all equal' if ok else 'MISMATCH'}._"]
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

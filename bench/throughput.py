#!/usr/bin/env python3
"""Throughput and peak memory of `agentspend report` against ccusage on generated corpora.

    .venv/bin/python bench/throughput.py --sizes 100,1000 [--skip-build] [--repeat N] [--profile]

For each size (MB) it builds or reuses `bench/out/corpus-<size>mb` (bench/corpus.py), reads the
whole corpus once so every run starts with the same warm OS page cache, and then measures, each
under `/usr/bin/time -v` (wall clock, maximum resident set size):

  (e) ccusage claude session / ccusage codex session --json --offline (ccusage has no cache;
      the "claude+codex" row sums the two walls and takes the larger RSS);
  (d) agentspend report --all --format json --no-cache, on both agents and on each alone
      (the per-agent rows are what the per-agent ratios compare);
  (a) agentspend report --all --format json, cold: a fresh AGENTSPEND_CACHE_DIR;
  (b) the same again over unchanged logs (warm cache); also under `hyperfine --warmup 1 -N`
      when hyperfine is installed, since the target is <= 0.1 s;
  (c) incremental: new calls worth ~1% of the corpus bytes appended to ~1% of the files
      (bench/corpus.py append_new_calls), then the same command again with the same cache;
      the files are truncated back afterwards.

Every run's output is checked: ccusage and agentspend --no-cache must report copies × their
fixture totals, the cold and warm reports must equal the --no-cache one, and the incremental
report must equal the cold one plus exactly the appended calls. A failed check is printed
in the table's notes and makes the exit status 1.

The Markdown goes to stdout and is appended to bench/out/results-<date>.md. Ratios are
agentspend wall ÷ ccusage wall: above 1 means agentspend is slower.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from _common import (  # noqa: E402
    AGENTS,
    MB,
    OUT,
    REPO,
    TOKEN_KEYS,
    agentspend_cmd,
    ccusage_by_model,
    ccusage_cmd,
    ensure_ccusage,
    ensure_gnu_time,
    hyperfine,
    machine,
    ours_by_model,
    sum_tokens,
    tool_env,
)


@dataclass
class Run:
    wall: float
    rss_kb: int
    output: Path
    walls: list[float] = field(default_factory=list)
    cpu: float = 0.0
    """User + system CPU seconds of the process and every child it waited for (GNU time)."""
    pss_kb: int = 0
    """Peak of the summed proportional set size of the whole process tree (sampled)."""


@dataclass
class Row:
    tool: str
    case: str
    agents: str
    mb: float
    wall: float | None
    rss_mb: float | None
    ratio_all: float | None = None
    ratio_agent: float | None = None
    note: str = ""
    cpu: float | None = None
    pss_mb: float | None = None


_ELAPSED = re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)")
_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")
_USER = re.compile(r"User time \(seconds\): ([\d.]+)")
_SYSTEM = re.compile(r"System time \(seconds\): ([\d.]+)")


def timed(cmd: list[str], env: dict[str, str], output: Path) -> Run:
    """One run under GNU time; stdout goes to `output` (a file, so no pipe throttles the tool).

    GNU time's maximum RSS is that of the largest single process; agentspend may run worker
    processes, so the summed PSS of the whole tree is sampled too (`TreeMemory`).
    """
    report = output.with_suffix(".time")
    with open(output, "wb") as out:
        proc = subprocess.Popen([str(ensure_gnu_time()), "-v", "-o", str(report), *cmd], env=env, stdout=out,
                                stderr=subprocess.PIPE)
        with TreeMemory(proc.pid) as memory:
            _, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {stderr.decode(errors='replace')[-3000:]}")
    text = report.read_text()
    m = _ELAPSED.search(text)
    if m is None or (r := _RSS.search(text)) is None:
        raise RuntimeError(f"cannot read /usr/bin/time -v output:\n{text}")
    wall = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    cpu = float(_USER.search(text).group(1)) + float(_SYSTEM.search(text).group(1))
    return Run(wall, int(r.group(1)), output, [wall], cpu, memory.peak_kb)


class TreeMemory:
    """Peak summed PSS (proportional set size: shared pages split between the processes that
    share them) of a process and all its descendants, read from /proc every 20 ms. Sampling
    can miss a peak shorter than that; both tools' memory grows steadily, so it does not."""

    PERIOD = 0.02

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(self.PERIOD):
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(pid) for pid in _tree(self.pid)))

    @staticmethod
    def available() -> bool:
        return Path(f"/proc/{os.getpid()}/smaps_rollup").is_file()


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                todo.extend(int(c) for c in Path(f"/proc/{current}/task/{task}/children").read_text().split())
        except OSError:
            continue
    return found


def _pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def repeated(n: int, make: callable) -> Run:
    """Median wall and CPU, largest RSS and PSS of `n` runs; `make(i)` performs run i."""
    runs = [make(i) for i in range(n)]
    best = runs[-1]
    return Run(statistics.median(r.wall for r in runs), max(r.rss_kb for r in runs), best.output, [r.wall for r in runs],
               statistics.median(r.cpu for r in runs), max(r.pss_kb for r in runs))


def run_hyperfine(cmd: list[str], env: dict[str, str], export: Path) -> dict | None:
    exe = hyperfine()
    if exe is None:
        return None
    proc = subprocess.run([exe, "--warmup", "1", "-N", "--runs", "20", "--style", "none", "--export-json", str(export),
                           " ".join(cmd)], env=env, capture_output=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.decode(errors="replace")[-500:]}
    return json.loads(export.read_text())["results"][0]


def read_cache(cmd_output: Path) -> dict:
    return json.loads(cmd_output.read_bytes())


def tokens_line(tokens: dict[str, int]) -> str:
    return ", ".join(f"{k} {tokens[k]:,}" for k in TOKEN_KEYS)


def bench_size(size: float, args: argparse.Namespace, work: Path) -> tuple[list[str], bool]:
    agents = AGENTS
    out = OUT / f"corpus-{size:g}mb"
    if args.skip_build and not (out / "manifest.json").is_file():
        sys.exit(f"--skip-build: no corpus at {out}")
    manifest = corpus.build(size, out, agents)
    roots = corpus.roots_of(out, agents)
    mb_all = manifest["bytes_total"] / MB
    mb = {a: manifest["bytes"][a] / MB for a in agents}
    copies = manifest["copies"]
    _prewarm(out)
    load_before = _load()
    problems: list[str] = []

    fixture = corpus.fixture_totals(agents)
    expected = {tool: {a: {k: fixture[a][tool][k] * copies for k in TOKEN_KEYS} for a in agents}
                for tool in ("agentspend", "ccusage")}
    runs_dir = work / f"{size:g}"
    runs_dir.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []

    def log(msg: str) -> None:
        print(f"[{size:g} MB] {msg}", file=sys.stderr, flush=True)

    # (e) ccusage, one agent at a time.
    peer: dict[str, Run] = {}
    for agent in agents:
        log(f"ccusage {agent} session …")
        peer[agent] = repeated(args.repeat, lambda i, a=agent: timed(
            ccusage_cmd(a), tool_env(roots.only(a)), runs_dir / f"ccusage-{a}-{i}.json"))
        got = sum_tokens(ccusage_by_model(agent, read_cache(peer[agent].output)).models)
        if got != expected["ccusage"][agent]:
            problems.append(f"ccusage {agent}: {tokens_line(got)} ≠ expected {tokens_line(expected['ccusage'][agent])}")
    peer_sum = sum(peer[a].wall for a in agents)

    # (d) agentspend --no-cache: both agents, then each alone.
    log("agentspend --no-cache (both agents) …")
    nocache = repeated(args.repeat, lambda i: timed(agentspend_cmd(no_cache=True), tool_env(roots, work / "unused-cache"),
                                                    runs_dir / f"nocache-{i}.json"))
    reference = read_cache(nocache.output)
    want_all = {k: sum(expected["agentspend"][a][k] for a in agents) for k in TOKEN_KEYS}
    if sum_tokens(ours_by_model(reference)) != want_all:
        problems.append(f"agentspend --no-cache: {tokens_line(sum_tokens(ours_by_model(reference)))} ≠ expected "
                        f"{tokens_line(want_all)}")
    log("agentspend --no-cache (both agents, one process) …")
    single = repeated(args.repeat, lambda i: timed(agentspend_cmd(no_cache=True),
                                                   dict(tool_env(roots, work / "unused-cache"), AGENTSPEND_WORKERS="1"),
                                                   runs_dir / f"nocache-single-{i}.json"))
    if read_cache(single.output) != reference:
        problems.append("agentspend --no-cache in one process differs from the run with worker processes")
    nocache_agent: dict[str, Run] = {}
    if not args.no_per_agent:
        for agent in agents:
            log(f"agentspend --no-cache ({agent} only) …")
            nocache_agent[agent] = repeated(args.repeat, lambda i, a=agent: timed(
                agentspend_cmd(no_cache=True), tool_env(roots.only(a), work / "unused-cache"),
                runs_dir / f"nocache-{agent}-{i}.json"))
            got = sum_tokens(ours_by_model(read_cache(nocache_agent[agent].output)))
            if got != expected["agentspend"][agent]:
                problems.append(f"agentspend --no-cache {agent}: {tokens_line(got)} ≠ expected "
                                f"{tokens_line(expected['agentspend'][agent])}")

    # (a) cold, (b) warm, (c) incremental — one cache dir, in that order.
    log("agentspend cold …")
    cache_dirs: list[Path] = []

    def cold(i: int) -> Run:
        cache = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
        cache_dirs.append(cache)
        return timed(agentspend_cmd(), tool_env(roots, cache), runs_dir / f"cold-{i}.json")

    cold_run = repeated(args.repeat, cold)
    cache = cache_dirs[-1]
    env = tool_env(roots, cache)
    if _comparable(read_cache(cold_run.output)) != _comparable(reference):
        problems.append("cold report differs from the --no-cache report")
    log("agentspend warm …")
    warm = repeated(max(args.repeat, 3), lambda i: timed(agentspend_cmd(), env, runs_dir / f"warm-{i}.json"))
    if warm.output.read_bytes() != cold_run.output.read_bytes():
        problems.append("warm report differs from the cold one")
    hf = run_hyperfine(agentspend_cmd(), env, runs_dir / "warm-hyperfine.json")

    log("append ~1% new calls, agentspend incremental …")
    appended = corpus.append_new_calls(out, agents, fraction=args.append, files_fraction=args.append_files)
    try:
        incremental = timed(agentspend_cmd(), env, runs_dir / "incremental.json")
        after = sum_tokens(ours_by_model(read_cache(incremental.output)))
        want = {k: want_all[k] + sum(appended.delta[a][k] for a in agents) for k in TOKEN_KEYS}
        if after != want:
            problems.append(f"incremental: {tokens_line(after)} ≠ cold + appended {tokens_line(want)}")
        if args.check_incremental:
            log("agentspend --no-cache on the appended corpus (check) …")
            full = timed(agentspend_cmd(no_cache=True), env, runs_dir / "incremental-check.json")
            if _comparable(read_cache(full.output)) != _comparable(read_cache(incremental.output)):
                problems.append("incremental report differs from a --no-cache report of the same logs")
        warm_after = timed(agentspend_cmd(), env, runs_dir / "incremental-warm.json")
    finally:
        appended.restore()
    for c in cache_dirs:
        shutil.rmtree(c, ignore_errors=True)

    def ratio(wall: float, base: float) -> float:
        return wall / base if base else float("nan")

    both = "claude+codex"

    def row(tool: str, case: str, agents: str, size_mb: float, run: Run, note: str = "", agent_wall: float | None = None) -> Row:
        return Row(tool, case, agents, size_mb, run.wall, run.rss_kb / 1024, ratio(run.wall, peer_sum),
                   ratio(run.wall, agent_wall) if agent_wall else None, note, run.cpu, run.pss_kb / 1024 or None)

    rows.append(row("agentspend", "(a) cold: fresh cache dir", both, mb_all, cold_run, _walls(cold_run)))
    rows.append(row("agentspend", "(b) warm re-run, unchanged logs", both, mb_all, warm,
                    _walls(warm) + " (/usr/bin/time: 10 ms resolution)"))
    if hf and "error" not in hf:
        rows.append(Row("agentspend", "(b) warm re-run, hyperfine", both, mb_all, hf["mean"], None,
                        ratio(hf["mean"], peer_sum),
                        note=f"mean ± σ {hf['mean'] * 1000:.0f} ± {hf['stddev'] * 1000:.0f} ms, min "
                             f"{hf['min'] * 1000:.0f} ms, {len(hf['times'])} runs; target ≤ 100 ms",
                        cpu=(hf["user"] + hf["system"]) if "user" in hf else None))
    elif hf:
        rows.append(Row("agentspend", "(b) warm re-run, hyperfine", both, mb_all, None, None, note=hf["error"]))
    rows.append(row("agentspend", f"(c) incremental: +{appended.bytes / MB:.2f} MB, {appended.lines} new calls in "
                    f"{len(appended.originals)} of {sum(manifest['files'].values())} files", both, mb_all, incremental,
                    f"then unchanged again: {warm_after.wall:.2f} s"))
    rows.append(row("agentspend", "(d) --no-cache", both, mb_all, nocache, _walls(nocache)))
    rows.append(row("agentspend", "(d) --no-cache, one process (AGENTSPEND_WORKERS=1)", both, mb_all, single,
                    _walls(single)))
    for agent, run in nocache_agent.items():
        rows.append(row("agentspend", "(d) --no-cache", agent, mb[agent], run, _walls(run), peer[agent].wall))
    for agent in agents:
        rows.append(row("ccusage", f"(e) {agent} session", agent, mb[agent], peer[agent], _walls(peer[agent])))
    rows.append(Row("ccusage", "(e) claude + codex (sum of walls and CPU, max memory)", both, mb_all, peer_sum,
                    max(peer[a].rss_kb for a in agents) / 1024, cpu=sum(peer[a].cpu for a in agents),
                    pss_mb=max(peer[a].pss_kb for a in agents) / 1024 or None))

    lines = [f"### {mb_all:.1f} MB corpus ({copies} copies of the fixtures: claude {mb['claude']:.1f} MB, "
             f"codex {mb['codex']:.1f} MB, {sum(manifest['files'].values())} files)", "",
             f"Load average (1/5/15 min) before: {load_before}, after: {_load()} — on a shared machine other "
             "processes compete for the CPUs; compare runs made under similar load.", ""]
    lines += ["| tool | case | agents | corpus MB | wall s | MB/s | CPU s (user+sys) | peak RSS MB | peak PSS MB, "
              "all processes | ÷ ccusage claude+codex | ÷ ccusage same agent | notes |",
              "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"]
    for r in rows:
        lines.append(
            f"| {r.tool} | {r.case} | {r.agents} | {r.mb:.1f} | {_num(r.wall, 3 if (r.wall or 1) < 1 else 2)} | "
            f"{_num(r.mb / r.wall if r.wall else None, 1)} | {_num(r.cpu, 2)} | {_num(r.rss_mb, 0)} | "
            f"{_num(r.pss_mb, 0)} | {_ratio(r.ratio_all)} | {_ratio(r.ratio_agent)} | {r.note} |")
    lines += ["", f"Repeats per case: {args.repeat} (median wall and CPU, max memory). Ratio = agentspend wall ÷ "
              "ccusage wall (> 1: agentspend slower). MB/s = corpus MB ÷ wall (for (b) and (c) an effective rate: "
              "the corpus is not re-read). CPU = user + system seconds of all processes (GNU time), far less "
              "sensitive to other load than wall. Peak RSS = the largest single process (GNU time); peak PSS = "
              "the summed proportional set size of the whole process tree, sampled every 20 ms (agentspend "
              "may run a worker process per core; ccusage is one process with threads).", ""]
    lines.append("Checks: " + ("all outputs agree (ccusage and agentspend = copies × their fixture totals; cold = "
                               "warm = --no-cache; incremental = cold + appended calls)." if not problems else
                               "**FAILED** — " + "; ".join(problems)))
    lines.append("")
    return lines, not problems


def _walls(run: Run) -> str:
    if len(run.walls) < 2:
        return ""
    return f"median of {len(run.walls)}: " + ", ".join(f"{w:.2f}" for w in run.walls) + " s"


def _load() -> str:
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def _comparable(report: dict) -> dict:
    return {"tokens": report.get("tokens"), "cost": report.get("total_cost_usd"), "by_model": report.get("by_model"),
            "sessions": len(report.get("sessions", []))}


def _num(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _prewarm(out: Path) -> None:
    """Read every corpus file once: all tools then start from the same (warm) page cache."""
    for path in out.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                while fh.read(8 << 20):
                    pass


def profile(size: float, work: Path) -> list[str]:
    """cProfile of `report --all --no-cache`, and of a warm re-run, on the corpus of `size` MB."""
    out = OUT / f"corpus-{size:g}mb"
    roots = corpus.roots_of(out, AGENTS)
    python = REPO / ".venv" / "bin" / "python"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    cache = work / "profile-cache"
    lines: list[str] = []
    for label, extra, env in (
        ("report --all --no-cache", ["--no-cache"], tool_env(roots, work / "unused-cache")),
        ("warm re-run of report --all (cache filled by one cold run)", [], tool_env(roots, cache)),
    ):
        if not extra:  # fill the cache first
            subprocess.run(agentspend_cmd(), env=env, stdout=subprocess.DEVNULL, check=True)
        prof = work / "report.prof"
        started = time.perf_counter()
        subprocess.run([str(python), "-m", "cProfile", "-o", str(prof), "-m", "bot", "report", "--all", *extra,
                        "--format", "json"], env=env, cwd=REPO, stdout=subprocess.DEVNULL, check=True)
        wall = time.perf_counter() - started
        script = ("import pstats,sys; p=pstats.Stats(sys.argv[1]); p.sort_stats('cumulative').print_stats(30); "
                  "p.sort_stats('tottime').print_stats(20)")
        stats = subprocess.run([str(python), "-c", script, str(prof)], capture_output=True, text=True,
                               check=True).stdout
        name = "nocache" if extra else "warm"
        path = OUT / f"profile-{size:g}mb-{name}-{stamp}.txt"
        path.write_text(stats)
        lines += [f"### cProfile: {label}, {size:g} MB ({wall:.2f} s under the profiler)", "",
                  f"Full listing: `{path.relative_to(REPO)}`. Top 30 by cumulative time, then top 20 by own time:",
                  "", "```", *_trim_stats(stats), "```", ""]
    shutil.rmtree(cache, ignore_errors=True)
    return lines


def _trim_stats(stats: str) -> list[str]:
    keep, seen = [], 0
    for line in stats.splitlines():
        if "ncalls" in line:
            seen += 1
        if seen and line.strip():
            keep.append(line.replace(str(REPO) + "/", "").replace(sys.prefix + "/", ""))
    return keep


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000", help="corpus sizes in MB, comma-separated (default 100,1000)")
    parser.add_argument("--skip-build", action="store_true", help="reuse existing corpora, never build")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cold case (median wall; default 1)")
    parser.add_argument("--append", type=float, default=0.01, help="fraction of bytes appended for (c) (default 0.01)")
    parser.add_argument("--append-files", type=float, default=0.01,
                        help="fraction of the files that receive them (default 0.01)")
    parser.add_argument("--no-per-agent", action="store_true", help="skip the per-agent --no-cache runs")
    parser.add_argument("--check-incremental", action="store_true",
                        help="also compare (c) with a --no-cache run over the appended logs")
    parser.add_argument("--profile", action="store_true", help="add a cProfile of --no-cache on the smallest size")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",") if s.strip()]
    ensure_gnu_time()
    ensure_ccusage()
    if not hyperfine():
        print("bench: hyperfine not found; the warm case is timed with /usr/bin/time only "
              "(apt-get install hyperfine for a finer figure)", file=sys.stderr)

    info = machine()
    lines = [f"## agentspend vs ccusage throughput — {info['date']}", ""]
    lines += [f"- machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, Linux {info['kernel']}",
              f"- agentspend @ {info['agentspend commit']} (Python {info['python']}); ccusage {info['ccusage']} "
              "(native linux-x64 binary)", ""]
    ok = True
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="agentspend-bench-") as tmp:
        for size in sizes:
            section, fine = bench_size(size, args, Path(tmp))
            ok &= fine
            lines += section
            print("\n".join(section), file=sys.stderr)
        if args.profile:
            lines += profile(min(sizes), Path(tmp))
    lines.append(f"_Benchmark wall time: {time.perf_counter() - started:.0f} s._")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    results = OUT / f"results-{datetime.now(UTC).strftime('%Y-%m-%d')}.md"
    with open(results, "a") as fh:
        fh.write(text + "\n")
    print(f"(appended to {results.relative_to(REPO)})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

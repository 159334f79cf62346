"""Shared plumbing for the bench scripts: paths, tool installation, isolated environments, runs.

Nothing here imports the project (`bot`): the benchmarks drive the installed `agentspend`
command exactly as a user would, so they measure start-up, discovery and caching too.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
OUT = BENCH / "out"
FIXTURES = Path(os.environ.get("AGENTSPEND_FIXTURES", "/work/shared/fixtures/agents"))
AGENTSPEND = Path(os.environ.get("AGENTSPEND_BIN", REPO / ".venv" / "bin" / "agentspend"))

CCUSAGE_VERSION = "20.0.24"
PEER = OUT / "peer"
CCUSAGE = PEER / "node_modules" / "@ccusage" / "ccusage-linux-x64" / "bin" / "ccusage"
GNU_TIME = Path("/usr/bin/time")

AGENTS = ("claude", "codex")
MB = 1_000_000
"""Sizes and throughputs use decimal megabytes (10^6 bytes)."""


# -- tools --------------------------------------------------------------------------------------


def _apt_install(package: str) -> None:
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    print(f"bench: installing Debian package {package!r} …", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run([*sudo, "apt-get", "install", "-y", "-q", package], env=env,
                      stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, stdout=subprocess.DEVNULL, check=True)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-q", package], env=env,
                       stdout=subprocess.DEVNULL, check=True)


def ensure_gnu_time() -> Path:
    """GNU time (`/usr/bin/time -v` reports peak RSS); installs Debian's `time` when missing."""
    if not _is_gnu_time():
        _apt_install("time")
    if not _is_gnu_time():
        sys.exit("bench: /usr/bin/time (GNU time) is required and could not be installed")
    return GNU_TIME


def _is_gnu_time() -> bool:
    if not os.access(GNU_TIME, os.X_OK):
        return False
    probe = subprocess.run([str(GNU_TIME), "-V"], capture_output=True, text=True)
    return "GNU" in (probe.stdout + probe.stderr)


def ensure_ccusage() -> Path:
    """The peer, ccusage's native Linux binary, installed under bench/out/peer by npm."""
    if not CCUSAGE.is_file():
        if shutil.which("npm") is None:
            sys.exit("bench: npm is required to install the peer (ccusage)")
        PEER.mkdir(parents=True, exist_ok=True)
        print(f"bench: npm install ccusage@{CCUSAGE_VERSION} …", file=sys.stderr)
        subprocess.run(["npm", "install", "--prefix", str(PEER), f"ccusage@{CCUSAGE_VERSION}"],
                       check=True, stdout=subprocess.DEVNULL)
    if not os.access(CCUSAGE, os.X_OK):
        CCUSAGE.chmod(CCUSAGE.stat().st_mode | 0o111)  # npm drops the exec bit of the native binary
    return CCUSAGE


def hyperfine() -> str | None:
    return shutil.which("hyperfine")


# -- isolated environments ----------------------------------------------------------------------


@dataclass
class Roots:
    """Where each agent's logs live for one run (a CLAUDE_CONFIG_DIR and a CODEX_HOME)."""

    claude: Path | None = None
    codex: Path | None = None

    def only(self, agent: str) -> Roots:
        return Roots(claude=self.claude if agent == "claude" else None, codex=self.codex if agent == "codex" else None)


_EMPTY = Path(tempfile.gettempdir()) / "agentspend-bench-empty"


def empty_dir(name: str) -> Path:
    path = _EMPTY / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def tool_env(roots: Roots, cache_dir: Path | None = None) -> dict[str, str]:
    """A minimal environment: an empty HOME, only the given log roots, nothing inherited that
    could make a tool discover other logs (XDG dirs, GEMINI_CLI_HOME, OPENCODE_* …)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
        "HOME": str(empty_dir("home")),
        "CLAUDE_CONFIG_DIR": str(roots.claude or empty_dir("no-claude")),
        "CODEX_HOME": str(roots.codex or empty_dir("no-codex")),
        "NO_COLOR": "1",
    }
    if cache_dir is not None:
        env["AGENTSPEND_CACHE_DIR"] = str(cache_dir)
    return env


def agentspend_cmd(no_cache: bool = False) -> list[str]:
    cmd = [str(AGENTSPEND), "report", "--all", "--format", "json"]
    return cmd + ["--no-cache"] if no_cache else cmd


def ccusage_cmd(agent: str) -> list[str]:
    return [str(ensure_ccusage()), agent, "session", "--json", "--offline"]


def run_json(cmd: list[str], env: dict[str, str]) -> Any:
    proc = subprocess.run(cmd, env=env, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}")
    return json.loads(proc.stdout)


# -- the fixture tree ---------------------------------------------------------------------------


def fixture_files(agent: str, src: Path | None = None) -> list[tuple[Path, Path]]:
    """(source file, path under the agent's root dir) for one agent's fixture logs.

    Claude: under `projects/`, `<fixture group>/…` keeping the group's own layout (so
    `<sessionId>/subagents/agent-*.jsonl` and legacy `agent-*.jsonl` stay where they were); a
    group that already holds a `projects/` folder contributes that folder's project dirs.
    Codex: under `sessions/`; a group with a `sessions/` folder contributes its `YYYY/MM/DD`
    tree, any other group becomes `<group>/`.
    """
    src = src or FIXTURES / ("claude-code" if agent == "claude" else "codex")
    inner = "projects" if agent == "claude" else "sessions"
    found = []
    for group in sorted(p for p in src.iterdir() if p.is_dir()):
        base = group / inner if (group / inner).is_dir() else None
        for path in sorted(group.rglob("*")):
            wanted = path.name.endswith(".jsonl") or (agent == "claude" and path.name.endswith(".meta.json"))
            if path.is_file() and wanted:
                found.append((path, path.relative_to(base) if base else Path(group.name) / path.relative_to(group)))
    return found


def fixture_tree(dest: Path, claude_src: Path | None = FIXTURES / "claude-code",
                 codex_src: Path | None = FIXTURES / "codex") -> Roots:
    """Copy fixture logs into `dest/claude/projects/…` and `dest/codex/sessions/…` (see
    `fixture_files`). Copies, not symlinks: ccusage 20 does not follow symlinked log files
    (with symlinks it reports no session at all)."""
    roots = Roots()
    for agent, src in (("claude", claude_src), ("codex", codex_src)):
        if src is None:
            continue
        root = dest / agent
        inner = root / ("projects" if agent == "claude" else "sessions")
        inner.mkdir(parents=True, exist_ok=True)
        for path, rel in fixture_files(agent, src):
            _link(path, inner / rel)
        setattr(roots, agent, root)
    return roots


def resolve_roots(arg: Path, scratch: Path) -> Roots:
    """Any of: a corpus (`claude/projects`, `codex/sessions`), the fixture root (`claude-code/`,
    `codex/`), one agent's fixture folder (`…/claude-code`, `…/codex`), a CLAUDE_CONFIG_DIR
    (`projects/`) or a CODEX_HOME (`sessions/`)."""
    arg = arg.resolve()
    if (arg / "claude" / "projects").is_dir() or (arg / "codex" / "sessions").is_dir():
        return Roots(claude=arg / "claude" if (arg / "claude" / "projects").is_dir() else None,
                     codex=arg / "codex" if (arg / "codex" / "sessions").is_dir() else None)
    if (arg / "claude-code").is_dir() or (arg / "codex").is_dir():
        return fixture_tree(scratch, arg / "claude-code" if (arg / "claude-code").is_dir() else None,
                            arg / "codex" if (arg / "codex").is_dir() else None)
    if arg.name == "claude-code":
        return fixture_tree(scratch, arg, None)
    if arg.name == "codex" and not (arg / "sessions").is_dir():
        return fixture_tree(scratch, None, arg)
    if (arg / "projects").is_dir():
        return Roots(claude=arg)
    if (arg / "sessions").is_dir():
        return Roots(codex=arg)
    raise SystemExit(f"bench: {arg}: not a corpus, fixture folder, CLAUDE_CONFIG_DIR or CODEX_HOME")


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    shutil.copy2(src, dst)


# -- token totals per model ---------------------------------------------------------------------

TOKEN_KEYS = ("input", "output", "cache_read", "cache_write", "reasoning")


def ours_by_model(report: dict[str, Any]) -> dict[str, dict[str, int]]:
    """agentspend's `by_model` rows → {model: tokens}; `input` is uncached input."""
    return {row["name"]: {k: int(row["tokens"].get(k, 0)) for k in TOKEN_KEYS} for row in report.get("by_model", [])}


def ours_calls(report: dict[str, Any]) -> int:
    return sum(int(row.get("calls", 0)) for row in report.get("by_model", []))


@dataclass
class PeerTotals:
    models: dict[str, dict[str, int]]
    cost: float
    sessions: int
    input_includes_cached: bool | None
    """Codex only: whether ccusage's inputTokens counted cached input (None: cannot tell)."""


def ccusage_by_model(agent: str, data: dict[str, Any]) -> PeerTotals:
    """ccusage `<agent> session --json` summed per model, in our convention (uncached input).

    Claude sessions carry `modelBreakdowns` (Anthropic semantics: inputTokens is uncached).
    Codex sessions carry `models` {name: {inputTokens, cacheReadTokens, outputTokens,
    reasoningOutputTokens, totalTokens}}; whether `inputTokens` includes the cached part is
    decided from `totalTokens` (inclusive: total = input + output; exclusive: total = input +
    cache_read + output) and converted to uncached when needed.
    """
    models: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TOKEN_KEYS, 0))
    cost = 0.0
    inclusive_votes: list[bool] = []
    sessions = data.get("sessions", [])
    for session in sessions:
        if agent == "claude":
            cost += float(session.get("totalCost", 0) or 0)
            for row in session.get("modelBreakdowns", []):
                m = models[row["modelName"]]
                m["input"] += int(row.get("inputTokens", 0))
                m["output"] += int(row.get("outputTokens", 0))
                m["cache_read"] += int(row.get("cacheReadTokens", 0))
                m["cache_write"] += int(row.get("cacheCreationTokens", 0))
        else:
            cost += float(session.get("costUSD", session.get("totalCost", 0)) or 0)
            breakdown = session.get("models") or {}
            if isinstance(breakdown, list):  # other ccusage versions: a list of rows with modelName
                breakdown = {row.get("modelName", "?"): row for row in breakdown}
            for name, row in breakdown.items():
                inp, cached = int(row.get("inputTokens", 0)), int(row.get("cacheReadTokens", row.get("cachedInputTokens", 0)))
                out, total = int(row.get("outputTokens", 0)), row.get("totalTokens")
                inclusive = None
                if total is not None and cached:
                    if total == inp + out + row.get("cacheCreationTokens", 0):
                        inclusive = True
                    elif total == inp + cached + out + row.get("cacheCreationTokens", 0):
                        inclusive = False
                if inclusive is not None:
                    inclusive_votes.append(inclusive)
                m = models[name]
                m["input"] += inp - cached if inclusive else inp
                m["cache_read"] += cached
                m["cache_write"] += int(row.get("cacheCreationTokens", 0))
                m["output"] += out
                m["reasoning"] += int(row.get("reasoningOutputTokens", 0))
    verdict = None
    if inclusive_votes:
        verdict = all(inclusive_votes) if all(inclusive_votes) or not any(inclusive_votes) else None
    return PeerTotals(dict(models), cost, len(sessions), verdict)


def normalize_model(name: str) -> str:
    """A join key for model names the two tools may spell differently (provider prefixes,
    Bedrock region and version suffixes)."""
    key = name.lower().rsplit("/", 1)[-1]
    key = re.sub(r"^(?:[a-z]{2}\.)?anthropic\.", "", key)
    key = re.sub(r"-v\d+(?::\d+)?$", "", key)
    return key


def sum_tokens(models: dict[str, dict[str, int]]) -> dict[str, int]:
    total = dict.fromkeys(TOKEN_KEYS, 0)
    for row in models.values():
        for k in TOKEN_KEYS:
            total[k] += row.get(k, 0)
    return total


# -- machine ------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rev = subprocess.run(["git", "--no-optional-locks", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "--no-optional-locks", "-C", str(REPO), "status", "--porcelain", "--", "bot"], capture_output=True, text=True)
    commit = rev.stdout.strip() or "?"
    if dirty.stdout.strip():
        commit += " + uncommitted changes in bot/"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(nproc),
        "cpu": cpu,
        "ram": ram,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "agentspend commit": commit,
        "ccusage": CCUSAGE_VERSION,
    }

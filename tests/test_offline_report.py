"""`agentspend report`: local discovery, repository/branch scope, the cache, and consistent totals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bot.cli import main


def _rollout(session_id: str, repo_url: str | None, branch: str, cwd: str, output: int) -> str:
    git = {"branch": branch, "commit_hash": "a" * 40} | ({"repository_url": repo_url} if repo_url else {})
    lines = [
        {"timestamp": "2026-05-12T10:00:00.000Z", "type": "session_meta",
         "payload": {"id": session_id, "timestamp": "2026-05-12T10:00:00.000Z", "cwd": cwd,
                     "model_provider": "openai", "git": git}},
        {"timestamp": "2026-05-12T10:00:00.002Z", "type": "turn_context", "payload": {"cwd": cwd, "model": "gpt-5"}},
        {"timestamp": "2026-05-12T10:00:03.100Z", "type": "event_msg", "payload": {"type": "token_count", "info": {
            "total_token_usage": {"input_tokens": 5000, "cached_input_tokens": 1000, "output_tokens": output, "total_tokens": 5000 + output},
            "last_token_usage": {"input_tokens": 5000, "cached_input_tokens": 1000, "output_tokens": output, "total_tokens": 5000 + output}}}},
    ]
    return "".join(json.dumps(line) + "\n" for line in lines)


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty home with its own log dirs and cache, so nothing of the real machine leaks in."""
    home = tmp_path / "home"
    (home / ".codex/sessions/2026/05/12").mkdir(parents=True)
    (home / ".claude/projects").mkdir(parents=True)
    for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "XDG_DATA_HOME", "OPENCODE_DATA_DIR", "AGENTSPEND_PRICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AGENTSPEND_CACHE_DIR", str(tmp_path / "cache"))
    return home


def _report(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["report", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _git_repo(path: Path, remote: str, branch: str) -> Path:
    path.mkdir(parents=True)
    for command in (["init", "-q", "-b", branch], ["remote", "add", "origin", remote]):
        subprocess.run(["git", "-C", str(path), *command], check=True)
    return path


def test_scope_is_this_repository_and_branch(machine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = _git_repo(tmp_path / "widgets", "git@github.com:Acme/Widgets.git", "feature/x")
    sessions = machine / ".codex/sessions/2026/05/12"
    (sessions / "rollout-a.jsonl").write_text(_rollout("a", "https://github.com/acme/widgets", "feature/x", "/elsewhere", 100))
    (sessions / "rollout-b.jsonl").write_text(_rollout("b", "https://github.com/acme/widgets.git", "main", "/elsewhere", 200))
    (sessions / "rollout-c.jsonl").write_text(_rollout("c", "https://github.com/acme/other", "feature/x", "/elsewhere", 400))
    (sessions / "rollout-d.jsonl").write_text(_rollout("d", None, "feature/x", str(repo / "src"), 800))

    def keys(*args: str) -> list[str]:
        return sorted(s["key"] for s in _report(capsys, str(repo), *args)["sessions"])

    assert keys() == ["codex:a", "codex:d"]  # remote match, and cwd inside the work tree
    assert keys("--branch", "main") == ["codex:b"]
    assert keys("--all-branches") == ["codex:a", "codex:b", "codex:d"]
    assert sorted(s["key"] for s in _report(capsys, "--all")["sessions"]) == ["codex:a", "codex:b", "codex:c", "codex:d"]


def test_a_linked_worktree_is_its_own_checkout(machine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`git worktree add`: its own branch and work tree (and waste thresholds), the main one's remote."""
    repo = _git_repo(tmp_path / "widgets", "git@github.com:Acme/Widgets.git", "main")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "start"], check=True)
    linked = tmp_path / "widgets-feature"
    subprocess.run([*git, "worktree", "add", "-q", "-b", "feature", str(linked)], check=True)
    sessions = machine / ".codex/sessions/2026/05/12"
    (sessions / "rollout-main.jsonl").write_text(_rollout("on-main", "https://github.com/acme/widgets", "main", "/x", 100))
    (sessions / "rollout-feature.jsonl").write_text(_rollout("on-feature", None, "feature", str(linked), 200))

    from bot import offline

    (linked / "src").mkdir()
    scope = offline.scope_for(linked / "src", None, False, False, None)
    assert (scope.repo, scope.branch, scope.worktree) == ("acme/widgets", "feature", linked.resolve())
    assert offline.scope_for(linked, None, False, True, None).worktree == linked.resolve()
    assert offline.scope_for(repo, None, False, False, None).branch == "main"
    assert [s["key"] for s in _report(capsys, str(linked))["sessions"]] == ["codex:on-feature"]
    assert [s["key"] for s in _report(capsys, str(repo))["sessions"]] == ["codex:on-main"]


def test_outside_a_repository_is_a_clear_error(machine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "plain").mkdir()
    assert main(["report", str(tmp_path / "plain")]) == 2
    assert "not inside a git repository" in capsys.readouterr().err


def _install_fixtures(home: Path, agent_fixtures: Path) -> None:
    shutil.copytree(agent_fixtures / "codex", home / ".codex/sessions/fixtures")
    projects = home / ".claude/projects"
    for group in sorted((agent_fixtures / "claude-code").iterdir()):
        shutil.copytree(group, projects / group.name)


def test_breakdowns_add_up_and_cache_is_reused(machine: Path, agent_fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _install_fixtures(machine, agent_fixtures)
    report = _report(capsys, "--all")
    total = report["total_cost_usd"]
    assert total > 0
    for breakdown in ("by_runtime", "by_model", "by_tool", "by_subagent", "sessions"):
        rows = report[breakdown]
        assert sum(r["cost_usd"] for r in rows) == pytest.approx(total, abs=1e-5), breakdown
        for kind in ("input", "output", "cache_read", "cache_write"):
            assert sum(r["tokens"][kind] for r in rows) == report["tokens"][kind], (breakdown, kind)
    assert {r["name"] for r in report["by_runtime"]} == {"claude-code", "codex"}
    assert report["unknown_usage_calls"] > 0  # the Codex Desktop rollout without token counts
    assert report["unpriced_tokens"] >= 0

    cached = sorted((machine.parent / "cache").rglob("*"))
    assert any(p.parent.name == "outputs" for p in cached)
    assert _report(capsys, "--all") == report

    log = next((machine / ".codex/sessions/fixtures/langsmith-plugins-more").rglob("rollout-editing.jsonl"))
    with log.open("a") as fh:  # one more model call appended: only the new bytes change the answer
        fh.write(_rollout("editing-extra", None, "main", "/x", 1000).splitlines(keepends=True)[-1])
    grown = _report(capsys, "--all")
    assert grown["tokens"]["output"] == report["tokens"]["output"] + 1000
    assert grown == _report(capsys, "--all", "--no-cache")


def test_markdown_matches_json(machine: Path, agent_fixtures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _install_fixtures(machine, agent_fixtures)
    data = _report(capsys, "--all")
    assert main(["report", "--all"]) == 0
    text = capsys.readouterr().out
    from bot.report.render import usd

    assert f"### AgentSpend: {usd(data['total_cost_usd'])}" in text
    assert "Cost by tool splits each model call" in text
    assert len(text) < 65_536
    assert os.linesep in text


def test_json_is_written_as_orjson_writes_the_whole_report(
    machine: Path, agent_fixtures: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """The rows are written one at a time; the bytes must be those of one dump of the document."""
    assert main(["report", "--all", "--format", "json", "--no-cache"]) == 0
    empty = capsys.readouterr().out
    _install_fixtures(machine, agent_fixtures)
    assert main(["report", "--all", "--format", "json", "--no-cache"]) == 0
    full = capsys.readouterr().out
    assert json.loads(empty)["sessions"] == [] and len(json.loads(full)["sessions"]) > 10
    for text in (empty, full):
        assert text == orjson.dumps(json.loads(text), option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE).decode()


def test_a_reader_that_goes_away_ends_the_report_quietly(machine: Path, agent_fixtures: Path) -> None:
    """`agentspend report | head`: exit 141 as after SIGPIPE, no traceback, no cached half report."""
    _install_fixtures(machine, agent_fixtures)
    proc = subprocess.Popen([sys.executable, "-m", "bot", "report", "--all", "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    proc.stdout.close()  # before the first write
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 141, stderr.decode()
    assert b"Traceback" not in stderr
    outputs = list((machine.parent / "cache").rglob("outputs/*"))
    assert outputs == []


def test_a_cached_report_reaches_a_pipe_a_file_and_a_reader_that_goes_away_whole(
    machine: Path, agent_fixtures: Path, tmp_path: Path,
) -> None:
    """The cached copy goes out through `sendfile`: byte for byte what the first run printed."""
    _install_fixtures(machine, agent_fixtures)
    command = [sys.executable, "-m", "bot", "report", "--all", "--format", "json"]
    first = subprocess.run(command, capture_output=True, check=True, env=os.environ.copy()).stdout
    assert list((machine.parent / "cache").rglob("outputs/*"))  # the second run is answered from the cache
    piped = subprocess.run(command, capture_output=True, check=True, env=os.environ.copy()).stdout
    with (tmp_path / "report.json").open("wb") as out:
        subprocess.run(command, stdout=out, check=True, env=os.environ.copy())
    assert piped == first == (tmp_path / "report.json").read_bytes() and len(first) > 10_000
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    proc.stdout.close()
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 141 and b"Traceback" not in stderr, stderr.decode()


def test_a_cache_that_cannot_be_made_leaves_the_report_whole(
    machine: Path, agent_fixtures: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _install_fixtures(machine, agent_fixtures)
    fresh = _report(capsys, "--all", "--no-cache")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("AGENTSPEND_CACHE_DIR", str(blocker))
    assert main(["report", "--all", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == fresh
    assert captured.err.count("warning: cannot write the cache") == 1, captured.err


def test_a_cache_write_failing_halfway_leaves_the_report_whole_and_no_partial_file(
    machine: Path, agent_fixtures: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A full disk, simulated with a file size limit: stdout (a pipe) is not limited, the cache is."""
    import resource

    _install_fixtures(machine, agent_fixtures)
    fresh = _report(capsys, "--all", "--no-cache")
    limit = 16 << 10

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run([sys.executable, "-m", "bot", "report", "--all", "--format", "json"], capture_output=True,
                          env=os.environ.copy(), preexec_fn=limited, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout) == fresh
    assert b"File too large" in proc.stderr and b"Traceback" not in proc.stderr
    left = sorted(p.name for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert not any(name.endswith(".tmp") for name in left), left


def test_releasing_spans_while_building_changes_no_figure(machine: Path, agent_fixtures: Path) -> None:
    """The offline report lets `build` drop each session's spans once summed (peak memory)."""
    from bot import logcache
    from bot.pricing import PriceBook
    from bot.report import build

    _install_fixtures(machine, agent_fixtures)
    prices = PriceBook.load(None)
    reports = []
    for release in (False, True):
        sessions, skipped = logcache.load({"HOME": str(machine)}, machine, None)
        prices.price_sessions(sessions)
        reports.append(build.build(sessions, prices.source, dict(skipped), release_spans=release).as_dict())
        assert any(s.spans for s in sessions) is not release
    assert reports[0] == reports[1] and reports[0]["sessions"]


SAMPLE_CLAUDE = Path(__file__).resolve().parent.parent / "bot/samples/claude"
"""The demo's Claude Code session: its pytest run fails three times in a row."""


def test_findings_use_the_checkouts_own_waste_thresholds(
    machine: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import LOCAL_CONFIG
    from bot.github.repo_config import CONFIG_PATH

    assert LOCAL_CONFIG == CONFIG_PATH
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(SAMPLE_CLAUDE))
    repo = _git_repo(tmp_path / "widgets", "git@github.com:acme/widgets.git", "main")
    config = repo / ".github/agentspend.yml"

    report = _report(capsys, str(repo), "--all")
    assert [f["kind"] for f in report["findings"]] == ["retry_loop"]
    assert report["waste_thresholds"] == "defaults (no `waste:` section in `.github/agentspend.yml` in this checkout)"

    config.parent.mkdir()
    config.write_text("version: 1\nwaste:\n  retry_loop: 4\n")  # the cached answer must not survive this
    report = _report(capsys, str(repo), "--all")
    assert report["findings"] == []
    assert report["waste_thresholds"] == "`waste:` in `.github/agentspend.yml` in this checkout"

    config.write_text("version: 1\nwaste:\n  retry_loop: many\n")
    report = _report(capsys, str(repo), "--all")
    assert [f["kind"] for f in report["findings"]] == ["retry_loop"]
    assert report["waste_thresholds"].startswith("defaults, as `.github/agentspend.yml` line 3: waste.retry_loop")

    assert main(["report", str(repo), "--all"]) == 0
    text = capsys.readouterr().out
    assert "**Retry loop**" in text and "…and" not in text and "Waste thresholds: defaults, as" in text


def test_calls_at_another_tier_are_priced_there_and_shown_apart(
    machine: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A Codex thread switched to the fast tier (`/fast`) and a Claude Code call in fast mode:
    each is priced at its tier's rates, counted in every breakdown, and listed under `by_tier`."""
    ts = "2026-10-20T10:00:0{}.000Z".format
    usage = {"input_tokens": 1000, "cached_input_tokens": 400, "output_tokens": 50, "total_tokens": 1050}
    rollout = [
        {"timestamp": ts(0), "type": "session_meta", "payload": {"id": "t-fast", "cwd": "/w"}},
        {"timestamp": ts(1), "type": "turn_context", "payload": {"model": "gpt-5.5"}},
        {"timestamp": ts(2), "type": "event_msg", "payload": {"type": "token_count", "info": {"last_token_usage": usage}}},
        {"timestamp": ts(3), "type": "event_msg",
         "payload": {"type": "thread_settings_applied", "thread_settings": {"service_tier": "fast"}}},
        {"timestamp": ts(4), "type": "event_msg", "payload": {"type": "token_count", "info": {"last_token_usage": usage}}},
    ]
    (machine / ".codex/sessions/2026/10/20").mkdir(parents=True)
    (machine / ".codex/sessions/2026/10/20/rollout-fast.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rollout))
    call = {"type": "assistant", "timestamp": ts(5), "sessionId": "c-fast", "uuid": "a1", "cwd": "/w",
            "message": {"id": "msg_f", "model": "claude-opus-4-8", "role": "assistant", "content": [],
                        "usage": {"input_tokens": 1000, "output_tokens": 100, "speed": "fast"}}}
    (machine / ".claude/projects/-w").mkdir(parents=True)
    (machine / ".claude/projects/-w/c-fast.jsonl").write_text(json.dumps(call, separators=(",", ":")) + "\n")

    report = _report(capsys, "--all")
    standard_gpt = (600 * 5 + 400 * 0.5 + 50 * 30) / 1e6  # GPT-5.5: $5 / $0.50 cached / $30
    fast_gpt = (600 * 12.5 + 400 * 1.25 + 50 * 75) / 1e6  # its fast tier: $12.50 / $1.25 / $75
    fast_opus = (1000 * 10 + 100 * 50) / 1e6  # Opus 4.8 fast mode: $10 / $50
    assert report["total_cost_usd"] == pytest.approx(standard_gpt + fast_gpt + fast_opus, abs=1e-6)
    assert {r["name"]: (r["calls"], r["cost_usd"]) for r in report["by_tier"]} == {
        "fast": (2, pytest.approx(fast_gpt + fast_opus, abs=1e-6)),
    }
    assert main(["report", "--all"]) == 0
    assert "**Billing tiers:** 2 model calls at the `fast` tier ($0.03)" in capsys.readouterr().out

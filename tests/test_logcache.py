"""The parse cache behind `agentspend report`: one process or several, cold or warm, whatever
happened to the logs in between, the sessions are those a fresh read gives."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from bot import logcache, offline, wire
from bot.adapters.base import Cursor, JsonLines
from bot.adapters.claude_code import ADAPTER as CLAUDE


@pytest.fixture
def logs(tmp_path: Path, agent_fixtures: Path) -> tuple[dict[str, str], Path]:
    """The Claude Code and Codex fixtures laid out as on a machine, and that machine's environment."""
    home = tmp_path / "home"
    shutil.copytree(agent_fixtures / "codex", home / ".codex" / "sessions" / "fixtures")
    for group in sorted((agent_fixtures / "claude-code").iterdir()):
        shutil.copytree(group, home / ".claude" / "projects" / group.name)
    return {"HOME": str(home)}, home


def _load(env: dict[str, str], home: Path, cache: Path | None) -> object:
    sessions, skipped = logcache.load(env, home, cache)
    return wire.to_builtins(sorted(sessions, key=lambda s: s.key)), dict(skipped)


def test_worker_processes_read_what_one_process_reads(logs: tuple[dict[str, str], Path]) -> None:
    env, home = logs
    alone = _load(env | {"AGENTSPEND_WORKERS": "1"}, home, None)
    assert alone[0], "the fixtures hold sessions"
    assert _load(env | {"AGENTSPEND_WORKERS": "3"}, home, None) == alone


@pytest.mark.parametrize("workers", ["1", "2"])
def test_cold_warm_and_grown_reads_equal_a_fresh_read(logs: tuple[dict[str, str], Path], tmp_path: Path,
                                                      workers: str) -> None:
    env, home = logs
    env = env | {"AGENTSPEND_WORKERS": workers}
    cache = tmp_path / "cache"
    fresh = _load(env, home, None)
    assert _load(env, home, cache) == fresh
    assert (cache / logcache.CACHE_FILE).is_file() and (cache / offline.SNAPSHOT_FILE).is_file()
    before = (cache / logcache.CACHE_FILE).stat().st_mtime_ns
    assert _load(env, home, cache) == fresh
    assert (cache / logcache.CACHE_FILE).stat().st_mtime_ns == before, "nothing changed: nothing rewritten"

    log = next((home / ".codex" / "sessions").rglob("rollout-editing.jsonl"))
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[: len(lines) // 2]))  # as it was half-way through the session
    shutil.rmtree(cache)
    assert _load(env, home, cache) != fresh
    log.write_bytes(b"".join(lines))  # appended: read on from the cursor
    assert _load(env, home, cache) == fresh


def test_new_moved_and_removed_logs_are_noticed(logs: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    env, home = logs
    cache = tmp_path / "cache"
    _load(env, home, cache)
    projects = home / ".claude" / "projects"
    moved = projects / "fasthooks-moved"
    (projects / "fasthooks").rename(moved)
    assert _load(env, home, cache) == _load(env, home, None)
    shutil.rmtree(moved)
    assert _load(env, home, cache) == _load(env, home, None)
    extra = home / ".codex" / "sessions" / "later"
    shutil.copytree(next(p for p in (home / ".codex" / "sessions" / "fixtures").iterdir() if p.is_dir()), extra)
    assert _load(env, home, cache) == _load(env, home, None)


@pytest.mark.parametrize("damage", [b"", b"\x00\x00\x00\x09garbage!!", b"\xff" * 64])
def test_an_unreadable_cache_file_is_read_again_from_the_logs(logs: tuple[dict[str, str], Path], tmp_path: Path,
                                                              damage: bytes) -> None:
    env, home = logs
    cache = tmp_path / "cache"
    fresh = _load(env, home, cache)
    path = cache / logcache.CACHE_FILE
    path.write_bytes(damage if damage else path.read_bytes()[: path.stat().st_size // 2])
    assert _load(env, home, cache) == fresh


def _cached(cache: Path, key: str, env: dict[str, str], home: Path) -> bytes | None:
    """The cached rendering's bytes, or None when the cache does not answer."""
    opened = offline.cached_output(cache, key, env, home)
    if opened is None:
        return None
    with opened:
        return opened.read()


def test_a_changed_discovery_override_is_a_different_machine(logs: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    env, home = logs
    cache = tmp_path / "cache"
    key = offline.fingerprint(home, ("json",))
    _load(env, home, cache)
    assert list(offline.store_output(cache, key, [b"st", b"ale"])) == [b"st", b"ale"]
    assert _cached(cache, key, env, home) == b"stale"
    elsewhere = tmp_path / "other-codex"
    (elsewhere / "sessions").mkdir(parents=True)
    assert _cached(cache, key, env | {"CODEX_HOME": str(elsewhere)}, home) is None
    assert _cached(cache, key, env, home) == b"stale"
    (home / ".codex" / "auth.json").write_text("{}")  # beside the logs: Codex's own, not a log
    (home / ".claude" / "settings.json").write_text("{}")
    assert _cached(cache, key, env, home) == b"stale"
    (home / ".codex" / "sessions" / "fixtures" / "new.jsonl").write_text("{}\n")  # any new file
    assert _cached(cache, key, env, home) is None


def test_a_new_database_beside_opencode_storage_is_noticed(logs: tuple[dict[str, str], Path], tmp_path: Path) -> None:
    """OpenCode's discovery lists its data directory (databases sit beside `storage/`): a new
    entry there voids the cached report."""
    env, home = logs
    data = home / ".local" / "share" / "opencode"
    (data / "storage").mkdir(parents=True)
    cache = tmp_path / "cache"
    key = offline.fingerprint(home, ("json",))
    _load(env, home, cache)
    assert list(offline.store_output(cache, key, [b"stale"])) == [b"stale"]
    assert _cached(cache, key, env, home) == b"stale"
    (data / "opencode.db").write_bytes(b"")
    assert _cached(cache, key, env, home) is None


def test_a_log_that_grows_while_read_is_read_on_next_time(tmp_path: Path, agent_fixtures: Path) -> None:
    """The cursor is stamped with the size the file had when the read began, so bytes written
    during the read cannot make it pass for unchanged afterwards."""
    main = max((agent_fixtures / "claude-code" / "fasthooks").rglob("*.jsonl"), key=lambda p: p.stat().st_size)
    source = main.read_bytes().splitlines(keepends=True)
    path = tmp_path / "session.jsonl"
    path.write_bytes(b"".join(source[:3]))
    lines = JsonLines(path, None, Counter())
    for index, _ in enumerate(lines):
        if index == 0:
            with path.open("ab") as fh:
                fh.write(b"".join(source[3:]))
    cursor = lines.cursor()
    assert cursor.size == len(b"".join(source[:3])) < path.stat().st_size
    assert cursor.offset == path.stat().st_size  # what was there by the end was consumed
    again = CLAUDE.read(path, {str(path): Cursor(offset=cursor.offset, state={}, size=cursor.size)})
    assert again.sessions == [] and not again.skipped


def test_report_json_is_served_from_the_cache_only_while_nothing_changed(
    logs: tuple[dict[str, str], Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.cli import main

    env, home = logs
    for name in ("CLAUDE_CONFIG_DIR", "CODEX_HOME", "XDG_DATA_HOME", "OPENCODE_DATA_DIR", "AGENTSPEND_PRICES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AGENTSPEND_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["report", "--all", "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)
    outputs = tmp_path / "cache" / f"report-v{offline.CACHE_VERSION}" / offline.OUTPUTS_DIR
    (stored,) = outputs.iterdir()
    stored.write_text('{"served": "from the cache"}\n')  # proves the next answer comes from here
    assert main(["report", "--all", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"served": "from the cache"}
    log = next((home / ".claude" / "projects").rglob("*.jsonl"))
    log.write_bytes(log.read_bytes())  # rewritten: a new mtime
    assert main(["report", "--all", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == first

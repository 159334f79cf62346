"""The warm path's question, "did anything below the log roots change?", answered from the
recorded bytes: in one process for a small tree, split with a forked child for a large one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot import snapshot


def _tree(root: Path, files: int) -> list[Path]:
    """`files` small logs spread over directories of 50, as agents lay them out."""
    made = []
    for index in range(files):
        folder = root / f"project-{index // 50:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"session-{index:05d}.jsonl"
        path.write_bytes(b'{"n": %d}\n' % index)
        made.append(path)
    return made


def _recorded(root: Path, env: dict[str, str | None] | None = None) -> bytes:
    return snapshot.take([(str(root), False)], env or {}, "/home/dev").to_bytes()


@pytest.mark.parametrize("files", [30, snapshot.SPLIT_PATHS + 500], ids=["one-process", "split-with-a-child"])
def test_any_append_creation_or_removal_is_seen(tmp_path: Path, files: int) -> None:
    root = tmp_path / "logs"
    made = _tree(root, files)
    recorded = _recorded(root)
    assert snapshot.unchanged(recorded, {}, "/home/dev")

    # The last file is in the half a forked child checks, the first in the parent's.
    for changed in (made[0], made[-1]):
        with changed.open("ab") as fh:
            fh.write(b'{"more": 1}\n')
        assert not snapshot.unchanged(recorded, {}, "/home/dev"), changed
        recorded = _recorded(root)
        assert snapshot.unchanged(recorded, {}, "/home/dev")

    (made[-1].parent / "new-session.jsonl").write_bytes(b"")  # a new entry: its directory's mtime moves
    assert not snapshot.unchanged(recorded, {}, "/home/dev")
    recorded = _recorded(root)
    made[1].unlink()
    assert not snapshot.unchanged(recorded, {}, "/home/dev")


def test_no_child_is_left_behind(tmp_path: Path) -> None:
    """The split check reaps its child whether it answers or is cut short by the parent's half."""
    root = tmp_path / "logs"
    made = _tree(root, snapshot.SPLIT_PATHS + 10)
    recorded = _recorded(root)
    assert snapshot.unchanged(recorded, {}, "/home/dev")
    made[0].write_bytes(b"rewritten\n")
    assert not snapshot.unchanged(recorded, {}, "/home/dev")
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_environment_home_and_damage_invalidate(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    _tree(root, 5)
    recorded = _recorded(root, {"CODEX_HOME": str(root), "CLAUDE_CONFIG_DIR": None})
    env = {"CODEX_HOME": str(root)}
    assert snapshot.unchanged(recorded, env, "/home/dev")
    assert not snapshot.unchanged(recorded, env | {"CLAUDE_CONFIG_DIR": "/elsewhere"}, "/home/dev")
    assert not snapshot.unchanged(recorded, {}, "/home/dev")
    assert not snapshot.unchanged(recorded, env, "/home/other")
    for damaged in (b"", recorded[: len(recorded) // 2], b"not marshal", recorded[:-8]):
        assert not snapshot.unchanged(damaged, env, "/home/dev")
        assert snapshot.Snapshot.from_bytes(damaged) is None


def test_a_path_missing_when_recorded_counts_once_it_appears(tmp_path: Path) -> None:
    """Discovery also records where logs would be (an agent not yet used): its arrival is a change."""
    later = tmp_path / "not-yet"
    recorded = snapshot.take([(str(later), False)], {}, "/home/dev").to_bytes()
    assert snapshot.unchanged(recorded, {}, "/home/dev")
    later.mkdir()
    assert not snapshot.unchanged(recorded, {}, "/home/dev")


def test_round_trip_keeps_paths_and_stats(tmp_path: Path) -> None:
    root = tmp_path / "logs"
    _tree(root, 120)
    taken = snapshot.take([(str(root), True)], {"X": "1"}, "/home/dev")
    back = snapshot.Snapshot.from_bytes(taken.to_bytes())
    assert back is not None
    assert (back.env, back.home, back.paths, back.stats) == (taken.env, taken.home, taken.paths, taken.stats)
    assert len(back.paths) == 120 + 3 + 2  # files, their directories, the root and its parent


def test_a_roots_parent_is_watched_only_when_discovery_lists_it(tmp_path: Path) -> None:
    """Agents keep settings and credentials beside their logs: a new file there is no new log,
    unless the adapter finds logs there (OpenCode's databases beside its storage)."""
    root = tmp_path / "agent" / "projects"
    _tree(root, 3)
    alone = snapshot.take([(str(root), False)], {}, "/home/dev").to_bytes()
    watched = snapshot.take([(str(root), True)], {}, "/home/dev").to_bytes()
    (tmp_path / "agent" / "credentials.json").write_text("{}")
    assert snapshot.unchanged(alone, {}, "/home/dev")
    assert not snapshot.unchanged(watched, {}, "/home/dev")

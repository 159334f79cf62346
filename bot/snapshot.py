"""What the agent-log directories looked like when a report was cached, and whether they still do.

A warm `agentspend report` must answer in a tenth of a second, so this module imports only
built-in modules (even orjson costs 20 ms to load) and never runs the adapters. Appending to a
log changes that file's size and mtime; adding, removing or renaming an entry changes its
directory's mtime. So a snapshot holds every directory and file below the log roots with its
size and mtime, the roots themselves (a root that does not exist yet is recorded as missing),
the parent directories of the roots whose discovery lists them (OpenCode's databases beside its
storage; not `~/.claude`, where Claude Code also keeps settings and credentials), and the
environment variables discovery read. While all of these match, so does everything the cached
report was computed from.

The snapshot is taken before any log is read, so a log that grows while it is being read no
longer matches next time. The warm check (`unchanged`) is one stat per path and nothing else: at
1 GB of logs that is 25 000 system calls, so it works on the recorded bytes directly and, on a
large tree, shares the calls with a forked child.
"""

from __future__ import annotations

import marshal
import os
import signal
from array import array
from collections.abc import Iterable, Mapping
from stat import S_ISDIR

VERSION = 3
MISSING = (-1, -1)
"""The stat of a path that did not exist: creating it changes the snapshot."""
DIRECTORY = -2
"""The size recorded for a directory: only its mtime says something (an entry came or went),
and a negative size keeps directories out of any count of bytes to read."""
SPLIT_PATHS = 8000
"""From this many paths on, a warm check stats the second half in a forked child: the stat calls
are the whole cost of a warm run at 1 GB (25 000 paths, ~65 ms on this kind of VM), and the kernel
serves two processes' calls in parallel where two threads would queue on the GIL."""

Stat = tuple[int, int]
"""(size, mtime_ns) of a file or directory."""


class Snapshot:
    """Every path discovery depends on, with its stat, in a fixed order."""

    __slots__ = ("env", "home", "paths", "stats")

    def __init__(self, env: dict[str, str | None], home: str, paths: list[str], stats: list[Stat]) -> None:
        self.env = env
        """The environment variables discovery read, and their values (None: unset)."""
        self.home = home
        self.paths = paths
        self.stats = stats

    def files(self) -> dict[str, Stat]:
        """Path → stat of everything listed (files and directories)."""
        return dict(zip(self.paths, self.stats))

    def restat(self) -> Snapshot:
        """The same paths, stat'ed now (no directory is listed)."""
        return Snapshot(self.env, self.home, self.paths, [_stat(path) for path in self.paths])

    def to_bytes(self) -> bytes:
        """marshal of the paths as one NUL-separated byte string and the stats as an array of
        int64: loading them and stat'ing by bytes path builds no object per path (2 ms for the
        25 000 paths of a 1 GB corpus, against 8 ms as lists). A file it cannot load is no snapshot."""
        stamps = array("q", [number for stat in self.stats for number in stat])
        return marshal.dumps((VERSION, self.env, self.home, os.fsencode("\0".join(self.paths)), stamps.tobytes()))

    @classmethod
    def from_bytes(cls, data: bytes) -> Snapshot | None:
        decoded = _decode(data)
        if decoded is None:
            return None
        env, home, names, stamps = decoded
        paths = os.fsdecode(names).split("\0") if names else []
        it = iter(stamps)
        return cls(env, home, paths, list(zip(it, it)))


def unchanged(data: bytes, env: Mapping[str, str], home: str) -> bool:
    """True while nothing a recorded snapshot (`to_bytes`) depends on has changed.

    The warm path of the offline report: it works on the recorded bytes as they are, one stat
    per path, stopping at the first difference.
    """
    decoded = _decode(data)
    if decoded is None:
        return False
    recorded_env, recorded_home, names, stamps = decoded
    if home != recorded_home or any(env.get(name) != value for name, value in recorded_env.items()):
        return False
    paths = names.split(b"\0") if names else []
    if len(paths) * 2 != len(stamps):
        return False
    if len(paths) < SPLIT_PATHS or not hasattr(os, "fork") or (os.cpu_count() or 1) < 2:
        return _stats_match(paths, stamps, 0, len(paths))
    return _stats_match_split(paths, stamps)


def _decode(data: bytes) -> tuple[dict[str, str | None], str, bytes, array] | None:
    try:
        version, env, home, names, raw = marshal.loads(data)
        if version != VERSION:
            return None
        stamps = array("q")
        stamps.frombytes(raw)
    except (EOFError, ValueError, TypeError):
        return None
    return env, home, names, stamps


def _stats_match(paths: list[bytes], stamps: array, start: int, stop: int) -> bool:
    stat, numbers = os.stat, iter(stamps[2 * start:2 * stop])
    for path, size, mtime in zip(paths[start:stop], numbers, numbers):
        try:
            st = stat(path)
        except OSError:
            if size != -1:
                return False
            continue
        if st.st_mtime_ns != mtime or (DIRECTORY if S_ISDIR(st.st_mode) else st.st_size) != size:
            return False
    return True


def _stats_match_split(paths: list[bytes], stamps: array) -> bool:
    """`_stats_match` of the first half here and of the second in a forked child, which answers
    with one byte. The child only stats and exits; whichever half differs first ends both. A
    child that dies without answering counts as a change: the report is then computed again."""
    half = len(paths) // 2
    reader, writer = os.pipe()
    try:
        child = os.fork()
    except OSError:  # out of processes or memory: check it all here
        os.close(reader)
        os.close(writer)
        return _stats_match(paths, stamps, 0, len(paths))
    if child == 0:
        try:  # whatever happens, the child must not return into the parent's code
            os.write(writer, b"1" if _stats_match(paths, stamps, half, len(paths)) else b"0")
        finally:
            os._exit(0)
    os.close(writer)
    try:
        if not _stats_match(paths, stamps, 0, half):
            os.kill(child, signal.SIGKILL)
            return False
        return os.read(reader, 1) == b"1"
    finally:
        os.close(reader)
        os.waitpid(child, 0)


def take(roots: Iterable[tuple[str, bool]], env: dict[str, str | None], home: str) -> Snapshot:
    """Stat the roots, every directory and file below them, and the parent of each root given
    with True (one whose adapter's discovery lists that parent).

    Paths are stat'ed through symbolic links (a linked log is read), but a linked directory is
    not descended into, as the adapters' walk does not descend into it.
    """
    paths: list[str] = []
    stats: list[Stat] = []
    seen: set[str] = set()
    for root, with_parent in roots:
        for path in (os.path.dirname(root), root) if with_parent else (root,):
            if path not in seen:
                seen.add(path)
                paths.append(path)
                stats.append(_stat(path))
        if os.path.isdir(root) and not os.path.islink(root):
            _walk(root, paths, stats, seen)
    return Snapshot(env, home, paths, stats)


def _walk(top: str, paths: list[str], stats: list[Stat], seen: set[str]) -> None:
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            path = entry.path
            if path in seen:
                continue
            seen.add(path)
            paths.append(path)
            try:
                st = entry.stat()
            except OSError:
                stats.append(MISSING)  # e.g. a dangling link: it may point somewhere later
                continue
            stats.append(_stamp(st))
            if entry.is_dir(follow_symlinks=False):
                stack.append(path)


def _stat(path: str) -> Stat:
    try:
        return _stamp(os.stat(path))
    except OSError:
        return MISSING


def _stamp(st: os.stat_result) -> Stat:
    return (DIRECTORY if S_ISDIR(st.st_mode) else st.st_size, st.st_mtime_ns)

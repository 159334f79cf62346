"""The offline report: this machine's agent logs → the sessions of one repository → a report.

No database and no GitHub: it runs the same pure chain the service runs (adapters → pricing →
report → render) so a developer sees before pushing what the pull request comment will say.
Parsed files are cached per file in the user's cache dir with their cursors, so a re-run reads
only bytes appended since, and a re-run over unchanged logs returns the cached rendering.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from platformdirs import user_cache_dir

from bot import adapters, gitmeta
from bot.adapters.base import Adapter, Cursor
from bot.corpus import Corpus
from bot.trace import Session

CACHE_VERSION = "2"


@dataclass(frozen=True, slots=True)
class Scope:
    """Which sessions the report keeps."""

    repo: str | None = None
    """`owner/name` of the repository, from the git remote at PATH."""
    worktree: Path | None = None
    """The work tree root at PATH: sessions whose cwd lies inside it belong to it too."""
    branch: str | None = None
    """Only sessions on this branch (None: any branch)."""
    since: datetime | None = None
    everything: bool = False

    def describe(self) -> str:
        if self.everything:
            return "all sessions on this machine"
        where = self.repo or (str(self.worktree) if self.worktree else "this directory")
        return f"{where}" + (f" @ {self.branch}" if self.branch else " (all branches)")

    def keeps(self, session: Session) -> bool:
        if self.since and (session.ended_at or session.started_at) and (session.ended_at or session.started_at) < self.since:
            return False
        if self.everything:
            return True
        in_repo = (self.repo is not None and session.repo == self.repo) or (
            self.worktree is not None and session.cwd is not None and _inside(session.cwd, self.worktree)
        )
        return in_repo and (self.branch is None or session.branch == self.branch)


def scope_for(path: Path, branch: str | None, all_branches: bool, everything: bool, since: datetime | None) -> Scope:
    """Resolve PATH to its repository and (unless told otherwise) its current branch."""
    worktree = gitmeta.toplevel(path)
    return Scope(
        repo=gitmeta.repo_of_directory(str(path)),
        worktree=worktree,
        branch=None if all_branches or everything else (branch or gitmeta.current_branch(path)),
        since=since,
        everything=everything,
    )


def _inside(cwd: str, root: Path) -> bool:
    try:
        return Path(cwd).resolve().is_relative_to(root)
    except (OSError, ValueError):
        return False


class _UnitCache(msgspec.Struct):
    """What one log unit yielded so far, and where each of its files was read up to."""

    adapter: str
    cursors: dict[str, Cursor]
    sessions: list[Session]
    skipped: dict[str, int]


def load_sessions(env: Mapping[str, str], home: Path, cache_dir: Path | None) -> tuple[list[Session], Counter[str]]:
    """Every session in this machine's agent logs, merged and deduplicated, using the cache."""
    corpus = Corpus()
    for adapter, path in adapters.discover(env, home):
        cached = _read_unit(adapter, path, cache_dir)
        corpus.skipped.update(cached.skipped)
        for session in cached.sessions:
            corpus.add_session(session)
    return corpus.finish(), corpus.skipped


def _read_unit(adapter: Adapter, path: Path, cache_dir: Path | None) -> _UnitCache:
    cache_file = cache_dir / "units" / (_digest(str(path)) + ".msgpack") if cache_dir else None
    cached = _load(cache_file, _UnitCache) if cache_file else None
    if cached is None or cached.adapter != adapter.name:
        cached = _UnitCache(adapter=adapter.name, cursors={}, sessions=[], skipped={})
    if cached.cursors and _unchanged(path, cached.cursors):
        return cached
    result = adapter.read(path, cached.cursors)
    if any(_restarted(p, c, cached.cursors) for p, c in result.cursors.items()):
        cached.sessions = []
        cached.skipped = {}
    cached.sessions.extend(result.sessions)
    cached.cursors.update(result.cursors)
    cached.skipped = dict(Counter(cached.skipped) + result.skipped)
    if cache_file:
        _store(cache_file, cached)
    return cached


def _unchanged(path: Path, cursors: dict[str, Cursor]) -> bool:
    """A single-file unit whose size and mtime match its cursor need not be opened."""
    cursor = cursors.get(str(path))
    if cursor is None or not path.is_file():
        return False
    st = path.stat()
    return st.st_size == cursor.size and st.st_mtime_ns == cursor.mtime_ns


def _restarted(path: str, new: Cursor, old: dict[str, Cursor]) -> bool:
    """The adapter read a file from the start again (it shrank or was replaced)."""
    previous = old.get(path)
    return previous is not None and new.offset < previous.offset


def fingerprint(env: Mapping[str, str], home: Path, extra: tuple[Any, ...]) -> str:
    """A key that changes when any log file, the price data or the report's arguments change."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((CACHE_VERSION, extra)).encode())
    for adapter in adapters.ADAPTERS:
        for root in adapter.discover(env, home):
            _fingerprint_tree(Path(root), digest)
    return digest.hexdigest()


def _fingerprint_tree(root: Path, digest: Any) -> None:
    try:
        st = root.stat()
    except OSError:
        return
    if root.is_file():
        digest.update(f"{root}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            try:
                fst = os.stat(os.path.join(dirpath, name))
            except OSError:
                continue
            digest.update(f"{dirpath}/{name}\0{fst.st_size}\0{fst.st_mtime_ns}\n".encode())


def cached_output(cache_dir: Path, key: str) -> str | None:
    try:
        return (cache_dir / "outputs" / key).read_text()
    except OSError:
        return None


def store_output(cache_dir: Path, key: str, text: str) -> None:
    outputs = cache_dir / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    for old in outputs.iterdir():
        old.unlink(missing_ok=True)
    _atomic_write(outputs / key, text.encode())


def default_cache_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("AGENTSPEND_CACHE_DIR") or user_cache_dir("agentspend")) / f"report-v{CACHE_VERSION}"


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _load(path: Path, kind: type) -> Any:
    try:
        return msgspec.msgpack.decode(path.read_bytes(), type=kind)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def _store(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, msgspec.msgpack.encode(value))


def _atomic_write(path: Path, data: bytes) -> None:
    """Write then rename, so a killed run never leaves a half-written cache entry behind."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)

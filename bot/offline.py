"""The offline report: this machine's agent logs → the sessions of one repository → a report.

No database and no GitHub: it runs the same pure chain the service runs (adapters → pricing →
report → render) so a developer sees before pushing what the pull request comment will say.
Parsed logs are cached (bot.logcache), so a re-run reads only bytes appended since; a re-run
over unchanged logs returns the cached rendering after comparing a snapshot of the log
directories (bot.snapshot). That path imports neither the adapters nor the price tables, which
is why the reading half of this module is imported only when logs must be read.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from bot import snapshot

if TYPE_CHECKING:
    from bot.trace import Session

CACHE_VERSION = "3"
SNAPSHOT_FILE = "snapshot.marshal"
OUTPUTS_DIR = "outputs"


class Scope(NamedTuple):
    """Which sessions the report keeps (a NamedTuple, like Settings, to keep `dataclasses` out of
    the warm path)."""

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
    """Resolve PATH to its repository and (unless told otherwise) its current branch.

    `--all` keeps every session whatever the repository, so neither repository nor branch is
    looked up; the work tree still is, because its `.github/agentspend.yml` sets the waste
    thresholds. Inside a linked worktree that is the linked one, with its own branch.
    """
    from bot import gitmeta

    if everything:
        return Scope(worktree=gitmeta.toplevel(path), since=since, everything=True)
    return Scope(
        repo=gitmeta.repo_of_directory(str(path)),
        worktree=gitmeta.toplevel(path),
        branch=None if all_branches else (branch or gitmeta.current_branch(path)),
        since=since,
    )


def _inside(cwd: str, root: Path) -> bool:
    try:
        return Path(cwd).resolve().is_relative_to(root)
    except (OSError, ValueError):
        return False


def load_sessions(env: Mapping[str, str], home: Path, cache_dir: Path | None) -> tuple[list[Session], Counter[str]]:
    """Every session in this machine's agent logs, merged and deduplicated, using the cache.

    With a cache dir it also records the snapshot of the log directories the result belongs to,
    which `cached_output` compares next time.
    """
    from bot import logcache  # the adapters and msgspec: only when logs are read

    return logcache.load(env, home, cache_dir)


def fingerprint(home: Path, extra: tuple[Any, ...]) -> str:
    """The key of a rendering: the report's arguments, the price data stamp and the cache layout.

    Whether the logs changed is the snapshot's business (`cached_output`), so this does no I/O.
    """
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((CACHE_VERSION, str(home), extra)).encode())
    return digest.hexdigest()


def cached_output(cache_dir: Path, key: str, env: Mapping[str, str], home: Path) -> IO[bytes] | None:
    """The rendering stored under `key` (UTF-8, as written), opened, if the log directories still
    match their snapshot: a file, so that a 10 MB report is copied to the output by the kernel,
    without being read into this process. A rendering replaced meanwhile (renderings are renamed
    into place) leaves the open one whole."""
    try:
        recorded = (cache_dir / SNAPSHOT_FILE).read_bytes()
    except OSError:
        return None
    if not snapshot.unchanged(recorded, env, str(home)):
        return None
    try:
        return open(cache_dir / OUTPUTS_DIR / key, "rb")  # the caller closes it
    except OSError:
        return None


def load_snapshot(cache_dir: Path) -> snapshot.Snapshot | None:
    """The snapshot the cached sessions belong to, if there is a readable one."""
    try:
        return snapshot.Snapshot.from_bytes((cache_dir / SNAPSHOT_FILE).read_bytes())
    except OSError:
        return None


def store_output(cache_dir: Path, key: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Pass a rendering through, keeping a copy of the sessions the last `load_sessions` read;
    it is served while the snapshot that call recorded still matches (a newer snapshot clears
    every rendering). The copy takes its place only once the last chunk has passed, so a run
    stopped halfway (or a reader that went away) leaves no partial rendering behind; a copy
    that cannot be written is given up (`CacheFile`), and every chunk still passes."""
    copy = CacheFile(cache_dir, cache_dir / OUTPUTS_DIR / key)
    try:
        for chunk in chunks:
            copy.write(chunk)
            yield chunk
        copy.commit()
    finally:
        copy.discard()


def save_snapshot(cache_dir: Path, taken: snapshot.Snapshot) -> None:
    """Record the snapshot the cached sessions belong to; renderings of another one go."""
    if not cache_writable(cache_dir):
        return
    data = taken.to_bytes()
    path = cache_dir / SNAPSHOT_FILE
    try:
        unchanged = path.read_bytes() == data
    except OSError:
        unchanged = False
    if unchanged:
        return
    try:
        outputs = cache_dir / OUTPUTS_DIR
        if outputs.is_dir():
            for old in outputs.iterdir():
                old.unlink(missing_ok=True)
    except OSError as exc:
        cache_unwritable(cache_dir, exc)
        return
    recorded = CacheFile(cache_dir, path)
    recorded.write(data)
    recorded.commit()


class CacheFile:
    """One file of the cache, written beside its place and renamed over it once complete, so a
    killed run leaves the old one. A write that fails (not a directory, read-only, full disk)
    gives the file up: the partial copy goes, later writes are dropped, and `cache_unwritable`
    says so once and keeps the rest of the run from writing to that cache."""

    def __init__(self, cache_dir: Path, path: Path) -> None:
        self._cache_dir, self._path = cache_dir, path
        self._tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self._out: IO[bytes] | None = None
        self.size = 0
        """Bytes written so far."""
        if cache_writable(cache_dir):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._out = open(self._tmp, "wb")  # noqa: SIM115 (closed by commit or discard)
            except OSError as exc:
                self.give_up(exc)

    @property
    def writing(self) -> bool:
        """False once given up (or committed): writing more is wasted work."""
        return self._out is not None

    def write(self, data: bytes) -> None:
        if self._out is not None:
            try:
                self._out.write(data)
            except OSError as exc:
                self.give_up(exc)
            else:
                self.size += len(data)

    def commit(self) -> None:
        """Put the complete file in its place."""
        out, self._out = self._out, None
        if out is not None:
            try:
                out.close()
                os.replace(self._tmp, self._path)
            except OSError as exc:
                self.give_up(exc)

    def give_up(self, error: OSError) -> None:
        cache_unwritable(self._cache_dir, error)
        self.discard()

    def discard(self) -> None:
        """Drop what was written, whatever state a failed write left it in (after `commit`,
        nothing is left to drop)."""
        out, self._out = self._out, None
        with suppress(OSError):
            if out is not None:
                out.close()  # flushing what is buffered may fail again
        with suppress(OSError):
            self._tmp.unlink(missing_ok=True)


def cache_unwritable(cache_dir: Path, error: OSError) -> None:
    """The cache could not be written (not a directory, read-only, full disk): no error, since the
    report is complete without it. Say so once, and write nothing more to it in this run, so
    that no rendering is kept beside a snapshot it does not belong to."""
    if cache_dir in _UNWRITABLE:
        return
    _UNWRITABLE.add(cache_dir)
    reason = error.strerror or str(error)
    print(f"agentspend: warning: cannot write the cache in {cache_dir} ({reason}); this report is "
          "complete, but the next one will read every log again", file=sys.stderr)


def cache_writable(cache_dir: Path) -> bool:
    return cache_dir not in _UNWRITABLE


_UNWRITABLE: set[Path] = set()
"""Cache directories a write failed in, during this run."""


def default_cache_dir(env: Mapping[str, str]) -> Path:
    base = env.get("AGENTSPEND_CACHE_DIR")
    if not base:
        from platformdirs import user_cache_dir  # not needed when the directory is given

        base = user_cache_dir("agentspend")
    return Path(base) / f"report-v{CACHE_VERSION}"

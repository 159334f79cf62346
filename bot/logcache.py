"""This machine's agent logs, each parsed once: what a log unit yielded is cached with its cursors.

A run takes a snapshot of the log directories (bot.snapshot) before reading anything, finds the
log units (reusing the identity of every file whose size and mtime did not change), takes the
units whose files did not change from the cache and reads only the others, from where their
cursors stopped. Many unread bytes are read by one worker process per core; both paths run the
same `read_unit`, and results are merged in discovery order, so they give the same report.

The cache is one file: a header (the identity of every file seen) followed by one msgpack frame
per unit, in discovery order. An unchanged unit's frame is copied from the previous file as it
is, so a run that appends to one log rewrites one frame. Frames are written before the corpus
merges (and the pricing fills) the spans they decode to, which both change spans in place.
"""

from __future__ import annotations

import gc
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from bot import adapters, offline, snapshot
from bot.adapters.base import Adapter, Cursor
from bot.corpus import Corpus
from bot.trace import Session

CACHE_FILE = "units.msgpack"
FORMAT = 1

PARALLEL_BYTES = 24 << 20
"""Below this many unread bytes, starting worker processes costs more than it saves."""
BATCH_BYTES = 4 << 20
"""About this many unread bytes go to a worker at a time: small enough to balance the load and
to stream results to the merge, large enough that sending them costs little."""


class Unit(msgspec.Struct):
    """What one log unit yielded so far, and where each of its files was read up to."""

    path: str
    adapter: str
    cursors: dict[str, Cursor]
    sessions: list[Session]
    skipped: dict[str, int]


class _Header(msgspec.Struct):
    format: int


_ENCODE = msgspec.msgpack.Encoder().encode
_UNIT = msgspec.msgpack.Decoder(Unit)
_HEADER = msgspec.msgpack.Decoder(_Header)
_LENGTH = 4

Todo = tuple[str, str, dict[str, Cursor]]
"""(adapter name, unit path, the cursors to resume from): one unit to read."""


def load(env: Mapping[str, str], home: Path, cache_dir: Path | None) -> tuple[list[Session], Counter[str]]:
    """Every session in this machine's agent logs, merged and deduplicated, using the cache."""
    with _collector_paused():
        discovery_env = _RecordingEnv(env)
        roots = [str(root) for adapter in adapters.ADAPTERS for root in adapter.discover(discovery_env, home)]
        tree = snapshot.take(roots, discovery_env.read, str(home))
        stats = tree.files()
        with _Store(cache_dir / CACHE_FILE if cache_dir else None) as store:
            unchanged = {path: unit for path, unit in store.units.items() if _unchanged(path, unit, stats)}
            units = list(adapters.discover(discovery_env, home, {path: unit.adapter for path, unit in unchanged.items()}))
            todo = _todo(units, store, unchanged)
            corpus = Corpus()
            with store.writer(bool(todo) or len(units) != len(store.units)) as out:
                for unit, frame in _in_order(units, todo, unchanged, store, stats):
                    out.add(frame)
                    corpus.skipped.update(unit.skipped)
                    for session in unit.sessions:
                        corpus.add_session(session)
            if cache_dir is not None:
                offline.save_snapshot(cache_dir, tree)
        return corpus.finish(), corpus.skipped


def _todo(units: list[tuple[Adapter, Path]], store: _Store, unchanged: Mapping[str, Unit]) -> list[Todo]:
    """The units to read, each from the cursors its cached part stopped at."""
    todo: list[Todo] = []
    for adapter, path in units:
        key = str(path)
        previous = store.previous(key, adapter.name)
        if previous is None or key not in unchanged:
            todo.append((adapter.name, key, previous.cursors if previous else {}))
    return todo


def _in_order(
    units: list[tuple[Adapter, Path]], todo: list[Todo], unchanged: Mapping[str, Unit], store: _Store,
    stats: Mapping[str, snapshot.Stat],
) -> Iterator[tuple[Unit, bytes | tuple[int, int]]]:
    """Each unit in discovery order with its cache frame (the old frame's place when unchanged).

    The merge must see units in discovery order: when two copies of a call tie, the first
    one's session keeps it.
    """
    fresh = read_units(todo, sum(_unread(stats, path, cursors) for _, path, cursors in todo), store.enabled)
    try:
        for adapter, path in units:
            key = str(path)
            previous = store.previous(key, adapter.name)
            if previous is not None and key in unchanged:
                yield previous, store.place(key)
                continue
            unit, frame = next(fresh)
            if previous is not None:
                unit = _extend(previous, unit)
                frame = _ENCODE(unit) if store.enabled else b""
            yield unit, frame
    finally:
        fresh.close()  # stops the worker processes, if any


def _unchanged(path: str, unit: Unit, stats: Mapping[str, snapshot.Stat]) -> bool:
    """A single-file unit whose size and mtime match its cursor need not be opened."""
    cursor = unit.cursors.get(path)
    return cursor is not None and stats.get(path) == (cursor.size, cursor.mtime_ns)


def _unread(stats: Mapping[str, snapshot.Stat], path: str, cursors: Mapping[str, Cursor]) -> int:
    cursor = cursors.get(path)
    size = stats.get(path, snapshot.MISSING)[0]
    return max(size - (cursor.offset if cursor else 0), 0)


def _extend(previous: Unit, fresh: Unit) -> Unit:
    """The cached unit with what a read from its cursors added; a file read again from the
    start (it shrank or was replaced) makes the cached sessions void."""
    restarted = any(
        path in previous.cursors and cursor.offset < previous.cursors[path].offset
        for path, cursor in fresh.cursors.items()
    )
    return Unit(
        path=previous.path,
        adapter=previous.adapter,
        cursors=previous.cursors | fresh.cursors,
        sessions=fresh.sessions if restarted else previous.sessions + fresh.sessions,
        skipped=dict(Counter(fresh.skipped) if restarted else Counter(previous.skipped) + Counter(fresh.skipped)),
    )


# -- reading: in this process, or in one worker per core ----------------------------------------


def read_unit(adapter: str, path: str, cursors: dict[str, Cursor]) -> Unit:
    """Parse one unit from its cursors: the only parsing code, whichever process runs it."""
    result = adapters.by_name(adapter).read(Path(path), cursors)
    return Unit(path=path, adapter=adapter, cursors=result.cursors, sessions=result.sessions,
                skipped=dict(result.skipped))


def read_units(todo: list[Todo], unread: int, encode: bool) -> Iterator[tuple[Unit, bytes]]:
    """(unit, its encoded frame) for each item of `todo`, in order; in worker processes when
    there are `PARALLEL_BYTES` to read and more than one core. Units read here are encoded
    only when asked to (`encode`: for the cache); a worker's always are, to send them."""
    workers = _cores() if unread >= PARALLEL_BYTES else 1
    if workers < 2 or len(todo) < 2:
        for item in todo:
            unit = read_unit(*item)
            yield unit, _ENCODE(unit) if encode else b""
        return
    import multiprocessing

    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with context.Pool(workers, initializer=gc.disable) as pool:
        for frames in pool.imap(_read_batch, _batches(todo, workers)):
            for frame in frames:
                yield _UNIT.decode(frame), frame


def _read_batch(batch: list[tuple[str, str, dict[str, Cursor]]]) -> list[bytes]:
    """In a worker: the frames of a run of units (bytes travel between processes cheaply)."""
    return [_ENCODE(read_unit(*item)) for item in batch]


def _batches(todo: list[Todo], workers: int) -> Iterator[list[Todo]]:
    """Consecutive runs of units with about BATCH_BYTES to read each (fewer when that would
    leave a worker idle)."""
    sizes = [_unread_now(path, cursors) for _, path, cursors in todo]
    target = max(min(BATCH_BYTES, sum(sizes) // (4 * workers)), 1)
    batch: list[Todo] = []
    size = 0
    for item, unread in zip(todo, sizes):
        batch.append(item)
        size += unread
        if size >= target:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _unread_now(path: str, cursors: Mapping[str, Cursor]) -> int:
    cursor = cursors.get(path)
    try:
        return max(os.stat(path).st_size - (cursor.offset if cursor else 0), 0)
    except OSError:
        return 0


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# -- the cache file -----------------------------------------------------------------------------


class _Store:
    """The previous cache file's units (decoded) with the place of each frame, and the writing
    of the next file beside it."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.enabled = path is not None
        self.units: dict[str, Unit] = {}
        self._places: dict[str, tuple[int, int]] = {}
        self._file: Any = None
        if path is not None:
            self._open(path)

    def _open(self, path: Path) -> None:
        try:
            fh = path.open("rb")
        except OSError:
            return
        units, places = {}, {}
        try:
            if _HEADER.decode(_read_frame(fh)).format != FORMAT:
                raise ValueError("another cache format")
            while True:
                start = fh.tell() + _LENGTH
                frame = _read_frame(fh)
                if not frame:
                    break
                unit = _UNIT.decode(frame)
                units[unit.path] = unit
                places[unit.path] = (start, len(frame))
        except (msgspec.DecodeError, ValueError, OSError):
            fh.close()
            return  # an unreadable cache is an empty one: everything is read again
        self.units, self._places, self._file = units, places, fh

    def previous(self, path: str, adapter: str) -> Unit | None:
        """The cached unit at `path`, if the same adapter read it."""
        unit = self.units.get(path)
        return unit if unit is not None and unit.adapter == adapter else None

    def place(self, path: str) -> tuple[int, int]:
        return self._places[path]

    def writer(self, needed: bool) -> _Writer:
        """The next cache file, when there is one to write (a unit was read or went away)."""
        return _Writer(self.path if needed else None, self._file)

    def __enter__(self) -> _Store:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()


class _Writer:
    """Frames written one by one beside the current cache file (an unchanged unit's frame is
    copied from it), renamed over it once complete: a killed run leaves the old file."""

    def __init__(self, path: Path | None, source: Any) -> None:
        self.path = path
        self._source = source
        self._out: Any = None
        self._tmp: Path | None = None

    def __enter__(self) -> _Writer:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            self._out = self._tmp.open("wb")
            _write_frame(self._out, _ENCODE(_Header(format=FORMAT)))
        return self

    def add(self, frame: bytes | tuple[int, int]) -> None:
        if self._out is None:
            return
        if isinstance(frame, tuple):
            frame = os.pread(self._source.fileno(), frame[1], frame[0])
        _write_frame(self._out, frame)

    def __exit__(self, error: type[BaseException] | None, *exc: object) -> None:
        if self._out is None:
            return
        self._out.close()
        assert self._tmp is not None and self.path is not None
        if error is None:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)


def _read_frame(fh: Any) -> bytes:
    """One length-prefixed frame; b"" at the end of the file."""
    length = fh.read(_LENGTH)
    if not length:
        return b""
    size = int.from_bytes(length, "little")
    data = fh.read(size)
    if len(length) != _LENGTH or len(data) != size:
        raise ValueError("truncated cache file")
    return data


def _write_frame(out: Any, frame: bytes) -> None:
    out.write(len(frame).to_bytes(_LENGTH, "little"))
    out.write(frame)


# -- helpers ------------------------------------------------------------------------------------


class _RecordingEnv(Mapping[str, str]):
    """The environment, noting each variable discovery looks up: the snapshot is only valid
    while those still have the values they had (an adapter honours its tool's overrides)."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.read: dict[str, str | None] = {}

    def __getitem__(self, name: str) -> str:
        self.read[name] = self._env.get(name)
        return self._env[name]

    def get(self, name: str, default: Any = None) -> Any:
        self.read[name] = self._env.get(name)
        return self._env.get(name, default)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.read[name] = self._env.get(name)
        return name in self._env

    def __iter__(self) -> Iterator[str]:
        raise TypeError("discovery must look variables up by name")

    def __len__(self) -> int:
        return len(self._env)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsing builds a few hundred thousand objects that all live until the report is made;
    the cyclic garbage collector would walk them again and again (measured: a third of the
    run), and they hold no reference cycles for it to find."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

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
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
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
"""Below this many unread bytes, starting worker processes costs more than it saves (about
0.2 s of parsing on one core)."""
BATCH_BYTES = 2 << 20
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

Place = tuple[int, int]
"""(offset, length) of a unit's frame in the current cache file."""


def load(env: Mapping[str, str], home: Path, cache_dir: Path | None) -> tuple[list[Session], Counter[str]]:
    """Every session in this machine's agent logs, merged and deduplicated, using the cache."""
    with _collector_paused():
        discovery_env = _RecordingEnv(env)
        roots = [str(root) for adapter in adapters.ADAPTERS for root in adapter.discover(discovery_env, home)]
        with _Store(cache_dir / CACHE_FILE if cache_dir else None) as store:
            previous = offline.load_snapshot(cache_dir) if cache_dir else None
            tree, units = _appended_only(previous, discovery_env.read, str(home), store) or (
                snapshot.take(roots, discovery_env.read, str(home)), None)
            stats = tree.files()
            unchanged = {path: unit for path, unit in store.units.items() if _unchanged(path, unit, stats)}
            if units is None:
                units = adapters.discover(discovery_env, home, {path: unit.adapter for path, unit in unchanged.items()})
            unread = _unread(stats, store, unchanged)
            corpus = Corpus()
            with store.writer() as out, _Reader(_workers(env, unread), unread, store.enabled) as reader:
                for unit, frame in _in_order(units, unchanged, store, stats, reader):
                    out.add(frame)
                    corpus.skipped.update(unit.skipped)
                    for session in unit.sessions:
                        corpus.add_session(session)
            if cache_dir is not None:
                offline.save_snapshot(cache_dir, tree)
        return corpus.finish(), corpus.skipped


def _appended_only(
    previous: snapshot.Snapshot | None, env: dict[str, str | None], home: str, store: _Store,
) -> tuple[snapshot.Snapshot, list[tuple[Adapter, Path]]] | None:
    """The new snapshot and the units, without walking, when only cached logs changed.

    The previous snapshot's paths are stat'ed again. When the only stats that changed are
    those of cached single-file units (logs were appended to), no directory gained or lost an
    entry, so the walk would find the same units in the same order: the cached ones. A
    changed log is identified again (its head may have changed). None when a walk is needed.
    """
    if previous is None or not store.read or previous.env != env or previous.home != home:
        return None
    tree = previous.restat()
    units = store.units
    changed = {path for path, old, new in zip(tree.paths, previous.stats, tree.stats) if old != new}
    if any(path not in units or path not in units[path].cursors for path in changed):
        return None
    stats = tree.files()
    if any(stats.get(path, snapshot.MISSING) == snapshot.MISSING for path in units):
        return None  # a cached unit is gone (or the snapshot is older than the cache file)
    found: list[tuple[Adapter, Path]] = []
    for key, unit in units.items():
        try:
            adapter = adapters.by_name(unit.adapter)
            if key in changed and adapters.identify(Path(key)) is not adapter:
                return None
        except adapters.FormatError:
            return None
        found.append((adapter, Path(key)))
    return tree, found


def _in_order(
    units: Iterator[tuple[Adapter, Path]], unchanged: Mapping[str, Unit], store: _Store,
    stats: Mapping[str, snapshot.Stat], reader: _Reader,
) -> Iterator[tuple[Unit, bytes | Place]]:
    """Each unit in discovery order with its cache frame (the old frame's place when unchanged).

    The merge must see units in discovery order (when two copies of a call tie, the first one's
    session keeps it), so a unit waits for those before it. Units to read go to the reader as
    discovery finds them, so that workers parse while the walk goes on.
    """
    slots: deque[tuple[Unit | None, bytes | Place | _Ticket]] = deque()
    for adapter, path in units:
        key = str(path)
        previous = store.previous(key, adapter.name)
        if previous is not None and key in unchanged:
            slots.append((previous, store.place(key)))
        else:
            size = stats.get(key, snapshot.MISSING)[0]
            slots.append((previous, reader.submit((adapter.name, key, previous.cursors if previous else {}), size)))
        yield from _done(slots, store, reader.behind)
    reader.flush()
    yield from _done(slots, store, lambda: True)


def _done(
    slots: deque[tuple[Unit | None, bytes | Place | _Ticket]], store: _Store, hold: Callable[[], bool],
) -> Iterator[tuple[Unit, bytes | Place]]:
    """The units at the head of `slots` whose reading is over; while `hold()` says so, the
    merge also waits for those still being read."""
    while slots:
        previous, frame = slots[0]
        if isinstance(frame, _Ticket):
            if not frame.ready() and not hold():
                return
            unit, frame = frame.result()
            if previous is not None:
                unit = _extend(previous, unit)
                frame = _ENCODE(unit) if store.enabled else b""
        else:
            assert previous is not None
            unit = previous
        slots.popleft()
        yield unit, frame


def _unchanged(path: str, unit: Unit, stats: Mapping[str, snapshot.Stat]) -> bool:
    """A single-file unit whose size and mtime match its cursor need not be opened."""
    cursor = unit.cursors.get(path)
    return cursor is not None and stats.get(path) == (cursor.size, cursor.mtime_ns)


def _unread(stats: Mapping[str, snapshot.Stat], store: _Store, unchanged: Mapping[str, Unit]) -> int:
    """About how many bytes there are to read: every file below the log roots, less what the
    cache read of those that changed (decides, before the walk, whether workers are worth it)."""
    total = 0
    for path, (size, _) in stats.items():
        if size <= 0 or path in unchanged:
            continue
        cached = store.units.get(path)
        cursor = cached.cursors.get(path) if cached else None
        total += max(size - (cursor.offset if cursor else 0), 0)
    return total


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


def _read_batch(batch: list[Todo]) -> list[bytes]:
    """In a worker: the frames of a run of units (bytes travel between processes cheaply)."""
    return [_ENCODE(read_unit(*item)) for item in batch]


class _Ticket:
    """A unit being read: here (already done), or as item `index` of a worker's batch."""

    __slots__ = ("_batch", "_index", "_unit")

    def __init__(self, batch: _Batch | None = None, index: int = 0, unit: tuple[Unit, bytes] | None = None) -> None:
        self._batch, self._index, self._unit = batch, index, unit

    def ready(self) -> bool:
        return self._unit is not None or (self._batch is not None and self._batch.ready())

    def result(self) -> tuple[Unit, bytes]:
        if self._unit is None:
            assert self._batch is not None
            frame = self._batch.take(self._index)
            self._unit = (_UNIT.decode(frame), frame)
        return self._unit


class _Batch:
    """Units sent to a worker together; their frames once it is done."""

    def __init__(self) -> None:
        self.items: list[Todo] = []
        self.size = 0
        self.job: Any = None
        self.left = 0
        """Frames not taken yet: the batch holds memory until the merge took them all."""

    def ready(self) -> bool:
        return self.job is not None and self.job.ready()

    def take(self, index: int) -> bytes:
        self.left -= 1
        return self.job.get()[index]


class _Reader:
    """Reads units in this process, or, with several workers, in batches of about BATCH_BYTES
    (fewer when that would leave a worker idle), at most a few batches ahead of the merge:
    results wait for it in memory."""

    def __init__(self, workers: int, unread: int, encode: bool) -> None:
        self.workers = workers
        self.encode = encode
        """Encode the units read here (for the cache); a worker's are always encoded, to send them."""
        self._target = max(min(BATCH_BYTES, unread // (4 * workers)), 1)
        self._pool: Any = None
        self._batch = _Batch()
        self._sent: deque[_Batch] = deque()

    def __enter__(self) -> _Reader:
        if self.workers > 1:
            import multiprocessing

            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            self._pool = context.Pool(self.workers, initializer=gc.disable)
        return self

    def submit(self, todo: Todo, size: int) -> _Ticket:
        if self._pool is None:
            unit = read_unit(*todo)
            return _Ticket(unit=(unit, _ENCODE(unit) if self.encode else b""))
        batch = self._batch
        ticket = _Ticket(batch, len(batch.items))
        batch.items.append(todo)
        batch.size += max(size, 0)
        if batch.size >= self._target:
            self.flush()
        return ticket

    def flush(self) -> None:
        """Send the batch being filled."""
        if self._pool is not None and self._batch.items:
            self._batch.job = self._pool.apply_async(_read_batch, (self._batch.items,))
            self._batch.left = len(self._batch.items)
            self._sent.append(self._batch)
            self._batch = _Batch()

    def behind(self) -> bool:
        """True while more batches are out than the merge has taken: it must catch up first."""
        while self._sent and not self._sent[0].left:
            self._sent.popleft()
        return len(self._sent) > 2 * self.workers

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()


def _workers(env: Mapping[str, str], unread: int) -> int:
    """`AGENTSPEND_WORKERS` worker processes when set (1: read in this process); else one per
    core this process may use, once there are `PARALLEL_BYTES` to read."""
    try:
        return max(int(env["AGENTSPEND_WORKERS"]), 1)
    except (KeyError, ValueError):
        pass
    if unread < PARALLEL_BYTES:
        return 1
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
        self.read = False
        """A cache file was read: `units` is what the last run found, not merely nothing."""
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
        self.read = True

    def previous(self, path: str, adapter: str) -> Unit | None:
        """The cached unit at `path`, if the same adapter read it."""
        unit = self.units.get(path)
        return unit if unit is not None and unit.adapter == adapter else None

    def place(self, path: str) -> tuple[int, int]:
        return self._places[path]

    def writer(self) -> _Writer:
        """The next cache file, written when a unit was read or went away."""
        return _Writer(self.path, self._file, len(self._places))

    def __enter__(self) -> _Store:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()


class _Writer:
    """The next cache file, written frame by frame beside the current one (an unchanged unit's
    frame is copied from it) and renamed over it once complete, so a killed run leaves the old
    file. It is only started by the first new frame: while every unit is unchanged and still
    there, nothing is written at all."""

    def __init__(self, path: Path | None, source: Any, previous: int) -> None:
        self.path = path
        self._source = source
        self._previous = previous
        self._held: list[Place] = []
        self._out: Any = None
        self._tmp: Path | None = None

    def __enter__(self) -> _Writer:
        return self

    def add(self, frame: bytes | Place) -> None:
        if self.path is None:
            return
        if self._out is None:
            if isinstance(frame, tuple):
                self._held.append(frame)
                return
            self._start()
        self._write(frame)

    def _start(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._out = self._tmp.open("wb")
        _write_frame(self._out, _ENCODE(_Header(format=FORMAT)))
        for place in self._held:
            self._write(place)
        self._held = []

    def _write(self, frame: bytes | Place) -> None:
        if isinstance(frame, tuple):
            frame = os.pread(self._source.fileno(), frame[1], frame[0])
        _write_frame(self._out, frame)

    def __exit__(self, error: type[BaseException] | None, *exc: object) -> None:
        if self.path is None:
            return
        if self._out is None:
            if error is not None or len(self._held) == self._previous:
                return  # the cache file already holds exactly these frames
            self._start()  # units went away: write the rest without them
        self._out.close()
        assert self._tmp is not None
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

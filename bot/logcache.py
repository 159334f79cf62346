"""This machine's agent logs, each parsed once: what a log unit yielded is cached with its cursors.

A run compares the log directories with the snapshot the cache belongs to (bot.snapshot). When
only logs the cache knows were appended to, the units are the cached ones; otherwise the roots
are walked, reusing the identity of every file whose size and mtime did not change. Units whose
files did not change come from the cache; the others are read from where their cursors stopped,
by one worker process per core when there is much to read. Both paths run the same
`read_unit`, and units are merged in discovery order, so they give the same report.

The cache is one file: a header, one msgpack frame per unit in discovery order, and an index
of the frames (path, adapter, stamp, place) at the end. A run reads the index and decodes each
frame only when it merges it, so memory holds the merged corpus and one unit, not both. An
unchanged unit's frame is copied as it is into the next file. Frames are written before the
corpus merges (and the pricing fills) the spans they decode to, which both change spans in
place.
"""

from __future__ import annotations

import gc
import os
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from bot import adapters, offline, snapshot
from bot.adapters.base import Adapter, Cursor
from bot.corpus import Corpus
from bot.trace import Session

CACHE_FILE = "units.msgpack"
FORMAT = 3

PARALLEL_BYTES = 24 << 20
"""Below this many unread bytes, starting worker processes costs more than it saves (about
0.2 s of parsing on one core)."""
BATCH_BYTES = 8 << 20
"""About this many unread bytes go to a worker at a time: small enough to balance the load and
to stream results to the merge, large enough that sending them costs little (measured at 1 GB:
2 MB batches kept the workers 40 % idle behind the parent's pool threads, a tenth slower)."""


class Unit(msgspec.Struct):
    """What one log unit yielded so far, and where each of its files was read up to."""

    path: str
    adapter: str
    stamp: tuple[int, int, int] | None
    """(offset, size, mtime_ns) of the cursor of a single-file unit's file: enough to tell it
    unchanged, or how much of it is left, without decoding `cursors`."""
    cursors: msgspec.Raw
    """Every file's cursor (dict[str, Cursor]), kept encoded: only a unit read on needs them."""
    sessions: list[Session]
    skipped: dict[str, int]

    def cursors_of(self) -> dict[str, Cursor]:
        return _CURSORS.decode(self.cursors)


class Entry(msgspec.Struct, array_like=True):
    """A unit's line in the cache file's index."""

    path: str
    adapter: str
    stamp: tuple[int, int, int] | None
    place: tuple[int, int]
    """(offset, length) of its frame."""


class _Header(msgspec.Struct):
    format: int


def _unit(path: str, adapter: str, cursors: dict[str, Cursor], sessions: list[Session], skipped: dict[str, int]) -> Unit:
    own = cursors.get(path)
    stamp = (own.offset, own.size, own.mtime_ns) if own is not None else None
    return Unit(path, adapter, stamp, msgspec.Raw(_ENCODE(cursors)), sessions, skipped)


def _decode(frame: bytes) -> Unit:
    """A unit from its frame, its repeated strings made one object again: as the adapter made
    them (a model name is a call's model and name, a call's id its tools' parent; a session's
    repeated command has one hash), and across units (a working directory, a branch). Decoded
    separately, they took a tenth of the memory of a large report."""
    unit = _UNIT.decode(frame)
    shared = _SHARED
    for session in unit.sessions:
        if session.cwd is not None:
            session.cwd = shared.setdefault(session.cwd, session.cwd)
        if session.branch is not None:
            session.branch = shared.setdefault(session.branch, session.branch)
        ids = {span.span_id: span.span_id for span in session.spans}
        hashes: dict[str, str] = {}
        for span in session.spans:
            span.name = shared.setdefault(span.name, span.name)
            if span.model is not None:
                span.model = shared.setdefault(span.model, span.model)
            if span.provider is not None:
                span.provider = shared.setdefault(span.provider, span.provider)
            if span.tool_name is not None:
                span.tool_name = shared.setdefault(span.tool_name, span.tool_name)
            if span.tool_input_hash is not None:  # a command a session runs again and again
                span.tool_input_hash = hashes.setdefault(span.tool_input_hash, span.tool_input_hash)
            if span.error_kind is not None:
                span.error_kind = shared.setdefault(span.error_kind, span.error_kind)
            if span.parent_id is not None:
                span.parent_id = ids.get(span.parent_id, span.parent_id)
    return unit


_SHARED: dict[str, str] = {}
"""Names, directories and branches seen in this process: few distinct values (hashes and times,
mostly distinct in real logs, are not kept here, or this would grow as large as what it saves)."""

_ENCODE = msgspec.msgpack.Encoder().encode
_UNIT = msgspec.msgpack.Decoder(Unit)
_CURSORS = msgspec.msgpack.Decoder(dict[str, Cursor])
_HEADER = msgspec.msgpack.Decoder(_Header)
_INDEX = msgspec.msgpack.Decoder(list[Entry])
_LENGTH = 4
_TRAILER = 8
"""The last bytes of the file: where the index frame starts."""

Todo = tuple[str, str, dict[str, Cursor]]
"""(adapter name, unit path, the cursors to resume from): one unit to read."""


def load(env: Mapping[str, str], home: Path, cache_dir: Path | None) -> tuple[list[Session], Counter[str]]:
    """Every session in this machine's agent logs, merged and deduplicated, using the cache.

    The end of a run holds every session at once, so what only reading needs (the previous
    snapshot, the cache index, the stats) is gone before the sessions are finished and the
    snapshot is recorded: at 1 GB of logs, a re-run after an append peaked 10 MB higher with
    all of it still held (165 MB, against 142 for a cold run).
    """
    _keep_large_buffers_apart()
    with _collector_paused():
        corpus = Corpus()
        tree = _read_into(corpus, env, home, cache_dir)
        sessions, skipped = corpus.finish(), corpus.skipped
        del corpus  # its index of every span id, a tenth of the sessions' size
        if cache_dir is not None:
            offline.save_snapshot(cache_dir, tree)
        return sessions, skipped


def _read_into(corpus: Corpus, env: Mapping[str, str], home: Path, cache_dir: Path | None) -> snapshot.Snapshot:
    """Merge every unit into `corpus`, writing the next cache file; the snapshot of the log
    directories taken before any log was read, which that cache file belongs to."""
    discovery_env = _RecordingEnv(env)
    roots = [(str(root), adapter.lists_root_parents)
             for adapter in adapters.ADAPTERS for root in adapter.discover(discovery_env, home)]
    with _Store(cache_dir / CACHE_FILE if cache_dir else None) as store:
        tree, units = _survey(cache_dir, discovery_env, home, store, roots)
        stats = tree.files()
        unchanged = {path for path, entry in store.index.items() if _unchanged(entry, stats)}
        if units is None:
            units = adapters.discover(discovery_env, home, {path: store.index[path].adapter for path in unchanged})
        unread = _unread(stats, store, unchanged)
        with store.writer() as out, _Reader(_workers(env, unread), unread, store.enabled) as reader:
            for unit, frame in _in_order(units, unchanged, store, stats, reader):
                out.add(unit, frame)
                corpus.skipped.update(unit.skipped)
                for session in unit.sessions:
                    corpus.add_session(session)
    return tree


def _survey(
    cache_dir: Path | None, discovery_env: _RecordingEnv, home: Path, store: _Store, roots: list[tuple[str, bool]],
) -> tuple[snapshot.Snapshot, list[tuple[Adapter, Path]] | None]:
    """The snapshot of the log directories now, and the units when the previous snapshot says
    which they are (None: walk). The previous snapshot is not needed past this."""
    previous = offline.load_snapshot(cache_dir) if cache_dir else None
    return _appended_only(previous, discovery_env.read, str(home), store) or (
        snapshot.take(roots, discovery_env.read, str(home)), None)


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
    index = store.index
    changed = {path for path, old, new in zip(tree.paths, previous.stats, tree.stats) if old != new}
    if any(path not in index or index[path].stamp is None for path in changed):
        return None
    stats = tree.files()
    if any(stats.get(path, snapshot.MISSING) == snapshot.MISSING for path in index):
        return None  # a cached unit is gone (or the snapshot is older than the cache file)
    found: list[tuple[Adapter, Path]] = []
    for key, entry in index.items():
        try:
            adapter = adapters.by_name(entry.adapter)
            if key in changed and adapters.identify(Path(key)) is not adapter:
                return None
        except adapters.FormatError:
            return None
        found.append((adapter, Path(key)))
    return tree, found


def _in_order(
    units: Iterable[tuple[Adapter, Path]], unchanged: set[str], store: _Store,
    stats: Mapping[str, snapshot.Stat], reader: _Reader,
) -> Iterator[tuple[Unit, bytes | Entry]]:
    """Each unit in discovery order with its cache frame (its index entry when unchanged).

    The merge must see units in discovery order (when two copies of a call tie, the first one's
    session keeps it), so a unit waits for those before it. Units to read go to the reader as
    discovery finds them, so that workers parse while the walk goes on.
    """
    slots: deque[tuple[Unit | Entry | None, _Ticket | None]] = deque()
    for adapter, path in units:
        key = str(path)
        entry = store.take(key, adapter.name)
        if entry is not None and key in unchanged:
            slots.append((entry, None))
        else:
            previous = store.unit(entry) if entry is not None else None
            cursors = previous.cursors_of() if previous is not None else {}
            size = stats.get(key, snapshot.MISSING)[0]
            slots.append((previous, reader.submit((adapter.name, key, cursors), size)))
        yield from _done(slots, store, reader.behind)
    reader.flush()
    yield from _done(slots, store, lambda: True)


def _done(
    slots: deque[tuple[Unit | Entry | None, _Ticket | None]], store: _Store, hold: Callable[[], bool],
) -> Iterator[tuple[Unit, bytes | Entry]]:
    """The units at the head of `slots` whose reading is over; while `hold()` says so, the
    merge also waits for those still being read."""
    while slots:
        cached, ticket = slots[0]
        if ticket is None:
            assert isinstance(cached, Entry)
            unit, frame = store.unit(cached), cached
            if unit is None:  # its frame cannot be decoded after all: read the log again
                unit = read_unit(cached.adapter, cached.path, {})
                frame = _ENCODE(unit) if store.enabled else b""
        elif ticket.ready() or hold():
            unit, frame = ticket.result()
            if isinstance(cached, Unit):
                unit = _extend(cached, unit)
                frame = _ENCODE(unit) if store.enabled else b""
        else:
            return
        slots.popleft()
        yield unit, frame


def _unchanged(entry: Entry, stats: Mapping[str, snapshot.Stat]) -> bool:
    """A single-file unit whose size and mtime match its cursor need not be opened."""
    return entry.stamp is not None and stats.get(entry.path) == entry.stamp[1:]


def _unread(stats: Mapping[str, snapshot.Stat], store: _Store, unchanged: set[str]) -> int:
    """About how many bytes there are to read: every file below the log roots, less what the
    cache read of those that changed (decides, before the walk, whether workers are worth it)."""
    total = 0
    for path, (size, _) in stats.items():
        if size <= 0 or path in unchanged:
            continue
        entry = store.index.get(path)
        offset = entry.stamp[0] if entry is not None and entry.stamp is not None else 0
        total += max(size - offset, 0)
    return total


def _extend(previous: Unit, fresh: Unit) -> Unit:
    """The cached unit with what a read from its cursors added; a file read again from the
    start (it shrank or was replaced) makes the cached sessions void."""
    old, new = previous.cursors_of(), fresh.cursors_of()
    restarted = any(path in old and cursor.offset < old[path].offset for path, cursor in new.items())
    return _unit(
        previous.path,
        previous.adapter,
        old | new,
        fresh.sessions if restarted else previous.sessions + fresh.sessions,
        dict(Counter(fresh.skipped) if restarted else Counter(previous.skipped) + Counter(fresh.skipped)),
    )


# -- reading: in this process, or in one worker per core ----------------------------------------


def read_unit(adapter: str, path: str, cursors: dict[str, Cursor]) -> Unit:
    """Parse one unit from its cursors: the only parsing code, whichever process runs it."""
    result = adapters.by_name(adapter).read(Path(path), cursors)
    return _unit(path, adapter, result.cursors, result.sessions, dict(result.skipped))


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
            self._unit = (_decode(frame), frame)
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
        """Frame `index`, given up by the batch: what the merge took is not held twice."""
        self.left -= 1
        frames = self.job.get()  # the same list at every call
        frame, frames[index] = frames[index], b""
        return frame


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
    """The previous cache file: its index, and each unit's frame on demand."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.enabled = path is not None
        self.index: dict[str, Entry] = {}
        self.read = False
        """A cache file was read: `index` is what the last run found, not merely nothing."""
        self._file: Any = None
        if path is not None:
            self._open(path)

    def _open(self, path: Path) -> None:
        try:
            fh = path.open("rb")
        except OSError:
            return
        try:
            if _HEADER.decode(_read_frame(fh)).format != FORMAT:
                raise ValueError("another cache format")
            size = fh.seek(0, os.SEEK_END)
            fh.seek(size - _TRAILER)
            fh.seek(int.from_bytes(fh.read(_TRAILER), "little"))
            index = {entry.path: entry for entry in _INDEX.decode(_read_frame(fh))}
            if any(entry.place[0] + entry.place[1] > size for entry in index.values()):
                raise ValueError("frames beyond the end of the file")
        except (msgspec.DecodeError, ValueError, OSError):
            fh.close()
            return  # an unreadable cache is an empty one: everything is read again
        self.index, self._file, self.read = index, fh, True

    def take(self, path: str, adapter: str) -> Entry | None:
        """The cached unit at `path`, if the same adapter read it, taken out of the index: the
        merge asks for each unit once, so the index empties as the next file's fills (both
        whole at once were 10 MB more peak memory at 1 GB of logs)."""
        entry = self.index.pop(path, None)
        return entry if entry is not None and entry.adapter == adapter else None

    def frame(self, entry: Entry) -> bytes:
        offset, length = entry.place
        return os.pread(self._file.fileno(), length, offset)

    def unit(self, entry: Entry) -> Unit | None:
        """The cached unit, decoded now; None if its frame cannot be read (it is read again)."""
        try:
            return _decode(self.frame(entry))
        except (msgspec.DecodeError, OSError):
            return None

    def writer(self) -> _Writer:
        """The next cache file, written when a unit was read or went away."""
        return _Writer(self.path, self, len(self.index))

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

    def __init__(self, path: Path | None, source: _Store, previous: int) -> None:
        self.path = path
        self._source = source
        self._previous = previous
        self._held: list[Entry] = []
        self._index: list[Entry] = []
        self._file: offline.CacheFile | None = None

    def __enter__(self) -> _Writer:
        return self

    def add(self, unit: Unit, frame: bytes | Entry) -> None:
        if self.path is None or (self._file is not None and not self._file.writing):
            return  # no cache, or it could not be written: the run goes on without it
        if self._file is None:
            if isinstance(frame, Entry):
                self._held.append(frame)
                return
            self._start()
        if isinstance(frame, Entry):
            self._copy(frame)
        else:
            self._write(Entry(unit.path, unit.adapter, unit.stamp, (0, 0)), frame)

    def _start(self) -> None:
        assert self.path is not None
        self._file = offline.CacheFile(self.path.parent, self.path)
        _write_frame(self._file, _ENCODE(_Header(format=FORMAT)))
        for entry in self._held:
            self._copy(entry)
        self._held = []

    def _copy(self, entry: Entry) -> None:
        assert self._file is not None
        if not self._file.writing:
            return
        try:
            frame = self._source.frame(entry)
        except OSError as exc:  # the old file is unreadable now: the new one cannot be completed
            self._file.give_up(exc)
            return
        self._write(entry, frame)

    def _write(self, entry: Entry, frame: bytes) -> None:
        assert self._file is not None
        start = self._file.size + _LENGTH
        _write_frame(self._file, frame)
        self._index.append(Entry(entry.path, entry.adapter, entry.stamp, (start, len(frame))))

    def __exit__(self, error: type[BaseException] | None, *exc: object) -> None:
        if self.path is None:
            return
        if error is not None:
            if self._file is not None:
                self._file.discard()
            return
        if self._file is None:
            if len(self._held) == self._previous:
                return  # the cache file already holds exactly these frames
            self._start()  # units went away: write the rest without them
        assert self._file is not None
        if self._file.writing:
            at = self._file.size
            _write_frame(self._file, _ENCODE(self._index))
            self._file.write(at.to_bytes(_TRAILER, "little"))
        self._file.commit()


def _read_frame(fh: Any) -> bytes:
    """One length-prefixed frame."""
    size = int.from_bytes(fh.read(_LENGTH), "little")
    data = fh.read(size)
    if len(data) != size:
        raise ValueError("truncated cache file")
    return data


def _write_frame(out: offline.CacheFile, frame: bytes) -> None:
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


def _keep_large_buffers_apart() -> None:
    """Pin glibc's mmap threshold at its default (128 kB), before the parse allocates.

    glibc raises the threshold to the size of any mapped block freed, so after the first frames
    and worker results (hundreds of kB to MBs each) had come and gone, the later ones were
    carved out of the heap among long-lived objects and their space stayed with the process:
    5-10 MB more peak memory at 1 GB of logs. Elsewhere than glibc this does nothing.
    """
    import ctypes

    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 128 << 10)
    except (AttributeError, OSError):
        pass


_M_MMAP_THRESHOLD = -3
"""glibc's `M_MMAP_THRESHOLD` (malloc.h); setting it also turns the threshold's adjustment off."""


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Parsing builds a few hundred thousand objects that all live until the report is made;
    the cyclic garbage collector would walk them again and again (measured: a third of the
    run), and they hold no reference cycles for it to find. So it is off while they are
    built, and they are frozen afterwards: pricing and the report's aggregation, which
    allocate as well, no longer make it walk them either (reference counting still frees
    them)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()

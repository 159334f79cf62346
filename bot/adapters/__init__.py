"""The registry of agent-log adapters: which adapter owns a path, and where logs live locally.

A path two adapters claim is an error, not a guess (beangulp's rule): silently picking one
would price a log with the wrong token semantics.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from bot.adapters import claude_code, codex, copilot_cli, cursor_csv, gemini_cli, langsmith, opencode, otlp
from bot.adapters.base import HEAD_BYTES, Adapter, Cursor, FormatError, ParseResult

ADAPTERS: tuple[Adapter, ...] = (
    claude_code.ADAPTER,
    codex.ADAPTER,
    opencode.ADAPTER,
    gemini_cli.ADAPTER,
    otlp.ADAPTER,
    cursor_csv.ADAPTER,
    langsmith.ADAPTER,
    copilot_cli.ADAPTER,
)

__all__ = ["ADAPTERS", "Adapter", "Cursor", "FormatError", "ParseResult", "by_name", "discover", "identify", "walk"]


def by_name(name: str) -> Adapter:
    if name in _BY_NAME:
        return _BY_NAME[name]
    known = ", ".join(a.name for a in ADAPTERS)
    raise FormatError(f"unknown format {name!r} (known: {known})")


def identify(path: Path) -> Adapter | None:
    """The one adapter that claims `path`, None if none does; raises if several do."""
    is_file = path.is_file()
    return _identify(path, _head(path) if is_file else b"", _candidates(path, is_file))


def _candidates(path: Path, is_file: bool) -> tuple[Adapter, ...]:
    """The adapters that may claim `path` at all, by its suffix or for being a directory."""
    return _BY_SUFFIX.get(path.suffix.lower(), ()) if is_file else _OF_DIRECTORIES


def _identify(path: Path, head: bytes, candidates: tuple[Adapter, ...]) -> Adapter | None:
    claimed = [adapter for adapter in candidates if adapter.identify(path, head)]
    if len(claimed) > 1:
        names = ", ".join(a.name for a in claimed)
        raise FormatError(f"{path}: claimed by several formats ({names}); pass --format")
    return claimed[0] if claimed else None


_BY_NAME = {adapter.name: adapter for adapter in ADAPTERS}
_BY_SUFFIX = {
    suffix: tuple(adapter for adapter in ADAPTERS if suffix in adapter.suffixes)
    for suffix in {suffix for adapter in ADAPTERS for suffix in adapter.suffixes}
}
_OF_DIRECTORIES = tuple(adapter for adapter in ADAPTERS if adapter.claims_directories)


def walk(root: Path, forced: Adapter | None = None, known: Mapping[str, str] | None = None) -> Iterator[tuple[Adapter, Path]]:
    """Every (adapter, path) below `root`: a claimed directory is one unit, not walked into.

    Files no adapter claims are passed over silently: log directories hold settings, caches and
    sidecars that are not logs. With `forced`, a file named directly is always read with it, and
    below a directory only what `forced` claims is read, so ambiguity is settled by the user.

    `known` maps files whose first bytes are known not to have changed (the caller compared
    their size and mtime) to the name of the adapter that claimed them: they are not opened
    and identified again.
    """
    is_file = root.is_file()
    if forced is not None and is_file:
        yield forced, root
        return
    yield from _walk(root, forced, known or {}, is_file, not is_file and root.is_dir() and not root.is_symlink())


def _walk(
    path: Path, forced: Adapter | None, known: Mapping[str, str], is_file: bool, is_dir: bool,
) -> Iterator[tuple[Adapter, Path]]:
    """`is_file` follows links (a linked log is read); `is_dir` does not (nor does the walk)."""
    if forced is not None:
        adapter = forced if forced.identify(path, _head(path) if is_file else b"") else None
    elif (name := known.get(str(path))) in _BY_NAME:
        adapter = _BY_NAME[name]
    elif candidates := _candidates(path, is_file):
        adapter = _identify(path, _head(path) if is_file else b"", candidates)
    else:
        adapter = None
    if adapter is not None:
        yield adapter, path
        return
    if not is_dir:
        return
    try:
        entries = sorted(os.scandir(path), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        try:
            child_is_file, child_is_dir = entry.is_file(), entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        yield from _walk(path / entry.name, forced, known, child_is_file, child_is_dir)


def discover(
    env: Mapping[str, str] | None = None, home: Path | None = None, known: Mapping[str, str] | None = None,
) -> Iterator[tuple[Adapter, Path]]:
    """Every log unit on this machine, from each tool's own default location or override
    (`known` as for `walk`)."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    for adapter in ADAPTERS:
        for root in adapter.discover(env, home):
            if root.exists():
                for owner, path in walk(root, known=known):
                    if owner is adapter:
                        yield owner, path


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb", buffering=0) as fh:
            return fh.read(HEAD_BYTES)
    except OSError:
        return b""

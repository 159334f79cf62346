"""Fuzzing every adapter: real fixture logs with one value changed to anything, lines replaced
by arbitrary bytes, files cut anywhere. The only acceptable outcomes are sessions and counted
skips; no exception escapes `read`, pricing or the report, and a resumed read never crashes.

The number of examples is kept small for CI (`AGENTSPEND_FUZZ_EXAMPLES`, default 60 per test);
`bench/fuzz.py` runs the same properties for longer.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import adapters
from bot.adapters.base import Adapter
from bot.pricing import PriceBook
from bot.report import build
from conftest import AGENT_FIXTURES, FUZZ_RANDOM

EXAMPLES = int(os.environ.get("AGENTSPEND_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                derandomize=not FUZZ_RANDOM)
PRICES = PriceBook.load(None)


def _units() -> list[tuple[Adapter, Path]]:
    units = []
    for folder in sorted(AGENT_FIXTURES.iterdir()):
        if folder.is_dir():
            units.extend(adapters.walk(folder))
    return units


UNITS = _units()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12) | st.sampled_from(["", "0", "-1", "2026-13-45T99:00:00Z", "1e309", "null", "{", "\ud800"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _files(unit: Path) -> list[Path]:
    return [unit] if unit.is_file() else sorted(p for p in unit.rglob("*") if p.is_file())


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every location inside a decoded JSON document (dict keys and list indices)."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _replace(document: Any, where: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not where:
        return value
    parent = document
    for step in where[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = value
    return document


def _dump(document: Any) -> bytes:
    """Like the tools write it; NaN, infinities and lone surrogates come out as JSON no parser accepts."""
    return json.dumps(document, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _mutate_json(raw: bytes, pick: int, value: Any, delete: bool) -> bytes:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw
    locations = list(_paths(document))
    return _dump(_replace(document, locations[pick % len(locations)], value, delete))


def _copy(unit: Path, into: Path) -> Path:
    target = into / unit.name
    if unit.is_dir():
        shutil.copytree(unit, target)
    else:
        shutil.copy2(unit, target)
    return target


def _read_everything(adapter: Adapter, unit: Path) -> None:
    """Read, price and report; then append garbage and resume from the cursors: never raises."""
    result = adapter.read(unit)
    assert all(isinstance(n, int) and n >= 0 for n in result.skipped.values())
    PRICES.price_sessions(result.sessions)
    build.build(result.sessions, PRICES.source, dict(result.skipped))
    for path in result.cursors:
        with open(path, "ab") as fh:
            fh.write(b'\n{"type": "assistant", "message": {"usage": {"input_tokens": "many"}}}\n\x00\xff{')
    resumed = adapter.read(unit, result.cursors)
    PRICES.price_sessions(resumed.sessions)
    build.build(resumed.sessions, PRICES.source, dict(resumed.skipped))


def _with_copy(name: str, index: int, edit) -> None:  # noqa: ANN001 - edit(files) changes the copy in place
    units = [(a, u) for a, u in UNITS if a.name == name]
    adapter, unit = units[index % len(units)]
    with tempfile.TemporaryDirectory(prefix="agentspend-fuzz-") as tmp:
        copy = _copy(unit, Path(tmp))
        edit(_files(copy))
        _read_everything(adapter, copy)


NAMES = sorted({a.name for a, _ in UNITS})
each_adapter = pytest.mark.parametrize("name", NAMES)


def test_there_are_units_of_every_native_adapter() -> None:
    assert set(NAMES) >= {"claude-code", "codex", "opencode", "gemini-cli"}


@each_adapter
@FUZZ
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6), JSON_VALUES, st.booleans())
def test_one_value_anywhere_changed_to_anything(name: str, unit: int, which: int, pick: int, value: Any, delete: bool) -> None:
    def edit(files: list[Path]) -> None:
        path = files[which % len(files)]
        data = path.read_bytes()
        if path.suffix == ".jsonl":
            lines = data.split(b"\n")
            line = which % len(lines)
            lines[line] = _mutate_json(lines[line], pick, value, delete)
            path.write_bytes(b"\n".join(lines))
        elif path.suffix == ".json":
            path.write_bytes(_mutate_json(data, pick, value, delete))

    _with_copy(name, unit, edit)


@each_adapter
@FUZZ
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.binary(max_size=200))
def test_a_line_replaced_by_arbitrary_bytes(name: str, unit: int, which: int, garbage: bytes) -> None:
    def edit(files: list[Path]) -> None:
        path = files[which % len(files)]
        lines = path.read_bytes().split(b"\n")
        lines[which % len(lines)] = garbage
        path.write_bytes(b"\n".join(lines))

    _with_copy(name, unit, edit)


@each_adapter
@FUZZ
@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**9))
def test_a_file_cut_anywhere(name: str, unit: int, which: int, at: int) -> None:
    def edit(files: list[Path]) -> None:
        path = files[which % len(files)]
        data = path.read_bytes()
        path.write_bytes(data[: at % (len(data) + 1)])

    _with_copy(name, unit, edit)

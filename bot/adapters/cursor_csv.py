"""Read Cursor's usage export (dashboard → Usage → Export CSV): one llm span per row.

The export has no session, repository or branch (docs/agent-formats.md §8): a row is one
request of one account. Rows are grouped into one session per account and UTC day, keyed so
that overlapping exports of the same period land on the same rows again. Columns are found by
header name (three header variants are known); the four token columns are disjoint, and the
`Cost` column — `0.19`, `$0.80`, or words such as `Included` — is kept as the reported cost
when it is a number, for reconciliation against our price.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from bot.adapters.base import Cursor, ParseResult, parse_time, whole_file_cursor
from bot.trace import Origin, Runtime, RunType, Session, Span, Tokens

_COLUMNS = {
    "cache_write_5m": "Input (w/ Cache Write)",
    "input": "Input (w/o Cache Write)",
    "cache_read": "Cache Read",
    "output": "Output Tokens",
}
_REQUIRED = ("Date", "Model", *_COLUMNS.values())


class _Adapter:
    name = "cursor-csv"
    runtime = Runtime.CURSOR
    suffixes = frozenset({".csv"})
    claims_directories = False
    lists_root_parents = False

    def identify(self, path: Path, head: bytes) -> bool:
        """A `.csv` whose header names Cursor's columns."""
        if path.suffix.lower() != ".csv" or not head:
            return False
        header = head.split(b"\n", 1)[0].decode("utf-8-sig", "replace")
        return all(column in header for column in _REQUIRED)

    def read(self, path: Path, cursors: Mapping[str, Cursor] | None = None) -> ParseResult:
        """The whole file every time: an export is rewritten, not appended to."""
        stamp = whole_file_cursor(path)  # before reading: a rewrite meanwhile is read next time
        result = ParseResult()
        text = path.read_bytes().decode("utf-8-sig", "replace")
        sessions: dict[str, Session] = {}
        for row in _rows(text, result.skipped):
            span = _span(row, result.skipped)
            if span is None or span.started_at is None:
                continue
            key = f"cursor:usage:{_account(row)}:{span.started_at.date().isoformat()}"
            session = sessions.setdefault(key, Session(key=key, runtime=Runtime.CURSOR, source=str(path)))
            session.spans.append(span)
            session.observe_time(span.started_at)
        result.sessions = list(sessions.values())
        result.cursors[str(path)] = stamp
        return result

    def discover(self, env: Mapping[str, str], home: Path) -> Iterable[Path]:
        return []  # exports are downloaded by hand, wherever the user puts them


ADAPTER = _Adapter()


def _rows(text: str, skipped: Counter[str]) -> Iterator[dict[str, str | None]]:
    """The export's rows; a row the csv module cannot read (a stray carriage return, a field
    over its size limit) is counted and the next one read."""
    rows = csv.DictReader(io.StringIO(text, newline=""))
    while True:
        try:
            yield next(rows)
        except StopIteration:
            return
        except csv.Error:
            skipped["malformed_row"] += 1


def _span(row: dict[str, str | None], skipped: Counter[str]) -> Span | None:
    at = parse_time((row.get("Date") or "").strip())
    model = (row.get("Model") or "").strip() or None
    try:
        counts = {field: _count(row.get(column)) for field, column in _COLUMNS.items()}
    except ValueError:
        skipped["bad_row"] += 1
        return None
    if at is None:
        skipped["row_without_date"] += 1
        return None
    tokens = Tokens(**counts)
    fingerprint = repr((row.get("Date"), model, row.get("Kind"), tuple(counts.values()), _account(row)))
    return Span(
        span_id=f"cursor:usage:{hashlib.blake2b(fingerprint.encode(), digest_size=12).hexdigest()}",
        run_type=RunType.LLM, name=model or "unknown", started_at=at, model=model, tokens=tokens,
        reported_cost_usd=_cost(row.get("Cost")), origin=Origin.LOG,
    )


def _count(value: str | None) -> int:
    text = (value or "0").strip().replace(",", "") or "0"
    number = int(text)
    if number < 0:
        raise ValueError(text)
    return number


def _cost(value: str | None) -> float | None:
    """`0.19`, `$0.80` → USD; `Included`, `Free`, `-` → None (not a number, not zero)."""
    text = (value or "").strip().removeprefix("$").replace(",", "")
    try:
        cost = float(text)
    except ValueError:
        return None
    return cost if math.isfinite(cost) and cost >= 0 else None


def _account(row: dict[str, str | None]) -> str:
    """A short digest of the `User` column (an e-mail address) when the export has one."""
    user = (row.get("User") or "").strip().lower()
    return hashlib.blake2b(user.encode(), digest_size=6).hexdigest() if user else "me"

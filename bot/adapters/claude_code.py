"""Placeholder: being written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from bot.adapters.base import Cursor, ParseResult
from bot.trace import Runtime


class _Adapter:
    name = "claude-code"
    runtime = Runtime.CLAUDE_CODE

    def identify(self, path: Path, head: bytes) -> bool:
        return False

    def read(self, path: Path, cursors: Mapping[str, Cursor] | None = None) -> ParseResult:
        return ParseResult()

    def discover(self, env: Mapping[str, str], home: Path) -> Iterable[Path]:
        return ()


ADAPTER = _Adapter()

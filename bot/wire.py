"""The serialised form of sessions: for uploads, the report cache and golden files.

msgspec encodes and decodes the trace dataclasses directly, so the wire form cannot drift
from the model, and decoding validates types on the way in.
"""

from __future__ import annotations

from typing import Any

import msgspec

from bot.trace import Session

_json_decoder = msgspec.json.Decoder(list[Session])
_msgpack_decoder = msgspec.msgpack.Decoder(list[Session])


def to_json(sessions: list[Session]) -> bytes:
    return msgspec.json.encode(sessions)


def from_json(data: bytes) -> list[Session]:
    """Raises `msgspec.ValidationError` / `msgspec.DecodeError` on a malformed batch."""
    return _json_decoder.decode(data)


def to_msgpack(sessions: list[Session]) -> bytes:
    return msgspec.msgpack.encode(sessions)


def from_msgpack(data: bytes) -> list[Session]:
    return _msgpack_decoder.decode(data)


def to_builtins(sessions: list[Session]) -> list[dict[str, Any]]:
    """Plain dicts (for golden files and JSON APIs)."""
    return msgspec.to_builtins(sessions)

"""Webhook deliveries on their way into the table: requests that arrive together share a commit.

One transaction per request spends a webhook's time on round trips and a commit each; at a
few hundred deliveries a second the acknowledgements fall seconds behind. Here a single writer
stores every delivery that arrived while the previous commit was under way in one statement
(group commit). A request still waits until its own row is committed: nothing is acknowledged
that a crash could lose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db import deliveries
from bot.db.engine import session_scope

log = logging.getLogger(__name__)
MAX_ROWS = 500
MAX_BYTES = 16 * 1024 * 1024
"""One statement carries at most this many deliveries or payload bytes (bodies reach 25 MB)."""


class Intake:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._waiting: deque[tuple[deliveries.Received, asyncio.Future[bool]]] = deque()
        self._writing: list[tuple[deliveries.Received, asyncio.Future[bool]]] = []
        """The batch being committed: a shutdown that cancels the commit must still answer it."""
        self._wake = asyncio.Event()

    async def store(self, received: deliveries.Received) -> bool:
        """True once the delivery is committed, False if its id was stored before; raises what
        storing raised (the database is down: the caller answers 503)."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((received, done))
        self._wake.set()
        return await done

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        writer = asyncio.create_task(self._write_forever(), name="webhook-intake")
        try:
            yield
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            for _, done in (*self._writing, *self._waiting):
                if not done.done():
                    done.set_exception(ConnectionError("shutting down before the delivery was stored"))

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                self._writing = self._take()
                await self._write(self._writing)
                self._writing = []

    def _take(self) -> list[tuple[deliveries.Received, asyncio.Future[bool]]]:
        batch, size = [], 0
        while self._waiting and len(batch) < MAX_ROWS and (not batch or size + len(self._waiting[0][0].payload) <= MAX_BYTES):
            item = self._waiting.popleft()
            batch.append(item)
            size += len(item[0].payload)
        return batch

    async def _write(self, batch: list[tuple[deliveries.Received, asyncio.Future[bool]]]) -> None:
        try:
            async with session_scope(self._engine) as db:
                new = await deliveries.store_many(db, [received for received, _ in batch])
        except Exception as exc:  # noqa: BLE001 - handed to every request in the batch, which answers 503
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        claimed: set[str] = set()
        for received, done in batch:
            first = received.id in new and received.id not in claimed
            claimed.add(received.id)
            if not done.done():
                done.set_result(first)

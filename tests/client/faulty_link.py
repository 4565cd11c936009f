"""A wrapper around the client's real WebSocket link that injects faults for tests:
extra (garbage or replayed) messages, deliveries held back, a cut connection."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from client.core.connection import FrameLink, LinkClosed, open_websocket_link


class FaultyLink:
    """The real link, plus injected messages and a way to cut it."""

    def __init__(self, inner: FrameLink) -> None:
        self.inner = inner
        self.received: list[str | bytes] = []
        self.hold = False  # while set, pushed deliveries wait (replies still pass)
        self.held: list[str | bytes] = []
        self._send_in, self._receive_in = trio.open_memory_channel[str | bytes](math.inf)

    async def pump(self) -> None:
        try:
            while True:
                message = await self.inner.receive()
                self.received.append(message)
                if self.hold and '"type":"deliver"' in str(message):
                    self.held.append(message)
                    continue
                await self._send_in.send(message)
        except LinkClosed:
            pass
        finally:
            self._send_in.close()

    def release(self) -> None:
        """Let the held deliveries through, in order."""
        self.hold = False
        for message in self.held:
            self._send_in.send_nowait(message)
        self.held.clear()

    def inject(self, message: str | bytes) -> None:
        self._send_in.send_nowait(message)

    async def receive(self) -> str | bytes:
        try:
            return await self._receive_in.receive()
        except trio.EndOfChannel:
            raise LinkClosed("cut") from None

    async def send(self, message: str) -> None:
        await self.inner.send(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.inner.close(code, reason)


class Faults:
    """The links a client opened, newest last."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.links: list[FaultyLink] = []

    @asynccontextmanager
    async def open(self) -> AsyncIterator[FrameLink]:
        async with open_websocket_link(self.url) as inner:
            link = FaultyLink(inner)
            self.links.append(link)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(link.pump)
                yield link
                nursery.cancel_scope.cancel()

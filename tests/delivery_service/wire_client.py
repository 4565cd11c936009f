"""A thin protocol client for the delivery-service tests: frames over a real WebSocket.

Not the product's client core (issue 5 builds that on shared.protocol); just enough to
drive the server frame by frame and to see exactly what it answers.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio_websocket

from shared.protocol import (
    NONCE_SIZE,
    Deliver,
    Deliveries,
    Error,
    Frame,
    Hello,
    ServerFrame,
    decode_frame,
    encode_frame,
)


class WireClient:
    """Sends frames and reads the server's answers; pushed deliveries (``deliver``
    frames, and the items of ``deliveries`` frames when ``features`` asks for them) and
    unsolicited errors are kept aside until asked for. ``push_frames`` records the mids
    each pushed frame carried, in arrival order."""

    def __init__(
        self, ws: trio_websocket.WebSocketConnection, features: tuple[str, ...] = ()
    ) -> None:
        self.ws = ws
        self.features = features
        self._ids = itertools.count(1)
        self.delivered: deque[Deliver] = deque()
        self.push_frames: list[tuple[type[ServerFrame], list[int]]] = []
        self.unsolicited: deque[ServerFrame] = deque()
        self.last_nonce = b""

    @classmethod
    @asynccontextmanager
    async def connect(
        cls, url: str, *, features: tuple[str, ...] = (), **kwargs: Any
    ) -> AsyncIterator[WireClient]:
        async with trio_websocket.open_websocket_url(
            url, max_message_size=16 * 1024 * 1024, **kwargs
        ) as ws:
            yield cls(ws, features)

    def _pushed(self, frame: ServerFrame) -> bool:
        """Keep the deliveries of a pushed frame; False if ``frame`` is no push."""
        if isinstance(frame, Deliver):
            self.delivered.append(frame)
            self.push_frames.append((Deliver, [frame.mid]))
            return True
        if isinstance(frame, Deliveries):
            self.delivered.extend(frame.items)
            self.push_frames.append((Deliveries, [d.mid for d in frame.items]))
            return True
        return False

    def next_id(self) -> int:
        return next(self._ids)

    async def send_raw(self, data: str | bytes) -> None:
        await self.ws.send_message(data)

    async def send(self, frame: Frame) -> None:
        await self.ws.send_message(encode_frame(frame))

    async def read(self, timeout: float = 5) -> ServerFrame:
        with trio.fail_after(timeout):
            frame = decode_frame(await self.ws.get_message())
        return frame  # type: ignore[return-value]

    async def answer(self, re: int | None, timeout: float = 5) -> ServerFrame:
        """The next non-push frame answering ``re`` (keeps pushes and other frames)."""
        with trio.fail_after(timeout):
            while True:
                frame = await self.read(timeout)
                if self._pushed(frame):
                    pass
                elif getattr(frame, "re", None) == re:
                    return frame
                else:
                    self.unsolicited.append(frame)

    async def request(self, frame: Frame, timeout: float = 5) -> ServerFrame:
        await self.send(frame)
        return await self.answer(getattr(frame, "id", None), timeout)

    async def next_deliver(self, timeout: float = 5) -> Deliver:
        with trio.fail_after(timeout):
            while not self.delivered:
                frame = await self.read(timeout)
                if not self._pushed(frame):
                    self.unsolicited.append(frame)
        return self.delivered.popleft()

    async def next_error(self, timeout: float = 5) -> Error:
        with trio.fail_after(timeout):
            while True:
                if self.unsolicited:
                    frame = self.unsolicited.popleft()
                else:
                    frame = await self.read(timeout)
                if self._pushed(frame):
                    pass
                elif isinstance(frame, Error):
                    return frame

    async def no_push_within(self, seconds: float) -> bool:
        """True if no ``deliver`` arrives within ``seconds``."""
        if self.delivered:
            return False
        with trio.move_on_after(seconds):
            frame = await self.read(seconds + 1)
            if self._pushed(frame):
                return False
            self.unsolicited.append(frame)
        return not self.delivered

    def hello(self) -> Hello:
        """A fresh ``hello`` (its nonce is kept in ``last_nonce`` for the auth)."""
        self.last_nonce = os.urandom(NONCE_SIZE)
        return Hello(
            id=self.next_id(), client_nonce=self.last_nonce, client="tests", features=self.features
        )

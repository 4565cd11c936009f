"""How frames move: one small interface, a WebSocket implementation and an in-memory one.

The server's connection handler only calls ``receive``/``send``/``close``; whether the
text travels over a real socket (``WebSocketTransport``) or a trio memory channel
(``MemoryTransport``, for scenarios with thousands of members) changes nothing else.
"""

from __future__ import annotations

import math
from typing import Protocol

import trio
import trio_websocket
from wsproto.events import TextMessage
from wsproto.utilities import LocalProtocolError


class TransportClosed(Exception):
    """The peer (or we) closed the transport; ``code`` as in RFC 6455 §7.4."""

    def __init__(self, code: int | None = None, reason: str | None = None) -> None:
        super().__init__(f"transport closed ({code}: {reason})")
        self.code = code
        self.reason = reason


class FrameTransport(Protocol):
    """A message-oriented, ordered, reliable link carrying one frame per message."""

    async def receive(self) -> str | bytes:
        """The next message; raises ``TransportClosed`` when the link is gone."""
        ...

    async def send(self, message: str) -> None:
        """Send one message; raises ``TransportClosed`` when the link is gone."""
        ...

    async def send_many(self, messages: list[str]) -> None:
        """Send several messages in order (as one write where the transport can);
        raises ``TransportClosed`` when the link is gone."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the link (idempotent)."""
        ...


class WebSocketTransport:
    """``FrameTransport`` over a trio-websocket connection."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self._ws = ws

    async def receive(self) -> str | bytes:
        """Next WebSocket message."""
        try:
            return await self._ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc) from None

    async def send(self, message: str) -> None:
        """Send one text message."""
        try:
            await self._ws.send_message(message)
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc) from None

    async def send_many(self, messages: list[str]) -> None:
        """Send several text messages with one socket write.

        trio-websocket writes each message with its own ``send_all`` (one syscall, about
        as costly as the rest of a delivery). Here the messages are framed one by one by
        the connection's own wsproto state machine, in order, and the bytes written
        together under the connection's send lock: on the wire this is exactly the same
        WebSocket messages. It uses trio-websocket internals, so when they are not there
        (another version) it falls back to one ``send_message`` per message.
        """
        ws = self._ws
        proto = getattr(ws, "_wsproto", None)
        lock = getattr(ws, "_stream_lock", None)
        stream = getattr(ws, "_stream", None)
        if len(messages) == 1 or proto is None or lock is None or stream is None:
            for message in messages:
                await self.send(message)
            return
        try:
            if ws._close_reason:
                raise trio_websocket.ConnectionClosed(ws._close_reason)
            data = b"".join(proto.send(TextMessage(data=m)) for m in messages)
            async with lock:
                try:
                    await stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    await ws._abort_web_socket()
                    raise trio_websocket.ConnectionClosed(ws._close_reason) from None
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc) from None
        except LocalProtocolError:  # wsproto: the connection is closing
            raise TransportClosed(None, "closing") from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close handshake (bounded by the library's disconnect timeout)."""
        await self._ws.aclose(code, reason)


def _closed(exc: trio_websocket.ConnectionClosed) -> TransportClosed:
    reason = exc.reason
    return TransportClosed(None if reason is None else reason.code, getattr(reason, "reason", None))


class MemoryTransport:
    """One end of an in-memory link made by ``memory_transport_pair``."""

    def __init__(
        self,
        send_channel: trio.MemorySendChannel[str | bytes],
        receive_channel: trio.MemoryReceiveChannel[str | bytes],
    ) -> None:
        self._send = send_channel
        self._receive = receive_channel
        self._closed = False

    async def receive(self) -> str | bytes:
        """Next message from the other end."""
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise TransportClosed(1000, "closed") from None

    async def send(self, message: str | bytes) -> None:
        """Send one message to the other end."""
        try:
            await self._send.send(message)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise TransportClosed(1000, "closed") from None

    async def send_many(self, messages: list[str]) -> None:
        """Send several messages in order."""
        for message in messages:
            await self.send(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close both directions of this end."""
        if not self._closed:
            self._closed = True
            await self._send.aclose()
            await self._receive.aclose()


def memory_transport_pair(
    buffer: int | float = math.inf,
) -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected in-memory transports (client end, server end)."""
    a_send, b_receive = trio.open_memory_channel[str | bytes](buffer)
    b_send, a_receive = trio.open_memory_channel[str | bytes](buffer)
    return MemoryTransport(a_send, a_receive), MemoryTransport(b_send, b_receive)

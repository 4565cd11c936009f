"""How frames move: one small interface, a WebSocket implementation and an in-memory one.

The server's connection handler only calls ``receive``/``send``/``close``; whether the
text travels over a real socket (``WebSocketTransport``) or a trio memory channel
(``MemoryTransport``, for scenarios with thousands of members) changes nothing else.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Sequence
from typing import Protocol

import trio
import trio_websocket
from wsproto.connection import ConnectionState

from delivery_service.wire_frames import OutFrame


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

    async def send_frames(self, frames: Sequence[OutFrame]) -> None:
        """Send several frames in order (as one write where the transport can);
        raises ``TransportClosed`` when the link is gone."""
        ...

    def ready_nowait(self) -> bool:
        """True if ``send_nowait`` may be called now (no other write in progress)."""
        ...

    def send_nowait(self, frames: Sequence[OutFrame]) -> bool:
        """Write the frames without waiting, as far as the link takes them; False if a
        part is left, which the next ``send_frames`` (even of no frames) writes first.
        Only after ``ready_nowait`` returned True."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the link (idempotent)."""
        ...


class _TailFirstStream(trio.abc.HalfCloseableStream):
    """A connection's stream whose next write starts with what a non-blocking send left.

    trio-websocket writes through its connection's stream under its send lock (our
    writer, and its own pong and close frames); with this stream in place, whichever of
    them writes next sends the unsent tail of a partial non-blocking send first, so no
    frame can be cut into by another.
    """

    __slots__ = ("_chunk", "inner", "tail")

    def __init__(self, inner: trio.SocketStream) -> None:
        self.inner = inner
        # A view into the frame bytes shared by every recipient of a fan-out, not a copy
        # of them: a large frame left unsent to many slow readers is held once.
        self.tail: bytes | memoryview = b""
        self._chunk: bytearray | None = None

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Write the pending tail, then ``data``."""
        if self.tail:
            tail, self.tail = self.tail, b""
            await self.inner.send_all(tail)
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        """As the wrapped stream."""
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        """As the wrapped stream."""
        await self.inner.send_eof()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """As the wrapped stream, as a bytearray that the next call empties.

        trio-websocket's reader keeps its last chunk referenced while it waits for the
        next one, so an idle connection would hold its last frame's bytes (for a new
        session: the Auth frame, credential and all). wsproto has copied the chunk into
        its own buffer by the time the reader asks for more.
        """
        if self._chunk is not None:
            self._chunk.clear()
        chunk = self._chunk = bytearray(await self.inner.receive_some(max_bytes))
        return chunk

    async def aclose(self) -> None:
        """As the wrapped stream."""
        await self.inner.aclose()


class WebSocketTransport:
    """``FrameTransport`` over a trio-websocket connection.

    Frames go out as pre-built WebSocket messages (``OutFrame.websocket``: made once per
    fan-out, not once per recipient) written to the connection's stream under its send
    lock; on the wire these are exactly the messages trio-websocket would write.
    ``send_nowait`` goes one step further: when no write is in progress it hands the
    bytes to the kernel with a non-blocking ``send``, so a fan-out needs no task switch
    per recipient; a tail the kernel did not take is written first by the next write
    (``_TailFirstStream``). Both use trio-websocket and trio internals (the
    connection's wsproto state, stream and send lock; the stream's socket): when they
    are not there (another version, or TLS) it falls back to ``send_message`` and the
    writer task.
    """

    __slots__ = ("_raw", "_sock", "_tail_first", "_ws", "partial_sends")

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self._ws = ws
        proto = getattr(ws, "_wsproto", None)
        lock = getattr(ws, "_stream_lock", None)
        stream = getattr(ws, "_stream", None)
        self._raw = (
            proto is not None and isinstance(lock, trio.StrictFIFOLock) and stream is not None
        )
        self._sock: socket.socket | None = None
        self._tail_first: _TailFirstStream | None = None
        self.partial_sends = 0  # non-blocking sends that left a tail (tests, diagnosis)
        if self._raw and isinstance(stream, trio.SocketStream):
            sock = getattr(stream.socket, "_sock", None)
            if isinstance(sock, socket.socket):
                self._sock = sock
                self._tail_first = ws._stream = _TailFirstStream(stream)
        _drop_handshake_state(proto)

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

    def _open(self) -> bool:
        ws = self._ws
        return not ws._close_reason and ws._wsproto.state is ConnectionState.OPEN

    async def send_frames(self, frames: Sequence[OutFrame]) -> None:
        """Send frames in order with one socket write (after a pending tail, if any)."""
        if not self._raw:
            for frame in frames:
                await self.send(frame.text)
            return
        if not frames and not (self._tail_first and self._tail_first.tail):
            return
        ws = self._ws
        data = b"".join(f.websocket() for f in frames)
        try:
            if not self._open():
                raise trio_websocket.ConnectionClosed(ws._close_reason)
            async with ws._stream_lock:
                try:
                    await ws._stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    await ws._abort_web_socket()
                    raise trio_websocket.ConnectionClosed(ws._close_reason) from None
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc) from None

    def ready_nowait(self) -> bool:
        """No write in progress or pending on an open plain-TCP connection."""
        tail_first = self._tail_first
        return (
            tail_first is not None
            and not tail_first.tail
            and not self._ws._stream_lock.locked()
            and self._open()
        )

    def send_nowait(self, frames: Sequence[OutFrame]) -> bool:
        """One non-blocking ``send`` of the frames' bytes; False if part of them is
        left for the next write (``send_frames``, possibly with no frames)."""
        assert self._sock is not None and self._tail_first is not None
        data = (
            frames[0].websocket() if len(frames) == 1 else b"".join(f.websocket() for f in frames)
        )
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            sent = 0  # the next write meets the error and ends the connection
        if sent == len(data):
            return True
        self._tail_first.tail = memoryview(data)[sent:]
        self.partial_sends += 1
        return False

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close handshake (bounded by the library's disconnect timeout)."""
        await self._ws.aclose(code, reason)


def _drop_handshake_state(proto: object) -> None:
    """Free what wsproto keeps of a finished opening handshake (its HTTP/1.1 parser and
    the request): once the connection is open wsproto reads and writes only through the
    established connection, and the handshake's own event queue is only ever emptied.
    Part of an idle connection's memory (benchmarks/ds_fanout/idle_memory.py)."""
    handshake = getattr(proto, "handshake", None)
    if (
        getattr(proto, "connection", None) is not None
        and getattr(handshake, "state", None) is ConnectionState.OPEN
        and not getattr(handshake, "_events", True)
    ):
        for name in ("_h11_connection", "_initiating_request"):
            if hasattr(handshake, name):
                setattr(handshake, name, None)


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

    async def send_frames(self, frames: Sequence[OutFrame]) -> None:
        """Send several frames in order."""
        for frame in frames:
            await self.send(frame.text)

    def ready_nowait(self) -> bool:
        """Never: a memory channel's sends go through the writer task."""
        return False

    def send_nowait(self, frames: Sequence[OutFrame]) -> bool:
        """Not supported (``ready_nowait`` is always False)."""
        raise RuntimeError("a memory transport has no non-blocking send")

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

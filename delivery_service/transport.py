"""How frames move: one small interface, a WebSocket implementation and an in-memory one.

The server's connection handler only calls ``receive``/``send``/``close``; whether the
text travels over a real socket (``WebSocketTransport``) or a trio memory channel
(``MemoryTransport``, for scenarios with thousands of members) changes nothing else.
"""

from __future__ import annotations

import contextlib
import math
import socket
from collections.abc import Sequence
from typing import Protocol

import trio

from delivery_service.wire_frames import OutFrame, websocket_text_message
from shared.websocket import (
    CLOSE_ABNORMAL,
    CLOSE_NO_STATUS,
    CLOSE_NORMAL,
    Event,
    HandshakeRefused,
    PingReceived,
    ServerWebSocket,
    WebSocketError,
    accept_handshake,
    close_frame,
    handshake_head_end,
    pong_frame,
)


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


RECEIVE_BYTES = 65536  # per read of a connection's socket
# Messages handed out from one read's bytes before the reader lets the other tasks run:
# a read can hold thousands of small frames, and handing them out needs no wait.
MESSAGES_PER_TURN = 32
CLOSE_WAIT = 1.0  # seconds to wait for the peer's close frame after ours


class WebSocketTransport:
    """``FrameTransport`` over one accepted TCP connection speaking WebSocket
    (``shared.websocket``: the codec; ``accept_websocket``: the handshake).

    Messages are read and parsed in the task that asks for the next one (the
    connection's reader): no reader task and no channel per connection. Pings are
    answered and a close frame is echoed there too. Frames go out as pre-built
    WebSocket messages (``OutFrame.websocket``: made once per fan-out, not once per
    recipient). ``send_nowait`` hands them to the kernel with a non-blocking ``send``
    when no write is in progress, so a fan-out needs no task switch per recipient; a
    tail the kernel did not take is written first by the next write, whoever makes it
    (the writer task, a pong, a close frame), under the connection's write lock.
    """

    __slots__ = (
        "_close_sent",
        "_handed",
        "_lock",
        "_pending",
        "_protocol",
        "_received",
        "_sock",
        "_stream",
        "_tail",
        "_violation",
        "partial_sends",
    )

    def __init__(self, stream: trio.abc.Stream, max_message: int, received: bytes = b"") -> None:
        self._stream = stream
        self._protocol = ServerWebSocket(max_message)
        self._received = received  # bytes that came right behind the handshake
        self._pending: list[Event] | None = None  # parsed, not handed out yet
        self._handed = 0  # messages handed out since the last wait
        self._lock = trio.StrictFIFOLock()
        # A view into the frame bytes shared by every recipient of a fan-out, not a copy
        # of them: a large frame left unsent to many slow readers is held once.
        self._tail: bytes | memoryview = b""
        self._close_sent = False
        # A protocol violation whose preceding messages are still being handed out.
        self._violation: WebSocketError | None = None
        # The stdlib socket under trio's, for non-blocking sends and reads; another
        # stream (TLS, a test's memory stream) goes through its own methods instead.
        sock = getattr(getattr(stream, "socket", None), "_sock", None)
        self._sock = sock if isinstance(sock, socket.socket) else None
        self.partial_sends = 0  # non-blocking sends that left a tail (tests, diagnosis)

    async def receive(self) -> str | bytes:
        """Next WebSocket message (answering pings and a close on the way)."""
        while True:
            pending = self._pending
            while pending:
                if self._handed >= MESSAGES_PER_TURN:
                    self._handed = 0
                    await trio.lowlevel.checkpoint()  # before taking one: none is lost
                event = pending.pop(0)
                if not pending:
                    self._pending = pending = None
                if isinstance(event, str | bytes):
                    self._handed += 1
                    return event
                if isinstance(event, PingReceived):
                    await self._write(pong_frame(event.payload))
                    continue
                self._pending = None  # a close: nothing after it counts (§5.5.1)
                if not self._close_sent:
                    self._close_sent = True
                    code = CLOSE_NORMAL if event.code == CLOSE_NO_STATUS else event.code
                    with contextlib.suppress(TransportClosed), trio.move_on_after(CLOSE_WAIT):
                        await self._write(close_frame(code))
                raise TransportClosed(event.code, event.reason)
            if self._violation is not None:
                violation = self._violation
                if not self._close_sent:
                    self._close_sent = True
                    with contextlib.suppress(TransportClosed), trio.move_on_after(CLOSE_WAIT):
                        await self._write(close_frame(violation.code, violation.detail))
                raise TransportClosed(violation.code, violation.detail)
            data: bytes | None
            if self._received:
                data, self._received = self._received, b""
            else:
                self._handed = 0
                data = await self._read()
                if data is None:
                    continue
                if not data:
                    raise TransportClosed(CLOSE_ABNORMAL, "connection closed without a close")
            try:
                self._pending = self._protocol.receive_data(data) or None
            except WebSocketError as exc:
                # What the peer completed before the violation is handed out first (no
                # message it sent is lost); then the connection fails with its code.
                self._pending = list(exc.events) or None
                self._violation = exc

    async def _read(self) -> bytes | None:
        """The next bytes from the socket (b"" at its end; None: nothing after all).

        Waits for the socket to be readable first, then reads: a client's next frame is
        rarely there yet when its last one has been handled, so trying first (what
        ``receive_some`` does) costs a failed ``recv`` per frame."""
        sock = self._sock
        if sock is None:
            try:
                return bytes(await self._stream.receive_some(RECEIVE_BYTES))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise TransportClosed(CLOSE_ABNORMAL, "connection lost") from None
        try:
            await trio.lowlevel.wait_readable(sock)
            return sock.recv(RECEIVE_BYTES)
        except (BlockingIOError, InterruptedError):
            return None  # a spurious wake-up
        except (OSError, trio.ClosedResourceError):
            raise TransportClosed(CLOSE_ABNORMAL, "connection lost") from None

    async def _write(self, data: bytes) -> None:
        async with self._lock:
            try:
                if self._tail:
                    tail, self._tail = self._tail, b""
                    await self._stream.send_all(tail)
                if data:
                    await self._stream.send_all(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                raise TransportClosed(CLOSE_ABNORMAL, "connection lost") from None

    async def send(self, message: str) -> None:
        """Send one text message."""
        if self._close_sent:
            raise TransportClosed(CLOSE_NORMAL, "closing")
        await self._write(websocket_text_message(message.encode()))

    async def send_frames(self, frames: Sequence[OutFrame]) -> None:
        """Send frames in order with one socket write (after a pending tail, if any)."""
        if not frames and not self._tail:
            return
        if self._close_sent:
            raise TransportClosed(CLOSE_NORMAL, "closing")
        await self._write(b"".join(f.websocket() for f in frames))

    def ready_nowait(self) -> bool:
        """No write in progress or pending on an open plain-TCP connection."""
        return (
            self._sock is not None
            and not self._tail
            and not self._close_sent
            and not self._lock.locked()
        )

    def send_nowait(self, frames: Sequence[OutFrame]) -> bool:
        """One non-blocking ``send`` of the frames' bytes; False if part of them is
        left for the next write (``send_frames``, possibly with no frames)."""
        assert self._sock is not None
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
        self._tail = memoryview(data)[sent:]
        self.partial_sends += 1
        return False

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """Closing handshake (our close frame, then the peer's, at most ``CLOSE_WAIT``
        s each), then the TCP connection; idempotent."""
        if not self._close_sent:
            self._close_sent = True
            with contextlib.suppress(TransportClosed), trio.move_on_after(CLOSE_WAIT):
                await self._write(close_frame(code, reason))
                while True:  # until the peer's close frame, the end of the stream, or an error
                    await self.receive()
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            await self._stream.aclose()


async def accept_websocket(stream: trio.abc.Stream, max_message: int) -> WebSocketTransport | None:
    """Read a WebSocket opening request from ``stream`` and answer it: the open
    connection's transport, or None when the request was refused (with an HTTP error
    response naming why) or the peer went away."""
    data = bytearray()
    try:
        while True:
            chunk = await stream.receive_some(4096)
            if not chunk:
                return None
            data += chunk
            try:
                end = handshake_head_end(data)
                if end < 0:
                    continue
                response = accept_handshake(bytes(data[:end]))
            except HandshakeRefused as exc:
                await stream.send_all(exc.response)
                return None
            await stream.send_all(response)
            return WebSocketTransport(stream, max_message, bytes(data[end:]))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        return None


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

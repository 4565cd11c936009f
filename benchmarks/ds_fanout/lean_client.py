"""A lean WebSocket client for the load processes (RFC 6455, text messages only).

trio-websocket gives every connection a reader task, a wsproto state machine and a
message channel; with hundreds of connections per load process that per-message cost,
not the service, set the measured rates. This client does the opening handshake
(§4.1), writes masked text frames (§5.3), and parses the server's unmasked frames out
of its receive buffer in the task that asks for the next message: no extra task, no
channel. It answers pings and treats a close frame as the end of the connection. The
service under test and the bare floor are unchanged and both are driven by it.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections import deque
from urllib.parse import urlsplit

import trio


class LeanClosed(Exception):
    """The server closed the connection."""


class LeanWebSocket:
    """One client connection: ``send_message`` / ``get_message`` / ``aclose``."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self._stream = stream
        self._buffer = bytearray()
        self._messages: deque[str] = deque()
        self._send_lock = trio.Lock()

    @classmethod
    async def connect(cls, url: str) -> LeanWebSocket:
        parts = urlsplit(url)
        assert parts.scheme == "ws" and parts.hostname is not None
        stream = await trio.open_tcp_stream(parts.hostname, parts.port or 80)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        await stream.send_all(request.encode())
        ws = cls(stream)
        while b"\r\n\r\n" not in ws._buffer:
            chunk = await stream.receive_some(65536)
            if not chunk:
                raise LeanClosed("closed during the handshake")
            ws._buffer += chunk
        head, _, rest = bytes(ws._buffer).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise LeanClosed(f"handshake refused: {head[:80]!r}")
        ws._buffer = bytearray(rest)
        return ws

    async def send_message(self, text: str) -> None:
        await self._send_frame(0x1, text.encode())

    async def _send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            header = bytes((0x80 | opcode, 0x80 | n))
        elif n < 1 << 16:
            header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
        else:
            header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
        mask = os.urandom(4)
        keystream = (mask * (n // 4 + 1))[:n]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(keystream, "big")).to_bytes(
            n, "big"
        )
        async with self._send_lock:
            try:
                await self._stream.send_all(header + mask + masked)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise LeanClosed(str(exc)) from None

    async def get_message(self) -> str:
        while not self._messages:
            await self._parse_more()
        return self._messages.popleft()

    async def _parse_more(self) -> None:
        try:
            chunk = await self._stream.receive_some(262144)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise LeanClosed(str(exc)) from None
        if not chunk:
            raise LeanClosed("end of stream")
        buf = self._buffer
        buf += chunk
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            n = buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if end - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif n == 127:
                if end - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if end - pos < head + n:
                break
            payload = bytes(buf[pos + head : pos + head + n])
            pos += head + n
            opcode = b0 & 0x0F
            if not b0 & 0x80:
                raise LeanClosed("fragmented messages are not expected from the service")
            if opcode == 0x1:
                self._messages.append(payload.decode())
            elif opcode == 0x8:
                raise LeanClosed("close frame")
            elif opcode == 0x9:
                await self._send_frame(0xA, payload)
        del buf[:pos]

    async def aclose(self) -> None:
        with contextlib.suppress(LeanClosed):
            await self._send_frame(0x8, (1000).to_bytes(2, "big"))
        await self._stream.aclose()

"""The server side of WebSocket (RFC 6455), sans-I/O: the opening handshake's answer and
the frame codec of an open connection.

Bytes in, events out; bytes to write are returned, never written. ``transport`` puts
trio streams around it. The service reads every message in its connection's own task
with this codec: with trio-websocket each message went through a reader task and a
memory channel (two task switches) and wsproto's general-purpose parser, which together
were the largest share of the service's CPU per received frame at 1000 connections
(benchmarks/ds_fanout/RESULTS.md, fifth session).

What it enforces (RFC 6455 §5): client frames are masked (§5.3); reserved bits are
zero and no extension is negotiated (§5.2); a length is in its minimal form (§5.2);
control frames are final and at most 125 bytes (§5.5); continuation frames only inside
a fragmented message, and no new data frame inside one (§5.4); a text message is valid
UTF-8, checked fragment by fragment (§8.1: 1007); a close frame's
code is one a peer may send (§7.4); a message larger than the limit ends the connection
with 1009 before its payload is buffered. Any violation is a ``WebSocketError`` carrying
the close code. Handshake (§4.2): a GET with ``Upgrade: websocket``, ``Connection:
Upgrade``, ``Sec-WebSocket-Version: 13`` and a ``Sec-WebSocket-Key`` of 16 bytes, on any
path; extensions and subprotocols offered are not accepted (none are used).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
from dataclasses import dataclass
from typing import Final

_ACCEPT_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
MAX_HANDSHAKE_BYTES: Final = 16 * 1024  # request line and headers, at most

OP_CONTINUATION: Final = 0x0
OP_TEXT: Final = 0x1
OP_BINARY: Final = 0x2
OP_CLOSE: Final = 0x8
OP_PING: Final = 0x9
OP_PONG: Final = 0xA

CLOSE_NORMAL: Final = 1000
CLOSE_GOING_AWAY: Final = 1001
CLOSE_PROTOCOL_ERROR: Final = 1002
CLOSE_NO_STATUS: Final = 1005  # never sent: "the close frame had no code"
CLOSE_ABNORMAL: Final = 1006  # never sent: "the connection dropped without a close"
CLOSE_INVALID_DATA: Final = 1007
CLOSE_TOO_BIG: Final = 1009

# Close codes a peer may send (§7.4.1, §7.4.2): 1004-1006 and 1015 are reserved; 1012
# (service restart) and 1013 (try again later) are in IANA's registry and wsproto takes
# them, so a peer closing with one is not a protocol error.
_SENDABLE_CODES: Final = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013}
)
# §5.2: "the minimal number of bytes MUST be used to encode the length", and a 64-bit
# length's most significant bit MUST be 0 (wsproto fails both; so do we).
_NOT_MINIMAL: Final = "a payload length not in its minimal form (or over 2**63 - 1)"


class WebSocketError(Exception):
    """The peer broke the protocol; ``code`` is the close code to answer with.
    ``events`` are those the same ``receive_data`` call completed before the violation
    (valid messages the peer sent first: hand them out before failing the connection)."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.events: list[Event] = []


class HandshakeRefused(Exception):
    """The opening request is not a WebSocket upgrade we accept; ``response`` is the
    HTTP answer to write before closing."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail

    @property
    def response(self) -> bytes:
        """An HTTP/1.1 error response naming what was wrong."""
        body = self.detail.encode()
        reason = {400: "Bad Request", 426: "Upgrade Required"}.get(self.status, "Error")
        extra = "Sec-WebSocket-Version: 13\r\n" if self.status == 426 else ""
        return (
            f"HTTP/1.1 {self.status} {reason}\r\n{extra}Content-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body


def handshake_head_end(data: bytes | bytearray) -> int:
    """The length of the request head (through its blank line) in ``data``; -1 while it
    is incomplete. Raises ``HandshakeRefused`` when it is too long to be one."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if len(data) > MAX_HANDSHAKE_BYTES:
            raise HandshakeRefused(400, "request head too long")
        return -1
    if end + 4 > MAX_HANDSHAKE_BYTES:
        raise HandshakeRefused(400, "request head too long")
    return end + 4


def accept_handshake(head: bytes) -> bytes:
    """The 101 response to a WebSocket opening request ``head`` (request line and
    headers through the blank line); raises ``HandshakeRefused``."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise HandshakeRefused(400, "request head is not ASCII") from None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] != "GET" or parts[2] != "HTTP/1.1" or not parts[1]:
        raise HandshakeRefused(400, "expected 'GET <path> HTTP/1.1'")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or line[0] in " \t":
            raise HandshakeRefused(400, f"malformed header line {line[:40]!r}")
        headers.setdefault(name.lower(), []).append(value.strip())

    def tokens(name: str) -> set[str]:
        return {t.strip().lower() for v in headers.get(name, []) for t in v.split(",")}

    if "host" not in headers:
        raise HandshakeRefused(400, "missing Host header")
    if "websocket" not in tokens("upgrade"):
        raise HandshakeRefused(426, "expected 'Upgrade: websocket'")
    if "upgrade" not in tokens("connection"):
        raise HandshakeRefused(400, "expected 'Connection: Upgrade'")
    if headers.get("sec-websocket-version") != ["13"]:
        raise HandshakeRefused(426, "only WebSocket version 13 is supported")
    keys = headers.get("sec-websocket-key", [])
    try:
        if len(keys) != 1 or len(base64.b64decode(keys[0], validate=True)) != 16:
            raise ValueError
    except (ValueError, binascii.Error):
        raise HandshakeRefused(400, "Sec-WebSocket-Key must be 16 bytes in base64") from None
    accept = base64.b64encode(hashlib.sha1(keys[0].encode() + _ACCEPT_GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


@dataclass(frozen=True, slots=True)
class PingReceived:
    """A ping; answer with ``pong_frame(payload)``."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The peer started (or answered) the closing handshake."""

    code: int  # CLOSE_NO_STATUS when the frame carried none
    reason: str


Event = str | bytes | PingReceived | CloseReceived
"""A whole text (``str``) or binary (``bytes``) message, or a control event."""


def server_frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame (a server's, §5.2)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, n))
    elif n < 1 << 16:
        header = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return header + payload


def pong_frame(payload: bytes) -> bytes:
    """The pong answering a ping with ``payload``."""
    return server_frame(OP_PONG, payload)


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame with ``code`` and ``reason`` (cut to fit the 125-byte limit)."""
    data = reason.encode()[:123]
    while True:  # do not cut a character in two
        try:
            data.decode()
            break
        except UnicodeDecodeError:
            data = data[:-1]
    return server_frame(OP_CLOSE, code.to_bytes(2, "big") + data)


def _unmask(data: bytes | bytearray, start: int, end: int, mask: bytes) -> bytes:
    n = end - start
    if n == 0:
        return b""
    # XOR as one big-integer operation: C speed, with no per-byte Python loop.
    key = int.from_bytes((mask * ((n >> 2) + 1))[:n], "little")
    return (int.from_bytes(data[start:end], "little") ^ key).to_bytes(n, "little")


class ServerWebSocket:
    """The frame codec of one open server connection (after the handshake).

    ``receive_data`` returns the events that the bytes complete; a protocol violation
    raises ``WebSocketError`` (hand out its ``events``, then write
    ``close_frame(exc.code)`` and close). Nothing after a close frame is parsed.
    """

    __slots__ = (
        "_buffer",
        "_closed",
        "_fragments",
        "_opcode",
        "_size",
        "_utf8",
        "max_message",
    )

    def __init__(self, max_message: int) -> None:
        self.max_message = max_message
        self._buffer: bytearray | None = None  # an incomplete frame's bytes, grown in place
        self._fragments: list[bytes] | None = None  # a fragmented message's parts so far
        self._opcode = OP_TEXT  # the fragmented message's type
        self._size = 0  # its payload bytes so far
        # A fragmented text message's UTF-8 check, fed each fragment as it comes: §8.1's
        # failure is found at the first frame that cannot be UTF-8, not at the last
        # (as wsproto does; the connection is failed before what follows is handed out).
        self._utf8: codecs.IncrementalDecoder | None = None
        self._closed = False  # a close frame came: nothing after it is parsed (§5.5.1)

    def receive_data(self, data: bytes) -> list[Event]:
        """Parse ``data`` (following what came before); the events it completes."""
        if self._closed:
            return []
        buf: bytes | bytearray
        if self._buffer:
            self._buffer += data
            buf = self._buffer
        else:
            buf = data  # the usual case: parsed where it lies, no copy
        events: list[Event] = []
        try:
            pos = self._parse(buf, events)
        except WebSocketError as exc:
            exc.events = events
            raise
        if pos == len(buf):
            self._buffer = None
        elif buf is self._buffer:
            del buf[:pos]
        else:
            self._buffer = bytearray(buf[pos:])
        return events

    def _parse(self, buf: bytes | bytearray, events: list[Event]) -> int:
        """Parse the whole frames in ``buf`` into ``events``; where the rest begins."""
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            n = b1 & 0x7F
            head = pos + 2
            if n == 126:
                if end - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = pos + 4
                if n < 126:
                    raise WebSocketError(CLOSE_PROTOCOL_ERROR, _NOT_MINIMAL)
            elif n == 127:
                if end - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = pos + 10
                if n < 1 << 16 or n >> 63:
                    raise WebSocketError(CLOSE_PROTOCOL_ERROR, _NOT_MINIMAL)
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if b0 & 0x70:
                raise WebSocketError(CLOSE_PROTOCOL_ERROR, "reserved bits set")
            if not b1 & 0x80:
                raise WebSocketError(CLOSE_PROTOCOL_ERROR, "a client frame must be masked")
            if opcode >= OP_CLOSE:
                if not fin or n > 125:
                    raise WebSocketError(
                        CLOSE_PROTOCOL_ERROR, "a control frame must be final and <= 125 bytes"
                    )
            elif (self._size if opcode == OP_CONTINUATION else 0) + n > self.max_message:
                raise WebSocketError(
                    CLOSE_TOO_BIG, f"messages are limited to {self.max_message} bytes"
                )
            if end - head < 4 + n:
                break
            mask = bytes(buf[head : head + 4])
            payload = _unmask(buf, head + 4, head + 4 + n, mask)
            pos = head + 4 + n
            self._frame(opcode, bool(fin), payload, events)
            if opcode == OP_CLOSE:
                self._closed = True  # what follows a close is not data (§5.5.1)
                return end
        return pos

    def _frame(self, opcode: int, fin: bool, payload: bytes, events: list[Event]) -> None:
        if opcode in (OP_TEXT, OP_BINARY):
            if self._fragments is not None:
                raise WebSocketError(CLOSE_PROTOCOL_ERROR, "a new message inside a fragmented one")
            if fin:
                events.append(self._message(opcode, payload))
            else:
                self._fragments = [payload]
                self._opcode = opcode
                self._size = len(payload)
                if opcode == OP_TEXT:
                    self._utf8 = codecs.getincrementaldecoder("utf-8")()
                    self._check_utf8(payload, False)
        elif opcode == OP_CONTINUATION:
            fragments = self._fragments
            if fragments is None:
                raise WebSocketError(CLOSE_PROTOCOL_ERROR, "a continuation frame outside a message")
            fragments.append(payload)
            self._size += len(payload)
            if self._utf8 is not None:
                self._check_utf8(payload, fin)
            if fin:
                self._fragments = None
                self._size = 0
                self._utf8 = None
                events.append(self._message(self._opcode, b"".join(fragments)))
        elif opcode == OP_PING:
            events.append(PingReceived(payload))
        elif opcode == OP_PONG:
            pass  # unsolicited pongs are allowed (§5.5.3); we send no pings
        elif opcode == OP_CLOSE:
            events.append(_close_event(payload))
        else:
            raise WebSocketError(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")

    def _check_utf8(self, payload: bytes, final: bool) -> None:
        assert self._utf8 is not None
        try:
            self._utf8.decode(payload, final)
        except UnicodeDecodeError:
            raise WebSocketError(CLOSE_INVALID_DATA, "a text message is not UTF-8") from None

    @staticmethod
    def _message(opcode: int, payload: bytes) -> str | bytes:
        if opcode == OP_BINARY:
            return payload
        try:
            return payload.decode("utf-8")
        except UnicodeDecodeError:
            raise WebSocketError(CLOSE_INVALID_DATA, "a text message is not UTF-8") from None


def _close_event(payload: bytes) -> CloseReceived:
    if not payload:
        return CloseReceived(CLOSE_NO_STATUS, "")
    if len(payload) == 1:
        raise WebSocketError(CLOSE_PROTOCOL_ERROR, "a close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if code not in _SENDABLE_CODES and not 3000 <= code <= 4999:
        raise WebSocketError(CLOSE_PROTOCOL_ERROR, f"close code {code} may not be sent")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise WebSocketError(CLOSE_INVALID_DATA, "a close reason is not UTF-8") from None
    return CloseReceived(code, reason)

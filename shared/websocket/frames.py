"""RFC 6455 frames, sans-I/O, for both ends: building frames (a client's masked, a
server's not) and parsing a peer's into whole messages and control events.

What the reader enforces (§5): the peer's frames are masked when it is a client and
unmasked when it is a server (§5.1, §5.3); reserved bits are zero and no extension is
negotiated (§5.2); a length is in its minimal form (§5.2); control frames are final and at
most 125 bytes (§5.5); continuation frames only inside a fragmented message, and no new
data frame inside one (§5.4); a text message is valid UTF-8, checked fragment by fragment
(§8.1: 1007); a close frame's code is one a peer may send (§7.4); a message larger than
the limit ends the connection with 1009 before its payload is buffered. Any violation is
a ``WebSocketError`` carrying the close code.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass
from typing import Final

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


@dataclass(frozen=True, slots=True)
class PingReceived:
    """A ping; answer with a pong carrying ``payload``."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class CloseReceived:
    """The peer started (or answered) the closing handshake."""

    code: int  # CLOSE_NO_STATUS when the frame carried none
    reason: str


Event = str | bytes | PingReceived | CloseReceived
"""A whole text (``str``) or binary (``bytes``) message, or a control event."""


def _header(opcode: int, n: int, mask_bit: int) -> bytes:
    if n < 126:
        return bytes((0x80 | opcode, mask_bit | n))
    if n < 1 << 16:
        return bytes((0x80 | opcode, mask_bit | 126)) + n.to_bytes(2, "big")
    return bytes((0x80 | opcode, mask_bit | 127)) + n.to_bytes(8, "big")


def server_frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame (a server's, §5.1)."""
    return _header(opcode, len(payload), 0) + payload


def client_frame(opcode: int, payload: bytes, mask: bytes | None = None) -> bytes:
    """One final frame masked with ``mask`` (a client's, §5.3); by default a fresh mask
    from the operating system's random source, as §5.3 asks ("unpredictable")."""
    if mask is None:
        mask = os.urandom(4)
    elif len(mask) != 4:
        raise ValueError("a masking key is 4 bytes")
    return _header(opcode, len(payload), 0x80) + mask + xor_mask(payload, mask)


def xor_mask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """``data`` XOR the 4-byte ``mask`` repeated (§5.3: masking and unmasking are the
    same operation)."""
    n = len(data)
    if n <= _MASK_CHUNK:
        return _xor_int(data, mask, n)
    # Large payloads 16 KiB at a time: one big-integer XOR over a whole megabyte costs
    # 2-3x more per byte than over pieces that stay in the CPU's cache
    # (benchmarks/websocket_mask/README.md).
    key = int.from_bytes(mask * (_MASK_CHUNK >> 2), "little")
    view = memoryview(data)
    parts = [
        (int.from_bytes(view[i : i + _MASK_CHUNK], "little") ^ key).to_bytes(_MASK_CHUNK, "little")
        for i in range(0, n - _MASK_CHUNK + 1, _MASK_CHUNK)
    ]
    rest = n % _MASK_CHUNK
    if rest:
        parts.append(_xor_int(view[n - rest :], mask, rest))
    return b"".join(parts)


_MASK_CHUNK: Final = 16 * 1024  # a multiple of 4: every piece starts at the mask's start


def _xor_int(data: bytes | bytearray | memoryview, mask: bytes, n: int) -> bytes:
    if n == 0:
        return b""
    # XOR as one big-integer operation: C speed, with no per-byte Python loop (a
    # per-byte XOR is 12-50x slower: benchmarks/websocket_mask/README.md).
    key = int.from_bytes((mask * ((n >> 2) + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ key).to_bytes(n, "little")


def _close_payload(code: int, reason: str) -> bytes:
    data = reason.encode()[:123]
    while True:  # do not cut a character in two
        try:
            data.decode()
            break
        except UnicodeDecodeError:
            data = data[:-1]
    return code.to_bytes(2, "big") + data


def pong_frame(payload: bytes) -> bytes:
    """A server's pong answering a ping with ``payload``."""
    return server_frame(OP_PONG, payload)


def close_frame(code: int, reason: str = "") -> bytes:
    """A server's close frame with ``code`` and ``reason`` (cut to the 125-byte limit)."""
    return server_frame(OP_CLOSE, _close_payload(code, reason))


def client_pong_frame(payload: bytes) -> bytes:
    """A client's (masked) pong answering a ping with ``payload``."""
    return client_frame(OP_PONG, payload)


def client_close_frame(code: int, reason: str = "") -> bytes:
    """A client's (masked) close frame with ``code`` and ``reason`` (cut to fit)."""
    return client_frame(OP_CLOSE, _close_payload(code, reason))


class FrameReader:
    """The frame parser of one open connection (after the handshake): the peer's bytes
    in, whole messages and control events out. Use ``ServerWebSocket`` (reads a
    client's masked frames) or ``ClientWebSocket`` (reads a server's unmasked ones).

    ``receive_data`` returns the events that the bytes complete; a protocol violation
    raises ``WebSocketError`` (hand out its ``events``, then write a close frame with
    ``exc.code`` and close). Nothing after a close frame is parsed.
    """

    __slots__ = (
        "_buffer",
        "_closed",
        "_fragments",
        "_mask_bit",
        "_opcode",
        "_size",
        "_utf8",
        "max_message",
    )

    def __init__(self, max_message: int, *, masked: bool) -> None:
        self.max_message = max_message
        self._mask_bit = 0x80 if masked else 0  # what the peer's frames must carry
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
        mask_bit = self._mask_bit
        key_len = 4 if mask_bit else 0
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
            if b1 & 0x80 != mask_bit:
                raise WebSocketError(
                    CLOSE_PROTOCOL_ERROR,
                    "a client frame must be masked"
                    if mask_bit
                    else "a server frame must not be masked",
                )
            if opcode >= OP_CLOSE:
                if not fin or n > 125:
                    raise WebSocketError(
                        CLOSE_PROTOCOL_ERROR, "a control frame must be final and <= 125 bytes"
                    )
            elif (self._size if opcode == OP_CONTINUATION else 0) + n > self.max_message:
                raise WebSocketError(
                    CLOSE_TOO_BIG, f"messages are limited to {self.max_message} bytes"
                )
            start = head + key_len
            if end - start < n:
                break
            pos = start + n
            if key_len:
                payload = xor_mask(buf[start:pos], bytes(buf[head:start]))
            else:
                payload = bytes(buf[start:pos])
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
            pass  # unsolicited pongs are allowed (§5.5.3); neither end here sends pings
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


class ServerWebSocket(FrameReader):
    """A server's reader: the client's frames must be masked (§5.1)."""

    __slots__ = ()

    def __init__(self, max_message: int) -> None:
        super().__init__(max_message, masked=True)


class ClientWebSocket(FrameReader):
    """A client's reader: the server's frames must not be masked (§5.1)."""

    __slots__ = ()

    def __init__(self, max_message: int) -> None:
        super().__init__(max_message, masked=False)


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

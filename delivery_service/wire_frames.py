"""Server frames on their way out, and their WebSocket encoding made once for everyone.

A fan-out sends the same ``deliver`` frame to every recipient. Server-to-client
WebSocket frames are not masked (RFC 6455 §5.1) and this service negotiates no
extension, so the bytes of one message are the same on every connection: ``OutFrame``
builds them the first time a WebSocket connection needs them and every other recipient
reuses them.
"""

from __future__ import annotations

_OPCODE_TEXT_FIN = 0x81  # FIN bit + opcode 1 (text), RFC 6455 §5.2


def websocket_text_message(payload: bytes) -> bytes:
    """One unfragmented, unmasked text message (a server's frame, RFC 6455 §5.2)."""
    n = len(payload)
    if n < 126:
        header = bytes((_OPCODE_TEXT_FIN, n))
    elif n < 1 << 16:
        header = bytes((_OPCODE_TEXT_FIN, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((_OPCODE_TEXT_FIN, 127)) + n.to_bytes(8, "big")
    return header + payload


class OutFrame:
    """One encoded server frame: its JSON ``text`` and, on demand, its WebSocket bytes."""

    __slots__ = ("_websocket", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._websocket: bytes | None = None

    def websocket(self) -> bytes:
        """The complete WebSocket message carrying ``text`` (made once, then shared)."""
        data = self._websocket
        if data is None:
            data = self._websocket = websocket_text_message(self.text.encode())
        return data

    def __repr__(self) -> str:
        return f"OutFrame({self.text!r})"

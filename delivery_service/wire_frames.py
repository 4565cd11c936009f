"""Server frames on their way out, and their WebSocket encoding made once for everyone.

A fan-out sends the same message to every recipient. Server-to-client WebSocket frames
are not masked (RFC 6455 §5.1) and this service negotiates no extension, so the bytes of
one message are the same on every connection: ``OutFrame`` builds them the first time a
WebSocket connection needs them and every other recipient reuses them.

A stored message travels as a ``Delivery``: its item (the ``deliver`` frame's members)
encoded once. A recipient with one message ready gets the message's ``deliver`` frame,
shared by all its recipients; a recipient that asked for ``deliveries`` frames and has
several ready gets them spliced into one frame of its own (``pack_deliveries``): one
WebSocket message for the client to read instead of one per message.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.protocol import MAX_DELIVERIES_PER_FRAME, deliver_payload, deliveries_payload

_OPCODE_TEXT_FIN = 0x81  # FIN bit + opcode 1 (text), RFC 6455 §5.2

# Items per ``deliveries`` frame and their bytes, at most: well under the clients' frame
# limit (8 MiB), so that one frame never holds up a client's reader for long. A larger
# item (a big Welcome) goes in a ``deliver`` frame of its own.
BATCH_ITEMS = MAX_DELIVERIES_PER_FRAME
BATCH_BYTES = 1 << 20


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
    """One encoded server frame: its JSON ``text`` (or UTF-8 ``payload``) and, on demand,
    its WebSocket bytes."""

    __slots__ = ("_payload", "_text", "_websocket")

    def __init__(self, text: str | None = None, *, payload: bytes | None = None) -> None:
        if (text is None) == (payload is None):
            raise TypeError("an OutFrame is made from text or from payload bytes")
        self._text = text
        self._payload = payload
        self._websocket: bytes | None = None

    @property
    def text(self) -> str:
        """The frame's wire text."""
        if self._text is None:
            assert self._payload is not None
            self._text = self._payload.decode()
        return self._text

    def websocket(self) -> bytes:
        """The complete WebSocket message carrying the frame (made once, then shared)."""
        data = self._websocket
        if data is None:
            payload = self._payload if self._payload is not None else self.text.encode()
            data = self._websocket = websocket_text_message(payload)
        return data

    def __repr__(self) -> str:
        return f"OutFrame({self.text!r})"


class Delivery:
    """One stored message on its way to its recipients: its ``item`` (the UTF-8 JSON of a
    ``deliver`` frame's members, from ``shared.protocol.encode_delivery_item``) and its
    ``deliver`` frame, made when first needed and shared by every recipient."""

    __slots__ = ("_single", "item")

    def __init__(self, item: bytes) -> None:
        self.item = item
        self._single: OutFrame | None = None

    def single(self) -> OutFrame:
        """The message's own ``deliver`` frame."""
        frame = self._single
        if frame is None:
            frame = self._single = OutFrame(payload=deliver_payload(self.item))
        return frame


def pack_deliveries(mail: Sequence[Delivery], out: list[OutFrame]) -> None:
    """Append frames carrying ``mail`` in order to ``out``: runs of messages as
    ``deliveries`` frames (at most ``BATCH_ITEMS`` items and about ``BATCH_BYTES``), a
    message on its own as its shared ``deliver`` frame."""
    start = 0
    n = len(mail)
    while start < n:
        end = start + 1
        size = len(mail[start].item)
        while end < n and end - start < BATCH_ITEMS:
            size += len(mail[end].item) + 1
            if size > BATCH_BYTES:
                break
            end += 1
        if end - start == 1:
            out.append(mail[start].single())
        else:
            out.append(OutFrame(payload=deliveries_payload([d.item for d in mail[start:end]])))
        start = end

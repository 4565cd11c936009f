"""The framing between the runner and its client worker processes (sans-I/O).

A frame is a 4-byte big-endian length and a pickle of a list of messages: each side
gathers what it has to say while the previous frame is written, so a burst of client
events crosses the pipe as one frame. Both ends are this package on the same Python, and
the pipe is private to the parent and its child: pickle's trust model holds (it is never
used on anything read from a socket).

Messages are tuples whose first item says what they are:

runner -> worker: ``("launch", cid, LaunchOrder)``, ``("command", cid, Command)``,
``("close",)`` (stop every client, report, exit).

worker -> runner: ``("event", cid, CoreEvent)``, ``("stopped", cid, error or None)``,
``("report", dict)`` (the worker's figures, just before it exits).
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scenarios.model import Actor

HEADER = struct.Struct(">I")
# A frame larger than this is a protocol error, not a message (the largest real one is
# a burst of events of a 1000-member group: tens of MB).
MAX_FRAME = 1 << 30

Message = tuple[Any, ...]


class FrameError(Exception):
    """Bytes on a worker pipe that are not a frame of this protocol."""


@dataclass(frozen=True)
class LaunchOrder:
    """What a worker needs to start one client: ``ClientSpec`` with its callable chain
    already evaluated by the runner (only the runner holds the run's CA keys) and its key
    as PKCS#8 (key objects do not pickle)."""

    actor: Actor
    profile_dir: Path
    service_url: str
    ds_id: str
    trust_dir: Path
    key_pkcs8: bytes
    chain: tuple[bytes, ...]
    provider_secret: str


def encode(messages: list[Message]) -> bytes:
    """One frame holding ``messages``."""
    body = pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


class FrameDecoder:
    """Feed it bytes as they arrive; it returns the messages of every complete frame."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes | bytearray) -> list[Message]:
        """The messages completed by ``data`` (in order); FrameError on a bad frame."""
        self._buffer += data
        out: list[Message] = []
        while len(self._buffer) >= HEADER.size:
            (size,) = HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME:
                raise FrameError(f"frame of {size} bytes announced (limit {MAX_FRAME})")
            end = HEADER.size + size
            if len(self._buffer) < end:
                break
            body = bytes(self._buffer[HEADER.size : end])
            del self._buffer[:end]
            try:
                messages = pickle.loads(body)
            except Exception as exc:  # any unpickling failure is a protocol error
                raise FrameError(f"undecodable frame of {size} bytes: {exc}") from exc
            if not isinstance(messages, list) or not all(
                isinstance(m, tuple) and m for m in messages
            ):
                raise FrameError("a frame that is not a list of messages")
            out.extend(messages)
        return out

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self._buffer)

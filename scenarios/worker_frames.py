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

Values sent once per pipe (``FrameEncoder``): a member row (``MemberRow``, with its
``IdentityView``) crosses a pipe the first time it is sent, and afterwards as its number
on that pipe. Every joiner of a group reports the same N rows (its member list): at
N = 300 that was 90,000 rows pickled by the workers and unpickled by the runner, now
~300 per worker, and the runner's clients share those row objects (they are frozen).
A pipe's frames are decoded in order by one ``FrameDecoder``, which keeps the table.
"""

from __future__ import annotations

import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from client.core.events import MemberRow
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


# Frozen (immutable, hashable) values that many messages on one pipe repeat.
INTERNED: tuple[type, ...] = (MemberRow,)


def encode(messages: list[Message]) -> bytes:
    """One frame holding ``messages`` (nothing interned: any decoder reads it)."""
    body = pickle.dumps(messages, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


class _InterningPickler(pickle.Pickler):
    """Pickles an INTERNED value as its number once the pipe has carried it; the first
    time as (number, value). New numbers go to ``new`` (kept only if the dump works)."""

    def __init__(self, file: io.BytesIO, known: dict[object, int], new: dict[object, int]):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.known, self.new = known, new
        self.defining: object = None

    def persistent_id(self, obj: Any) -> Any:
        if type(obj) not in INTERNED or obj is self.defining:
            return None
        number = self.known.get(obj)
        if number is None:
            number = self.new.get(obj)
        if number is not None:
            return number
        number = len(self.known) + len(self.new)
        self.new[obj] = number
        self.defining = obj  # pickled in full inside its definition
        return (number, obj)


class FrameEncoder:
    """Frames for one pipe, whose other end decodes them in order with one
    ``FrameDecoder``: INTERNED values cross once (module docstring)."""

    def __init__(self) -> None:
        self._known: dict[object, int] = {}

    def encode(self, messages: list[Message]) -> bytes:
        """One frame holding ``messages``."""
        body = io.BytesIO()
        body.write(HEADER.pack(0))
        new: dict[object, int] = {}
        _InterningPickler(body, self._known, new).dump(messages)
        self._known.update(new)
        frame = body.getbuffer()
        HEADER.pack_into(frame, 0, len(frame) - HEADER.size)
        return bytes(frame)


class _InterningUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, table: list[object]) -> None:
        super().__init__(file)
        self.table = table

    def persistent_load(self, pid: Any) -> Any:
        if type(pid) is tuple and len(pid) == 2 and pid[0] == len(self.table):
            self.table.append(pid[1])
            return pid[1]
        if type(pid) is int and 0 <= pid < len(self.table):
            return self.table[pid]
        raise pickle.UnpicklingError(f"unknown interned value {pid!r}")


class FrameDecoder:
    """Feed it bytes as they arrive; it returns the messages of every complete frame."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._interned: list[object] = []  # the pipe's values by number (FrameEncoder)

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
                messages = _InterningUnpickler(io.BytesIO(body), self._interned).load()
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

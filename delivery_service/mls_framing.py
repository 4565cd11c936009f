"""The public framing of MLSMessages the service routes without any group state.

Application messages are PrivateMessages: their group id, epoch and content type are
in the clear (RFC 9420 §6.3), which is all the service needs to route them and to drop
those older than max_past_epochs. Parsed here in pure Python (it is the hot path of
fan-out, and needs no binding call).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MLS_VERSION_10: Final = 1
WIRE_FORMAT_PUBLIC: Final = 1
WIRE_FORMAT_PRIVATE: Final = 2
WIRE_FORMAT_WELCOME: Final = 3
WIRE_FORMAT_GROUP_INFO: Final = 4
WIRE_FORMAT_KEY_PACKAGE: Final = 5
CONTENT_TYPE_APPLICATION: Final = 1
CONTENT_TYPE_PROPOSAL: Final = 2
CONTENT_TYPE_COMMIT: Final = 3


class FramingError(ValueError):
    """The bytes are not the MLSMessage they should be; the message says why."""


@dataclass(frozen=True, slots=True)
class PrivateHeader:
    """The clear fields of a PrivateMessage."""

    group_id: bytes
    epoch: int
    content_type: int


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(data):
        raise FramingError("truncated length")
    first = data[pos]
    prefix = first >> 6
    if prefix == 3:
        raise FramingError("invalid variable-length integer prefix")
    size = 1 << prefix
    if pos + size > len(data):
        raise FramingError("truncated length")
    value = int.from_bytes(data[pos : pos + size], "big") & ((1 << (8 * size - 2)) - 1)
    if size > 1 and value < (1 << (8 * (size // 2) - 2)):
        raise FramingError("non-minimal variable-length integer")
    return value, pos + size


def wire_format(data: bytes) -> int:
    """The MLSMessage's wire_format (checks the protocol version is MLS 1.0)."""
    if len(data) < 4:
        raise FramingError("shorter than an MLSMessage header")
    version = int.from_bytes(data[0:2], "big")
    if version != MLS_VERSION_10:
        raise FramingError(f"protocol version {version} is not MLS 1.0")
    return int.from_bytes(data[2:4], "big")


def private_header(data: bytes) -> PrivateHeader:
    """Group id, epoch and content type of an MLSMessage(PrivateMessage)."""
    fmt = wire_format(data)
    if fmt != WIRE_FORMAT_PRIVATE:
        raise FramingError(f"wire format {fmt} is not a PrivateMessage")
    length, pos = _varint(data, 4)
    end = pos + length
    if end + 9 > len(data):
        raise FramingError("PrivateMessage truncated in its header")
    group_id = data[pos:end]
    epoch = int.from_bytes(data[end : end + 8], "big")
    content_type = data[end + 8]
    if content_type not in (CONTENT_TYPE_APPLICATION, CONTENT_TYPE_PROPOSAL, CONTENT_TYPE_COMMIT):
        raise FramingError(f"unknown content type {content_type}")
    return PrivateHeader(group_id, epoch, content_type)

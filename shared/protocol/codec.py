"""Wire codec of the protocol: frames <-> JSON text (one WebSocket message per frame).

``{"v":1,"type":"<name>", <fields>}``; bytes are base64url without padding, optional
fields that are None are omitted, unknown members are ignored (so a later version can
add optional fields), and everything else is checked strictly: a frame that does not
match its schema raises ``FrameError`` naming the member that is wrong.
"""

from __future__ import annotations

import binascii
import dataclasses
import enum
import json
import types
import typing
from collections.abc import Callable
from typing import Any, Final

from shared.protocol.messages import (
    FRAME_TYPES,
    MAX_DELIVERIES_PER_FRAME,
    PROTOCOL_VERSION,
    Ack,
    Deliver,
    DeliveryKind,
    ErrorCode,
    Frame,
    SendMessage,
)

_MAX_INT: Final = 2**63 - 1  # ids, epochs and mids are SQLite INTEGERs


class FrameError(ValueError):
    """A frame that cannot be decoded (or encoded).

    ``code`` is the ``ErrorCode`` a server answers with, ``re`` the request id when the
    frame had a readable one (so the error can name the request it refuses).
    """

    def __init__(self, code: ErrorCode, detail: str, re: int | None = None) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.code = code
        self.detail = detail
        self.re = re


def b64encode(data: bytes) -> str:
    """base64url without padding (RFC 4648 §5), the protocol's text form of bytes."""
    return binascii.b2a_base64(data, newline=False).decode("ascii").translate(_TO_URL).rstrip("=")


def b64decode(text: str) -> bytes:
    """Strict inverse of ``b64encode``; raises ValueError on any other character."""
    if "=" in text or "+" in text or "/" in text:
        raise ValueError("not base64url without padding")
    padded = text.translate(_FROM_URL) + "=" * (-len(text) % 4)
    try:
        return binascii.a2b_base64(padded.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise ValueError(f"not base64url: {exc}") from None


_TO_URL: Final = str.maketrans("+/", "-_")
_FROM_URL: Final = str.maketrans("-_", "+/")

# --- per-type field converters, built once from the dataclass annotations ---------------

_Decoder = Callable[[Any], Any]
_Encoder = Callable[[Any], Any]


def _decode_int(value: Any) -> int:
    if type(value) is not int or not 0 <= value <= _MAX_INT:
        raise ValueError("expected an integer in 0..2^63-1")
    return value


def _decode_bool(value: Any) -> bool:
    if type(value) is not bool:
        raise ValueError("expected true or false")
    return value


def _decode_str(value: Any) -> str:
    if type(value) is not str:
        raise ValueError("expected a string")
    return value


def _decode_bytes(value: Any) -> bytes:
    if type(value) is not str:
        raise ValueError("expected a base64url string")
    return b64decode(value)


def _identity(value: Any) -> Any:
    return value


def _tuple_of(item: _Decoder) -> _Decoder:
    def decode(value: Any) -> tuple[Any, ...]:
        if type(value) is not list:
            raise ValueError("expected a list")
        return tuple(item(v) for v in value)

    return decode


def _enum_decoder(cls: type[enum.StrEnum]) -> _Decoder:
    def decode(value: Any) -> enum.StrEnum:
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"unknown {cls.__name__} {value!r}") from None

    return decode


def _converters(tp: Any) -> tuple[_Decoder, _Encoder, bool]:
    """(decoder, encoder, optional) for an annotated field type."""
    if tp == tuple[Deliver, ...]:  # Deliveries.items: objects, not scalars
        return _decode_items, _encode_items, False
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported union {tp!r}")
        decode, encode, _ = _converters(args[0])
        return decode, encode, True
    if tp is bool:
        return _decode_bool, _identity, False
    if tp is int:
        return _decode_int, _identity, False
    if tp is str:
        return _decode_str, _identity, False
    if tp is bytes:
        return _decode_bytes, b64encode, False
    if isinstance(tp, type) and issubclass(tp, enum.StrEnum):
        return _enum_decoder(tp), lambda v: v.value, False
    if typing.get_origin(tp) is tuple:
        item_tp = typing.get_args(tp)[0]
        item_decode, item_encode, _ = _converters(item_tp)
        return _tuple_of(item_decode), lambda v: [item_encode(i) for i in v], False
    raise TypeError(f"unsupported field type {tp!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    decode: _Decoder
    encode: _Encoder
    optional: bool
    has_default: bool
    default: Any


@dataclasses.dataclass(frozen=True, slots=True)
class _Schema:
    wire_name: str
    cls: type[Frame]
    fields: tuple[_Field, ...]


def _schema(wire_name: str, cls: type[Frame]) -> _Schema:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        decode, encode, optional = _converters(hints[f.name])
        has_default = f.default is not dataclasses.MISSING
        out.append(_Field(f.name, decode, encode, optional, has_default, f.default))
    return _Schema(wire_name, cls, tuple(out))


def encode_frame(frame: Frame) -> str:
    """The wire text of ``frame`` (compact JSON)."""
    schema = _BY_CLASS.get(type(frame))
    if schema is None:
        raise TypeError(f"not a protocol frame: {type(frame).__name__}")
    obj: dict[str, Any] = {"v": PROTOCOL_VERSION, "type": schema.wire_name}
    _encode_members(schema, frame, obj)
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _encode_members(schema: _Schema, frame: Frame, obj: dict[str, Any]) -> dict[str, Any]:
    for f in schema.fields:
        value = getattr(frame, f.name)
        if value is None or value is False:  # absent = null = false (the defaults)
            continue
        if value == () and f.has_default and f.default == ():  # Hello.features: none
            continue
        obj[f.name] = f.encode(value)
    return obj


def request_id(data: str | bytes) -> int | None:
    """The ``id`` of the request in ``data`` without decoding the frame: for answering a
    frame that is refused before decoding (``rate_limited``). None when ``data`` is not a
    JSON object or its ``id`` is not an integer in 0..2^63-1; never raises."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if type(obj) is not dict:
        return None
    raw_id = obj.get("id")
    return raw_id if type(raw_id) is int and 0 <= raw_id <= _MAX_INT else None


def decode_frame(data: str | bytes) -> Frame:
    """Parse one wire message into its frame; raises ``FrameError`` naming the problem."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8
        raise FrameError(ErrorCode.MALFORMED_FRAME, f"not JSON: {exc}") from None
    if type(obj) is not dict:
        raise FrameError(ErrorCode.MALFORMED_FRAME, "a frame must be a JSON object")
    raw_id = obj.get("id", obj.get("re"))
    re = raw_id if type(raw_id) is int and 0 <= raw_id <= _MAX_INT else None
    version = obj.get("v")
    if version != PROTOCOL_VERSION or type(version) is not int:
        raise FrameError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"protocol version {version!r} not supported (this peer speaks {PROTOCOL_VERSION})",
            re,
        )
    name = obj.get("type")
    schema = _BY_NAME.get(name) if type(name) is str else None
    if schema is None:
        raise FrameError(ErrorCode.UNKNOWN_TYPE, f"unknown frame type {name!r}", re)
    fast = _FAST_PATHS.get(schema.wire_name)
    if fast is not None:
        frame = fast(obj)
        if frame is not None:
            return frame
    return _decode_fields(schema, obj, schema.wire_name, re)


def _decode_fields(schema: _Schema, obj: dict[str, Any], name: str, re: int | None) -> Frame:
    """The schema-driven decoder: every frame type, and the error naming what is wrong."""
    kwargs: dict[str, Any] = {}
    for f in schema.fields:
        value = obj.get(f.name)
        if value is None:
            if f.optional or f.has_default:
                if f.has_default:
                    kwargs[f.name] = f.default
                elif f.optional:
                    kwargs[f.name] = None
                continue
            raise FrameError(ErrorCode.MALFORMED_FRAME, f"{name}: missing member {f.name!r}", re)
        try:
            kwargs[f.name] = f.decode(value)
        except ValueError as exc:
            raise FrameError(ErrorCode.MALFORMED_FRAME, f"{name}.{f.name}: {exc}", re) from None
    return schema.cls(**kwargs)


# --- Deliveries.items: a list of deliver items ------------------------------------------


def _decode_items(value: Any) -> tuple[Deliver, ...]:
    if type(value) is not list:
        raise ValueError("expected a list")
    if not value:
        raise ValueError("expected at least one item")
    if len(value) > MAX_DELIVERIES_PER_FRAME:
        raise ValueError(f"at most {MAX_DELIVERIES_PER_FRAME} items, got {len(value)}")
    items = tuple(_decode_item(item, index) for index, item in enumerate(value))
    for index in range(1, len(items)):
        if items[index].mid <= items[index - 1].mid:
            raise ValueError(
                f"item {index}: mid {items[index].mid} after mid {items[index - 1].mid}"
                " (items must be in increasing mid order)"
            )
    return items


def _decode_item(value: Any, index: int) -> Deliver:
    if type(value) is not dict:
        raise ValueError(f"item {index} is not an object")
    fast = _fast_deliver(value)
    if fast is not None:
        return fast
    try:
        frame = _decode_fields(_BY_CLASS[Deliver], value, f"item {index}", None)
    except FrameError as exc:
        raise ValueError(exc.detail) from None
    assert isinstance(frame, Deliver)
    return frame


def _encode_items(items: tuple[Deliver, ...]) -> list[dict[str, Any]]:
    schema = _BY_CLASS[Deliver]
    return [_encode_members(schema, item, {}) for item in items]


# --- deliveries spliced from pre-encoded items (the service's fan-out) ------------------
# The service encodes each stored message once, as an item, and every recipient's frame
# is made from those bytes: a ``deliver`` frame per message (shared by all its
# recipients), or a ``deliveries`` frame per recipient that has several ready. The text
# is exactly what ``encode_frame`` makes of the same frame (tested).

_DELIVER_HEAD: Final = f'{{"v":{PROTOCOL_VERSION},"type":"deliver",'.encode()
_DELIVERIES_HEAD: Final = f'{{"v":{PROTOCOL_VERSION},"type":"deliveries","items":['.encode()


def encode_delivery_item(deliver: Deliver) -> bytes:
    """The UTF-8 JSON object of one delivery item: a ``deliver`` frame's members without
    ``v`` and ``type``."""
    obj = _encode_members(_BY_CLASS[Deliver], deliver, {})
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def deliver_payload(item: bytes) -> bytes:
    """The ``deliver`` frame (UTF-8 wire text) of an item from ``encode_delivery_item``."""
    return _DELIVER_HEAD + item[1:]


def deliveries_payload(items: typing.Sequence[bytes]) -> bytes:
    """The ``deliveries`` frame (UTF-8 wire text) carrying these items, in this order."""
    return _DELIVERIES_HEAD + b",".join(items) + b"]}"


# --- fast paths for the frames of the delivery hot path ---------------------------------
# A delivery costs the service one ``send`` from the sender and (about) one ``ack`` from
# each recipient; the schema-driven decoder costs 3-4x a ``json.loads`` for them. These
# accept exactly the well-formed frames the schema accepts and return None for anything
# else, which then goes through ``_decode_fields`` (and its error naming the member).


def _is_int(value: Any) -> typing.TypeGuard[int]:
    return type(value) is int and 0 <= value <= _MAX_INT


def _fast_ack(obj: dict[str, Any]) -> Frame | None:
    frame_id = obj.get("id")
    mids = obj.get("mids")
    quiet = obj.get("quiet")
    if (
        _is_int(frame_id)
        and type(mids) is list
        and (quiet is None or type(quiet) is bool)
        and all(type(m) is int and 0 <= m <= _MAX_INT for m in mids)
    ):
        return Ack(frame_id, tuple(mids), bool(quiet))
    return None


def _fast_send(obj: dict[str, Any]) -> Frame | None:
    frame_id = obj.get("id")
    group_id = obj.get("group_id")
    message = obj.get("message")
    if _is_int(frame_id) and type(group_id) is str and type(message) is str:
        try:
            return SendMessage(frame_id, b64decode(group_id), b64decode(message))
        except ValueError:
            return None
    return None


_KINDS: Final = {kind.value: kind for kind in DeliveryKind}


def _fast_deliver(obj: dict[str, Any]) -> Deliver | None:
    # The client's hot path: a deliver frame, or each item of a deliveries frame.
    mid = obj.get("mid")
    kind = obj.get("kind")
    sender = obj.get("sender")
    data = obj.get("data")
    group_id = obj.get("group_id")
    epoch = obj.get("epoch")
    invitation_id = obj.get("invitation_id")
    if (
        _is_int(mid)
        and type(kind) is str
        and kind in _KINDS
        and type(sender) is str
        and type(data) is str
        and (group_id is None or type(group_id) is str)
        and (epoch is None or _is_int(epoch))
        and (invitation_id is None or _is_int(invitation_id))
    ):
        try:
            return Deliver(
                mid,
                _KINDS[kind],
                sender,
                b64decode(data),
                None if group_id is None else b64decode(group_id),
                epoch,
                invitation_id,
            )
        except ValueError:
            return None
    return None


_FAST_PATHS: Final[dict[str, Callable[[dict[str, Any]], Frame | None]]] = {
    "ack": _fast_ack,
    "send": _fast_send,
    "deliver": _fast_deliver,
}


# Built last: a field's converters may be any function of this module.
_BY_NAME: Final = {name: _schema(name, cls) for name, cls in FRAME_TYPES.items()}
_BY_CLASS: Final = {s.cls: s for s in _BY_NAME.values()}

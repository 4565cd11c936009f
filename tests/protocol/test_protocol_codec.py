"""The frame codec: every frame type round-trips; every malformed input is refused by name."""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.protocol import (
    FEATURE_DELIVERIES,
    FRAME_TYPES,
    MAX_DELIVERIES_PER_FRAME,
    PROTOCOL_VERSION,
    Ack,
    Deliver,
    Deliveries,
    DeliveryKind,
    Error,
    ErrorCode,
    FrameError,
    Hello,
    SendMessage,
    b64decode,
    b64encode,
    decode_frame,
    deliver_payload,
    deliveries_payload,
    encode_delivery_item,
    encode_frame,
)

_INTS = st.integers(min_value=0, max_value=2**63 - 1)


def _strategy(tp: Any) -> st.SearchStrategy[Any]:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if type(None) in typing.get_args(tp):
        return st.none() | _strategy(args[0])
    if tp is bool:
        return st.booleans()
    if tp is int:
        return _INTS
    if tp is str:
        return st.text(max_size=20)
    if tp is bytes:
        return st.binary(max_size=40)
    if tp in (ErrorCode, DeliveryKind):
        return st.sampled_from(list(tp))
    if tp == tuple[Deliver, ...]:
        return _delivery_items()
    if typing.get_origin(tp) is tuple:
        return st.lists(_strategy(typing.get_args(tp)[0]), max_size=5).map(tuple)
    raise AssertionError(f"no strategy for {tp!r}")


def _deliver_strategy(cls: type[Any] = Deliver) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: _strategy(hints[f.name]) for f in dataclasses.fields(cls)})


@st.composite
def _delivery_items(draw: st.DrawFn) -> tuple[Deliver, ...]:
    """1..5 items in increasing mid order (what a server may send)."""
    items = draw(st.lists(_deliver_strategy(), min_size=1, max_size=5))
    mids = sorted(draw(st.sets(_INTS, min_size=len(items), max_size=len(items))))
    return tuple(dataclasses.replace(item, mid=mid) for item, mid in zip(items, mids, strict=True))


def _frames() -> st.SearchStrategy[Any]:
    per_type = []
    for cls in FRAME_TYPES.values():
        hints = typing.get_type_hints(cls)
        fields = {f.name: _strategy(hints[f.name]) for f in dataclasses.fields(cls)}
        per_type.append(st.builds(cls, **fields))
    return st.one_of(per_type)


@given(_frames())
def test_every_frame_round_trips(frame: Any) -> None:
    text = encode_frame(frame)
    obj = json.loads(text)
    assert obj["v"] == PROTOCOL_VERSION
    assert FRAME_TYPES[obj["type"]] is type(frame)
    assert decode_frame(text) == frame
    assert decode_frame(text.encode("utf-8")) == frame  # binary WebSocket messages too


@given(st.binary(max_size=100))
def test_base64url_round_trips_without_padding(data: bytes) -> None:
    text = b64encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64decode(text) == data


@pytest.mark.parametrize("text", ["a=", "ab+c", "ab/c", "a", "ab c", "é"])
def test_base64url_rejects_other_alphabets_and_bad_lengths(text: str) -> None:
    with pytest.raises(ValueError):
        b64decode(text)


def test_wire_form_is_documented_shape() -> None:
    frame = Deliver(
        mid=7, kind=DeliveryKind.APPLICATION, sender="12025550101", data=b"\xfb\xff", epoch=3
    )
    assert json.loads(encode_frame(frame)) == {
        "v": 1,
        "type": "deliver",
        "mid": 7,
        "kind": "application",
        "sender": "12025550101",
        "data": "-_8",
        "epoch": 3,
    }


def test_false_is_omitted_like_none() -> None:
    assert encode_frame(Ack(id=1, mids=(2,))) == '{"v":1,"type":"ack","id":1,"mids":[2]}'
    quiet = encode_frame(Ack(id=1, mids=(2,), quiet=True))
    assert quiet == '{"v":1,"type":"ack","id":1,"mids":[2],"quiet":true}'
    assert decode_frame(quiet) == Ack(id=1, mids=(2,), quiet=True)


def test_unknown_members_are_ignored_for_additive_evolution() -> None:
    text = '{"v":1,"type":"ack","id":4,"mids":[1,2],"later_field":{"x":1}}'
    assert decode_frame(text) == Ack(id=4, mids=(1, 2))


def test_optional_members_may_be_null_or_absent() -> None:
    a = decode_frame('{"v":1,"type":"error","re":null,"code":"timeout","detail":"d"}')
    b = decode_frame('{"v":1,"type":"error","code":"timeout","detail":"d","reason":null}')
    assert a == b == Error(re=None, code=ErrorCode.TIMEOUT, detail="d")


def test_defaulted_member_may_be_absent() -> None:
    assert decode_frame('{"v":1,"type":"hello","id":1,"client_nonce":"AA"}') == Hello(
        id=1, client_nonce=b"\x00"
    )


@pytest.mark.parametrize(
    ("text", "code", "re", "names"),
    [
        ("not json", ErrorCode.MALFORMED_FRAME, None, "not JSON"),
        (b"\xff\xfe", ErrorCode.MALFORMED_FRAME, None, "not JSON"),
        ("[1,2]", ErrorCode.MALFORMED_FRAME, None, "JSON object"),
        ("[" * 100_000, ErrorCode.MALFORMED_FRAME, None, "not JSON"),
        ('{"type":"ping","id":1}', ErrorCode.UNSUPPORTED_VERSION, 1, "version None"),
        ('{"v":2,"type":"ping","id":1}', ErrorCode.UNSUPPORTED_VERSION, 1, "version 2"),
        ('{"v":"1","type":"ping","id":1}', ErrorCode.UNSUPPORTED_VERSION, 1, "version '1'"),
        ('{"v":true,"type":"ping","id":1}', ErrorCode.UNSUPPORTED_VERSION, 1, "version True"),
        ('{"v":1,"type":"teleport","id":5}', ErrorCode.UNKNOWN_TYPE, 5, "teleport"),
        ('{"v":1,"id":5}', ErrorCode.UNKNOWN_TYPE, 5, "None"),
        ('{"v":1,"type":"ping"}', ErrorCode.MALFORMED_FRAME, None, "'id'"),
        ('{"v":1,"type":"ping","id":-1}', ErrorCode.MALFORMED_FRAME, None, "ping.id"),
        ('{"v":1,"type":"ping","id":1.0}', ErrorCode.MALFORMED_FRAME, None, "ping.id"),
        ('{"v":1,"type":"ping","id":true}', ErrorCode.MALFORMED_FRAME, None, "ping.id"),
        ('{"v":1,"type":"ping","id":9223372036854775808}', ErrorCode.MALFORMED_FRAME, None, "id"),
        ('{"v":1,"type":"ack","id":2,"mids":"1"}', ErrorCode.MALFORMED_FRAME, 2, "ack.mids"),
        ('{"v":1,"type":"ack","id":2,"mids":["1"]}', ErrorCode.MALFORMED_FRAME, 2, "ack.mids"),
        ('{"v":1,"type":"ack","id":2,"mids":[],"quiet":1}', ErrorCode.MALFORMED_FRAME, 2, "quiet"),
        (
            '{"v":1,"type":"hello","id":3,"client_nonce":"AA=="}',
            ErrorCode.MALFORMED_FRAME,
            3,
            "hello.client_nonce",
        ),
        (
            '{"v":1,"type":"send","id":3,"group_id":7,"message":"AA"}',
            ErrorCode.MALFORMED_FRAME,
            3,
            "send.group_id",
        ),
        (
            '{"v":1,"type":"claim_key_package","id":3,"tn":["1"]}',
            ErrorCode.MALFORMED_FRAME,
            3,
            "claim_key_package.tn",
        ),
        (
            '{"v":1,"type":"deliver","mid":1,"kind":"gossip","sender":"1","data":""}',
            ErrorCode.MALFORMED_FRAME,
            None,
            "gossip",
        ),
    ],
)
def test_malformed_frames_raise_frame_error_naming_the_problem(
    text: str | bytes, code: ErrorCode, re: int | None, names: str
) -> None:
    with pytest.raises(FrameError) as info:
        decode_frame(text)
    assert info.value.code is code
    assert info.value.re == re
    assert names in info.value.detail


def test_encoding_something_else_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        encode_frame(object())  # type: ignore[arg-type]


_JSON_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=2**64),
    st.floats(allow_nan=False),
    st.sampled_from(["", "AA", "AAA", "A", "AA==", "-_", "+/", "é"]),
    st.text(max_size=8),
)


@given(
    st.sampled_from(["ack", "send"]),
    st.fixed_dictionaries(
        {},
        # Mostly well-formed members, so that both acceptance and refusal are exercised.
        optional={
            "id": st.one_of(_INTS, _JSON_VALUES),
            "mids": st.one_of(
                st.lists(_INTS, max_size=4),
                st.lists(st.one_of(_INTS, _JSON_VALUES), max_size=4),
                _JSON_VALUES,
            ),
            "quiet": st.one_of(st.booleans(), _JSON_VALUES),
            "group_id": st.one_of(st.binary(max_size=8).map(b64encode), _JSON_VALUES),
            "message": st.one_of(st.binary(max_size=8).map(b64encode), _JSON_VALUES),
        },
    ),
)
def test_hot_path_decoders_agree_with_the_schema_decoder(name: str, members: Any) -> None:
    """``ack`` and ``send`` have fast decoders: on any input they accept exactly what the
    schema-driven decoder accepts, with the same result, and refuse the same way."""
    from shared.protocol import codec

    obj = {"v": PROTOCOL_VERSION, "type": name, **members}
    text = json.dumps(obj)
    schema = codec._BY_NAME[name]
    try:
        expected: Any = codec._decode_fields(schema, dict(obj), name, None)
    except FrameError as exc:
        expected = (exc.code, exc.detail)
    try:
        got: Any = decode_frame(text)
    except FrameError as exc:
        got = (exc.code, exc.detail)
    assert got == expected


@pytest.mark.parametrize(
    "frame",
    [
        Ack(id=1, mids=(), quiet=False),
        Ack(id=2, mids=(1, 2**63 - 1), quiet=True),
        SendMessage(id=3, group_id=b"g", message=b"\x00\x01"),
    ],
)
def test_hot_path_frames_round_trip(frame: Any) -> None:
    assert decode_frame(encode_frame(frame)) == frame


# --- deliveries: several deliver items in one frame (hello feature "deliveries") --------


def _item(mid: Any, **members: Any) -> dict[str, Any]:
    return {"mid": mid, "kind": "application", "sender": "12025550101", "data": "AA", **members}


def _deliveries_text(items: Any) -> str:
    return json.dumps({"v": 1, "type": "deliveries", "items": items})


def test_deliveries_wire_form_and_order() -> None:
    a = Deliver(mid=3, kind=DeliveryKind.COMMIT, sender="1", data=b"c", group_id=b"g", epoch=4)
    b = Deliver(mid=9, kind=DeliveryKind.INVITATION, sender="2", data=b"", invitation_id=5)
    text = encode_frame(Deliveries((a, b)))
    obj = json.loads(text)
    assert obj["type"] == "deliveries"
    assert [item["mid"] for item in obj["items"]] == [3, 9]
    assert obj["items"][1] == {"mid": 9, "kind": "invitation", "sender": "2", "data": "",
                               "invitation_id": 5}  # fmt: skip
    assert decode_frame(text) == Deliveries((a, b))


@given(_delivery_items())
def test_spliced_frames_are_the_codecs_text(items: tuple[Deliver, ...]) -> None:
    """The service splices frames from items encoded once; the bytes must be exactly what
    encode_frame makes of the same frame (one deliver, or a deliveries of them all)."""
    encoded = [encode_delivery_item(item) for item in items]
    assert deliver_payload(encoded[0]).decode() == encode_frame(items[0])
    assert deliveries_payload(encoded).decode() == encode_frame(Deliveries(items))


@pytest.mark.parametrize(
    ("items", "names"),
    [
        (None, "missing member 'items'"),
        ("AA", "deliveries.items: expected a list"),
        ({"0": _item(1)}, "deliveries.items: expected a list"),
        ([], "at least one item"),
        ([_item(1), 7], "item 1 is not an object"),
        ([_item(1), [_item(2)]], "item 1 is not an object"),
        ([_item(1), {"kind": "application", "sender": "1"}], "item 1: missing member 'mid'"),
        ([_item("1")], "item 0.mid"),
        ([_item(-1)], "item 0.mid"),
        ([_item(1, kind="gossip")], "gossip"),
        ([_item(1, kind=["application"])], "item 0.kind"),
        ([_item(1, data="AA==")], "item 0.data"),
        ([_item(1, epoch=1.5)], "item 0.epoch"),
        ([_item(2), _item(2)], "mid 2 after mid 2"),
        ([_item(5), _item(4)], "mid 4 after mid 5"),
        ([_item(i) for i in range(1, MAX_DELIVERIES_PER_FRAME + 2)], "at most 1000 items"),
    ],
)
def test_malformed_deliveries_are_refused_naming_the_problem(items: Any, names: str) -> None:
    obj: dict[str, Any] = {"v": 1, "type": "deliveries"}
    if items is not None:
        obj["items"] = items
    with pytest.raises(FrameError) as info:
        decode_frame(json.dumps(obj))
    assert info.value.code is ErrorCode.MALFORMED_FRAME
    assert names in info.value.detail


def test_deliveries_at_the_item_limit_decode() -> None:
    items = [_item(i) for i in range(1, MAX_DELIVERIES_PER_FRAME + 1)]
    frame = decode_frame(_deliveries_text(items))
    assert isinstance(frame, Deliveries)
    assert [d.mid for d in frame.items] == list(range(1, MAX_DELIVERIES_PER_FRAME + 1))


def test_hello_features_are_optional_and_omitted_when_empty() -> None:
    plain = encode_frame(Hello(id=1, client_nonce=b"\x00"))
    assert "features" not in plain
    asked = encode_frame(Hello(id=1, client_nonce=b"\x00", features=(FEATURE_DELIVERIES,)))
    assert json.loads(asked)["features"] == ["deliveries"]
    assert decode_frame(asked) == Hello(id=1, client_nonce=b"\x00", features=("deliveries",))
    # A feature this peer does not know is kept as a name (the server ignores it).
    later = '{"v":1,"type":"hello","id":1,"client_nonce":"AA","features":["x","deliveries"]}'
    assert decode_frame(later) == Hello(id=1, client_nonce=b"\x00", features=("x", "deliveries"))
    with pytest.raises(FrameError, match=r"hello\.features"):
        decode_frame('{"v":1,"type":"hello","id":1,"client_nonce":"AA","features":"deliveries"}')


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "mid": st.one_of(_INTS, _JSON_VALUES),
            "kind": st.one_of(st.sampled_from([k.value for k in DeliveryKind]), _JSON_VALUES),
            "sender": st.one_of(st.text(max_size=4), _JSON_VALUES),
            "data": st.one_of(st.binary(max_size=8).map(b64encode), _JSON_VALUES),
            "group_id": st.one_of(st.binary(max_size=8).map(b64encode), _JSON_VALUES),
            "epoch": st.one_of(_INTS, _JSON_VALUES),
            "invitation_id": st.one_of(_INTS, _JSON_VALUES),
        },
    )
)
def test_deliver_fast_decoder_agrees_with_the_schema_decoder(members: Any) -> None:
    """The client's hot path (``deliver`` and each ``deliveries`` item) accepts exactly
    what the schema-driven decoder accepts, with the same result."""
    from shared.protocol import codec

    obj = {"v": PROTOCOL_VERSION, "type": "deliver", **members}
    try:
        expected: Any = codec._decode_fields(codec._BY_NAME["deliver"], dict(obj), "deliver", None)
    except FrameError as exc:
        expected = (exc.code, exc.detail)
    try:
        got: Any = decode_frame(json.dumps(obj))
    except FrameError as exc:
        got = (exc.code, exc.detail)
    assert got == expected

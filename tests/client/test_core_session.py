"""The sans-I/O session, driven frame by frame (the real DS is used in the integration tests)."""

from __future__ import annotations

import json

import pytest

from client.core.session import (
    QUIET_ACKS_TRACKED,
    Challenged,
    ClientSession,
    Garbage,
    Incoming,
    Ready,
    Refused,
    Registration,
    Reply,
    SessionError,
    SessionState,
)
from shared.protocol import (
    FEATURE_DELIVERIES,
    Ack,
    Auth,
    Challenge,
    ClaimKeyPackage,
    Deliver,
    Deliveries,
    DeliveryKind,
    Error,
    ErrorCode,
    Hello,
    KeyPackageReply,
    Ok,
    Registered,
    decode_frame,
    ds_auth_content,
    encode_frame,
)

TN = "12025550101"
NONCE_C = b"c" * 32
NONCE_S = b"s" * 32


def fake_sign(content: bytes) -> bytes:
    return b"sig:" + content


def new_session(expected: str | None = "ds-test") -> ClientSession:
    return ClientSession(
        tn=TN,
        signature_scheme=0x0403,
        signature_key=b"\x04" + b"k" * 64,
        sign=fake_sign,
        expected_ds_id=expected,
        nonce=NONCE_C,
    )


def ready_session() -> ClientSession:
    s = new_session()
    s.start()
    (hello_text,) = s.data_to_send()
    hello = decode_frame(hello_text)
    assert isinstance(hello, Hello)
    s.receive(encode_frame(Challenge(hello.id, NONCE_S, "ds-test")))
    s.authenticate()
    (auth_text,) = s.data_to_send()
    auth = decode_frame(auth_text)
    assert isinstance(auth, Auth)
    assert s.receive(encode_frame(Registered(auth.id, TN, "ds-test"))) == [Ready(TN, "ds-test")]
    return s


def test_handshake_signs_the_session_content() -> None:
    s = new_session()
    s.start()
    hello = decode_frame(s.data_to_send()[0])
    assert isinstance(hello, Hello) and hello.client_nonce == NONCE_C
    events = s.receive(encode_frame(Challenge(hello.id, NONCE_S, "ds-test")))
    assert events == [Challenged("ds-test")]
    s.authenticate(Registration(0xF001, b"cred", application_id=None))
    auth = decode_frame(s.data_to_send()[0])
    assert isinstance(auth, Auth)
    # The signature covers both nonces, the service id and our number (PROFILE §10).
    assert auth.signature == b"sig:" + ds_auth_content(NONCE_S, NONCE_C, "ds-test", TN)
    assert (auth.credential_type, auth.credential) == (0xF001, b"cred")
    assert s.state is SessionState.AWAIT_REGISTERED
    assert s.receive(encode_frame(Registered(auth.id, TN, "ds-test"))) == [Ready(TN, "ds-test")]
    assert s.state is SessionState.READY


def test_wrong_service_id_is_not_signed_for() -> None:
    s = new_session(expected="ds-real")
    s.start()
    hello = decode_frame(s.data_to_send()[0])
    assert isinstance(hello, Hello)
    (event,) = s.receive(encode_frame(Challenge(hello.id, NONCE_S, "ds-evil")))
    assert isinstance(event, Garbage) and "ds-evil" in event.detail
    assert s.state is SessionState.FAILED
    with pytest.raises(SessionError):
        s.authenticate()


def test_requests_pair_with_replies_and_errors() -> None:
    s = ready_session()
    first = s.request(lambda i: ClaimKeyPackage(i, "12025550102"))
    second = s.request(lambda i: ClaimKeyPackage(i, "12025550103"))
    assert first != second and s.outstanding == 2
    sent = [decode_frame(t) for t in s.data_to_send()]
    assert [getattr(f, "id", None) for f in sent] == [first, second]
    reply = KeyPackageReply(second, "12025550103", b"kp")
    assert s.receive(encode_frame(reply)) == [Reply(second, reply)]
    error = Error(first, ErrorCode.NO_KEY_PACKAGE, "none left")
    assert s.receive(encode_frame(error)) == [Refused(first, error)]
    assert s.outstanding == 0
    # A second answer to the same request is not believed.
    (late,) = s.receive(encode_frame(reply))
    assert isinstance(late, Garbage)


def test_deliveries_pass_through_once_ready() -> None:
    s = ready_session()
    d = Deliver(7, DeliveryKind.APPLICATION, "12025550102", b"x", group_id=b"g", epoch=1)
    assert s.receive(encode_frame(d)) == [Incoming(d)]


@pytest.mark.parametrize(
    "garbage",
    [
        "not json",
        "[]",
        json.dumps({"v": 2, "type": "ok", "re": 1}),
        json.dumps({"v": 1, "type": "nonsense"}),
        json.dumps({"v": 1, "type": "deliver", "mid": "x"}),
        encode_frame(Hello(5, NONCE_C)),  # a client frame
        b"\xff\xfe",
    ],
)
def test_garbage_is_reported_not_raised(garbage: str | bytes) -> None:
    s = ready_session()
    (event,) = s.receive(garbage)
    assert isinstance(event, Garbage) and event.detail
    assert s.state is SessionState.READY  # the session goes on


def test_delivery_before_registration_is_garbage() -> None:
    s = new_session()
    s.start()
    d = Deliver(1, DeliveryKind.APPLICATION, "1", b"", group_id=b"g", epoch=0)
    (event,) = s.receive(encode_frame(d))
    assert isinstance(event, Garbage)


def test_refused_auth_fails_the_session() -> None:
    s = new_session()
    s.start()
    hello = decode_frame(s.data_to_send()[0])
    assert isinstance(hello, Hello)
    s.receive(encode_frame(Challenge(hello.id, NONCE_S, "ds-test")))
    s.authenticate()
    auth = decode_frame(s.data_to_send()[0])
    assert isinstance(auth, Auth)
    error = Error(auth.id, ErrorCode.AUTH_FAILED, "bad signature")
    assert s.receive(encode_frame(error)) == [Refused(auth.id, error)]
    assert s.state is SessionState.FAILED


def test_calls_out_of_order_are_driver_bugs() -> None:
    s = new_session()
    with pytest.raises(SessionError):
        s.authenticate()
    with pytest.raises(SessionError):
        s.request(lambda i: ClaimKeyPackage(i, "1"))
    s.start()
    with pytest.raises(SessionError):
        s.start()


def _app(mid: int) -> Deliver:
    return Deliver(mid, DeliveryKind.APPLICATION, "12025550102", bytes([mid]), b"g", epoch=1)


def test_hello_asks_for_deliveries_frames() -> None:
    s = new_session()
    s.start()
    hello = decode_frame(s.data_to_send()[0])
    assert isinstance(hello, Hello) and hello.features == (FEATURE_DELIVERIES,)


def test_a_deliveries_frame_is_one_incoming_per_item_in_order() -> None:
    s = ready_session()
    items = (_app(3), _app(4), _app(9))
    assert s.receive(encode_frame(Deliveries(items))) == [Incoming(d) for d in items]


def test_deliveries_before_registration_are_garbage() -> None:
    s = new_session()
    s.start()
    (event,) = s.receive(encode_frame(Deliveries((_app(1), _app(2)))))
    assert isinstance(event, Garbage) and "before the session was registered" in event.detail


@pytest.mark.parametrize(
    "garbage",
    [
        json.dumps({"v": 1, "type": "deliveries", "items": []}),
        json.dumps({"v": 1, "type": "deliveries", "items": "x"}),
        json.dumps({"v": 1, "type": "deliveries", "items": [{"mid": 1}]}),
        # Out of mid order: refused whole, nothing of it is handed on.
        encode_frame(Deliveries((_app(5), _app(6)))).replace('"mid":6', '"mid":4'),
        json.dumps({"v": 1, "type": "deliveries", "items": [None] * 1001}),
    ],
)
def test_malformed_deliveries_are_garbage_and_hand_nothing_on(garbage: str) -> None:
    s = ready_session()
    (event,) = s.receive(garbage)
    assert isinstance(event, Garbage) and "deliveries" in event.detail
    assert s.state is SessionState.READY


def test_quiet_acks_are_forgotten_once_a_later_answer_comes() -> None:
    s = ready_session()
    first = s.ack_quietly((1, 2))
    second = s.ack_quietly((3,))
    frames = [decode_frame(t) for t in s.data_to_send()]
    assert frames == [Ack(first, (1, 2), quiet=True), Ack(second, (3,), quiet=True)]
    assert s.outstanding == 2
    # A refusal of a quiet ack (a replayed mid) still pairs with it.
    error = Error(second, ErrorCode.UNKNOWN_MESSAGE, "replay", mids=(3,))
    assert s.receive(encode_frame(error)) == [Refused(second, error)]
    assert s.outstanding == 0  # the first went through: answers come in request order
    third = s.ack_quietly((4,))
    ping = s.request(lambda i: ClaimKeyPackage(i, "1"))
    reply = KeyPackageReply(ping, "1", b"kp")
    assert s.receive(encode_frame(reply)) == [Reply(ping, reply)]
    assert s.outstanding == 0 and third < ping


def test_quiet_acks_tracked_are_bounded() -> None:
    s = ready_session()
    ids = [s.ack_quietly((n,)) for n in range(QUIET_ACKS_TRACKED + 10)]
    assert s.outstanding == QUIET_ACKS_TRACKED
    # The oldest are forgotten: a late answer to one of them is garbage, not a crash.
    (event,) = s.receive(encode_frame(Ok(ids[0])))
    assert isinstance(event, Garbage)

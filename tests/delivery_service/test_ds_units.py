"""Sans-I/O pieces of the service: session states, token bucket, PrivateMessage framing,
the outbox's reload-from-mail-box behaviour."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import trio
import trio.testing
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from delivery_service.credentials import StirIdentifier
from delivery_service.errors import Refused
from delivery_service.limits import TokenBucket
from delivery_service.mls_framing import FramingError, private_header, wire_format
from delivery_service.outbox import Outbox
from delivery_service.service import deliver_frame
from delivery_service.session import ServerSession, SessionState
from delivery_service.storage import StoredMessage
from delivery_service.wire_frames import (
    BATCH_BYTES,
    Delivery,
    OutFrame,
    pack_deliveries,
    websocket_text_message,
)
from shared.profile import CREDENTIAL_TYPE_STIR_CERTIFICATE
from shared.protocol import (
    FEATURE_DELIVERIES,
    MAX_DELIVERIES_PER_FRAME,
    Auth,
    Deliver,
    Deliveries,
    DeliveryKind,
    ErrorCode,
    Frame,
    Hello,
    Ping,
    SendMessage,
    decode_frame,
    ds_auth_content,
    encode_delivery_item,
    request_id,
)
from shared.stir.pki import DemoPKI, generate_key
from shared.stir.tnauthlist import OneTN, TNRange
from shared.stir.validation_cache import ValidationCache


def _auth(tn: str = "12025550101") -> Auth:
    return Auth(id=2, tn=tn, signature_scheme=0x0403, signature_key=b"k", signature=b"s")


def test_session_handshake_table() -> None:
    nonces = itertools.count()
    s = ServerSession("ds", random_bytes=lambda n: bytes([next(nonces)]) * n)
    assert s.state is SessionState.AWAIT_HELLO
    with pytest.raises(Refused) as info:
        s.check_allowed(_auth())
    assert info.value.code is ErrorCode.UNEXPECTED_FRAME
    s.check_allowed(Ping(id=1))
    challenge = s.hello(Hello(id=1, client_nonce=b"c" * 32))
    assert s.state is SessionState.CHALLENGED
    assert challenge.server_nonce == b"\x00" * 32
    assert s.signed_content("1202") == ds_auth_content(b"\x00" * 32, b"c" * 32, "ds", "1202")
    with pytest.raises(Refused):
        s.check_allowed(SendMessage(id=3, group_id=b"g", message=b"m"))
    registered = s.authenticated(_auth())
    assert (registered.re, registered.tn, registered.ds_id) == (2, "12025550101", "ds")
    assert s.state is SessionState.READY and s.tn == "12025550101"
    s.check_allowed(SendMessage(id=3, group_id=b"g", message=b"m"))
    with pytest.raises(Refused):
        s.check_allowed(Hello(id=4, client_nonce=b"c" * 32))
    # The nonces stay for passport requests (their own label), not for a second auth.
    assert s.signed_content("1202") == ds_auth_content(b"\x00" * 32, b"c" * 32, "ds", "1202")
    with pytest.raises(Refused):
        s.check_allowed(_auth())


def test_failed_auth_spends_the_nonce_and_closes_after_the_limit() -> None:
    s = ServerSession("ds", max_auth_failures=2)
    s.hello(Hello(id=1, client_nonce=b"c" * 32))
    assert s.auth_failed() is False
    assert s.state is SessionState.AWAIT_HELLO
    with pytest.raises(Refused):
        s.signed_content("1")
    s.hello(Hello(id=2, client_nonce=b"d" * 32))
    assert s.auth_failed() is True
    assert s.state is SessionState.CLOSED
    with pytest.raises(Refused):
        s.check_allowed(Ping(id=3))


def test_token_bucket_refills_at_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=2, now=0.0)
    assert [bucket.allow(0.0) for _ in range(3)] == [True, True, False]
    assert bucket.allow(0.4) is False  # 0.8 token
    assert bucket.allow(0.5) is True  # 1.0 token
    assert bucket.allow(100.0) and bucket.allow(100.0) and not bucket.allow(100.0)
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, now=0)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"v":1,"type":"ping","id":7}', 7),
        (b'{"type":"send","id":9223372036854775807,"v":1}', 2**63 - 1),
        ('{"v":1,"type":"warp","id":4}', 4),  # an unknown type still names its request
        ('{"v":1,"type":"ping"}', None),
        ('{"v":1,"type":"ping","id":-1}', None),
        ('{"v":1,"type":"ping","id":9223372036854775808}', None),
        ('{"v":1,"type":"ping","id":true}', None),
        ('{"v":1,"type":"ping","id":"7"}', None),
        ('{"v":1,"type":"pong","re":6}', None),  # an answer, not a request
        ("[1, 2]", None),
        ("not json", None),
        (b"\xff\xfe", None),
        ("[" * 100_000, None),  # too deep for json: still no exception
    ],
)
def test_request_id_reads_only_a_valid_request_id(data: str | bytes, expected: int | None) -> None:
    assert request_id(data) == expected


def _private(group_id: bytes, epoch: int, content_type: int = 1) -> bytes:
    return (
        b"\x00\x01\x00\x02"
        + bytes([len(group_id)])
        + group_id
        + epoch.to_bytes(8, "big")
        + bytes([content_type])
        + b"\x00\x00\x00"
    )


def test_private_header_reads_the_clear_fields() -> None:
    header = private_header(_private(b"group-1", 7))
    assert (header.group_id, header.epoch, header.content_type) == (b"group-1", 7, 1)
    long_id = b"x" * 100  # two-byte varint length
    data = b"\x00\x01\x00\x02" + b"\x40\x64" + long_id + (3).to_bytes(8, "big") + b"\x01"
    assert private_header(data).group_id == long_id


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b"", "shorter"),
        (b"\x00\x02\x00\x02\x00", "version 2"),
        (b"\x00\x01\x00\x01\x00", "not a PrivateMessage"),
        (b"\x00\x01\x00\x02\x05ab", "truncated"),
        (b"\x00\x01\x00\x02\xc0", "prefix"),
        (b"\x00\x01\x00\x02\x40\x01a" + bytes(9), "non-minimal"),
        (b"\x00\x01\x00\x02\x01a" + bytes(8) + b"\x09", "content type"),
    ],
)
def test_private_header_rejects_bad_framing(data: bytes, names: str) -> None:
    with pytest.raises(FramingError, match=names):
        private_header(data)


def test_wire_format() -> None:
    assert wire_format(b"\x00\x01\x00\x03rest") == 3


def _stored(mid: int) -> StoredMessage:
    return StoredMessage(mid, DeliveryKind.APPLICATION, "1", bytes([mid % 256]), b"g", 0, None)


def _live(mid: int) -> Delivery:
    """A pushed message as the service makes it (the same bytes a reload makes)."""
    return Delivery(encode_delivery_item(deliver_frame(_stored(mid))))


def _texts(batch: list[OutFrame] | None) -> list[str]:
    assert batch is not None
    return [f.text for f in batch]


def _frames(batch: list[OutFrame] | None) -> list[Frame]:
    return [decode_frame(t) for t in _texts(batch)]


def _mids(batch: list[OutFrame] | None) -> list[int]:
    """Mids of the deliveries in ``batch``, in order, whether in deliver frames or in
    deliveries frames."""
    mids: list[int] = []
    for frame in _frames(batch):
        if isinstance(frame, Deliveries):
            mids.extend(d.mid for d in frame.items)
        else:
            assert isinstance(frame, Deliver)
            mids.append(frame.mid)
    return mids


async def test_outbox_overflow_reloads_from_the_mailbox_in_order() -> None:
    mailbox = [_stored(m) for m in range(1, 4)]

    def load(tn: str, after: int, limit: int) -> list[StoredMessage]:
        assert tn == "9"
        return [m for m in mailbox if m.mid > after][:limit]

    box = Outbox(capacity=2)
    box.push(99, _live(99))  # ignored: not attached
    box.attach("9", load)
    box.push(2, _live(2))  # dropped: a reload is pending
    assert _mids(await box.next_batch()) == [1, 2]
    assert _mids(await box.next_batch()) == [3]
    # Caught up: live pushes are queued directly; duplicates are ignored.
    box.push(3, _live(3))
    four, five = _live(4), _live(5)
    box.push(4, four)
    box.push(5, five)
    box.push(6, _live(6))  # over capacity: reload instead
    mailbox.extend(_stored(m) for m in (4, 5, 6))
    batch = await box.next_batch()
    assert batch == [four.single(), five.single()]  # the frames shared by all recipients
    assert _mids(await box.next_batch()) == [6]


async def test_outbox_replies_come_first_and_close_ends_it() -> None:
    box = Outbox(capacity=4)
    box.attach("9", lambda tn, after, limit: [_stored(m) for m in (1, 2) if m > after])
    await box.reply(OutFrame("r1"))
    box.push(1, _live(1))  # dropped: the first load reads it from the mail box
    batch = await box.next_batch()
    assert _texts(batch)[0] == "r1"
    assert _mids(batch[1:] if batch else None) == [1, 2]
    box.close_with("bye")
    assert await box.next_batch() is None
    assert box.take_ready() == []
    assert box.closing == "bye"


async def test_outbox_waits_for_a_wake() -> None:
    box = Outbox(capacity=4)
    box.attach("9", lambda tn, after, limit: [])
    got: list[list[str]] = []

    async def take() -> None:
        got.append(_texts(await box.next_batch()))
        got.append(_texts(await box.next_batch()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(take)
        await trio.sleep(0.01)
        assert got == []
        box.push(1, _live(1))
        await trio.sleep(0.01)
        assert got == []  # queuing alone does not wake the writer: the connection decides
        box.wake()
        await trio.sleep(0.01)
        assert got == [[_live(1).single().text]]
        box.wake()  # a wake with nothing queued returns an empty batch (a leftover to send)
    assert got == [[_live(1).single().text], []]


def test_websocket_message_framing_matches_wsproto() -> None:
    """The pre-built server frames are byte for byte what wsproto writes for a server."""
    from wsproto import ConnectionType
    from wsproto.connection import Connection
    from wsproto.events import TextMessage

    server = Connection(ConnectionType.SERVER)
    for size in (0, 1, 125, 126, 65535, 65536, 70000):
        text = "é" * (size // 2) + "x" * (size % 2)
        assert OutFrame(text).websocket() == server.send(TextMessage(data=text))
        assert websocket_text_message(text.encode()) == server.send(TextMessage(data=text))


async def test_the_next_write_starts_with_a_partial_sends_tail() -> None:
    """A tail a non-blocking send left is written before anything else, by whoever
    writes next (the writer task, or the reader answering a ping)."""
    from wsproto import ConnectionType
    from wsproto.connection import Connection
    from wsproto.events import Message, Ping, TextMessage

    from delivery_service.transport import WebSocketTransport

    a, b = trio.socket.socketpair()
    server_end, client_end = trio.SocketStream(a), trio.SocketStream(b)
    transport = WebSocketTransport(server_end, max_message=1000)
    transport._tail = b"end-of-a-frame|"
    assert not transport.ready_nowait()  # a tail is pending: writes wait for it
    client = Connection(ConnectionType.CLIENT)
    await client_end.send_all(client.send(Ping(b"p")) + client.send(TextMessage("hi")))
    assert await transport.receive() == "hi"  # the ping was answered on the way
    got = b""
    while len(got) < len(b"end-of-a-frame|") + 3:
        got += await client_end.receive_some()
    assert got.startswith(b"end-of-a-frame|")
    client.receive_data(got[len(b"end-of-a-frame|") :])
    assert [type(e).__name__ for e in client.events()] == ["Pong"]
    assert transport.ready_nowait()
    await transport.send_frames([OutFrame("x")])
    client.receive_data(await client_end.receive_some())
    (message,) = client.events()
    assert isinstance(message, Message) and message.data == "x"
    await client_end.aclose()
    await server_end.aclose()


async def test_outbox_reply_waits_while_the_replies_are_full() -> None:
    box = Outbox(capacity=1)
    await box.reply(OutFrame("r1"))
    done: list[str] = []

    async def second() -> None:
        await box.reply(OutFrame("r2"))
        done.append("r2")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(second)
        await trio.testing.wait_all_tasks_blocked()
        assert done == []  # the queue is full: the reply waits for the writer
        assert _texts(box.take_ready()) == ["r1"]
    assert done == ["r2"]
    assert _texts(box.take_ready()) == ["r2"]


def test_identifier_uses_the_cache_it_is_given(tmp_path: Path) -> None:
    # An empty ValidationCache is falsy (it has a length): it must still be the one used.
    pki = DemoPKI.init(tmp_path / "pki")
    ca = pki.issue_spc("Acme", "1234", [TNRange("12025550000", 1000)], ca=True)
    key = generate_key("p256")
    cert = pki.issue_delegate(ca, [OneTN("12025550101")], key.public_key(), name="m")
    point = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    cache = ValidationCache(maxsize=4)
    identifier = StirIdentifier(pki.trust_store(), cache=cache)
    tn = identifier.identify(
        CREDENTIAL_TYPE_STIR_CERTIFICATE, cert.credential().encode(), point, group_id=None
    )
    assert tn == "12025550101"
    assert len(cache) == 1


async def test_outbox_sends_what_is_ready_together_as_one_deliveries_frame() -> None:
    """A session that asked for ``deliveries``: the first load and a burst of pushes
    each go out as one frame, in mid order, after the replies queued before them."""
    mailbox = [_stored(m) for m in range(1, 6)]
    box = Outbox(capacity=100)
    box.attach(
        "9", lambda tn, after, limit: [m for m in mailbox if m.mid > after][:limit], batch=True
    )
    await box.reply(OutFrame("r1"))
    batch = await box.next_batch()
    assert batch is not None and len(batch) == 2 and batch[0].text == "r1"
    (frame,) = _frames(batch[1:])
    assert isinstance(frame, Deliveries)
    assert frame.items == tuple(deliver_frame(m) for m in mailbox)
    for mid in (6, 7, 8):
        box.push(mid, _live(mid))
    (frame,) = _frames(box.take_ready())
    assert isinstance(frame, Deliveries) and [d.mid for d in frame.items] == [6, 7, 8]
    # One message ready: its own deliver frame, shared with every other recipient.
    nine = _live(9)
    box.push(9, nine)
    assert box.take_ready() == [nine.single()]


async def test_outbox_without_the_feature_sends_one_deliver_per_message() -> None:
    box = Outbox(capacity=100)
    box.attach("9", lambda tn, after, limit: [_stored(m) for m in (1, 2, 3) if m > after])
    frames = _frames(await box.next_batch())
    assert [type(f) for f in frames] == [Deliver] * 3
    assert box.take_ready() == []


def test_session_keeps_the_features_it_knows() -> None:
    session = ServerSession("ds.test")
    session.hello(Hello(id=1, client_nonce=b"\x00" * 32, features=("later", FEATURE_DELIVERIES)))
    assert session.features == {FEATURE_DELIVERIES}
    session.hello(Hello(id=2, client_nonce=b"\x00" * 32))  # a new hello starts over
    assert session.features == frozenset()


def test_pack_deliveries_bounds_items_and_bytes_and_keeps_order() -> None:
    many = [_live(m) for m in range(1, MAX_DELIVERIES_PER_FRAME + 3)]
    out: list[OutFrame] = []
    pack_deliveries(many, out)
    sizes = [len(f.items) if isinstance(f, Deliveries) else 1 for f in _frames(out)]
    assert sizes == [MAX_DELIVERIES_PER_FRAME, 2]
    assert _mids(out) == list(range(1, MAX_DELIVERIES_PER_FRAME + 3))
    # An item over the byte budget travels alone, as a deliver frame; its neighbours
    # are still packed around it.
    big = StoredMessage(5, DeliveryKind.WELCOME, "1", b"w" * BATCH_BYTES, None, 1, None)
    mail = [_live(3), _live(4), Delivery(encode_delivery_item(deliver_frame(big))), _live(6)]
    out = []
    pack_deliveries(mail, out)
    kinds = [type(f) for f in _frames(out)]
    assert kinds == [Deliveries, Deliver, Deliver]
    assert _mids(out) == [3, 4, 5, 6]
    assert all(len(f.websocket()) < 2 * BATCH_BYTES for f in out)


def test_full_collections_can_be_deferred_and_restored() -> None:
    import gc

    from delivery_service.garbage_collection import defer_full_collections

    before = gc.get_threshold()
    old = defer_full_collections()
    try:
        assert old == before
        young0, young1, full = gc.get_threshold()
        assert (young0, young1) == before[:2] and full > 10**9  # young ones unchanged
    finally:
        gc.set_threshold(*old)
    assert gc.get_threshold() == before
    old = defer_full_collections(young=20_000)
    try:
        assert old == before
        young0, young1, full = gc.get_threshold()
        assert (young0, young1) == (20_000, before[1]) and full > 10**9
    finally:
        gc.set_threshold(*old)
    assert gc.get_threshold() == before


async def test_full_collections_run_every_interval(autojump_clock: trio.testing.MockClock) -> None:
    from delivery_service.garbage_collection import collect_periodically

    runs: list[tuple[float, int]] = []

    def collect(generation: int) -> int:
        runs.append((trio.current_time(), generation))
        return 0

    with trio.move_on_after(10.5):
        await collect_periodically(3.0, collect)
    assert runs == [(3.0, 2), (6.0, 2), (9.0, 2)]

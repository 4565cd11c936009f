"""Differential test: our WebSocket frame readers (shared.websocket: ``ServerWebSocket``
reading a client's frames, ``ClientWebSocket`` reading a server's) against wsproto's
connection of the same role, fed the same peer byte streams in the same random chunks.
Valid frames come from wsproto's frame encoder of the peer's role (independent of ours);
invalid ones (wrongly masked or unmasked, reserved bits, unknown opcodes, oversized or
fragmented control frames, bad continuation order, invalid UTF-8, bad close codes,
non-minimal and 64-bit lengths, garbage) are built by hand here, and streams may be cut
short.

They must agree on the complete messages (type and payload), pings and the close, and
where wsproto fails the connection ours raises ``WebSocketError`` with the same close
code. Deliberate differences, each asserted rather than skipped:

* A frame's violation that wsproto finds in its header or first payload bytes, ours finds
  once the whole frame is in (opcode, continuation order, UTF-8 of a frame's payload, a
  close frame's code): on a stream cut inside that frame ours is still waiting, holding
  the frame's bytes. RFC 6455 §7.1.7 only requires failing the connection; the frame is
  never delivered either way.
* Ours limits a message's size (RFC 6455 §10.4: "implementations SHOULD impose a limit")
  and wsproto has no limit, so here ours gets a limit above any length a frame can state
  (2**63 - 1); the limit itself is tested in test_ds_websocket.py.
* Pongs are not events in ours (neither end sends pings, §5.5.3), so wsproto's are
  dropped before comparing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import FrameProtocol

from shared.websocket import (
    ClientHandshake,
    ClientWebSocket,
    CloseReceived,
    Event,
    FrameReader,
    PingReceived,
    ServerWebSocket,
    WebSocketError,
    accept_handshake,
)

NO_LIMIT = (1 << 63) - 1  # above any length a frame may state (§5.2: the MSB is 0)

Seen = tuple[str, object]  # ("text", str) | ("bytes", bytes) | ("ping", bytes) | ("close", ..)


@dataclass
class Outcome:
    events: list[Seen]
    error: int | None  # the close code of a protocol violation
    rest: bytes = b""  # ours only: the bytes of an incomplete frame it holds
    codec: FrameReader | None = None  # ours only: to feed it more


def _ours_seen(event: Event) -> Seen:
    if isinstance(event, str):
        return ("text", event)
    if isinstance(event, bytes):
        return ("bytes", event)
    if isinstance(event, PingReceived):
        return ("ping", event.payload)
    assert isinstance(event, CloseReceived)
    return ("close", (event.code, event.reason))


def _handshake() -> tuple[WSConnection, WSConnection, bytes]:
    """wsproto's server and client after wsproto's handshake; and the request. Ours
    answers the same request and wsproto's client accepts that answer, and our client's
    check accepts wsproto's answer to our request."""
    client = WSConnection(ConnectionType.CLIENT)
    request = client.send(Request(host="127.0.0.1:7800", target="/ds"))
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(request)
    assert [type(e) for e in server.events()] == [Request]
    response = server.send(AcceptConnection())
    client.receive_data(accept_handshake(request))
    assert [type(e) for e in client.events()] == [AcceptConnection]
    ours = ClientHandshake("127.0.0.1:7800", "/ds")
    theirs = WSConnection(ConnectionType.SERVER)
    theirs.receive_data(ours.request)
    assert [type(e) for e in theirs.events()] == [Request]
    ours.check_response(theirs.send(AcceptConnection()))
    assert response.startswith(b"HTTP/1.1 101 ")
    return server, client, request


def run_wsproto(chunks: list[bytes], *, server_side: bool = True) -> Outcome:
    """wsproto's server fed a client's bytes (``server_side``), or its client fed a
    server's."""
    server, client, _ = _handshake()
    conn = server if server_side else client
    seen: list[Seen] = []
    text: list[str] = []  # a message's parts so far (wsproto hands out partial frames)
    data = bytearray()
    for chunk in chunks:
        conn.receive_data(chunk)
        for event in conn.events():
            if isinstance(event, TextMessage):
                text.append(event.data)
                if event.message_finished:
                    seen.append(("text", "".join(text)))
                    text.clear()
            elif isinstance(event, BytesMessage):
                data += event.data
                if event.message_finished:
                    seen.append(("bytes", bytes(data)))
                    data.clear()
            elif isinstance(event, Ping):
                seen.append(("ping", bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                if conn.state is ConnectionState.OPEN:  # a parse failure, not the peer's
                    return Outcome(seen, int(event.code))
                seen.append(("close", (int(event.code), event.reason or "")))
                return Outcome(seen, None)
    return Outcome(seen, None)


def run_ours(chunks: list[bytes], *, server_side: bool = True) -> Outcome:
    """Our server's reader fed a client's bytes (``server_side``), or our client's fed a
    server's."""
    ws: FrameReader = (ServerWebSocket if server_side else ClientWebSocket)(NO_LIMIT)
    seen: list[Seen] = []
    for chunk in chunks:
        try:
            events = ws.receive_data(chunk)
        except WebSocketError as exc:
            seen.extend(_ours_seen(e) for e in exc.events)
            return Outcome(seen, exc.code)
        for event in events:
            seen.append(_ours_seen(event))
            if isinstance(event, CloseReceived):
                return Outcome(seen, None)  # nothing after a close counts (§5.5.1)
    return Outcome(seen, None, bytes(ws._buffer or b""), ws)


# --- frames -------------------------------------------------------------------------

MASK = b"\x37\xfa\x21\x3d"


def raw_frame(b0: int, payload: bytes, *, mask: bytes | None = MASK, form: str = "min") -> bytes:
    """A frame built by hand: first byte ``b0`` (FIN, RSV, opcode), masked with ``mask``
    (None: unmasked), its length in the minimal form or forced to 16 or 64 bits."""
    n = len(payload)
    bit = 0x80 if mask is not None else 0
    if form == "min" and n < 126:
        head = bytes((b0, bit | n))
    elif n < 1 << 16 and form in ("min", "16"):
        head = bytes((b0, bit | 126)) + n.to_bytes(2, "big")
    elif form == "64msb":  # §5.2: the most significant bit MUST be 0
        head = bytes((b0, bit | 127)) + ((1 << 63) | n).to_bytes(8, "big")
    else:
        head = bytes((b0, bit | 127)) + n.to_bytes(8, "big")
    if mask is None:
        return head + payload
    key = (mask * (n // 4 + 1))[:n]
    return head + mask + bytes(a ^ b for a, b in zip(payload, key, strict=True))


def _encoder(masked: bool) -> FrameProtocol:
    """wsproto's frame encoder of the peer: a client's (masked) or a server's."""
    return FrameProtocol(client=masked, extensions=[])


def _mask(masked: bool) -> bytes | None:
    return MASK if masked else None


SIZES = st.sampled_from([0, 1, 125, 126, 127, 65535, 65536, 70_000])
small_bytes = st.binary(max_size=40)
big_bytes = st.builds(lambda n, b: bytes([b]) * n, SIZES, st.integers(0, 255))
any_bytes = st.one_of(small_bytes, small_bytes, big_bytes)
any_text = st.one_of(st.text(max_size=30), st.builds(lambda n: "é" * (n // 2), SIZES))
control_payload = st.binary(max_size=125)


@st.composite
def wsproto_message(draw: st.DrawFn, masked: bool = True) -> bytes:
    """A valid message from wsproto's encoder: text or binary, in 1-4 frames, with pings
    or pongs between them (§5.4: control frames may be injected)."""
    proto = _encoder(masked)
    parts = draw(st.lists(any_text if draw(st.booleans()) else any_bytes, min_size=1, max_size=4))
    out = bytearray()
    for i, part in enumerate(parts):
        out += proto.send_data(part, fin=i == len(parts) - 1)
        if draw(st.integers(0, 3)) == 0:
            payload = draw(control_payload)
            out += proto.ping(payload) if draw(st.booleans()) else proto.pong(payload)
    return bytes(out)


@st.composite
def text_split_anywhere(draw: st.DrawFn, masked: bool = True) -> bytes:
    """A valid text message whose frames split its UTF-8 at any byte, even inside a
    character (§5.6: only the whole message must be valid)."""
    data = draw(st.text(min_size=1, max_size=20)).encode()
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return b"".join(
        raw_frame(
            (0x80 if i == len(pieces) - 1 else 0) | (1 if i == 0 else 0), p, mask=_mask(masked)
        )
        for i, p in enumerate(pieces)
    )


@st.composite
def text_fragments_any_bytes(draw: st.DrawFn, masked: bool = True) -> bytes:
    """A fragmented text message of any bytes (UTF-8 or not), pings between fragments:
    where an invalid byte is found decides which pings come before the failure."""
    pieces = draw(st.lists(st.binary(max_size=12), min_size=2, max_size=4))
    mask = _mask(masked)
    out = b""
    for i, p in enumerate(pieces):
        b0 = (0x80 if i == len(pieces) - 1 else 0) | (1 if i == 0 else 0)
        out += raw_frame(b0, p, mask=mask)
        if draw(st.booleans()):
            out += raw_frame(0x89, draw(st.binary(max_size=4)), mask=mask)
    return out


close_code = st.one_of(
    st.sampled_from([1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011]),
    st.sampled_from([1012, 1013, 1014, 1015, 1016, 2999, 3000, 4999, 5000, 0, 999, 65535]),
    st.integers(0, 65535),
)


@st.composite
def close_frames(draw: st.DrawFn, masked: bool = True) -> bytes:
    kind = draw(st.integers(0, 3))
    if kind == 0:  # wsproto's encoder, a valid code
        code = draw(st.sampled_from([1000, 1001, 1008, 3000, 4999]))
        return bytes(_encoder(masked).close(code, draw(st.text(max_size=20))))
    if kind == 1:
        return raw_frame(0x88, draw(st.sampled_from([b"", b"\x03"])), mask=_mask(masked))
    reason = draw(st.one_of(st.text(max_size=10).map(str.encode), st.binary(max_size=10)))
    return raw_frame(0x88, draw(close_code).to_bytes(2, "big") + reason, mask=_mask(masked))


@st.composite
def invalid_frame(draw: st.DrawFn, masked: bool = True) -> bytes:
    """A hand-built frame that may break any rule of §5 (or keep them all); masked as
    the peer's role requires four times in five."""
    fin = draw(st.booleans())
    rsv = draw(st.sampled_from([0, 0, 0, 1, 2, 4, 7]))
    opcode = draw(st.sampled_from([0, 1, 2, 8, 9, 10]) | st.integers(0, 15))
    payload = draw(st.binary(max_size=130) | big_bytes)
    right = draw(st.integers(0, 4)) != 0
    form = draw(st.sampled_from(["min", "min", "16", "64", "64msb"]))
    b0 = (0x80 if fin else 0) | rsv << 4 | opcode
    return raw_frame(b0, payload, mask=b"\x01\x80\xfe\x7f" if right == masked else None, form=form)


def pieces(masked: bool) -> st.SearchStrategy[bytes]:
    """Any piece of a peer's stream: the peer a client (``masked``) or a server."""
    return st.one_of(
        wsproto_message(masked),
        wsproto_message(masked),
        text_split_anywhere(masked),
        text_fragments_any_bytes(masked),
        st.binary(max_size=60).map(lambda b: raw_frame(0x81, b, mask=_mask(masked))),
        control_payload.map(lambda b: bytes(_encoder(masked).ping(b))),
        close_frames(masked),
        invalid_frame(masked),
        st.binary(min_size=1, max_size=12),  # garbage
    )


@st.composite
def peer_stream(draw: st.DrawFn, masked: bool = True) -> tuple[list[bytes], bool]:
    """The bytes a peer (a client when ``masked``, else a server) sends after the
    handshake, cut into chunks; and whether they are cut short."""
    data = b"".join(draw(st.lists(pieces(masked), max_size=6)))
    truncated = draw(st.integers(0, 3)) == 0
    if truncated and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    cuts = sorted(set(draw(st.lists(st.integers(0, len(data)), max_size=12))))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return chunks, truncated


def completion(rest: bytes) -> bytes | None:
    """Zeros that complete the incomplete frame ``rest`` (its length bytes, mask if its
    mask bit is set, payload); None when it would state more than 1 MiB (too slow to
    feed here)."""
    if len(rest) < 2:
        return None
    ext = {126: 2, 127: 8}.get(rest[1] & 0x7F, 0)
    head = (rest + bytes(2 + ext))[: 2 + ext]
    n = int.from_bytes(head[2:], "big") if ext else rest[1] & 0x7F
    total = 2 + ext + (4 if rest[1] & 0x80 else 0) + n
    return bytes(total - len(rest)) if n <= 1 << 20 and total > len(rest) else None


def check_agreement(chunks: list[bytes], *, server_side: bool) -> None:
    theirs = run_wsproto(chunks, server_side=server_side)
    ours = run_ours(chunks, server_side=server_side)
    assert ours.events == theirs.events
    if theirs.error is not None and ours.error is None:
        # wsproto failed on a frame's header or first payload bytes; ours waits for the
        # whole frame (see the module docstring). Once it has it, it fails the same way.
        assert ours.rest, (theirs, ours)
        more = completion(ours.rest)
        if more is not None:
            assert ours.codec is not None
            with pytest.raises(WebSocketError) as caught:
                ours.codec.receive_data(more)
            assert caught.value.code == theirs.error
            assert caught.value.events == []
    else:
        assert ours.error == theirs.error, (theirs, ours)


EXAMPLES = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@EXAMPLES
@given(peer_stream(masked=True))
def test_our_server_reader_agrees_with_wsproto(stream: tuple[list[bytes], bool]) -> None:
    check_agreement(stream[0], server_side=True)


@EXAMPLES
@given(peer_stream(masked=False))
def test_our_client_reader_agrees_with_wsproto(stream: tuple[list[bytes], bool]) -> None:
    check_agreement(stream[0], server_side=False)


def test_the_differences_documented_above_are_real() -> None:
    # Cut inside a frame with an unknown opcode: wsproto fails at once, ours waits.
    head = raw_frame(0x83, b"abcdef")[:8]
    assert run_wsproto([head]).error == 1002
    waiting = run_ours([head])
    assert (waiting.events, waiting.error, waiting.rest) == ([], None, head)
    # Whole, both fail it the same way.
    frame = raw_frame(0x83, b"abcdef")
    assert run_wsproto([frame]).error == run_ours([frame]).error == 1002


def test_each_role_fails_the_other_roles_masking() -> None:
    # A client's frame must be masked, a server's must not (§5.1): both fail with 1002.
    masked, unmasked = raw_frame(0x81, b"hi"), raw_frame(0x81, b"hi", mask=None)
    for server_side, wrong in ((True, unmasked), (False, masked)):
        assert run_wsproto([wrong], server_side=server_side).error == 1002
        assert run_ours([wrong], server_side=server_side).error == 1002
    assert run_ours([unmasked], server_side=False).events == [("text", "hi")]

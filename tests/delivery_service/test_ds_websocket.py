"""The service's own WebSocket server side (shared.websocket, server role): the handshake,
the frame codec against wsproto's client as an independent encoder, each protocol
violation's close code, and the transport on real sockets."""

from __future__ import annotations

import os
from typing import Any

import pytest
import trio
import trio_websocket
from hypothesis import given
from hypothesis import strategies as st
from wsproto import ConnectionType
from wsproto.connection import Connection
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage

from shared.protocol import Ping as PingFrame
from shared.protocol import Pong
from shared.websocket import (
    CLOSE_INVALID_DATA,
    CLOSE_NO_STATUS,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    CloseReceived,
    Event,
    HandshakeRefused,
    PingReceived,
    ServerWebSocket,
    WebSocketError,
    accept_handshake,
    close_frame,
    handshake_head_end,
)


def _request(**overrides: str | None) -> bytes:
    headers = {
        "Host": "127.0.0.1:7800",
        "Upgrade": "websocket",
        "Connection": "keep-alive, Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
    }
    for name, value in overrides.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    lines = ["GET /chat HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_handshake_answers_with_the_rfc_accept_value() -> None:
    # RFC 6455 §1.3's example key and its Sec-WebSocket-Accept.
    response = accept_handshake(_request())
    assert response.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert b"\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in response
    assert response.endswith(b"\r\n\r\n")
    # Header names are case-insensitive; tokens may come in any case.
    assert accept_handshake(_request(Upgrade="WebSocket").replace(b"Upgrade:", b"upgrade:"))


@pytest.mark.parametrize(
    ("request_", "status", "words"),
    [
        (_request().replace(b"GET", b"POST"), 400, "GET"),
        (_request(Upgrade=None), 426, "Upgrade"),
        (_request(Connection="keep-alive"), 400, "Connection"),
        (_request(Sec_WebSocket_Version="8"), 426, "version 13"),
        (_request(Sec_WebSocket_Key="c2hvcnQ="), 400, "16 bytes"),
        (_request(Sec_WebSocket_Key=None), 400, "16 bytes"),
        (_request(Host=None), 400, "Host"),
        (_request().replace(b"Upgrade: websocket", b"Upgrade websocket"), 400, "header"),
        (b"\xff" + _request(), 400, "ASCII"),
    ],
)
def test_handshake_refusals_say_what_is_wrong(request_: bytes, status: int, words: str) -> None:
    with pytest.raises(HandshakeRefused) as caught:
        accept_handshake(request_)
    assert caught.value.status == status and words in caught.value.detail
    response = caught.value.response
    assert response.startswith(f"HTTP/1.1 {status} ".encode())
    assert response.endswith(caught.value.detail.encode())


def test_handshake_head_end() -> None:
    assert handshake_head_end(b"GET / HTTP/1.1\r\nHost: x\r\n") == -1
    head = _request()
    assert handshake_head_end(head + b"\x81\x80") == len(head)
    with pytest.raises(HandshakeRefused):
        handshake_head_end(b"GET /" + b"a" * 20_000)


def _client() -> Connection:
    return Connection(ConnectionType.CLIENT)  # an independent encoder of masked frames


def _events_bytewise(ws: ServerWebSocket, data: bytes) -> list[Event]:
    events: list[Event] = []
    for i in range(len(data)):
        events.extend(ws.receive_data(data[i : i + 1]))
    return events


def test_frames_from_wsproto_parse_whole_and_byte_by_byte() -> None:
    client = _client()
    data = b"".join(
        [
            client.send(TextMessage("héllo")),
            client.send(BytesMessage(b"\x00\x01")),
            client.send(TextMessage("x" * 200)),  # 16-bit length
            client.send(BytesMessage(os.urandom(70_000))),  # 64-bit length
            client.send(TextMessage("frag", message_finished=False)),
            client.send(Ping(b"in the middle")),  # control frames may interleave
            client.send(TextMessage("ment", message_finished=True)),
            client.send(TextMessage("")),
            client.send(CloseConnection(4001, "bye")),
        ]
    )
    whole = ServerWebSocket(max_message=100_000).receive_data(data)
    assert whole[:3] == ["héllo", b"\x00\x01", "x" * 200]
    assert isinstance(whole[3], bytes) and len(whole[3]) == 70_000
    assert whole[4:] == [
        PingReceived(b"in the middle"),
        "fragment",
        "",
        CloseReceived(4001, "bye"),
    ]
    assert _events_bytewise(ServerWebSocket(max_message=100_000), data) == whole


@given(st.binary(max_size=300), st.lists(st.integers(1, 50), max_size=20))
def test_any_binary_message_survives_any_chunking(payload: bytes, cuts: list[int]) -> None:
    data = _client().send(BytesMessage(payload))
    ws = ServerWebSocket(max_message=1000)
    events: list[Event] = []
    pos = 0
    for cut in cuts:
        events.extend(ws.receive_data(data[pos : pos + cut]))
        pos += cut
    events.extend(ws.receive_data(data[pos:]))
    assert events == [payload]


def _masked(b0: int, payload: bytes, *, masked: bool = True, length: int | None = None) -> bytes:
    n = len(payload) if length is None else length
    mask = b"\x01\x02\x03\x04"
    body = bytes(c ^ mask[i % 4] for i, c in enumerate(payload)) if masked else payload
    if n < 126:
        head = bytes((b0, (0x80 if masked else 0) | n))
    elif n < 65536:
        head = bytes((b0, (0x80 if masked else 0) | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((b0, (0x80 if masked else 0) | 127)) + n.to_bytes(8, "big")
    return head + (mask if masked else b"") + body


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (_masked(0x81, b"hi", masked=False), CLOSE_PROTOCOL_ERROR, "masked"),
        (_masked(0xC1, b"hi"), CLOSE_PROTOCOL_ERROR, "reserved"),
        (_masked(0x83, b"hi"), CLOSE_PROTOCOL_ERROR, "opcode"),
        (_masked(0x80, b"hi"), CLOSE_PROTOCOL_ERROR, "continuation"),
        (_masked(0x01, b"a") + _masked(0x81, b"b"), CLOSE_PROTOCOL_ERROR, "inside"),
        (_masked(0x89, b"p" * 126), CLOSE_PROTOCOL_ERROR, "control"),
        (_masked(0x09, b"p"), CLOSE_PROTOCOL_ERROR, "control"),
        (_masked(0x81, b"\xff\xfe"), CLOSE_INVALID_DATA, "UTF-8"),
        (_masked(0x01, b"\xc3") + _masked(0x80, b"("), CLOSE_INVALID_DATA, "UTF-8"),
        (_masked(0x88, b"\x03"), CLOSE_PROTOCOL_ERROR, "1-byte"),
        (_masked(0x88, (1005).to_bytes(2, "big")), CLOSE_PROTOCOL_ERROR, "1005"),
        (_masked(0x88, (2999).to_bytes(2, "big")), CLOSE_PROTOCOL_ERROR, "2999"),
        (_masked(0x88, (1000).to_bytes(2, "big") + b"\xff"), CLOSE_INVALID_DATA, "UTF-8"),
        (_masked(0x88, (1014).to_bytes(2, "big")), CLOSE_PROTOCOL_ERROR, "1014"),
        # §5.2: lengths in their minimal form, a 64-bit one below 2**63 (as wsproto).
        (bytes((0x82, 0xFE)) + (125).to_bytes(2, "big"), CLOSE_PROTOCOL_ERROR, "minimal"),
        (bytes((0x82, 0xFF)) + (65535).to_bytes(8, "big"), CLOSE_PROTOCOL_ERROR, "minimal"),
        (bytes((0x82, 0xFF)) + (1 << 63 | 9).to_bytes(8, "big"), CLOSE_PROTOCOL_ERROR, "minimal"),
        # A fragmented text message fails at its first fragment that cannot be UTF-8,
        # before anything after it (the ping) is handed out.
        (_masked(0x01, b"ok\xff") + _masked(0x89, b""), CLOSE_INVALID_DATA, "UTF-8"),
        # Too big: refused from the header alone, before any payload is buffered.
        (_masked(0x82, b"", length=2001)[:4], CLOSE_TOO_BIG, "2000"),
        (_masked(0x02, b"a" * 1500) + _masked(0x80, b"", length=600)[:4], CLOSE_TOO_BIG, "2000"),
    ],
)
def test_protocol_violations_raise_with_their_close_code(
    data: bytes, code: int, words: str
) -> None:
    with pytest.raises(WebSocketError) as caught:
        ServerWebSocket(max_message=2000).receive_data(data)
    assert caught.value.code == code and words in caught.value.detail


def test_a_violation_carries_the_messages_before_it_and_nothing_follows_a_close() -> None:
    ws = ServerWebSocket(max_message=100)
    with pytest.raises(WebSocketError) as caught:
        ws.receive_data(_masked(0x81, b"first") + _masked(0x82, b"2") + _masked(0x83, b"x"))
    assert caught.value.events == ["first", b"2"]
    ws = ServerWebSocket(max_message=100)
    close = _masked(0x88, (1000).to_bytes(2, "big"))
    assert ws.receive_data(close + _masked(0xF3, b"not parsed")) == [CloseReceived(1000, "")]
    assert ws.receive_data(_masked(0x81, b"after the close")) == []


def test_close_codes_in_the_iana_registry_that_wsproto_takes() -> None:
    for code in (1012, 1013):
        ws = ServerWebSocket(max_message=100)
        assert ws.receive_data(_masked(0x88, code.to_bytes(2, "big"))) == [CloseReceived(code, "")]


def test_close_frames() -> None:
    ws = ServerWebSocket(max_message=100)
    assert ws.receive_data(_masked(0x8A, b"unsolicited pong")) == []
    assert ws.receive_data(_masked(0x88, b"")) == [CloseReceived(CLOSE_NO_STATUS, "")]
    ws = ServerWebSocket(max_message=100)  # one close per connection: a fresh one
    assert ws.receive_data(_masked(0x88, (1000).to_bytes(2, "big") + b"ok")) == [
        CloseReceived(1000, "ok")
    ]
    frame = close_frame(1009, "é" * 100)  # the reason is cut to fit, not mid-character
    assert frame[0] == 0x88 and frame[1] <= 125
    server = Connection(ConnectionType.CLIENT)
    server.receive_data(frame)
    (event,) = server.events()
    assert isinstance(event, CloseConnection) and event.code == 1009
    assert set(event.reason) == {"é"}


# --- on real sockets --------------------------------------------------------------------


async def test_ping_is_answered_and_a_client_close_is_echoed(start_ds: Any) -> None:
    ds = await start_ds()
    async with trio_websocket.open_websocket_url(ds.url) as ws:
        with trio.fail_after(5):
            await ws.ping(b"are you there")  # returns when the matching pong arrives
        await ws.send_message('{"v":1,"type":"ping","id":1}')
        from shared.protocol import decode_frame

        assert decode_frame(await ws.get_message()) == Pong(re=1)
        with trio.fail_after(5):
            await ws.aclose(4001, "done")  # waits for the server's close frame
        assert ws.closed is not None and ws.closed.code == 4001


async def test_a_non_websocket_request_gets_an_http_error_and_others_are_served(
    start_ds: Any,
) -> None:
    ds = await start_ds()
    port = int(ds.url.rsplit(":", 1)[1].strip("/"))
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    with trio.fail_after(5):
        while chunk := await stream.receive_some():
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 426 ") and b"Upgrade: websocket" in answer
    await stream.aclose()
    async with trio_websocket.open_websocket_url(ds.url) as ws:
        from shared.protocol import decode_frame, encode_frame

        await ws.send_message(encode_frame(PingFrame(id=2)))
        assert decode_frame(await ws.get_message()) == Pong(re=2)


async def test_a_protocol_violation_closes_that_connection_with_its_code(start_ds: Any) -> None:
    ds = await start_ds()
    port = int(ds.url.rsplit(":", 1)[1].strip("/"))
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    from wsproto import WSConnection
    from wsproto.events import Request

    client = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(client.send(Request(host="127.0.0.1", target="/")))
    with trio.fail_after(5):
        client.receive_data(await stream.receive_some())
        assert [type(e).__name__ for e in client.events()] == ["AcceptConnection"]
        await stream.send_all(_masked(0x81, b"hi", masked=False))  # unmasked: 1002
        data = b""
        while chunk := await stream.receive_some():
            data += chunk
    client.receive_data(data)
    closes = [e for e in client.events() if isinstance(e, CloseConnection)]
    assert closes and closes[0].code == CLOSE_PROTOCOL_ERROR
    await stream.aclose()


async def test_an_unfinished_opening_request_is_closed_at_the_handshake_timeout(
    start_ds: Any,
) -> None:
    from delivery_service.limits import Limits

    ds = await start_ds(Limits(handshake_timeout=0.3))
    port = int(ds.url.rsplit(":", 1)[1].strip("/"))
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and then nothing
    with trio.fail_after(5):
        assert await stream.receive_some() == b""  # closed by the server, no answer
    await stream.aclose()
    big = await trio.open_tcp_stream("127.0.0.1", port)
    # Just over the 16 KiB limit, all of it read by the server before it answers (so its
    # close cannot reset the connection over unread bytes).
    head = b"GET / HTTP/1.1\r\nX-Filler: "
    await big.send_all(head + b"a" * (16_400 - len(head)))
    answer = b""
    with trio.fail_after(5):
        while chunk := await big.receive_some():
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ") and answer.endswith(b"request head too long")
    await big.aclose()


async def test_the_transport_over_a_stream_without_a_socket() -> None:
    """TLS or any other trio stream: no non-blocking path, the same messages."""
    from trio.testing import memory_stream_pair
    from wsproto import WSConnection
    from wsproto.events import AcceptConnection, Request

    from delivery_service.transport import TransportClosed, accept_websocket
    from delivery_service.wire_frames import OutFrame

    server_end, client_end = memory_stream_pair()
    client = WSConnection(ConnectionType.CLIENT)

    async def peer() -> list[object]:
        await client_end.send_all(client.send(Request(host="x", target="/")))
        client.receive_data(await client_end.receive_some())
        assert [type(e) for e in client.events()] == [AcceptConnection]
        await client_end.send_all(
            client.send(TextMessage("one"))
            + client.send(Ping(b"p"))
            + client.send(TextMessage("two"))
        )
        seen: list[object] = []
        while not any(isinstance(e, CloseConnection) for e in seen):
            data = await client_end.receive_some()
            client.receive_data(data)
            seen.extend(client.events())
            if any(isinstance(e, CloseConnection) for e in seen):
                await client_end.send_all(client.send(CloseConnection(1000)))
        return seen

    seen: list[object] = []

    async def run_peer() -> None:
        seen.extend(await peer())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_peer)
        ws = await accept_websocket(server_end, 1000)
        assert ws is not None and not ws.ready_nowait()  # no socket: the writer's path
        assert await ws.receive() == "one"
        assert await ws.receive() == "two"  # the ping was answered in between
        await ws.send_frames([OutFrame("back")])
        await ws.close()
        with pytest.raises(TransportClosed):
            await ws.send("late")
    kinds = [type(e).__name__ for e in seen]
    assert kinds[:2] == ["Pong", "TextMessage"] and kinds[-1] == "CloseConnection"


async def test_a_read_full_of_messages_lets_other_tasks_run() -> None:
    """Thousands of small frames can arrive in one read: handing them out needs no wait,
    so the reader yields every MESSAGES_PER_TURN of them."""
    from delivery_service.transport import MESSAGES_PER_TURN, WebSocketTransport

    a, b = trio.socket.socketpair()
    server_end, client_end = trio.SocketStream(a), trio.SocketStream(b)
    transport = WebSocketTransport(server_end, max_message=1000)
    client = _client()
    count = 3 * MESSAGES_PER_TURN
    await client_end.send_all(b"".join(client.send(TextMessage(str(i))) for i in range(count)))
    seen_at: list[int] = []  # how many messages were handed out when the other task ran
    got: list[str | bytes] = []

    async def other() -> None:
        while len(got) < count:
            seen_at.append(len(got))
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        while len(got) < count:
            got.append(await transport.receive())
    assert got == [str(i) for i in range(count)]
    # The other task ran while one read's messages were being handed out (at a multiple
    # of MESSAGES_PER_TURN; trio may order a batch's tasks either way, so not at each).
    middle = [n for n in seen_at if 0 < n < count]
    assert middle and all(n % MESSAGES_PER_TURN == 0 for n in middle)
    await client_end.aclose()
    await server_end.aclose()


async def test_messages_before_a_violation_in_the_same_read_are_handed_out_first() -> None:
    """A read holding a message, a ping and then a protocol violation: the message is
    handed out and the ping answered before the connection fails with 1002."""
    from trio.testing import memory_stream_pair
    from wsproto import WSConnection
    from wsproto.events import AcceptConnection, Pong, Request

    from delivery_service.transport import TransportClosed, accept_websocket

    server_end, client_end = memory_stream_pair()
    client = WSConnection(ConnectionType.CLIENT)
    seen: list[object] = []

    async def peer() -> None:
        await client_end.send_all(client.send(Request(host="x", target="/")))
        client.receive_data(await client_end.receive_some())
        assert [type(e) for e in client.events()] == [AcceptConnection]
        unmasked = b"\x81\x03bad"  # client frames must be masked (RFC 6455 §5.1)
        await client_end.send_all(
            client.send(TextMessage("before")) + client.send(Ping(b"p")) + unmasked
        )
        while not any(isinstance(e, CloseConnection) for e in seen):
            client.receive_data(await client_end.receive_some())
            seen.extend(client.events())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(peer)
        ws = await accept_websocket(server_end, 1000)
        assert ws is not None
        assert await ws.receive() == "before"
        with pytest.raises(TransportClosed) as closed:
            await ws.receive()
        assert closed.value.code == CLOSE_PROTOCOL_ERROR
    assert [type(e) for e in seen] == [Pong, CloseConnection]
    close = seen[-1]
    assert isinstance(close, CloseConnection) and close.code == CLOSE_PROTOCOL_ERROR

"""The client role of the shared WebSocket codec (shared.websocket): the opening request,
the check of the server's answer (each way it can be wrong), masked frames (round trip
through our server reader and wsproto's), and the reader of a server's frames."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Request,
    TextMessage,
)

from shared.websocket import (
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    MAX_HANDSHAKE_BYTES,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_TEXT,
    ClientHandshake,
    ClientWebSocket,
    CloseReceived,
    PingReceived,
    ServerWebSocket,
    UpgradeFailed,
    WebSocketError,
    accept_handshake,
    client_close_frame,
    client_frame,
    client_pong_frame,
    response_head_end,
    server_frame,
    xor_mask,
)

RFC_KEY = base64.b64decode("dGhlIHNhbXBsZSBub25jZQ==")  # RFC 6455 §1.3's example
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
TWICE = f"\r\nSec-WebSocket-Accept: {RFC_ACCEPT}\r\n\r\n".encode()


def _headers(request: bytes) -> tuple[str, dict[str, str]]:
    lines = request.decode().split("\r\n")
    assert lines[-2:] == ["", ""]
    return lines[0], dict(line.split(": ", 1) for line in lines[1:-2])


def test_the_request_names_host_path_and_a_random_16_byte_key() -> None:
    first, headers = _headers(ClientHandshake("ds.example:7800", "/a/b?x=1").request)
    assert first == "GET /a/b?x=1 HTTP/1.1"
    assert headers["Host"] == "ds.example:7800"
    assert headers["Upgrade"] == "websocket"
    assert headers["Connection"] == "Upgrade"
    assert headers["Sec-WebSocket-Version"] == "13"
    assert len(base64.b64decode(headers["Sec-WebSocket-Key"], validate=True)) == 16
    keys = {ClientHandshake("h", "/").key for _ in range(20)}
    assert len(keys) == 20  # fresh each time (§4.1)


def test_our_server_and_wsproto_take_the_request_and_their_answers_pass() -> None:
    ours = ClientHandshake("127.0.0.1:7800", "/", key=RFC_KEY)
    response = accept_handshake(ours.request)
    assert f"Sec-WebSocket-Accept: {RFC_ACCEPT}\r\n".encode() in response
    ours.check_response(response)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(ours.request)
    request = next(server.events())
    assert isinstance(request, Request)
    assert (request.host, request.target) == ("127.0.0.1:7800", "/")
    ours.check_response(server.send(AcceptConnection()))


def _answer(status: str = "101 Switching Protocols", **headers: str | None) -> bytes:
    values: dict[str, str | None] = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Accept": RFC_ACCEPT,
    }
    values.update({k.replace("_", "-"): v for k, v in headers.items()})
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in values.items() if v is not None)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_an_answer_with_other_casing_and_token_lists_passes() -> None:
    answer = _answer(Upgrade="WebSocket", Connection="keep-alive, upgrade")
    ClientHandshake("h", "/", key=RFC_KEY).check_response(answer.replace(b"Upgrade:", b"upgrade:"))


@pytest.mark.parametrize(
    ("answer", "status", "names"),
    [
        (_answer("400 Bad Request"), 400, "answered 400 Bad Request"),
        (_answer("426 Upgrade Required"), 426, "answered 426"),
        (_answer("200 OK"), 200, "answered 200"),
        (_answer(Upgrade=None), 101, "Upgrade: websocket"),
        (_answer(Upgrade="h2c"), 101, "Upgrade: websocket"),
        (_answer(Connection=None), 101, "Connection: Upgrade"),
        (_answer(Connection="close"), 101, "Connection: Upgrade"),
        (_answer(Sec_WebSocket_Accept=None), 101, "given 0 times"),
        (_answer(Sec_WebSocket_Accept="AAAA"), 101, "Sec-WebSocket-Accept is 'AAAA'"),
        (
            _answer().replace(
                b"\r\n\r\n", f"\r\nSec-WebSocket-Accept: {RFC_ACCEPT}\r\n\r\n".encode()
            ),
            101,
            "given 2 times",
        ),
        (_answer(Sec_WebSocket_Extensions="permessage-deflate"), 101, "extensions"),
        (_answer(Sec_WebSocket_Protocol="chat"), 101, "protocol"),
        (b"HTTP/1.1 101\xff Switching\r\n\r\n", None, "not ASCII"),
        (b"SIP/2.0 101 Switching Protocols\r\n\r\n", None, "status line"),
        (b"HTTP/1.1 1o1 Switching Protocols\r\n\r\n", None, "status line"),
        (_answer().replace(b"Upgrade: websocket", b"Upgrade websocket"), None, "malformed"),
        (_answer().replace(b"\r\nUpgrade", b"\r\n Upgrade"), None, "malformed"),
    ],
)
def test_a_wrong_answer_is_refused_naming_what_is_wrong(
    answer: bytes, status: int | None, names: str
) -> None:
    with pytest.raises(UpgradeFailed) as caught:
        ClientHandshake("h", "/", key=RFC_KEY).check_response(answer)
    assert names in caught.value.detail
    assert caught.value.status == status


def test_an_accept_for_another_key_is_refused() -> None:
    other = ClientHandshake("h", "/")  # its own random key
    with pytest.raises(UpgradeFailed, match="expected"):
        ClientHandshake("h", "/", key=RFC_KEY).check_response(accept_handshake(other.request))


@pytest.mark.parametrize(
    ("host", "target"),
    [("", "/"), ("h", ""), ("h", "no-slash"), ("h\r\nX: 1", "/"), ("h", "/a b"), ("hé", "/")],
)
def test_what_cannot_go_into_a_request_is_refused(host: str, target: str) -> None:
    with pytest.raises(ValueError):
        ClientHandshake(host, target)
    with pytest.raises(ValueError, match="16 bytes"):
        ClientHandshake("h", "/", key=b"short")


def test_the_response_head_end_is_found_and_bounded() -> None:
    answer = _answer()
    assert response_head_end(answer[:-1]) == -1
    assert response_head_end(answer + b"\x81\x02hi") == len(answer)
    with pytest.raises(UpgradeFailed, match="over"):
        response_head_end(b"HTTP/1.1 101 x\r\n" + b"X: y\r\n" * (MAX_HANDSHAKE_BYTES // 6))


# --- masked frames --------------------------------------------------------------------


@given(
    st.binary(max_size=300)
    | st.sampled_from([b"x" * 70_000, bytes(range(256)) * 300, b"q" * 32_768])
)
def test_masking_is_its_own_inverse_and_matches_a_per_byte_xor(data: bytes) -> None:
    mask = b"\x12\xab\x00\xff"
    masked = xor_mask(data, mask)
    assert masked == bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    assert xor_mask(masked, mask) == data


@given(
    st.sampled_from([OP_TEXT, OP_BINARY]),
    st.binary(max_size=200) | st.sampled_from([b"y" * 125, b"z" * 126, b"w" * 65_536]),
)
def test_a_client_frame_reads_back_through_our_server_reader_and_wsprotos(
    opcode: int, payload: bytes
) -> None:
    if opcode == OP_TEXT:
        payload = payload.decode("latin-1").encode()  # valid UTF-8
    frame = client_frame(opcode, payload)
    assert frame[1] & 0x80  # the mask bit
    expected: str | bytes = payload.decode() if opcode == OP_TEXT else payload
    assert ServerWebSocket(1 << 20).receive_data(frame) == [expected]
    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    list(server.events())
    client.receive_data(server.send(AcceptConnection()))
    list(client.events())
    server.receive_data(frame)
    events = list(server.events())
    kind = TextMessage if opcode == OP_TEXT else BytesMessage
    assert all(isinstance(e, kind) for e in events)
    joined = (
        "".join(e.data for e in events) if opcode == OP_TEXT else b"".join(e.data for e in events)
    )
    assert joined == expected


def test_each_frame_gets_a_fresh_mask() -> None:
    masks = {client_frame(OP_TEXT, b"same")[2:6] for _ in range(50)}
    assert len(masks) > 45  # 32 random bits each: a repeat in 50 is ~3e-7 likely
    assert client_frame(OP_TEXT, b"ab", mask=b"\x01\x02\x03\x04") == (
        b"\x81\x82\x01\x02\x03\x04" + bytes((ord("a") ^ 1, ord("b") ^ 2))
    )
    with pytest.raises(ValueError):
        client_frame(OP_TEXT, b"", mask=b"abc")


def test_client_control_frames() -> None:
    reader = ServerWebSocket(1 << 20)
    assert reader.receive_data(client_pong_frame(b"p")) == []  # a pong: no event
    assert reader.receive_data(client_close_frame(1000, "bye")) == [CloseReceived(1000, "bye")]
    # A close reason is cut to the 125-byte limit, never inside a character.
    long = client_close_frame(1001, "é" * 100)
    assert ServerWebSocket(1 << 20).receive_data(long) == [CloseReceived(1001, "é" * 61)]


# --- the reader of a server's frames ------------------------------------------------


def test_the_client_reader_takes_unmasked_frames_in_any_chunks() -> None:
    data = (
        server_frame(OP_TEXT, "héllo".encode())
        + server_frame(OP_BINARY, b"\x00" * 70_000)
        + server_frame(OP_PING, b"p?")
        + server_frame(OP_CLOSE, (1001).to_bytes(2, "big") + b"restart")
    )
    reader = ClientWebSocket(1 << 20)
    events = []
    for i in range(0, len(data), 997):
        events += reader.receive_data(data[i : i + 997])
    assert events == [
        "héllo",
        b"\x00" * 70_000,
        PingReceived(b"p?"),
        CloseReceived(1001, "restart"),
    ]


def test_a_fragmented_server_message_with_a_ping_inside_is_joined() -> None:
    text = "fragmented ✓".encode()
    cut = text.index("✓".encode()) + 1  # inside the character
    data = (
        bytes((OP_TEXT, len(text[:cut])))
        + text[:cut]
        + server_frame(OP_PING, b"")
        + bytes((0x80 | OP_CONTINUATION, len(text[cut:])))
        + text[cut:]
    )
    assert ClientWebSocket(1 << 20).receive_data(data) == [
        PingReceived(b""),
        "fragmented ✓",
    ]


def test_a_masked_server_frame_is_a_protocol_error() -> None:
    good = server_frame(OP_TEXT, b"first")
    with pytest.raises(WebSocketError) as caught:
        ClientWebSocket(1 << 20).receive_data(good + client_frame(OP_TEXT, b"masked"))
    assert caught.value.code == CLOSE_PROTOCOL_ERROR
    assert "must not be masked" in caught.value.detail
    assert caught.value.events == ["first"]  # what came before is not lost


def test_a_server_message_over_the_limit_fails_before_its_payload_is_in() -> None:
    with pytest.raises(WebSocketError) as caught:
        ClientWebSocket(100).receive_data(server_frame(OP_BINARY, bytes(101))[:6])
    assert caught.value.code == CLOSE_TOO_BIG


def test_wsproto_server_frames_read_back() -> None:
    client = WSConnection(ConnectionType.CLIENT)
    server = WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="h", target="/")))
    list(server.events())
    server.send(AcceptConnection())
    data = server.send(TextMessage(data="a" * 200)) + server.send(BytesMessage(data=b"b" * 70_000))
    data += server.send(CloseConnection(code=1000, reason="done"))
    assert ClientWebSocket(1 << 20).receive_data(data) == [
        "a" * 200,
        b"b" * 70_000,
        CloseReceived(1000, "done"),
    ]

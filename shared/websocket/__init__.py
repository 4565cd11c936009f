"""WebSocket (RFC 6455), sans-I/O, for both ends: bytes in, events out; bytes to write
are returned, never written.

    handshake  the opening handshake: a server's answer (``accept_handshake``), a
               client's request and its check of the answer (``ClientHandshake``)
    frames     frame building (a client's masked, a server's not) and the reader of a
               peer's frames (``ServerWebSocket``, ``ClientWebSocket``)

The delivery service (``delivery_service.transport``) and the client
(``client.core.connection``) put trio streams around it. Its own reader, not
trio-websocket's: with trio-websocket each message went through a reader task and a
memory channel (two task switches) and wsproto's general-purpose parser, the largest
share of the service's CPU per received frame at 1000 connections
(benchmarks/ds_fanout/RESULTS.md, fifth session); and a client wrote one frame per
scheduling point (benchmarks/scenario_scale/README.md, "Client framing (H1)").
"""

from shared.websocket.frames import (
    CLOSE_ABNORMAL,
    CLOSE_GOING_AWAY,
    CLOSE_INVALID_DATA,
    CLOSE_NO_STATUS,
    CLOSE_NORMAL,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_TOO_BIG,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    ClientWebSocket,
    CloseReceived,
    Event,
    FrameReader,
    PingReceived,
    ServerWebSocket,
    WebSocketError,
    client_close_frame,
    client_frame,
    client_pong_frame,
    close_frame,
    pong_frame,
    server_frame,
    xor_mask,
)
from shared.websocket.handshake import (
    MAX_HANDSHAKE_BYTES,
    ClientHandshake,
    HandshakeRefused,
    UpgradeFailed,
    accept_handshake,
    accept_value,
    handshake_head_end,
    response_head_end,
)

__all__ = [
    "CLOSE_ABNORMAL",
    "CLOSE_GOING_AWAY",
    "CLOSE_INVALID_DATA",
    "CLOSE_NORMAL",
    "CLOSE_NO_STATUS",
    "CLOSE_PROTOCOL_ERROR",
    "CLOSE_TOO_BIG",
    "MAX_HANDSHAKE_BYTES",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONTINUATION",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "ClientHandshake",
    "ClientWebSocket",
    "CloseReceived",
    "Event",
    "FrameReader",
    "HandshakeRefused",
    "PingReceived",
    "ServerWebSocket",
    "UpgradeFailed",
    "WebSocketError",
    "accept_handshake",
    "accept_value",
    "client_close_frame",
    "client_frame",
    "client_pong_frame",
    "close_frame",
    "handshake_head_end",
    "pong_frame",
    "response_head_end",
    "server_frame",
    "xor_mask",
]

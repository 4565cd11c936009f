"""CPU per received message on the service's receive path, three ways: trio-websocket
(the service's WebSocket library until the fifth session: a reader task and a memory
channel per connection around wsproto); wsproto used directly in the connection's own
task (the library without trio-websocket's task and channel: the obvious way to use it
here); and ``shared.websocket`` with ``transport.WebSocketTransport`` (the
service's own layer since).

    uv run --no-sync python benchmarks/ds_fanout/receive_path.py [--messages 20000]

One process, one trio run, a loopback TCP connection per side: a raw client writes N
masked text frames (the size of a quiet ack and of a ``send`` frame), in writes of 16
frames, and the server side reads them one message at a time, as the service's reader
does. The figure is the process's CPU time (both sides; the client side is the same
bytes for every library) per message. Prints JSON with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import trio
import trio_websocket
import wsproto
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Request,
    TextMessage,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from delivery_service.transport import RECEIVE_BYTES, accept_websocket
from shared.protocol import Ack, SendMessage, encode_frame

BURST = 16  # frames per client write


def masked_text(text: str) -> bytes:
    payload = text.encode()
    n = len(payload)
    mask = os.urandom(4)
    head = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0xFE)) + n.to_bytes(2, "big")
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
    return head + mask + (int.from_bytes(payload, "little") ^ key).to_bytes(n, "little")


async def run_one(library: str, frame: bytes, count: int) -> float:
    """CPU seconds per message for ``count`` messages of ``frame``."""
    received = 0
    done = trio.Event()

    async def on_ours(stream: trio.SocketStream) -> None:
        nonlocal received
        ws = await accept_websocket(stream, 1 << 20)
        assert ws is not None
        while received < count:
            await ws.receive()
            received += 1
        done.set()

    async def on_theirs(request: trio_websocket.WebSocketRequest) -> None:
        nonlocal received
        ws = await request.accept()
        while received < count:
            await ws.get_message()
            received += 1
        done.set()

    async def on_wsproto(stream: trio.SocketStream) -> None:
        # What a receive loop on wsproto alone does: read, feed, and take whole messages
        # (wsproto hands out frames' parts as they arrive), answering pings on the way.
        nonlocal received
        ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
        text: list[str] = []
        data = bytearray()
        while received < count:
            chunk = await stream.receive_some(RECEIVE_BYTES)
            if not chunk:
                break
            ws.receive_data(chunk)
            for event in ws.events():
                if isinstance(event, TextMessage):
                    text.append(event.data)
                    if event.message_finished:
                        "".join(text)  # the message, as the service would take it
                        text.clear()
                        received += 1
                elif isinstance(event, BytesMessage):
                    data += event.data
                    if event.message_finished:
                        bytes(data)
                        data.clear()
                        received += 1
                elif isinstance(event, Ping):
                    await stream.send_all(ws.send(event.response()))
                elif isinstance(event, Request):
                    await stream.send_all(ws.send(AcceptConnection()))
                elif isinstance(event, CloseConnection):
                    return
        done.set()

    async with trio.open_nursery() as nursery:
        if library == "wsproto":
            listeners = await nursery.start(trio.serve_tcp, on_wsproto, 0)
            port = listeners[0].socket.getsockname()[1]
        elif library == "ours":
            listeners = await nursery.start(trio.serve_tcp, on_ours, 0)
            port = listeners[0].socket.getsockname()[1]
        else:
            server = await nursery.start(
                trio_websocket.serve_websocket, on_theirs, "127.0.0.1", 0, None
            )
            port = server.port
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive_some()
        burst = frame * BURST
        cpu0 = time.process_time()
        for _ in range(count // BURST):
            await stream.send_all(burst)
            await trio.sleep(0)  # let the server side read, as a real peer's pace would
        await done.wait()
        cpu = time.process_time() - cpu0
        nursery.cancel_scope.cancel()
    return cpu / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    count = args.messages // BURST * BURST
    frames = {
        "ack (quiet, 8 mids)": masked_text(
            encode_frame(Ack(id=10_000_001, mids=tuple(range(900_000, 900_008)), quiet=True))
        ),
        "send (200-byte message)": masked_text(
            encode_frame(SendMessage(id=123_000_000_001, group_id=b"g" * 24, message=b"m" * 240))
        ),
    }
    load = os.getloadavg()
    out: dict[str, Any] = {"messages": count, "load_average_at_start": load, "results": {}}
    for name, frame in frames.items():
        row = {}
        for library in ("trio-websocket", "wsproto", "ours"):
            best = min(trio.run(run_one, library, frame, count) for _ in range(3))
            row[library] = round(best * 1e6, 1)
        row["ours / trio-websocket"] = round(row["ours"] / row["trio-websocket"], 3)
        row["ours / wsproto"] = round(row["ours"] / row["wsproto"], 3)
        out["results"][f"{name}: CPU us per message, best of 3"] = row
    out["load_average_at_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

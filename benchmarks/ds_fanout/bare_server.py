"""The floor: the service's own WebSocket layer (``shared.websocket`` and
``transport.WebSocketTransport``, the same as the service's connections) fanning frames
out with no storage, no validation, no protocol. A client's first message names its
group (a decimal number); every later message is sent verbatim to the group's other
members and echoed to the sender (standing in for the real service's ``sent`` reply).

Like the service, it builds each message's WebSocket frame once and hands it to every
recipient's socket with a non-blocking send when nothing is pending there (else it
waits for that recipient's write): the floor gets the same send path as the service.
"""

from __future__ import annotations

import functools
import sys
from collections import defaultdict
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from delivery_service.transport import (
    TransportClosed,
    WebSocketTransport,
    accept_websocket,
)
from delivery_service.wire_frames import OutFrame

MAX_MESSAGE = 8 * 1024 * 1024  # the service's default frame limit
GROUPS: dict[str, set[WebSocketTransport]] = defaultdict(set)


async def handler(stream: trio.SocketStream) -> None:
    ws = await accept_websocket(stream, MAX_MESSAGE)
    if ws is None:
        await stream.aclose()
        return
    members: set[WebSocketTransport] | None = None
    try:
        group = str(await ws.receive())
        members = GROUPS[group]
        members.add(ws)
        while True:
            message = await ws.receive()
            frame = [OutFrame(message if isinstance(message, str) else message.decode())]
            for other in list(members):
                try:
                    if other.ready_nowait():
                        if not other.send_nowait(frame):
                            await other.send_frames([])  # the tail the kernel did not take
                    else:
                        await other.send_frames(frame)  # after a pending tail or write
                except TransportClosed:
                    members.discard(other)
    except TransportClosed:
        pass
    finally:
        if members is not None:
            members.discard(ws)
        await ws.close()


async def main() -> None:
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        print(f"bare: listening on ws://127.0.0.1:{port}/", flush=True)


if __name__ == "__main__":
    sys.exit(trio.run(main))

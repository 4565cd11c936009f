"""The floor: the same WebSocket library fanning frames out with no storage, no
validation, no protocol. A client's first message names its group (a decimal number);
every later message is sent verbatim to the group's other members and echoed to the
sender (standing in for the real service's ``sent`` reply)."""

from __future__ import annotations

import sys
from collections import defaultdict

import trio
import trio_websocket

GROUPS: dict[str, set[trio_websocket.WebSocketConnection]] = defaultdict(set)


async def handler(request: trio_websocket.WebSocketRequest) -> None:
    ws = await request.accept()
    group = str(await ws.get_message())
    members = GROUPS[group]
    members.add(ws)
    try:
        while True:
            message = await ws.get_message()
            for other in list(members):
                try:
                    await other.send_message(message)
                except trio_websocket.ConnectionClosed:
                    members.discard(other)
    except trio_websocket.ConnectionClosed:
        pass
    finally:
        members.discard(ws)


async def main() -> None:
    async with trio.open_nursery() as nursery:
        server = await nursery.start(trio_websocket.serve_websocket, handler, "127.0.0.1", 0, None)
        print(f"bare: listening on ws://127.0.0.1:{server.port}/", flush=True)


if __name__ == "__main__":
    sys.exit(trio.run(main))

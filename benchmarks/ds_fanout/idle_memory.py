"""Memory per idle connection of the delivery service (issue 4: target <= 50 KiB).

    uv run --no-sync python benchmarks/ds_fanout/idle_memory.py [--connections 400]
        [--service-root OTHER_CHECKOUT]

Two fresh service processes, each measured alone (RSS from /proc, before and after):

- ``bare``: N WebSocket connections that completed ``hello`` (challenged, idle);
- ``registered``: N connections that registered (a logged-in client, idle). A first
  registration of a credential also fills the service's bounded caches: the validator's
  chain and verdict caches and SQLite's page cache (2 MB); they are inside this figure.

``--service-root`` runs another checkout's service (paired before/after runs). Prints
JSON, with the load average beside the figures (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import trio
import trio_websocket

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench

from shared.protocol import Hello, encode_frame
from shared.stir.pki import DemoPKI


async def measure(n: int, registered: bool, root: Path) -> float:
    """KiB of service RSS per idle connection (``registered``: per idle session)."""
    with tempfile.TemporaryDirectory() as tmp:
        pki = DemoPKI.init(Path(tmp) / "pki")
        members = bench.Members(pki, n) if registered else None
        proc, url = await bench.start_process(
            [
                sys.executable,
                "-m",
                "delivery_service.cli",
                "serve",
                "--db",
                str(Path(tmp) / "m.sqlite"),
                "--port",
                "0",
                "--trust",
                str(pki.directory),
                "--ds-id",
                bench.DS_ID,
                "--rate",
                "1e9",
                "--burst",
                "1000000000",
            ],
            cwd=root,
        )
        try:
            async with trio.open_nursery() as nursery:
                await trio.sleep(0.5)
                base = bench.rss_kib(proc.pid)
                if members is None:
                    # Within the handshake timeout (10 s): challenged connections must
                    # not time out before they are counted.
                    with trio.fail_after(9):
                        for _ in range(n):
                            ws = await trio_websocket.connect_websocket_url(nursery, url)
                            hello = Hello(id=1, client_nonce=os.urandom(32))
                            await ws.send_message(encode_frame(hello))
                            await ws.get_message()
                else:
                    for tn, signer, cred in members.members:
                        await bench.register(url, tn, signer, cred, nursery)
                await trio.sleep(0.5)
                after = bench.rss_kib(proc.pid)
                nursery.cancel_scope.cancel()
        finally:
            proc.kill()
            await proc.wait()
    return round((after - base) / n, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=400)
    parser.add_argument("--service-root", type=Path, default=bench.REPO)
    args = parser.parse_args()
    load_start = os.getloadavg()
    bare = trio.run(measure, args.connections, False, args.service_root)
    registered = trio.run(measure, args.connections, True, args.service_root)
    result = {
        "connections": args.connections,
        "service_root": str(args.service_root),
        "kib_per_idle_connection_bare": bare,
        "kib_per_idle_registered_session": registered,
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

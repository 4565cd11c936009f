"""Memory per idle connection of the delivery service (issue 4: target <= 50 KiB).

    uv run --no-sync python benchmarks/ds_fanout/idle_memory.py [--connections 400]

Starts the service in its own process and reads its RSS (/proc) three times: with no
client; after N WebSocket connections that completed ``hello`` (challenged, idle); after
N more connections that registered (a first registration: it includes the validator's
caches for that credential and the stored registration). Prints JSON.
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


async def measure(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        pki = DemoPKI.init(Path(tmp) / "pki")
        members = bench.Members(pki, n)
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
            ]
        )
        try:
            async with trio.open_nursery() as nursery:
                await trio.sleep(0.5)
                base = bench.rss_kib(proc.pid)
                for _ in range(n):
                    ws = await trio_websocket.connect_websocket_url(nursery, url)
                    await ws.send_message(encode_frame(Hello(id=1, client_nonce=os.urandom(32))))
                    await ws.get_message()
                await trio.sleep(0.5)
                challenged = bench.rss_kib(proc.pid)
                for tn, signer, cred in members.members:
                    await bench.register(url, tn, signer, cred, nursery)
                await trio.sleep(0.5)
                registered = bench.rss_kib(proc.pid)
                nursery.cancel_scope.cancel()
        finally:
            proc.kill()
            await proc.wait()
    return {
        "connections": n,
        "rss_kib_no_client": base,
        "kib_per_idle_connection_challenged": round((challenged - base) / n, 1),
        "kib_per_idle_registered_session": round((registered - challenged) / n, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=400)
    print(json.dumps(trio.run(measure, parser.parse_args().connections), indent=2))


if __name__ == "__main__":
    main()

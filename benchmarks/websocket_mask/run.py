"""The cost of masking a client's frame (RFC 6455 §5.3) with ``shared.websocket``:
``xor_mask`` (big-integer XORs of 16 KiB pieces) against one big-integer XOR of the whole
payload and a per-byte XOR, and a whole ``client_frame``
(a fresh ``os.urandom`` mask, header, masked payload) beside the unmasked
``server_frame``, for payload sizes a client sends (an ack or a message: ~200 B; a
commit: tens of KB; a large commit: 1 MB).

    uv run --no-sync python benchmarks/websocket_mask/run.py
"""

from __future__ import annotations

import os
import sys
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from shared.websocket import OP_TEXT, client_frame, server_frame, xor_mask

SIZES = [200, 1024, 64 * 1024, 1024 * 1024]


def one_integer(data: bytes, mask: bytes) -> bytes:
    """The whole payload as one big-integer XOR (what ``xor_mask`` does up to 16 KiB)."""
    n = len(data)
    key = int.from_bytes((mask * ((n >> 2) + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ key).to_bytes(n, "little")


def per_byte(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i & 3] for i, b in enumerate(data))


def best_us(stmt: Callable[[], object], number: int) -> float:
    """Best of 5 repeats, microseconds per call."""
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number * 1e6


def main() -> None:
    mask = os.urandom(4)
    titles = ("payload", "xor_mask", "one integer", "per-byte", "client_frame", "server_frame")
    print("".join(f"{t:>14}" for t in titles))
    for n in SIZES:
        data = os.urandom(n)
        number = max(3, 200_000 // n)
        assert xor_mask(data, mask) == per_byte(data, mask)
        fast = best_us(partial(xor_mask, data, mask), number)
        whole = best_us(partial(one_integer, data, mask), number)
        slow = best_us(partial(per_byte, data, mask), max(1, number // 20))
        client = best_us(partial(client_frame, OP_TEXT, data), number)
        server = best_us(partial(server_frame, OP_TEXT, data), number)
        figures = "".join(f"{f:>12.1f}µs" for f in (fast, whole, slow, client, server))
        print(f"{n:>14}{figures}")
    urandom = best_us(lambda: os.urandom(4), 100_000)
    print(f"os.urandom(4): {urandom:.2f} µs")


if __name__ == "__main__":
    main()

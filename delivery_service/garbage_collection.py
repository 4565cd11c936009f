"""When the service's process runs full garbage collections.

CPython starts a full (generation 2) collection whenever the objects that survived into
the oldest generation grew by a quarter. With 1000 connections each such scan took
200-280 ms (benchmarks/ds_fanout/RESULTS.md, 2026-11-28), and under load it came every
few seconds: every delivery in flight waited for it, which is what set the p99 latency.
The ``serve`` command therefore turns automatic full collections off and runs one every
``FULL_COLLECTION_INTERVAL`` seconds instead. Reference counting frees almost every
object at once anyway; full collections only find reference cycles (e.g. of closed
connections' tasks), which now wait up to one interval. Young collections are unchanged.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

import trio

FULL_COLLECTION_INTERVAL = 300.0  # seconds between full collections (``serve`` default)
_NEVER = 2**31 - 1  # young collections between automatic full ones: none in practice


def defer_full_collections() -> tuple[int, int, int]:
    """Stop automatic full collections (young ones go on); returns the old thresholds
    (``gc.set_threshold(*old)`` restores them)."""
    old = gc.get_threshold()
    gc.set_threshold(old[0], old[1], _NEVER)
    return old


async def collect_periodically(interval: float, collect: Callable[[int], int] = gc.collect) -> None:
    """Run a full collection every ``interval`` seconds, until cancelled."""
    while True:
        await trio.sleep(interval)
        collect(2)

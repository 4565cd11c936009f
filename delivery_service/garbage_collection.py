"""When the service's process runs full garbage collections.

CPython starts a full (generation 2) collection whenever the objects that survived into
the oldest generation grew by a quarter. With 1000 connections each such scan took
200-280 ms (benchmarks/ds_fanout/RESULTS.md, 2026-11-28), and under load it came every
few seconds: every delivery in flight waited for it, which is what set the p99 latency.
The ``serve`` command therefore turns automatic full collections off and runs one every
``FULL_COLLECTION_INTERVAL`` seconds instead. Reference counting frees almost every
object at once anyway; full collections only find reference cycles (e.g. of closed
connections' tasks), which now wait up to one interval. Young collections come less
often too (``YOUNG_COLLECTION_THRESHOLD``).
"""

from __future__ import annotations

import gc
from collections.abc import Callable

import trio

FULL_COLLECTION_INTERVAL = 300.0  # seconds between full collections (``serve`` default)
# Net allocations between young collections (``serve`` default; Python's is 700). A young
# collection scans every young object still alive, and with 1000 connections that is
# the recent state of each (its last frame's objects): at C = 1000 there were 150 young
# collections in a 5 s run, up to 14 ms (generation 0) and 37 ms (generation 1) of CPU
# each, 15% of the service's CPU (benchmarks/ds_fanout/RESULTS.md, fifth session).
# Almost everything dies by reference counting: with 20,000 there were none in the same
# runs, while a growing backlog still triggers them.
YOUNG_COLLECTION_THRESHOLD = 20_000
_NEVER = 2**31 - 1  # young collections between automatic full ones: none in practice


def defer_full_collections(young: int | None = None) -> tuple[int, int, int]:
    """Stop automatic full collections (young ones go on); with ``young``, a young
    collection comes every ``young`` allocations instead of Python's 700. Returns the
    old thresholds (``gc.set_threshold(*old)`` restores them)."""
    old = gc.get_threshold()
    gc.set_threshold(old[0] if young is None else young, old[1], _NEVER)
    return old


async def collect_periodically(interval: float, collect: Callable[[int], int] = gc.collect) -> None:
    """Run a full collection every ``interval`` seconds, until cancelled."""
    while True:
        await trio.sleep(interval)
        collect(2)

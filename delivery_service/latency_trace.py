"""Where a message's time goes inside the service: stage timestamps per stored ``send``.

For a latency budget (benchmarks/ds_fanout/run.py ``--latency-trace``), each ``send``
the service stores gets one row of ``time.monotonic()`` readings (CLOCK_MONOTONIC, one
clock for every process on Linux, so the benchmark can join them with its own send and
receipt times by mid):

- ``received``: the connection's reader has the frame's bytes (read and unframed);
- ``decoded``: it is decoded, checked and handed to the write batcher;
- ``batch_started``: the batcher's transaction holding it begins;
- ``committed``: that transaction has committed;
- ``fanned_out``: the transaction's messages have been pushed to every connected
  recipient (written to their sockets where they took the bytes at once; the rest is
  left to the connection's writer task);
- ``transaction_cpu``, ``fan_out_cpu``: the event loop thread's CPU time in that
  transaction and in that fan-out (seconds): a stage much longer in wall-clock time
  than in CPU time waited (for a CPU, on a shared machine, or for the disk).

Off unless asked for (``stirmls ds serve --latency-trace FILE``): it costs five clock
reads and a tuple per message. Written with the loop statistics on SIGUSR2.
"""

from __future__ import annotations

import time
from typing import Any

FIELDS = (
    "mid",
    "received",
    "decoded",
    "batch_started",
    "committed",
    "fanned_out",
    "transaction_cpu",
    "fan_out_cpu",
)
Row = tuple[int, float, float, float, float, float, float, float]
MAX_ROWS = 2_000_000  # a bound on memory if nobody ever asks for the report


class LatencyTrace:
    """Stage timestamps of stored messages (``FIELDS``), kept until ``reset``."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.rows: list[Row] = []
        self.dropped = 0

    def add(
        self,
        mid: int,
        received: float,
        decoded: float,
        batch_started: float,
        committed: float,
        fanned_out: float,
        transaction_cpu: float,
        fan_out_cpu: float,
    ) -> None:
        """Record one stored message's stage times."""
        if len(self.rows) >= MAX_ROWS:
            self.dropped += 1
            return
        self.rows.append(
            (
                mid,
                received,
                decoded,
                batch_started,
                committed,
                fanned_out,
                transaction_cpu,
                fan_out_cpu,
            )
        )

    def reset(self) -> None:
        """Forget what was recorded (a benchmark's set-up, or the previous run)."""
        self.rows = []
        self.dropped = 0

    def report(self) -> dict[str, Any]:
        """The rows recorded since ``reset`` (JSON-ready: column names and rows)."""
        return {"fields": list(FIELDS), "rows": self.rows, "dropped": self.dropped}

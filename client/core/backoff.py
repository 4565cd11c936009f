"""Reconnect back-off: exponential with full jitter, capped, reset after a good session."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays between reconnection attempts.

    The n-th consecutive failure waits a uniformly random time in
    ``[0, min(cap, base * 2**n)]`` ("full jitter"), so that many clients dropped at once
    by a restarting service do not all come back in the same instant.
    """

    base: float = 0.25
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self) -> float:
        """The delay before the next attempt; counts one more failure."""
        ceiling = min(self.cap, self.base * (2 ** min(self.failures, 32)))
        self.failures += 1
        return self.rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        """A session was established: start again from the shortest delay."""
        self.failures = 0

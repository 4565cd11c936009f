"""A token bucket: ``rate`` events per second on average, ``burst`` at once.

One mechanism for both sides of the per-connection frame limit (docs/protocol.md §8):
the delivery service refuses what is over it (``allow``) and the client paces itself
below it (``reserve``). Pure: the caller passes the current time, so tests drive it with
any clock.
"""

from __future__ import annotations


class TokenBucket:
    """Allows ``rate`` events per second on average and ``burst`` at once (full at the
    start)."""

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a token bucket needs rate > 0 and burst >= 1, not {rate}/{burst}")
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)

    def allow(self, now: float) -> bool:
        """Take one token if there is one; False means the event is over the limit."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def reserve(self, now: float) -> float:
        """Take one token even if it is not there yet; returns how long to wait before
        the event (0 when a token was there). Waits add up: a burst in debt is spaced
        by the rate."""
        self._refill(now)
        self._tokens -= 1.0
        if self._tokens >= 0.0:
            return 0.0
        return -self._tokens / self._rate

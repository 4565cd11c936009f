"""Per-connection limits of the delivery service and the token bucket that enforces rates.

Pure: the bucket takes the current time as an argument, so tests drive it with any clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Every limit of docs/protocol.md §8, with its default."""

    max_frame_bytes: int = 8 * 1024 * 1024
    max_mls_bytes: int = 4 * 1024 * 1024
    max_key_packages_per_frame: int = 100
    max_acks_per_frame: int = 10_000
    frames_per_second: float = 200.0
    frame_burst: int = 400
    handshake_timeout: float = 10.0
    idle_timeout: float = 300.0
    send_queue_frames: int = 1000
    max_auth_failures: int = 3


class TokenBucket:
    """Allows ``rate`` events per second on average and ``burst`` at once."""

    __slots__ = ("_burst", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._last = now

    def allow(self, now: float) -> bool:
        """Take one token if there is one; False means the event is over the limit."""
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

"""Outgoing frame pacing: stay under the service's per-connection rate limit.

The service drops frames over its token bucket (docs/protocol.md §8: 200 frames/s,
burst 400) and answers with an ``rate_limited`` error that names no request, so a
dropped request would wait for its reply until the call's timeout. A client that sends
a burst (1,000 invitations in one step) paces itself below that bucket instead.
Sans-I/O: the caller asks how long to wait, then sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Below the service's defaults (200/s, burst 400): frames may arrive closer together
# than they were sent, and the margin absorbs that.
FRAMES_PER_SECOND = 150.0
FRAME_BURST = 300


@dataclass
class FramePacer:
    """A token bucket over sent frames (full at the start of a connection)."""

    rate: float = FRAMES_PER_SECOND
    burst: int = FRAME_BURST
    _tokens: float = field(default=-1.0, init=False)
    _last: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"a pacer needs rate > 0 and burst >= 1, not {self.rate}/{self.burst}")
        self._tokens = float(self.burst)

    def take(self, now: float) -> float:
        """Spend a token for one frame sent at ``now`` (seconds, monotonic); returns how
        long to wait before sending it (0 when a token was there)."""
        if self._last is not None:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now
        self._tokens -= 1.0
        if self._tokens >= 0.0:
            return 0.0
        # In debt: the frame goes once the bucket has refilled to zero.
        return -self._tokens / self.rate

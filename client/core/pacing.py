"""Outgoing frame pacing and what to do when the service drops a frame anyway.

The service drops frames over its token bucket (docs/protocol.md §8: 200 frames/s,
burst 400) and answers with a ``rate_limited`` error whose ``re`` names the dropped
request (docs/protocol.md §6), so the waiting request is refused at once instead of
waiting for its reply until the call's timeout. A client that sends a burst (1,000
invitations in one step) paces itself below that bucket, with the same token bucket
(``reserve``: how long to wait before the next frame).

A service may still be configured below the pacer (or frames may bunch up on the way):
a request it dropped was not processed, so it is sent again after a back-off
(``RateLimitedRetry``), a bounded number of times, before the caller sees the refusal;
and the pacer slows down (``FramePacer.refused``: half the rate, at most every
``SLOWDOWN_INTERVAL``), so that a long burst goes out at the rate the service takes
instead of spending every retry of its messages on an empty bucket; it speeds up again
(double the rate) after ``RECOVERY_INTERVAL`` without a drop.
Sans-I/O: the caller asks how long to wait, then sleeps.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from shared.token_bucket import TokenBucket

# Below the service's defaults (200/s, burst 400): frames may arrive closer together
# than they were sent, and the margin absorbs that.
FRAMES_PER_SECOND = 150.0
FRAME_BURST = 300

# Sends of one request in all (the first and the retries) before ``rate_limited`` is
# the caller's answer. With the delays below the last retry goes 2.5-5 s after the first
# refusal: long enough for the service's default bucket to refill, far short of the
# calls' 60 s timeout.
RATE_LIMITED_ATTEMPTS = 7
RATE_LIMITED_BASE = 0.1  # seconds: the first retry waits 0.05-0.1 s
RATE_LIMITED_CAP = 2.0  # seconds: no retry waits longer


MIN_FRAMES_PER_SECOND = 5.0  # the pacer never slows below this
# The drops of one burst come back together: they are one sign of being too fast, so
# the rate is halved at most once per interval.
SLOWDOWN_INTERVAL = 0.5
RECOVERY_INTERVAL = 5.0  # seconds without a drop before the rate doubles again


def frame_pacer(now: float) -> TokenBucket:
    """A full pacer for a connection opened at ``now``."""
    return TokenBucket(FRAMES_PER_SECOND, FRAME_BURST, now)


class FramePacer:
    """A connection's outgoing pacer: a token bucket at ``rate`` (burst ``burst``) that
    slows down when the service drops a frame anyway (see the module docstring).

    Below its full rate its burst is one frame: it is slowed because the service's
    bucket is smaller than ours, so frames go evenly spaced."""

    def __init__(
        self, now: float, rate: float = FRAMES_PER_SECOND, burst: int = FRAME_BURST
    ) -> None:
        self.full_rate = rate
        self.full_burst = burst
        self.rate = rate
        self._bucket = TokenBucket(rate, burst, now)
        self._last_slowdown = -math.inf
        self._last_change = now  # the last drop or rate change

    def _set_rate(self, rate: float, now: float) -> None:
        self.rate = rate
        burst = self.full_burst if rate >= self.full_rate else 1
        self._bucket = TokenBucket(rate, burst, now)
        self._last_change = now

    def reserve(self, now: float) -> float:
        """Take a frame's token; returns how long to wait before sending it."""
        if self.rate < self.full_rate and now - self._last_change >= RECOVERY_INTERVAL:
            self._set_rate(min(self.full_rate, self.rate * 2), now)
        return self._bucket.reserve(now)

    def refused(self, now: float) -> None:
        """The service dropped one of our frames (``rate_limited``) at about ``now``."""
        if now - self._last_slowdown >= SLOWDOWN_INTERVAL and self.rate > MIN_FRAMES_PER_SECOND:
            self._last_slowdown = now
            self._set_rate(max(MIN_FRAMES_PER_SECOND, self.rate / 2), now)
        self._last_change = now


@dataclass(frozen=True, slots=True)
class RateLimitedRetry:
    """When to send again a request that the service dropped with ``rate_limited``.

    The n-th refusal of one request waits a random time in ``[c/2, c]`` with
    ``c = min(cap, base * 2**(n-1))`` ("equal jitter": never at once, which would meet
    the same empty bucket; spread out, so that the requests of one dropped burst do not
    all come back in the same instant and empty it again).
    """

    attempts: int = RATE_LIMITED_ATTEMPTS
    base: float = RATE_LIMITED_BASE
    cap: float = RATE_LIMITED_CAP

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base <= 0 or self.cap < self.base:
            raise ValueError(
                "a retry policy needs attempts >= 1 and 0 < base <= cap, not "
                f"{self.attempts}/{self.base}/{self.cap}"
            )

    def delay(self, refusals: int, rng: random.Random) -> float | None:
        """Seconds to wait before sending the request again after its ``refusals``-th
        ``rate_limited`` refusal (1 for the first); None when it has been sent
        ``attempts`` times already: give up and report the refusal."""
        if refusals < 1:
            raise ValueError(f"refusals counts from 1, not {refusals}")
        if refusals >= self.attempts:
            return None
        ceiling = min(self.cap, self.base * 2 ** min(refusals - 1, 32))
        return rng.uniform(ceiling / 2, ceiling)

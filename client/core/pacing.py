"""Outgoing frame pacing: stay under the service's per-connection rate limit.

The service drops frames over its token bucket (docs/protocol.md §8: 200 frames/s,
burst 400) and answers with an ``rate_limited`` error that names no request, so a
dropped request would wait for its reply until the call's timeout. A client that sends
a burst (1,000 invitations in one step) paces itself below that bucket instead, with the
same token bucket (``reserve``: how long to wait before the next frame).
Sans-I/O: the caller asks how long to wait, then sleeps.
"""

from __future__ import annotations

from shared.token_bucket import TokenBucket

# Below the service's defaults (200/s, burst 400): frames may arrive closer together
# than they were sent, and the margin absorbs that.
FRAMES_PER_SECOND = 150.0
FRAME_BURST = 300


def frame_pacer(now: float) -> TokenBucket:
    """A full pacer for a connection opened at ``now``."""
    return TokenBucket(FRAMES_PER_SECOND, FRAME_BURST, now)

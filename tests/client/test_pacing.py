"""The client's outgoing frame pacer stays under the service's token bucket."""

from __future__ import annotations

import pytest

from client.core.pacing import frame_pacer
from delivery_service.limits import Limits
from shared.token_bucket import TokenBucket


def test_a_burst_goes_at_once_then_frames_are_spaced_by_the_rate() -> None:
    pacer = TokenBucket(rate=10.0, burst=3, now=0.0)
    assert [pacer.reserve(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert pacer.reserve(0.0) == pytest.approx(0.1)
    assert pacer.reserve(0.0) == pytest.approx(0.2)  # two frames in debt


def test_idle_time_refills_up_to_the_burst_only() -> None:
    pacer = TokenBucket(rate=10.0, burst=2, now=0.0)
    pacer.reserve(0.0)
    pacer.reserve(0.0)
    assert pacer.reserve(100.0) == 0.0
    assert pacer.reserve(100.0) == 0.0
    assert pacer.reserve(100.0) == pytest.approx(0.1)


def test_paced_frames_are_never_dropped_by_the_services_default_bucket() -> None:
    # 2,000 frames sent as fast as the pacer allows, arriving when sent: the service's
    # bucket (its defaults) must let every one through.
    limits = Limits()
    bucket = TokenBucket(limits.frames_per_second, limits.frame_burst, 0.0)
    pacer = frame_pacer(0.0)
    now, dropped = 0.0, 0
    for _ in range(2000):
        now += pacer.reserve(now)
        if not bucket.allow(now):
            dropped += 1
    assert dropped == 0
    assert now > 2000 / limits.frames_per_second / 2  # it did have to wait


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(rate=0.0, burst=1, now=0.0)

"""A run's clients come back soon after the service does (scenarios.reconnect)."""

from __future__ import annotations

from client.core.backoff import Backoff
from scenarios.reconnect import BACKOFF_CAP, scenario_backoff


def test_a_long_outage_never_grows_a_delay_past_the_cap() -> None:
    backoff = scenario_backoff()
    delays = [backoff.next_delay() for _ in range(200)]
    assert max(delays) <= BACKOFF_CAP
    assert max(delays[50:]) > BACKOFF_CAP / 4  # still jittered over the whole range
    # The default (for real networks) would have waited up to its own, longer cap.
    assert Backoff().cap > BACKOFF_CAP


def test_each_client_gets_its_own_back_off() -> None:
    a, b = scenario_backoff(), scenario_backoff()
    a.next_delay()
    assert (a.failures, b.failures) == (1, 0)

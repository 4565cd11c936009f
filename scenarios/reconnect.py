"""How a scenario's clients come back after the delivery service goes away.

The client's default back-off (``client.core.backoff.Backoff``: up to 30 s between
attempts) suits a real network. In a run the service is on loopback and the engine times
each step: after a restart step, a client whose jittered delay had grown to tens of
seconds came back after the step's limit (seen under load: a 5 s restart, then one
client's next attempt more than 6 s later). Short delays, still jittered, bring every
client back within half a second of the service.
"""

from __future__ import annotations

from client.core.backoff import Backoff

BACKOFF_BASE = 0.05  # seconds: the first retry's ceiling
BACKOFF_CAP = 0.5  # seconds: no delay between attempts is longer


def scenario_backoff() -> Backoff:
    """A fresh back-off for one client of a run (and of ``stirmls demo``)."""
    return Backoff(base=BACKOFF_BASE, cap=BACKOFF_CAP)

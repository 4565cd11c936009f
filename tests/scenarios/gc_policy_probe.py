"""A client worker probe (``--probe gc_policy_probe``): reports the worker's garbage
collection thresholds, for test_scenario_processes."""

from __future__ import annotations

import gc
from typing import Any


def install() -> None:
    """Nothing to set up."""


def report() -> dict[str, Any]:
    """The thresholds the worker runs with."""
    return {"gc_threshold": list(gc.get_threshold()), "gc_enabled": gc.isenabled()}

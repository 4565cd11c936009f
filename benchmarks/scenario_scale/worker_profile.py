"""A client worker's probe for ``run.py --profile-workers DIR``: the validation meter
(as ``validation_meter``) plus a cProfile of every thread of the worker, timed in each
thread's own CPU time (``time.thread_time``), so that waits for a core, for the GIL or
for I/O are not counted. Written at the worker's exit to
``DIR/worker-<pid>.pstats`` (``python -m pstats`` reads it); DIR comes from the
environment (``STIRMLS_PROFILE_DIR``), which the worker inherits from ``run.py``.

cProfile's own overhead inflates Python-heavy code (a run is slower profiled): read
the shares, not the absolute figures.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import threading
import time
from pathlib import Path
from typing import Any

import validation_meter

PROFILE_DIR_ENV = "STIRMLS_PROFILE_DIR"

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _start_here() -> None:
    """Profile the calling thread from now on (its own Profile: one per thread)."""
    profile = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append(profile)
    profile.enable()


def _first_call(*_: Any) -> None:
    # threading.setprofile's hook runs once in each new thread: it swaps itself for that
    # thread's cProfile (enable() replaces the thread's profile function).
    sys.setprofile(None)
    _start_here()


def install() -> None:
    """Start metering validations and profiling this thread and every later one."""
    validation_meter.install()
    threading.setprofile(_first_call)
    _start_here()


def report() -> dict[str, Any]:
    """The meter's figures; the merged profile written to the profile directory."""
    figures = validation_meter.report()
    directory = os.environ.get(PROFILE_DIR_ENV)
    if directory:
        with _lock:
            profiles = list(_profiles)
        stats: pstats.Stats | None = None
        for profile in profiles:
            profile.disable()  # this thread's; the others are idle by now
            try:
                stats = pstats.Stats(profile) if stats is None else stats.add(profile)
            except TypeError:  # a thread's profile with nothing in it
                continue
        if stats is not None:
            path = Path(directory) / f"worker-{os.getpid()}.pstats"
            stats.dump_stats(str(path))
            figures["profile"] = str(path)
    return figures

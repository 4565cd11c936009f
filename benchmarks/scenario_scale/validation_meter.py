"""Measures the clients' credential validations: wraps the validator as
``client.core.credential_checks`` calls it (measurement only) and sums each call's CPU
time in its own thread (the checks run in worker threads).

Used in the benchmark's own process (``ValidationMeter``) and, with ``--processes``, in
each client worker process as its probe (``install()`` at start, ``report()`` at exit:
see ``scenarios.client_worker``).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from client.core import credential_checks


class ValidationMeter:
    """Counts the ``validate`` calls of this process and their thread CPU time."""

    def __init__(self) -> None:
        self.calls = 0
        self.cpu = 0.0
        self._lock = threading.Lock()

    def install(self) -> None:
        """Wrap ``credential_checks.validate`` (idempotent)."""
        real = credential_checks.validate
        if getattr(real, "_metered", False):
            return

        def metered(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return real(*args, **kwargs)
            finally:
                spent = time.thread_time() - start
                with self._lock:
                    self.calls += 1
                    self.cpu += spent

        metered._metered = True  # type: ignore[attr-defined]
        credential_checks.validate = metered  # type: ignore[assignment]

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self.calls, self.cpu = 0, 0.0


# The worker-process probe: one meter per process.
_METER = ValidationMeter()


def install() -> None:
    """Start metering in this process (a client worker's probe hook)."""
    _METER.install()


def report() -> dict[str, Any]:
    """This process's validations (a client worker's probe hook, read at its exit)."""
    return {
        "client_credential_checks": _METER.calls,
        "client_credential_validation_cpu_s": _METER.cpu,
    }

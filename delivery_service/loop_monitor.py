"""Where the event loop's time goes: a trio ``Instrument`` for finding latency tails.

Every delivery in flight waits while the loop runs something else, so the p99 latency
is set by the longest stretches of work between two looks at the sockets. This records,
while installed:

- **task steps**: how long each task ran before its next ``await`` (a histogram, the
  total per task name, and the longest steps with their task's name);
- **loop turns**: the work between two I/O waits (``after_io_wait`` to
  ``before_io_wait``): a socket that became readable just after a wait is looked at
  only after the whole turn; wall-clock and the thread's CPU time;
- **scheduling delay**: from a task being made runnable to its step starting;
- **garbage collections**: each collection's pause, by generation (``gc.callbacks``),
  wall-clock and CPU time.

It costs two clock reads and a few dictionary operations per task step, so it is off
unless asked for (``stirmls ds serve --loop-stats FILE``; docs/protocol.md §9). The
figures are wall-clock: on a shared machine a step also counts the time the process
waited for a CPU in the middle of it.
"""

from __future__ import annotations

import bisect
import gc
import heapq
import json
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import trio

# Bucket upper edges in milliseconds; the last bucket holds everything above.
EDGES_MS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0)
LONGEST_KEPT = 20  # longest steps (and turns) kept with their details


class _Histogram:
    """Counts and summed time per bucket of ``EDGES_MS``, and the maximum."""

    __slots__ = ("counts", "max_s", "total_s", "totals")

    def __init__(self) -> None:
        self.counts = [0] * (len(EDGES_MS) + 1)
        self.totals = [0.0] * (len(EDGES_MS) + 1)
        self.total_s = 0.0
        self.max_s = 0.0

    def add(self, seconds: float) -> None:
        i = bisect.bisect_left(EDGES_MS, seconds * 1000.0)
        self.counts[i] += 1
        self.totals[i] += seconds
        self.total_s += seconds
        if seconds > self.max_s:
            self.max_s = seconds

    def report(self) -> dict[str, Any]:
        labels = [f"<={e:g}ms" for e in EDGES_MS] + [f">{EDGES_MS[-1]:g}ms"]
        return {
            "count": sum(self.counts),
            "total_s": round(self.total_s, 4),
            "max_ms": round(self.max_s * 1000, 2),
            "buckets": {
                label: {"count": n, "total_ms": round(t * 1000, 1)}
                for label, n, t in zip(labels, self.counts, self.totals, strict=True)
                if n
            },
        }


class LoopMonitor(trio.abc.Instrument):
    """Task-step, loop-turn, scheduling-delay and GC-pause statistics of one trio run.

    Install with ``trio.run(..., instruments=[monitor])`` or
    ``trio.lowlevel.add_instrument(monitor)``; ``report()`` returns what was seen since
    the last ``reset()``; ``close()`` removes the GC callback.
    """

    def __init__(self, clock: Any = time.perf_counter, cpu_clock: Any = time.thread_time) -> None:
        self._clock = clock
        # CPU time of the loop's thread, read per turn and per collection only: a long
        # wall-clock turn with little CPU time waited for a CPU (a shared machine).
        self._cpu_clock = cpu_clock
        self._turn_cpu = 0.0
        self._gc_cpu = 0.0
        self._scheduled: dict[trio.lowlevel.Task, float] = {}
        self._step_start: float | None = None  # None: no step seen starting (installed mid-step)
        self._turn_start: float | None = None
        self._turn_steps = 0
        self._gc_start = 0.0
        self.reset()
        gc.callbacks.append(self._on_gc)  # after reset: a collection may come at once

    def reset(self) -> None:
        """Forget everything recorded so far (e.g. a benchmark's set-up)."""
        self.started = self._clock()
        self.steps = _Histogram()
        self.turns = _Histogram()
        self.turns_cpu = _Histogram()
        self.delays = _Histogram()
        self.gc_pauses = {generation: _Histogram() for generation in (0, 1, 2)}
        self.gc_cpu = {generation: _Histogram() for generation in (0, 1, 2)}
        self.gc_collected = [0, 0, 0]  # unreachable objects found, per generation
        self.by_task: dict[str, list[float]] = {}  # name -> [steps, seconds, longest]
        self._longest_steps: list[tuple[float, str]] = []
        self._longest_turns: list[tuple[float, float, int]] = []
        self._turn_steps = 0

    def close(self) -> None:
        """Stop recording garbage collections (task hooks end with the run)."""
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)

    # --- trio.abc.Instrument ------------------------------------------------------------

    def task_scheduled(self, task: trio.lowlevel.Task) -> None:
        """Remember when ``task`` became runnable."""
        self._scheduled[task] = self._clock()

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        """Forget an ended task."""
        self._scheduled.pop(task, None)

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        """A step starts: its scheduling delay ends."""
        now = self._step_start = self._clock()
        scheduled = self._scheduled.pop(task, None)
        if scheduled is not None:
            self.delays.add(now - scheduled)

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        """A step ended: count its length against its task's name."""
        if self._step_start is None:
            return
        seconds = self._clock() - self._step_start
        self._step_start = None
        self.steps.add(seconds)
        self._turn_steps += 1
        name = task.name
        entry = self.by_task.get(name)
        if entry is None:
            entry = self.by_task[name] = [0, 0.0, 0.0]
        entry[0] += 1
        entry[1] += seconds
        if seconds > entry[2]:
            entry[2] = seconds
        longest = self._longest_steps
        if len(longest) < LONGEST_KEPT:
            heapq.heappush(longest, (seconds, name))
        elif seconds > longest[0][0]:
            heapq.heapreplace(longest, (seconds, name))

    def after_io_wait(self, timeout: float) -> None:
        """A loop turn starts (the runnable tasks run next)."""
        self._turn_start = self._clock()
        self._turn_cpu = self._cpu_clock()
        self._turn_steps = 0

    def before_io_wait(self, timeout: float) -> None:
        """A loop turn ends (the loop looks at the sockets again)."""
        if self._turn_start is None:
            return
        seconds = self._clock() - self._turn_start
        cpu = self._cpu_clock() - self._turn_cpu
        self.turns.add(seconds)
        self.turns_cpu.add(cpu)
        longest = self._longest_turns
        if len(longest) < LONGEST_KEPT:
            heapq.heappush(longest, (seconds, cpu, self._turn_steps))
        elif seconds > longest[0][0]:
            heapq.heapreplace(longest, (seconds, cpu, self._turn_steps))

    # --- gc.callbacks -------------------------------------------------------------------

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_start = self._clock()
            self._gc_cpu = self._cpu_clock()
        else:
            self.gc_pauses[info["generation"]].add(self._clock() - self._gc_start)
            self.gc_cpu[info["generation"]].add(self._cpu_clock() - self._gc_cpu)
            self.gc_collected[info["generation"]] += info["collected"]

    # --- results ------------------------------------------------------------------------

    def report(self, top_tasks: int = 12) -> dict[str, Any]:
        """What was recorded since ``reset`` (JSON-ready)."""
        tasks = sorted(self.by_task.items(), key=lambda kv: kv[1][1], reverse=True)
        return {
            "seconds": round(self._clock() - self.started, 3),
            "task_steps": self.steps.report(),
            "loop_turns": self.turns.report(),
            "loop_turns_cpu": self.turns_cpu.report(),
            "scheduling_delay": self.delays.report(),
            "gc_pauses": {str(g): h.report() for g, h in self.gc_pauses.items()},
            "gc_cpu": {str(g): h.report() for g, h in self.gc_cpu.items()},
            "gc_collected": {str(g): n for g, n in enumerate(self.gc_collected)},
            "by_task": [
                {
                    "task": name,
                    "steps": int(n),
                    "total_ms": round(total * 1000, 1),
                    "longest_ms": round(longest * 1000, 2),
                }
                for name, (n, total, longest) in tasks[:top_tasks]
            ],
            "longest_steps": [
                {"ms": round(s * 1000, 2), "task": name}
                for s, name in sorted(self._longest_steps, reverse=True)
            ],
            "longest_turns": [
                {"ms": round(s * 1000, 2), "cpu_ms": round(c * 1000, 2), "steps": n}
                for s, c, n in sorted(self._longest_turns, reverse=True)
            ],
        }


class Recorder(Protocol):
    """Something that reports what it recorded and starts afresh (``LoopMonitor``,
    ``latency_trace.LatencyTrace``)."""

    def report(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...


async def report_on_signal(
    monitor: Recorder | None,
    path: Path | None,
    signum: int = signal.SIGUSR2,
    *,
    also: Sequence[tuple[Recorder, Path]] = (),
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Each ``signum``: write ``monitor.report()`` to ``path`` (replacing it whole) and
    start recording afresh; the same, before it, for each of ``also``'s (recorder, path). Runs until
    cancelled; started once the signal is caught (its default action would end the
    process)."""
    # ``also`` first: whoever waits for ``path`` to appear then finds the others written.
    recorders = [*also, *([] if monitor is None or path is None else [(monitor, path)])]
    with trio.open_signal_receiver(signum) as signals:
        task_status.started()
        async for _ in signals:
            for recorder, target in recorders:
                report = recorder.report()
                recorder.reset()
                partial = target.with_name(target.name + ".part")
                partial.write_text(
                    json.dumps(report, indent=1 if monitor is recorder else None) + "\n"
                )
                os.replace(partial, target)

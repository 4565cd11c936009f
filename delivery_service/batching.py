"""Group commit: the writes of frames that arrive together share one SQLite transaction.

A batch first runs every frame's write function straight in the transaction (no
savepoint: two statements less per frame, which was a third of the cost of an ack).
If any of them raises (a refused frame, or a failure), the whole transaction is rolled
back and the batch runs again with each write in its own savepoint, so a refused frame
undoes only its own writes, as before. Write functions only read and write storage, so
running one again after the rollback gives the same result. Results are released, and
stored messages pushed, only after the transaction commits: nobody is told about a
message that a crash could still lose. Pushes happen here, in commit order, so every
mail box sees its mids in increasing order. A large fan-out may let other tasks run
between its parts (``deliver`` returns an awaitable then); the next batch starts only
after it, so that order holds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from delivery_service.errors import Refused
from delivery_service.service import Outcome, Push
from delivery_service.storage import Storage
from shared.protocol import ErrorCode

log = logging.getLogger("stirmls.ds")


@dataclass(slots=True)
class _Job:
    write: Callable[[], Outcome]
    done: trio.Event | None = field(default_factory=trio.Event)  # None: ``then`` instead
    outcome: Outcome | None = None
    error: Refused | None = None
    then: Callable[[Outcome | None, Refused | None], None] | None = None
    late: bool = False  # in the batch's second transaction, after its pushes

    def finish(self) -> None:
        if self.then is not None:
            self.then(self.outcome, self.error)
        else:
            assert self.done is not None
            self.done.set()


class WriteBatcher:
    """Runs write functions in batched transactions (one task: ``serve``)."""

    def __init__(
        self,
        storage: Storage,
        deliver: Callable[[list[Push]], Awaitable[None] | None],
        *,
        max_batch: int = 1024,
        window: float = 0.0,
        after_batch: Callable[[], None] | None = None,
        clock: Callable[[], float] | None = None,
        cpu_clock: Callable[[], float] = time.thread_time,
    ) -> None:
        self._storage = storage
        self._deliver = deliver
        self._after_batch = after_batch
        self._max_batch = max_batch
        self._window = window
        self._queue: list[_Job] = []
        self._wakeup = trio.Event()
        self.transactions = 0  # for tests and the benchmark
        self.writes = 0
        self.retries = 0  # batches run again with savepoints (one of their writes raised)
        # With a clock (a latency trace): when the current batch's transaction began, when
        # it committed and when its pushes were done; read by the jobs' ``then``.
        self._clock = clock
        self._cpu_clock = cpu_clock
        self.batch_started = 0.0
        self.committed = 0.0
        self.fanned_out = 0.0
        self.transaction_cpu = 0.0  # the loop thread's CPU time in the transaction
        self.fan_out_cpu = 0.0  # ... and in the fan-out

    async def run(self, write: Callable[[], Outcome]) -> Outcome:
        """Run ``write`` in the next batch; returns its outcome after the commit, or
        raises its ``Refused`` (its writes undone)."""
        job = _Job(write)
        self._queue.append(job)
        self._wakeup.set()
        assert job.done is not None
        await job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.outcome is not None
        return job.outcome

    def submit(
        self,
        write: Callable[[], Outcome],
        then: Callable[[Outcome | None, Refused | None], None],
        *,
        after_pushes: bool = False,
    ) -> None:
        """Run ``write`` in the next batch without waiting for it: after the commit (and
        after the batch's pushes) ``then(outcome, None)`` is called, or ``then(None,
        refusal)``; calls come in submission order. ``then`` must not block.

        ``after_pushes``: a write nobody waits to see stored (an acknowledgement: if a
        crash loses it, the message is delivered again, and ids make that harmless) runs
        in a second transaction after the batch's other writes are committed and pushed,
        so that it never delays the batch's messages. Its ``then`` still comes in submission
        order."""
        self._queue.append(_Job(write, None, then=then, late=after_pushes))
        self._wakeup.set()

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The batching loop; runs until cancelled."""
        task_status.started()
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            # Let the other runnable tasks add their writes to this batch; with a window,
            # also the frames that arrive within it: fewer transactions, and a recipient
            # gets several messages in one socket write, for at most ``window`` s more
            # latency.
            if self._window > 0:
                await trio.sleep(self._window)
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                late = [job for job in batch if job.late]
                first = [job for job in batch if not job.late] if late else batch
                # The messages' transaction is the one a latency trace stamps.
                for jobs, stamp in ((first, True), (late, False)):
                    if jobs:
                        rest = self._run_batch(jobs, stamp=stamp)
                        if rest is not None:
                            await rest
                self._finish(batch)

    def _run_batch(self, batch: list[_Job], *, stamp: bool) -> Awaitable[None] | None:
        """Run the batch's writes in one transaction and push their messages; the rest
        of the pushes, if they go in parts, is the awaitable returned. Jobs are finished
        by the caller (``_finish``)."""
        clock = self._clock if stamp else None
        cpu0 = cpu1 = 0.0
        if clock is not None:
            self.batch_started = clock()
            cpu0 = self._cpu_clock()
        try:
            self._run_plain(batch)
        except _Retry:
            self.retries += 1
            try:
                self._run_with_savepoints(batch)
            except Exception:
                log.exception("transaction failed; none of its %d writes happened", len(batch))
                for job in batch:
                    job.outcome = None
                    job.error = Refused(
                        ErrorCode.INTERNAL_ERROR, "storage failure; nothing was changed"
                    )
                return None
        self.transactions += 1
        self.writes += len(batch)
        if clock is not None:
            self.committed = clock()
            cpu1 = self._cpu_clock()
            self.transaction_cpu = cpu1 - cpu0
        # All of the batch's pushes at once: a recipient of several of its messages
        # gets them in one write (one deliveries frame, if it asked for that).
        pushes = [p for job in batch if job.outcome is not None for p in job.outcome.pushes]
        if pushes:
            rest = self._deliver(pushes)
            if rest is not None:
                return self._then_stamp(rest, cpu1) if clock is not None else rest
        if clock is not None:
            self.fanned_out = clock()
            self.fan_out_cpu = self._cpu_clock() - cpu1
        return None

    async def _then_stamp(self, rest: Awaitable[None], cpu1: float) -> None:
        await rest
        if self._clock is not None:
            # The loop thread's CPU from the commit on, including other tasks' steps
            # between the fan-out's parts.
            self.fanned_out = self._clock()
            self.fan_out_cpu = self._cpu_clock() - cpu1

    def _finish(self, batch: list[_Job]) -> None:
        for job in batch:
            job.finish()
        if self._after_batch is not None:
            self._after_batch()

    def _run_plain(self, batch: list[_Job]) -> None:
        """Every write in one transaction, no savepoints; ``_Retry`` (rolled back) if
        any of them raised."""
        try:
            with self._storage.transaction():
                for job in batch:
                    job.outcome = job.write()
        except Exception as exc:
            for job in batch:
                job.outcome = None
            raise _Retry from exc

    def _run_with_savepoints(self, batch: list[_Job]) -> None:
        storage = self._storage
        with storage.transaction():
            for job in batch:
                try:
                    with storage.savepoint():
                        job.outcome = job.write()
                except Refused as exc:
                    job.error = exc
                except Exception:
                    log.exception("write failed; the frame changed nothing")
                    job.error = Refused(
                        ErrorCode.INTERNAL_ERROR, "the server failed; nothing was changed"
                    )


class _Retry(Exception):
    """The plain run of a batch failed and was rolled back: run it with savepoints."""

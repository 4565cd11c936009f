"""Group commit: the writes of frames that arrive together share one SQLite transaction.

Each frame's write function runs in its own savepoint inside the batch's transaction
(a refused frame undoes only its own writes). Results are released, and stored messages
pushed, only after the transaction commits: nobody is told about a message that a crash
could still lose. Pushes happen here, in commit order, so every mail box sees its mids
in increasing order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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
    done: trio.Event = field(default_factory=trio.Event)
    outcome: Outcome | None = None
    error: Refused | None = None


class WriteBatcher:
    """Runs write functions in batched transactions (one task: ``serve``)."""

    def __init__(
        self,
        storage: Storage,
        deliver: Callable[[list[Push]], None],
        *,
        max_batch: int = 1024,
    ) -> None:
        self._storage = storage
        self._deliver = deliver
        self._max_batch = max_batch
        self._queue: list[_Job] = []
        self._wakeup = trio.Event()
        self.transactions = 0  # for tests and the benchmark
        self.writes = 0

    async def run(self, write: Callable[[], Outcome]) -> Outcome:
        """Run ``write`` in the next batch; returns its outcome after the commit, or
        raises its ``Refused`` (its writes undone)."""
        job = _Job(write)
        self._queue.append(job)
        self._wakeup.set()
        await job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.outcome is not None
        return job.outcome

    async def serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The batching loop; runs until cancelled."""
        task_status.started()
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            # Let the other runnable tasks add their writes to this batch.
            await trio.lowlevel.cancel_shielded_checkpoint()
            while self._queue:
                batch = self._queue[: self._max_batch]
                del self._queue[: self._max_batch]
                self._run_batch(batch)

    def _run_batch(self, batch: list[_Job]) -> None:
        storage = self._storage
        try:
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
        except Exception:
            log.exception("transaction failed; none of its %d writes happened", len(batch))
            for job in batch:
                job.outcome = None
                job.error = Refused(
                    ErrorCode.INTERNAL_ERROR, "storage failure; nothing was changed"
                )
        else:
            self.transactions += 1
            self.writes += len(batch)
            for job in batch:
                if job.outcome is not None and job.outcome.pushes:
                    self._deliver(job.outcome.pushes)
        for job in batch:
            job.done.set()

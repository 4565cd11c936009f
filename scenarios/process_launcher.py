"""Clients in worker processes: a ``ClientLauncher`` that spreads a run over the cores.

Real deployments are N separate devices; one Python process for every client puts them
all under one GIL, an artefact of the runner. ``ProcessLauncher(workers=W)`` starts up to
W worker processes (``python -m scenarios.client_worker``), each running many
``ChatClient``s in one trio loop, and places each client on the least busy one. The
engine sees the same ``ClientHandle``: commands go down the worker's stdin and events
come back on its stdout, pickled in frames (``scenarios.worker_frames``).

Everything in the ``ClientSpec`` crosses: its certificate chain (a callable over the
run's CA keys) is evaluated here, for the key, before the launch order leaves.

Lifetime: a worker whose clients have all stopped is closed after ``linger`` seconds
(its stdin ends; it reports its figures and exits) unless a launch comes first (a
restarted client goes to the least busy open worker, that one included); a later
launch starts a fresh worker.
When the run ends or fails, each worker's task closes it and, after a short grace,
kills it; a worker also exits by itself when the runner's process goes away. A worker
that dies while it runs clients raises ``WorkerFailed`` naming them, as does a client
that crashes inside a worker (in one process that crash would end the run too).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from client.core import events as ev
from scenarios.errors import EngineUnavailable, WorkerFailed
from scenarios.frame_outbox import FrameOutbox
from scenarios.launcher import ClientHandle, ClientSpec
from scenarios.worker_frames import FrameDecoder, FrameError, LaunchOrder

WORKER_MODULE = "scenarios.client_worker"
CLOSE_GRACE = 5.0  # a closed worker's time to stop its clients and report
# The same when the run ends with clients still running: the worker gives them its own
# STOP_WAIT (10 s) to stop; a loaded machine needed more than the engine's 5 s per
# client at N = 300 (the workers were killed and their figures lost).
ABORT_GRACE = 12.0
LINGER = 2.0  # a worker whose clients all stopped waits this long for a restarted one
STDERR_TAIL = 4096  # bytes of a worker's stderr kept for the error that names it
ROOT = Path(__file__).resolve().parents[1]


class ProcessClientHandle:
    """A client in a worker process, seen as a ``ClientHandle``."""

    def __init__(self, worker: _Worker, cid: int, actor: str) -> None:
        self.worker, self.cid, self.actor = worker, cid, actor
        self._events_in, self._events_out = trio.open_memory_channel[ev.CoreEvent](math.inf)
        self.done = trio.Event()
        self.error: str | None = None

    def deliver(self, event: ev.CoreEvent) -> None:
        """An event from the worker (never blocks: the channel is unbounded)."""
        self._events_in.send_nowait(event)

    def finish(self, error: str | None) -> None:
        """The client stopped (``error``: its traceback, when it crashed)."""
        self.error = error
        self.done.set()
        self._events_in.close()

    async def send(self, command: ev.Command) -> None:
        """Give the client a command (queued at once; written with the next frame)."""
        self.worker.outbox.put(("command", self.cid, command))

    async def events(self) -> AsyncIterator[ev.CoreEvent]:
        """The client's events until it stops."""
        async for event in self._events_out:
            yield event

    async def stop(self) -> None:
        """Shut the client down cleanly (its files stay)."""
        if not self.done.is_set():
            await self.send(ev.Shutdown("scenario"))
            with trio.move_on_after(10):
                await self.done.wait()


@dataclass
class _Worker:
    index: int
    outbox: FrameOutbox = field(default_factory=FrameOutbox)
    process: trio.Process | None = None
    handles: dict[int, ProcessClientHandle] = field(default_factory=dict)
    closing: bool = False
    report: dict[str, Any] | None = None
    stderr_tail: bytearray = field(default_factory=bytearray)
    decoder: FrameDecoder = field(default_factory=FrameDecoder)
    failure: WorkerFailed | None = None  # what ended it badly, raised by its task

    @property
    def running(self) -> list[str]:
        """The actors of the clients that have not stopped."""
        return [h.actor for h in self.handles.values() if not h.done.is_set()]

    def describe(self) -> str:
        pid = self.process.pid if self.process else "?"
        return f"client worker {self.index} (pid {pid})"


class ProcessLauncher:
    """Launches clients in up to ``workers`` worker processes (module docstring).

    ``probe``/``probe_path``: a module each worker imports (``install()`` at start,
    ``report()`` at exit, see ``scenarios.client_worker``); ``reports`` holds every
    exited worker's figures (CPU time, peak RSS, the probe's) once the run is over.
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        probe: str | None = None,
        probe_path: Sequence[Path] = (),
        linger: float = LINGER,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.workers = workers
        self.linger = linger
        self._nursery_of: dict[int, trio.Nursery] = {}
        self.probe = probe
        self.probe_path = tuple(probe_path)
        self._all: list[_Worker] = []
        self._ids = itertools.count(1)

    @property
    def reports(self) -> list[dict[str, Any]]:
        """The figures of every worker that exited cleanly (in start order)."""
        return [w.report for w in self._all if w.report is not None]

    @property
    def pids(self) -> list[int]:
        """Every worker process started so far (running or not)."""
        return [w.process.pid for w in self._all if w.process is not None]

    async def prepare(self, nursery: trio.Nursery) -> None:
        """Start the workers before the first launch (the engine calls this first, so
        their imports overlap the run's set-up)."""
        while len([w for w in self._all if not w.closing]) < self.workers:
            await self._start_worker(nursery)

    async def launch(self, nursery: trio.Nursery, spec: ClientSpec) -> ClientHandle:
        """Start one client in a worker; returns at once (the worker may still be
        starting: its launch order waits in the pipe)."""
        from client.core.profile import KINDS, PROFILE_FILE

        actor = spec.actor
        if actor.credential not in KINDS:
            raise EngineUnavailable(
                (f"{actor.credential} credentials in the client core's profiles (issue 5)",)
            )
        passport = actor.credential == "passport"
        restart = (spec.profile_dir / PROFILE_FILE).exists()
        chain = () if passport or restart else tuple(spec.chain(spec.key.public_point))
        order = LaunchOrder(
            actor=actor,
            profile_dir=spec.profile_dir,
            service_url=spec.service_url,
            ds_id=spec.ds_id,
            trust_dir=spec.trust_dir,
            key_pkcs8=spec.key.pkcs8,
            chain=chain,
            provider_secret=spec.provider_secret,
        )
        worker = await self._worker_for_launch(nursery)
        cid = next(self._ids)
        handle = ProcessClientHandle(worker, cid, actor.name)
        worker.handles[cid] = handle
        worker.outbox.put(("launch", cid, order))
        return handle

    async def _worker_for_launch(self, nursery: trio.Nursery) -> _Worker:
        open_workers = [w for w in self._all if not w.closing]
        if len(open_workers) >= self.workers:
            return min(open_workers, key=lambda w: len(w.running))
        return await self._start_worker(nursery)

    async def _start_worker(self, nursery: trio.Nursery) -> _Worker:
        worker = _Worker(len(self._all))
        self._all.append(worker)
        await nursery.start(self._serve, worker)
        return worker

    def _command(self) -> list[str]:
        command = [sys.executable, "-m", WORKER_MODULE]
        if self.probe:
            command += ["--probe", self.probe]
            for entry in self.probe_path:
                command += ["--path", str(entry)]
        return command

    async def _serve(
        self, worker: _Worker, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        process = await trio.lowlevel.open_process(
            self._command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        worker.process = process
        assert process.stdin and process.stdout and process.stderr
        try:
            async with trio.open_nursery() as pipes:
                self._nursery_of[worker.index] = pipes
                pipes.start_soon(worker.outbox.pump, process.stdin)
                pipes.start_soon(self._keep_stderr, worker, process.stderr)
                task_status.started()
                await self._read(worker, process.stdout)
                if worker.failure is None:
                    with trio.move_on_after(CLOSE_GRACE):
                        await process.wait()
                pipes.cancel_scope.cancel()
            if worker.failure is not None:
                raise worker.failure
            self._check_exit(worker)
        finally:
            with trio.CancelScope(shield=True):
                await self._end(worker, process)

    async def _read(self, worker: _Worker, stdout: trio.abc.ReceiveStream) -> None:
        """Dispatch the worker's frames until its stdout ends."""
        while True:
            try:
                data = await stdout.receive_some(1 << 16)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            try:
                for message in worker.decoder.feed(data):
                    self._dispatch(worker, message)
            except FrameError as exc:
                worker.failure = WorkerFailed(
                    f"{worker.describe()} sent a bad frame: {exc}", worker.running
                )
            except WorkerFailed as exc:
                worker.failure = exc
            if worker.failure is not None:
                return

    def _dispatch(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "event":
            handle = worker.handles.get(message[1])
            if handle is not None and not handle.done.is_set():
                handle.deliver(message[2])
        elif kind == "stopped":
            handle = worker.handles.get(message[1])
            if handle is None:
                return
            handle.finish(message[2])
            if message[2] is not None:
                raise WorkerFailed(
                    f"{handle.actor}'s client crashed in {worker.describe()}:\n{message[2]}",
                    [handle.actor],
                )
            if not worker.running and not worker.closing:
                # Its last client stopped: the worker ends, unless a launch (a restart)
                # comes within the linger.
                if self.linger > 0:
                    self._nursery_of[worker.index].start_soon(self._close_when_idle, worker)
                else:
                    self._close(worker)
        elif kind == "report":
            worker.report = message[1]

    async def _close_when_idle(self, worker: _Worker) -> None:
        await trio.sleep(self.linger)
        if not worker.running and not worker.closing:
            self._close(worker)

    @staticmethod
    def _close(worker: _Worker) -> None:
        worker.closing = True
        worker.outbox.close()

    async def _keep_stderr(self, worker: _Worker, stderr: trio.abc.ReceiveStream) -> None:
        """Keep the end of the worker's stderr (for the error that names it)."""
        while True:
            try:
                data = await stderr.receive_some(1 << 14)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if not data:
                return
            worker.stderr_tail += data
            del worker.stderr_tail[:-STDERR_TAIL]

    def _check_exit(self, worker: _Worker) -> None:
        """The worker's output ended: an error naming its clients if any still ran."""
        running = worker.running
        if not running:
            return
        process = worker.process
        status = process.returncode if process else None
        how = (
            "is still running but closed its output"
            if status is None
            else f"was killed by signal {-status}"
            if status < 0
            else f"exited with status {status}"
        )
        tail = worker.stderr_tail.decode("utf-8", "replace").strip()
        detail = f"\n--- its stderr (end) ---\n{tail}" if tail else ""
        for handle in worker.handles.values():
            if not handle.done.is_set():
                handle.finish("its worker died")
        raise WorkerFailed(
            f"{worker.describe()} {how} while running {', '.join(running)}{detail}", running
        )

    async def _end(self, worker: _Worker, process: trio.Process) -> None:
        """Close the worker (what is queued is written, then its stdin ends), let it
        report, then kill it if it is still there: no worker outlives its run."""
        worker.closing = True
        grace = ABORT_GRACE if worker.running else CLOSE_GRACE
        with trio.move_on_after(grace):
            if process.returncode is None and process.stdin is not None:
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    # What was queued after the pump stopped (not a frame it was cutting).
                    messages = [] if worker.outbox.sending else worker.outbox.take()
                    if messages:
                        await process.stdin.send_all(worker.outbox.encode(messages))
                    await process.stdin.aclose()
                if process.stdout is not None:
                    await self._drain(worker, process.stdout)
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
        for handle in worker.handles.values():
            if not handle.done.is_set():
                handle.finish("the run ended")

    async def _drain(self, worker: _Worker, stdout: trio.abc.ReceiveStream) -> None:
        """The frames a closing worker still sends (its report); errors are moot now."""
        try:
            while data := await stdout.receive_some(1 << 16):
                for message in worker.decoder.feed(data):
                    if message[0] == "report":
                        worker.report = message[1]
        except (trio.BrokenResourceError, trio.ClosedResourceError, FrameError):
            return

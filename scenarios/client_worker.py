"""A client worker process: many ``ChatClient``s in one trio loop, driven over a pipe.

``python -m scenarios.client_worker [--probe MODULE] [--path DIR ...]``, started by
``scenarios.process_launcher``. It reads frames (``scenarios.worker_frames``) on stdin
and writes frames on stdout: clients are launched, given commands and report their
events exactly as ``scenarios.launcher.CoreLauncher`` runs them in the runner's process.

It ends when its stdin ends (the runner closed it, or the runner is gone): every client
gets a Shutdown, then the worker reports its figures and exits. A watchdog thread exits
at once if the runner's process disappears, even while the event loop is busy, so a
killed runner leaves no worker behind. Ctrl-C is the runner's to handle (it stops the
workers); a worker ignores it.

``--probe MODULE`` (with ``--path`` entries put on ``sys.path`` first): a module whose
``install()`` runs before any client and whose ``report()`` (a JSON-like dict) is added
to the worker's report; the scale benchmark meters credential validations this way.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import signal
import sys
import threading
import time
import traceback
from functools import partial
from types import ModuleType
from typing import Any

import trio

from client.core import events as ev
from delivery_service.garbage_collection import (
    YOUNG_COLLECTION_THRESHOLD,
    collect_periodically,
    defer_full_collections,
)
from scenarios.frame_outbox import FrameOutbox
from scenarios.reconnect import scenario_backoff
from scenarios.worker_frames import FrameDecoder, LaunchOrder, Message

STOP_WAIT = 10.0  # how long the clients get to stop cleanly when the worker ends
# Garbage collection in a worker: CPython's own policy ran a full collection each time
# the surviving objects grew by a quarter, i.e. again and again while a large group
# forms (every joiner keeps a verdict, a view and a roster entry per member): at N = 300
# nine full collections of up to 1.5 s each, and ~1,000 young ones, ~12 s of each
# worker's 52 s (measured, gc.callbacks). Reference counting frees almost everything at
# once; cycles wait for the next full collection, every FULL_GC_INTERVAL seconds (as
# the delivery service does, docs/protocol.md); young ones come at the service's
# threshold (YOUNG_COLLECTION_THRESHOLD).
FULL_GC_INTERVAL = 120.0
WATCH_EVERY = 0.5  # seconds between the watchdog's looks at the runner's process


def peak_rss_mb() -> float:
    """This process's peak resident memory (MB, Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class Worker:
    """The clients of this process and what they say (sans the pipe's I/O)."""

    def __init__(self, outbox: FrameOutbox, probe: ModuleType | None) -> None:
        self.outbox = outbox
        self.probe = probe
        self.commands: dict[int, trio.MemorySendChannel[ev.Command]] = {}
        self.launched = 0
        self.all_stopped = trio.Event()
        self.all_stopped.set()
        self._nursery: trio.Nursery | None = None
        # Its clients, kept until the process exits (``os._exit``): their MLS
        # storage stays open, so neither its close (a checkpoint of ~7 MB per client
        # after a scale run, and its syncs) nor freeing their state happens at the
        # end of the run. Their files are as a crash leaves them: every change in the
        # write-ahead log, read back by the next open (a restarted client's, even
        # here, beside the old connection).
        self.kept: list[Any] = []

    def handle(self, nursery: trio.Nursery, message: Message) -> None:
        """One message from the runner."""
        kind = message[0]
        if kind == "launch":
            _, cid, order = message
            # The channel exists before the client does: commands may arrive while its
            # profile is still being written.
            send, receive = trio.open_memory_channel[ev.Command](math.inf)
            self.commands[cid] = send
            self.launched += 1
            self.all_stopped = trio.Event()
            nursery.start_soon(self._run_client, cid, order, receive)
        elif kind == "command":
            _, cid, command = message
            channel = self.commands.get(cid)
            if channel is not None:
                channel.send_nowait(command)
        else:
            raise ValueError(f"unknown message from the runner: {kind!r}")

    async def stop_all(self) -> None:
        """Shut every client down (bounded by STOP_WAIT)."""
        for channel in self.commands.values():
            channel.send_nowait(ev.Shutdown("runner closed the worker"))
        with trio.move_on_after(STOP_WAIT):
            await self.all_stopped.wait()

    def report(self) -> dict[str, Any]:
        """The worker's figures: its CPU time and peak memory, plus the probe's."""
        figures: dict[str, Any] = {
            "pid": os.getpid(),
            "clients": self.launched,
            "cpu_s": time.process_time(),
            "peak_rss_mb": peak_rss_mb(),
        }
        if self.probe is not None:
            figures.update(self.probe.report())
        return figures

    async def _run_client(
        self, cid: int, order: LaunchOrder, commands: trio.MemoryReceiveChannel[ev.Command]
    ) -> None:
        from client.core.client import ChatClient

        error: str | None = None
        try:
            profile = await trio.to_thread.run_sync(load_or_create_profile, order)
            client = ChatClient(
                profile,
                partial(self._emit, cid),
                backoff=scenario_backoff(),
                release_storage=False,
            )
            self.kept.append(client)
            await client.run(commands)
        except Exception:
            error = traceback.format_exc(limit=8)
        finally:
            self.commands.pop(cid, None)
            if not self.commands:
                self.all_stopped.set()
            self.outbox.put(("stopped", cid, error))

    def _emit(self, cid: int, event: ev.CoreEvent) -> None:
        self.outbox.put(("event", cid, event))


def load_or_create_profile(order: LaunchOrder) -> Any:
    """The client's profile: made on the first launch, read again on a restart (as
    ``CoreLauncher`` does)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from client.core.profile import PROFILE_FILE, create_profile, load_profile

    if (order.profile_dir / PROFILE_FILE).exists():
        return load_profile(order.profile_dir)
    key = serialization.load_der_private_key(order.key_pkcs8, None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("the launch order's key is not an EC key")
    passport = order.actor.credential == "passport"
    return create_profile(
        order.profile_dir,
        tn=order.actor.tn,
        ds_url=order.service_url,
        private_key=key,
        chain=order.chain,
        trust_dir=order.trust_dir,
        kind=order.actor.credential,
        ds_id=order.ds_id,
        provider_secret=order.provider_secret if passport else None,
    )


async def serve(fd_in: int, fd_out: int, probe: ModuleType | None) -> None:
    """Run clients as the runner's frames say until stdin ends; then report and exit."""
    receive = trio.lowlevel.FdStream(fd_in)
    outbox = FrameOutbox()
    worker = Worker(outbox, probe)
    decoder = FrameDecoder()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(outbox.pump, trio.lowlevel.FdStream(fd_out))
        nursery.start_soon(collect_periodically, FULL_GC_INTERVAL)
        async with trio.open_nursery() as clients:
            while True:
                try:
                    data = await receive.receive_some(1 << 16)
                except (trio.BrokenResourceError, OSError):
                    data = b""
                if not data:
                    break  # a cut frame before the end is dropped: nothing to act on
                for message in decoder.feed(data):
                    worker.handle(clients, message)
            await worker.stop_all()
            clients.cancel_scope.cancel()
        outbox.put(("report", worker.report()))
        outbox.close()
        with trio.move_on_after(STOP_WAIT):
            await outbox.done.wait()
        nursery.cancel_scope.cancel()


def watch_runner(runner_pid: int) -> None:
    """Exit at once when the runner's process is gone (we were re-parented)."""
    while True:
        time.sleep(WATCH_EVERY)
        if os.getppid() != runner_pid:
            os._exit(3)


def main(argv: list[str] | None = None) -> int:
    """The worker's entry point."""
    parser = argparse.ArgumentParser(prog="python -m scenarios.client_worker")
    parser.add_argument("--probe", help="module with install() and report() (measurement)")
    parser.add_argument("--path", action="append", default=[], help="put DIR on sys.path")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=watch_runner, args=(os.getppid(),), daemon=True).start()
    # The pipes are the protocol's: stray prints go to stderr, nothing reads stdin.
    fd_in, fd_out = os.dup(0), os.dup(1)
    os.dup2(2, 1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    # The client core now, not at the first launch: the runner starts its workers early
    # (ProcessLauncher.prepare) so that this overlaps the run's set-up.
    importlib.import_module("client.core.client")
    defer_full_collections(YOUNG_COLLECTION_THRESHOLD)
    probe: ModuleType | None = None
    if args.probe:
        sys.path[:0] = args.path
        probe = importlib.import_module(args.probe)
        probe.install()
    trio.run(serve, fd_in, fd_out, probe)
    # Every client has stopped (every change committed; the MLS files left open on
    # purpose, see Worker.kept) and the report is written: skip the interpreter's
    # teardown, which frees every client's group state object by object and kept the
    # runner waiting seconds for large runs.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())

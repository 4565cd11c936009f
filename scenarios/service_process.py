"""The run's delivery service in a process of its own (``RealEngine(service_process=True)``).

The service speaks only sockets, so it runs unchanged in a child process
(``python -m scenarios.service_process --db FILE --trust DIR --ds-id ID``): the child
prints its ``ws://`` address on stdout, serves until its stdin ends, then prints its
figures (CPU time, peak RSS) as one JSON line and exits. It exits at once if the
runner's process disappears. ``ServiceProcessHost`` is ``ServiceHost``'s counterpart in
the runner: start, stop and restart on the same SQLite file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import trio

from scenarios.client_worker import peak_rss_mb, watch_runner
from scenarios.errors import WorkerFailed

STOP_GRACE = 10.0  # the service's time to close its connections and its database
ROOT = Path(__file__).resolve().parents[1]


class ServiceProcessHost:
    """Starts, stops and restarts one delivery service in a child process."""

    def __init__(self, ds_id: str, db_path: Path, trust_dir: Path) -> None:
        self.ds_id = ds_id
        self.db_path = db_path
        self.trust_dir = trust_dir
        self.url: str | None = None
        self.starts = 0
        self.reports: list[dict[str, Any]] = []  # each stopped service's figures
        self._process: trio.Process | None = None
        self._stopping = False
        self._stopped = trio.Event()

    async def start(self, nursery: trio.Nursery) -> str:
        """Start the service process; returns its ``ws://127.0.0.1:PORT/``."""
        self.url = await nursery.start(self._serve)
        self.starts += 1
        return self.url

    async def stop(self) -> None:
        """Stop serving (its stdin ends; it closes its database) and wait for the exit."""
        process = self._process
        if process is not None and process.stdin is not None:
            self._stopping = True
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await process.stdin.aclose()
            await self._stopped.wait()
        self.url = None

    async def restart(self, nursery: trio.Nursery) -> str:
        """Stop, then start again on the same database file."""
        await self.stop()
        return await self.start(nursery)

    async def _serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        command = [sys.executable, "-m", "scenarios.service_process"]
        command += ["--db", str(self.db_path), "--trust", str(self.trust_dir)]
        command += ["--ds-id", self.ds_id]
        self._stopping, self._stopped = False, trio.Event()
        process = await trio.lowlevel.open_process(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        self._process = process
        assert process.stdout is not None
        lines = _Lines(process.stdout)
        try:
            url = await lines.next()
            if not url.startswith("ws://"):
                raise WorkerFailed(f"the delivery service process did not start: {url!r}", ())
            task_status.started(url)
            last = await lines.next()  # its figures, once its stdin ends
            if last:
                self.reports.append(json.loads(last))
            await process.wait()
            if not self._stopping:
                raise WorkerFailed(
                    f"the delivery service process (pid {process.pid}) exited with status "
                    f"{process.returncode} while the run needed it",
                    (),
                )
        finally:
            with trio.CancelScope(shield=True):
                if process.returncode is None:
                    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                        assert process.stdin is not None
                        await process.stdin.aclose()
                    with trio.move_on_after(STOP_GRACE):
                        await process.wait()
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                self._process = None
                self._stopped.set()


class _Lines:
    """Text lines from a stream ('' at its end)."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = b""

    async def next(self) -> str:
        while b"\n" not in self._buffer:
            data = await self._stream.receive_some(1 << 12)
            if not data:
                rest, self._buffer = self._buffer, b""
                return rest.decode("utf-8", "replace")
            self._buffer += data
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode("utf-8", "replace")


async def serve(db: Path, trust_dir: Path, ds_id: str, fd_out: int) -> None:
    """Serve until stdin ends; then close the service and report."""
    from scenarios.service_host import ServiceHost
    from shared.stir.trust import load_trust_store

    host = ServiceHost(ds_id, db, load_trust_store(trust_dir))
    stdin = trio.lowlevel.FdStream(os.dup(0))
    async with trio.open_nursery() as nursery:
        url = await host.start(nursery)
        os.write(fd_out, f"{url}\n".encode())
        with contextlib.suppress(trio.BrokenResourceError, OSError):
            while await stdin.receive_some(1 << 10):
                pass
        await host.stop()
        nursery.cancel_scope.cancel()
    figures = {"pid": os.getpid(), "cpu_s": time.process_time(), "peak_rss_mb": peak_rss_mb()}
    os.write(fd_out, f"{json.dumps(figures)}\n".encode())


def main(argv: list[str] | None = None) -> int:
    """The service process's entry point."""
    parser = argparse.ArgumentParser(prog="python -m scenarios.service_process")
    parser.add_argument("--db", type=Path, required=True, help="the service's SQLite file")
    parser.add_argument("--trust", type=Path, required=True, help="exported trust store")
    parser.add_argument("--ds-id", required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=watch_runner, args=(os.getppid(),), daemon=True).start()
    fd_out = os.dup(1)
    os.dup2(2, 1)  # stray prints go to stderr: stdout says the address and the figures
    trio.run(serve, args.db, args.trust, args.ds_id, fd_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run the trio client core as a trio *guest* on Textual's asyncio loop.

``trio.lowlevel.start_guest_run`` lets trio's scheduler run inside another event loop:
no second thread, no locks between the two. The core receives commands on a trio
memory channel (fed through the trio token, which is safe to call from asyncio's
callbacks) and emits events with ``app.deliver`` (Textual's message queue). The guest
starts when the app mounts and is cancelled, then awaited, when the app stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from typing import Protocol

import trio

from client.core.events import Command, CoreEvent

CoreMain = Callable[
    [trio.MemoryReceiveChannel[Command], Callable[[CoreEvent], None]], Awaitable[None]
]
"""The core's entry point: ``await core(commands, emit)``; returns when told to shut down."""


class CoreHost(Protocol):
    """What the guest needs from the app."""

    def deliver(self, event: CoreEvent) -> None:
        """Queue an event for the UI."""

    def set_command_sink(self, send_command: Callable[[Command], None]) -> None:
        """Where the UI's commands go."""


class TrioGuest:
    """One trio guest run hosting the core, tied to one app's lifetime."""

    def __init__(self, core: CoreMain) -> None:
        self._core = core
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None
        self._done: asyncio.Future[BaseException | None] | None = None
        self.error: BaseException | None = None

    @property
    def running(self) -> bool:
        """True between start() and the end of the trio run."""
        return self._done is not None and not self._done.done()

    def start(self, host: CoreHost) -> None:
        """Start the guest run on the running asyncio loop."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[BaseException | None] = loop.create_future()
        self._done = done

        def finished(outcome: object) -> None:
            error = getattr(outcome, "error", None)
            self.error = error if isinstance(error, BaseException) else None
            if not done.done():
                done.set_result(self.error)

        trio.lowlevel.start_guest_run(
            self._main,
            host,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            run_sync_soon_not_threadsafe=loop.call_soon,
            done_callback=finished,
            host_uses_signal_set_wakeup_fd=True,
        )

    async def _main(self, host: CoreHost) -> None:
        # Unbounded: commands come at human speed, and send_nowait must never block.
        send, receive = trio.open_memory_channel[Command](math.inf)
        self._token = trio.lowlevel.current_trio_token()
        token = self._token

        def send_command(command: Command) -> None:
            # RunFinishedError: the core is gone; the UI is closing.
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(_send_quietly, send, command)

        host.set_command_sink(send_command)
        with trio.CancelScope() as scope:
            self._cancel = scope
            async with send, receive:
                await self._core(receive, host.deliver)

    async def stop(self, timeout: float = 5.0) -> BaseException | None:
        """Cancel the core and wait (up to ``timeout`` s) for the trio run to end."""
        if self._done is None:
            return None
        if not self._done.done() and self._token is not None and self._cancel is not None:
            with contextlib.suppress(trio.RunFinishedError):
                self._token.run_sync_soon(self._cancel.cancel)
        try:
            return await asyncio.wait_for(asyncio.shield(self._done), timeout)
        except TimeoutError:
            return TimeoutError(f"the client core did not stop within {timeout} s")


def _send_quietly(send: trio.MemorySendChannel[Command], command: Command) -> None:
    # Closed or broken: the core stopped reading because it is shutting down.
    with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
        send.send_nowait(command)

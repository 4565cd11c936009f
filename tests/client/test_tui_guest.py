"""The trio core as a trio guest inside the real Textual app (asyncio host loop).

The core here is a small real trio program (it sleeps on trio's clock, reads the
command channel, emits events); the full client core is driven the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import trio
from tui_sample import FAMILY, world

from client.core.events import (
    ChatLine,
    Command,
    ConnectionChanged,
    ConnectionState,
    CoreEvent,
    MessageReceived,
    SendText,
    Shutdown,
)
from client.tui.app import ChatApp
from client.tui.widgets.message_log import MessageLog


async def echo_core(
    commands: trio.MemoryReceiveChannel[Command], emit: Callable[[CoreEvent], None]
) -> None:
    for event in world():
        emit(event)
    await trio.sleep(0.01)  # only a running trio scheduler gets past this
    emit(ConnectionChanged(ConnectionState.CONNECTED, "trio guest"))
    async for command in commands:
        if isinstance(command, Shutdown):
            return
        if isinstance(command, SendText):
            await trio.sleep(0)
            line = ChatLine(command.group_id, "Alice", command.text, datetime(2026, 1, 1), own=True)
            emit(MessageReceived(line))


async def stubborn_core(
    commands: trio.MemoryReceiveChannel[Command], emit: Callable[[CoreEvent], None]
) -> None:
    emit(ConnectionChanged(ConnectionState.CONNECTING))
    await trio.sleep_forever()  # ignores Shutdown: must be cancelled


def test_trio_core_runs_as_guest_and_round_trips_commands() -> None:
    async def main() -> None:
        app = ChatApp(core=echo_core)
        async with app.run_test(size=(120, 30)) as pilot:
            for _ in range(50):
                await pilot.pause(0.02)
                if app.model.connection_detail == "trio guest":
                    break
            assert app.model.connection is ConnectionState.CONNECTED
            assert app.model.current == FAMILY
            await pilot.press(*"ping", "enter")
            for _ in range(50):
                await pilot.pause(0.02)
                if app.screen.query_one(MessageLog).line_count == 4:
                    break
            assert app.model.groups[FAMILY].lines[-1].text == "ping"
            assert app.guest is not None and app.guest.running
            await pilot.press("ctrl+q")
        assert app.guest is not None
        assert not app.guest.running and app.guest.error is None

    asyncio.run(main())


def test_core_that_ignores_shutdown_is_cancelled_with_the_app() -> None:
    async def main() -> None:
        app = ChatApp(core=stubborn_core)
        async with app.run_test() as pilot:
            await pilot.pause(0.05)
            assert app.guest is not None and app.guest.running
        assert not app.guest.running
        # Cancellation is a clean end of the trio run, not an error.
        assert app.guest.error is None

    asyncio.run(main())

"""Snapshot tests of the main screen and the Verify screen (fixed content, no blinking).

Update after an intended change of the look: ``uv run --no-sync pytest
tests/client/test_tui_snapshots.py --snapshot-update``, then look at the SVGs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input
from tui_sample import world

from client.tui.app import ChatApp

SIZE = (140, 40)


async def _steady(pilot: Pilot[None], keys: tuple[str, ...] = ()) -> None:
    app = pilot.app
    assert isinstance(app, ChatApp)
    for event in world():
        app.deliver(event)
    await pilot.pause()
    await pilot.press(*keys)
    await pilot.pause()
    for widget in app.screen.query(Input):
        widget.cursor_blink = False  # a blinking cursor would make snapshots flaky
    await pilot.pause()


def test_main_screen(snap_compare: Callable[..., bool]) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _steady(pilot)

    assert snap_compare(ChatApp(), terminal_size=SIZE, run_before=before)


def test_verify_screen(snap_compare: Callable[..., bool]) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _steady(pilot, ("ctrl+g", "m"))

    assert snap_compare(ChatApp(), terminal_size=SIZE, run_before=before)


def test_mismatch_alarm(snap_compare: Callable[..., Any]) -> None:
    async def before(pilot: Pilot[None]) -> None:
        await _steady(pilot, ("ctrl+g", "down", "d"))

    assert snap_compare(ChatApp(), terminal_size=SIZE, run_before=before)

"""``stirmls demo --tui``: the demo world in the real app (Pilot), with everything real.

The world (a delivery service on loopback, a demo PKI, Alice's core and two bot cores)
runs in the app's trio guest, as with ``stirmls demo --tui``; the test only presses keys.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

from textual.widgets import Static

from client.tui.screens.main import MainScreen
from client.tui.screens.verify import VerifyScreen
from scenarios.demo_world import BOTS, GROUP_TITLE, HUMAN, DemoWorld, bot_answer, make_app

Pause = Callable[[], Awaitable[None]]


async def until(pause: Pause, check: Callable[[], bool], what: str) -> None:
    """Pause the app until ``check`` holds (at most ~15 s)."""
    for _ in range(300):
        if check():
            return
        await pause()
    raise AssertionError(f"not reached in time: {what}")


def test_bot_answer_echoes_and_tells_its_code() -> None:
    bob = BOTS[0]
    assert "'hello'" in (bot_answer(bob, "hello", None) or "")
    assert "12345" in (bot_answer(bob, "what is your code?", "12345 67890") or "")
    assert "no code" in (bot_answer(bob, "verify?", None) or "")
    # A message naming only Carol is hers; naming Bob too, both answer.
    assert bot_answer(bob, "Carol, your code?", "1", others=("Carol",)) is None
    assert bot_answer(bob, "Bob and Carol: hi", None, others=("Carol",)) is not None


def test_demo_world_in_the_app(tmp_path: Path) -> None:
    world = DemoWorld(tmp_path / "world")

    async def main() -> None:
        app = make_app(world)
        async with app.run_test(size=(140, 40)) as pilot:

            async def pause() -> None:
                await pilot.pause(0.05)

            await until(pause, lambda: app.model.me is not None, "own identity")
            assert app.model.me is not None and app.model.me.name == HUMAN.name
            await until(pause, lambda: app.model.current_group is not None, "the demo group")
            group = app.model.current_group
            assert group is not None and group.summary.title == GROUP_TITLE
            await until(pause, lambda: len(group.members) == 3, "three members")
            others = {
                m.identity.name: m.identity.title
                for m in group.members
                if not m.is_self and m.identity is not None
            }
            assert set(others) == {"Bob", "Carol"}
            assert "+1 202-555-0102" in others["Bob"]
            assert "+1 202-555-0103" in others["Carol"]

            await pilot.press(*"hello bots", "enter")
            await until(
                pause,
                lambda: (
                    {x.sender.split()[0] for x in group.lines if "'hello bots'" in x.text}
                    == {"Bob", "Carol"}
                ),
                "both bots answer",
            )

            # Ask for codes: the code Bob tells matches the one on Alice's Verify screen.
            await until(
                pause,
                lambda: (
                    group.safety is not None
                    and all(
                        b.epochs.get(group.summary.group_id) == group.safety.epoch
                        for b in world.bots
                    )
                ),
                "bots at Alice's epoch",
            )
            await pilot.press(*"Bob, your code?", "enter")
            await until(
                pause,
                lambda: any("my code is" in x.text for x in group.lines),
                "a bot tells its code",
            )
            told = next(x.text for x in group.lines if "my code is" in x.text)
            assert told.startswith("Bob:")
            await pilot.press("ctrl+g")
            assert isinstance(app.screen, VerifyScreen)
            shown = str(app.screen.query_one("#verify-code", Static).render())
            assert shown.replace(" ", "") in told.replace(" ", "")
            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen)

            assert world.running and all(b.running for b in world.bots)
            await pilot.press("ctrl+q")
        assert app.guest is not None and app.guest.error is None
        assert not app.guest.running

    asyncio.run(main())
    # Nothing left running: bots and service stopped, the port is closed.
    assert not world.running
    assert not any(b.running for b in world.bots)
    assert world.url is not None
    port = int(world.url.rsplit(":", 1)[1].strip("/"))
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0

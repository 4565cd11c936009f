"""Make docs/images/chat.svg and verify.svg from the running ``stirmls demo --tui`` app.

    uv run --no-sync python docs/images/make_screenshots.py

The real demo world (service, PKI, Alice's core, the Bob and Carol bots) runs headless
in the real app; Pilot types what a person would: a message, a request for codes, then
the Verify screen where Bob's code is marked as matching.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from scenarios.demo_world import DemoWorld, make_app

HERE = Path(__file__).parent


async def _until(pilot: Pilot[None], check: Callable[[], bool]) -> None:
    for _ in range(400):
        if check():
            return
        await pilot.pause(0.05)
    raise RuntimeError("the demo world did not get there in 20 s")


async def main() -> None:
    """Drive the app and save the two screenshots."""
    with tempfile.TemporaryDirectory(prefix="stirmls-shots-") as tmp:
        world = DemoWorld(Path(tmp))
        app = make_app(world)
        async with app.run_test(size=(120, 34)) as pilot:
            model = app.model
            await _until(pilot, lambda: model.current_group is not None)
            group = model.current_group
            assert group is not None
            await _until(pilot, lambda: len(group.members) == 3 and len(group.lines) >= 5)
            await pilot.press(*"Hello both, is this thing on?", "enter")
            await _until(pilot, lambda: sum("thing on" in x.text for x in group.lines) >= 3)
            await pilot.press(*"Bob, what is your code?", "enter")
            await _until(pilot, lambda: any("my code is" in x.text for x in group.lines))
            await pilot.press("ctrl+g")
            await pilot.pause(0.3)
            await pilot.press("m")  # Bob (first in the list) said the same code
            await pilot.pause(0.3)
            app.save_screenshot("verify.svg", str(HERE))
            await pilot.press("escape")
            await pilot.pause(0.3)
            app.save_screenshot("chat.svg", str(HERE))
            await pilot.press("ctrl+q")


if __name__ == "__main__":
    asyncio.run(main())

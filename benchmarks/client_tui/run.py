"""Benchmark of the chat TUI with a 1,000-member group and 10,000 messages (not a test).

Run: ``uv run python benchmarks/client_tui/run.py [MEMBERS MESSAGES]`` (headless Textual, 140x40).
Measures, each as the median of several runs:

* open: from handing the app the member list and the history to the screen being
  drawn (``pilot.pause()`` returns after the refresh);
* incoming: one new message appended to the 10,000-line history and drawn;
* page: one page-down in the 1,000-member list, drawn.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

# The sample world (members, history) is shared with the TUI tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "client"))

from tui_sample import FAMILY, MEMBERS, T0, world

from client.core.events import (
    ChatLine,
    HistoryLoaded,
    MembersChanged,
    MessageReceived,
)
from client.tui.app import ChatApp
from client.tui.widgets.member_list import MemberList
from client.tui.widgets.message_log import MessageLog

MEMBER_COUNT = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
MESSAGE_COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000


async def one_run() -> tuple[float, float, float]:
    members = tuple(
        replace(MEMBERS[1], key=f"{i:016x}", leaf_index=i, is_self=i == 0)
        for i in range(MEMBER_COUNT)
    )
    lines = tuple(
        ChatLine(FAMILY, "Bob  +1 202-555-0102", f"message number {i} " + "x" * (i % 120), T0)
        for i in range(MESSAGE_COUNT)
    )
    app = ChatApp()
    async with app.run_test(size=(140, 40)) as pilot:
        for event in world():
            app.deliver(event)
        await pilot.pause()
        start = time.perf_counter()
        app.deliver(MembersChanged(FAMILY, members))
        app.deliver(HistoryLoaded(FAMILY, lines))
        await pilot.pause()
        opened = time.perf_counter() - start
        assert app.screen.query_one(MessageLog).line_count == MESSAGE_COUNT
        assert len(app.screen.query_one(MemberList).members) == MEMBER_COUNT

        samples = []
        for i in range(50):
            start = time.perf_counter()
            app.deliver(MessageReceived(ChatLine(FAMILY, "Carol", f"incoming {i}", T0)))
            await pilot.pause()
            samples.append(time.perf_counter() - start)
        incoming = statistics.median(samples)

        member_list = app.screen.query_one(MemberList)
        member_list.focus()
        await pilot.pause()
        pages = []
        for _ in range(20):
            start = time.perf_counter()
            await pilot.press("pagedown")
            pages.append(time.perf_counter() - start)
        page = statistics.median(pages)
    return opened, incoming, page


async def main() -> None:
    results = [await one_run() for _ in range(5)]
    opened = statistics.median(r[0] for r in results)
    incoming = statistics.median(r[1] for r in results)
    page = statistics.median(r[2] for r in results)
    print(f"members={MEMBER_COUNT} messages={MESSAGE_COUNT} terminal=140x40 runs={len(results)}")
    print(f"open group (members + history, drawn): median {opened * 1000:.1f} ms")
    print(f"incoming message (appended, drawn):     median {incoming * 1000:.1f} ms")
    print(f"member list page-down (drawn):          median {page * 1000:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())

"""Messages handed to a client together (real OpenMLS, a real delivery service on
loopback): the commands already queued are taken without a scheduler pass each, every
message is encrypted in the event loop's thread and its frame queued at once
(``ChatClient._send_now``); the frames leave, arrive and are stored in the order given,
and the service's answers come back after the frames went out, not one per command."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trio
from client_world import (  # noqa: F401 (fixtures)
    ALICE,
    BOB,
    RunningClient,
    World,
    connected,
    create_group,
    join,
    start_client_fixture,
    world_fixture,
)

from client.core.client import LinkFactory
from client.core.connection import FrameLink, open_websocket_link
from client.core.events import (
    MessageReceived,
    SendText,
    Shutdown,
)
from client.core.profile import ClientProfile

Start = Callable[..., Awaitable[RunningClient]]


class TapLink:
    """The real link, logging each frame sent and received, in order."""

    def __init__(self, inner: FrameLink, log: list[tuple[str, str]]) -> None:
        self.inner, self.log = inner, log

    async def receive(self) -> str | bytes:
        message = await self.inner.receive()
        self.log.append(("in", str(message)))
        return message

    async def send(self, message: str) -> None:
        self.log.append(("out", message))
        await self.inner.send(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.inner.close(code, reason)


def kind(frame: str) -> object:
    return json.loads(frame).get("type")


async def title_sent(log: list[tuple[str, str]]) -> None:
    """Until Alice's title message (her client tells the group its title once Bob is in)
    has gone out and every request has its answer, so that neither falls into the
    burst's window."""
    with trio.fail_after(10):
        while True:
            sends = [t for way, t in log if way == "out" and kind(t) == "send"]
            asked = {json.loads(t)["id"] for way, t in log if way == "out" and '"id"' in t}
            told = {json.loads(t).get("re") for way, t in log if way == "in"}
            if sends and asked <= told:
                return
            await trio.sleep(0.01)


def tapped(url: str, log: list[tuple[str, str]]) -> LinkFactory:
    @asynccontextmanager
    async def factory() -> AsyncIterator[FrameLink]:
        async with open_websocket_link(url) as inner:
            yield TapLink(inner, log)

    return factory


async def test_a_burst_handed_over_at_once_leaves_at_once_and_in_order(
    world: World, start_client: Start
) -> None:
    log: list[tuple[str, str]] = []
    profile: ClientProfile = world.new_profile("alice", ALICE)
    alice = await start_client("alice", profile, tapped(world.url, log))
    bob = await start_client("bob", world.new_profile("bob", BOB))
    for c in (alice, bob):
        await c.wait_for(connected)
    group_id = await create_group(alice, "Burst")
    await join(alice, bob, group_id, BOB)
    texts = [f"burst {i}" for i in range(20)]
    await title_sent(log)
    mark = len(log)
    for text in texts:  # all queued before the client runs again
        alice.send.send_nowait(SendText(group_id, text))
    await bob.wait_for(lambda e: isinstance(e, MessageReceived) and e.line.text == texts[-1])
    await alice.wait_for(lambda e: isinstance(e, MessageReceived) and e.line.text == texts[-1])

    burst = log[mark:]
    sends = [i for i, (way, text) in enumerate(burst) if way == "out" and kind(text) == "send"]
    first_answer = next(i for i, (way, _) in enumerate(burst) if way == "in")
    assert len(sends) == len(texts)
    # Queued together: the first answer is read once frames are on their way, not
    # after a round trip per command (how many answers are read between the writes
    # depends on the scheduler; with a hop per message it was one per message).
    assert first_answer > min(sends)
    answers_between = sum(1 for way, _ in burst[min(sends) : max(sends)] if way == "in")
    assert answers_between < len(texts) - 1
    received = [
        e.line.text
        for e in bob.events
        if isinstance(e, MessageReceived) and not e.line.own and e.line.text in texts
    ]
    assert received == texts
    assert alice.core is not None
    assert [x.text for x in alice.core.history.lines(group_id) if x.own] == texts
    for c in (alice, bob):
        await c.command(Shutdown())

"""A delivery service that drops the connection, sends garbage or replays old messages:
the client says so, reconnects, never shows a message twice, and loses nothing.

The faults are injected in the client's link to the real service (a wrapper around the
real WebSocket), so everything else is real: service, sockets, OpenMLS, SQLite.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from conftest import ALICE, BOB, RunningClient, World
from faulty_link import Faults

from client.core.events import (
    AnswerInvitation,
    ConnectionChanged,
    ConnectionState,
    CoreEvent,
    CreateGroup,
    GroupsChanged,
    InvitationReceived,
    InviteNumber,
    MessageReceived,
    Notice,
    SendText,
    Shutdown,
)
from client.core.profile import ClientProfile

Start = Callable[..., Awaitable[RunningClient]]


def connected(e: CoreEvent) -> bool:
    return isinstance(e, ConnectionChanged) and e.state is ConnectionState.CONNECTED


def count_text(client: RunningClient, text: str) -> int:
    return sum(isinstance(e, MessageReceived) and e.line.text == text for e in client.events)


async def test_garbage_replay_and_dropped_connection(world: World, start_client: Start) -> None:
    faults = Faults(world.url)
    alice = await start_client("alice", world.new_profile("alice", ALICE))
    bob_profile: ClientProfile = world.new_profile("bob", BOB)
    bob = await start_client("bob", bob_profile, faults.open)
    for c in (alice, bob):
        await c.wait_for(connected)
    await alice.command(CreateGroup("Family"))
    created = await alice.wait_for(lambda e: isinstance(e, GroupsChanged) and bool(e.groups))
    assert isinstance(created, GroupsChanged)
    group_id = created.groups[0].group_id
    await alice.command(InviteNumber(group_id, BOB))
    invitation = await bob.wait_for(lambda e: isinstance(e, InvitationReceived))
    assert isinstance(invitation, InvitationReceived)
    await bob.command(AnswerInvitation(invitation.invitation.invitation_id, True))
    await bob.wait_for(lambda e: isinstance(e, MessageReceived) and "joined" in e.line.text)

    await alice.command(SendText(group_id, "one"))
    await bob.wait_for(lambda e: isinstance(e, MessageReceived) and e.line.text == "one")
    link = faults.links[-1]
    delivered_one = next(
        m for m in reversed(link.received) if isinstance(m, str) and '"application"' in m
    )

    # Garbage: reported, the session goes on.
    mark = len(bob.events)
    link.inject("this is not a frame")
    link.inject(b"\x00\xff")
    notice = await bob.wait_for(lambda e: isinstance(e, Notice) and "garbage" in e.text, start=mark)
    assert isinstance(notice, Notice)
    # Replay of an already-handled message: not shown again.
    link.inject(delivered_one)
    await alice.command(SendText(group_id, "two"))
    await bob.wait_for(lambda e: isinstance(e, MessageReceived) and e.line.text == "two")
    assert count_text(bob, "one") == 1
    assert not any(
        isinstance(e, ConnectionChanged) and e.state is ConnectionState.RECONNECTING
        for e in bob.events[mark:]
    )

    # The connection drops: the client reconnects by itself and misses nothing.
    mark = len(bob.events)
    await link.inner.close()
    await bob.wait_for(
        lambda e: isinstance(e, ConnectionChanged) and e.state is ConnectionState.RECONNECTING,
        start=mark,
    )
    await alice.command(SendText(group_id, "three"))  # sent while Bob may be away
    await bob.wait_for(connected, start=mark)
    await bob.wait_for(lambda e: isinstance(e, MessageReceived) and e.line.text == "three")
    assert len(faults.links) == 2
    assert [count_text(bob, t) for t in ("one", "two", "three")] == [1, 1, 1]
    for c in (alice, bob):
        await c.command(Shutdown())

"""A delivery service that drops the connection, sends garbage or replays old messages:
the client says so, reconnects, never shows a message twice, and loses nothing.

The faults are injected in the client's link to the real service (a wrapper around the
real WebSocket), so everything else is real: service, sockets, OpenMLS, SQLite.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import openmls
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
from faulty_link import Faults

from client.core.events import (
    ConnectionChanged,
    ConnectionState,
    CredentialVerdict,
    EpochChanged,
    InviteNumber,
    MessageReceived,
    Notice,
    SendText,
    Shutdown,
)
from client.core.profile import ClientProfile
from shared.protocol import (
    Deliver,
    Deliveries,
    DeliveryKind,
    InvitationCreated,
    decode_frame,
    encode_frame,
)

Start = Callable[..., Awaitable[RunningClient]]


def count_text(client: RunningClient, text: str) -> int:
    return sum(isinstance(e, MessageReceived) and e.line.text == text for e in client.events)


async def test_garbage_replay_and_dropped_connection(world: World, start_client: Start) -> None:
    faults = Faults(world.url)
    alice = await start_client("alice", world.new_profile("alice", ALICE))
    bob_profile: ClientProfile = world.new_profile("bob", BOB)
    bob = await start_client("bob", bob_profile, faults.open)
    for c in (alice, bob):
        await c.wait_for(connected)
    group_id = await create_group(alice, "Family")
    await join(alice, bob, group_id, BOB)

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
    lost = await bob.wait_for(
        lambda e: isinstance(e, ConnectionChanged) and e.state is ConnectionState.RECONNECTING,
        start=mark,
    )
    # The reason, not the text of the nurseries' exception groups around it.
    assert isinstance(lost, ConnectionChanged)
    assert lost.detail and "sub-exception" not in lost.detail, lost.detail
    await alice.command(SendText(group_id, "three"))  # sent while Bob may be away
    await bob.wait_for(connected, start=mark)
    await bob.wait_for(lambda e: isinstance(e, MessageReceived) and e.line.text == "three")
    assert len(faults.links) == 2
    assert [count_text(bob, t) for t in ("one", "two", "three")] == [1, 1, 1]
    for c in (alice, bob):
        await c.command(Shutdown())


async def test_key_package_for_another_number_is_not_added(
    world: World, start_client: Start
) -> None:
    faults = Faults(world.url)
    alice = await start_client("alice", world.new_profile("alice", ALICE), faults.open)
    bob = await start_client("bob", world.new_profile("bob", BOB))  # registered, silent
    for c in (alice, bob):
        await c.wait_for(connected)
    group_id = await create_group(alice, "Family")
    await alice.command(InviteNumber(group_id, BOB))
    link = faults.links[-1]
    with trio.fail_after(10):
        while not any('"invitation_created"' in str(m) for m in link.received):
            await trio.sleep(0.01)
    created_frame = next(decode_frame(m) for m in link.received if '"invitation_created"' in str(m))
    assert isinstance(created_frame, InvitationCreated)

    # The service (or anyone on the path) answers with a KeyPackage of Carol's, valid in
    # itself, as if it were Bob's answer.
    carol = world.new_profile("carol", "12025550103")
    signer = openmls.SignatureKeyPair.from_p256_private_key(carol.private_key_der)
    credential = openmls.Credential(carol.credential_type, carol.credential_content)
    key_package = openmls.KeyPackage.create(openmls.Provider(), signer, credential)
    forged = Deliver(
        mid=10**9,
        kind=DeliveryKind.KEY_PACKAGE,
        sender=BOB,
        data=key_package.to_bytes(),
        group_id=group_id,
        invitation_id=created_frame.invitation_id,
    )
    mark = len(alice.events)
    link.inject(encode_frame(forged))
    verdict = await alice.wait_for(lambda e: isinstance(e, CredentialVerdict), start=mark)
    assert isinstance(verdict, CredentialVerdict) and verdict.rejection is not None
    assert verdict.rejection.reason == "not-invited"
    assert "+1 202-555-0103" in verdict.rejection.detail
    epochs = [e.safety.epoch for e in alice.events if isinstance(e, EpochChanged)]
    assert epochs[-1] == 0  # nothing was committed
    for c in (alice, bob):
        await c.command(Shutdown())


async def test_batched_garbage_and_replays_and_the_ack_policy(
    world: World, start_client: Start
) -> None:
    """Deliveries frames from a bad service: a malformed batch is reported and hands
    nothing on; a replayed batch of handled messages shows nothing twice. The client's
    acknowledgements (quiet, gathered for ACK_DELAY) empty the mail box in the end."""
    faults = Faults(world.url)
    alice = await start_client("alice", world.new_profile("alice", ALICE))
    bob = await start_client("bob", world.new_profile("bob", BOB), faults.open)
    for c in (alice, bob):
        await c.wait_for(connected)
    group_id = await create_group(alice, "Batch")
    await join(alice, bob, group_id, BOB)
    for text in ("one", "two"):
        await alice.command(SendText(group_id, text))
        await bob.wait_for(lambda e, t=text: isinstance(e, MessageReceived) and e.line.text == t)
    link = faults.links[-1]
    handled: list[Deliver] = []
    for message in link.received:
        frame = decode_frame(message)
        items = frame.items if isinstance(frame, Deliveries) else (frame,)
        handled += [
            d for d in items if isinstance(d, Deliver) and d.kind is DeliveryKind.APPLICATION
        ]
    assert len(handled) >= 2  # the join's own notice may be one more

    mark = len(bob.events)
    # Out of mid order: refused whole, reported, nothing of it reaches the core.
    link.inject(encode_frame(Deliveries((handled[-1], handled[-2]))))
    await bob.wait_for(lambda e: isinstance(e, Notice) and "mid order" in e.text, start=mark)
    # A replayed batch of handled messages: nothing is shown twice.
    link.inject(encode_frame(Deliveries(tuple(handled))))
    await alice.command(SendText(group_id, "three"))
    await bob.wait_for(lambda e: isinstance(e, MessageReceived) and e.line.text == "three")
    assert [count_text(bob, t) for t in ("one", "two", "three")] == [1, 1, 1]
    assert not any(
        isinstance(e, ConnectionChanged) and e.state is ConnectionState.RECONNECTING
        for e in bob.events[mark:]
    )
    # Acknowledged within ACK_DELAY (+ the core's gathering): the mail box empties.
    (storage,) = world.storages
    with trio.fail_after(5):
        while storage.mailbox_size(BOB):
            await trio.sleep(0.05)
    for c in (alice, bob):
        await c.command(Shutdown())

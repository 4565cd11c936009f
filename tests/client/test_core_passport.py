"""PASSporT members (PROFILE §5): credentials fetched per group from the service's
provider role, shown as provider-attested, and renewed by self-update at max_age/2."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

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

from client.core.events import (
    EpochChanged,
    MembersChanged,
    MessageReceived,
    SelfIdentity,
    SendText,
    Shutdown,
)
from shared.identity_view import AssuranceLevel
from shared.profile import PASSPORT_MAX_AGE

Start = Callable[..., Awaitable[RunningClient]]


async def test_passport_members_chat_and_renew(world: World, start_client: Start) -> None:
    shift = timedelta(0)

    def alice_clock() -> datetime:
        return datetime.now(UTC) + shift

    alice = await start_client(
        "alice", world.new_profile("alice", ALICE, passport=True), None, alice_clock
    )
    bob = await start_client("bob", world.new_profile("bob", BOB, passport=True))
    for c in (alice, bob):
        await c.wait_for(connected)
    me = await alice.wait_for(lambda e: isinstance(e, SelfIdentity))
    assert isinstance(me, SelfIdentity)
    assert me.identity.name == "Alice"
    assert me.identity.assurance is AssuranceLevel.PROVIDER_ATTESTED_KEY

    group_id = await create_group(alice, "Family")
    await join(alice, bob, group_id, BOB)
    await alice.command(SendText(group_id, "hi"))
    line = await bob.wait_for(lambda e: isinstance(e, MessageReceived) and e.line.text == "hi")
    assert isinstance(line, MessageReceived) and line.line.sender == "Alice  +1 202-555-0101"
    rows = [e for e in bob.events if isinstance(e, MembersChanged)][-1].members
    alice_row = next(r for r in rows if not r.is_self)
    assert alice_row.identity is not None
    assert alice_row.identity.badge == "[PROVIDER KEY · PASSporT]"
    epoch = [e for e in bob.events if isinstance(e, EpochChanged)][-1].safety.epoch

    # Half of max_age later (on Alice's clock) Alice renews with a fresh PASSporT.
    shift = PASSPORT_MAX_AGE / 2 + timedelta(hours=1)
    await alice.wait_for(
        lambda e: isinstance(e, MessageReceived) and e.line.text.startswith("Renewed your PASSporT")
    )
    shift = timedelta(0)
    renewed = await bob.wait_for(lambda e: isinstance(e, EpochChanged) and e.safety.epoch > epoch)
    assert isinstance(renewed, EpochChanged)
    await bob.command(SendText(group_id, "still here"))
    await alice.wait_for(lambda e: isinstance(e, MessageReceived) and e.line.text == "still here")
    for c in (alice, bob):
        await c.command(Shutdown())

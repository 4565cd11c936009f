"""Three real clients against a real delivery service on loopback (real OpenMLS, real
sockets, real SQLite files): join, chat, remove, restart from files, and rejection."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import pytest
import trio
from client_world import (  # noqa: F401 (fixtures)
    ALICE,
    BOB,
    CAROL,
    EVE,
    RunningClient,
    World,
    connected,
    create_group,
    join,
    start_client_fixture,
    world_fixture,
)
from faulty_link import Faults

from client.core.client import ChatClient
from client.core.events import (
    AnswerInvitation,
    CoreEvent,
    CreateGroup,
    CredentialVerdict,
    EpochChanged,
    GroupsChanged,
    InvitationReceived,
    InviteNumber,
    MembersChanged,
    MessageReceived,
    Notice,
    NoticeLevel,
    RemoveMember,
    SendText,
    Shutdown,
    UpdateKeys,
)
from client.core.history import ChatHistory
from client.core.profile import ClientProfile

Start = Callable[[str, ClientProfile], Awaitable[RunningClient]]


def text_line(text: str) -> Callable[[CoreEvent], bool]:
    return lambda e: isinstance(e, MessageReceived) and e.line.text == text


def group_named(title: str) -> Callable[[CoreEvent], bool]:
    return lambda e: isinstance(e, GroupsChanged) and any(g.title == title for g in e.groups)


def last_code(client: RunningClient, group_id: bytes) -> tuple[int, str]:
    codes = [e for e in client.events if isinstance(e, EpochChanged) and e.group_id == group_id]
    return codes[-1].safety.epoch, codes[-1].safety.digits


def last_members(client: RunningClient, group_id: bytes) -> int:
    rows = [e for e in client.events if isinstance(e, MembersChanged) and e.group_id == group_id]
    return len(rows[-1].members)


def member_key(client: RunningClient, number: str) -> str:
    """The signature key of the member ``client`` has seen under ``number``."""
    return next(
        r.key
        for e in client.events
        if isinstance(e, MembersChanged)
        for r in e.members
        if r.identity is not None and r.identity.number == number
    )


async def test_three_clients_join_chat_remove_and_restart(
    world: World, start_client: Start
) -> None:
    alice = await start_client("alice", world.new_profile("alice", ALICE))
    bob = await start_client("bob", world.new_profile("bob", BOB))
    carol = await start_client("carol", world.new_profile("carol", CAROL))
    for c in (alice, bob, carol):
        await c.wait_for(connected)

    await alice.command(CreateGroup("Family"))
    created = await alice.wait_for(group_named("Family"))
    assert isinstance(created, GroupsChanged)
    group_id = created.groups[0].group_id

    await join(alice, bob, group_id, BOB)
    await bob.wait_for(group_named("Family"))  # the title travels inside the group
    await join(alice, carol, group_id, CAROL)

    await alice.command(SendText(group_id, "hello"))
    for other in (bob, carol):
        line = await other.wait_for(text_line("hello"))
        assert isinstance(line, MessageReceived)
        assert line.line.sender == "+1 202-555-0101"  # Alice's certified number
    await carol.command(SendText(group_id, "hi from carol"))
    await alice.wait_for(text_line("hi from carol"))
    await bob.wait_for(text_line("hi from carol"))

    # Everyone at the same epoch sees the same code (PROFILE §8).
    await bob.wait_for(lambda e: isinstance(e, EpochChanged) and e.safety.epoch == 2)
    assert last_code(alice, group_id) == last_code(bob, group_id) == last_code(carol, group_id)
    assert last_members(bob, group_id) == 3

    # Alice removes Carol.
    carol_key = member_key(alice, "+1 202-555-0103")
    await alice.command(RemoveMember(group_id, carol_key))
    await carol.wait_for(text_line("You were removed from this group"))
    await bob.wait_for(lambda e: isinstance(e, EpochChanged) and e.safety.epoch == 3)
    assert last_members(bob, group_id) == 2
    assert last_code(alice, group_id) == last_code(bob, group_id)

    # Bob restarts from his files and continues.
    await bob.command(Shutdown())
    await bob.done.wait()
    await alice.command(SendText(group_id, "while bob was away"))
    bob2 = await start_client("bob2", bob.profile)
    restored = await bob2.wait_for(group_named("Family"))
    assert isinstance(restored, GroupsChanged)
    await bob2.wait_for(text_line("while bob was away"))
    await bob2.command(SendText(group_id, "back again"))
    await alice.wait_for(text_line("back again"))
    assert last_code(bob2, group_id) == last_code(alice, group_id)
    for c in (alice, bob2, carol):
        await c.command(Shutdown())


async def test_rejected_credential_leaves_state_unchanged(
    world: World, start_client: Start
) -> None:
    # Eve's certificate chains to a root the service trusts but the clients do not.
    alice = await start_client("alice", world.new_profile("alice", ALICE))
    eve = await start_client("eve", world.new_profile("eve", EVE, rogue=True))
    bob = await start_client("bob", world.new_profile("bob", BOB))
    for c in (alice, eve, bob):
        await c.wait_for(connected)

    # The adder checks the invitee's KeyPackage before the Add.
    await alice.command(CreateGroup("Family"))
    created = await alice.wait_for(group_named("Family"))
    assert isinstance(created, GroupsChanged)
    group_id = created.groups[0].group_id
    await alice.wait_for(lambda e: isinstance(e, EpochChanged) and e.group_id == group_id)
    epoch_before = last_code(alice, group_id)
    await alice.command(InviteNumber(group_id, EVE))
    invitation = await eve.wait_for(lambda e: isinstance(e, InvitationReceived))
    assert isinstance(invitation, InvitationReceived)
    await eve.command(AnswerInvitation(invitation.invitation.invitation_id, True))
    verdict = await alice.wait_for(lambda e: isinstance(e, CredentialVerdict))
    assert isinstance(verdict, CredentialVerdict) and not verdict.accepted
    assert verdict.entry_point == "key-package" and verdict.rejection is not None
    assert verdict.rejection.reason == "chain"
    assert "+1 415-555-0100" in verdict.rejection.who
    assert last_code(alice, group_id) == epoch_before  # nothing was committed
    assert last_members(alice, group_id) == 1

    # A joiner checks every member of the tree before accepting a Welcome.
    await eve.command(CreateGroup("Trap"))
    trap = await eve.wait_for(group_named("Trap"))
    assert isinstance(trap, GroupsChanged)
    trap_id = next(g.group_id for g in trap.groups if g.title == "Trap")
    mark = len(bob.events)
    await eve.command(InviteNumber(trap_id, BOB))
    invitation = await bob.wait_for(lambda e: isinstance(e, InvitationReceived), start=mark)
    assert isinstance(invitation, InvitationReceived)
    await bob.command(AnswerInvitation(invitation.invitation.invitation_id, True))
    refused = await bob.wait_for(lambda e: isinstance(e, CredentialVerdict), start=mark)
    assert isinstance(refused, CredentialVerdict) and refused.entry_point == "welcome"
    assert refused.rejection is not None and refused.rejection.reason == "chain"
    assert bob.core is not None and trap_id not in bob.core.slots  # did not join
    for c in (alice, eve, bob):
        await c.command(Shutdown())


async def test_lost_state_resyncs_by_external_commit(world: World, start_client: Start) -> None:
    alice = await start_client("alice", world.new_profile("alice", ALICE))
    bob = await start_client("bob", world.new_profile("bob", BOB))
    for c in (alice, bob):
        await c.wait_for(connected)
    await alice.command(CreateGroup("Family"))
    created = await alice.wait_for(group_named("Family"))
    assert isinstance(created, GroupsChanged)
    group_id = created.groups[0].group_id
    await join(alice, bob, group_id, BOB)
    await alice.command(SendText(group_id, "before"))
    await bob.wait_for(text_line("before"))

    # Bob loses his MLS state (history survives), then starts again.
    await bob.command(Shutdown())
    await bob.done.wait()
    for suffix in ("", "-wal", "-shm"):
        path = bob.profile.directory / f"mls.sqlite{suffix}"
        if path.exists():
            path.unlink()
    bob2 = await start_client("bob2", bob.profile)
    await bob2.wait_for(text_line("Resynchronised with the group (external commit)"))
    # Alice validated and merged Bob's external commit; both are at the same epoch.
    await alice.wait_for(
        lambda e: isinstance(e, EpochChanged) and e.safety.epoch == last_code(bob2, group_id)[0]
    )
    assert last_code(alice, group_id) == last_code(bob2, group_id)
    assert last_members(alice, group_id) == 2  # Bob's old leaf was replaced, not duplicated
    await alice.command(SendText(group_id, "after"))
    await bob2.wait_for(text_line("after"))
    await bob2.command(SendText(group_id, "bob is back"))
    await alice.wait_for(text_line("bob is back"))
    for c in (alice, bob2):
        await c.command(Shutdown())


async def test_lost_commit_race_is_retried_at_the_new_epoch(
    world: World, start_client: Start
) -> None:
    faults = Faults(world.url)
    alice = await start_client("alice", world.new_profile("alice", ALICE))
    bob = await start_client("bob", world.new_profile("bob", BOB), faults.open)
    carol = await start_client("carol", world.new_profile("carol", CAROL))
    for c in (alice, bob, carol):
        await c.wait_for(connected)
    await alice.command(CreateGroup("Family"))
    created = await alice.wait_for(group_named("Family"))
    assert isinstance(created, GroupsChanged)
    group_id = created.groups[0].group_id
    await join(alice, bob, group_id, BOB)
    await join(alice, carol, group_id, CAROL)
    await bob.wait_for(lambda e: isinstance(e, EpochChanged) and e.safety.epoch == 2)

    # Bob does not hear of Alice's commit before making his own for the same epoch.
    link = faults.links[-1]
    link.hold = True
    carol_key = member_key(alice, "+1 202-555-0103")
    await alice.command(RemoveMember(group_id, carol_key))
    await alice.wait_for(lambda e: isinstance(e, EpochChanged) and e.safety.epoch == 3)
    await bob.command(UpdateKeys(group_id))
    while not any('"stale_epoch"' in str(m) for m in link.received):
        await trio.sleep(0.01)
    link.release()  # the winner reaches Bob; Bob retries at epoch 3
    await bob.wait_for(text_line("You updated your keys (epoch 4)"))
    await alice.wait_for(lambda e: isinstance(e, EpochChanged) and e.safety.epoch == 4)
    assert last_code(alice, group_id) == last_code(bob, group_id)
    assert last_members(bob, group_id) == 2
    for c in (alice, bob, carol):
        await c.command(Shutdown())


async def test_leave_is_proposed_and_committed_by_another_member(
    world: World, start_client: Start
) -> None:
    from client.core.events import LeaveGroup

    alice = await start_client("alice", world.new_profile("alice", ALICE))
    bob = await start_client("bob", world.new_profile("bob", BOB))
    carol = await start_client("carol", world.new_profile("carol", CAROL))
    for c in (alice, bob, carol):
        await c.wait_for(connected)
    await alice.command(CreateGroup("Family"))
    created = await alice.wait_for(group_named("Family"))
    assert isinstance(created, GroupsChanged)
    group_id = created.groups[0].group_id
    await join(alice, bob, group_id, BOB)
    await join(alice, carol, group_id, CAROL)
    await bob.wait_for(lambda e: isinstance(e, EpochChanged) and e.safety.epoch == 2)

    await carol.command(LeaveGroup(group_id))
    await carol.wait_for(text_line("You left this group"))
    await bob.wait_for(lambda e: isinstance(e, EpochChanged) and e.safety.epoch == 3)
    await alice.wait_for(lambda e: isinstance(e, EpochChanged) and e.safety.epoch == 3)
    assert last_members(bob, group_id) == last_members(alice, group_id) == 2
    assert last_code(alice, group_id) == last_code(bob, group_id)
    # Exactly one commit was made for the proposal: Bob, not the designated committer,
    # looked again after his patience (0.3 s here) and found nothing left to commit.
    await trio.sleep(1.0)
    assert last_code(bob, group_id)[0] == 3
    for c in (alice, bob, carol):
        await c.command(Shutdown())


async def test_epoch_change_revalidates_only_changed_leaves(
    world: World, start_client: Start, monkeypatch: object
) -> None:
    import client.core.client as core_module

    checked: list[int] = []
    real = core_module.check_tree

    def counting(members, ctx):  # type: ignore[no-untyped-def]
        checked.append(len(members))
        return real(members, ctx)

    monkeypatch.setattr(core_module, "check_tree", counting)  # type: ignore[attr-defined]
    alice = await start_client("alice", world.new_profile("alice", ALICE))
    bob = await start_client("bob", world.new_profile("bob", BOB))
    carol = await start_client("carol", world.new_profile("carol", CAROL))
    for c in (alice, bob, carol):
        await c.wait_for(connected)
    await alice.command(CreateGroup("Family"))
    created = await alice.wait_for(group_named("Family"))
    assert isinstance(created, GroupsChanged)
    group_id = created.groups[0].group_id
    await join(alice, bob, group_id, BOB)
    before = len(checked)
    await join(alice, carol, group_id, CAROL)
    await bob.wait_for(lambda e: isinstance(e, EpochChanged) and e.safety.epoch == 2)
    await alice.wait_for(lambda e: isinstance(e, EpochChanged) and e.safety.epoch == 2)
    # Carol, joining, validated the whole tree. Alice checked Carol's KeyPackage before
    # the Add and Bob the commit's Add: their member lists reuse those verdicts, so the
    # epoch change validates no leaf again (it did once per added leaf before), and
    # does not even call the check when no leaf is new.
    assert checked[before:] == [3]
    assert last_members(bob, group_id) == 3
    for c in (alice, bob, carol):
        await c.command(Shutdown())


async def test_a_burst_of_sends_arrives_in_order_and_is_stored_in_order(
    world: World, start_client: Start
) -> None:
    # Sends are pipelined (the next command does not wait for the service's answer):
    # the frames must still leave, arrive and be stored in the order they were given.
    alice = await start_client("alice", world.new_profile("alice", ALICE))
    bob = await start_client("bob", world.new_profile("bob", BOB))
    for c in (alice, bob):
        await c.wait_for(connected)
    await alice.command(CreateGroup("Burst"))
    created = await alice.wait_for(group_named("Burst"))
    assert isinstance(created, GroupsChanged)
    group_id = created.groups[0].group_id
    await join(alice, bob, group_id, BOB)
    texts = [f"burst {i}" for i in range(40)]
    for text in texts:
        await alice.command(SendText(group_id, text))
    await bob.wait_for(text_line(texts[-1]))
    await alice.wait_for(lambda e: isinstance(e, MessageReceived) and e.line.text == texts[-1])

    def burst(client: RunningClient, own: bool) -> list[str]:
        return [
            e.line.text
            for e in client.events
            if isinstance(e, MessageReceived) and e.line.own == own and e.line.text in texts
        ]

    assert burst(bob, own=False) == texts
    assert burst(alice, own=True) == texts
    assert alice.core is not None and bob.core is not None
    stored = [x.text for x in alice.core.history.lines(group_id) if x.own]
    assert stored == texts
    assert [x.text for x in bob.core.history.lines(group_id) if x.text in texts] == texts
    for c in (alice, bob):
        await c.command(Shutdown())


async def test_sender_labels_follow_members_across_epochs(
    world: World, start_client: Start
) -> None:
    # Labels are rendered once per member, not per message: they must still name whoever
    # holds a leaf now. Carol leaves leaf 2, Dave takes it; Bob shows and stores each
    # message under its own sender.
    dave_tn = "12025550104"
    alice = await start_client("alice", world.new_profile("alice", ALICE))
    bob = await start_client("bob", world.new_profile("bob", BOB))
    carol = await start_client("carol", world.new_profile("carol", CAROL))
    dave = await start_client("dave", world.new_profile("dave", dave_tn))
    for c in (alice, bob, carol, dave):
        await c.wait_for(connected)
    await alice.command(CreateGroup("Labels"))
    created = await alice.wait_for(group_named("Labels"))
    assert isinstance(created, GroupsChanged)
    group_id = created.groups[0].group_id
    await join(alice, bob, group_id, BOB)
    await join(alice, carol, group_id, CAROL)
    await carol.command(SendText(group_id, "from carol"))
    seen = await bob.wait_for(text_line("from carol"))
    assert isinstance(seen, MessageReceived) and seen.line.sender == "+1 202-555-0103"

    carol_key = member_key(alice, "+1 202-555-0103")
    await alice.command(RemoveMember(group_id, carol_key))
    await bob.wait_for(lambda e: isinstance(e, EpochChanged) and e.safety.epoch == 3)
    await join(alice, dave, group_id, dave_tn)
    await bob.wait_for(lambda e: isinstance(e, EpochChanged) and e.safety.epoch == 4)
    assert bob.core is not None
    slot = bob.core.slots[group_id]
    dave_index = next(
        i for i, v in slot.verdicts.items() if v.identity and v.identity.tns == (dave_tn,)
    )
    assert dave_index == 2  # Carol's leaf, reused
    await dave.command(SendText(group_id, "from dave"))
    await alice.command(SendText(group_id, "from alice"))
    for text, sender in (("from dave", "+1 202-555-0104"), ("from alice", "+1 202-555-0101")):
        got = await bob.wait_for(text_line(text))
        assert isinstance(got, MessageReceived) and got.line.sender == sender
    stored = {
        x.text: x.sender for x in bob.core.history.lines(group_id) if x.text.startswith("from")
    }
    assert stored == {
        "from carol": "+1 202-555-0103",
        "from dave": "+1 202-555-0104",
        "from alice": "+1 202-555-0101",
    }
    for c in (alice, bob, carol, dave):
        await c.command(Shutdown())


async def test_invitations_queued_together_go_out_together_each_answered_or_refused(
    world: World, start_client: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    invite_many = ChatClient._invite_many
    batches: list[list[str]] = []

    async def recording(self: ChatClient, group_id: bytes, tns: list[str]) -> None:
        batches.append(list(tns))
        await invite_many(self, group_id, tns)

    monkeypatch.setattr(ChatClient, "_invite_many", recording)
    alice = await start_client("alice", world.new_profile("alice", ALICE))
    bob = await start_client("bob", world.new_profile("bob", BOB))
    carol = await start_client("carol", world.new_profile("carol", CAROL))
    for c in (alice, bob, carol):
        await c.wait_for(connected)
    group_id = await create_group(alice, "Batch")
    nobody = "12025550177"  # never registered: the service refuses its invitation
    # Queued without a pass of the scheduler between them: one batch (_invite_many).
    for tn in (BOB, nobody, CAROL):
        alice.send.send_nowait(InviteNumber(group_id, tn))
    refused = await alice.wait_for(lambda e: isinstance(e, Notice) and e.level is NoticeLevel.ERROR)
    assert isinstance(refused, Notice)
    assert "InviteNumber failed" in refused.text and nobody in refused.text
    for invitee in (bob, carol):
        invitation = await invitee.wait_for(lambda e: isinstance(e, InvitationReceived))
        assert isinstance(invitation, InvitationReceived)
        await invitee.command(AnswerInvitation(invitation.invitation.invitation_id, True))
    for invitee in (bob, carol):
        await invitee.wait_for(
            lambda e: isinstance(e, MessageReceived) and e.line.text.startswith("You joined")
        )
    # Both answers matched an invitation recorded on disk (else "not-invited").
    assert not [e for e in alice.events if isinstance(e, CredentialVerdict) and not e.accepted]
    invited = [
        e.line.text
        for e in alice.events
        if isinstance(e, MessageReceived) and e.line.text.startswith("Invited")
    ]
    assert invited == [
        "Invited +1 202-555-0102; waiting for their answer",
        "Invited +1 202-555-0103; waiting for their answer",
    ]
    assert alice.core is not None
    stored = [line.text for line in alice.core.history.lines(group_id)]
    assert [t for t in stored if t.startswith("Invited")] == invited
    await alice.wait_for(lambda e: isinstance(e, MembersChanged) and len(e.members) == 3)
    assert sum(isinstance(e, Notice) and e.level is NoticeLevel.ERROR for e in alice.events) == 1
    assert batches == [[BOB, nobody, CAROL]]
    for c in (alice, bob, carol):
        await c.command(Shutdown())


async def test_an_answer_that_comes_before_its_invitation_is_recorded_waits_for_it(
    world: World, start_client: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service tells the invitee as soon as it makes the invitation, so the answer
    # can reach the inviter while the inviter is still recording the invitation on disk.
    # Recording is slowed here so that it always does: the answer must wait for the
    # record, not be refused as answering no invitation of ours.
    def slowly(record: Callable[..., object]) -> Callable[..., object]:
        def slowed(*args: object) -> object:
            time.sleep(1.0)
            return record(*args)

        return slowed

    monkeypatch.setattr(ChatHistory, "set_settings", slowly(ChatHistory.set_settings))
    monkeypatch.setattr(ChatHistory, "set_setting", slowly(ChatHistory.set_setting))
    alice = await start_client("alice", world.new_profile("alice", ALICE))
    bob = await start_client("bob", world.new_profile("bob", BOB))
    for c in (alice, bob):
        await c.wait_for(connected)
    group_id = await create_group(alice, "Fast answer")
    await alice.command(InviteNumber(group_id, BOB))
    invitation = await bob.wait_for(lambda e: isinstance(e, InvitationReceived))
    assert isinstance(invitation, InvitationReceived)
    await bob.command(AnswerInvitation(invitation.invitation.invitation_id, True))
    await bob.wait_for(
        lambda e: isinstance(e, MessageReceived) and e.line.text.startswith("You joined")
    )
    assert not [e for e in alice.events if isinstance(e, CredentialVerdict) and not e.accepted]
    for c in (alice, bob):
        await c.command(Shutdown())


def test_add_gather_quiet_grows_with_the_answers_awaited_and_is_capped() -> None:
    from client.core.client import ADD_GATHER_QUIET, ADD_GATHER_QUIET_MAX, add_gather_quiet

    assert add_gather_quiet(0) == ADD_GATHER_QUIET
    assert ADD_GATHER_QUIET < add_gather_quiet(1) < add_gather_quiet(100) < ADD_GATHER_QUIET_MAX
    assert add_gather_quiet(10_000) == ADD_GATHER_QUIET_MAX

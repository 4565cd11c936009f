"""Multi-party behaviour with real OpenMLS groups (the binding), real certificates, real
sockets on loopback and real SQLite: join, chat, remove, concurrent commits, offline
members, resync by external commit, membership enforcement and bad MLS input."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import openmls
import trio
from ds_constants import PROVIDER_RANGE
from mls_member import Member, three_in_a_group
from wire_client import WireClient

from shared.protocol import (
    AnswerInvitation,
    Commit,
    CommitAccepted,
    CreateGroup,
    DeliveryKind,
    Error,
    ErrorCode,
    FetchGroupInfo,
    GroupInfoReply,
    InvitationCreated,
    Ok,
    Ping,
    Pong,
    Propose,
    RequestInvitation,
    SendMessage,
    Sent,
)
from shared.stir.pki import DemoPKI, IssuedCert

ALICE, BOB, CAROL = "12025550101", "12025550102", "12025550103"
GID = b"group-under-test"


async def _connect_all(stack: AsyncExitStack, url: str, *members: Member) -> None:
    for m in members:
        await m.register(await stack.enter_async_context(WireClient.connect(url)))


async def test_three_clients_lifecycle(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    async with AsyncExitStack() as stack:
        alice, bob, carol = await three_in_a_group(
            ds.url, stack, pki, provider_ca, GID, (ALICE, BOB, CAROL)
        )
        # Chat both ways.
        assert isinstance(await alice.say(GID, "hello from alice"), Sent)
        assert isinstance(await bob.say(GID, "hi, bob here"), Sent)
        await bob.pump(1)
        await carol.pump(2)
        await alice.pump(1)
        assert bob.texts() == ["hello from alice"]
        assert carol.texts() == ["hello from alice", "hi, bob here"]
        assert alice.texts() == ["hi, bob here"]
        # Remove Carol: she gets the commit that removes her, then nothing.
        carol_index = next(
            m.index for m in alice.groups[GID].members if m.signature_key == carol.signer.public_key
        )
        answer = await alice.submit(GID, alice.groups[GID].remove_members([carol_index]))
        assert isinstance(answer, CommitAccepted) and answer.epoch == 2
        await bob.pump(1)
        (removal,) = await carol.pump(1)
        assert removal.kind is DeliveryKind.COMMIT
        assert not carol.groups[GID].is_active
        assert isinstance(await alice.say(GID, "carol is gone"), Sent)
        await bob.pump(1)
        assert bob.texts()[-1] == "carol is gone"
        assert await carol.c.no_push_within(0.3)
        assert ds.storage.mailbox_size(CAROL) == 0
        # And she can no longer post there.
        err = await carol.c.request(
            SendMessage(
                id=carol.c.next_id(),
                group_id=GID,
                message=b"\x00\x01\x00\x02"
                + bytes([len(GID)])
                + GID
                + (2).to_bytes(8, "big")
                + b"\x01",
            )
        )
        assert isinstance(err, Error) and err.code is ErrorCode.FORBIDDEN
        # Everyone left agrees on the epoch and its authenticator.
        assert alice.groups[GID].epoch_authenticator() == bob.groups[GID].epoch_authenticator()


async def test_concurrent_commits_one_wins_loser_recovers(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    async with AsyncExitStack() as stack:
        alice, bob, carol = await three_in_a_group(
            ds.url, stack, pki, provider_ca, GID, (ALICE, BOB, CAROL)
        )
        answers: dict[str, Any] = {}

        async def commit(m: Member) -> None:
            answers[m.tn] = await m.submit(GID, m.groups[GID].self_update())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(commit, alice)
            nursery.start_soon(commit, bob)
        won = [tn for tn, a in answers.items() if isinstance(a, CommitAccepted)]
        lost = [tn for tn, a in answers.items() if isinstance(a, Error)]
        assert len(won) == 1 and len(lost) == 1, answers
        err = answers[lost[0]]
        assert err.code is ErrorCode.STALE_EPOCH and err.current_epoch == 2
        winner, loser = (alice, bob) if won == [ALICE] else (bob, alice)
        # The loser processes the winner's commit and retries.
        await loser.pump(1)
        await carol.pump(1)
        retry = await loser.submit(GID, loser.groups[GID].self_update())
        assert isinstance(retry, CommitAccepted) and retry.epoch == 3
        await winner.pump(1)
        await carol.pump(1)
        epochs = {m.groups[GID].epoch for m in (alice, bob, carol)}
        auths = {m.groups[GID].epoch_authenticator() for m in (alice, bob, carol)}
        assert epochs == {3} and len(auths) == 1
        record = ds.storage.get_group(GID)
        assert record is not None and record.epoch == 3


async def test_offline_member_gets_mail_in_order_once(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    async with AsyncExitStack() as stack:
        alice, bob, carol = await three_in_a_group(
            ds.url, stack, pki, provider_ca, GID, (ALICE, BOB, CAROL)
        )
        await carol.c.ws.aclose()
        for i in range(5):
            assert isinstance(await alice.say(GID, f"m{i}"), Sent)
        await bob.pump(5)
        assert ds.storage.mailbox_size(CAROL) == 5
        # Back online: all five, in order; not acknowledged yet.
        async with WireClient.connect(ds.url) as c:
            assert await carol.login(c, with_credential=False) is not None
            got = await carol.pump(5, ack=False)
        assert [d.data for d in got] and carol.texts() == [f"m{i}" for i in range(5)]
        assert [d.mid for d in got] == sorted(d.mid for d in got)
        # Unacknowledged: redelivered with the same mids; the client drops them by mid.
        async with WireClient.connect(ds.url) as c:
            await carol.login(c, with_credential=False)
            again = await carol.pump(5)
        assert [d.mid for d in again] == [d.mid for d in got]
        assert carol.texts() == [f"m{i}" for i in range(5)]  # each once
        assert ds.storage.mailbox_size(CAROL) == 0
        async with WireClient.connect(ds.url) as c:
            await carol.login(c, with_credential=False)
            assert await c.no_push_within(0.3)


async def test_resync_by_external_commit(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    async with AsyncExitStack() as stack:
        alice, bob, carol = await three_in_a_group(
            ds.url, stack, pki, provider_ca, GID, (ALICE, BOB, CAROL)
        )
        bob.fresh_state()  # lost every group
        info = await bob.c.request(FetchGroupInfo(id=bob.c.next_id(), group_id=GID))
        assert isinstance(info, GroupInfoReply) and info.epoch == 1
        join = openmls.Group.join_by_external_commit(
            bob.provider, bob.signer, bob.credential, info.group_info
        )
        group, bundle = join.accept()
        bob.groups[GID] = group
        answer = await bob.submit(GID, bundle, epoch=join.epoch)
        assert isinstance(answer, CommitAccepted) and answer.epoch == 2
        for m in (alice, carol):
            (d,) = await m.pump(1)
            assert d.kind is DeliveryKind.COMMIT and d.sender == BOB
        # Same number, one leaf: the old leaf was replaced.
        tns = ds.storage.get_group(GID)
        assert tns is not None and tns.members == frozenset({ALICE, BOB, CAROL})
        assert len(alice.groups[GID].members) == 3
        assert isinstance(await bob.say(GID, "back again"), Sent)
        await alice.pump(1)
        await carol.pump(1)
        assert alice.texts() == ["back again"]
        assert {m.groups[GID].epoch_authenticator() for m in (alice, bob, carol)} == {
            alice.groups[GID].epoch_authenticator()
        }


async def test_non_member_cannot_post_fetch_or_join(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    dave_tn = "12025550104"
    async with AsyncExitStack() as stack:
        alice, bob, _carol = await three_in_a_group(
            ds.url, stack, pki, provider_ca, GID, (ALICE, BOB, CAROL)
        )
        dave = Member.make(pki, provider_ca, dave_tn)
        await _connect_all(stack, ds.url, dave)
        info = await dave.c.request(FetchGroupInfo(id=dave.c.next_id(), group_id=GID))
        assert isinstance(info, Error) and info.code is ErrorCode.FORBIDDEN
        # Even with a GroupInfo in hand (from a member), an external commit is refused.
        gi = alice.groups[GID].export_group_info()
        join = openmls.Group.join_by_external_commit(
            dave.provider, dave.signer, dave.credential, gi
        )
        group, bundle = join.accept()
        dave.groups[GID] = group
        answer = await dave.submit(GID, bundle, epoch=join.epoch)
        assert isinstance(answer, Error) and answer.code is ErrorCode.FORBIDDEN
        msg = alice.groups[GID].create_message(b"not dave's to send")
        err = await dave.c.request(SendMessage(id=dave.c.next_id(), group_id=GID, message=msg))
        assert isinstance(err, Error) and err.code is ErrorCode.FORBIDDEN
        record = ds.storage.get_group(GID)
        assert record is not None and record.epoch == 1 and dave_tn not in record.members
        assert await bob.c.no_push_within(0.2)


async def test_commit_with_untrusted_credential_is_refused(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert, tmp_path: Any
) -> None:
    ds = await start_ds()
    rogue = DemoPKI.init(tmp_path / "rogue", name="Rogue STI")
    rogue_ca = rogue.issue_spc("Rogue", "6666", [PROVIDER_RANGE], ca=True)
    async with AsyncExitStack() as stack:
        alice, _bob, _carol = await three_in_a_group(
            ds.url, stack, pki, provider_ca, GID, (ALICE, BOB, CAROL)
        )
        impostor = Member.make(rogue, rogue_ca, "12025550109")
        kp = impostor.key_package()  # never published: the adder takes it straight
        answer = await alice.submit(GID, alice.groups[GID].add_members([kp]))
        assert isinstance(answer, Error) and answer.code is ErrorCode.CREDENTIAL_REJECTED
        assert answer.reason == "chain"
        assert "added member 0" in answer.detail
        record = ds.storage.get_group(GID)
        assert record is not None and record.epoch == 1
        # The group goes on: a valid commit at the same epoch is accepted.
        ok = await alice.submit(GID, alice.groups[GID].self_update())
        assert isinstance(ok, CommitAccepted) and ok.epoch == 2


async def test_bad_mls_input_changes_nothing(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    async with AsyncExitStack() as stack:
        alice, bob, _carol = await three_in_a_group(
            ds.url, stack, pki, provider_ca, GID, (ALICE, BOB, CAROL)
        )
        c = alice.c
        good_gi = alice.groups[GID].export_group_info()
        cases = [
            (
                Commit(
                    id=c.next_id(), group_id=b"nope", epoch=0, commit=b"\x00", group_info=good_gi
                ),
                ErrorCode.UNKNOWN_GROUP,
            ),
            (
                Commit(
                    id=c.next_id(),
                    group_id=GID,
                    epoch=1,
                    commit=b"\x00\x01garbage",
                    group_info=good_gi,
                ),
                ErrorCode.INVALID_MLS,
            ),
            (
                Commit(id=c.next_id(), group_id=GID, epoch=0, commit=b"\x00", group_info=good_gi),
                ErrorCode.STALE_EPOCH,
            ),
            (
                Commit(id=c.next_id(), group_id=GID, epoch=5, commit=b"\x00", group_info=good_gi),
                ErrorCode.FUTURE_EPOCH,
            ),
            (
                CreateGroup(id=c.next_id(), group_id=b"new", group_info=b"\x00\x01\x00\x04junk"),
                ErrorCode.INVALID_MLS,
            ),
            (CreateGroup(id=c.next_id(), group_id=GID, group_info=good_gi), ErrorCode.GROUP_EXISTS),
            (SendMessage(id=c.next_id(), group_id=GID, message=b"\x00\x01"), ErrorCode.INVALID_MLS),
            (
                SendMessage(
                    id=c.next_id(), group_id=b"nope", message=alice.groups[GID].create_message(b"x")
                ),
                ErrorCode.INVALID_MLS,
            ),
        ]
        for frame, code in cases:
            err = await c.request(frame)
            assert isinstance(err, Error), frame
            assert err.code is code, (frame, err)
        # A commit whose GroupInfo does not match its result.
        bundle = alice.groups[GID].self_update()
        err = await c.request(
            Commit(id=c.next_id(), group_id=GID, epoch=1, commit=bundle.commit, group_info=good_gi)
        )
        assert isinstance(err, Error) and err.code is ErrorCode.INVALID_MLS
        alice.groups[GID].clear_pending_commit()
        record = ds.storage.get_group(GID)
        assert record is not None and record.epoch == 1
        assert ds.storage.mailbox_size(BOB) == 0 and ds.storage.mailbox_size(CAROL) == 0
        assert ds.storage.get_group(b"new") is None
        # Still serving: a good message goes through.
        assert isinstance(await alice.say(GID, "still here"), Sent)
        await bob.pump(1)
        assert bob.texts() == ["still here"]


async def test_old_application_messages_are_dropped(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    async with AsyncExitStack() as stack:
        alice, bob, carol = await three_in_a_group(
            ds.url, stack, pki, provider_ca, GID, (ALICE, BOB, CAROL)
        )
        stale = bob.groups[GID].create_message(b"from epoch 1")
        for expected in (2, 3, 4):
            assert isinstance(
                await alice.submit(GID, alice.groups[GID].self_update()), CommitAccepted
            )
            await bob.pump(1)
            await carol.pump(1)
            assert alice.groups[GID].epoch == expected
        # Epoch 1 is 3 epochs back at epoch 4: older than max_past_epochs (2).
        err = await bob.c.request(SendMessage(id=bob.c.next_id(), group_id=GID, message=stale))
        assert isinstance(err, Error) and err.code is ErrorCode.EPOCH_TOO_OLD
        assert err.current_epoch == 4
        assert ds.storage.mailbox_size(ALICE) == 0


async def test_invitation_flow_hands_the_invitees_key_package_to_the_inviter(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    async with AsyncExitStack() as stack:
        alice, bob = Member.make(pki, provider_ca, ALICE), Member.make(pki, provider_ca, BOB)
        await _connect_all(stack, ds.url, alice, bob)
        await alice.create_group(GID)
        created = await alice.c.request(
            RequestInvitation(id=alice.c.next_id(), tn=BOB, group_id=GID)
        )
        assert isinstance(created, InvitationCreated)
        (inv,) = await bob.pump(1)
        assert inv.kind is DeliveryKind.INVITATION and inv.sender == ALICE
        assert inv.group_id == GID and inv.invitation_id == created.invitation_id
        kp = bob.key_package()
        ok = await bob.c.request(
            AnswerInvitation(
                id=bob.c.next_id(), invitation_id=created.invitation_id, key_package=kp.to_bytes()
            )
        )
        assert isinstance(ok, Ok)
        # Answering twice is refused; so is answering someone else's invitation.
        again = await bob.c.request(
            AnswerInvitation(
                id=bob.c.next_id(), invitation_id=created.invitation_id, key_package=kp.to_bytes()
            )
        )
        assert isinstance(again, Error) and again.code is ErrorCode.UNKNOWN_INVITATION
        (answer,) = await alice.pump(1)
        assert answer.kind is DeliveryKind.KEY_PACKAGE and answer.sender == BOB
        invited = openmls.KeyPackage.parse(alice.provider, answer.data)
        added = await alice.submit(GID, alice.groups[GID].add_members([invited]))
        assert isinstance(added, CommitAccepted)
        (welcome,) = await bob.pump(1)
        assert welcome.kind is DeliveryKind.WELCOME and bob.groups[GID].epoch == 1
        # A non-member cannot invite into the group.
        err = await bob.c.request(
            RequestInvitation(id=bob.c.next_id(), tn=ALICE, group_id=b"other")
        )
        assert isinstance(err, Error) and err.code is ErrorCode.UNKNOWN_GROUP


async def test_key_package_directory(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert, tmp_path: Any
) -> None:
    ds = await start_ds()
    async with AsyncExitStack() as stack:
        alice, bob = Member.make(pki, provider_ca, ALICE), Member.make(pki, provider_ca, BOB)
        await _connect_all(stack, ds.url, alice, bob)
        await bob.publish(1)
        await bob.publish(1, last_resort=True)
        first = await alice.claim(BOB)
        assert not first.last_resort
        lr1, lr2 = await alice.claim(BOB), await alice.claim(BOB)
        assert lr1.last_resort and lr1.to_bytes() == lr2.to_bytes()
        # Publishing someone else's KeyPackage is refused, and so is garbage.
        from shared.protocol import ClaimKeyPackage, PublishKeyPackages

        err = await alice.c.request(
            PublishKeyPackages(id=alice.c.next_id(), key_packages=(bob.key_package().to_bytes(),))
        )
        assert isinstance(err, Error) and err.code is ErrorCode.FORBIDDEN
        err = await alice.c.request(
            PublishKeyPackages(
                id=alice.c.next_id(),
                key_packages=(alice.key_package().to_bytes(), b"\x00\x01\x00\x05junk"),
            )
        )
        assert (
            isinstance(err, Error)
            and err.code is ErrorCode.INVALID_MLS
            and "key package 1" in err.detail
        )
        assert ds.storage.count_key_packages(ALICE) == 0  # all or nothing
        err = await bob.c.request(ClaimKeyPackage(id=bob.c.next_id(), tn=ALICE))
        assert isinstance(err, Error) and err.code is ErrorCode.NO_KEY_PACKAGE
        err = await bob.c.request(ClaimKeyPackage(id=bob.c.next_id(), tn="19995550000"))
        assert isinstance(err, Error) and err.code is ErrorCode.UNKNOWN_TN
        i = bob.c.next_id()
        assert await bob.c.request(Ping(id=i)) == Pong(re=i)


async def test_leaving_by_proposal_then_commit(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    async with AsyncExitStack() as stack:
        alice, bob, carol = await three_in_a_group(
            ds.url, stack, pki, provider_ca, GID, (ALICE, BOB, CAROL)
        )
        proposal = bob.groups[GID].leave()
        stale = await bob.c.request(
            Propose(id=bob.c.next_id(), group_id=GID, epoch=0, proposal=proposal)
        )
        assert isinstance(stale, Error) and stale.code is ErrorCode.STALE_EPOCH
        sent = await bob.c.request(
            Propose(id=bob.c.next_id(), group_id=GID, epoch=1, proposal=proposal)
        )
        assert isinstance(sent, Sent)
        for m in (alice, carol):
            (d,) = await m.pump(1)
            assert d.kind is DeliveryKind.PROPOSAL and d.sender == BOB
        # Alice commits the pending proposal (by reference): Bob is out.
        answer = await alice.submit(GID, alice.groups[GID].commit_pending_proposals())
        assert isinstance(answer, CommitAccepted) and answer.epoch == 2
        await carol.pump(1)
        (removal,) = await bob.pump(1)
        assert removal.kind is DeliveryKind.COMMIT and not bob.groups[GID].is_active
        record = ds.storage.get_group(GID)
        assert record is not None and record.members == frozenset({ALICE, CAROL})
        # A proposal in someone else's name, or garbage, is refused.
        err = await carol.c.request(
            Propose(id=carol.c.next_id(), group_id=GID, epoch=2, proposal=alice.groups[GID].leave())
        )
        assert isinstance(err, Error) and err.code is ErrorCode.FORBIDDEN
        err = await carol.c.request(
            Propose(id=carol.c.next_id(), group_id=GID, epoch=2, proposal=b"\x00\x01junk")
        )
        assert isinstance(err, Error) and err.code is ErrorCode.INVALID_MLS
        assert alice.groups[GID].epoch_authenticator() == carol.groups[GID].epoch_authenticator()

"""Three- and ten-member lifecycles: add, messages both ways, update, remove, leave."""

from __future__ import annotations

import openmls as m
import pytest

from .conftest import Client, assert_same_epoch, deliver_commit, join, make_client


def exchange_messages(members: list[Client]) -> None:
    """Every member sends one message; every other member decrypts it."""
    for sender in members:
        text = f"hello from {sender.name} at epoch {sender.g.epoch}".encode()
        wire = sender.g.create_message(text, authenticated_data=b"aad")
        for receiver in members:
            if receiver is sender:
                continue
            got = receiver.g.process_message(wire)
            assert isinstance(got, m.ApplicationMessage)
            assert got.data == text
            assert got.authenticated_data == b"aad"
            assert got.sender.index == sender.g.own_index
            assert got.sender.credential == sender.credential
            assert got.sender.signature_key == sender.signer.public_key


def run_lifecycle(n: int, alice: Client) -> None:
    members = [alice]
    # Grow the group: the first joiner alone, the rest in one commit.
    newcomers = [make_client() for _ in range(n - 1)]
    for batch in (newcomers[:1], newcomers[1:]):
        bundle = alice.g.add_members([c.key_package() for c in batch])
        assert bundle.welcome is not None and bundle.group_info is not None
        deliver_commit(alice, bundle, members[1:])
        for c in batch:
            join(c, bundle.welcome)
        members += batch
        assert_same_epoch(members)
    assert len(alice.g.members) == n
    exchange_messages(members)

    # A member other than the creator updates its keys.
    updater = members[1]
    old_key = updater.g.own_leaf.encryption_key
    bundle = updater.g.self_update()
    deliver_commit(updater, bundle, [c for c in members if c is not updater])
    assert updater.g.own_leaf.encryption_key != old_key
    assert_same_epoch(members)
    exchange_messages(members)

    # Remove the last member: it sees itself removed and can no longer decrypt.
    removed = members[-1]
    bundle = alice.g.remove_members([removed.g.own_index])
    staged = removed.g.process_message(bundle.commit)
    assert isinstance(staged, m.StagedCommit) and staged.self_removed
    removed.g.merge_staged_commit(staged)
    assert not removed.g.is_active
    members.remove(removed)
    deliver_commit(alice, bundle, members[1:])
    assert_same_epoch(members)
    wire = alice.g.create_message(b"after the removal")
    with pytest.raises(m.MlsError):
        removed.g.process_message(wire)
    for c in members[1:]:
        got = c.g.process_message(wire)
        assert isinstance(got, m.ApplicationMessage) and got.data == b"after the removal"

    # A member leaves: its Remove proposal is committed by alice.
    leaver = members[1]
    proposal = leaver.g.leave()
    for c in members:
        if c is leaver:
            continue
        got = c.g.process_message(proposal)
        assert isinstance(got, m.ProposalMessage)
        assert got.kind == "remove" and got.removed == leaver.g.own_index
        assert got.sender_index == leaver.g.own_index
    bundle = alice.g.commit_pending_proposals()
    staged = leaver.g.process_message(bundle.commit)
    assert isinstance(staged, m.StagedCommit) and staged.self_removed
    leaver.g.merge_staged_commit(staged)
    assert not leaver.g.is_active
    members.remove(leaver)
    deliver_commit(alice, bundle, members[1:])
    assert_same_epoch(members)
    assert len(alice.g.members) == n - 2
    exchange_messages(members)


def test_three_member_lifecycle(alice: Client) -> None:
    run_lifecycle(3, alice)


def test_ten_member_lifecycle(alice: Client) -> None:
    run_lifecycle(10, alice)


def test_past_epoch_message_still_decrypts(alice: Client) -> None:
    """max_past_epochs=2: a message sent just before a commit still decrypts after it."""
    bob = make_client("bob")
    bundle = alice.g.add_members([bob.key_package()])
    deliver_commit(alice, bundle, [])
    join(bob, bundle.welcome or b"")
    early = bob.g.create_message(b"sent before the update")
    deliver_commit(alice, alice.g.self_update(), [bob])
    got = alice.g.process_message(early)
    assert isinstance(got, m.ApplicationMessage) and got.data == b"sent before the update"
    assert got.epoch == alice.g.epoch - 1


def test_self_update_with_new_credential_and_signer(alice: Client) -> None:
    bob = make_client("bob")
    bundle = alice.g.add_members([bob.key_package()])
    deliver_commit(alice, bundle, [])
    join(bob, bundle.welcome or b"")
    new_signer = m.SignatureKeyPair.generate(2)
    new_cred = m.Credential(0xF002, b"fresh passport")
    bundle = bob.g.self_update(
        credential=new_cred, signer=new_signer, application_id=b"12025550101"
    )
    staged = alice.g.process_message(bundle.commit)
    assert isinstance(staged, m.StagedCommit)
    assert staged.path_leaf is not None
    assert staged.path_leaf.credential == new_cred
    assert staged.path_leaf.signature_key == new_signer.public_key
    assert staged.path_leaf.application_id == b"12025550101"
    assert staged.committer_leaf is not None
    assert staged.committer_leaf.signature_key == bob.signer.public_key
    alice.g.merge_staged_commit(staged)
    bob.g.merge_pending_commit()
    assert bob.g.signature_public_key == new_signer.public_key
    assert alice.g.member(bob.g.own_index).credential == new_cred
    # The new signer signs from now on: alice verifies bob's next message with it.
    got = alice.g.process_message(bob.g.create_message(b"signed with the new key"))
    assert isinstance(got, m.ApplicationMessage)
    assert got.sender.signature_key == new_signer.public_key


def test_pending_commit_blocks_and_clear_restores(alice: Client) -> None:
    bob = make_client("bob")
    alice.g.add_members([bob.key_package()])
    assert alice.g.has_pending_commit
    with pytest.raises(m.PendingCommit):
        alice.g.create_message(b"x")
    with pytest.raises(m.PendingCommit):
        alice.g.self_update()
    alice.g.clear_pending_commit()
    assert not alice.g.has_pending_commit
    assert alice.g.epoch == 0 and len(alice.g.members) == 1


def test_message_sender_details_resolve_lazily(alice: Client) -> None:
    """The sender's application_id etc. are read from the tree on first access."""
    bob = make_client("bob")
    bundle = alice.g.add_members([bob.key_package(application_id=b"12025550102")])
    deliver_commit(alice, bundle, [])
    join(bob, bundle.welcome or b"")
    first = alice.g.process_message(bob.g.create_message(b"one"))
    second = alice.g.process_message(bob.g.create_message(b"two"))
    assert isinstance(first, m.ApplicationMessage) and isinstance(second, m.ApplicationMessage)
    assert first.sender.application_id == b"12025550102"
    assert first.sender.lifetime is not None
    assert 0xF001 in first.sender.capabilities.credentials
    deliver_commit(alice, alice.g.self_update(), [bob])
    assert second.sender.credential == bob.credential  # eager fields stay readable
    with pytest.raises(m.WrongEpoch):
        _ = second.sender.application_id

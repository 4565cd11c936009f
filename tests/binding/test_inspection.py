"""Rejecting a staged commit or a staged Welcome leaves everything as it was."""

from __future__ import annotations

import openmls as m
import pytest

from .conftest import Client, assert_same_epoch, deliver_commit, join, make_client


def two_members(alice: Client) -> Client:
    bob = make_client("bob")
    bundle = alice.g.add_members([bob.key_package()])
    deliver_commit(alice, bundle, [])
    join(bob, bundle.welcome or b"")
    return bob


def test_dropping_a_staged_commit_leaves_the_group_unchanged(alice: Client) -> None:
    bob = two_members(alice)
    carol = make_client("carol")
    before = (bob.g.epoch, bob.g.epoch_authenticator(), [x.signature_key for x in bob.g.members])
    bundle = alice.g.add_members([carol.key_package(application_id=b"12025550103")])
    staged = bob.g.process_message(bundle.commit)
    assert isinstance(staged, m.StagedCommit)
    # Inspection shows everything before any change.
    assert staged.committer == alice.g.own_index
    assert [leaf.credential for leaf in staged.adds] == [carol.credential]
    assert staged.adds[0].application_id == b"12025550103"
    assert staged.adds[0].index is None
    assert staged.removes == [] and staged.updates == []
    assert staged.epoch == 1 and staged.new_epoch == 2
    assert not staged.self_removed and not staged.is_external
    del staged  # rejected
    after = (bob.g.epoch, bob.g.epoch_authenticator(), [x.signature_key for x in bob.g.members])
    assert after == before
    # The delivery service refused the commit too: alice discards it, and the group
    # carries on in the old epoch.
    alice.g.clear_pending_commit()
    got = bob.g.process_message(alice.g.create_message(b"still epoch 1"))
    assert isinstance(got, m.ApplicationMessage) and got.data == b"still epoch 1"
    deliver_commit(bob, bob.g.self_update(), [alice])
    assert_same_epoch([alice, bob])


def test_staged_commit_merges_only_once_and_only_at_its_epoch(alice: Client) -> None:
    bob = two_members(alice)
    bundle = alice.g.self_update()
    staged = bob.g.process_message(bundle.commit)
    assert isinstance(staged, m.StagedCommit)
    bob.g.merge_staged_commit(staged)
    alice.g.merge_pending_commit()
    with pytest.raises(m.MlsError):
        bob.g.merge_staged_commit(staged)
    # A commit staged in an epoch the group has left cannot be merged.
    first = alice.g.self_update()
    stale = bob.g.process_message(first.commit)
    alice.g.clear_pending_commit()
    deliver_commit(bob, bob.g.self_update(), [alice])
    assert isinstance(stale, m.StagedCommit)
    with pytest.raises(m.WrongEpoch):
        bob.g.merge_staged_commit(stale)
    assert_same_epoch([alice, bob])


def test_commit_for_an_old_epoch_is_wrong_epoch(alice: Client) -> None:
    bob = two_members(alice)
    old = alice.g.self_update()
    alice.g.clear_pending_commit()
    deliver_commit(bob, bob.g.self_update(), [alice])
    with pytest.raises(m.WrongEpoch):
        bob.g.process_message(old.commit)


def test_dropping_a_staged_welcome_keeps_the_key_package(alice: Client) -> None:
    bob = make_client("bob")
    bundle = alice.g.add_members([bob.key_package()])
    alice.g.merge_pending_commit()
    welcome = bundle.welcome or b""
    staged = m.StagedWelcome.from_bytes(bob.provider, welcome)
    assert staged.epoch == 1 and staged.own_index == 1
    assert staged.group_id == alice.g.group_id
    assert [x.signature_key for x in staged.members] == [
        alice.signer.public_key,
        bob.signer.public_key,
    ]
    del staged  # rejected: nothing stored, the KeyPackage is still usable
    with pytest.raises(m.UnknownGroup):
        m.Group.load(bob.provider, alice.g.group_id)
    group = m.StagedWelcome.from_bytes(bob.provider, welcome).accept()
    assert group.epoch_authenticator() == alice.g.epoch_authenticator()
    # Once accepted, the (non-last-resort) KeyPackage is consumed.
    with pytest.raises(m.MlsError):
        m.StagedWelcome.from_bytes(bob.provider, welcome)


def test_welcome_for_someone_else(alice: Client) -> None:
    bob, stranger = make_client("bob"), make_client("stranger")
    bundle = alice.g.add_members([bob.key_package()])
    with pytest.raises(m.NoMatchingKeyPackage):
        m.StagedWelcome.from_bytes(stranger.provider, bundle.welcome or b"")


def test_accept_twice_fails(alice: Client) -> None:
    bob = make_client("bob")
    bundle = alice.g.add_members([bob.key_package()])
    staged = m.StagedWelcome.from_bytes(bob.provider, bundle.welcome or b"")
    staged.accept()
    with pytest.raises(m.MlsError):
        staged.accept()


def test_rejoin_after_removal_replaces_the_old_group(alice: Client) -> None:
    bob = two_members(alice)
    bundle = alice.g.remove_members([bob.g.own_index])
    staged = bob.g.process_message(bundle.commit)
    assert isinstance(staged, m.StagedCommit) and staged.self_removed
    bob.g.merge_staged_commit(staged)
    alice.g.merge_pending_commit()
    bundle = alice.g.add_members([bob.key_package()])
    alice.g.merge_pending_commit()
    with pytest.raises(m.MlsError, match="already stored"):
        m.StagedWelcome.from_bytes(bob.provider, bundle.welcome or b"")
    # Dropping a replacing Welcome still leaves the old group in place.
    m.StagedWelcome.from_bytes(bob.provider, bundle.welcome or b"", replace_existing=True)
    old = m.Group.load(bob.provider, alice.g.group_id)
    assert not old.is_active
    for call in (lambda: old.create_message(b"x"), old.self_update, old.export_group_info):
        with pytest.raises(m.InactiveGroup):
            call()
    staged_welcome = m.StagedWelcome.from_bytes(
        bob.provider, bundle.welcome or b"", replace_existing=True
    )
    bob.group = staged_welcome.accept()
    assert_same_epoch([alice, bob])
    assert m.Group.load(bob.provider, alice.g.group_id).is_active

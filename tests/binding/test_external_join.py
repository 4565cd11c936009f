"""Resync by external commit: inspect the tree, join, and carry on."""

from __future__ import annotations

import openmls as m

from .conftest import Client, assert_same_epoch, deliver_commit, join, make_client


def test_resync_after_losing_state(alice: Client) -> None:
    bob = make_client("bob")
    bundle = alice.g.add_members([bob.key_package()])
    deliver_commit(alice, bundle, [])
    join(bob, bundle.welcome or b"")
    group_info = bundle.group_info or b""
    old_index = bob.g.own_index

    # Bob loses his state (fresh provider) but keeps signer and credential.
    bob.provider = m.Provider()
    ej = m.Group.join_by_external_commit(
        bob.provider, bob.signer, bob.credential, group_info, application_id=b"12025550102"
    )
    assert ej.epoch == alice.g.epoch and ej.group_id == alice.g.group_id
    assert [x.credential for x in ej.members] == [alice.credential, bob.credential]
    bob.group, commit = ej.accept()
    assert bob.g.epoch == alice.g.epoch + 1

    staged = alice.g.process_message(commit.commit)
    assert isinstance(staged, m.StagedCommit)
    assert staged.is_external and staged.committer is None
    assert staged.removes == [old_index]  # the stale leaf with the same key
    assert staged.path_leaf is not None
    assert staged.path_leaf.credential == bob.credential
    assert staged.path_leaf.application_id == b"12025550102"
    alice.g.merge_staged_commit(staged)
    assert_same_epoch([alice, bob])
    for sender, receiver in ((alice, bob), (bob, alice)):
        got = receiver.g.process_message(sender.g.create_message(b"resynced"))
        assert isinstance(got, m.ApplicationMessage) and got.data == b"resynced"
    deliver_commit(alice, alice.g.self_update(), [bob])
    assert_same_epoch([alice, bob])


def test_resync_replaces_the_stale_group_in_the_same_provider(alice: Client) -> None:
    bob = make_client("bob")
    bundle = alice.g.add_members([bob.key_package()])
    deliver_commit(alice, bundle, [])
    join(bob, bundle.welcome or b"")
    # Bob misses a commit.
    missed = alice.g.self_update()
    alice.g.merge_pending_commit()
    assert bob.g.epoch == 1 and alice.g.epoch == 2
    ej = m.Group.join_by_external_commit(
        bob.provider, bob.signer, bob.credential, missed.group_info or b""
    )
    bob.group, commit = ej.accept()
    staged = alice.g.process_message(commit.commit)
    assert isinstance(staged, m.StagedCommit)
    alice.g.merge_staged_commit(staged)
    assert_same_epoch([alice, bob])
    assert m.Group.load(bob.provider, alice.g.group_id).epoch == 3
    # The public group of a delivery service follows the external commit too.
    pg = m.PublicGroup.from_group_info(m.Provider(), missed.group_info or b"")
    got = m.Group.join_by_external_commit(
        make_client("carol").provider,
        m.SignatureKeyPair.generate(2),
        m.Credential(0xF001, b"c"),
        alice.g.export_group_info(),
    )
    assert len(got.members) == 2
    assert pg.epoch == 2


def test_external_join_needs_a_tree(alice: Client) -> None:
    carol = make_client("carol")
    info = alice.g.export_group_info(with_ratchet_tree=False)
    try:
        m.Group.join_by_external_commit(carol.provider, carol.signer, carol.credential, info)
    except m.InvalidMessage as e:
        assert "ratchet" in str(e)
    else:
        raise AssertionError("missing tree not detected")
    ej = m.Group.join_by_external_commit(
        carol.provider,
        carol.signer,
        carol.credential,
        info,
        ratchet_tree=alice.g.export_ratchet_tree(),
    )
    carol.group, commit = ej.accept()
    staged = alice.g.process_message(commit.commit)
    assert isinstance(staged, m.StagedCommit)
    alice.g.merge_staged_commit(staged)
    assert_same_epoch([alice, carol])

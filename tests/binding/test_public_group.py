"""PublicGroup (the delivery service's view) follows a group through its commits."""

from __future__ import annotations

from pathlib import Path

import openmls as m
import pytest

from .conftest import Client, assert_same_epoch, deliver_commit, join, make_client


def same_view(pg: m.PublicGroup, group: m.Group) -> None:
    assert pg.epoch == group.epoch
    assert [(x.index, x.signature_key, x.credential) for x in pg.members] == [
        (x.index, x.signature_key, x.credential) for x in group.members
    ]


def ds_process(pg: m.PublicGroup, commit: bytes) -> m.StagedCommit:
    staged = pg.process_message(commit)
    assert isinstance(staged, m.StagedCommit)
    assert staged.epoch_authenticator is None and not staged.self_removed
    pg.merge_staged_commit(staged)
    return staged


def test_public_group_follows_commits(alice: Client, tmp_path: Path) -> None:
    ds = m.Provider(tmp_path / "ds.sqlite")
    pg = m.PublicGroup.from_group_info(ds, alice.g.export_group_info())
    same_view(pg, alice.g)
    assert pg.required_credential_types == alice.g.required_credential_types

    bob, carol = make_client("bob"), make_client("carol")
    bundle = alice.g.add_members([bob.key_package(), carol.key_package()])
    staged = ds_process(pg, bundle.commit)
    assert [leaf.credential for leaf in staged.adds] == [bob.credential, carol.credential]
    assert staged.committer == 0
    deliver_commit(alice, bundle, [])
    join(bob, bundle.welcome or b"")
    join(carol, bundle.welcome or b"")
    same_view(pg, alice.g)

    bundle = bob.g.self_update(application_id=b"12025550102")
    staged = ds_process(pg, bundle.commit)
    assert staged.committer == bob.g.own_index
    assert staged.committer_leaf is not None and staged.path_leaf is not None
    assert staged.path_leaf.application_id == b"12025550102"
    deliver_commit(bob, bundle, [alice, carol])
    same_view(pg, alice.g)

    # A leave proposal, then the commit that includes it.
    proposal = carol.g.leave()
    got = pg.process_message(proposal)
    assert isinstance(got, m.ProposalMessage) and got.kind == "remove"
    for c in (alice, bob):
        c.g.process_message(proposal)
    bundle = alice.g.commit_pending_proposals()
    staged = ds_process(pg, bundle.commit)
    assert staged.removes == [carol.g.own_index]
    assert [x.credential for x in staged.removed_members] == [carol.credential]
    deliver_commit(alice, bundle, [bob])
    same_view(pg, alice.g)
    assert_same_epoch([alice, bob])

    # Application messages are opaque to it; stale commits are refused by epoch.
    with pytest.raises(m.InvalidMessage):
        pg.process_message(alice.g.create_message(b"secret"))
    stale = alice.g.self_update()
    alice.g.clear_pending_commit()
    fresh = bob.g.self_update()
    deliver_commit(bob, fresh, [alice])
    ds_process(pg, fresh.commit)
    with pytest.raises(m.WrongEpoch):
        pg.process_message(stale.commit)

    # Persisted in the provider's storage.
    reloaded = m.PublicGroup.load(m.Provider(tmp_path / "ds.sqlite"), alice.g.group_id)
    same_view(reloaded, alice.g)
    assert reloaded.export_ratchet_tree() == alice.g.export_ratchet_tree()
    with pytest.raises(m.UnknownGroup):
        m.PublicGroup.load(ds, b"unknown")


def test_public_group_from_group_info_without_tree(alice: Client) -> None:
    info = alice.g.export_group_info(with_ratchet_tree=False)
    with pytest.raises(m.InvalidMessage):
        m.PublicGroup.from_group_info(m.Provider(), info)
    pg = m.PublicGroup.from_group_info(
        m.Provider(), info, ratchet_tree=alice.g.export_ratchet_tree()
    )
    same_view(pg, alice.g)


def test_staged_commit_belongs_to_its_owner(alice: Client) -> None:
    bob = make_client("bob")
    pg = m.PublicGroup.from_group_info(m.Provider(), alice.g.export_group_info())
    bundle = alice.g.add_members([bob.key_package()])
    staged = pg.process_message(bundle.commit)
    assert isinstance(staged, m.StagedCommit)
    with pytest.raises(m.MlsError):
        alice.g.merge_staged_commit(staged)
    pg.merge_staged_commit(staged)

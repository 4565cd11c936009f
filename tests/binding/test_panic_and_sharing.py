"""A Rust panic surfaces as MlsError with its write undone; Group objects for one group
from one Provider share their state."""

from __future__ import annotations

from pathlib import Path

import openmls as m
import openmls._openmls as native
import pytest

from .conftest import deliver_commit, join, make_client


@pytest.mark.parametrize("on_disk", [False, True], ids=["memory", "sqlite"])
def test_a_panic_becomes_mls_error_and_is_rolled_back(tmp_path: Path, on_disk: bool) -> None:
    provider = m.Provider(tmp_path / "p.sqlite" if on_disk else None)
    signer = m.SignatureKeyPair.generate(2)
    try:
        native._panic_in_transaction(provider, signer)
    except Exception as e:  # what callers catch: a PanicException (BaseException) would escape
        assert isinstance(e, m.MlsError)
        assert "panic" in str(e) and "deliberate" in str(e)
    else:
        raise AssertionError("no exception")
    with pytest.raises(m.StorageError, match="no key pair"):
        m.SignatureKeyPair.load(provider, signer.public_key)
    # The provider (its lock and storage) still works.
    signer.store(provider)
    assert m.SignatureKeyPair.load(provider, signer.public_key).public_key == signer.public_key


def test_two_loads_of_one_group_share_state() -> None:
    alice, bob = make_client("alice"), make_client("bob")
    alice.group = m.Group.create(alice.provider, alice.signer, alice.credential)
    gid = alice.g.group_id
    second = m.Group.load(alice.provider, gid)
    bundle = alice.g.add_members([bob.key_package()])
    deliver_commit(alice, bundle, [])
    join(bob, bundle.welcome or b"")
    # The second object sees the commit merged through the first ...
    assert second.epoch == alice.g.epoch == 1
    assert len(second.members) == 2
    # ... and continues from there: its message decrypts at bob, its commit is the next.
    got = bob.g.process_message(second.create_message(b"via the second object"))
    assert isinstance(got, m.ApplicationMessage) and got.data == b"via the second object"
    update = second.self_update()
    bob.g.merge_staged_commit(bob.g.process_message(update.commit))
    alice.g.merge_pending_commit()  # the commit is pending in the shared state
    assert alice.g.epoch == second.epoch == bob.g.epoch == 2
    assert alice.g.epoch_authenticator() == bob.g.epoch_authenticator()
    # A third load, after the others, still sees the newest state.
    assert m.Group.load(alice.provider, gid).epoch == 2


def test_a_deleted_group_is_not_served_from_memory() -> None:
    alice = make_client("alice")
    group = m.Group.create(alice.provider, alice.signer, alice.credential)
    gid = group.group_id
    group.delete()
    with pytest.raises(m.UnknownGroup):
        m.Group.load(alice.provider, gid)


def test_objects_of_a_replaced_group_follow_the_rejoin() -> None:
    """bob is removed, keeps his old Group object, then re-joins by a replacing Welcome:
    the old object is the re-joined group now (storage holds only that one)."""
    alice, bob = make_client("alice"), make_client("bob")
    alice.group = m.Group.create(alice.provider, alice.signer, alice.credential)
    bundle = alice.g.add_members([bob.key_package()])
    deliver_commit(alice, bundle, [])
    join(bob, bundle.welcome or b"")
    old = bob.g
    deliver_commit(alice, alice.g.remove_members([old.own_index]), [bob])
    assert not old.is_active
    bundle = alice.g.add_members([bob.key_package()])
    alice.g.merge_pending_commit()
    welcome = m.StagedWelcome.from_bytes(bob.provider, bundle.welcome or b"", replace_existing=True)
    rejoined = welcome.accept()
    assert old.is_active and old.epoch == rejoined.epoch == alice.g.epoch
    got = alice.g.process_message(old.create_message(b"from the old object"))
    assert isinstance(got, m.ApplicationMessage) and got.data == b"from the old object"

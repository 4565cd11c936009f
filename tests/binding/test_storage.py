"""Storage: one binding call is all-or-nothing in memory as in SQLite."""

from __future__ import annotations

from pathlib import Path

import openmls as m
import pytest

from .conftest import deliver_commit, join, make_client


@pytest.mark.parametrize("on_disk", [False, True], ids=["memory", "sqlite"])
def test_a_failed_call_leaves_no_write_behind(tmp_path: Path, on_disk: bool) -> None:
    """Group.create stores the signer, then fails (the group id is taken): the signer
    write is undone with the rest."""
    provider = m.Provider(tmp_path / "s.sqlite" if on_disk else None)
    first = m.SignatureKeyPair.generate(2)
    credential = m.Credential(0xF001, b"alice")
    m.Group.create(provider, first, credential, group_id=b"taken")
    second = m.SignatureKeyPair.generate(2)
    with pytest.raises(m.MlsError, match="already exists"):
        m.Group.create(provider, second, credential, group_id=b"taken")
    with pytest.raises(m.StorageError, match="no key pair"):
        m.SignatureKeyPair.load(provider, second.public_key)
    # The committed writes of earlier calls are still there.
    assert m.SignatureKeyPair.load(provider, first.public_key).public_key == first.public_key
    assert m.Group.load(provider, b"taken").epoch == 0


def test_memory_provider_keeps_a_whole_conversation() -> None:
    """The in-memory store through every kind of write: add, messages, update, remove."""
    alice, bob, carol = make_client("alice"), make_client("bob"), make_client("carol")
    alice.group = m.Group.create(alice.provider, alice.signer, alice.credential)
    bundle = alice.g.add_members([bob.key_package(), carol.key_package()])
    deliver_commit(alice, bundle, [])
    join(bob, bundle.welcome or b"")
    join(carol, bundle.welcome or b"")
    for _ in range(3):
        got = bob.g.process_message(alice.g.create_message(b"hi"))
        assert isinstance(got, m.ApplicationMessage) and got.data == b"hi"
    deliver_commit(bob, bob.g.self_update(), [alice, carol])
    deliver_commit(alice, alice.g.remove_members([carol.g.own_index]), [bob, carol])
    assert alice.g.epoch == bob.g.epoch == 3
    assert alice.g.epoch_authenticator() == bob.g.epoch_authenticator()
    # Reloading from the same in-memory provider gives the same state.
    again = m.Group.load(alice.provider, alice.g.group_id)
    assert again.epoch == 3 and len(again.members) == 2

"""A group created with SQLite providers survives the process: reload in a new one."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import openmls as m

from .conftest import deliver_commit, join, make_client

CONTINUE = textwrap.dedent(
    """
    import json, sys
    import openmls as m

    a_path, b_path, group_id_hex, pending_hex = sys.argv[1:5]
    gid = bytes.fromhex(group_id_hex)
    alice = m.Group.load(m.Provider(a_path), gid)
    bob = m.Group.load(m.Provider(b_path), gid)
    out = {"epoch": [alice.epoch, bob.epoch]}
    # A message sent by alice before the restart, decrypted by bob now.
    got = bob.process_message(bytes.fromhex(pending_hex))
    out["old_message"] = got.data.decode()
    # Continue: both directions, then a commit.
    got = alice.process_message(bob.create_message(b"bob after restart"))
    out["to_alice"] = got.data.decode()
    got = bob.process_message(alice.create_message(b"alice after restart"))
    out["to_bob"] = got.data.decode()
    bundle = bob.self_update()
    staged = alice.process_message(bundle.commit)
    alice.merge_staged_commit(staged)
    bob.merge_pending_commit()
    out["after_commit"] = [alice.epoch, bob.epoch]
    out["same_authenticator"] = alice.epoch_authenticator() == bob.epoch_authenticator()
    out["authenticator"] = alice.epoch_authenticator().hex()
    print(json.dumps(out))
    """
)


def test_reload_in_a_new_process(tmp_path: Path) -> None:
    a_path, b_path = tmp_path / "alice.sqlite", tmp_path / "bob.sqlite"
    alice, bob = make_client("alice", path=a_path), make_client("bob", path=b_path)
    alice.group = m.Group.create(alice.provider, alice.signer, alice.credential)
    bundle = alice.g.add_members([bob.key_package()])
    deliver_commit(alice, bundle, [])
    join(bob, bundle.welcome or b"")
    got = bob.g.process_message(alice.g.create_message(b"before restart"))
    assert isinstance(got, m.ApplicationMessage)
    pending = alice.g.create_message(b"in flight across the restart")
    group_id = alice.g.group_id
    del alice, bob, got  # drop every object (and the SQLite connections)

    result = subprocess.run(
        [sys.executable, "-c", CONTINUE, str(a_path), str(b_path), group_id.hex(), pending.hex()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["epoch"] == [1, 1]
    assert out["old_message"] == "in flight across the restart"
    assert out["to_alice"] == "bob after restart"
    assert out["to_bob"] == "alice after restart"
    assert out["after_commit"] == [2, 2]
    assert out["same_authenticator"]

    # And back in this process, the state written by the child is what loads.
    reloaded = m.Group.load(m.Provider(a_path), group_id)
    assert reloaded.epoch == 2
    assert reloaded.epoch_authenticator().hex() == out["authenticator"]


def test_signer_and_unknown_group(tmp_path: Path) -> None:
    path = tmp_path / "keys.sqlite"
    signer = m.SignatureKeyPair.generate(2)
    signer.store(m.Provider(path))
    loaded = m.SignatureKeyPair.load(m.Provider(path), signer.public_key)
    assert loaded.public_key == signer.public_key
    signature = loaded.sign_with_label("x", b"c")
    m.verify_with_label(loaded.signature_scheme, signer.public_key, "x", b"c", signature)
    try:
        m.Group.load(m.Provider(path), b"no such group")
    except m.UnknownGroup as e:
        assert "no group" in str(e)
    else:
        raise AssertionError("UnknownGroup not raised")
    assert m.Provider(path).path == str(path)
    assert m.Provider().path is None

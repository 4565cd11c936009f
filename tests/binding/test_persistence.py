"""A group created with SQLite providers survives the process: reload in a new one."""

from __future__ import annotations

import json
import sqlite3
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


JSON_CODEC_FILES = Path(__file__).parent / "data" / "json_codec"


def test_files_from_the_json_codec_still_load_and_continue(tmp_path: Path) -> None:
    """Files written before the bincode codec (JSON values, made by the JSON-codec build
    from tests/binding/data/json_codec) are read and written on in their own format."""
    expected = json.loads((JSON_CODEC_FILES / "expected.json").read_text())
    for name in ("alice.sqlite", "bob.sqlite"):
        (tmp_path / name).write_bytes((JSON_CODEC_FILES / name).read_bytes())
    gid = bytes.fromhex(expected["group_id"])
    alice = m.Group.load(m.Provider(tmp_path / "alice.sqlite"), gid)
    bob = m.Group.load(m.Provider(tmp_path / "bob.sqlite"), gid)
    assert alice.epoch == bob.epoch == expected["epoch"]
    assert alice.epoch_authenticator().hex() == expected["epoch_authenticator"]
    got = bob.process_message(bytes.fromhex(expected["pending_message"]))
    assert isinstance(got, m.ApplicationMessage)
    assert got.data == b"written before the codec change"
    bundle = bob.self_update()
    alice.merge_staged_commit(alice.process_message(bundle.commit))
    bob.merge_pending_commit()
    del alice, bob
    # What was written after the reload is readable again (still JSON).
    alice = m.Group.load(m.Provider(tmp_path / "alice.sqlite"), gid)
    bob = m.Group.load(m.Provider(tmp_path / "bob.sqlite"), gid)
    assert alice.epoch == bob.epoch == expected["epoch"] + 1
    assert alice.epoch_authenticator() == bob.epoch_authenticator()
    with sqlite3.connect(tmp_path / "alice.sqlite") as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
    assert version == 0  # left in its format, not marked as bincode
    assert page_size == 4096  # an existing file keeps its page size


def test_new_files_use_wal_and_16k_pages(tmp_path: Path) -> None:
    """The SQLite layout new files get (see Storage::open): WAL, 16 KiB pages."""
    path = tmp_path / "layout.sqlite"
    provider = m.Provider(path)
    m.SignatureKeyPair.generate(2).store(provider)
    with sqlite3.connect(path) as db:
        (journal,) = db.execute("PRAGMA journal_mode").fetchone()
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
    assert journal == "wal"
    assert page_size == 16384


def test_new_files_are_marked_bincode_and_foreign_files_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    signer = m.SignatureKeyPair.generate(2)
    signer.store(m.Provider(path))
    with sqlite3.connect(path) as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        (blob,) = db.execute("SELECT signature_key FROM openmls_signature_keys").fetchone()
    assert version == 0x6F6D6C02
    assert not bytes(blob).startswith(b"{")  # not JSON
    loaded = m.SignatureKeyPair.load(m.Provider(path), signer.public_key)
    assert loaded.public_key == signer.public_key

    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("PRAGMA user_version = 7")
    try:
        m.Provider(foreign)
    except m.StorageError as e:
        assert "not an openmls-python storage file" in str(e)
    else:
        raise AssertionError("StorageError not raised")

"""How ``Provider(path)`` writes a group's values: in place, all-or-nothing per call, and
kept once the call has returned, even if the process is killed right after it."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import openmls as m
import pytest

from .conftest import Client, deliver_commit, join, make_client


def group_rows(path: Path) -> dict[str, tuple[int, bytes]]:
    """``openmls_group_data``: data type -> (rowid, value), read by a second connection."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT data_type, rowid, group_data FROM openmls_group_data")
        return {kind: (rowid, bytes(value)) for kind, rowid, value in rows}


def two_members(tmp_path: Path) -> tuple[Client, Client, Path]:
    """alice in memory, bob with a file; bob joined alice's group."""
    path = tmp_path / "bob.sqlite"
    alice, bob = make_client("alice"), make_client("bob", path=path)
    alice.group = m.Group.create(alice.provider, alice.signer, alice.credential)
    bundle = alice.g.add_members([bob.key_package()])
    deliver_commit(alice, bundle, [])
    join(bob, bundle.welcome or b"")
    return alice, bob, path


def test_a_message_updates_the_stored_secrets_in_place(tmp_path: Path) -> None:
    """Each received message rewrites the message secrets as an UPDATE of the same row
    (an INSERT OR REPLACE would give it a new rowid and dirty the key index too): once the
    sender's ratchet window is full the value keeps its length, and each message appends
    a single page to the WAL."""
    alice, bob, path = two_members(tmp_path)
    before = group_rows(path)
    for i in range(8):  # fills the ratchet's window of past secrets (5)
        got = bob.g.process_message(alice.g.create_message(b"warm-up %d" % i))
        assert isinstance(got, m.ApplicationMessage)
    after = group_rows(path)
    assert after.keys() == before.keys()
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    assert after["message_secrets"][1] != before["message_secrets"][1]
    assert after["tree"] == before["tree"]

    with sqlite3.connect(path) as db:
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
    wal = path.with_name(path.name + "-wal")
    start = wal.stat().st_size
    for i in range(10):
        bob.g.process_message(alice.g.create_message(b"steady %d" % i))
    frame = page_size + 24
    assert wal.stat().st_size - start == 10 * frame  # one page per message, no more
    assert group_rows(path)["message_secrets"][0] == before["message_secrets"][0]


def test_a_failed_merge_leaves_every_group_value_as_it_was(tmp_path: Path) -> None:
    """Merging a commit writes the tree, context, secrets ... and then the epoch's key
    pairs. A trigger makes that last write fail: the call raises, the earlier updates of
    the call are rolled back with it (byte for byte), and the group stays in its epoch.
    Without the trigger the same commit then merges."""
    alice, bob, path = two_members(tmp_path)
    before = group_rows(path)
    bundle = alice.g.self_update()
    alice.g.merge_pending_commit()
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TRIGGER fail_keys BEFORE INSERT ON openmls_epoch_keys_pairs "
            "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
        )
    staged = bob.g.process_message(bundle.commit)
    assert isinstance(staged, m.StagedCommit)
    with pytest.raises(m.MlsError, match="injected failure"):
        bob.g.merge_staged_commit(staged)
    assert group_rows(path) == before
    assert bob.g.epoch == 1
    assert m.Group.load(m.Provider(path), bob.g.group_id).epoch == 1

    with sqlite3.connect(path) as db:
        db.execute("DROP TRIGGER fail_keys")
    staged = bob.g.process_message(bundle.commit)
    assert isinstance(staged, m.StagedCommit)
    bob.g.merge_staged_commit(staged)
    assert bob.g.epoch == alice.g.epoch == 2
    assert bob.g.epoch_authenticator() == alice.g.epoch_authenticator()
    assert group_rows(path)["tree"][1] != before["tree"][1]


KILLED_AFTER_THE_CALL = textwrap.dedent(
    """
    import os, signal, sys
    import openmls as m

    path, group_id_hex, message_hex = sys.argv[1:4]
    group = m.Group.load(m.Provider(path), bytes.fromhex(group_id_hex))
    group.process_message(bytes.fromhex(message_hex))
    # Nothing of the binding runs after the call returned: no close, no checkpoint.
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_the_state_of_a_returned_call_survives_a_kill(tmp_path: Path) -> None:
    """A process is killed (SIGKILL) right after process_message returns: the secrets
    that call consumed are stored, so the message is refused as a replay after a reload
    and the next one decrypts."""
    alice, bob, path = two_members(tmp_path)
    group_id = bob.g.group_id
    first = alice.g.create_message(b"read by the killed process")
    second = alice.g.create_message(b"read after the reload")
    del bob  # the child is the only one with the file open
    result = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_THE_CALL, str(path), group_id.hex(), first.hex()],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == -9, result.stderr

    reloaded = m.Group.load(m.Provider(path), group_id)
    with pytest.raises(m.MlsError):
        reloaded.process_message(first)
    got = reloaded.process_message(second)
    assert isinstance(got, m.ApplicationMessage)
    assert got.data == b"read after the reload"


def test_json_codec_rows_are_updated_in_their_own_encoding(tmp_path: Path) -> None:
    """A file of the JSON codec (tests/binding/data/json_codec) gets its group values
    updated in JSON, in place: same rows, JSON text, the group still loads."""
    data = Path(__file__).parent / "data" / "json_codec"
    expected = json.loads((data / "expected.json").read_text())
    path = tmp_path / "bob.sqlite"
    path.write_bytes((data / "bob.sqlite").read_bytes())
    gid = bytes.fromhex(expected["group_id"])
    before = group_rows(path)
    bob = m.Group.load(m.Provider(path), gid)
    got = bob.process_message(bytes.fromhex(expected["pending_message"]))
    assert isinstance(got, m.ApplicationMessage)
    after = group_rows(path)
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    secrets = after["message_secrets"][1]
    assert secrets != before["message_secrets"][1]
    json.loads(secrets)  # still JSON
    del bob
    assert m.Group.load(m.Provider(path), gid).epoch == expected["epoch"]


NEW_FILES = textwrap.dedent(
    """
    import os, sys
    import openmls as m

    d = sys.argv[1]
    first = m.Provider(os.path.join(d, "first.sqlite"))  # made the ordinary way
    signer = m.SignatureKeyPair.generate(2)
    signer.store(first)
    m.Group.create(first, signer, m.Credential.basic(b"first"), group_id=b"g1")
    second = m.Provider(os.path.join(d, "second.sqlite"))  # a copy of the empty image
    signer2 = m.SignatureKeyPair.generate(2)
    m.Group.create(second, signer2, m.Credential.basic(b"second"), group_id=b"g2")
    print(signer2.public_key.hex())
    """
)


def schema(path: Path) -> tuple[object, ...]:
    with sqlite3.connect(path) as db:
        return (
            db.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
            ).fetchall(),
            db.execute("PRAGMA user_version").fetchone(),
            db.execute("PRAGMA page_size").fetchone(),
            db.execute("PRAGMA journal_mode").fetchone(),
            db.execute(
                "SELECT version, name, checksum FROM openmls_sqlite_storage_migrations"
            ).fetchall(),
        )


def test_new_files_after_the_first_are_the_same_empty_file(tmp_path: Path) -> None:
    """In a fresh process the first new file is created the ordinary way, later ones are
    copies of its empty state: same schema, format mark, page size, WAL mode and recorded
    migrations; none of the first file's data; no temporary file left behind."""
    result = subprocess.run(
        [sys.executable, "-c", NEW_FILES, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    first, second = tmp_path / "first.sqlite", tmp_path / "second.sqlite"
    assert schema(first) == schema(second)
    assert schema(second)[1:4] == ((0x6F6D6C02,), (16384,), ("wal",))
    # Copied, not created anew: the migrations' timestamps (nanoseconds) are the first's.
    applied = "SELECT applied_on FROM openmls_sqlite_storage_migrations ORDER BY version"
    with sqlite3.connect(first) as a, sqlite3.connect(second) as b:
        assert a.execute(applied).fetchall() == b.execute(applied).fetchall()
    with sqlite3.connect(second) as db:
        (keys,) = db.execute("SELECT count(*) FROM openmls_signature_keys").fetchone()
        groups = db.execute("SELECT DISTINCT group_id FROM openmls_group_data").fetchall()
    assert keys == 1 and len(groups) == 1  # its own signer and group only
    signer2 = bytes.fromhex(result.stdout.strip())
    loaded = m.SignatureKeyPair.load(m.Provider(second), signer2)
    assert loaded.public_key == signer2
    assert m.Group.load(m.Provider(second), b"g2").epoch == 0
    with pytest.raises(m.UnknownGroup):
        m.Group.load(m.Provider(second), b"g1")
    leftovers = {p.name for p in tmp_path.iterdir()} - {
        f"{n}.sqlite{s}" for n in ("first", "second") for s in ("", "-wal", "-shm")
    }
    assert leftovers == set()


def test_names_sqlite_reads_otherwise_get_no_copied_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ ":memory:" and "file:" URIs are SQLite's to interpret, never a file name for the
    copy of the empty image (which this process has once it created two new files)."""
    monkeypatch.chdir(tmp_path)
    m.Provider(tmp_path / "a.sqlite")
    m.Provider(tmp_path / "b.sqlite")
    signer = m.SignatureKeyPair.generate(2)
    in_memory = m.Provider(":memory:")
    signer.store(in_memory)
    assert m.SignatureKeyPair.load(in_memory, signer.public_key).public_key == signer.public_key
    m.Provider("file:uri.sqlite?mode=rwc")
    names = {p.name for p in tmp_path.iterdir()}
    assert ":memory:" not in names
    assert not any(n.startswith("file:") for n in names)
    assert "uri.sqlite" in names  # the file the URI names, made by SQLite

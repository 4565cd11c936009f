"""SQLiteStorage: directory, invitations, groups, durable mail boxes (real SQLite files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from delivery_service.sqlite_storage import SQLiteStorage
from delivery_service.storage import (
    GroupRecord,
    InvitationState,
    NewMessage,
    PublishedKeyPackage,
    Registration,
)
from shared.protocol import DeliveryKind


@pytest.fixture
def db(tmp_path: Path) -> SQLiteStorage:
    storage = SQLiteStorage(str(tmp_path / "ds.sqlite"))
    yield storage
    storage.close()


def _msg(data: bytes, kind: DeliveryKind = DeliveryKind.APPLICATION) -> NewMessage:
    return NewMessage(kind=kind, sender="12025550101", data=data, group_id=b"g", epoch=1)


def test_registration_round_trip_and_replace(db: SQLiteStorage) -> None:
    reg = Registration("12025550101", 0xF001, b"cred", 0x0403, b"\x04" + b"k" * 64, None, 5)
    with db.transaction():
        db.put_registration(reg)
    assert db.get_registration("12025550101") == reg
    assert db.get_registration("12025550102") is None
    newer = Registration("12025550101", 0xF002, b"c2", 0x0807, b"e" * 32, b"app", 6)
    with db.transaction():
        db.put_registration(newer)
    assert db.get_registration("12025550101") == newer


def _kps(*items: tuple[bytes, bool]) -> list[PublishedKeyPackage]:
    return [PublishedKeyPackage(data, lr, not_after=1000) for data, lr in items]


def test_claim_consumes_oldest_then_reuses_last_resort(db: SQLiteStorage) -> None:
    with db.transaction():
        db.add_key_packages("1", _kps((b"kp1", False), (b"lr", True), (b"kp2", False)))
    with db.transaction():
        assert db.claim_key_package("1", now=5) == b"kp1"
        assert db.claim_key_package("1", now=5) == b"kp2"
        assert db.claim_key_package("1", now=5) == b"lr"
        assert db.claim_key_package("1", now=5) == b"lr"
    assert db.count_key_packages("1") == 1
    assert db.claim_key_package("2", now=5) is None


def test_expired_key_packages_are_never_handed_out(db: SQLiteStorage) -> None:
    with db.transaction():
        db.add_key_packages(
            "1",
            [
                PublishedKeyPackage(b"old", False, not_after=100),
                PublishedKeyPackage(b"old-lr", True, not_after=100),
                PublishedKeyPackage(b"fresh", False, not_after=300),
            ],
        )
    with db.transaction():
        assert db.claim_key_package("1", now=200) == b"fresh"
        assert db.claim_key_package("1", now=200) is None
    assert db.count_key_packages("1") == 0


def test_rolled_back_transaction_changes_nothing(db: SQLiteStorage) -> None:
    with db.transaction():
        db.add_key_packages("1", _kps((b"kp1", False)))
    with pytest.raises(RuntimeError), db.transaction():
        assert db.claim_key_package("1", now=5) == b"kp1"
        db.enqueue(_msg(b"x"), ["2"])
        raise RuntimeError("boom")
    assert db.count_key_packages("1") == 1
    assert db.mailbox_size("2") == 0


def test_invitation_lifecycle(db: SQLiteStorage) -> None:
    with db.transaction():
        iid = db.create_invitation("1", "2", b"grp")
    inv = db.get_invitation(iid)
    assert inv is not None
    assert (inv.inviter, inv.invitee, inv.group_id, inv.state) == (
        "1",
        "2",
        b"grp",
        InvitationState.OPEN,
    )
    with db.transaction():
        db.mark_invitation_answered(iid)
    answered = db.get_invitation(iid)
    assert answered is not None and answered.state is InvitationState.ANSWERED
    assert db.get_invitation(iid + 1) is None


def test_group_record_replaces_members(db: SQLiteStorage) -> None:
    with db.transaction():
        db.put_group(GroupRecord(b"g", 0, b"gi0", frozenset({"1"})))
        db.put_group(GroupRecord(b"g", 1, b"gi1", frozenset({"1", "2", "3"})))
    with db.transaction():
        db.put_group(GroupRecord(b"g", 2, b"gi2", frozenset({"1", "3"})))
    assert db.get_group(b"g") == GroupRecord(b"g", 2, b"gi2", frozenset({"1", "3"}))
    assert db.get_group(b"h") is None
    assert db.group_ids() == [b"g"]


def test_mailbox_fan_out_order_and_ack(db: SQLiteStorage) -> None:
    with db.transaction():
        m1 = db.enqueue(_msg(b"one"), ["2", "3"])
        m2 = db.enqueue(_msg(b"two"), ["3"])
        m3 = db.enqueue(_msg(b"three", DeliveryKind.COMMIT), ["2", "3", "3"])
    assert m1 < m2 < m3
    assert [m.data for m in db.pending("3")] == [b"one", b"two", b"three"]
    assert [m.mid for m in db.pending("2")] == [m1, m3]
    assert db.pending("3", after_mid=m2)[0].kind is DeliveryKind.COMMIT
    assert [m.mid for m in db.pending("3", limit=1)] == [m1]
    assert db.stored_message_count() == 3

    with db.transaction():
        assert db.ack("3", [m1, m2]) == []
    assert [m.mid for m in db.pending("3")] == [m3]
    # m1 is still held by "2"; m2 was only for "3" and is gone.
    assert db.stored_message_count() == 2
    with db.transaction():
        assert db.ack("2", [m1]) == []
    assert db.stored_message_count() == 1


def test_replayed_and_foreign_acks_are_reported_and_change_nothing(db: SQLiteStorage) -> None:
    with db.transaction():
        mid = db.enqueue(_msg(b"x"), ["2", "3"])
    with db.transaction():
        assert db.ack("2", [mid]) == []
    with db.transaction():
        assert db.ack("2", [mid]) == [mid]  # replay
        assert db.ack("4", [mid]) == [mid]  # someone else's message
        assert db.ack("3", [mid + 5, mid]) == [mid + 5]
    assert db.mailbox_size("3") == 0
    assert db.stored_message_count() == 0


def test_large_ack_batches(db: SQLiteStorage) -> None:
    with db.transaction():
        mids = [db.enqueue(_msg(bytes([i % 256])), ["9"]) for i in range(1200)]
    with db.transaction():
        assert db.ack("9", [*mids, 10**9]) == [10**9]
    assert db.mailbox_size("9") == 0


def test_mids_are_never_reused_across_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "ds.sqlite")
    first = SQLiteStorage(path)
    with first.transaction():
        mid = first.enqueue(_msg(b"x"), ["2"])
        first.ack("2", [mid])
    first.close()
    second = SQLiteStorage(path)
    with second.transaction():
        assert second.enqueue(_msg(b"y"), ["2"]) > mid
    second.close()


def test_committed_state_survives_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "ds.sqlite")
    first = SQLiteStorage(path)
    with first.transaction():
        mid = first.enqueue(_msg(b"kept"), ["2"])
    first.close()
    second = SQLiteStorage(path)
    assert [m.mid for m in second.pending("2")] == [mid]
    second.close()


def test_memory_database_works(tmp_path: Path) -> None:
    mem = SQLiteStorage(":memory:")
    with mem.transaction():
        mem.enqueue(_msg(b"x"), ["2"])
    assert mem.mailbox_size("2") == 1
    mem.close()


def test_savepoint_undoes_only_its_own_writes(db: SQLiteStorage) -> None:
    with db.transaction():
        db.enqueue(_msg(b"kept"), ["2"])
        with pytest.raises(ValueError), db.savepoint():
            db.enqueue(_msg(b"undone"), ["2"])
            raise ValueError("refused")
        with db.savepoint():
            db.enqueue(_msg(b"also kept"), ["2"])
    assert [m.data for m in db.pending("2")] == [b"kept", b"also kept"]


def test_savepoint_needs_a_transaction(db: SQLiteStorage) -> None:
    with pytest.raises(RuntimeError), db.savepoint():
        pass


def test_checkpoint_moves_committed_writes_into_the_database_file(tmp_path: Path) -> None:
    import shutil
    import sqlite3

    path = tmp_path / "ds.sqlite"
    db = SQLiteStorage(str(path))
    try:
        db.checkpoint()  # the schema
        with db.transaction():
            for i in range(50):
                db.enqueue(_msg(bytes([i]) * 100), ["2"])

        def messages_in_main_file() -> int:
            # The main file alone, without its WAL: what a checkpoint has copied there.
            copy = tmp_path / f"copy-{len(list(tmp_path.iterdir()))}.sqlite"
            shutil.copy(path, copy)
            with sqlite3.connect(copy) as conn:
                return int(conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0])

        assert messages_in_main_file() == 0  # still only in the WAL
        db.checkpoint()  # what the server runs in a worker thread
        assert messages_in_main_file() == 50
        with db.transaction():  # the writer goes on after a checkpoint
            db.enqueue(_msg(b"later"), ["2"])
        assert len(db.pending("2")) == 51
    finally:
        db.close()
    SQLiteStorage(":memory:").checkpoint()  # nothing to do, no error


def test_close_while_a_worker_thread_checkpoints_waits_for_it(tmp_path: Path) -> None:
    # The server checkpoints from a worker thread; shutting down must not close that
    # thread's connection under a running checkpoint (it crashed the interpreter).
    import threading

    db = SQLiteStorage(str(tmp_path / "ds.sqlite"))
    failures: list[BaseException] = []
    started = threading.Event()

    def checkpoint_forever() -> None:
        try:
            for _ in range(2000):
                db.checkpoint()
                started.set()
        except BaseException as exc:  # pragma: no cover - what the test looks for
            failures.append(exc)

    worker = threading.Thread(target=checkpoint_forever)
    worker.start()
    with db.transaction():
        for i in range(200):
            db.enqueue(_msg(bytes([i % 256]) * 200), ["2"])
    started.wait(5)
    db.close()
    worker.join(30)
    assert not worker.is_alive()
    assert failures == []
    db.checkpoint()  # after close: nothing to do, no error


def test_an_ack_undone_by_a_savepoint_releases_nothing(db: SQLiteStorage) -> None:
    # Bodies are released at the end of the transaction from the acks it kept: an ack
    # whose savepoint rolled back (a refused frame in a batch) must not count.
    with db.transaction():
        mid = db.enqueue(_msg(b"x"), ["2", "3"])
    with db.transaction():
        with pytest.raises(ValueError), db.savepoint():
            assert db.ack("2", [mid]) == []
            raise ValueError("refused")
        assert db.ack("3", [mid]) == []
    assert [m.mid for m in db.pending("2")] == [mid]
    assert db.stored_message_count() == 1  # still held by "2"
    with pytest.raises(ValueError), db.transaction():  # a whole transaction rolled back
        db.ack("2", [mid])
        raise ValueError("failed")
    assert db.stored_message_count() == 1 and db.mailbox_size("2") == 1
    assert db.ack("2", [mid]) == []  # outside a transaction: one of its own
    assert db.stored_message_count() == 0


def test_one_transaction_releases_a_body_acked_by_all_its_holders(db: SQLiteStorage) -> None:
    with db.transaction():
        mids = [db.enqueue(_msg(bytes([i])), ["2", "3", "4"]) for i in range(3)]
    with db.transaction():
        for tn in ("2", "3"):
            assert db.ack(tn, mids) == []
        assert db.ack("4", mids[:2]) == []
        assert db.stored_message_count() == 3  # released when the transaction ends
    assert db.stored_message_count() == 1
    assert [m.mid for m in db.pending("4")] == [mids[2]]


# Schema 1 as the first releases wrote it (a trigger lowered the holder count per row).
_SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE messages (
    mid INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, sender TEXT NOT NULL,
    group_id BLOB, epoch INTEGER, invitation_id INTEGER, data BLOB NOT NULL,
    holders INTEGER NOT NULL
);
CREATE TABLE mailbox (tn TEXT NOT NULL, mid INTEGER NOT NULL, PRIMARY KEY (tn, mid))
    WITHOUT ROWID;
CREATE TRIGGER mailbox_release AFTER DELETE ON mailbox
BEGIN
    UPDATE messages SET holders = holders - 1 WHERE mid = OLD.mid;
    DELETE FROM messages WHERE mid = OLD.mid AND holders <= 0;
END;
INSERT INTO meta (key, value) VALUES ('schema', '1');
INSERT INTO messages (kind, sender, group_id, epoch, data, holders)
    VALUES ('application', '12025550101', x'67', 1, x'6f6c64', 2);
INSERT INTO mailbox (tn, mid) VALUES ('2', 1), ('3', 1);
"""


def test_a_schema_1_file_is_migrated_and_keeps_its_mail(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(_SCHEMA_1)
    old.close()
    db = SQLiteStorage(str(path))
    try:
        assert [(m.mid, m.data) for m in db.pending("2")] == [(1, b"old")]
        assert db.ack("2", [1]) == []
        assert db.stored_message_count() == 1  # counted once (no trigger left to count too)
        assert db.ack("3", [1]) == []
        assert db.stored_message_count() == 0
        with db.transaction():
            assert db.enqueue(_msg(b"new"), ["2"]) > 1  # mids are still never reused
    finally:
        db.close()
    check = sqlite3.connect(path)
    assert check.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("2",)
    assert check.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall() == []
    check.close()


def test_a_newer_schema_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    import sqlite3

    from delivery_service.sqlite_storage import SchemaError

    path = tmp_path / "future.sqlite"
    SQLiteStorage(str(path)).close()
    future = sqlite3.connect(path)
    future.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    future.commit()
    future.close()
    with pytest.raises(SchemaError, match="schema 99 is newer than this service's 2"):
        SQLiteStorage(str(path))

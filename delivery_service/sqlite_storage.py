"""SQLite (WAL) implementation of ``Storage``: one file holds the service's whole state.

Durability: WAL with ``synchronous=NORMAL`` survives a crash of the process (SIGKILL)
at every committed transaction; ``fsync=True`` (``synchronous=FULL``) also survives power
loss. A message body is stored once with a count of the mail boxes still holding it.
Acknowledgements delete mail-box rows only; the counts of the bodies they held are
lowered once per body at the end of the transaction, which deletes the bodies nobody
holds any more. (Schema 1 did that with a trigger per deleted row: an ack frame of 8
mids rewrote up to 8 body pages, and most of an ack's SQLite time went there;
benchmarks/ds_fanout/RESULTS.md, sixth session.)
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Final

from delivery_service.storage import (
    GroupRecord,
    Invitation,
    InvitationState,
    NewMessage,
    PublishedKeyPackage,
    Registration,
    StoredMessage,
    iter_chunks,
)
from shared.protocol import DeliveryKind

SCHEMA_VERSION: Final = 2

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS registrations (
    tn TEXT PRIMARY KEY,
    credential_type INTEGER NOT NULL,
    credential BLOB NOT NULL,
    signature_scheme INTEGER NOT NULL,
    signature_key BLOB NOT NULL,
    application_id BLOB,
    registered_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS key_packages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tn TEXT NOT NULL,
    data BLOB NOT NULL,
    last_resort INTEGER NOT NULL,
    not_after INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS key_packages_by_tn ON key_packages (tn, last_resort, id);
CREATE TABLE IF NOT EXISTS invitations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    inviter TEXT NOT NULL,
    invitee TEXT NOT NULL,
    group_id BLOB NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS groups (
    group_id BLOB PRIMARY KEY,
    epoch INTEGER NOT NULL,
    group_info BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS group_members (
    group_id BLOB NOT NULL,
    tn TEXT NOT NULL,
    PRIMARY KEY (group_id, tn)
) WITHOUT ROWID;
-- AUTOINCREMENT: a mid is never reused, even after every message was acknowledged,
-- so a client's "already handled" memory of mids stays right across restarts.
CREATE TABLE IF NOT EXISTS messages (
    mid INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    sender TEXT NOT NULL,
    group_id BLOB,
    epoch INTEGER,
    invitation_id INTEGER,
    data BLOB NOT NULL,
    holders INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS mailbox (
    tn TEXT NOT NULL,
    mid INTEGER NOT NULL,
    PRIMARY KEY (tn, mid)
) WITHOUT ROWID;
"""

# Schema 1 -> 2: the same tables; the per-row trigger that lowered ``holders`` goes (the
# storage now does that per transaction, and with the trigger it would happen twice).
_MIGRATE_1_TO_2: Final = "DROP TRIGGER IF EXISTS mailbox_release"

_MAX_PARAMS: Final = 500  # well below SQLite's bound-parameter limit


class SQLiteStorage:
    """``Storage`` on one SQLite database (a file, or ``":memory:"`` for throwaway runs)."""

    def __init__(self, path: str, *, fsync: bool = False) -> None:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a batch of frames is
        # exactly one transaction.
        self._path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
        self._db.execute("PRAGMA foreign_keys=OFF")
        # A checkpoint copies the WAL into the database and fsyncs it: tens of ms that,
        # run automatically by a COMMIT, would stall the event loop. ``checkpoint`` does
        # it from a worker thread over its own connection instead; until it runs, the
        # automatic one (at 4x the default size) is only a backstop.
        self._file = path != ":memory:" and not path.startswith("file::memory:")
        if self._file:
            self._db.execute("PRAGMA wal_autocheckpoint=4000")
        self._checkpointer: sqlite3.Connection | None = None
        # ``checkpoint`` runs in a worker thread; closing its connection while it runs
        # crashes the interpreter (sqlite3 frees the handle under the running statement).
        self._checkpoint_lock = threading.Lock()
        self._closed = False
        self._depth = 0
        self._savepoints = 0
        # Group records are read on every application message; this process is the only
        # writer, so they are cached, and the cache is dropped on any rollback.
        self._groups: dict[bytes, GroupRecord] = {}
        # Mids whose mail-box rows this transaction deleted, one entry per row, in order;
        # a savepoint's rollback truncates it to its length at the savepoint.
        self._released: list[int] = []
        try:
            self._create_schema()
        except BaseException:
            self._db.close()
            raise

    def _create_schema(self) -> None:
        db = self._db
        existing = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone()
        version: int | None = None
        if existing is not None:
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is not None:
                try:
                    version = int(row[0])
                except ValueError:
                    raise SchemaError(f"database schema {row[0]!r} is not a version") from None
        if version is not None and version > SCHEMA_VERSION:
            raise SchemaError(
                f"database schema {version} is newer than this service's"
                f" {SCHEMA_VERSION}; run a newer stirmls"
            )
        if version is not None and version < 1:
            raise SchemaError(f"database schema {version} is not a known version")
        # One transaction: a file is either migrated whole or left as it was.
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            if version == 1:
                db.execute(_MIGRATE_1_TO_2)
            if version is None:
                db.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
                )
            elif version != SCHEMA_VERSION:
                db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One SQLite transaction; nested uses join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
            self._release_bodies()
        except BaseException:
            self._depth = 0
            self._groups.clear()
            self._released.clear()
            self._db.execute("ROLLBACK")
            raise
        self._depth = 0
        self._db.execute("COMMIT")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested unit inside the current transaction, rolled back alone on error."""
        if not self._depth:
            raise RuntimeError("savepoint() outside a transaction")
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        released = len(self._released)
        self._db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._groups.clear()
            del self._released[released:]
            self._db.execute(f"ROLLBACK TO {name}")
            self._db.execute(f"RELEASE {name}")
            raise
        self._db.execute(f"RELEASE {name}")

    def close(self) -> None:
        """Close the database connection (waits for a checkpoint in progress)."""
        with self._checkpoint_lock:
            self._closed = True
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
        self._db.close()

    def checkpoint(self) -> None:
        """A passive WAL checkpoint over a second connection (never blocks the writer;
        a no-op for an in-memory database or once closed). Safe from any thread."""
        if not self._file:
            return
        with self._checkpoint_lock:
            if self._closed:
                return
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(
                    self._path, isolation_level=None, check_same_thread=False
                )
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    # --- registrations ------------------------------------------------------------------

    def get_registration(self, tn: str) -> Registration | None:
        """The registration of ``tn``, if any."""
        row = self._db.execute(
            "SELECT tn, credential_type, credential, signature_scheme, signature_key,"
            " application_id, registered_at FROM registrations WHERE tn = ?",
            (tn,),
        ).fetchone()
        return None if row is None else Registration(*row)

    def put_registration(self, registration: Registration) -> None:
        """Insert or replace a registration."""
        r = registration
        self._db.execute(
            "INSERT OR REPLACE INTO registrations (tn, credential_type, credential,"
            " signature_scheme, signature_key, application_id, registered_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                r.tn,
                r.credential_type,
                r.credential,
                r.signature_scheme,
                r.signature_key,
                r.application_id,
                r.registered_at,
            ),
        )

    # --- KeyPackage directory -----------------------------------------------------------

    def add_key_packages(self, tn: str, key_packages: Sequence[PublishedKeyPackage]) -> None:
        """Store KeyPackages for ``tn``."""
        self._db.executemany(
            "INSERT INTO key_packages (tn, data, last_resort, not_after) VALUES (?, ?, ?, ?)",
            [(tn, kp.data, int(kp.last_resort), kp.not_after) for kp in key_packages],
        )

    def claim_key_package(self, tn: str, now: int) -> bytes | None:
        """Consume the oldest ordinary KeyPackage, else reuse the newest last-resort one;
        never an expired one (those are deleted)."""
        self._db.execute("DELETE FROM key_packages WHERE tn = ? AND not_after <= ?", (tn, now))
        row = self._db.execute(
            "SELECT id, data FROM key_packages WHERE tn = ? AND last_resort = 0"
            " ORDER BY id LIMIT 1",
            (tn,),
        ).fetchone()
        if row is not None:
            self._db.execute("DELETE FROM key_packages WHERE id = ?", (row[0],))
            return bytes(row[1])
        row = self._db.execute(
            "SELECT data FROM key_packages WHERE tn = ? AND last_resort = 1"
            " ORDER BY id DESC LIMIT 1",
            (tn,),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def count_key_packages(self, tn: str) -> int:
        """How many KeyPackages ``tn`` has."""
        (n,) = self._db.execute("SELECT COUNT(*) FROM key_packages WHERE tn = ?", (tn,)).fetchone()
        return int(n)

    # --- invitations --------------------------------------------------------------------

    def create_invitation(self, inviter: str, invitee: str, group_id: bytes) -> int:
        """Record an open invitation."""
        cursor = self._db.execute(
            "INSERT INTO invitations (inviter, invitee, group_id, state) VALUES (?, ?, ?, ?)",
            (inviter, invitee, group_id, InvitationState.OPEN.value),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def get_invitation(self, invitation_id: int) -> Invitation | None:
        """The invitation, if any."""
        row = self._db.execute(
            "SELECT id, inviter, invitee, group_id, state FROM invitations WHERE id = ?",
            (invitation_id,),
        ).fetchone()
        if row is None:
            return None
        return Invitation(row[0], row[1], row[2], bytes(row[3]), InvitationState(row[4]))

    def mark_invitation_answered(self, invitation_id: int) -> None:
        """Close the invitation."""
        self._db.execute(
            "UPDATE invitations SET state = ? WHERE id = ?",
            (InvitationState.ANSWERED.value, invitation_id),
        )

    # --- groups -------------------------------------------------------------------------

    def get_group(self, group_id: bytes) -> GroupRecord | None:
        """The group's record, if any."""
        cached = self._groups.get(group_id)
        if cached is not None:
            return cached
        row = self._db.execute(
            "SELECT epoch, group_info FROM groups WHERE group_id = ?", (group_id,)
        ).fetchone()
        if row is None:
            return None
        members = frozenset(
            tn
            for (tn,) in self._db.execute(
                "SELECT tn FROM group_members WHERE group_id = ?", (group_id,)
            )
        )
        record = GroupRecord(group_id, row[0], bytes(row[1]), members)
        self._groups[group_id] = record
        return record

    def put_group(self, record: GroupRecord) -> None:
        """Insert or replace the group's record and member list."""
        self._groups[record.group_id] = record
        self._db.execute(
            "INSERT OR REPLACE INTO groups (group_id, epoch, group_info) VALUES (?, ?, ?)",
            (record.group_id, record.epoch, record.group_info),
        )
        self._db.execute("DELETE FROM group_members WHERE group_id = ?", (record.group_id,))
        self._db.executemany(
            "INSERT INTO group_members (group_id, tn) VALUES (?, ?)",
            [(record.group_id, tn) for tn in sorted(record.members)],
        )

    def group_ids(self) -> list[bytes]:
        """Every followed group."""
        return [bytes(g) for (g,) in self._db.execute("SELECT group_id FROM groups")]

    # --- messages -----------------------------------------------------------------------

    def enqueue(self, message: NewMessage, recipients: Iterable[str]) -> int:
        """Store the body once, one mail-box row per distinct recipient."""
        tns = sorted(set(recipients))
        m = message
        cursor = self._db.execute(
            "INSERT INTO messages (kind, sender, group_id, epoch, invitation_id, data, holders)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (m.kind.value, m.sender, m.group_id, m.epoch, m.invitation_id, m.data, len(tns)),
        )
        mid = cursor.lastrowid
        assert mid is not None
        for chunk_start in range(0, len(tns), _MAX_PARAMS // 2):
            chunk = tns[chunk_start : chunk_start + _MAX_PARAMS // 2]
            # One multi-row INSERT: cheaper than executemany for a fan-out.
            self._db.execute(
                "INSERT INTO mailbox (tn, mid) VALUES " + ",".join(["(?, ?)"] * len(chunk)),
                [v for t in chunk for v in (t, mid)],
            )
        if not tns:  # nobody to deliver to: keep no body (the mid is still never reused)
            self._db.execute("DELETE FROM messages WHERE mid = ?", (mid,))
        return mid

    def pending(self, tn: str, after_mid: int = 0, limit: int = 1000) -> list[StoredMessage]:
        """Mail-box contents of ``tn`` after ``after_mid``, in mid order."""
        rows = self._db.execute(
            "SELECT m.mid, m.kind, m.sender, m.data, m.group_id, m.epoch, m.invitation_id"
            " FROM mailbox b JOIN messages m ON m.mid = b.mid"
            " WHERE b.tn = ? AND b.mid > ? ORDER BY b.mid LIMIT ?",
            (tn, after_mid, limit),
        ).fetchall()
        return [
            StoredMessage(
                mid=r[0],
                kind=DeliveryKind(r[1]),
                sender=r[2],
                data=bytes(r[3]),
                group_id=None if r[4] is None else bytes(r[4]),
                epoch=r[5],
                invitation_id=r[6],
            )
            for r in rows
        ]

    def ack(self, tn: str, mids: Iterable[int]) -> list[int]:
        """Remove acknowledged mids; return the ones that were not in the mail box."""
        if not self._depth:
            with self.transaction():  # the bodies' counts are lowered at its end
                return self.ack(tn, mids)
        wanted = sorted(set(mids))
        db = self._db
        missing: list[int] = []
        for chunk in iter_chunks(wanted, _MAX_PARAMS):
            marks = ",".join("?" * len(chunk))
            # Which are there, then delete: together cheaper than DELETE ... RETURNING
            # (the SELECT reads the pages the DELETE then changes).
            present = [
                mid
                for (mid,) in db.execute(
                    f"SELECT mid FROM mailbox WHERE tn = ? AND mid IN ({marks})", (tn, *chunk)
                )
            ]
            if len(present) != len(chunk):
                found = set(present)
                missing.extend(mid for mid in chunk if mid not in found)
                if not present:
                    continue
                marks = ",".join("?" * len(present))
            db.execute(f"DELETE FROM mailbox WHERE tn = ? AND mid IN ({marks})", (tn, *present))
            self._released.extend(present)
        return missing

    def _release_bodies(self) -> None:
        """Lower the holder counts of the bodies this transaction's acks released, once
        per body, and delete the bodies nobody holds any more."""
        released = self._released
        if not released:
            return
        counts = Counter(released)
        released.clear()
        db = self._db
        db.executemany(
            "UPDATE messages SET holders = holders - ? WHERE mid = ?",
            [(n, mid) for mid, n in counts.items()],
        )
        for chunk in iter_chunks(sorted(counts), _MAX_PARAMS):
            marks = ",".join("?" * len(chunk))
            db.execute(f"DELETE FROM messages WHERE mid IN ({marks}) AND holders <= 0", chunk)

    def mailbox_size(self, tn: str) -> int:
        """Messages waiting for ``tn``."""
        (n,) = self._db.execute("SELECT COUNT(*) FROM mailbox WHERE tn = ?", (tn,)).fetchone()
        return int(n)

    def stored_message_count(self) -> int:
        """Message bodies stored."""
        (n,) = self._db.execute("SELECT COUNT(*) FROM messages").fetchone()
        return int(n)


class SchemaError(RuntimeError):
    """The database file's schema is one this service cannot use (newer, or unknown)."""


def now_seconds() -> int:
    """Unix time in whole seconds (registration timestamps)."""
    return int(time.time())

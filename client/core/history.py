"""Chat history and the client's own bookkeeping in SQLite (one file per profile).

What lasts here (the MLS state lives in the binding's own SQLite file):

* the groups this client knows, with the title people gave them and whether we are
  still a member;
* every chat line, in arrival order;
* the delivery-service message ids already handled, stored in the same transaction as
  the lines they produced, so that a message redelivered after a crash or a reconnect
  is recognised and never shown twice, and a message is acknowledged only once its
  effect is on disk (nothing is lost).

Plain ``sqlite3``; the trio core calls it from a worker thread or, for a few messages,
from the event loop's thread (one connection, guarded by a re-entrant lock,
``check_same_thread=False``).

Cost per delivery matters (every member stores every message: N x K transactions in a
scale run): a message is one transaction of four statements (begin, mark its mid, its
line, commit), the mark itself telling whether the mid was handled before.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from client.core.events import ChatLine

# ``seq`` is the rowid (not AUTOINCREMENT: that rewrote sqlite_sequence's page with every
# line; lines are never deleted, so rowids already only grow). Files made before keep
# their AUTOINCREMENT; both order the same.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    group_id BLOB PRIMARY KEY,
    title TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS lines (
    seq INTEGER PRIMARY KEY,
    group_id BLOB NOT NULL,
    sender TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at REAL NOT NULL,
    own INTEGER NOT NULL,
    system INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS lines_by_group ON lines (group_id, seq);
CREATE TABLE IF NOT EXISTS handled (
    mid INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


class HistoryError(Exception):
    """The history database cannot be opened or is not ours."""


@dataclass(frozen=True)
class GroupRecord:
    """A group as stored."""

    group_id: bytes
    title: str
    active: bool


def _ts(when: datetime) -> float:
    return when.timestamp()


_Row = tuple[bytes, str, str, float, int, int]
# Constant statement texts: sqlite3 keeps their prepared statements (its statement cache).
_MARK = "INSERT OR IGNORE INTO handled (mid) VALUES (?)"
_INSERT_LINE = (
    "INSERT INTO lines (group_id, sender, body, sent_at, own, system) VALUES (?, ?, ?, ?, ?, ?)"
)


def _row(line: ChatLine) -> _Row:
    return (
        line.group_id,
        line.sender,
        line.text,
        _ts(line.sent_at),
        int(line.own),
        int(line.system),
    )


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class ChatHistory:
    """The profile's history database."""

    def __init__(self, path: str | Path) -> None:
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            # synchronous first, and the schema in one transaction: a new file then costs
            # a couple of syncs, not one per statement (8, 36 ms each client at start).
            # Small pages for a new file: a message's transaction writes three whole
            # pages to the WAL (its mark, its line, the index); chat lines are small.
            self._db.execute("PRAGMA page_size=1024")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(f"BEGIN;\n{_SCHEMA}\nCOMMIT;")
        except sqlite3.DatabaseError as exc:
            raise HistoryError(f"cannot open history database {path}: {exc}") from exc
        # Re-entrant: ``handle_new`` calls back into the client while it holds the lock,
        # and the callback may read or rename the group (a title message).
        self._lock = threading.RLock()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # ------------------------------------------------------------------ groups

    def add_group(self, group_id: bytes, title: str) -> None:
        """Remember a group (again: keeps the stored title and marks the group active)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO groups (group_id, title, active, created_at) VALUES (?, ?, 1, ?)"
                " ON CONFLICT (group_id) DO UPDATE SET active = 1",
                (group_id, title, datetime.now(UTC).timestamp()),
            )

    def set_title(self, group_id: bytes, title: str) -> None:
        """Rename a group (a member told us its title)."""
        with self._lock:
            self._db.execute("UPDATE groups SET title = ? WHERE group_id = ?", (title, group_id))

    def set_active(self, group_id: bytes, active: bool) -> None:
        """Mark a group as left/removed (kept, with its history) or active again."""
        with self._lock:
            self._db.execute(
                "UPDATE groups SET active = ? WHERE group_id = ?", (int(active), group_id)
            )

    def groups(self) -> list[GroupRecord]:
        """All groups, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT group_id, title, active FROM groups ORDER BY created_at, rowid"
            ).fetchall()
        return [GroupRecord(bytes(r[0]), r[1], bool(r[2])) for r in rows]

    def group(self, group_id: bytes) -> GroupRecord | None:
        """One group, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT group_id, title, active FROM groups WHERE group_id = ?", (group_id,)
            ).fetchone()
        return None if row is None else GroupRecord(bytes(row[0]), row[1], bool(row[2]))

    # ------------------------------------------------------------------ lines

    def add_lines(self, lines: Sequence[ChatLine], *, mid: int | None = None) -> bool:
        """Store lines, and mark delivery ``mid`` handled, in one transaction.

        Returns False (storing nothing) when ``mid`` was handled before: a redelivery.
        """
        return self._store([(mid, lines)])[0]

    def add_lines_if_free(self, lines: Sequence[ChatLine]) -> bool:
        """Store lines now (one transaction) unless another thread is using the history;
        False, storing nothing, if one is (the caller then stores them from a worker
        thread, where waiting is harmless)."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._store([(None, lines)])
        finally:
            self._lock.release()
        return True

    def add_batch(self, items: Sequence[tuple[int, Sequence[ChatLine]]]) -> list[bool]:
        """Store several deliveries' lines, each marking its ``mid`` handled, in one
        transaction (one commit for a burst of messages instead of one per message).

        Returns, per item, whether it was stored (False: ``mid`` was handled before).
        """
        return self._store(items)

    def _store(self, items: Sequence[tuple[int | None, Sequence[ChatLine]]]) -> list[bool]:
        # One transaction: a delivery's lines and its "handled" mark land together or not
        # at all, so a crash never stores a message twice or marks one it did not store.
        stored: list[bool] = []
        rows: list[_Row] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for mid, lines in items:
                    fresh = mid is None or self._mark(mid)
                    stored.append(fresh)
                    if fresh:
                        rows += map(_row, lines)
                self._insert_lines(rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return stored

    def handle_new(
        self, mids: Sequence[int], apply: Callable[[int], Sequence[ChatLine]]
    ) -> list[ChatLine]:
        """Handle deliveries exactly once, in one transaction: for each of ``mids`` not
        handled before, in order, ``apply(position)`` is called and the lines it returns
        are stored with the mid marked handled; a mid handled before is skipped without
        calling ``apply`` (a redelivery). Returns the lines stored, in order.

        ``apply`` runs inside the transaction and may call this history (a title
        message renames the group, atomically with its mark). If it raises, nothing is
        stored and no mid is marked.
        """
        out: list[ChatLine] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for position, mid in enumerate(mids):
                    if self._mark(mid):
                        out += apply(position)
                self._insert_lines([_row(line) for line in out])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return out

    def _mark(self, mid: int) -> bool:
        """Mark ``mid`` handled (inside a transaction); False if it was already."""
        return self._db.execute(_MARK, (mid,)).rowcount == 1

    def _insert_lines(self, rows: list[_Row]) -> None:
        if len(rows) == 1:
            self._db.execute(_INSERT_LINE, rows[0])
        elif rows:
            self._db.executemany(_INSERT_LINE, rows)

    def handled_among(self, mids: Iterable[int]) -> set[int]:
        """Those of ``mids`` that were handled already (one query for a batch)."""
        wanted = list(mids)
        found: set[int] = set()
        with self._lock:
            for start in range(0, len(wanted), 500):  # below SQLite's variable limit
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT mid FROM handled WHERE mid IN ({marks})",  # only "?" placeholders
                    chunk,
                ).fetchall()
                found.update(int(r[0]) for r in rows)
        return found

    def is_handled(self, mid: int) -> bool:
        """Whether delivery ``mid`` was handled already."""
        with self._lock:
            row = self._db.execute("SELECT 1 FROM handled WHERE mid = ?", (mid,)).fetchone()
        return row is not None

    def mark_handled(self, mids: Iterable[int]) -> None:
        """Mark deliveries handled that produced no line (commits, invitations...)."""
        with self._lock:
            self._db.executemany(_MARK, [(m,) for m in mids])

    def lines(self, group_id: bytes, *, limit: int | None = None) -> list[ChatLine]:
        """The group's lines, oldest first (the last ``limit`` when given)."""
        with self._lock:
            if limit is None:
                rows = self._db.execute(
                    "SELECT sender, body, sent_at, own, system FROM lines"
                    " WHERE group_id = ? ORDER BY seq",
                    (group_id,),
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT sender, body, sent_at, own, system FROM"
                    " (SELECT seq, sender, body, sent_at, own, system FROM lines"
                    "  WHERE group_id = ? ORDER BY seq DESC LIMIT ?) ORDER BY seq",
                    (group_id, limit),
                ).fetchall()
        return [
            ChatLine(group_id, r[0], r[1], _dt(r[2]), own=bool(r[3]), system=bool(r[4]))
            for r in rows
        ]

    # ------------------------------------------------------------------ settings

    def get_setting(self, key: str) -> str | None:
        """A stored setting, or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def delete_setting(self, key: str) -> None:
        """Forget a setting (no error if absent)."""
        with self._lock:
            self._db.execute("DELETE FROM settings WHERE key = ?", (key,))

    def set_settings(
        self, items: Sequence[tuple[str, str]], lines: Sequence[ChatLine] = ()
    ) -> None:
        """Store settings, and ``lines``, in one transaction (a batch of invitations)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO settings (key, value) VALUES (?, ?)"
                    " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    items,
                )
                self._insert_lines(list(map(_row, lines)))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def set_setting(self, key: str, value: str) -> None:
        """Store a setting."""
        with self._lock:
            self._db.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

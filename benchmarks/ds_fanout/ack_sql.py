"""CPU per acknowledgement frame in SQLite alone: schema 1's mail box (a trigger that
lowers a body's holder count per deleted row and deletes the body at zero), the same
work as set-based statements per frame, and schema 2 (the service's since the sixth
session: mail-box rows deleted, counts lowered once per body when the transaction ends).

    uv run --no-sync python benchmarks/ds_fanout/ack_sql.py [--repeat 3]

3,000 messages to 9 recipients each (1000 TNs in groups of 10, as in run.py's
C = 1000, G = 10), then every recipient acknowledges its mids 8 at a time (about what a
client acks per second there), 100 acks per transaction. Prints µs of process CPU per
ack frame for each variant and repetition, with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE messages (mid INTEGER PRIMARY KEY AUTOINCREMENT, data BLOB NOT NULL,
                       holders INTEGER NOT NULL);
CREATE TABLE mailbox (tn TEXT NOT NULL, mid INTEGER NOT NULL, PRIMARY KEY (tn, mid))
    WITHOUT ROWID;
"""
TRIGGER = """
CREATE TRIGGER mailbox_release AFTER DELETE ON mailbox BEGIN
    UPDATE messages SET holders = holders - 1 WHERE mid = OLD.mid;
    DELETE FROM messages WHERE mid = OLD.mid AND holders <= 0;
END;
"""


def filled(path: Path, trigger: bool) -> tuple[sqlite3.Connection, list[tuple[str, list[int]]]]:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA + (TRIGGER if trigger else ""))
    tns = [f"1555{i:07d}" for i in range(1000)]
    mids: dict[str, list[int]] = {tn: [] for tn in tns}
    db.execute("BEGIN")
    for m in range(3000):
        first = (m % 100) * 10
        recipients = tns[first + 1 : first + 10]
        cursor = db.execute(
            "INSERT INTO messages (data, holders) VALUES (?, ?)", (b"x" * 250, len(recipients))
        )
        mid = cursor.lastrowid
        assert mid is not None
        db.execute(
            "INSERT INTO mailbox (tn, mid) VALUES " + ",".join(["(?, ?)"] * len(recipients)),
            [v for tn in recipients for v in (tn, mid)],
        )
        for tn in recipients:
            mids[tn].append(mid)
    db.execute("COMMIT")
    acks = [(tn, ms[i : i + 8]) for tn, ms in mids.items() for i in range(0, len(ms), 8)]
    return db, acks


def release(db: sqlite3.Connection, released: list[int]) -> None:
    """Schema 2's end of a transaction: each body's count lowered once."""
    counts: dict[int, int] = {}
    for mid in released:
        counts[mid] = counts.get(mid, 0) + 1
    released.clear()
    db.executemany(
        "UPDATE messages SET holders = holders - ? WHERE mid = ?",
        [(n, mid) for mid, n in counts.items()],
    )
    mids = sorted(counts)
    for i in range(0, len(mids), 500):
        chunk = mids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        db.execute(f"DELETE FROM messages WHERE mid IN ({marks}) AND holders <= 0", chunk)


def run(variant: str) -> float:
    trigger = variant == "trigger"
    with tempfile.TemporaryDirectory() as tmp:
        db, acks = filled(Path(tmp) / "acks.sqlite", trigger)
        released: list[int] = []
        cpu0 = time.process_time()
        db.execute("BEGIN")
        for n, (tn, chunk) in enumerate(acks, 1):
            marks = ",".join("?" * len(chunk))
            if variant == "schema 2":  # as SQLiteStorage.ack and _release_bodies
                present = [
                    mid
                    for (mid,) in db.execute(
                        f"SELECT mid FROM mailbox WHERE tn = ? AND mid IN ({marks})", (tn, *chunk)
                    )
                ]
                db.execute(f"DELETE FROM mailbox WHERE tn = ? AND mid IN ({marks})", (tn, *chunk))
                released.extend(present)
                if n % 100 == 0:
                    release(db, released)
                    db.execute("COMMIT")
                    db.execute("BEGIN")
                continue
            gone = [
                mid
                for (mid,) in db.execute(
                    f"DELETE FROM mailbox WHERE tn = ? AND mid IN ({marks}) RETURNING mid",
                    (tn, *chunk),
                )
            ]
            if not trigger and gone:
                marks = ",".join("?" * len(gone))
                db.execute(
                    f"UPDATE messages SET holders = holders - 1 WHERE mid IN ({marks})", gone
                )
                db.execute(f"DELETE FROM messages WHERE mid IN ({marks}) AND holders <= 0", gone)
            if n % 100 == 0:
                db.execute("COMMIT")
                db.execute("BEGIN")
        release(db, released)
        db.execute("COMMIT")
        cpu = time.process_time() - cpu0
        (left,) = db.execute("SELECT COUNT(*) FROM messages").fetchone()
        assert left == 0  # every body released
        db.close()
        return cpu / len(acks) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out: dict[str, object] = {"load_average_at_start": os.getloadavg()}
    for name, variant in (
        ("schema 1 (trigger)", "trigger"),
        ("set-based", "set-based"),
        ("schema 2 (the service's)", "schema 2"),
    ):
        out[f"{name}: CPU us per ack frame of 8 mids"] = [
            round(run(variant), 1) for _ in range(args.repeat)
        ]
    out["load_average_at_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

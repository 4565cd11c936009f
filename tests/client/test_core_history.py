"""The history database: lines, groups, and exactly-once handling of deliveries."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from client.core.backoff import Backoff
from client.core.chat_payload import (
    MAX_TEXT,
    PayloadError,
    Text,
    Title,
    decode_payload,
    encode_payload,
)
from client.core.events import ChatLine
from client.core.history import ChatHistory, HistoryError

G = b"group-1"
T = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def line(text: str, **kw: bool) -> ChatLine:
    return ChatLine(G, "Bob", text, T, **kw)


def test_lines_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite"
    h = ChatHistory(path)
    h.add_group(G, "Family")
    assert h.add_lines([line("one"), line("two", own=True)], mid=10)
    h.close()
    h = ChatHistory(path)
    assert [(x.text, x.own) for x in h.lines(G)] == [("one", False), ("two", True)]
    assert h.lines(G)[0].sent_at == T
    assert h.groups()[0].title == "Family"


def test_redelivered_mid_is_stored_once(tmp_path: Path) -> None:
    h = ChatHistory(tmp_path / "h.sqlite")
    assert h.add_lines([line("hello")], mid=42)
    assert not h.add_lines([line("hello")], mid=42)
    assert [x.text for x in h.lines(G)] == ["hello"]
    assert h.is_handled(42) and not h.is_handled(43)
    h.mark_handled([43, 43])
    assert h.is_handled(43)


def test_a_batch_is_stored_in_order_once_per_mid(tmp_path: Path) -> None:
    h = ChatHistory(tmp_path / "h.sqlite")
    assert h.add_lines([line("before")], mid=5)
    stored = h.add_batch([(5, [line("again")]), (6, [line("a"), line("b")]), (7, []), (8, [])])
    assert stored == [False, True, True, True]
    assert [x.text for x in h.lines(G)] == ["before", "a", "b"]
    assert h.handled_among([4, 5, 6, 7, 8, 9]) == {5, 6, 7, 8}
    assert not h.add_batch([(6, [line("twice")])])[0]


def test_handle_new_applies_each_mid_once_in_order(tmp_path: Path) -> None:
    h = ChatHistory(tmp_path / "h.sqlite")
    assert h.add_lines([line("before")], mid=5)
    called: list[int] = []

    def apply(position: int) -> list[ChatLine]:
        called.append(position)
        return [line(f"m{position}")] if position != 2 else []  # an unreadable one

    # 5 was handled before (a redelivery): skipped without decrypting it (apply not
    # called), and so is a mid given twice in one burst.
    stored = h.handle_new([5, 6, 7, 8, 6], apply)
    assert called == [1, 2, 3]
    assert [x.text for x in stored] == ["m1", "m3"]
    assert [x.text for x in h.lines(G)] == ["before", "m1", "m3"]
    assert h.handled_among([5, 6, 7, 8, 9]) == {5, 6, 7, 8}
    assert h.handle_new([6, 7], apply) == [] and called == [1, 2, 3]


def test_handle_new_stores_nothing_when_apply_fails(tmp_path: Path) -> None:
    h = ChatHistory(tmp_path / "h.sqlite")

    def apply(position: int) -> list[ChatLine]:
        if position == 1:
            raise RuntimeError("boom")
        return [line(f"m{position}")]

    with pytest.raises(RuntimeError, match="boom"):
        h.handle_new([1, 2], apply)
    assert h.lines(G) == [] and h.handled_among([1, 2]) == set()
    # The history is usable afterwards (the transaction was rolled back, not left open).
    assert [x.text for x in h.handle_new([1, 2], lambda i: [line(f"again{i}")])] == [
        "again0",
        "again1",
    ]


def test_handle_new_may_use_the_history_inside(tmp_path: Path) -> None:
    # A title message renames the group from inside the transaction (same thread).
    h = ChatHistory(tmp_path / "h.sqlite")
    h.add_group(G, "group 1")

    def apply(position: int) -> list[ChatLine]:
        record = h.group(G)
        assert record is not None
        h.set_title(G, record.title + "!")
        return []

    h.handle_new([1, 2], apply)
    record = h.group(G)
    assert record is not None and record.title == "group 1!!"


def test_handled_among_a_large_batch(tmp_path: Path) -> None:
    h = ChatHistory(tmp_path / "h.sqlite")
    h.add_batch([(m, []) for m in range(0, 2000, 2)])  # more mids than one query's variables
    assert h.handled_among(range(2000)) == set(range(0, 2000, 2))


def test_last_n_lines_in_order(tmp_path: Path) -> None:
    h = ChatHistory(tmp_path / "h.sqlite")
    h.add_lines([line(str(i)) for i in range(10)])
    assert [x.text for x in h.lines(G, limit=3)] == ["7", "8", "9"]


def test_group_flags_and_titles(tmp_path: Path) -> None:
    h = ChatHistory(tmp_path / "h.sqlite")
    h.add_group(G, "Group")
    h.set_title(G, "Family")
    h.set_active(G, False)
    assert h.group(G) is not None and not h.group(G).active  # type: ignore[union-attr]
    h.add_group(G, "ignored")  # re-joining keeps the title, marks active
    record = h.group(G)
    assert record is not None and record.active and record.title == "Family"
    assert h.group(b"nope") is None
    h.set_setting("k", "v1")
    h.set_setting("k", "v2")
    assert h.get_setting("k") == "v2" and h.get_setting("x") is None


def test_a_file_made_with_autoincrement_lines_still_works(tmp_path: Path) -> None:
    # Files made before the schema dropped AUTOINCREMENT keep it; new lines still come
    # after the old ones, and redeliveries are still recognised.
    import sqlite3

    from client.core.history import _SCHEMA

    path = tmp_path / "old.sqlite"
    old = _SCHEMA.replace("seq INTEGER PRIMARY KEY,", "seq INTEGER PRIMARY KEY AUTOINCREMENT,")
    assert old != _SCHEMA
    db = sqlite3.connect(path)
    db.executescript(old)
    db.execute(
        "INSERT INTO lines (group_id, sender, body, sent_at, own, system) VALUES (?,?,?,?,?,?)",
        (G, "Bob", "old", T.timestamp(), 0, 0),
    )
    db.commit()
    db.close()
    h = ChatHistory(path)
    assert h.handle_new([1, 1, 2], lambda i: [line(f"new{i}")])
    assert [x.text for x in h.lines(G)] == ["old", "new0", "new2"]
    assert [x.text for x in h.lines(G, limit=2)] == ["new0", "new2"]


def test_not_a_database(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HistoryError, match=r"bad\.sqlite"):
        ChatHistory(bad)


def test_backoff_grows_to_cap_and_resets() -> None:
    b = Backoff(base=1.0, cap=8.0, rng=random.Random(1))
    ceilings = [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    for ceiling in ceilings:
        assert 0.0 <= b.next_delay() <= ceiling
    assert b.failures == len(ceilings)
    b.reset()
    assert b.failures == 0 and b.next_delay() <= 1.0


def test_payload_round_trip_and_errors() -> None:
    for p in (Text("hé 👋"), Title("Family")):
        assert decode_payload(encode_payload(p)) == p
    for bad, complaint in [
        (b"\xff", "UTF-8"),
        (b"[1]", "object"),
        (b'{"k":"text"}', "body"),
        (b'{"k":"title","title":" "}', "title"),
        (b'{"k":"video"}', "unknown"),
    ]:
        with pytest.raises(PayloadError, match=complaint):
            decode_payload(bad)
    with pytest.raises(PayloadError, match="longer"):
        encode_payload(Text("x" * (MAX_TEXT + 1)))


def test_lines_are_stored_at_once_only_while_no_other_thread_uses_the_history(
    tmp_path: Path,
) -> None:
    h = ChatHistory(tmp_path / "history.sqlite")
    h.add_group(G, "Family")
    assert h.add_lines_if_free([line("mine", own=True)])
    inside = threading.Event()
    release = threading.Event()
    answers: list[bool] = []

    def apply(position: int) -> list[ChatLine]:
        inside.set()  # a burst is being applied in a worker thread
        release.wait(10)
        return [line("theirs")]

    worker = threading.Thread(target=h.handle_new, args=([7], apply))
    worker.start()
    assert inside.wait(10)
    answers.append(h.add_lines_if_free([line("not now", own=True)]))
    release.set()
    worker.join(10)
    assert answers == [False]  # busy: nothing stored, the caller goes to a thread
    assert [x.text for x in h.lines(G)] == ["mine", "theirs"]
    h.close()

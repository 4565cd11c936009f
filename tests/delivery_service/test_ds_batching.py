"""WriteBatcher: one transaction per batch, a refused write undoes only itself, pushes
only after the commit (real SQLite file)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import trio

from delivery_service.batching import WriteBatcher
from delivery_service.errors import Refused
from delivery_service.service import Outcome, Push
from delivery_service.sqlite_storage import SQLiteStorage
from delivery_service.storage import NewMessage
from delivery_service.wire_frames import Delivery
from shared.protocol import DeliveryKind, ErrorCode, Ok


@pytest.fixture
def db(tmp_path: Path) -> SQLiteStorage:
    storage = SQLiteStorage(str(tmp_path / "ds.sqlite"))
    yield storage
    storage.close()


def _store(db: SQLiteStorage, data: bytes) -> Outcome:
    mid = db.enqueue(NewMessage(DeliveryKind.APPLICATION, "1", data, b"g", 1), ["2"])
    return Outcome(Ok(re=mid), [Push(mid, frozenset({"2"}), Delivery(data))])


def _store_then_refuse(db: SQLiteStorage) -> Outcome:
    db.enqueue(NewMessage(DeliveryKind.APPLICATION, "1", b"half", b"g", 1), ["2"])
    raise Refused(ErrorCode.FORBIDDEN, "refused after a write")


async def test_batch_is_one_transaction_and_pushes_after_commit(db: SQLiteStorage) -> None:
    pushed: list[int] = []
    batcher = WriteBatcher(db, lambda pushes: pushed.extend(p.mid for p in pushes))
    outcomes: list[Outcome] = []

    async def write(data: bytes) -> None:
        outcomes.append(await batcher.run(lambda: _store(db, data)))

    async with trio.open_nursery() as nursery:
        await nursery.start(batcher.serve)
        async with trio.open_nursery() as writers:
            for data in (b"a", b"b", b"c"):
                writers.start_soon(write, data)
        nursery.cancel_scope.cancel()
    assert batcher.transactions == 1 and batcher.writes == 3 and batcher.retries == 0
    assert sorted(pushed) == [m.mid for m in db.pending("2")]
    assert len(outcomes) == 3


async def test_a_refused_write_undoes_only_itself(db: SQLiteStorage) -> None:
    pushed: list[int] = []
    batcher = WriteBatcher(db, lambda pushes: pushed.extend(p.mid for p in pushes))
    results: list[object] = []

    async def write(fn: object) -> None:
        try:
            results.append(await batcher.run(fn))  # type: ignore[arg-type]
        except Refused as exc:
            results.append(exc.code)

    async with trio.open_nursery() as nursery:
        await nursery.start(batcher.serve)
        async with trio.open_nursery() as writers:
            writers.start_soon(write, lambda: _store(db, b"before"))
            writers.start_soon(write, lambda: _store_then_refuse(db))
            writers.start_soon(write, lambda: _store(db, b"after"))
        nursery.cancel_scope.cancel()
    # The plain run failed, was rolled back, and ran again with a savepoint per write.
    assert batcher.retries == 1 and batcher.transactions == 1
    assert ErrorCode.FORBIDDEN in results
    assert sorted(m.data for m in db.pending("2")) == [b"after", b"before"]  # not b"half"
    assert pushed == [m.mid for m in db.pending("2")]


async def test_window_gathers_writes_that_arrive_within_it(db: SQLiteStorage) -> None:
    batcher = WriteBatcher(db, lambda pushes: None, window=0.05)

    async def write(data: bytes, delay: float) -> None:
        await trio.sleep(delay)
        await batcher.run(lambda: _store(db, data))

    async with trio.open_nursery() as nursery:
        await nursery.start(batcher.serve)
        async with trio.open_nursery() as writers:
            writers.start_soon(write, b"a", 0.0)
            writers.start_soon(write, b"b", 0.01)
        nursery.cancel_scope.cancel()
    assert batcher.transactions == 1 and batcher.writes == 2


async def test_a_fan_out_in_parts_ends_before_its_answers_and_the_next_batch(
    db: SQLiteStorage,
) -> None:
    # A large fan-out lets other tasks run between its parts (deliver returns an
    # awaitable); its writers hear back only after it, and the next transaction waits.
    events: list[str] = []

    async def in_parts(mids: list[int]) -> None:
        events.append(f"fan-out {mids} begins")
        await trio.lowlevel.checkpoint()
        events.append(f"fan-out {mids} ends")

    def deliver(pushes: list[Push]) -> Awaitable[None]:
        return in_parts([p.mid for p in pushes])

    batcher = WriteBatcher(db, deliver, max_batch=1)

    def stored(data: bytes) -> Outcome:
        events.append(f"transaction {data.decode()}")
        return _store(db, data)

    def answered(outcome: Outcome | None, refusal: Refused | None) -> None:
        assert outcome is not None and isinstance(outcome.reply, Ok) and refusal is None
        events.append(f"answer {outcome.reply.re}")

    async with trio.open_nursery() as nursery:
        await nursery.start(batcher.serve)
        for data in (b"a", b"b"):  # both queued before the first commit
            batcher.submit(functools.partial(stored, data), answered)
        while len(events) < 8:
            await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert [e.split()[0] for e in events] == ["transaction", "fan-out", "fan-out", "answer"] * 2
    for first in (0, 4):
        mid = int(events[first + 3].split()[1])
        assert events[first + 1 : first + 3] == [f"fan-out {[mid]} begins", f"fan-out {[mid]} ends"]


async def test_writes_after_pushes_commit_after_the_batch_is_pushed(db: SQLiteStorage) -> None:
    # An acknowledgement (after_pushes) goes in a second transaction, after the batch's
    # messages were committed and pushed; every writer hears back in submission order.
    events: list[str] = []

    def deliver(pushes: list[Push]) -> None:
        events.append(f"pushed {[p.mid for p in pushes]}")

    batcher = WriteBatcher(db, deliver)
    with db.transaction():
        old = db.enqueue(NewMessage(DeliveryKind.APPLICATION, "1", b"old", b"g", 1), ["2"])

    def ack() -> Outcome:
        events.append("ack runs")
        assert db.ack("2", [old]) == []
        return Outcome(Ok(re=old))

    def store(data: bytes) -> Outcome:
        events.append(f"store {data.decode()}")
        return _store(db, data)

    def answered(name: str) -> Callable[[Outcome | None, Refused | None], None]:
        return lambda outcome, refusal: events.append(f"answer {name}")

    async with trio.open_nursery() as nursery:
        await nursery.start(batcher.serve)
        batcher.submit(functools.partial(store, b"a"), answered("a"))
        batcher.submit(ack, answered("ack"), after_pushes=True)
        batcher.submit(functools.partial(store, b"b"), answered("b"))
        while len(events) < 7:
            await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    a, b = (m.mid for m in db.pending("2"))
    assert events == [
        "store a",
        "store b",
        f"pushed {[a, b]}",
        "ack runs",
        "answer a",
        "answer ack",
        "answer b",
    ]
    assert batcher.transactions == 2
    assert db.stored_message_count() == 2  # the acked body was released

"""Calls from worker threads (threading, trio.to_thread) run concurrently without harm."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import openmls as m
import trio

from .conftest import Client, assert_same_epoch, deliver_commit, join, make_client


def group_of(n: int) -> list[Client]:
    """A group of n members (index i = client i)."""
    clients = [make_client() for _ in range(n)]
    first = clients[0]
    first.group = m.Group.create(first.provider, first.signer, first.credential)
    if n > 1:
        bundle = first.g.add_members([c.key_package() for c in clients[1:]])
        deliver_commit(first, bundle, [])
        for c in clients[1:]:
            join(c, bundle.welcome or b"")
    return clients


def test_many_threads_on_shared_and_separate_groups() -> None:
    workers = 6
    # One shared group: member 0 receives from every worker's own sender, concurrently.
    shared = group_of(workers + 1)
    receiver = shared[0]
    errors: list[BaseException] = []

    def chatter(i: int) -> None:
        try:
            # A separate group per worker: fully parallel work.
            x, y = group_of(2)
            for j in range(5):
                got = y.g.process_message(x.g.create_message(f"{i}:{j}".encode()))
                assert isinstance(got, m.ApplicationMessage)
            deliver_commit(x, x.g.self_update(), [y])
            assert_same_epoch([x, y])
            # The shared group: one Group object used by all workers at once.
            sender = shared[i + 1]
            for j in range(5):
                got = receiver.g.process_message(sender.g.create_message(f"s{i}:{j}".encode()))
                assert isinstance(got, m.ApplicationMessage)
                assert got.sender.index == i + 1
                _ = receiver.g.members, receiver.g.epoch, receiver.g.epoch_authenticator()
        except BaseException as e:  # collected and re-raised in the test thread
            errors.append(e)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(chatter, range(workers)))
    assert errors == []
    assert_same_epoch(shared)


def test_gil_is_released_during_heavy_work() -> None:
    """A Python thread keeps running while another thread creates commits."""
    (a,) = group_of(1)
    ticks = 0
    stop = threading.Event()

    def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1

    t = threading.Thread(target=ticker)
    t.start()
    try:
        for _ in range(5):
            a.g.self_update()
            a.g.clear_pending_commit()
    finally:
        stop.set()
        t.join()
    assert ticks > 0


async def test_trio_to_thread() -> None:
    tasks = 8
    clients = group_of(tasks + 1)
    receiver = clients[0]
    received: list[bytes] = []

    async def send_and_receive(i: int) -> None:
        sender = clients[i + 1]
        for j in range(3):
            wire = await trio.to_thread.run_sync(sender.g.create_message, f"m{i}.{j}".encode())
            got = await trio.to_thread.run_sync(receiver.g.process_message, wire)
            assert isinstance(got, m.ApplicationMessage)
            received.append(got.data)

    async with trio.open_nursery() as nursery:
        for i in range(tasks):
            nursery.start_soon(send_and_receive, i)
    assert sorted(received) == sorted(f"m{i}.{j}".encode() for i in range(tasks) for j in range(3))

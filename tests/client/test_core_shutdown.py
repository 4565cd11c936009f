"""A client that stops closes its files itself (real OpenMLS, real SQLite files, a real
delivery service on loopback): the binding's state and the history are closed when
``run`` ends, not left to the garbage collector, and a restart reads both back."""

from __future__ import annotations

import math
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio
from client_world import (  # noqa: F401 (fixtures)
    ALICE,
    RunningClient,
    World,
    connected,
    create_group,
    start_client_fixture,
    world_fixture,
)

from client.core.client import ChatClient
from client.core.events import (
    Command,
    CoreEvent,
    CreateGroup,
    EpochChanged,
    HistoryLoaded,
    MessageReceived,
    SendText,
    Shutdown,
)
from client.core.profile import ClientProfile, load_profile

Start = Callable[[str, ClientProfile], Awaitable[RunningClient]]


async def test_a_stopped_client_has_closed_its_files_and_restarts_from_them(
    world: World, start_client: Start
) -> None:
    profile = world.new_profile("alice", ALICE)
    alice = await start_client("alice", profile)
    await alice.wait_for(connected)
    gid = await create_group(alice, "Book club")
    await alice.command(SendText(gid, "kept across the restart"))
    await alice.wait_for(lambda e: isinstance(e, MessageReceived) and e.line.own)
    epoch = [e for e in alice.events if isinstance(e, EpochChanged)][-1].safety.epoch
    # While it runs, both SQLite files are open in WAL mode (their -wal files exist).
    assert (profile.mls_path.parent / (profile.mls_path.name + "-wal")).exists()
    assert (profile.history_path.parent / (profile.history_path.name + "-wal")).exists()

    await alice.command(Shutdown("test"))
    await alice.done.wait()
    # Closed by the client (the last connection to a WAL file checkpoints it and
    # removes the -wal file), while the test still holds the ChatClient object.
    assert alice.core is not None and not alice.core.slots
    assert not (profile.mls_path.parent / (profile.mls_path.name + "-wal")).exists()
    assert not (profile.history_path.parent / (profile.history_path.name + "-wal")).exists()

    again = await start_client("alice-again", profile)
    loaded = await again.wait_for(lambda e: isinstance(e, HistoryLoaded) and e.group_id == gid)
    assert isinstance(loaded, HistoryLoaded)
    assert "kept across the restart" in [line.text for line in loaded.lines]
    code = await again.wait_for(lambda e: isinstance(e, EpochChanged) and e.group_id == gid)
    assert isinstance(code, EpochChanged) and code.safety.epoch == epoch
    await again.command(Shutdown("test"))
    await again.done.wait()


async def test_a_client_that_keeps_its_storage_leaves_it_as_a_crash_would_and_it_reads_back(
    world: World, start_client: Start, tmp_path: Path
) -> None:
    # A scenario worker's clients: the process exits right after they stop, so the MLS
    # storage is not closed (no checkpoint). Its write-ahead log holds every change;
    # a copy of the files as they are then (what a crash leaves) opens with all of it.
    profile = world.new_profile("alice", ALICE)
    events: list[CoreEvent] = []
    send, receive = trio.open_memory_channel[Command](math.inf)
    core = ChatClient(load_profile(profile.directory), events.append, release_storage=False)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(core.run, receive)
        with trio.fail_after(20):
            while not any(connected(e) for e in events):
                await trio.sleep(0.01)
            await send.send(CreateGroup("Book club"))
            while not core.slots:
                await trio.sleep(0.01)
            gid = next(iter(core.slots))
            await send.send(SendText(gid, "in the log only"))
            while not any(isinstance(e, MessageReceived) and e.line.own for e in events):
                await trio.sleep(0.01)
            epoch = core.slots[gid].group.epoch
            await send.send(Shutdown("test"))
    assert core.slots  # kept: the storage is still open
    assert (profile.mls_path.parent / (profile.mls_path.name + "-wal")).exists()
    crashed = tmp_path / "crashed"
    shutil.copytree(profile.directory, crashed)

    again = await start_client("again", load_profile(crashed))
    loaded = await again.wait_for(lambda e: isinstance(e, HistoryLoaded) and e.group_id == gid)
    assert isinstance(loaded, HistoryLoaded)
    assert "in the log only" in [line.text for line in loaded.lines]
    code = await again.wait_for(lambda e: isinstance(e, EpochChanged) and e.group_id == gid)
    assert isinstance(code, EpochChanged) and code.safety.epoch == epoch
    await again.command(Shutdown("test"))
    await again.done.wait()

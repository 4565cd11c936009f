"""A client that stops closes its files itself (real OpenMLS, real SQLite files, a real
delivery service on loopback): the binding's state and the history are closed when
``run`` ends, not left to the garbage collector, and a restart reads both back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from client_world import (  # noqa: F401 (fixtures)
    ALICE,
    RunningClient,
    World,
    create_group,
    start_client_fixture,
    world_fixture,
)

from client.core.events import (
    ConnectionChanged,
    ConnectionState,
    CoreEvent,
    EpochChanged,
    HistoryLoaded,
    MessageReceived,
    SendText,
    Shutdown,
)
from client.core.profile import ClientProfile

Start = Callable[[str, ClientProfile], Awaitable[RunningClient]]


def connected(e: CoreEvent) -> bool:
    return isinstance(e, ConnectionChanged) and e.state is ConnectionState.CONNECTED


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

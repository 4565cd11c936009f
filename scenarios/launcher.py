"""How the engine starts a real client: the one narrow seam to the client core.

The engine talks to a client only through ``client.core.events`` commands and events.
Starting one (where its files live, which URL it dials, which key and credential it
holds) is the client core's own API, adapted here and nowhere else.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import trio

from client.core import events as ev

if TYPE_CHECKING:
    from client.core.client import ChatClient
from scenarios.errors import EngineUnavailable
from scenarios.model import Actor
from scenarios.reconnect import scenario_backoff
from scenarios.run_pki import MemberKey


@dataclass(frozen=True)
class ClientSpec:
    """Everything one client needs to run as ``actor`` in this run."""

    actor: Actor
    profile_dir: Path  # its SQLite files: MLS state, history, identity
    service_url: str  # the relay's address for this actor
    ds_id: str
    trust_dir: Path  # anchors + SPC assignments (no CA keys)
    key: MemberKey  # its MLS signature key
    # The certificate chain (leaf first, DER) a certificate-holding actor (tn-cert,
    # spc-cert) gets for its key; PASSporT actors ask their carrier over the protocol
    # (the run's relay answers).
    chain: Callable[[bytes], tuple[bytes, ...]]
    provider_secret: str = "scenario"


class ClientHandle(Protocol):
    """A running client."""

    async def send(self, command: ev.Command) -> None:
        """Give the client a command, as its user interface would."""
        ...

    def events(self) -> AsyncIterator[ev.CoreEvent]:
        """The client's events, in order, until it stops."""
        ...

    async def stop(self) -> None:
        """Stop the client cleanly (its files stay for a restart)."""
        ...


class ClientLauncher(Protocol):
    """Starts clients inside the engine's nursery."""

    async def launch(self, nursery: trio.Nursery, spec: ClientSpec) -> ClientHandle:
        """Start one client; returns once it runs (it may still be connecting)."""
        ...


# The readiness check looks for this: the adapter below is written.
CLIENT_ADAPTER_READY = True
# The client core's runner (issue 5) that the adapter wraps.
CORE_MODULE = "client.core.client"
CORE_CLASS = "ChatClient"


class CoreClientHandle:
    """A ``ChatClient`` running in the engine's nursery, seen as a ``ClientHandle``."""

    def __init__(self) -> None:
        self._commands_in, self._commands_out = trio.open_memory_channel[ev.Command](math.inf)
        self._events_in, self._events_out = trio.open_memory_channel[ev.CoreEvent](math.inf)
        self._done = trio.Event()

    def emit(self, event: ev.CoreEvent) -> None:
        """The core's ``emit``: never blocks (the channel is unbounded)."""
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            self._events_in.send_nowait(event)

    async def run(self, client: ChatClient) -> None:
        try:
            await client.run(self._commands_out)
        finally:
            self._done.set()
            await self._events_in.aclose()

    async def send(self, command: ev.Command) -> None:
        """Give the client a command (never blocks: the channel is unbounded, and a
        stream of sends is handed over without a scheduler pass per command)."""
        self._commands_in.send_nowait(command)

    async def events(self) -> AsyncIterator[ev.CoreEvent]:
        """The client's events until it stops."""
        async for event in self._events_out:
            yield event

    async def stop(self) -> None:
        """Shut the client down cleanly (its files stay)."""
        if not self._done.is_set():
            await self._commands_in.send(ev.Shutdown("scenario"))
            with trio.move_on_after(10):
                await self._done.wait()


class CoreLauncher:
    """Launches clients through the client core's ``ChatClient`` (issue 5).

    The profile directory is made on the first launch (key, certificate chain, trust
    store, the relay's address as the service URL) and reused on a restart.
    """

    async def launch(self, nursery: trio.Nursery, spec: ClientSpec) -> ClientHandle:
        from client.core.client import ChatClient
        from client.core.profile import KINDS, PROFILE_FILE, create_profile, load_profile

        if spec.actor.credential not in KINDS:
            raise EngineUnavailable(
                (f"{spec.actor.credential} credentials in the client core's profiles (issue 5)",)
            )
        if (spec.profile_dir / PROFILE_FILE).exists():
            profile = load_profile(spec.profile_dir)
        else:
            passport = spec.actor.credential == "passport"
            profile = create_profile(
                spec.profile_dir,
                tn=spec.actor.tn,
                ds_url=spec.service_url,
                private_key=spec.key.private_key,
                # PASSporT members fetch theirs per group from their carrier, which
                # the run's relay plays (scenarios.carrier.RunCarrier).
                chain=() if passport else spec.chain(spec.key.public_point),
                trust_dir=spec.trust_dir,
                kind=spec.actor.credential,
                ds_id=spec.ds_id,
                provider_secret=spec.provider_secret if passport else None,
            )
        handle = CoreClientHandle()
        nursery.start_soon(handle.run, ChatClient(profile, handle.emit, backoff=scenario_backoff()))
        return handle

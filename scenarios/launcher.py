"""How the engine starts a real client: the one narrow seam to the client core.

The engine talks to a client only through ``client.core.events`` commands and events.
Starting one (where its files live, which URL it dials, which key and credential it
holds) is the client core's own API, adapted here and nowhere else.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import trio

from client.core import events as ev
from scenarios.errors import EngineUnavailable
from scenarios.model import Actor
from scenarios.run_pki import IssuedCredential, MemberKey


@dataclass(frozen=True)
class ClientSpec:
    """Everything one client needs to run as ``actor`` in this run."""

    actor: Actor
    profile_dir: Path  # its SQLite files: MLS state, history, identity
    service_url: str  # the relay's address for this actor
    ds_id: str
    trust_dir: Path  # anchors + SPC assignments (no CA keys)
    key: MemberKey  # its MLS signature key
    # The credential a certificate-holding actor (tn-cert, spc-cert) uses; PASSporT
    # actors ask their carrier over the protocol (the run's relay answers).
    credential: Callable[[bytes], IssuedCredential]
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


# The client core's runner (issue 5), which this adapter wraps once it lands; the
# readiness check looks for the same name.
CORE_MODULE = "client.core.client"
CORE_CLASS = "ClientCore"


class CoreLauncher:
    """Launches clients through the client core's runner.

    Until the runner exists this raises EngineUnavailable naming it; it never stands
    in for a client.
    """

    async def launch(self, nursery: trio.Nursery, spec: ClientSpec) -> ClientHandle:
        try:
            module = importlib.import_module(CORE_MODULE)
        except ModuleNotFoundError:
            module = None
        if module is None or not hasattr(module, CORE_CLASS):
            raise EngineUnavailable((f"the client core's runner {CORE_MODULE}.{CORE_CLASS}",))
        raise EngineUnavailable(
            (f"the adapter from {CORE_MODULE}.{CORE_CLASS} to ClientHandle (scenarios.launcher)",)
        )

"""A real delivery service for a run: in this process, on loopback, SQLite in the run dir.

It can be stopped and started again on the same database file (the ``restart`` step);
each start binds a fresh port, so clients reach it through the run's relay, whose
address does not change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from shared.stir.trust import TrustStore


class ServiceHost:
    """Starts, stops and restarts one delivery service (``delivery_service`` package)."""

    def __init__(self, ds_id: str, db_path: Path, trust: TrustStore) -> None:
        self.ds_id = ds_id
        self.db_path = db_path
        self.trust = trust
        self.url: str | None = None
        self.starts = 0
        self._scope: trio.CancelScope | None = None
        self._storage: Any = None
        self._stopped = trio.Event()

    async def start(self, nursery: trio.Nursery) -> str:
        """Start serving; returns ``ws://127.0.0.1:PORT/``."""
        self.url = await nursery.start(self._serve)
        self.starts += 1
        return self.url

    async def stop(self) -> None:
        """Stop serving and close the database (as a process exit would)."""
        if self._scope is not None:
            self._scope.cancel()
            await self._stopped.wait()
        self.url = None

    async def restart(self, nursery: trio.Nursery) -> str:
        """Stop, then start again on the same database file."""
        await self.stop()
        return await self.start(nursery)

    async def _serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        # Imported here: the scenario package loads (and validates files) without them.
        from delivery_service.credentials import StirIdentifier
        from delivery_service.sequencer import CommitSequencer
        from delivery_service.server import DeliveryServer
        from delivery_service.service import DeliveryCore
        from delivery_service.sqlite_storage import SQLiteStorage

        self._stopped = trio.Event()
        storage = SQLiteStorage(str(self.db_path))
        try:
            identifier = StirIdentifier(self.trust)
            core = DeliveryCore(self.ds_id, storage, identifier)
            server = DeliveryServer(core, CommitSequencer(identifier))
            with trio.CancelScope() as scope:
                self._scope = scope
                async with trio.open_nursery() as nursery:
                    port = await nursery.start(server.serve_websocket, "127.0.0.1", 0)
                    task_status.started(f"ws://127.0.0.1:{port}/")
        finally:
            self._scope = None
            storage.close()
            self._stopped.set()

"""Fixtures: a real delivery service on loopback with a fresh demo STI PKI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
from ds_constants import DS_ID, PROVIDER_RANGE, PROVIDER_SPC

from delivery_service.credentials import StirIdentifier
from delivery_service.limits import Limits
from delivery_service.sequencer import CommitSequencer
from delivery_service.server import DeliveryServer
from delivery_service.service import DeliveryCore
from delivery_service.sqlite_storage import SQLiteStorage
from shared.stir.pki import DemoPKI, IssuedCert


@dataclass
class RunningDS:
    """A delivery service serving on loopback."""

    url: str
    server: DeliveryServer
    storage: SQLiteStorage
    db_path: Path


@pytest.fixture
def pki(tmp_path: Path) -> DemoPKI:
    return DemoPKI.init(tmp_path / "pki")


@pytest.fixture
def provider_ca(pki: DemoPKI) -> IssuedCert:
    """The provider's SPC-level CA, which issues members' delegate certificates."""
    return pki.issue_spc("Acme Telecom", PROVIDER_SPC, [PROVIDER_RANGE], ca=True)


@pytest.fixture
async def start_ds(
    nursery: trio.Nursery, tmp_path: Path, pki: DemoPKI, provider_ca: IssuedCert
) -> AsyncIterator[Callable[..., object]]:
    """``await start_ds(limits=..., db=..., batch_window=..., latency_trace=...)`` ->
    RunningDS on 127.0.0.1 (random port)."""
    opened: list[SQLiteStorage] = []

    async def start(
        limits: Limits | None = None,
        db: Path | None = None,
        passport_issuer: Any = None,
        batch_window: float = 0.0,
        latency_trace: Any = None,
    ) -> RunningDS:
        db_path = db or tmp_path / "ds.sqlite"
        storage = SQLiteStorage(str(db_path))
        opened.append(storage)
        identifier = StirIdentifier(pki.trust_store())
        core = DeliveryCore(DS_ID, storage, identifier, limits=limits or Limits())
        server = DeliveryServer(
            core,
            CommitSequencer(identifier),
            passport_issuer=passport_issuer,
            batch_window=batch_window,
            latency_trace=latency_trace,
        )
        port = await nursery.start(server.serve_websocket, "127.0.0.1", 0)
        return RunningDS(f"ws://127.0.0.1:{port}/", server, storage, db_path)

    yield start
    for storage in opened:
        storage.close()

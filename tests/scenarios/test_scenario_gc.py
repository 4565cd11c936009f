"""The runner's process collects garbage on a schedule while a run is on, and gives
Python's own policy back after it (a real run: PKI, service, relay, clients)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from delivery_service.garbage_collection import YOUNG_COLLECTION_THRESHOLD
from scenarios.engine import RealEngine, Timeouts
from scenarios.library_files import load_library_scenario
from scenarios.readiness import missing_pieces
from scenarios.results import Event
from scenarios.transcript import Recorder

MISSING = missing_pieces()


@pytest.mark.skipif(bool(MISSING), reason="needs " + "; ".join(MISSING))
async def test_full_collections_wait_for_their_schedule_during_a_run_only(tmp_path: Path) -> None:
    before = gc.get_threshold()
    during: list[tuple[int, int, int]] = []

    def look(event: Event) -> None:
        if event.kind == "step" and not during:
            during.append(gc.get_threshold())

    recorder = Recorder(tmp_path / "transcript.jsonl")
    recorder.listen(look)
    engine = RealEngine(timeouts=Timeouts(step=10.0, delivery=2.0))
    with recorder:
        result = await engine.run(load_library_scenario("three_friends"), tmp_path, recorder)
    assert result.error is None, result.error
    young, _, full = during[0]
    assert young == YOUNG_COLLECTION_THRESHOLD and full >= 2**30
    assert gc.get_threshold() == before

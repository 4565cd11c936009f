"""The latency trace (``serve --latency-trace``): one row per stored ``send``, with its
stage times in order, so that a benchmark can split each delivery's latency by stage."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from mls_member import three_in_a_group

from delivery_service.latency_trace import FIELDS, LatencyTrace
from shared.protocol import Sent
from shared.stir.pki import DemoPKI, IssuedCert

GID = b"trace-group"
ALICE, BOB, CAROL = "12025550111", "12025550112", "12025550113"


async def test_each_stored_send_gets_its_stage_times_in_order(
    start_ds: Callable[..., Any], pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    trace = LatencyTrace()
    ds = await start_ds(latency_trace=trace)
    async with AsyncExitStack() as stack:
        alice, bob, carol = await three_in_a_group(
            ds.url, stack, pki, provider_ca, GID, (ALICE, BOB, CAROL)
        )
        trace.reset()  # the group's set-up (commits, Welcomes) is not traced anyway
        mids = []
        for text in ("one", "two", "three"):
            sent = await alice.say(GID, text)
            assert isinstance(sent, Sent)
            mids.append(sent.mid)
        await bob.pump(3)
        await carol.pump(3)
    report = trace.report()
    assert report["fields"] == list(FIELDS)
    rows = report["rows"]
    assert [row[0] for row in rows] == mids  # sends only: commits and acks have no row
    for row in rows:
        _, received, decoded, started, committed, fanned_out, txn_cpu, fan_cpu = row
        assert received <= decoded <= started <= committed <= fanned_out
        assert 0 <= txn_cpu <= committed - started + 0.01  # CPU within the stage (+ clock grain)
        assert 0 <= fan_cpu <= fanned_out - committed + 0.01
    trace.reset()
    assert trace.report()["rows"] == []

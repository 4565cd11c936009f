"""A fan-out in parts (``server.FAN_OUT_TURN_SECONDS`` of sends per loop turn): every
recipient still gets every message once, in mid order, including messages stored
while an earlier fan-out was between its parts (real sockets, SQLite, OpenMLS)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest
import trio
from mls_member import three_in_a_group

import delivery_service.server as server_module
from shared.protocol import FEATURE_DELIVERIES, SendMessage, encode_frame
from shared.stir.pki import DemoPKI, IssuedCert

GID = b"fan-out-group"
ALICE, BOB, CAROL = "12025550121", "12025550122", "12025550123"


@pytest.mark.parametrize("features", [(), (FEATURE_DELIVERIES,)])
async def test_a_fan_out_in_parts_delivers_everything_in_order(
    start_ds: Callable[..., Any],
    pki: DemoPKI,
    provider_ca: IssuedCert,
    monkeypatch: pytest.MonkeyPatch,
    features: tuple[str, ...],
) -> None:
    # Each recipient a part: no time per turn, the clock read after every send.
    monkeypatch.setattr(server_module, "FAN_OUT_TURN_SECONDS", 0.0)
    monkeypatch.setattr(server_module, "FLUSHES_PER_CLOCK_READ", 1)
    parts = 0
    flush_rest = server_module.DeliveryServer._flush_rest

    async def counted(self: server_module.DeliveryServer, conns: list[Any], start: int) -> None:
        nonlocal parts
        parts += 1
        await flush_rest(self, conns, start)

    monkeypatch.setattr(server_module.DeliveryServer, "_flush_rest", counted)
    ds = await start_ds()
    async with AsyncExitStack() as stack:
        alice, bob, carol = await three_in_a_group(
            ds.url, stack, pki, provider_ca, GID, (ALICE, BOB, CAROL), features=features
        )
        texts = [f"m{i}" for i in range(12)]
        # Back to back without waiting for answers: several transactions, some of them
        # while an earlier one's fan-out is between its parts.
        for text in texts:
            data = alice.groups[GID].create_message(text.encode())
            frame = SendMessage(alice.c.next_id(), GID, data)
            await alice.c.send_raw(encode_frame(frame))
        with trio.fail_after(20):
            got = {m.tn: await m.pump(len(texts)) for m in (bob, carol)}
        assert bob.texts() == texts and carol.texts() == texts
        for deliveries in got.values():
            mids = [d.mid for d in deliveries]
            assert mids == sorted(set(mids))  # in mid order, each once
        assert bob.c.delivered == carol.c.delivered == deque()  # nothing more came
    assert parts >= 1  # the fan-outs to two recipients went in two parts

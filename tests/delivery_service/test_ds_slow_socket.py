"""Recipients on real sockets that stop reading: the service's non-blocking fan-out
writes hit full socket buffers, leave tails, and every frame still arrives whole, in
order, once, while the sender is never held up."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import trio
from mls_member import Member
from wire_client import WireClient

from delivery_service.transport import WebSocketTransport
from shared.protocol import CommitAccepted, Sent
from shared.stir.pki import DemoPKI, IssuedCert

ALICE, BOB, CAROL = "12025550101", "12025550102", "12025550103"
GID = b"slow-sockets"


async def test_full_socket_buffers_leave_tails_and_nothing_breaks(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    alice, bob, carol = (Member.make(pki, provider_ca, tn) for tn in (ALICE, BOB, CAROL))
    async with AsyncExitStack() as stack:
        for m in (alice, bob, carol):
            await m.register(await stack.enter_async_context(WireClient.connect(ds.url)))
        await bob.publish(1)
        await carol.publish(1)
        await alice.create_group(GID)
        assert isinstance(await alice.add(GID, BOB, CAROL), CommitAccepted)
        await bob.pump(1)
        await carol.pump(1)
        # Bob and Carol read nothing while Alice sends ~8 MiB to each: more than the
        # loopback socket buffers hold, so the server's writes cannot all go out at once.
        count, size = 60, 100_000
        with trio.fail_after(60):
            for i in range(count):
                answer = await alice.say(GID, f"{i:04d}" + "x" * size)
                assert isinstance(answer, Sent), answer
        transports = [ds.server._sessions[tn].transport for tn in (BOB, CAROL)]
        assert all(isinstance(t, WebSocketTransport) for t in transports)
        assert sum(t.partial_sends for t in transports) >= 1
        for m in (bob, carol):
            with trio.fail_after(60):
                got = await m.pump(count, timeout=30)
            assert [d.mid for d in got] == sorted({d.mid for d in got})
            assert [t[:4] for t in m.texts()] == [f"{i:04d}" for i in range(count)]
            assert all(len(t) == size + 4 for t in m.texts())

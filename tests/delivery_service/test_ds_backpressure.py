"""A slow client cannot stall others (its pushes wait in its mail box, reloaded in order
once it reads again), and an idle session times out with a typed error."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import trio
import trio_websocket
from mls_member import Member
from wire_client import WireClient

from delivery_service.limits import Limits
from delivery_service.transport import TransportClosed
from shared.protocol import (
    FEATURE_DELIVERIES,
    Ack,
    CommitAccepted,
    Deliveries,
    DeliveryKind,
    Error,
    ErrorCode,
    Ok,
    Sent,
)
from shared.stir.pki import DemoPKI, IssuedCert

ALICE, BOB, CAROL = "12025550101", "12025550102", "12025550103"
GID = b"backpressure"


class MemoryWS:
    """The in-memory transport with the two methods WireClient uses."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    async def send_message(self, message: str | bytes) -> None:
        await self.transport.send(message)

    async def get_message(self) -> str | bytes:
        try:
            return await self.transport.receive()
        except TransportClosed:
            raise trio_websocket.ConnectionClosed(None) from None


async def test_slow_reader_does_not_stall_the_others(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds(Limits(send_queue_frames=4))
    alice, bob = Member.make(pki, provider_ca, ALICE), Member.make(pki, provider_ca, BOB)
    carol = Member.make(pki, provider_ca, CAROL)
    async with AsyncExitStack() as stack:
        for m in (alice, bob):
            await m.register(await stack.enter_async_context(WireClient.connect(ds.url)))
        # Carol over the in-memory transport with a tiny buffer: it fills at once when
        # she stops reading (a socket would absorb megabytes first).
        # She reads deliveries frames: her reloads come packed, bounded by her queue.
        link = MemoryWS(ds.server.connect_in_memory(buffer=2))
        await carol.register(WireClient(link, features=(FEATURE_DELIVERIES,)))  # type: ignore[arg-type]
        await bob.publish(1)
        await carol.publish(1)
        await alice.create_group(GID)
        assert isinstance(await alice.add(GID, BOB, CAROL), CommitAccepted)
        await bob.pump(1)
        await carol.pump(1)
        # Carol stops reading; Alice keeps sending; Bob gets everything meanwhile.
        count = 60
        with trio.fail_after(60):
            for i in range(count):
                answer = await alice.say(GID, f"{i:04d}")
                assert isinstance(answer, Sent), answer
            await bob.pump(count)
        assert bob.texts() == [f"{i:04d}" for i in range(count)]
        assert ds.storage.mailbox_size(CAROL) == count
        # Her pushes overflowed the small send queue: the server fell back to her mail box.
        carol_outbox = ds.server._sessions[CAROL].outbox
        assert carol_outbox.behind and carol_outbox.loads == 1
        # Carol reads again: everything, in order, once.
        with trio.fail_after(60):
            got = await carol.pump(count)
        assert carol_outbox.loads >= 2 and not carol_outbox.behind
        assert [d.kind for d in got] == [DeliveryKind.APPLICATION] * count
        assert [d.mid for d in got] == sorted({d.mid for d in got})
        assert carol.texts() == [f"{i:04d}" for i in range(count)]
        assert ds.storage.mailbox_size(CAROL) == 0
        reloaded = [mids for kind, mids in carol.c.push_frames if kind is Deliveries]
        assert reloaded and all(1 < len(mids) <= 4 for mids in reloaded)


async def test_idle_session_times_out(start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert) -> None:
    ds = await start_ds(Limits(idle_timeout=0.3))
    alice = Member.make(pki, provider_ca, ALICE)
    async with WireClient.connect(ds.url) as c:
        await alice.register(c)
        err = await c.next_error(timeout=5)
        assert err.code is ErrorCode.TIMEOUT and "idle" in err.detail
        with trio.fail_after(5):
            try:
                while True:
                    await c.ws.get_message()
            except trio_websocket.ConnectionClosed:
                pass
    async with WireClient.connect(ds.url) as c:
        await alice.login(c, with_credential=False)
        answer = await c.request(Ack(id=c.next_id(), mids=()))
        assert isinstance(answer, (Ok, Error))

"""The ``deliveries`` frame end to end (real sockets, SQLite, OpenMLS): a session that
asks for it gets what is ready at once in one frame, in mid order; acking part of a
batch leaves the rest queued for the next session; a session that does not ask for it
gets one ``deliver`` per message."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import trio
from mls_member import Member, three_in_a_group
from wire_client import WireClient

from shared.protocol import (
    FEATURE_DELIVERIES,
    Ack,
    Deliver,
    Deliveries,
    Ok,
    SendMessage,
    Sent,
)
from shared.stir.pki import DemoPKI, IssuedCert

ALICE, BOB, CAROL = "12025550101", "12025550102", "12025550103"
GID = b"batch-group"
BATCH = (FEATURE_DELIVERIES,)


async def test_queued_mail_comes_as_one_frame_and_a_partly_acked_batch_comes_again(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    async with AsyncExitStack() as stack:
        alice, bob, carol = await three_in_a_group(
            ds.url, stack, pki, provider_ca, GID, (ALICE, BOB, CAROL), features=BATCH
        )
        await carol.c.ws.aclose()
        for i in range(6):
            assert isinstance(await alice.say(GID, f"m{i}"), Sent)
        await bob.pump(6)
        # Back online: the six queued messages in one deliveries frame, in mid order.
        async with WireClient.connect(ds.url, features=BATCH) as c:
            await carol.login(c, with_credential=False)
            got = await carol.pump(6, ack=False)
            assert c.push_frames == [(Deliveries, [d.mid for d in got])]
            assert [d.mid for d in got] == sorted({d.mid for d in got})
            assert carol.texts() == [f"m{i}" for i in range(6)]
            # Acknowledge only the first three items of the batch.
            answer = await c.request(Ack(id=c.next_id(), mids=tuple(d.mid for d in got[:3])))
            assert isinstance(answer, Ok)
        assert ds.storage.mailbox_size(CAROL) == 3
        # The unacknowledged half comes again, and only it: one frame, same order.
        async with WireClient.connect(ds.url, features=BATCH) as c:
            await carol.login(c, with_credential=False)
            again = await carol.pump(3, ack=False)
            assert c.push_frames == [(Deliveries, [d.mid for d in got[3:]])]
            assert await c.no_push_within(0.2)
        assert again == got[3:]
        # Without the feature, the same mail comes one deliver frame per message.
        async with WireClient.connect(ds.url) as c:
            await carol.login(c, with_credential=False)
            plain = await carol.pump(3)
            assert c.push_frames == [(Deliver, [d.mid]) for d in got[3:]]
        assert plain == got[3:]
        assert carol.texts() == [f"m{i}" for i in range(6)]  # each once, in order
        assert ds.storage.mailbox_size(CAROL) == 0


async def test_a_burst_stored_together_is_one_frame_for_each_batching_recipient(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    """Two members' messages stored in one transaction (a batch window makes it sure):
    Carol, who asked for deliveries frames, gets both in one frame in mid order; Bob,
    connected again without the feature, gets two deliver frames in the same order."""
    ds = await start_ds(batch_window=0.3)
    async with AsyncExitStack() as stack:
        alice, bob, carol = await three_in_a_group(
            ds.url, stack, pki, provider_ca, GID, (ALICE, BOB, CAROL), features=BATCH
        )
        await bob.c.ws.aclose()
        bob.client = await stack.enter_async_context(WireClient.connect(ds.url))
        await bob.login(bob.c, with_credential=False)
        sent: list[int] = []

        async def say(member: Member, text: str) -> None:
            data = member.groups[GID].create_message(text.encode())
            answer = await member.c.request(
                SendMessage(id=member.c.next_id(), group_id=GID, message=data)
            )
            assert isinstance(answer, Sent)
            sent.append(answer.mid)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(say, alice, "from alice")
            nursery.start_soon(say, bob, "from bob")
        got = await carol.pump(2)
        assert carol.c.push_frames[-1] == (Deliveries, sorted(sent))
        assert [d.mid for d in got] == sorted(sent)
        assert sorted(carol.texts()) == ["from alice", "from bob"]
        (from_alice,) = await bob.pump(1)
        assert bob.c.push_frames == [(Deliver, [from_alice.mid])]

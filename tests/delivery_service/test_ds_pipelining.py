"""Pipelined ``send``/``ack`` frames (real sockets, SQLite, OpenMLS): a client's
back-to-back messages share a transaction and reach a recipient in one frame, the
answers come in request order whatever frames are mixed in, and the number of
unanswered requests per connection is bounded."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import Any

import trio
from mls_member import Member
from wire_client import WireClient

from delivery_service.server import MAX_PIPELINED
from shared.protocol import (
    FEATURE_DELIVERIES,
    Ack,
    CommitAccepted,
    Deliveries,
    DeliveryKind,
    Error,
    ErrorCode,
    Ping,
    Pong,
    SendMessage,
    Sent,
    ServerFrame,
    encode_frame,
)
from shared.stir.pki import DemoPKI, IssuedCert

ALICE, BOB = "12025550101", "12025550102"
GID = b"pipeline-group"


async def _pair(
    url: str, stack: AsyncExitStack, pki: DemoPKI, ca: IssuedCert
) -> tuple[Member, Member]:
    alice, bob = Member.make(pki, ca, ALICE), Member.make(pki, ca, BOB)
    for m in (alice, bob):
        client = WireClient.connect(url, features=(FEATURE_DELIVERIES,))
        await m.register(await stack.enter_async_context(client))
    await bob.publish(1)
    await alice.create_group(GID)
    assert isinstance(await alice.add(GID, BOB), CommitAccepted)
    (welcome,) = await bob.pump(1)
    assert welcome.kind is DeliveryKind.WELCOME
    return alice, bob


async def _answers(client: WireClient, count: int) -> list[ServerFrame]:
    got: list[ServerFrame] = []
    with trio.fail_after(10):
        while len(got) < count:
            frame = await client.read()
            if not client._pushed(frame):
                got.append(frame)
    return got


async def test_back_to_back_sends_share_a_frame_and_answers_keep_request_order(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds(batch_window=0.2)
    async with AsyncExitStack() as stack:
        alice, bob = await _pair(ds.url, stack, pki, provider_ca)
        c = alice.c
        # Without waiting for answers: three messages, a ping, a replayed ack, a fourth
        # message, and a frame that is refused while the others are in the batcher.
        ids = [c.next_id() for _ in range(7)]
        texts = [f"m{i}" for i in range(4)]
        data = [alice.groups[GID].create_message(t.encode()) for t in texts]
        frames = [
            encode_frame(SendMessage(ids[0], GID, data[0])),
            encode_frame(SendMessage(ids[1], GID, data[1])),
            encode_frame(SendMessage(ids[2], GID, data[2])),
            encode_frame(Ping(ids[3])),
            encode_frame(Ack(ids[4], (999_999,))),
            encode_frame(SendMessage(ids[5], GID, data[3])),
            json.dumps({"v": 1, "type": "send", "id": ids[6], "group_id": 7, "message": "AA"}),
        ]
        for text in frames:
            await c.send_raw(text)
        answers = await _answers(c, 7)
        assert [getattr(a, "re", None) for a in answers] == ids
        kinds = [type(a) for a in answers]
        assert kinds == [Sent, Sent, Sent, Pong, Error, Sent, Error]
        assert isinstance(answers[4], Error) and answers[4].code is ErrorCode.UNKNOWN_MESSAGE
        assert isinstance(answers[6], Error) and answers[6].code is ErrorCode.MALFORMED_FRAME
        mids = [a.mid for a in answers if isinstance(a, Sent)]
        assert mids == sorted(mids)
        # The first three were in one transaction: Bob got them in one frame.
        got = await bob.pump(4)
        assert [d.mid for d in got] == mids
        assert bob.texts() == texts
        assert bob.c.push_frames[-2] == (Deliveries, mids[:3])


async def test_unanswered_requests_per_connection_are_bounded(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds(batch_window=0.5)
    async with AsyncExitStack() as stack:
        alice, bob = await _pair(ds.url, stack, pki, provider_ca)
        c = alice.c
        count = MAX_PIPELINED + 20
        ids = [c.next_id() for _ in range(count)]
        for i, request_id in enumerate(ids):
            message = alice.groups[GID].create_message(f"{i}".encode())
            await c.send(SendMessage(request_id, GID, message))
        await trio.sleep(0.2)  # inside the batch window: the reader waits for room
        assert ds.server._sessions[ALICE].inflight == MAX_PIPELINED
        answers = await _answers(c, count)
        assert [a.re for a in answers if isinstance(a, Sent)] == ids
        await bob.pump(count)
        assert bob.texts() == [f"{i}" for i in range(count)]

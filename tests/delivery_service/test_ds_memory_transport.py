"""The same service core over the in-memory transport (for scenarios at scale): a
group of 30 real MLS members joined by one commit, chatting through memory channels."""

from __future__ import annotations

from typing import Any

import trio
from mls_member import Member
from test_ds_backpressure import MemoryWS
from wire_client import WireClient

from shared.protocol import CommitAccepted, DeliveryKind, Sent
from shared.stir.pki import DemoPKI, IssuedCert

GID = b"memory-group"


async def test_thirty_members_over_memory_channels(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    members = [Member.make(pki, provider_ca, f"120255501{50 + i}") for i in range(30)]
    for m in members:
        await m.register(WireClient(MemoryWS(ds.server.connect_in_memory())))  # type: ignore[arg-type]
    for m in members[1:]:
        await m.publish(1)
    creator = members[0]
    await creator.create_group(GID)
    answer = await creator.add(GID, *(m.tn for m in members[1:]))
    assert isinstance(answer, CommitAccepted) and answer.epoch == 1
    with trio.fail_after(60):
        for m in members[1:]:
            (welcome,) = await m.pump(1)
            assert welcome.kind is DeliveryKind.WELCOME
        assert isinstance(await members[7].say(GID, "hello, thirty"), Sent)
        for m in members:
            if m is not members[7]:
                await m.pump(1)
                assert m.texts() == ["hello, thirty"]
    authenticators = {m.groups[GID].epoch_authenticator() for m in members}
    assert len(authenticators) == 1
    record = ds.storage.get_group(GID)
    assert record is not None and len(record.members) == 30

"""Crash safety: SIGKILL the service process in the middle of traffic, restart it on the
same SQLite file: no acknowledged message is lost, nothing reaches the application twice,
and the group's state (rebuilt from the kept GroupInfo) accepts the next commit."""

from __future__ import annotations

import signal
import subprocess
import sys
from contextlib import AsyncExitStack, suppress
from pathlib import Path

import pytest
import trio
import trio_websocket
from ds_constants import DS_ID
from mls_member import Member
from wire_client import WireClient

from shared.protocol import (
    FEATURE_DELIVERIES,
    Ack,
    CommitAccepted,
    Deliveries,
    Error,
    Ok,
    SendMessage,
    Sent,
)
from shared.stir.pki import DemoPKI, IssuedCert

ALICE, BOB = "12025550101", "12025550102"
GID = b"crash-group"
# The members read deliveries frames: the unacknowledged mail after the restart comes
# back batched, and must still be each message once, none of them acknowledged.
BATCH = (FEATURE_DELIVERIES,)
REPO = Path(__file__).resolve().parents[2]


async def _start(db: Path, trust: Path) -> tuple[trio.Process, str]:
    proc = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "client.cli",
            "ds",
            "serve",
            "--db",
            str(db),
            "--port",
            "0",
            "--trust",
            str(trust),
            "--ds-id",
            DS_ID,
        ],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = b""
    with trio.fail_after(30):
        while not line.endswith(b"\n"):
            chunk = await proc.stdout.receive_some(1)
            assert chunk, "the service exited before listening"
            line += chunk
    url = line.decode().split()[4]
    assert url.startswith("ws://127.0.0.1:")
    return proc, url


@pytest.mark.slow  # two service processes start (imports dominate): ~5-15 s
async def test_sigkill_mid_traffic_loses_nothing_acknowledged(
    tmp_path: Path, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    db = tmp_path / "crash.sqlite"
    alice, bob = Member.make(pki, provider_ca, ALICE), Member.make(pki, provider_ca, BOB)
    proc, url = await _start(db, pki.directory)
    sent: dict[int, str] = {}  # mid -> text, for every message the service confirmed
    acked: set[int] = set()  # mids whose ack the service confirmed
    try:
        async with AsyncExitStack() as stack:
            for m in (alice, bob):
                await m.register(
                    await stack.enter_async_context(WireClient.connect(url, features=BATCH))
                )
            await bob.publish(1)
            await alice.create_group(GID)
            assert isinstance(await alice.add(GID, BOB), CommitAccepted)
            await bob.pump(1)

            async def talk() -> None:
                for i in range(10_000):
                    text = f"msg {i}"
                    data = alice.groups[GID].create_message(text.encode())
                    answer = await alice.c.request(
                        SendMessage(id=alice.c.next_id(), group_id=GID, message=data)
                    )
                    assert isinstance(answer, Sent), answer
                    sent[answer.mid] = text

            async def listen() -> None:
                while True:
                    batch = [await bob.c.next_deliver()]
                    while bob.c.delivered:
                        batch.append(bob.c.delivered.popleft())
                    for d in batch:
                        bob.handle(d)
                    answer = await bob.c.request(
                        Ack(id=bob.c.next_id(), mids=tuple(d.mid for d in batch))
                    )
                    assert isinstance(answer, Ok)
                    acked.update(d.mid for d in batch)

            async def kill_when_busy() -> None:
                while len(sent) < 40 or len(acked) < 20:
                    await trio.sleep(0.005)
                proc.send_signal(signal.SIGKILL)

            closed = (trio_websocket.ConnectionClosed, trio.TooSlowError)
            async with trio.open_nursery() as nursery:
                for fn in (talk, listen):

                    async def guard(fn=fn) -> None:
                        with suppress(closed):
                            await fn()

                    nursery.start_soon(guard)
                await kill_when_busy()
        with trio.fail_after(10):
            await proc.wait()
        assert proc.returncode == -signal.SIGKILL
        before = len(bob.received)
        assert sent and acked and before > 0

        # Restart on the same file.
        proc, url = await _start(db, pki.directory)
        async with AsyncExitStack() as stack:
            for m in (alice, bob):
                m.client = await stack.enter_async_context(WireClient.connect(url, features=BATCH))
                await m.login(m.client, with_credential=False)
            missing = {mid for mid in sent if mid not in bob.handled}
            redelivered: list[int] = []
            while missing:
                d = await bob.c.next_deliver(timeout=10)
                redelivered.append(d.mid)
                assert d.mid not in acked, "an acknowledged message came back"
                bob.handle(d)
                missing.discard(d.mid)
            if len(redelivered) > 1:  # the queued mail came batched, in mid order
                kind, mids = bob.c.push_frames[0]
                assert kind is Deliveries and mids == sorted(mids) and len(mids) > 1
            assert await bob.c.request(Ack(id=bob.c.next_id(), mids=tuple(redelivered))) is not None
            texts = bob.texts()
            assert len(texts) == len(set(texts)), "a message reached the application twice"
            assert set(sent.values()) <= set(texts), "a confirmed message was lost"
            # The group's public state is rebuilt from the kept GroupInfo: commits go on.
            answer = await alice.submit(GID, alice.groups[GID].self_update())
            assert isinstance(answer, CommitAccepted) and answer.epoch == 2, answer
            # (Messages stored just before the kill whose "sent" was lost may come first.)
            while bob.groups[GID].epoch < 2:
                await bob.pump(1)
            assert alice.groups[GID].epoch_authenticator() == bob.groups[GID].epoch_authenticator()
            err = await alice.c.request(
                SendMessage(id=alice.c.next_id(), group_id=GID, message=b"\x00")
            )
            assert isinstance(err, Error)  # and the restarted service still refuses junk
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

"""Requests the service drops over its rate limit (``rate_limited``, docs/protocol.md §6)
are sent again after a back-off; a chat message is never silently lost.

The policy (``client.core.pacing.RateLimitedRetry``) is pure and tested with a seeded
random source; the behaviour with a real delivery service on loopback whose frame limit
is far below the client's pacer, real OpenMLS and real sockets.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest
import trio
from client_world import (  # noqa: F401 (fixtures)
    ALICE,
    BOB,
    RunningClient,
    World,
    connected,
    create_group,
    join,
    start_client_fixture,
    world_fixture,
)

from client.core.connection import RequestRefused
from client.core.events import (
    MessageReceived,
    Notice,
    SendText,
    Shutdown,
)
from client.core.pacing import (
    FRAMES_PER_SECOND,
    MIN_FRAMES_PER_SECOND,
    RECOVERY_INTERVAL,
    SLOWDOWN_INTERVAL,
    FramePacer,
    RateLimitedRetry,
)
from delivery_service.limits import Limits
from shared.protocol import ErrorCode, Ping, Pong

Start = Callable[..., Awaitable[RunningClient]]

# Far below the client's pacer (150 frames/s, burst 300): a burst of messages is mostly
# dropped by the service.
TINY = Limits(frames_per_second=20.0, frame_burst=6)
BURST = 30
LONG_BURST = 100  # more than the send window (64): retries hold slots while new ones wait


# ------------------------------------------------------------------ the policy


def test_each_refusal_waits_longer_within_its_jitter_band_up_to_the_cap() -> None:
    policy = RateLimitedRetry(attempts=8, base=0.1, cap=1.0)
    rng = random.Random(7)
    for refusals, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (7, 1.0)]:
        delays = [policy.delay(refusals, rng) for _ in range(200)]
        assert all(d is not None and ceiling / 2 <= d <= ceiling for d in delays), refusals
        # Jittered: the requests of one dropped burst do not all come back together.
        assert len(set(delays)) == len(delays)


def test_it_gives_up_once_the_request_was_sent_attempts_times() -> None:
    policy = RateLimitedRetry(attempts=3, base=0.1, cap=1.0)
    rng = random.Random(1)
    assert policy.delay(1, rng) is not None
    assert policy.delay(2, rng) is not None
    assert policy.delay(3, rng) is None  # sent three times: the third refusal is final
    assert RateLimitedRetry(attempts=1).delay(1, rng) is None  # no retry at all


def test_the_default_retries_outlast_a_bucket_refill_within_a_calls_timeout() -> None:
    policy = RateLimitedRetry()
    rng = random.Random(3)
    shortest = total = 0.0
    refusals = 1
    while (delay := policy.delay(refusals, rng)) is not None:
        total += delay
        shortest += min(policy.cap, policy.base * 2 ** (refusals - 1)) / 2
        refusals += 1
    # Even the shortest schedule leaves a drained default bucket (400 at 200/s) and the
    # pacer's own burst time to refill; the longest stays far below the 60 s timeout.
    assert shortest >= 300 / FRAMES_PER_SECOND
    assert total < 10.0


def test_bad_parameters_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="attempts >= 1"):
        RateLimitedRetry(attempts=0)
    with pytest.raises(ValueError, match="base <= cap"):
        RateLimitedRetry(base=2.0, cap=1.0)
    with pytest.raises(ValueError, match="refusals counts from 1"):
        RateLimitedRetry().delay(0, random.Random())


def test_the_pacer_halves_its_rate_once_per_burst_of_drops_then_recovers() -> None:
    pacer = FramePacer(0.0, rate=160.0, burst=100)
    assert [pacer.reserve(0.0) for _ in range(100)] == [0.0] * 100  # the full burst
    for _ in range(20):  # one dropped burst: its refusals come back together
        pacer.refused(0.01)
    assert pacer.rate == 80.0
    # Slowed: no burst, frames evenly spaced at the new rate.
    assert pacer.reserve(0.01) == 0.0
    assert pacer.reserve(0.01) == pytest.approx(1 / 80)
    pacer.refused(0.01 + SLOWDOWN_INTERVAL)  # still too fast half a second later
    assert pacer.rate == 40.0
    for step in range(20):  # never below the floor
        pacer.refused(1.0 + step * SLOWDOWN_INTERVAL)
    assert pacer.rate == MIN_FRAMES_PER_SECOND
    last_drop = 1.0 + 19 * SLOWDOWN_INTERVAL
    pacer.reserve(last_drop + RECOVERY_INTERVAL - 0.01)
    assert pacer.rate == MIN_FRAMES_PER_SECOND  # not yet
    pacer.reserve(last_drop + RECOVERY_INTERVAL)
    assert pacer.rate == 2 * MIN_FRAMES_PER_SECOND
    now = last_drop + RECOVERY_INTERVAL
    while pacer.rate < 160.0:
        now += RECOVERY_INTERVAL
        pacer.reserve(now)
    assert pacer.rate == 160.0  # back to full, with its burst
    now += 100.0
    assert [pacer.reserve(now) for _ in range(100)] == [0.0] * 100


# ------------------------------------------------------------------ a real service


def received(client: RunningClient, texts: list[str]) -> Counter[str]:
    return Counter(
        e.line.text
        for e in client.events
        if isinstance(e, MessageReceived) and not e.line.own and e.line.text in texts
    )


def not_sent_notices(client: RunningClient) -> list[str]:
    return [e.text for e in client.events if isinstance(e, Notice) and "not sent" in e.text]


async def two_members(
    world: World, start_client: Start
) -> tuple[RunningClient, RunningClient, bytes]:
    """Alice and Bob in one group, both connected to a service with the tiny limit."""
    assert world.server is not None
    world.server.limits = TINY
    alice = await start_client("alice", world.new_profile("alice", ALICE))
    bob = await start_client("bob", world.new_profile("bob", BOB))
    for c in (alice, bob):
        await c.wait_for(connected)
    group_id = await create_group(alice, "Limited")
    await join(alice, bob, group_id, BOB)
    await trio.sleep(1 / TINY.frames_per_second * TINY.frame_burst)  # a full bucket
    return alice, bob, group_id


async def test_a_burst_over_the_services_limit_arrives_once_each_and_is_stored(
    world: World, start_client: Start
) -> None:
    alice, bob, group_id = await two_members(world, start_client)
    assert alice.core is not None and alice.core.conn is not None
    texts = [f"limited {i}" for i in range(LONG_BURST)]
    for text in texts:  # all queued at once: far more frames than the service's bucket
        alice.send.send_nowait(SendText(group_id, text))
    with trio.fail_after(30):
        while set(received(bob, texts)) != set(texts):
            await bob.wait_for(lambda e: isinstance(e, MessageReceived), start=len(bob.events))
    await alice.wait_for(lambda e: isinstance(e, MessageReceived) and e.line.text == texts[-1])

    # The limit was hit (the test exercised the retries), and nothing was lost or doubled.
    conn = alice.core.conn
    assert conn is not None
    assert conn.rate_limited >= 20
    assert conn.pacer.rate <= TINY.frames_per_second  # it slowed to what the service takes
    assert received(bob, texts) == Counter(texts)
    assert [x.text for x in alice.core.history.lines(group_id) if x.own] == texts
    assert not_sent_notices(alice) == []
    await trio.sleep(0.5)  # no late duplicate either
    assert received(bob, texts) == Counter(texts)
    for c in (alice, bob):
        await c.command(Shutdown())


async def test_without_retries_every_dropped_message_is_named_in_a_notice(
    world: World, start_client: Start
) -> None:
    # The fallback once the retries are used up (here: none allowed): the user is told,
    # with the text, for every message the service dropped; none is shown as sent.
    alice, bob, group_id = await two_members(world, start_client)
    assert alice.core is not None and alice.core.conn is not None
    alice.core.conn.retry_policy = RateLimitedRetry(attempts=1)
    texts = [f"unlucky {i}" for i in range(BURST)]
    for text in texts:
        alice.send.send_nowait(SendText(group_id, text))
    with trio.fail_after(20):
        while True:
            stored = [x.text for x in alice.core.history.lines(group_id) if x.own]
            notices = not_sent_notices(alice)
            if len([t for t in stored if t in texts]) + len(notices) == len(texts):
                break
            await trio.sleep(0.05)
    dropped = [t for t in texts if t not in stored]
    assert dropped, "the service's limit was not hit"
    for text, notice in zip(dropped, notices, strict=True):
        assert f"“{text}”" in notice and "rate_limited" in notice
    await trio.sleep(0.5)
    assert set(received(bob, texts)) == set(texts) - set(dropped)
    for c in (alice, bob):
        await c.command(Shutdown())


async def test_other_requests_over_the_limit_are_retried_by_the_connection(
    world: World, start_client: Start
) -> None:
    # Pings stand for every request the connection retries itself (fetches,
    # invitations, commits...): queued far over the limit, each gets its own answer.
    alice, bob, _ = await two_members(world, start_client)
    assert alice.core is not None and alice.core.conn is not None
    conn = alice.core.conn
    refused_before = conn.rate_limited
    replies: list[object] = []

    async def ping() -> None:
        replies.append(await conn.call(Ping))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            for _ in range(BURST):
                nursery.start_soon(ping)
    assert len(replies) == BURST and all(isinstance(r, Pong) for r in replies)
    assert conn.rate_limited - refused_before >= BURST - TINY.frame_burst - 5

    # With no retry allowed, the refusal is the caller's answer, at once. The pacer
    # starts afresh at full speed: the first burst slowed it, and a slowed pacer keeps a
    # burst under the service's bucket (how fast it recovers depends on the machine).
    conn.retry_policy = RateLimitedRetry(attempts=1)
    conn.pacer = FramePacer(trio.current_time())
    refusals: list[RequestRefused] = []

    async def ping_once() -> None:
        try:
            await conn.call(Ping)
        except RequestRefused as exc:
            refusals.append(exc)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            for _ in range(BURST):
                nursery.start_soon(ping_once)
    assert refusals and all(r.code is ErrorCode.RATE_LIMITED for r in refusals)
    for c in (alice, bob):
        await c.command(Shutdown())


async def test_a_dropped_ack_frame_is_sent_again(world: World, start_client: Start) -> None:
    # Bob's mail box holds Alice's messages until his ack frame gets through: one
    # dropped (queued behind a burst of pings that empties the bucket) is sent again.
    alice, bob, group_id = await two_members(world, start_client)
    assert bob.core is not None and bob.core.conn is not None
    conn = bob.core.conn
    texts = [f"ack me {i}" for i in range(3)]
    for text in texts:
        await alice.command(SendText(group_id, text))
    await bob.wait_for(lambda e: isinstance(e, MessageReceived) and e.line.text == texts[-1])
    assert conn.unacked > 0  # handled, their ack frame not sent yet (ACK_DELAY)
    frames_before, refused_before = conn.ack_frames, conn.rate_limited

    with trio.fail_after(20):
        pings = [conn.request(Ping) for _ in range(2 * TINY.frame_burst)]
        await conn._send_acks()  # the pings, then the ack frame: over the limit at once
        for pending in pings:
            await conn.reply(pending)
        while conn.unacked or conn.ack_frames < frames_before + 2:
            await trio.sleep(0.05)
    assert conn.rate_limited > refused_before
    assert conn.ack_frames >= frames_before + 2  # the dropped one went again
    await trio.sleep(1.5)  # its answer (if any) is in
    assert conn.unacked == 0
    assert world.storages[0].mailbox_size(BOB) == 0  # the service has them acknowledged
    for c in (alice, bob):
        await c.command(Shutdown())

"""The trio side of a delivery-service session: moves frame text and pairs replies.

All protocol decisions are in ``client.core.session.ClientSession``; this module owns
the socket (any ``FrameLink``: a trio-websocket connection, or an in-memory link in
tests and scenarios), one reader task, the waiting callers of ``call``, and when
acknowledgements go out.

Acknowledgement policy: ``ack`` only queues the mids. They go out as quiet ``ack``
frames (no ``ok`` answer) ``ACK_DELAY`` after the first of them was queued, or at once
when ``ACK_BATCH`` are waiting, and before a ``close``. Each ack frame costs the service
about what a delivery does; with deliveries a second apart (1000 clients), an ack per
delivery doubled its work. Waiting costs no safety: a message stays in the mail box
until acknowledged, and one redelivered after a reconnect is recognised by its mid.

Rate limiting: a request the service dropped with ``rate_limited`` (its ``re`` names it)
was not processed, so ``reply`` sends it again, rebuilt by the same ``make`` under a new
id, after the back-off of ``client.core.pacing.RateLimitedRetry``; the caller sees the
refusal only once the retries are used up, and the pacer slows down
(``FramePacer.refused``). Every request kind is safe to send again
after that refusal, as nothing of it was stored: fetches and pings are reads;
``request_invitation``, ``answer_invitation`` (its KeyPackage), ``publish_key_packages``,
``create_group`` and ``propose`` were not created; a ``commit`` that lost its epoch
meanwhile is answered ``stale_epoch``, which the commit loop handles. One exception is
left to the caller (``request(..., retry=False)``): an application message (``send``).
The service would take the same ciphertext, but OpenMLS keeps the keys of only a few
(5) past generations per sender, and the sender's later messages are accepted while
this one waits: the receivers could not decrypt it. The client encrypts it again
instead. A dropped quiet ``ack`` frame's mids are queued again (``_acks_answered``), and
go out with the next ack frame, ``ACK_DELAY`` later.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import trio
import trio_websocket

from client.core.pacing import FramePacer, RateLimitedRetry
from client.core.session import (
    Challenged,
    ClientSession,
    Garbage,
    Incoming,
    Ready,
    Refused,
    Registration,
    Reply,
    SessionState,
)
from shared.protocol import ClientFrame, Deliver, Error, ErrorCode, ServerFrame

# Matches the service's default frame limit (docs/protocol.md §6).
MAX_FRAME_BYTES = 8 * 1024 * 1024
# Bytes asked of the socket per read (trio-websocket's default is 4 KiB). A Welcome to a
# 300-member group is ~1 MB of frame text: 250 reads of 4 KiB each, every one a GIL
# release and re-acquisition beside the worker threads' validation (a scale run's
# worker spent 2.5 s of its event loop's CPU in them during formation). 64 KiB stays
# below malloc's mmap threshold, so a small frame's read costs what it did.
RECEIVE_BUFFER_BYTES = 64 * 1024

ACK_DELAY = 1.0  # seconds queued mids wait for more before their ack frame goes out
ACK_BATCH = 512  # queued mids that send an ack frame at once
ACK_MIDS_PER_FRAME = 5000  # below the service's limit (docs/protocol.md §8: 10,000)
# Ack frames remembered until an answer to a later request shows they went through (a
# dropped one past this is acknowledged again only after a reconnect, by redelivery).
ACK_FRAMES_TRACKED = 64


class FrameLink(Protocol):
    """A message-oriented, ordered, reliable link (one frame per message)."""

    async def receive(self) -> str | bytes:
        """The next message; raises ``LinkClosed`` when the link is gone."""
        ...

    async def send(self, message: str) -> None:
        """Send one message; raises ``LinkClosed`` when the link is gone."""
        ...

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the link (idempotent)."""
        ...


class LinkClosed(Exception):
    """The connection to the delivery service is gone."""


class RequestRefused(Exception):
    """The service answered a request with an ``error`` frame."""

    def __init__(self, error: Error) -> None:
        super().__init__(f"{error.code.value}: {error.detail}")
        self.error = error

    @property
    def code(self) -> ErrorCode:
        """The refusal's error code."""
        return self.error.code


class HandshakeFailed(Exception):
    """The service did not let this client in (wrong service, refused auth, garbage)."""


class WebSocketLink:
    """``FrameLink`` over trio-websocket."""

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self._ws = ws

    async def receive(self) -> str | bytes:
        """The next WebSocket message."""
        try:
            return await self._ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            raise LinkClosed(str(exc)) from None

    async def send(self, message: str) -> None:
        """Send one text message."""
        try:
            await self._ws.send_message(message)
        except trio_websocket.ConnectionClosed as exc:
            raise LinkClosed(str(exc)) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the WebSocket."""
        await self._ws.aclose(code, reason)


@asynccontextmanager
async def open_websocket_link(
    url: str, *, connect_timeout: float = 10.0
) -> AsyncIterator[FrameLink]:
    """Open a WebSocket to the service; raises ``LinkClosed`` when it cannot."""
    try:
        async with trio_websocket.open_websocket_url(
            url,
            max_message_size=MAX_FRAME_BYTES,
            connect_timeout=connect_timeout,
            receive_buffer_size=RECEIVE_BUFFER_BYTES,
        ) as ws:
            yield WebSocketLink(ws)
    except (OSError, trio_websocket.HandshakeError) as exc:
        raise LinkClosed(f"cannot reach {url}: {exc}") from None


@dataclass
class PendingRequest:
    """A request queued on the connection (``request``), waiting for its reply."""

    request_id: int = 0
    event: trio.Event = field(default_factory=trio.Event)
    reply: ServerFrame | None = None
    error: Error | None = None
    make: Callable[[int], ClientFrame] | None = None  # set when it may be sent again
    refusals: int = 0  # ``rate_limited`` refusals so far


RegistrationSource = Callable[["DeliveryConnection", str], Awaitable[Registration | None]]
"""Called once challenged with the service id: returns what ``auth`` registers (a fresh
PASSporT may be fetched through the connection first), or None to use the stored one."""


class DeliveryConnection:
    """One authenticated session: ``call`` requests, read ``deliveries``, ``ack`` them."""

    def __init__(self, link: FrameLink, session: ClientSession) -> None:
        self._link = link
        self.session = session
        self._waiters: dict[int, PendingRequest] = {}
        self._ready = trio.Event()
        self._challenged = trio.Event()
        self._failure: str | None = None
        self._closed = False
        send, receive = trio.open_memory_channel[Deliver](math.inf)
        self._deliveries_in = send
        self.deliveries = receive
        self.garbage: list[str] = []  # what the service sent that made no sense
        self.on_garbage: Callable[[str], None] = lambda _detail: None
        self.ds_id: str | None = None
        self.pacer = FramePacer(trio.current_time())
        # Frames leave in the order the session queued them, also across a pacing wait.
        self._sending = trio.Lock()
        self._unacked: list[int] = []  # mids queued by ``ack``, not sent yet
        self._ack_due = trio.Event()  # set when the first of them is queued
        self.ack_frames = 0  # ack frames sent (tests, diagnosis)
        # (request id, mids) of the ack frames sent, oldest first, until known through.
        self._acks_out: deque[tuple[int, tuple[int, ...]]] = deque(maxlen=ACK_FRAMES_TRACKED)
        self.retry_policy = RateLimitedRetry()
        self.rng = random.Random()
        self.rate_limited = 0  # ``rate_limited`` refusals of our requests (tests, diagnosis)

    async def _flush(self) -> None:
        async with self._sending:
            for text in self.session.data_to_send():
                delay = self.pacer.reserve(trio.current_time())
                if delay > 0:
                    await trio.sleep(delay)
                await self._link.send(text)

    async def reader(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Read until the link closes; wakes every waiter with the failure. Also sends
        the queued acknowledgements when they are due."""
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._ack_timer)
                task_status.started()
                try:
                    while True:
                        data = await self._link.receive()
                        for event in self.session.receive(data):
                            self._dispatch(event)
                        await self._flush()
                except LinkClosed as exc:
                    self._fail(f"connection lost: {exc}")
                nursery.cancel_scope.cancel()
        finally:
            self._closed = True
            self._deliveries_in.close()
            self._fail(self._failure or "connection closed")

    async def _ack_timer(self) -> None:
        while True:
            await self._ack_due.wait()
            await trio.sleep(ACK_DELAY)
            with contextlib.suppress(LinkClosed):  # the reader sees the link go
                await self._send_acks()

    async def _send_acks(self) -> None:
        mids, self._unacked = self._unacked, []
        self._ack_due = trio.Event()
        for start in range(0, len(mids), ACK_MIDS_PER_FRAME):
            chunk = tuple(mids[start : start + ACK_MIDS_PER_FRAME])
            self._acks_out.append((self.session.ack_quietly(chunk), chunk))
            self.ack_frames += 1
        if mids:
            await self._flush()

    def _fail(self, reason: str) -> None:
        self._failure = self._failure or reason
        for waiter in self._waiters.values():
            waiter.event.set()
        self._waiters.clear()
        self._challenged.set()
        self._ready.set()

    def _acks_answered(self, re: int, dropped: bool) -> None:
        """Request ``re`` was answered (``dropped``: with ``rate_limited``). Answers come
        in request order, so every ack frame sent before it went through; if ``re`` is
        an ack frame the service dropped, its mids are queued again."""
        out = self._acks_out
        while out and out[0][0] <= re:
            request_id, mids = out.popleft()
            if request_id == re and dropped:
                self._unacked += mids
                self._ack_due.set()

    def _dispatch(self, event: object) -> None:
        if isinstance(event, Challenged):
            self.ds_id = event.ds_id
            self._challenged.set()
        elif isinstance(event, Ready):
            self._ready.set()
        elif isinstance(event, Reply):
            self._acks_answered(event.re, dropped=False)
            waiter = self._waiters.pop(event.re, None)
            if waiter is not None:
                waiter.reply = event.frame
                waiter.event.set()
        elif isinstance(event, Refused):
            if event.error.code is ErrorCode.RATE_LIMITED:
                self.rate_limited += 1
                self.pacer.refused(trio.current_time())
            if event.re is not None:
                self._acks_answered(event.re, event.error.code is ErrorCode.RATE_LIMITED)
            if event.re is None:
                # A frame dropped for the rate without a readable id ends nothing.
                if event.error.code is not ErrorCode.RATE_LIMITED:
                    self._failure = f"the service ended the session: {event.error.detail}"
                return
            waiter = self._waiters.pop(event.re, None)
            if waiter is not None:
                waiter.error = event.error
                waiter.event.set()
            elif self.session.state is SessionState.FAILED:
                self._failure = f"the service refused us: {event.error.detail}"
                self._ready.set()
                self._challenged.set()
        elif isinstance(event, Incoming):
            self._deliveries_in.send_nowait(event.deliver)
        elif isinstance(event, Garbage):
            self.garbage.append(event.detail)
            self.on_garbage(event.detail)
            if self.session.state is SessionState.FAILED:
                self._failure = event.detail
                self._ready.set()
                self._challenged.set()

    @property
    def ready(self) -> bool:
        """Whether the session is authenticated and the link open."""
        return self.session.state is SessionState.READY and not self._closed

    async def handshake(self, registration: RegistrationSource, timeout: float = 15.0) -> str:
        """Hello, challenge, auth; returns the service id. Raises HandshakeFailed."""
        with trio.move_on_after(timeout) as scope:
            self.session.start()
            await self._flush()
            await self._challenged.wait()
            if self.session.state is not SessionState.CHALLENGED:
                raise HandshakeFailed(self._failure or "no challenge")
            assert self.ds_id is not None
            self.session.authenticate(await registration(self, self.ds_id))
            await self._flush()
            await self._ready.wait()
            if not self.ready:
                raise HandshakeFailed(self._failure or "registration refused")
            return self.ds_id
        assert scope.cancelled_caught
        raise HandshakeFailed(f"the service did not complete the handshake in {timeout} s")

    def request(self, make: Callable[[int], ClientFrame], *, retry: bool = True) -> PendingRequest:
        """Queue a request now, without waiting (frames leave in the order queued); its
        reply is awaited with ``reply``. With ``retry`` (see the module's rate limiting)
        a ``rate_limited`` refusal makes ``reply`` send it again. Raises LinkClosed when
        the connection is gone."""
        if self._closed:
            raise LinkClosed(self._failure or "connection closed")
        pending = PendingRequest(self.session.request(make), make=make if retry else None)
        self._waiters[pending.request_id] = pending
        return pending

    def _retry_delay(self, pending: PendingRequest) -> float | None:
        """How long to wait before sending ``pending`` again; None to give its answer."""
        error = pending.error
        if error is None or error.code is not ErrorCode.RATE_LIMITED or pending.make is None:
            return None
        pending.refusals += 1
        return self.retry_policy.delay(pending.refusals, self.rng)

    def _requeue(self, pending: PendingRequest) -> None:
        assert pending.make is not None
        if self._closed:
            raise LinkClosed(self._failure or "connection closed")
        pending.error = None
        pending.event = trio.Event()
        pending.request_id = self.session.request(pending.make)
        self._waiters[pending.request_id] = pending

    async def reply(self, pending: PendingRequest, *, timeout: float = 60.0) -> ServerFrame:
        """Send what is queued, then wait for ``pending``'s reply (sending it again after
        a ``rate_limited`` refusal when it may be); raises RequestRefused or LinkClosed.
        ``timeout`` bounds the whole wait, retries included."""
        deadline = trio.current_time() + timeout
        while True:
            # Not under the deadline: a cancelled flush would lose frames taken from
            # the session.
            await self._flush()
            with trio.move_on_at(deadline):
                await pending.event.wait()
            delay = self._retry_delay(pending)
            if delay is None or trio.current_time() + delay >= deadline:
                break
            await trio.sleep(delay)
            self._requeue(pending)
        if pending.error is not None:
            raise RequestRefused(pending.error)
        if pending.reply is None:
            self._waiters.pop(pending.request_id, None)
            raise LinkClosed(
                self._failure or f"no answer to request {pending.request_id} in {timeout} s"
            )
        return pending.reply

    async def call(
        self, make: Callable[[int], ClientFrame], *, timeout: float = 60.0, retry: bool = True
    ) -> ServerFrame:
        """Send a request and wait for its reply (``retry``: see ``request``); raises
        RequestRefused or LinkClosed."""
        return await self.reply(self.request(make, retry=retry), timeout=timeout)

    async def ack(self, mids: tuple[int, ...]) -> None:
        """Acknowledge handled deliveries: queued, sent as a quiet ``ack`` when due (see
        the module's acknowledgement policy). A replayed mid's refusal is expected and
        ignored. Raises LinkClosed once the connection is gone."""
        if self._closed:
            raise LinkClosed(self._failure or "connection closed")
        if not mids:
            return
        self._unacked += mids
        if len(self._unacked) >= ACK_BATCH:
            await self._send_acks()
        else:
            self._ack_due.set()

    @property
    def unacked(self) -> int:
        """Mids queued by ``ack`` and not sent yet."""
        return len(self._unacked)

    async def close(self) -> None:
        """Send the queued acknowledgements (if the link still takes them), then close."""
        if self._unacked and not self._closed:
            with contextlib.suppress(LinkClosed), trio.move_on_after(1):
                await self._send_acks()
        await self._link.close()

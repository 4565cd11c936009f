"""The trio side of a delivery-service session: moves frame text and pairs replies.

All protocol decisions are in ``client.core.session.ClientSession``; this module owns
the socket (any ``FrameLink``: ``WebSocketLink``, our own WebSocket framing, or an
in-memory link in tests and scenarios), one reader task, the waiting callers of ``call``, and when
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
import socket
import ssl
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

import trio

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
from shared.websocket import (
    CLOSE_NO_STATUS,
    CLOSE_NORMAL,
    OP_TEXT,
    ClientHandshake,
    ClientWebSocket,
    Event,
    PingReceived,
    UpgradeFailed,
    WebSocketError,
    client_close_frame,
    client_frame,
    client_pong_frame,
    response_head_end,
)

# Matches the service's default frame limit (docs/protocol.md §6).
MAX_FRAME_BYTES = 8 * 1024 * 1024
# Bytes asked of the socket per read (trio-websocket's default was 4 KiB). A Welcome to a
# 300-member group is ~1 MB of frame text: 250 reads of 4 KiB each, every one a GIL
# release and re-acquisition beside the worker threads' validation (a scale run's
# worker spent 2.5 s of its event loop's CPU in them during formation). 64 KiB stays
# below malloc's mmap threshold, so a small frame's read costs what it did.
RECEIVE_BUFFER_BYTES = 64 * 1024
# Bytes queued for the link's writer beyond which a sender waits (a few large commits).
SEND_QUEUE_BYTES = 4 * 1024 * 1024
# Messages handed out from one read's bytes before the reader lets the other tasks run.
MESSAGES_PER_TURN = 32
CLOSE_WAIT = 1.0  # seconds to wait for the service's close frame after ours

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


@runtime_checkable
class ManyFrameLink(FrameLink, Protocol):
    """A ``FrameLink`` that can send several messages as one write."""

    async def send_many(self, messages: Sequence[str]) -> None:
        """Send the messages in order, as one write where the link can."""
        ...


class WebSocketLink:
    """``FrameLink`` over a WebSocket of our own: the ``shared.websocket`` codec (client
    role) on a trio stream.

    Sends never wait for a scheduling point: on a plain TCP connection a frame is
    handed to the kernel at once with a non-blocking ``send`` when nothing is queued
    ahead of it; what the kernel does not take, and everything behind it, is queued for
    the link's writer task, which writes all that is queued in one ``send_all``. With
    trio-websocket each frame was a scheduling point of its own (a ``send_all``) and, in
    a worker process busy with 50 clients, a burst's frames left 70-170 ms apart
    (benchmarks/scenario_scale/README.md, "Client framing (H1)"). ``send_many`` makes a
    burst one write. A sender waits only when more than ``SEND_QUEUE_BYTES`` are queued.

    Reading parses in the task that asks for the next message (the connection's
    reader); pings are answered and a close frame is echoed there.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        sock: socket.socket | None = None,
        received: bytes = b"",
        *,
        max_message: int = MAX_FRAME_BYTES,
    ) -> None:
        """``sock``: the connected socket under ``stream`` when it is a plain TCP one
        (for non-blocking sends); ``received``: bytes that came right behind the
        handshake's response."""
        self._stream = stream
        self._sock = sock
        self._reader = ClientWebSocket(max_message)
        self._received = received
        self._pending: deque[Event] = deque()  # parsed, not handed out yet
        self._handed = 0  # messages handed out since the last wait
        self._violation: WebSocketError | None = None
        self._out: list[bytes | memoryview] = []  # queued for the writer task
        self._out_bytes = 0
        self._writing = False  # the writer task is in a ``send_all``
        self._wake = trio.Event()  # set when something is queued
        self._drained = trio.lowlevel.ParkingLot()  # senders waiting for the queue to shrink
        self._failure: str | None = None  # why the link is gone
        self._close_sent = False
        self._peer_closed = trio.Event()  # the service's close frame came, or the stream ended
        self._receiving = False
        self._close_reading = False
        self._closed = False
        self.writes = 0  # writes of the writer task (tests, diagnosis)

    # --- sending ----------------------------------------------------------------------

    def _fail(self, reason: str) -> LinkClosed:
        """The link is gone (what is queued still goes out: a close frame's echo)."""
        self._failure = self._failure or reason
        self._drained.unpark_all()
        self._peer_closed.set()
        return LinkClosed(self._failure)

    def _queue(self, data: bytes) -> None:
        """Write ``data`` now as far as the kernel takes it, else after what is queued."""
        if self._failure is not None:
            raise LinkClosed(self._failure)
        if self._sock is not None and not self._out and not self._writing:
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                raise self._fail(f"connection lost: {exc}") from None
            if sent == len(data):
                return
            self._out.append(memoryview(data)[sent:])
            self._out_bytes += len(data) - sent
        else:
            self._out.append(data)
            self._out_bytes += len(data)
        self._wake.set()

    async def _queue_and_wait(self, data: bytes) -> None:
        self._queue(data)
        while self._out_bytes > SEND_QUEUE_BYTES:
            await self._drained.park()
            if self._failure is not None:
                raise LinkClosed(self._failure)

    async def send(self, message: str) -> None:
        """Send one text message."""
        if self._close_sent:
            raise LinkClosed(self._failure or "closing")
        await self._queue_and_wait(client_frame(OP_TEXT, message.encode()))

    async def send_many(self, messages: Sequence[str]) -> None:
        """Send text messages in order, as one write."""
        if self._close_sent:
            raise LinkClosed(self._failure or "closing")
        if messages:
            await self._queue_and_wait(
                b"".join([client_frame(OP_TEXT, m.encode()) for m in messages])
            )

    async def write_queued(self) -> None:
        """The writer task: writes what is queued, all of it in one ``send_all``, until
        the link fails (run by ``open_websocket_link``)."""
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            while self._out:
                out, self._out = self._out, []
                self._out_bytes = 0
                data = out[0] if len(out) == 1 else b"".join(out)
                self._writing = True
                try:
                    await self._stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    self._out.clear()
                    self._out_bytes = 0
                    self._fail(f"connection lost: {exc or type(exc).__name__}")
                    return
                finally:
                    self._writing = False
                self.writes += 1
                self._drained.unpark_all()

    # --- receiving --------------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next WebSocket message (answering pings and a close on the way)."""
        if self._close_reading:  # ``close`` reads the service's last bytes
            await self._peer_closed.wait()
            raise LinkClosed(self._failure or "closed")
        self._receiving = True
        try:
            return await self._receive()
        finally:
            self._receiving = False

    async def _receive(self) -> str | bytes:
        while True:
            pending = self._pending
            while pending:
                if self._handed >= MESSAGES_PER_TURN:
                    self._handed = 0
                    await trio.lowlevel.checkpoint()  # before taking one: none is lost
                event = pending.popleft()
                if isinstance(event, str | bytes):
                    self._handed += 1
                    return event
                if isinstance(event, PingReceived):
                    if not self._close_sent:
                        self._queue(client_pong_frame(event.payload))
                    continue
                pending.clear()  # a close: nothing after it counts (§5.5.1)
                self._peer_closed.set()
                if not self._close_sent:
                    self._close_sent = True
                    code = CLOSE_NORMAL if event.code == CLOSE_NO_STATUS else event.code
                    with contextlib.suppress(LinkClosed):
                        self._queue(client_close_frame(code))
                raise self._fail(f"the service closed the connection ({event.code} {event.reason})")
            if self._violation is not None:
                violation = self._violation
                if not self._close_sent:
                    self._close_sent = True
                    with contextlib.suppress(LinkClosed):
                        self._queue(client_close_frame(violation.code, violation.detail))
                raise self._fail(f"the service broke the WebSocket protocol: {violation}")
            if self._failure is not None:
                raise LinkClosed(self._failure)
            data: bytes | bytearray
            if self._received:
                data, self._received = self._received, b""
            else:
                self._handed = 0
                try:
                    data = await self._stream.receive_some(RECEIVE_BUFFER_BYTES)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    raise self._fail(f"connection lost: {exc or type(exc).__name__}") from None
                if not data:
                    raise self._fail("the service ended the connection without a close frame")
            try:
                pending.extend(self._reader.receive_data(bytes(data)))
            except WebSocketError as exc:
                # What the service completed before the violation is handed out first;
                # then the link fails with its close code.
                pending.extend(exc.events)
                self._violation = exc

    # --- closing ----------------------------------------------------------------------

    async def close(self, code: int = CLOSE_NORMAL, reason: str = "") -> None:
        """The closing handshake (our close frame, then the service's, at most
        ``CLOSE_WAIT`` s), then the TCP connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._close_sent and self._failure is None:
                self._close_sent = True
                with contextlib.suppress(LinkClosed):
                    self._queue(client_close_frame(code, reason))
            with trio.move_on_after(CLOSE_WAIT):
                if self._receiving:  # the reader task sees the service's close frame
                    await self._peer_closed.wait()
                else:
                    self._close_reading = True
                    with contextlib.suppress(LinkClosed):
                        while True:
                            await self._receive()
        finally:
            self._fail("closed")
            await trio.aclose_forcefully(self._stream)


def _split_url(url: str) -> tuple[bool, str, int, str, str]:
    """(TLS, host, port, Host header, request target) of a ws:// or wss:// URL; raises
    LinkClosed naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise LinkClosed(f"cannot reach {url!r}: not a ws:// or wss:// URL")
    try:
        port = parts.port
    except ValueError:
        raise LinkClosed(f"cannot reach {url!r}: the port is not a number") from None
    if not parts.hostname:
        raise LinkClosed(f"cannot reach {url!r}: no host")
    tls = parts.scheme == "wss"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return (
        tls,
        parts.hostname,
        port or (443 if tls else 80),
        parts.netloc.rpartition("@")[2],
        target,
    )


async def _connect_tcp(host: str, port: int) -> tuple[trio.SocketStream, socket.socket]:
    """A TCP connection to the first address of ``host`` that answers, and the socket
    under it (the link writes to it directly, see ``WebSocketLink``)."""
    failure: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in await trio.socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        sock = socket.socket(family, kind, proto)
        # The same object, made non-blocking: trio's socket uses it, and so does the link.
        tsock = trio.socket.from_stdlib_socket(sock)
        try:
            await tsock.connect(address)
        except OSError as exc:
            tsock.close()
            failure = exc
            continue
        except BaseException:
            tsock.close()
            raise
        return trio.SocketStream(tsock), sock
    raise failure


async def _upgrade(stream: trio.abc.Stream, host: str, target: str) -> bytes:
    """The opening handshake on ``stream``; the bytes that came behind the response.
    Raises ``UpgradeFailed``."""
    handshake = ClientHandshake(host, target)
    await stream.send_all(handshake.request)
    data = bytearray()
    while (end := response_head_end(data)) < 0:
        chunk = await stream.receive_some(RECEIVE_BUFFER_BYTES)
        if not chunk:
            raise UpgradeFailed("the server closed the connection during the handshake")
        data += chunk
    try:
        handshake.check_response(bytes(data[:end]))
    except UpgradeFailed as exc:
        body = bytes(data[end : end + 200]).decode("utf-8", "replace").strip()
        if exc.status not in (None, 101) and body:
            raise UpgradeFailed(f"{exc.detail}: {body}", exc.status) from None
        raise
    return bytes(data[end:])


@asynccontextmanager
async def open_websocket_link(
    url: str, *, connect_timeout: float = 10.0, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[WebSocketLink]:
    """Open a WebSocket to the service (``ws://`` or ``wss://``: TLS with
    ``ssl_context``, by default the system's trusted roots); raises ``LinkClosed`` when
    it cannot. Closed (closing handshake, then the connection) on leaving."""
    tls, host, port, authority, target = _split_url(url)
    stream: trio.abc.Stream | None = None
    try:
        with trio.fail_after(connect_timeout):
            tcp, sock = await _connect_tcp(host, port)
            stream = tcp
            if tls:
                stream = trio.SSLStream(
                    tcp,
                    ssl_context or ssl.create_default_context(),
                    server_hostname=host,
                    https_compatible=True,
                )
                await stream.do_handshake()
            received = await _upgrade(stream, authority, target)
    except (OSError, trio.BrokenResourceError, trio.TooSlowError, UpgradeFailed) as exc:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        detail = "timed out" if isinstance(exc, trio.TooSlowError) else str(exc)
        raise LinkClosed(f"cannot reach {url}: {detail}") from None
    except BaseException:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        raise
    link = WebSocketLink(stream, None if tls else sock, received)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(link.write_queued)
        try:
            yield link
        finally:
            try:
                await link.close()
            finally:
                nursery.cancel_scope.cancel()


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
        # A link that takes a burst as one write (``WebSocketLink``) gets it so; another
        # (a test's wrapper) frame by frame.
        self._send_many = link.send_many if isinstance(link, ManyFrameLink) else None
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
        """Send what the session queued: the frames the pacer lets go now as one write
        (on a link that can), then the rest as it lets them go. No scheduling point
        when nothing is queued (the reader calls it after every message)."""
        try:
            self._sending.acquire_nowait()
        except trio.WouldBlock:
            await self._sending.acquire()  # behind a flush waiting for the pacer
        try:
            batch: list[str] = []
            for text in self.session.data_to_send():
                delay = self.pacer.reserve(trio.current_time())
                if delay > 0:
                    await self._send(batch)
                    batch = []
                    await trio.sleep(delay)
                batch.append(text)
            await self._send(batch)
        finally:
            self._sending.release()

    async def _send(self, texts: list[str]) -> None:
        if self._send_many is not None:
            if texts:
                await self._send_many(texts)
        else:
            for text in texts:
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

"""The trio delivery service: moves frames between transports and the protocol cores.

Per connection: a reader (limits, decoding, the session state machine, dispatch) and a
writer (the connection's ``Outbox``). ``send`` and ``ack`` frames are pipelined: the
reader hands them to the batcher and reads on (up to ``MAX_PIPELINED`` unanswered per
connection), so that a client's back-to-back messages share a transaction and reach each
recipient together (one write, one ``deliveries`` frame); their answers are queued in
request order when the batch commits, and any other frame first waits for them.
CPU-heavy checks go to worker threads; writes go through the ``WriteBatcher``; commits
of one group are serialised by that group's lock, which is what makes "first commit of
an epoch wins" atomic. Everything a frame is refused for becomes an ``Error`` frame to
that client only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from delivery_service.batching import WriteBatcher
from delivery_service.errors import Refused
from delivery_service.limits import Limits, TokenBucket
from delivery_service.outbox import Outbox
from delivery_service.service import DeliveryCore, Outcome, Push
from delivery_service.session import ServerSession, SessionState
from delivery_service.storage import StoredMessage
from delivery_service.transport import (
    FrameTransport,
    MemoryTransport,
    TransportClosed,
    accept_websocket,
    memory_transport_pair,
)
from delivery_service.wire_frames import OutFrame
from shared.protocol import (
    FEATURE_DELIVERIES,
    Ack,
    AnswerInvitation,
    Auth,
    ClaimKeyPackage,
    Commit,
    CreateGroup,
    Error,
    ErrorCode,
    FetchGroupInfo,
    Frame,
    FrameError,
    Hello,
    Ping,
    Pong,
    Propose,
    PublishKeyPackages,
    RequestInvitation,
    RequestPassport,
    SendMessage,
    Sent,
    ServerFrame,
    decode_frame,
    encode_frame,
    request_id,
)

if TYPE_CHECKING:
    from delivery_service.latency_trace import LatencyTrace
    from delivery_service.provider import PassportIssuer
    from delivery_service.sequencer import CommitSequencer

log = logging.getLogger("stirmls.ds")

T = TypeVar("T")

_BYTES_FIELDS: dict[type, tuple[str, ...]] = {}

CHECKPOINT_INTERVAL = 0.5  # seconds between WAL checkpoints (if anything was written)
MAX_PIPELINED = 64  # send/ack frames of one connection in the batcher, unanswered, at most
# How long a fan-out writes to sockets before it lets the other tasks run: a batch's
# messages to 1000 recipients are 1000 socket sends, and no socket is read while they
# run. A bound for catch-ups after a stall (a fan-out of 100 ms and more), not for the
# usual fan-out: every break lets all runnable tasks run before the later recipients get
# their bytes, and the next transaction waits for the fan-out anyway, so breaks do not
# bring messages sooner. Measured (benchmarks/ds_fanout/RESULTS.md, sixth session): with
# a break every 64 sends the median fan-out at C = 1000, G = 100 took 27 ms instead of
# 4; with one every 10 ms, two paired runs at C = 1000 gave p99 no better than with none
# (lower at 7 of 12 points) and a longer fan-out stage at 8 of 12. The clock is read
# once per FLUSHES_PER_CLOCK_READ sends.
FAN_OUT_TURN_SECONDS = 0.050
FLUSHES_PER_CLOCK_READ = 16


class _Connection:
    """One client connection: its session state, outbox and transport."""

    __slots__ = ("_answered", "bucket", "inflight", "outbox", "session", "transport", "writing")

    def __init__(self, transport: FrameTransport, session: ServerSession, limits: Limits) -> None:
        self.transport = transport
        self.session = session
        self.outbox = Outbox(limits.send_queue_frames)
        self.bucket = TokenBucket(limits.frames_per_second, limits.frame_burst, trio.current_time())
        self.writing = False  # the writer task is between taking frames and having sent them
        self.inflight = 0  # pipelined requests not answered yet
        self._answered: trio.Event | None = None  # made only while the reader waits

    def answered(self) -> None:
        """A pipelined request got its answer (queued): wake a waiting reader."""
        self.inflight -= 1
        if self._answered is not None:
            self._answered.set()
            self._answered = None

    async def wait_inflight(self, at_most: int) -> None:
        """Until at most ``at_most`` pipelined requests are unanswered (0: all answered,
        so that what the reader sends next comes after their answers)."""
        while self.inflight > at_most:
            event = self._answered = trio.Event()
            await event.wait()

    async def reply(self, frame: ServerFrame) -> None:
        await self.outbox.reply(OutFrame(encode_frame(frame)))
        self.flush()

    def flush(self) -> None:
        """Send what the outbox has ready: at once if the transport takes it without
        waiting and no write is in progress (so order is kept), else by the writer."""
        if not self.writing and self.transport.ready_nowait():
            frames = self.outbox.take_ready()
            if not frames or self.transport.send_nowait(frames):
                return
        self.outbox.wake()  # the writer sends the rest (a tail, or everything)

    def close_with(self, frame: Error) -> None:
        self.outbox.close_with(encode_frame(frame))


class DeliveryServer:
    """Serves the protocol for one ``DeliveryCore`` over any number of transports."""

    def __init__(
        self,
        core: DeliveryCore,
        sequencer: CommitSequencer,
        *,
        passport_issuer: PassportIssuer | None = None,
        batch_window: float = 0.0,
        latency_trace: LatencyTrace | None = None,
        fan_out_turn: float | None = None,
    ) -> None:
        self.core = core
        # Seconds of socket sends per loop turn in a fan-out (None: FAN_OUT_TURN_SECONDS).
        self.fan_out_turn = FAN_OUT_TURN_SECONDS if fan_out_turn is None else fan_out_turn
        self.sequencer = sequencer
        self.limits = core.limits
        self.latency_trace = latency_trace
        self.batcher = WriteBatcher(
            core.storage,
            self._deliver,
            window=batch_window,
            after_batch=self._flush_answers,
            clock=None if latency_trace is None else latency_trace.clock,
        )
        self.passport_issuer = passport_issuer
        self._sessions: dict[str, _Connection] = {}
        self._group_locks: dict[bytes, trio.Lock] = {}
        self._nursery: trio.Nursery | None = None
        self._checkpointed_at = 0
        self._answering: dict[int, _Connection] = {}  # answers queued in the current batch
        self.connections = 0

    # --- running ------------------------------------------------------------------------

    async def run(
        self, *, task_status: trio.TaskStatus[DeliveryServer] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the batcher (and host in-memory connections) until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(self.batcher.serve)
            nursery.start_soon(self._checkpoints)
            task_status.started(self)
            await trio.sleep_forever()

    async def _checkpoints(self) -> None:
        # Storage housekeeping that waits on the disk runs in a worker thread (SQLite
        # releases the GIL while it works), so that no COMMIT on the event loop does it.
        storage = self.core.storage
        while True:
            await trio.sleep(CHECKPOINT_INTERVAL)
            if self.batcher.transactions != self._checkpointed_at:
                self._checkpointed_at = self.batcher.transactions
                try:
                    await trio.to_thread.run_sync(storage.checkpoint)
                except Exception:
                    log.exception("checkpoint failed; SQLite's own will run instead")

    async def serve_websocket(
        self,
        host: str,
        port: int,
        *,
        task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run the service on ``ws://host:port/`` (any path); reports the bound port
        when started."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.run)
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, self._accept_tcp, port, host=host)
            )
            task_status.started(listeners[0].socket.getsockname()[1])

    async def _accept_tcp(self, stream: trio.SocketStream) -> None:
        # The opening handshake counts against the handshake timeout too.
        transport = None
        with trio.move_on_after(self.limits.handshake_timeout):
            transport = await accept_websocket(stream, self.limits.max_frame_bytes)
        if transport is None:
            with trio.move_on_after(1) as scope:
                scope.shield = True
                with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                    await stream.aclose()
            return
        await self.handle(transport)

    def connect_in_memory(self, buffer: int | float = math.inf) -> MemoryTransport:
        """A new in-memory client connection (the server must be running); ``buffer``
        bounds the messages in flight each way, like a socket's buffers."""
        if self._nursery is None:
            raise RuntimeError("the server is not running")
        client, server = memory_transport_pair(buffer)
        self._nursery.start_soon(self.handle, server)
        return client

    # --- fan-out ------------------------------------------------------------------------

    def _deliver(self, pushes: list[Push]) -> Awaitable[None] | None:
        # Every message goes into its recipients' outboxes first (cheap, and a recipient
        # of several gets them in one write), then the outboxes are flushed, for at most
        # about FAN_OUT_TURN_SECONDS before the other tasks get a turn (the rest: the
        # awaitable returned, which the batcher awaits before its next transaction).
        sessions = self._sessions
        touched: dict[int, _Connection] = {}
        for push in pushes:
            for tn in push.recipients:
                conn = sessions.get(tn)
                if conn is not None:
                    conn.outbox.push(push.mid, push.delivery)
                    touched[id(conn)] = conn
        conns = list(touched.values())
        done = self._flush_for_a_turn(conns, 0, self.fan_out_turn)
        if done == len(conns):
            return None
        return self._flush_rest(conns, done)

    @staticmethod
    def _flush_for_a_turn(conns: list[_Connection], start: int, seconds: float) -> int:
        """Flush ``conns`` from ``start`` on until ``seconds`` are up; returns where it
        stopped (``len(conns)``: all done)."""
        clock = time.perf_counter
        until = clock() + seconds
        n = len(conns)
        i = start
        while i < n:
            for conn in conns[i : i + FLUSHES_PER_CLOCK_READ]:
                conn.flush()
            i += FLUSHES_PER_CLOCK_READ
            if clock() >= until:
                break
        return min(i, n)

    async def _flush_rest(self, conns: list[_Connection], start: int) -> None:
        while start < len(conns):
            # Shielded: a fan-out that started is finished (the batch's answers follow).
            await trio.lowlevel.cancel_shielded_checkpoint()
            start = self._flush_for_a_turn(conns, start, self.fan_out_turn)

    # --- one connection -----------------------------------------------------------------

    async def handle(self, transport: FrameTransport) -> None:
        """Serve one connection until it closes."""
        conn = _Connection(
            transport,
            ServerSession(self.core.ds_id, max_auth_failures=self.limits.max_auth_failures),
            self.limits,
        )
        self.connections += 1
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer, conn, nursery.cancel_scope)
                await self._reader(conn)
                if conn.outbox.closing is None:
                    nursery.cancel_scope.cancel()
                else:  # the writer sends the final error frame, then ends the connection
                    nursery.cancel_scope.deadline = trio.current_time() + 2
        except Exception:
            # A bug or an unexpected transport failure ends this connection only: the
            # service keeps serving everyone else. (Cancellation is not an Exception.)
            log.exception("connection of %s failed", conn.session.tn)
        finally:
            self.connections -= 1
            conn.session.close()
            tn = conn.session.tn
            if tn is not None and self._sessions.get(tn) is conn:
                del self._sessions[tn]
            with trio.move_on_after(1) as scope:
                scope.shield = True
                with contextlib.suppress(
                    TransportClosed, trio.BrokenResourceError, trio.ClosedResourceError
                ):
                    await transport.close()

    async def _writer(self, conn: _Connection, scope: trio.CancelScope) -> None:
        try:
            while True:
                batch = await conn.outbox.next_batch()
                if batch is None:
                    final = conn.outbox.closing
                    if final is not None:
                        with trio.move_on_after(1):
                            await conn.transport.send(final)
                    break
                # From here until the write completes nobody else writes (see flush);
                # the tail of a partial non-blocking send goes first, then the batch.
                conn.writing = True
                batch.extend(conn.outbox.take_ready())
                await conn.transport.send_frames(batch)
                conn.writing = False
        except TransportClosed:
            pass
        scope.cancel()

    async def _reader(self, conn: _Connection) -> None:
        # One cancel scope for the connection's life: a new scope per frame was a visible
        # share of the per-frame cost, and so was moving its deadline twice per frame.
        # During the handshake the deadline is lifted while a frame is handled, so only
        # waiting for a frame can time out. Once ready, the idle deadline is moved only
        # when it is more than a tenth of the timeout stale: a frame's handling then
        # still has at least 0.9 x the idle timeout (270 s by default) before it, and a
        # silent client is closed between 0.9 and 1 x the timeout after its last frame.
        ready = False
        timeout = self.limits.handshake_timeout
        with trio.CancelScope() as scope:
            while conn.outbox.closing is None:
                ready = conn.session.state is SessionState.READY
                timeout = self.limits.idle_timeout if ready else self.limits.handshake_timeout
                now = trio.current_time()
                if (
                    not ready
                    or scope.deadline == math.inf
                    or now + timeout - scope.deadline > timeout / 10
                ):
                    scope.deadline = now + timeout
                try:
                    data = await conn.transport.receive()
                except TransportClosed:
                    return
                if not ready:
                    scope.deadline = math.inf
                await self._receive(conn, data)
                # An idle session waits here for its next frame: it need not hold its
                # last one (an Auth frame, credential and all, for a new session).
                del data
        if scope.cancelled_caught:
            what = "idle" if ready else "handshake not completed"
            conn.close_with(
                Error(re=None, code=ErrorCode.TIMEOUT, detail=f"{what} for {timeout:g} s")
            )

    def _pipeline(self, conn: _Connection, frame: SendMessage | Ack, received: float = 0.0) -> None:
        """Hand a ``send``/``ack`` to the batcher without waiting for its commit; its
        answer is queued (in request order) when the batch is done. ``received``: when
        the frame was read (a latency trace only)."""
        core = self.core
        tn = conn.session.tn
        assert tn is not None  # check_allowed: READY only
        write: Callable[[], Outcome]
        if isinstance(frame, SendMessage):
            write = functools.partial(core.send, tn, frame)
        else:
            write = functools.partial(core.ack, tn, frame)
        re = frame.id
        answering = self._answering
        trace = self.latency_trace
        decoded = 0.0 if trace is None else trace.clock()
        batcher = self.batcher

        def then(outcome: Outcome | None, refusal: Refused | None) -> None:
            reply: ServerFrame | None
            if refusal is not None:
                log.info("refused %s from %s: %s", re, tn, refusal)
                reply = refusal.to_frame(re)
            else:
                assert outcome is not None
                reply = outcome.reply
                if trace is not None and isinstance(reply, Sent):
                    trace.add(
                        reply.mid,
                        received,
                        decoded,
                        batcher.batch_started,
                        batcher.committed,
                        batcher.fanned_out,
                        batcher.transaction_cpu,
                        batcher.fan_out_cpu,
                    )
            if reply is not None:
                conn.outbox.reply_nowait(OutFrame(encode_frame(reply)))
                answering[id(conn)] = conn
            conn.answered()

        conn.inflight += 1
        # An ack never delays its batch's messages: it commits after their pushes (its answer,
        # if any, still comes after its commit and in request order).
        self.batcher.submit(write, then, after_pushes=isinstance(frame, Ack))

    def _flush_answers(self) -> None:
        # Once per batch: each connection's answers go out in one write.
        answering = self._answering
        if answering:
            for conn in answering.values():
                conn.flush()
            answering.clear()

    async def _receive(self, conn: _Connection, data: str | bytes) -> None:
        # Every answer below waits for the pipelined requests' answers (wait_inflight(0)):
        # a connection's answers come in request order.
        received = 0.0 if self.latency_trace is None else self.latency_trace.clock()
        if len(data) > self.limits.max_frame_bytes:
            conn.close_with(
                Error(
                    re=None,
                    code=ErrorCode.FRAME_TOO_LARGE,
                    detail=f"frames are limited to {self.limits.max_frame_bytes} bytes",
                )
            )
            return
        if not conn.bucket.allow(trio.current_time()):
            # The frame is dropped undecoded; only its id is read, so that the client can
            # tell which request was dropped instead of waiting for its answer.
            await conn.wait_inflight(0)
            await conn.reply(
                Error(
                    re=request_id(data),
                    code=ErrorCode.RATE_LIMITED,
                    detail=f"over {self.limits.frames_per_second:g} frames/s; frame dropped",
                )
            )
            return
        re: int | None = None
        try:
            frame = decode_frame(data)
            re = getattr(frame, "id", getattr(frame, "re", None))
            conn.session.check_allowed(frame)
            self._check_sizes(frame)
            if isinstance(frame, SendMessage | Ack):
                await conn.wait_inflight(MAX_PIPELINED - 1)
                self._pipeline(conn, frame, received)
                return
            await conn.wait_inflight(0)
            reply = await self._dispatch(conn, frame)
        except FrameError as exc:
            log.info("refused frame: %s", exc)
            reply = Error(re=exc.re, code=exc.code, detail=exc.detail)
        except Refused as exc:
            log.info("refused %s from %s: %s", re, conn.session.tn, exc)
            reply = exc.to_frame(re)
            if exc.close:
                await conn.wait_inflight(0)
                conn.close_with(reply)
                return
        except Exception:
            log.exception("internal error on frame %s", re)
            reply = Error(
                re=re, code=ErrorCode.INTERNAL_ERROR, detail="the server failed; nothing changed"
            )
        if reply is not None:
            await conn.wait_inflight(0)
            await conn.reply(reply)

    def _check_sizes(self, frame: Frame) -> None:
        limit = self.limits.max_mls_bytes
        names = _BYTES_FIELDS.get(type(frame))
        if names is None:
            # Only fields that can hold bytes (or tuples of them); worked out once per type.
            names = _BYTES_FIELDS[type(frame)] = tuple(
                f.name for f in dataclasses.fields(frame) if "bytes" in str(f.type)
            )
        for name in names:
            value = getattr(frame, name)
            sizes = (
                [len(value)]
                if isinstance(value, bytes)
                else [len(v) for v in value if isinstance(v, bytes)]
                if isinstance(value, tuple)
                else []
            )
            if any(size > limit for size in sizes):
                raise Refused(
                    ErrorCode.MESSAGE_TOO_LARGE,
                    f"{name}: MLS payloads are limited to {limit} bytes",
                )

    async def _in_thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await trio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    def _lock(self, group_id: bytes) -> trio.Lock:
        lock = self._group_locks.get(group_id)
        if lock is None:
            lock = self._group_locks[group_id] = trio.Lock()
        return lock

    async def _dispatch(self, conn: _Connection, frame: Frame) -> ServerFrame | None:
        core = self.core
        session = conn.session
        if isinstance(frame, Ping):
            return Pong(re=frame.id)
        if isinstance(frame, Hello):
            return session.hello(frame)
        if isinstance(frame, Auth):
            await self._auth(conn, frame)
            return None
        if isinstance(frame, RequestPassport):
            issuer = self.passport_issuer
            if issuer is None:
                raise Refused(ErrorCode.PROVIDER_REFUSED, "this service is not a PASSporT signer")
            content = issuer.request_content(session, frame)
            return await self._in_thread(issuer.issue, content, frame)
        tn = session.tn
        assert tn is not None  # check_allowed: only READY sessions get here
        outcome: Outcome
        if isinstance(frame, SendMessage):
            outcome = await self.batcher.run(lambda: core.send(tn, frame))
        elif isinstance(frame, Ack):
            outcome = await self.batcher.run(lambda: core.ack(tn, frame))
        elif isinstance(frame, Commit):
            outcome = await self._commit(tn, frame)
        elif isinstance(frame, Propose):
            outcome = await self._propose(tn, frame)
        elif isinstance(frame, PublishKeyPackages):
            if len(frame.key_packages) > self.limits.max_key_packages_per_frame:
                raise Refused(
                    ErrorCode.MALFORMED_FRAME,
                    f"at most {self.limits.max_key_packages_per_frame} KeyPackages per frame",
                )
            verified = await self._in_thread(core.verify_key_packages, tn, frame.key_packages)
            outcome = await self.batcher.run(lambda: core.publish(tn, frame, verified))
        elif isinstance(frame, ClaimKeyPackage):
            outcome = await self.batcher.run(lambda: core.claim(frame))
        elif isinstance(frame, RequestInvitation):
            outcome = await self.batcher.run(lambda: core.request_invitation(tn, frame))
        elif isinstance(frame, AnswerInvitation):
            invitation = core.open_invitation(tn, frame.invitation_id)
            verified = await self._in_thread(
                core.verify_key_packages, tn, [frame.key_package], group_id=invitation.group_id
            )
            outcome = await self.batcher.run(lambda: core.answer_invitation(tn, frame, verified))
        elif isinstance(frame, CreateGroup):
            outcome = await self._create_group(tn, frame)
        elif isinstance(frame, FetchGroupInfo):
            outcome = core.fetch_group_info(tn, frame)
        else:  # pragma: no cover - check_allowed admits only the frames above
            raise Refused(ErrorCode.UNEXPECTED_FRAME, f"{type(frame).__name__} from a client")
        return outcome.reply

    async def _auth(self, conn: _Connection, frame: Auth) -> None:
        session = conn.session
        core = self.core
        try:
            content = session.signed_content(frame.tn)
            existing = core.storage.get_registration(frame.tn)
            registration = await self._in_thread(core.verify_auth, frame, content, existing)
            if frame.credential is not None:
                await self.batcher.run(lambda: core.store_registration(registration, frame.id))
        except Refused as exc:
            if session.auth_failed():
                exc.close = True
                exc.detail += "; too many failed attempts"
            raise
        registered = session.authenticated(frame)
        previous = self._sessions.get(frame.tn)
        if previous is not None and previous is not conn:
            previous.close_with(
                Error(
                    re=None,
                    code=ErrorCode.SESSION_REPLACED,
                    detail="a newer session registered for this number",
                )
            )
        self._sessions[frame.tn] = conn
        await conn.reply(registered)
        conn.outbox.attach(
            frame.tn, self._load_mailbox, batch=FEATURE_DELIVERIES in session.features
        )

    def _load_mailbox(self, tn: str, after_mid: int, limit: int) -> list[StoredMessage]:
        return self.core.storage.pending(tn, after_mid, limit)

    async def _create_group(self, tn: str, frame: CreateGroup) -> Outcome:
        core = self.core
        async with self._lock(frame.group_id):
            core.check_new_group(frame)
            record, followed = await self._in_thread(
                self.sequencer.verify_new_group, frame.group_id, frame.group_info, tn
            )
            outcome = await self.batcher.run(lambda: core.store_new_group(frame, record))
            self.sequencer.install(frame.group_id, followed)
            return outcome

    async def _propose(self, tn: str, frame: Propose) -> Outcome:
        core = self.core
        async with self._lock(frame.group_id):
            record = core.group_record(tn, frame.group_id)
            if tn not in record.members:
                raise Refused(ErrorCode.FORBIDDEN, f"{tn} is not a member of the group")
            await self._in_thread(self.sequencer.verify_proposal, record, frame, tn)
            return await self.batcher.run(lambda: core.store_proposal(tn, frame))

    async def _commit(self, tn: str, frame: Commit) -> Outcome:
        core = self.core
        async with self._lock(frame.group_id):
            record = core.group_record(tn, frame.group_id)
            accepted = await self._in_thread(self.sequencer.verify_commit, record, frame, tn)
            try:
                outcome = await self.batcher.run(lambda: core.store_commit(tn, frame, accepted))
            except BaseException:
                self.sequencer.forget(frame.group_id)
                raise
            self.sequencer.install(frame.group_id, accepted.followed)
            return outcome

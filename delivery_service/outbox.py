"""What one connection still has to send: replies, and pushes backed by the mail box.

Replies are never dropped. Pushed deliveries are a cache of the recipient's mail box:
when the connection falls behind (the queue is full) pushes are skipped and the outbox
reloads them from storage, in mid order, once it has caught up, so a slow client costs
the others nothing and loses nothing. The first load after registration works the
same way. Loading is synchronous and happens with no await between reading the mail box
and resuming pushes, so no message can fall between the two.

Queuing does not wake the writer: the connection first tries to send what is ready
without waiting (``take_ready``) and calls ``wake`` only when that was not possible, so
a fan-out costs no task switch per recipient whose socket can take the bytes at once.

Mail is kept per message (``Delivery``) until it is sent: a session that asked for
``deliveries`` frames gets what is ready at once as few frames (``pack_deliveries``),
in mid order, behind the replies queued before it; any other session gets one
``deliver`` frame per message.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from delivery_service.service import deliver_frame
from delivery_service.storage import StoredMessage
from delivery_service.wire_frames import Delivery, OutFrame, pack_deliveries
from shared.protocol import encode_delivery_item

MailboxLoader = Callable[[str, int, int], list[StoredMessage]]
"""(tn, after_mid, limit) -> stored messages, in mid order."""


class Outbox:
    """Send queue of one connection (replies first, then mail in mid order)."""

    # One per connection, mostly idle: slots, plain lists (only appended to and emptied
    # whole; a deque allocates a 64-slot block up front) and no drain event until a reply
    # has to wait for one (docs/protocol.md's memory figure counts these).
    __slots__ = (
        "_batch",
        "_drained",
        "_high",
        "_kicked",
        "_loader",
        "_mail",
        "_reload",
        "_replies",
        "_tn",
        "_wakeup",
        "capacity",
        "closing",
        "loads",
    )

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._replies: list[OutFrame] = []
        self._mail: list[Delivery] = []
        self._batch = False  # the session reads ``deliveries`` frames
        self._tn: str | None = None
        self._loader: MailboxLoader | None = None
        self._high = 0  # highest mid queued (or sent) in this session
        self._reload = False
        self._wakeup = trio.Event()
        self._kicked = False
        self._drained: trio.Event | None = None
        self.closing: str | None = None  # a final frame, then close
        self.loads = 0  # mail-box reads (1 after attach; more when the client fell behind)

    @property
    def tn(self) -> str | None:
        """The TN whose mail this outbox carries (None before registration)."""
        return self._tn

    @property
    def behind(self) -> bool:
        """True while pushes are skipped and the next mail comes from the mail box."""
        return self._reload

    def attach(self, tn: str, loader: MailboxLoader, *, batch: bool = False) -> None:
        """Start carrying ``tn``'s mail: everything in its mail box, then live pushes;
        with ``batch``, messages ready together go out as ``deliveries`` frames."""
        self._tn = tn
        self._loader = loader
        self._batch = batch
        self._reload = True
        self._wakeup.set()

    def push(self, mid: int, delivery: Delivery) -> None:
        """A message for this connection's TN was stored (never blocks; call ``wake``
        or take the frames with ``take_ready``)."""
        if self._tn is None or self._reload or mid <= self._high:
            return  # the reload will read it from the mail box
        if len(self._mail) >= self.capacity:
            self._reload = True
        else:
            self._mail.append(delivery)
            self._high = mid

    async def reply(self, frame: OutFrame) -> None:
        """Queue a reply; waits while the client is not reading its replies (call
        ``wake`` or take the frames with ``take_ready``)."""
        while len(self._replies) >= self.capacity and self.closing is None:
            drained = self._drained = trio.Event()
            await drained.wait()
        self._replies.append(frame)

    def reply_nowait(self, frame: OutFrame) -> None:
        """Queue a reply without waiting for room (for the answers of pipelined
        requests, whose number per connection the server bounds)."""
        self._replies.append(frame)

    def wake(self) -> None:
        """Make ``next_batch`` return (with what is ready, possibly nothing)."""
        self._kicked = True
        self._wakeup.set()

    def close_with(self, text: str) -> None:
        """Send ``text`` next, then nothing more: the connection closes."""
        self.closing = text
        self._wakeup.set()

    def _load(self) -> None:
        assert self._tn is not None and self._loader is not None
        self.loads += 1
        rows = self._loader(self._tn, self._high, self.capacity)
        for row in rows:
            self._mail.append(Delivery(encode_delivery_item(deliver_frame(row))))
            self._high = row.mid
        if len(rows) < self.capacity:
            self._reload = False  # caught up: live pushes resume from here

    def take_ready(self) -> list[OutFrame]:
        """Whatever can be sent right now (replies, then mail; nothing once closing)."""
        batch: list[OutFrame] = []
        if self.closing is not None:
            return batch
        if self._replies:
            batch.extend(self._replies)
            self._replies.clear()
            if self._drained is not None:
                self._drained.set()
                self._drained = None
        if not self._mail and self._reload:
            self._load()
        mail = self._mail
        if mail:
            if self._batch and len(mail) > 1:
                pack_deliveries(mail, batch)
            else:
                batch.extend(d.single() for d in mail)
            mail.clear()
        return batch

    async def next_batch(self) -> list[OutFrame] | None:
        """Frames to send now, in order (empty after a ``wake`` with nothing queued);
        None when the connection must close."""
        while True:
            if self.closing is not None:
                return None
            batch = self.take_ready()
            if batch or self._kicked:
                self._kicked = False
                return batch
            self._wakeup = trio.Event()
            await self._wakeup.wait()

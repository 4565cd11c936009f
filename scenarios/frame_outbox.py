"""One writer per worker pipe: messages are put without waiting and leave in batches.

``put`` never blocks (the runner's and the clients' event paths call it), and the
``pump`` task writes whatever gathered while the previous frame was being written as one
frame (``scenarios.worker_frames``): a burst of events costs one pickle and one write.
"""

from __future__ import annotations

import trio

from scenarios.worker_frames import FrameEncoder, Message


class FrameOutbox:
    """Messages waiting to be written to one pipe, and the task that writes them."""

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._encoder = FrameEncoder()  # the pipe's interned values (worker_frames)
        self._wake = trio.Event()
        self._closing = False
        self.sending = False  # a frame is being written (a cancel now may cut it)
        self.done = trio.Event()  # the pump ended: all written and closed, or cancelled

    def put(self, message: Message) -> None:
        """Queue ``message`` (ignored once the outbox is closing)."""
        if self._closing:
            return
        self._messages.append(message)
        self._wake.set()

    def close(self) -> None:
        """Write what is queued, then close the stream (the other side reads EOF)."""
        self._closing = True
        self._wake.set()

    def encode(self, messages: list[Message]) -> bytes:
        """One frame of this pipe (its next: frames must be written in encoding order)."""
        return self._encoder.encode(messages)

    def take(self) -> list[Message]:
        """Everything queued, removed from the outbox (for a last direct write)."""
        taken, self._messages = self._messages, []
        return taken

    async def pump(self, stream: trio.abc.SendStream) -> None:
        """Write batches until closed; then close ``stream``."""
        try:
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                batch = self.take()
                if batch:
                    self.sending = True
                    await stream.send_all(self.encode(batch))
                    self.sending = False
                if self._closing and not self._messages:
                    break
            await stream.aclose()
        finally:
            self.done.set()

"""The run's relay: a WebSocket hop between each client and the delivery service.

Clients connect to ``ws://127.0.0.1:PORT/<actor>``; the relay opens the actor's own
connection to the delivery service and moves frames both ways, asking the
``Interceptor`` what to do with each (the delivery-service adversaries), recording the
MLS traffic in the transcript, and answering PASSporT requests itself when the run
plays the carrier (``carrier``, ``scenarios.carrier``: it follows each connection's
handshake so that it can check a request's proof of possession as the service would).
Frames that do not decode are passed on untouched: judging garbage is the service's
job, not the relay's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
from collections.abc import Callable
from typing import Any

import trio
import trio_websocket

from scenarios.carrier import SessionNonces
from scenarios.interception import Action, Direction, Forward, Interceptor, Note, Traffic
from scenarios.transcript import Recorder
from shared.protocol import (
    Ack,
    AnswerInvitation,
    Auth,
    Challenge,
    ClaimKeyPackage,
    Commit,
    CreateGroup,
    Deliver,
    Deliveries,
    Error,
    Frame,
    FrameError,
    Hello,
    PublishKeyPackages,
    RequestInvitation,
    RequestPassport,
    SendMessage,
    b64encode,
    decode_frame,
    encode_frame,
)

log = logging.getLogger("stirmls.scenarios.relay")

# Request ids of frames the relay itself sends (acks for dropped deliveries); replies
# carrying them are the relay's and are not passed to the client.
INJECTED_ID_BASE = 2_000_000_000
MAX_FRAME_BYTES = 16 * 1024 * 1024

Carrier = Callable[[str, RequestPassport, SessionNonces], Frame | None]
"""(path, request, the connection's handshake) -> the carrier's answer, or None to pass
the request on to the service."""
_HANDSHAKE = (Hello, Challenge, Auth, Error)


class Relay:
    """Moves frames between clients and the delivery service, adversaries included."""

    def __init__(
        self,
        interceptor: Interceptor,
        recorder: Recorder,
        service_url: str,
        *,
        carrier: Carrier | None = None,
    ) -> None:
        self.interceptor = interceptor
        self.recorder = recorder
        self.service_url = service_url
        self.routes: dict[str, str] = {}  # actor -> another service (the rogue's split)
        self.carrier = carrier
        self.current_step: str | None = None
        self.port: int | None = None
        self._clients: dict[str, trio_websocket.WebSocketConnection] = {}
        self._services: dict[str, trio_websocket.WebSocketConnection] = {}
        self._sessions: dict[str, SessionNonces] = {}  # each path's current handshake
        self._nursery: trio.Nursery | None = None
        self._injected = itertools.count(INJECTED_ID_BASE)
        self.in_flight = 0  # frames an adversary is delaying right now
        self._as_received: dict[int, tuple[Frame, str | bytes]] = {}  # id -> frame, text

    def url_for(self, actor: str) -> str:
        """The URL ``actor``'s client connects to."""
        if self.port is None:
            raise RuntimeError("the relay is not serving yet")
        return f"ws://127.0.0.1:{self.port}/{actor}"

    async def serve(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen on a free loopback port until cancelled; reports the port when ready."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            server = await nursery.start(
                lambda task_status: trio_websocket.serve_websocket(
                    self._accept,
                    "127.0.0.1",
                    0,
                    None,
                    handler_nursery=nursery,
                    max_message_size=MAX_FRAME_BYTES,
                    disconnect_timeout=2,
                    task_status=task_status,
                )
            )
            self.port = server.port
            task_status.started(server.port)

    # -- the engine's hooks ------------------------------------------------------------------

    async def step_started(self, label: str, *, attribute_to: str | None = None) -> None:
        """A step begins: frames from now on belong to it (or to ``attribute_to``, the
        label of a parallel batch); replays due at ``label`` happen now."""
        self.current_step = attribute_to or label
        await self._perform(self.interceptor.on_step_start(label))

    async def flush(self, remaining: frozenset[str] = frozenset()) -> None:
        """Release frames the adversaries hold and can no longer add to (see
        ``Interceptor.flush``; ``remaining`` are the labels of the steps still to run)."""
        await self._perform(self.interceptor.flush(remaining))

    async def disconnect_all(self) -> None:
        """Close every client's hop (the service went away)."""
        for ws in list(self._clients.values()):
            await ws.aclose(1001, "delivery service restarting")

    # -- connections --------------------------------------------------------------------------

    async def _accept(self, request: trio_websocket.WebSocketRequest) -> None:
        actor = request.path.strip("/")
        client = await request.accept()
        url = self.routes.get(actor, self.service_url)
        try:
            async with trio_websocket.open_websocket_url(
                url, max_message_size=MAX_FRAME_BYTES, disconnect_timeout=2
            ) as service:
                self._clients[actor] = client
                self._services[actor] = service
                self._sessions[actor] = SessionNonces()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._pump, actor, client, "to_service", nursery)
                    nursery.start_soon(self._pump, actor, service, "to_client", nursery)
        except (OSError, trio_websocket.HandshakeError) as exc:
            log.info("relay for %s: cannot reach the service: %s", actor, exc)
        finally:
            if self._clients.get(actor) is client:
                del self._clients[actor]
                self._services.pop(actor, None)
                self._sessions.pop(actor, None)
            await client.aclose()

    async def _pump(
        self,
        actor: str,
        source: trio_websocket.WebSocketConnection,
        direction: Direction,
        nursery: trio.Nursery,
    ) -> None:
        try:
            while True:
                message = await source.get_message()
                await self._handle(actor, direction, message)
        except trio_websocket.ConnectionClosed:
            nursery.cancel_scope.cancel()

    async def _handle(self, actor: str, direction: Direction, message: str | bytes) -> None:
        try:
            frame = decode_frame(message)
        except FrameError:
            await self._send_raw(actor, direction, message)
            return
        if direction == "to_client" and _re(frame) >= INJECTED_ID_BASE:
            return  # the answer to the relay's own ack
        if direction == "to_client" and isinstance(frame, Deliveries):
            # The adversaries and the transcript work per message: a batch is taken
            # apart and each item goes on as its own `deliver` (which every client
            # handles, whether or not it asked for batches).
            for item in frame.items:
                await self._intercept(actor, direction, item, None)
            return
        if isinstance(frame, _HANDSHAKE):
            session = self._sessions.get(actor)
            if session is not None:
                session.observe(frame)
        if direction == "to_service" and isinstance(frame, RequestPassport) and self.carrier:
            answer = self.carrier(actor, frame, self._sessions.get(actor) or SessionNonces())
            if answer is not None:
                self.recorder.record(
                    "frame", actor=actor, direction="carrier", message="passport", dest=frame.dest
                )
                await self._send_raw(actor, "to_client", encode_frame(answer))
                return
        await self._intercept(actor, direction, frame, message)

    async def _intercept(
        self, actor: str, direction: Direction, frame: Frame, message: str | bytes | None
    ) -> None:
        traffic = Traffic(direction, actor, frame, self.current_step)
        if message is None:
            await self._perform(self.interceptor.on_frame(traffic))
            return
        # A frame forwarded as it came is sent as it came (no re-encoding per hop).
        self._as_received[id(frame)] = (frame, message)
        try:
            await self._perform(self.interceptor.on_frame(traffic))
        finally:
            self._as_received.pop(id(frame), None)

    async def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Note):
                self.recorder.record("adversary", adversary=action.adversary, act=action.act)
            elif action.delay > 0 and self._nursery is not None:
                self._nursery.start_soon(self._later, action)
            else:
                await self._forward(action)

    async def _later(self, action: Forward) -> None:
        self.in_flight += 1
        try:
            await trio.sleep(action.delay)
            await self._forward(action)
        finally:
            self.in_flight -= 1

    async def _forward(self, action: Forward) -> None:
        frame = action.frame
        if isinstance(frame, Ack) and frame.id == 0:
            frame = dataclasses.replace(frame, id=next(self._injected))
        self._record(action.actor, action.direction, frame)
        same = self._as_received.get(id(frame))
        text = same[1] if same is not None and same[0] is frame else encode_frame(frame)
        await self._send_raw(action.actor, action.direction, text)

    async def _send_raw(self, actor: str, direction: Direction, message: str | bytes) -> None:
        table = self._services if direction == "to_service" else self._clients
        ws = table.get(actor)
        if ws is None:
            return  # that hop closed meanwhile: the service keeps undelivered mail
        with contextlib.suppress(trio_websocket.ConnectionClosed):
            await ws.send_message(message)

    def _record(self, actor: str, direction: Direction, frame: Frame) -> None:
        fields = _describe(frame)
        if fields is not None:
            self.recorder.record("frame", actor=actor, direction=direction, **fields)
        if isinstance(frame, Error) and frame.reason:
            self.recorder.record(
                "verdict",
                actor=None,
                verifier="delivery-service",
                accepted=False,
                reason=frame.reason,
                rule=frame.rule,
                detail=frame.detail,
                about=actor,
            )


def _re(frame: Frame) -> int:
    value = getattr(frame, "re", None)
    return value if isinstance(value, int) else -1


def _describe(frame: Frame) -> dict[str, Any] | None:
    """Transcript fields of the frames that carry MLS traffic (None for the others)."""
    match frame:
        case Deliver():
            return {
                "message": str(frame.kind),
                "mid": frame.mid,
                "sender": frame.sender,
                "group_id": b64encode(frame.group_id) if frame.group_id else None,
                "epoch": frame.epoch,
            }
        case Commit():
            return {
                "message": "commit",
                "group_id": b64encode(frame.group_id),
                "epoch": frame.epoch,
                "welcome": frame.welcome is not None,
            }
        case SendMessage():
            return {"message": "application", "group_id": b64encode(frame.group_id)}
        case CreateGroup():
            return {"message": "create_group", "group_id": b64encode(frame.group_id)}
        case PublishKeyPackages():
            return {"message": "publish_key_packages", "count": len(frame.key_packages)}
        case AnswerInvitation():
            return {"message": "key_package", "invitation_id": frame.invitation_id}
        case RequestInvitation():
            return {"message": "invitation", "tn": frame.tn, "group_id": b64encode(frame.group_id)}
        case ClaimKeyPackage():
            return {"message": "claim_key_package", "tn": frame.tn}
        case Error():
            return {"message": "error", "code": str(frame.code), "detail": frame.detail}
    return None

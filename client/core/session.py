"""The client's side of one delivery-service session, sans I/O (the h11 shape).

``ClientSession`` takes the text of received WebSocket messages and returns events;
everything it wants to send comes out of ``data_to_send()`` as frame text. It does the
handshake (hello, challenge, labelled-signature auth, PROFILE.md §10), numbers the
requests and pairs each reply or error with its request, and passes pushed deliveries
on, one ``Incoming`` per delivery whether it came in a ``deliver`` frame or as an item
of a ``deliveries`` frame (which the session asks for in its ``hello``). It never
blocks, never sleeps and never touches a socket: the trio code around it
(client.core.connection) moves the bytes, and tests can drive it frame by frame.

A server that sends garbage does not crash the session: the frame is reported as
``Garbage`` and the session goes on (the driver decides whether to reconnect).
"""

from __future__ import annotations

import enum
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from shared.protocol import (
    FEATURE_DELIVERIES,
    NONCE_SIZE,
    Ack,
    Auth,
    Challenge,
    ClientFrame,
    Deliver,
    Deliveries,
    Error,
    FrameError,
    Hello,
    Registered,
    ServerFrame,
    decode_frame,
    ds_auth_content,
    encode_frame,
)
from shared.protocol.messages import (
    CommitAccepted,
    GroupCreated,
    GroupInfoReply,
    InvitationCreated,
    KeyPackageReply,
    Ok,
    PassportIssued,
    Pong,
    Sent,
)

_SERVER_FRAMES = (
    Challenge,
    Registered,
    Ok,
    KeyPackageReply,
    InvitationCreated,
    GroupCreated,
    CommitAccepted,
    Sent,
    GroupInfoReply,
    Pong,
    PassportIssued,
    Deliver,
    Deliveries,
    Error,
)

CLIENT_FEATURES: Final = (FEATURE_DELIVERIES,)
"""What the session asks for in ``hello`` (docs/protocol.md §3)."""

# Quiet acks get no answer unless refused; their ids are remembered until a later
# request's answer shows they went through (the service answers a connection's requests
# in order), and at most this many of them (older ones are then forgotten).
QUIET_ACKS_TRACKED = 1024


class SessionState(enum.Enum):
    """Where the handshake is."""

    IDLE = "idle"  # nothing sent yet
    AWAIT_CHALLENGE = "await-challenge"  # hello sent
    CHALLENGED = "challenged"  # challenge received; the driver must authenticate
    AWAIT_REGISTERED = "await-registered"  # auth sent
    READY = "ready"  # requests allowed
    FAILED = "failed"  # auth refused or the service id was not the expected one


class SessionError(Exception):
    """A call that is not allowed in the session's state (a bug of the driver)."""


@dataclass(frozen=True)
class Registration:
    """What ``auth`` carries to (re-)register: the STIR credential content and type."""

    credential_type: int
    credential: bytes
    application_id: bytes | None = None


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Challenged:
    """The service answered hello: authenticate (after fetching a PASSporT if needed)."""

    ds_id: str


@dataclass(frozen=True)
class Ready:
    """The session is authenticated for ``tn``; queued deliveries follow."""

    tn: str
    ds_id: str


@dataclass(frozen=True)
class Reply:
    """The answer to request ``re``."""

    re: int
    frame: ServerFrame


@dataclass(frozen=True)
class Refused:
    """The service refused request ``re`` (None: a refusal of the session itself)."""

    re: int | None
    error: Error


@dataclass(frozen=True)
class Incoming:
    """A pushed delivery (acknowledge it once its effect is stored)."""

    deliver: Deliver


@dataclass(frozen=True)
class Garbage:
    """The service sent something that is not a valid server frame here."""

    detail: str


SessionEvent = Challenged | Ready | Reply | Refused | Incoming | Garbage


class ClientSession:
    """One session with one delivery service, for one telephone number."""

    def __init__(
        self,
        *,
        tn: str,
        signature_scheme: int,
        signature_key: bytes,
        sign: Callable[[bytes], bytes],
        expected_ds_id: str | None = None,
        client_name: str = "stirmls-client",
        nonce: bytes | None = None,
        features: tuple[str, ...] = CLIENT_FEATURES,
    ) -> None:
        """``sign(content)`` must return SignWithLabel(DS_AUTH_LABEL, content) by the
        member's MLS signature key (the binding exposes only labelled signing)."""
        self.tn = tn
        self.state = SessionState.IDLE
        self.ds_id: str | None = None
        self._scheme = signature_scheme
        self._key = signature_key
        self._sign = sign
        self._expected_ds_id = expected_ds_id
        self._client_name = client_name
        self._client_nonce = nonce if nonce is not None else os.urandom(NONCE_SIZE)
        self._server_nonce: bytes | None = None
        self._next_id = 1
        self._pending: dict[int, str] = {}  # request id -> frame type, for error texts
        self._hello_id: int | None = None
        self._auth_id: int | None = None
        self._out: list[str] = []
        self._features = features
        self._quiet_acks: deque[int] = deque()  # ids of quiet acks not known to be done

    # ------------------------------------------------------------------ sending

    def data_to_send(self) -> list[str]:
        """Frames waiting to be sent, in order (and forget them)."""
        out, self._out = self._out, []
        return out

    def _allocate(self) -> int:
        request_id = self._next_id
        self._next_id += 1
        return request_id

    def start(self) -> None:
        """Queue the hello."""
        if self.state is not SessionState.IDLE:
            raise SessionError(f"start() in state {self.state.value}")
        self._hello_id = self._allocate()
        self._emit(Hello(self._hello_id, self._client_nonce, self._client_name, self._features))
        self.state = SessionState.AWAIT_CHALLENGE

    def auth_content(self) -> bytes:
        """The session content (nonces, service id, number) that ``auth`` signs, and that
        a PASSporT request signs under its own label (once challenged)."""
        if self._server_nonce is None or self.ds_id is None:
            raise SessionError(f"auth_content() in state {self.state.value}")
        return ds_auth_content(self._server_nonce, self._client_nonce, self.ds_id, self.tn)

    def authenticate(self, registration: Registration | None = None) -> None:
        """Queue the auth frame (after ``Challenged``): sign the session content."""
        if self.state is not SessionState.CHALLENGED:
            raise SessionError(f"authenticate() in state {self.state.value}")
        content = self.auth_content()
        self._auth_id = self._allocate()
        self._emit(
            Auth(
                id=self._auth_id,
                tn=self.tn,
                signature_scheme=self._scheme,
                signature_key=self._key,
                signature=self._sign(content),
                credential_type=registration.credential_type if registration else None,
                credential=registration.credential if registration else None,
                application_id=registration.application_id if registration else None,
            )
        )
        self.state = SessionState.AWAIT_REGISTERED

    def request(self, make: Callable[[int], ClientFrame]) -> int:
        """Queue a request built by ``make(request_id)``; returns the id.

        Allowed once ready (and, for a PASSporT request, once challenged).
        """
        if self.state not in (SessionState.READY, SessionState.CHALLENGED):
            raise SessionError(f"request() in state {self.state.value}")
        request_id = self._allocate()
        frame = make(request_id)
        self._emit(frame)
        return request_id

    def ack_quietly(self, mids: tuple[int, ...]) -> int:
        """Queue a quiet ``ack`` of ``mids`` (answered only if refused: an
        ``unknown_message`` error for a replayed mid comes back as ``Refused``);
        returns its request id."""
        request_id = self.request(lambda i: Ack(i, mids, quiet=True))
        self._quiet_acks.append(request_id)
        if len(self._quiet_acks) > QUIET_ACKS_TRACKED:
            self._pending.pop(self._quiet_acks.popleft(), None)
        return request_id

    def _answered(self, re: int) -> None:
        """Request ``re`` was answered: every quiet ack sent before it went through."""
        quiet = self._quiet_acks
        while quiet and quiet[0] <= re:
            done = quiet.popleft()
            if done != re:
                self._pending.pop(done, None)

    def _emit(self, frame: ClientFrame) -> None:
        request_id = getattr(frame, "id", None)
        if isinstance(request_id, int):
            self._pending[request_id] = type(frame).__name__
        self._out.append(encode_frame(frame))

    @property
    def outstanding(self) -> int:
        """Requests sent and not yet answered."""
        return len(self._pending)

    # ------------------------------------------------------------------ receiving

    def receive(self, data: str | bytes) -> list[SessionEvent]:
        """Take one received WebSocket message; return what it means."""
        try:
            frame = decode_frame(data)
        except FrameError as exc:
            return [Garbage(f"undecodable frame from the service: {exc}")]
        if not isinstance(frame, _SERVER_FRAMES):
            return [Garbage(f"the service sent a client frame ({type(frame).__name__})")]
        return self._handle(frame)

    def _handle(self, frame: ServerFrame) -> list[SessionEvent]:
        if isinstance(frame, Deliver):
            if self.state is not SessionState.READY:
                return [Garbage("a delivery before the session was registered")]
            return [Incoming(frame)]
        if isinstance(frame, Deliveries):
            if self.state is not SessionState.READY:
                return [Garbage("deliveries before the session was registered")]
            return [Incoming(item) for item in frame.items]
        if isinstance(frame, Error):
            return self._error(frame)
        re = getattr(frame, "re", None)
        if not isinstance(re, int) or re not in self._pending:
            return [Garbage(f"{type(frame).__name__} answers no request of ours (re={re})")]
        del self._pending[re]
        self._answered(re)
        if isinstance(frame, Challenge):
            return self._challenge(frame)
        if isinstance(frame, Registered):
            if re != self._auth_id or frame.tn != self.tn:
                self.state = SessionState.FAILED
                return [Garbage(f"registered for {frame.tn!r}, not for our number {self.tn}")]
            self.state = SessionState.READY
            return [Ready(frame.tn, frame.ds_id)]
        return [Reply(re, frame)]

    def _challenge(self, frame: Challenge) -> list[SessionEvent]:
        if self.state is not SessionState.AWAIT_CHALLENGE or frame.re != self._hello_id:
            return [Garbage("an unexpected challenge")]
        if len(frame.server_nonce) != NONCE_SIZE:
            self.state = SessionState.FAILED
            return [Garbage(f"server nonce is {len(frame.server_nonce)} bytes, not {NONCE_SIZE}")]
        if self._expected_ds_id is not None and frame.ds_id != self._expected_ds_id:
            # Signing for another service id would let that service replay our auth.
            self.state = SessionState.FAILED
            return [
                Garbage(f"service says it is {frame.ds_id!r}, expected {self._expected_ds_id!r}")
            ]
        self._server_nonce = frame.server_nonce
        self.ds_id = frame.ds_id
        self.state = SessionState.CHALLENGED
        return [Challenged(frame.ds_id)]

    def _error(self, frame: Error) -> list[SessionEvent]:
        if frame.re is not None:
            if frame.re not in self._pending:
                return [Garbage(f"error {frame.code.value} answers no request of ours")]
            del self._pending[frame.re]
            self._answered(frame.re)
            if frame.re in (self._auth_id, self._hello_id):
                self.state = SessionState.FAILED
        return [Refused(frame.re, frame)]

"""The server side of one client session: handshake states and what each state allows.

Everything that decides the session's state lives in this module (h11's rule), and it
does no I/O: the server feeds it frames and sends what it returns. Signature checking
and credential validation happen outside (they are CPU work for a thread); this object
supplies the content to verify and records the verdict.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable
from typing import Final

from delivery_service.errors import Refused
from shared.protocol import (
    KNOWN_FEATURES,
    NONCE_SIZE,
    Ack,
    AnswerInvitation,
    Auth,
    Challenge,
    ClaimKeyPackage,
    Commit,
    CreateGroup,
    ErrorCode,
    FetchGroupInfo,
    Frame,
    Hello,
    Ping,
    Propose,
    PublishKeyPackages,
    Registered,
    RequestInvitation,
    RequestPassport,
    SendMessage,
    ds_auth_content,
)


class SessionState(enum.Enum):
    """Where a session is in its life (docs/protocol.md §3)."""

    AWAIT_HELLO = "await_hello"
    CHALLENGED = "challenged"
    READY = "ready"
    CLOSED = "closed"


_READY_FRAMES: Final = frozenset(
    {
        PublishKeyPackages,
        ClaimKeyPackage,
        RequestInvitation,
        AnswerInvitation,
        CreateGroup,
        Commit,
        SendMessage,
        FetchGroupInfo,
        Ack,
        Ping,
        RequestPassport,
        Propose,
    }
)

ALLOWED: Final[dict[SessionState, frozenset[type[Frame]]]] = {
    SessionState.AWAIT_HELLO: frozenset({Hello, Ping}),
    # A new hello while challenged starts over with fresh nonces.
    SessionState.CHALLENGED: frozenset({Hello, Auth, RequestPassport, Ping}),
    SessionState.READY: _READY_FRAMES,
    SessionState.CLOSED: frozenset(),
}
"""Which client frames each state accepts; anything else is ``unexpected_frame``."""


class ServerSession:
    """Handshake state of one connection: hello -> challenge -> auth -> ready."""

    __slots__ = (
        "_client_nonce",
        "_failures",
        "_max_failures",
        "_random",
        "_server_nonce",
        "ds_id",
        "features",
        "state",
        "tn",
    )

    def __init__(
        self,
        ds_id: str,
        *,
        max_auth_failures: int = 3,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.ds_id = ds_id
        self.state = SessionState.AWAIT_HELLO
        self.tn: str | None = None
        self.features: frozenset[str] = frozenset()  # from hello: the ones we know
        self._random = random_bytes
        self._max_failures = max_auth_failures
        self._failures = 0
        self._server_nonce: bytes | None = None
        self._client_nonce: bytes | None = None

    def check_allowed(self, frame: Frame) -> None:
        """Raise ``Refused(unexpected_frame)`` unless the current state accepts ``frame``."""
        if type(frame) not in ALLOWED[self.state]:
            raise Refused(
                ErrorCode.UNEXPECTED_FRAME,
                f"{type(frame).__name__} is not allowed in session state {self.state.value}",
            )

    def hello(self, frame: Hello) -> Challenge:
        """Answer ``Hello`` with a fresh server nonce."""
        self.check_allowed(frame)
        if len(frame.client_nonce) != NONCE_SIZE:
            raise Refused(
                ErrorCode.MALFORMED_FRAME,
                f"hello.client_nonce must be {NONCE_SIZE} bytes, got {len(frame.client_nonce)}",
            )
        self._client_nonce = frame.client_nonce
        self._server_nonce = self._random(NONCE_SIZE)
        self.features = KNOWN_FEATURES.intersection(frame.features)
        self.state = SessionState.CHALLENGED
        return Challenge(re=frame.id, server_nonce=self._server_nonce, ds_id=self.ds_id)

    def signed_content(self, tn: str) -> bytes:
        """What an ``Auth`` (or ``RequestPassport``) for ``tn`` must have signed."""
        if self._server_nonce is None or self._client_nonce is None:
            raise Refused(ErrorCode.UNEXPECTED_FRAME, "no challenge is outstanding")
        return ds_auth_content(self._server_nonce, self._client_nonce, self.ds_id, tn)

    def authenticated(self, frame: Auth) -> Registered:
        """The ``Auth`` verified: bind the session to its TN. The nonces stay for
        ``RequestPassport`` (its own label); no second ``Auth`` is allowed."""
        self.check_allowed(frame)
        self.tn = frame.tn
        self.state = SessionState.READY
        return Registered(re=frame.id, tn=frame.tn, ds_id=self.ds_id)

    def auth_failed(self) -> bool:
        """The ``Auth`` was refused: the nonces are spent (the client sends ``Hello``
        again). Returns True when the connection must close (too many failures)."""
        self._failures += 1
        self._server_nonce = self._client_nonce = None
        self.state = SessionState.AWAIT_HELLO
        if self._failures >= self._max_failures:
            self.state = SessionState.CLOSED
            return True
        return False

    def close(self) -> None:
        """The connection is gone (or was replaced by a newer session of the TN)."""
        self.state = SessionState.CLOSED

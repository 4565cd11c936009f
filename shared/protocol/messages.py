"""The client <-> delivery service protocol, version 1: every frame type, in one module.

One WebSocket message carries exactly one frame. Frames are immutable value objects;
``shared.protocol.codec`` turns them into wire text and back. docs/protocol.md describes
every frame and error code and why the protocol looks the way it does.

Conventions:

- Client requests carry ``id``, a number the client chooses; the server's reply to that
  request (or an ``Error``) carries it back as ``re``.
- ``Deliver`` frames are pushed by the server; each has a ``mid`` (message id, unique on
  that server, increasing in delivery order) that the client acknowledges with ``Ack``.
  A ``Deliveries`` frame carries several of them at once (to clients that ask for it in
  ``Hello.features``).
  A message stays in the recipient's mail box until it is acknowledged, so it may be
  delivered again after a reconnect: the client drops a ``mid`` it has already handled.
- Telephone numbers are canonical E.164 digits without '+' (PROFILE.md §3).
- MLS structures are the TLS-serialised MLSMessage bytes (RFC 9420 §6).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

PROTOCOL_VERSION: Final = 1
"""The ``v`` of every frame this module describes."""

NONCE_SIZE: Final = 32
"""Length in bytes of the client and server nonces of the authentication handshake."""

FEATURE_DELIVERIES: Final = "deliveries"
"""The ``hello`` feature that lets the server send several deliveries in one
``Deliveries`` frame (an additive part of v1: a server that does not know it ignores it,
and a client that does not list it never gets such a frame)."""

KNOWN_FEATURES: Final = frozenset({FEATURE_DELIVERIES})
"""Every feature name this version of the package understands."""

MAX_DELIVERIES_PER_FRAME: Final = 1000
"""Items in one ``Deliveries`` frame, at most (a longer list is ``malformed_frame``)."""


class ErrorCode(enum.StrEnum):
    """Why the server refused a frame (the ``code`` of an ``Error`` frame)."""

    MALFORMED_FRAME = "malformed_frame"  # not JSON / missing or mistyped field
    UNSUPPORTED_VERSION = "unsupported_version"  # ``v`` is not one the server speaks
    UNKNOWN_TYPE = "unknown_type"  # a frame type this peer does not know
    UNEXPECTED_FRAME = "unexpected_frame"  # valid frame, wrong moment (e.g. before auth)
    FRAME_TOO_LARGE = "frame_too_large"  # the WebSocket message exceeds the limit
    MESSAGE_TOO_LARGE = "message_too_large"  # an MLS payload exceeds the limit
    RATE_LIMITED = "rate_limited"  # too many frames per second on this connection
    TIMEOUT = "timeout"  # handshake not completed in time; the connection closes
    AUTH_FAILED = "auth_failed"  # bad labelled signature, unknown TN, wrong key
    CREDENTIAL_REJECTED = "credential_rejected"  # STIR validation failed (reason, rule)
    FORBIDDEN = "forbidden"  # authenticated, but not allowed (not a member, other TN)
    INVALID_MLS = "invalid_mls"  # MLS bytes that do not parse or fail verification
    UNKNOWN_GROUP = "unknown_group"
    GROUP_EXISTS = "group_exists"
    STALE_EPOCH = "stale_epoch"  # another commit won this epoch; see current_epoch
    EPOCH_TOO_OLD = "epoch_too_old"  # application message older than max_past_epochs
    FUTURE_EPOCH = "future_epoch"  # message for an epoch the group has not reached
    NO_KEY_PACKAGE = "no_key_package"  # nothing to claim for that TN
    UNKNOWN_TN = "unknown_tn"  # no registration for that TN
    UNKNOWN_INVITATION = "unknown_invitation"
    UNKNOWN_MESSAGE = "unknown_message"  # ack of a mid not in this mail box (replay)
    SESSION_REPLACED = "session_replaced"  # a newer session of the same TN took over
    PROVIDER_REFUSED = "provider_refused"  # PASSporT request refused (role off, secret, TN)
    INTERNAL_ERROR = "internal_error"  # a server bug; the frame changed nothing


class DeliveryKind(enum.StrEnum):
    """What a ``Deliver`` frame carries."""

    COMMIT = "commit"  # a PublicMessage commit accepted for ``epoch`` -> ``epoch + 1``
    APPLICATION = "application"  # a PrivateMessage for the group
    WELCOME = "welcome"  # an MLSMessage(Welcome) naming the recipient
    INVITATION = "invitation"  # ``sender`` asks the recipient for a group-bound KeyPackage
    KEY_PACKAGE = "key_package"  # the invitee's answer to the recipient's invitation
    PROPOSAL = "proposal"  # a standalone PublicMessage proposal for ``epoch``


# --- client -> server -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hello:
    """Opens a session; the server answers with a ``Challenge``."""

    id: int
    client_nonce: bytes
    client: str = ""  # free-form software name, for logs only
    # Optional protocol features the client handles (``KNOWN_FEATURES``; added to v1,
    # absent = none): the server uses those it knows and ignores the others.
    features: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Auth:
    """Proves control of ``signature_key`` and binds the session to ``tn``.

    ``signature`` is SignWithLabel("stirmls ds-auth", ds_auth_content(...)) (PROFILE.md
    §10). With ``credential_type``/``credential`` the client (re-)registers: the server
    validates the STIR credential (a PASSporT must have dest ``mls:ds:<ds id>``) and
    stores the TN -> key binding. Without them the stored registration for ``tn`` is used.
    ``application_id`` carries the number a carrier vouches for (SPC-level certificate,
    PROFILE.md §11).
    """

    id: int
    tn: str
    signature_scheme: int
    signature_key: bytes
    signature: bytes
    credential_type: int | None = None
    credential: bytes | None = None
    application_id: bytes | None = None


@dataclass(frozen=True, slots=True)
class PublishKeyPackages:
    """Adds KeyPackages (MLSMessage-wrapped) for the session's TN to the directory."""

    id: int
    key_packages: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ClaimKeyPackage:
    """Takes one KeyPackage of ``tn`` (consumed; a last-resort one is reused)."""

    id: int
    tn: str


@dataclass(frozen=True, slots=True)
class RequestInvitation:
    """Asks ``tn`` for a KeyPackage bound to ``group_id`` (PASSporT credentials, §5.5)."""

    id: int
    tn: str
    group_id: bytes


@dataclass(frozen=True, slots=True)
class AnswerInvitation:
    """The invitee's group-bound KeyPackage for invitation ``invitation_id``."""

    id: int
    invitation_id: int
    key_package: bytes


@dataclass(frozen=True, slots=True)
class CreateGroup:
    """Registers a new group from its epoch-0 GroupInfo (with the ratchet_tree extension)."""

    id: int
    group_id: bytes
    group_info: bytes


@dataclass(frozen=True, slots=True)
class Commit:
    """A commit bundle for ``epoch`` of ``group_id``: the commit (PublicMessage), the new
    GroupInfo (with the ratchet_tree extension) and, when it adds members, the Welcome.
    ``epoch`` is the epoch the commit is made in (for an external commit, the epoch of
    the GroupInfo it joins from); the group moves to ``epoch + 1``."""

    id: int
    group_id: bytes
    epoch: int
    commit: bytes
    group_info: bytes
    welcome: bytes | None = None


@dataclass(frozen=True, slots=True)
class Propose:
    """A standalone proposal (PublicMessage) made in ``epoch`` of ``group_id`` — e.g. a
    member's Remove proposal for itself (``Group.leave()``). The other members receive
    it and include it in their next commit. Answered with ``Sent``."""

    id: int
    group_id: bytes
    epoch: int
    proposal: bytes


@dataclass(frozen=True, slots=True)
class SendMessage:
    """An application message (PrivateMessage) for every other member of ``group_id``."""

    id: int
    group_id: bytes
    message: bytes


@dataclass(frozen=True, slots=True)
class FetchGroupInfo:
    """Asks for the group's current GroupInfo (to resync by external commit)."""

    id: int
    group_id: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    """Acknowledges delivered messages; they leave the mail box. With ``quiet`` the
    server answers only if something is wrong (``unknown_message``), not with ``ok``:
    one frame less per batch of deliveries (added to v1; absent = false)."""

    id: int
    mids: tuple[int, ...]
    quiet: bool = False


@dataclass(frozen=True, slots=True)
class Ping:
    """Keep-alive; answered with ``Pong``."""

    id: int


@dataclass(frozen=True, slots=True)
class RequestPassport:
    """Asks the service, acting as the carrier's STIR authentication service, for a
    PASSporT for ``tn`` with ``dest`` (a URI such as ``mls:ds:<id>`` or
    ``mls:group:<id>``) whose mky binds ``signature_key``.

    Allowed once the ``Challenge`` is received, before ``Auth`` (a client needs a
    PASSporT to register). ``secret`` proves control of the number (the demo's
    provisioned secret); ``signature`` is SignWithLabel(``PASSPORT_REQUEST_LABEL``,
    ds_auth_content(...)) by ``signature_key`` and proves possession of the key.
    """

    id: int
    tn: str
    dest: str
    signature_scheme: int
    signature_key: bytes
    secret: str
    signature: bytes


# --- server -> client -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Challenge:
    """Answer to ``Hello``: what the client must sign in ``Auth``."""

    re: int
    server_nonce: bytes
    ds_id: str


@dataclass(frozen=True, slots=True)
class Registered:
    """The session is authenticated and bound to ``tn``; queued mail follows."""

    re: int
    tn: str
    ds_id: str


@dataclass(frozen=True, slots=True)
class Ok:
    """Success of a request that returns nothing else (publish, ack)."""

    re: int


@dataclass(frozen=True, slots=True)
class KeyPackageReply:
    """A claimed KeyPackage of ``tn``."""

    re: int
    tn: str
    key_package: bytes


@dataclass(frozen=True, slots=True)
class InvitationCreated:
    """The invitation is queued for the invitee; its answer arrives as a ``Deliver``
    of kind ``key_package`` with the same ``invitation_id``."""

    re: int
    invitation_id: int


@dataclass(frozen=True, slots=True)
class GroupCreated:
    """The group exists on the server at ``epoch``."""

    re: int
    group_id: bytes
    epoch: int


@dataclass(frozen=True, slots=True)
class CommitAccepted:
    """The commit won its epoch; the group is now at ``epoch``. The sender merges its
    pending commit; the other members receive it as a ``Deliver``."""

    re: int
    group_id: bytes
    epoch: int


@dataclass(frozen=True, slots=True)
class Sent:
    """The application message is stored for every recipient under ``mid``."""

    re: int
    mid: int


@dataclass(frozen=True, slots=True)
class GroupInfoReply:
    """The group's current GroupInfo (with the ratchet tree)."""

    re: int
    group_id: bytes
    epoch: int
    group_info: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """Answer to ``Ping``."""

    re: int


@dataclass(frozen=True, slots=True)
class PassportIssued:
    """The signed PASSporT (JWS compact form) and the signer's certificate chain (DER,
    leaf first, without the root): together the content of a STIRPASSporTCredential."""

    re: int
    passport: str
    certificates: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Deliver:
    """A queued message for the session's TN; acknowledge ``mid`` with ``Ack``.

    ``sender`` is the TN the server authenticated for the sending session. ``epoch`` is
    the epoch the message was sent in (for a commit: the epoch it ends). ``data`` is the
    MLS bytes (empty for ``invitation``).
    """

    mid: int
    kind: DeliveryKind
    sender: str
    data: bytes
    group_id: bytes | None = None
    epoch: int | None = None
    invitation_id: int | None = None


@dataclass(frozen=True, slots=True)
class Deliveries:
    """Several queued messages for the session's TN in one frame (added to v1): the same
    items as ``Deliver`` frames, in increasing ``mid`` order, 1 to
    ``MAX_DELIVERIES_PER_FRAME`` of them. Sent only to a session whose ``hello`` listed
    ``FEATURE_DELIVERIES``, when several messages are ready for it at once; the client
    handles (and acknowledges) each item as if it had come in its own ``Deliver``."""

    items: tuple[Deliver, ...]


@dataclass(frozen=True, slots=True)
class Error:
    """The frame answered by ``re`` (None: no request id could be read) was refused.

    ``current_epoch`` accompanies ``stale_epoch``/``future_epoch``/``epoch_too_old``;
    ``reason`` and ``rule`` accompany ``credential_rejected`` (shared.stir codes and the
    PROFILE.md section). ``mids`` names the unknown ids of an ``unknown_message`` error.
    """

    re: int | None
    code: ErrorCode
    detail: str
    current_epoch: int | None = None
    reason: str | None = None
    rule: str | None = None
    mids: tuple[int, ...] | None = None


ClientFrame = (
    Hello
    | Auth
    | PublishKeyPackages
    | ClaimKeyPackage
    | RequestInvitation
    | AnswerInvitation
    | CreateGroup
    | Commit
    | SendMessage
    | FetchGroupInfo
    | Ack
    | Ping
    | RequestPassport
    | Propose
)
"""Every frame a client may send."""

ServerFrame = (
    Challenge
    | Registered
    | Ok
    | KeyPackageReply
    | InvitationCreated
    | GroupCreated
    | CommitAccepted
    | Sent
    | GroupInfoReply
    | Pong
    | PassportIssued
    | Deliver
    | Deliveries
    | Error
)
"""Every frame a server may send."""

Frame = ClientFrame | ServerFrame

FRAME_TYPES: Final[dict[str, type[Frame]]] = {
    "hello": Hello,
    "auth": Auth,
    "publish_key_packages": PublishKeyPackages,
    "claim_key_package": ClaimKeyPackage,
    "request_invitation": RequestInvitation,
    "answer_invitation": AnswerInvitation,
    "create_group": CreateGroup,
    "commit": Commit,
    "send": SendMessage,
    "fetch_group_info": FetchGroupInfo,
    "ack": Ack,
    "ping": Ping,
    "request_passport": RequestPassport,
    "propose": Propose,
    "challenge": Challenge,
    "registered": Registered,
    "ok": Ok,
    "key_package": KeyPackageReply,
    "invitation_created": InvitationCreated,
    "group_created": GroupCreated,
    "commit_accepted": CommitAccepted,
    "sent": Sent,
    "group_info": GroupInfoReply,
    "pong": Pong,
    "passport_issued": PassportIssued,
    "deliver": Deliver,
    "deliveries": Deliveries,
    "error": Error,
}
"""Wire name (the ``type`` member) of every frame type."""

CLIENT_FRAME_TYPES: Final = frozenset(
    {
        Hello,
        Auth,
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
"""Frame types a server accepts from a client."""

"""The client core's interface to any user interface: events out of the core, commands in.

The TUI (and tests, and the scenario runner) see the core only through these value
objects: the core emits :data:`CoreEvent` values and accepts :data:`Command` values.
Nothing here does I/O or imports the UI toolkit, so a UI can be driven by a scripted
list of events and its commands asserted on, and the core can be driven without a UI.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from shared.identity_view import IdentityView, RejectionView
from shared.safety_code import SafetyCode

# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class GroupSummary:
    """One group as listed for the user."""

    group_id: bytes
    title: str
    epoch: int
    member_count: int
    active: bool = True  # False once this member was removed or left


@dataclass(frozen=True)
class MemberRow:
    """One member of a group, as shown in the member pane.

    ``key`` is an opaque stable name for the member within the epoch (the core uses the
    hex of the leaf's signature key); commands about a member carry it back.
    """

    key: str
    leaf_index: int
    identity: IdentityView | None  # None when the credential was rejected
    rejection: RejectionView | None = None
    is_self: bool = False

    @property
    def label(self) -> str:
        """Name and number, or the rejection's subject."""
        if self.identity is not None:
            return self.identity.title
        return self.rejection.who if self.rejection is not None else self.key[:16]


@dataclass(frozen=True)
class ChatLine:
    """One message of a group's history."""

    group_id: bytes
    sender: str  # name and/or formatted number of the sender
    text: str
    sent_at: datetime
    own: bool = False
    system: bool = False  # a line the client wrote (member joined, epoch changed, ...)


@dataclass(frozen=True)
class Invitation:
    """Someone asks us to join a group (we answer with a KeyPackage or refuse)."""

    invitation_id: str
    group_id: bytes
    group_title: str
    inviter: str  # formatted number (and name when known)


class ConnectionState(enum.Enum):
    """Connection to the delivery service."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"


class NoticeLevel(enum.Enum):
    """How loudly a notice is shown."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class SelfIdentity:
    """Who this client is (sent once at start)."""

    identity: IdentityView


@dataclass(frozen=True)
class GroupsChanged:
    """The full list of groups (small; sent whole)."""

    groups: tuple[GroupSummary, ...]


@dataclass(frozen=True)
class HistoryLoaded:
    """A group's stored history, oldest first (sent when a group is opened)."""

    group_id: bytes
    lines: tuple[ChatLine, ...]


@dataclass(frozen=True)
class MessageReceived:
    """A new line in a group's history (incoming, own, or a system line)."""

    line: ChatLine


@dataclass(frozen=True)
class MembersChanged:
    """The full member list of a group after a change (joined, left, updated)."""

    group_id: bytes
    members: tuple[MemberRow, ...]


@dataclass(frozen=True)
class MemberJoined:
    """A member was added (its row is in the following MembersChanged)."""

    group_id: bytes
    member: MemberRow


@dataclass(frozen=True)
class MemberLeft:
    """A member was removed or left."""

    group_id: bytes
    member: MemberRow


@dataclass(frozen=True)
class CredentialVerdict:
    """A credential was checked at an entry point of PROFILE.md §6 and rejected or
    accepted; a rejection names who, the rule and the reason, and nothing was merged."""

    group_id: bytes | None
    entry_point: str  # "key-package", "welcome", "commit", "external-join"
    accepted: bool
    identity: IdentityView | None = None
    rejection: RejectionView | None = None


@dataclass(frozen=True)
class EpochChanged:
    """The group moved to a new epoch: new safety code; verified marks are void."""

    group_id: bytes
    safety: SafetyCode


@dataclass(frozen=True)
class CodeMismatch:
    """Two members at the same epoch see different codes: they are not in one group."""

    group_id: bytes
    epoch: int
    local_member: str
    other_member: str


@dataclass(frozen=True)
class InvitationReceived:
    """An invitation waits for an answer."""

    invitation: Invitation


@dataclass(frozen=True)
class InvitationClosed:
    """An invitation was answered (or withdrawn) and leaves the list."""

    invitation_id: str


@dataclass(frozen=True)
class ConnectionChanged:
    """The connection to the delivery service changed state."""

    state: ConnectionState
    detail: str = ""


@dataclass(frozen=True)
class Notice:
    """Something the user should read (an error of a command, a refused input)."""

    text: str
    level: NoticeLevel = NoticeLevel.INFO


CoreEvent = (
    SelfIdentity
    | GroupsChanged
    | HistoryLoaded
    | MessageReceived
    | MembersChanged
    | MemberJoined
    | MemberLeft
    | CredentialVerdict
    | EpochChanged
    | CodeMismatch
    | InvitationReceived
    | InvitationClosed
    | ConnectionChanged
    | Notice
)

# --------------------------------------------------------------------------- commands


@dataclass(frozen=True)
class OpenGroup:
    """The user opened a group: send its history, members and safety code."""

    group_id: bytes


@dataclass(frozen=True)
class CreateGroup:
    """Create a new group with this title."""

    title: str


@dataclass(frozen=True)
class SendText:
    """Send a chat message."""

    group_id: bytes
    text: str


@dataclass(frozen=True)
class InviteNumber:
    """Invite the holder of a number (canonical E.164 digits, already validated)."""

    group_id: bytes
    tn: str


@dataclass(frozen=True)
class AnswerInvitation:
    """Accept or refuse an invitation."""

    invitation_id: str
    accept: bool


@dataclass(frozen=True)
class RemoveMember:
    """Remove a member (by its MemberRow.key)."""

    group_id: bytes
    member_key: str


@dataclass(frozen=True)
class LeaveGroup:
    """Leave a group."""

    group_id: bytes


@dataclass(frozen=True)
class MarkCode:
    """The user compared codes with a member at ``epoch``: they match, or they differ."""

    group_id: bytes
    epoch: int
    member_key: str
    matches: bool


@dataclass(frozen=True)
class UpdateKeys:
    """Commit a self-update: fresh encryption keys (and a renewed credential, if any)."""

    group_id: bytes


@dataclass(frozen=True)
class Shutdown:
    """The UI is closing: stop the core cleanly."""

    reason: str = field(default="ui closed")


Command = (
    OpenGroup
    | CreateGroup
    | SendText
    | InviteNumber
    | AnswerInvitation
    | RemoveMember
    | LeaveGroup
    | MarkCode
    | UpdateKeys
    | Shutdown
)

"""What the TUI knows, built only from core events (pure; no widgets, no I/O).

The screens read this model; the app feeds it events from the core and refreshes the
widgets whose part changed. Keeping it separate lets tests check the UI's bookkeeping
(verified marks that expire with the epoch, an alarm that stays until dismissed) without
running Textual.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from client.core.events import (
    ChatLine,
    CodeMismatch,
    ConnectionChanged,
    ConnectionState,
    CoreEvent,
    CredentialVerdict,
    EpochChanged,
    GroupsChanged,
    GroupSummary,
    HistoryLoaded,
    Invitation,
    InvitationClosed,
    InvitationReceived,
    MemberJoined,
    MemberLeft,
    MemberRow,
    MembersChanged,
    MessageReceived,
    Notice,
    NoticeLevel,
    SelfIdentity,
)
from shared.identity_view import IdentityView
from shared.safety_code import SafetyCode


class Part(enum.Flag):
    """Which part of the screen an event changed."""

    NONE = 0
    GROUPS = enum.auto()
    HISTORY = enum.auto()  # the whole history of the open group
    NEW_LINE = enum.auto()  # one line appended to the open group
    MEMBERS = enum.auto()
    SAFETY = enum.auto()
    INVITATIONS = enum.auto()
    ALARM = enum.auto()
    STATUS = enum.auto()


ALL_PARTS = (
    Part.GROUPS
    | Part.HISTORY
    | Part.MEMBERS
    | Part.SAFETY
    | Part.INVITATIONS
    | Part.ALARM
    | Part.STATUS
)


class Mark(enum.Enum):
    """What the user recorded after comparing codes with a member at the current epoch."""

    MATCH = "codes match"
    DIFFER = "codes differ"


@dataclass(frozen=True)
class Alarm:
    """A raised mismatch alarm: stays until the user dismisses it."""

    group_id: bytes
    epoch: int
    local_member: str
    other_member: str

    @property
    def text(self) -> str:
        """The sentence shown in the alarm."""
        return (
            f"{self.local_member} and {self.other_member} see different codes at epoch "
            f"{self.epoch}: you are NOT in the same group. Someone may be relaying "
            "between two groups. Do not trust this conversation until it is resolved."
        )


@dataclass
class GroupState:
    """Everything known about one group."""

    summary: GroupSummary
    lines: list[ChatLine] = field(default_factory=list)
    members: tuple[MemberRow, ...] = ()
    safety: SafetyCode | None = None
    # Marks belong to one epoch: a new epoch means a new authenticator to compare.
    marks_epoch: int = -1
    marks: dict[str, Mark] = field(default_factory=dict)
    history_loaded: bool = False


@dataclass
class ChatModel:
    """The TUI's state. ``apply`` returns the parts to redraw."""

    me: IdentityView | None = None
    groups: dict[bytes, GroupState] = field(default_factory=dict)
    order: list[bytes] = field(default_factory=list)
    current: bytes | None = None
    invitations: dict[str, Invitation] = field(default_factory=dict)
    alarms: list[Alarm] = field(default_factory=list)
    connection: ConnectionState = ConnectionState.CONNECTING
    connection_detail: str = ""
    notices: list[Notice] = field(default_factory=list)

    # ------------------------------------------------------------------ queries

    def group(self, group_id: bytes | None) -> GroupState | None:
        """The state of a group, or None if unknown."""
        return self.groups.get(group_id) if group_id is not None else None

    @property
    def current_group(self) -> GroupState | None:
        """The group open in the chat pane."""
        return self.group(self.current)

    def mark_of(self, group_id: bytes, member_key: str) -> Mark | None:
        """The user's mark for a member at the group's current epoch (None: not compared)."""
        state = self.groups.get(group_id)
        if state is None or state.safety is None or state.marks_epoch != state.safety.epoch:
            return None
        return state.marks.get(member_key)

    # ------------------------------------------------------------------ local actions

    def select(self, group_id: bytes) -> Part:
        """Open a group in the chat pane."""
        if group_id not in self.groups:
            return Part.NONE
        self.current = group_id
        return Part.HISTORY | Part.MEMBERS | Part.SAFETY | Part.GROUPS

    def mark(self, group_id: bytes, member_key: str, mark: Mark) -> Part:
        """Record the user's comparison with a member; a difference raises the alarm."""
        state = self.groups.get(group_id)
        if state is None or state.safety is None:
            return Part.NONE
        if state.marks_epoch != state.safety.epoch:
            state.marks_epoch = state.safety.epoch
            state.marks = {}
        state.marks[member_key] = mark
        changed = Part.MEMBERS
        if mark is Mark.DIFFER:
            other = next((m.label for m in state.members if m.key == member_key), member_key)
            mine = self.me.title if self.me is not None else "you"
            self._raise(Alarm(group_id, state.safety.epoch, mine, other))
            changed |= Part.ALARM
        return changed

    def dismiss_alarm(self) -> Part:
        """The user dismissed the oldest alarm."""
        if self.alarms:
            self.alarms.pop(0)
        return Part.ALARM

    def _raise(self, alarm: Alarm) -> None:
        if alarm not in self.alarms:
            self.alarms.append(alarm)

    # ------------------------------------------------------------------ core events

    def apply(self, event: CoreEvent) -> Part:
        """Take one event from the core; return what to redraw."""
        if isinstance(event, SelfIdentity):
            self.me = event.identity
            return Part.STATUS
        if isinstance(event, GroupsChanged):
            return self._groups(event.groups)
        if isinstance(event, HistoryLoaded):
            state = self.groups.get(event.group_id)
            if state is None:
                return Part.NONE
            state.lines = list(event.lines)
            state.history_loaded = True
            return Part.HISTORY if event.group_id == self.current else Part.NONE
        if isinstance(event, MessageReceived):
            state = self.groups.get(event.line.group_id)
            if state is None:
                return Part.NONE
            state.lines.append(event.line)
            return Part.NEW_LINE if event.line.group_id == self.current else Part.GROUPS
        if isinstance(event, MembersChanged):
            state = self.groups.get(event.group_id)
            if state is None:
                return Part.NONE
            state.members = event.members
            return Part.MEMBERS if event.group_id == self.current else Part.NONE
        if isinstance(event, MemberJoined | MemberLeft):
            return Part.NONE  # the MembersChanged that follows carries the list
        if isinstance(event, CredentialVerdict):
            if event.rejection is not None:
                self.notices.append(Notice(event.rejection.text, NoticeLevel.ERROR))
                return Part.STATUS
            return Part.NONE
        if isinstance(event, EpochChanged):
            state = self.groups.get(event.group_id)
            if state is None:
                return Part.NONE
            state.safety = event.safety
            if state.marks_epoch != event.safety.epoch:
                state.marks = {}
                state.marks_epoch = event.safety.epoch
            return Part.SAFETY | Part.MEMBERS
        if isinstance(event, CodeMismatch):
            self._raise(Alarm(event.group_id, event.epoch, event.local_member, event.other_member))
            return Part.ALARM
        if isinstance(event, InvitationReceived):
            self.invitations[event.invitation.invitation_id] = event.invitation
            return Part.INVITATIONS | Part.STATUS
        if isinstance(event, InvitationClosed):
            self.invitations.pop(event.invitation_id, None)
            return Part.INVITATIONS | Part.STATUS
        if isinstance(event, ConnectionChanged):
            self.connection = event.state
            self.connection_detail = event.detail
            return Part.STATUS
        if isinstance(event, Notice):
            self.notices.append(event)
            return Part.STATUS
        return Part.NONE

    def _groups(self, groups: tuple[GroupSummary, ...]) -> Part:
        for summary in groups:
            state = self.groups.get(summary.group_id)
            if state is None:
                self.groups[summary.group_id] = GroupState(summary)
            else:
                state.summary = summary
        self.order = [g.group_id for g in groups]
        for gone in set(self.groups) - set(self.order):
            del self.groups[gone]
        changed = Part.GROUPS
        if self.current not in self.groups:
            self.current = self.order[0] if self.order else None
            changed |= Part.HISTORY | Part.MEMBERS | Part.SAFETY
        return changed

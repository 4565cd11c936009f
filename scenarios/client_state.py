"""What one actor's client has told the runner, folded from the client core's events.

The runner sees a client only through ``client.core.events`` (the same interface the
TUI uses): this module keeps the latest state per group (epoch and code, members,
messages from others, alarms) and every credential verdict, and turns it into the
run's ``GroupView`` values. Pure: events in, values out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from client.core import events as ev
from scenarios.phone_numbers import NumberNotValid, normalise_tn
from scenarios.results import CredentialVerdict, GroupView, MemberInfo, ReceivedMessage
from shared.identity_view import KIND_LABELS, IdentityView
from shared.safety_code import SafetyCode

_KIND_OF_LABEL = {label: kind for kind, label in KIND_LABELS.items()}


@functools.lru_cache(maxsize=65536)
def _tn_of_display(number: str) -> str:
    """Canonical digits of a formatted number ("+1 202-555-0101"); "" when it is none.

    Cached: parsing is ~100 µs and every member row of every client comes through here."""
    try:
        return normalise_tn(number)
    except NumberNotValid:
        return ""


@functools.lru_cache(maxsize=65536)
def member_info(identity: IdentityView) -> MemberInfo:
    """A member row's identity in the terms of scenario expectations.

    Cached (both are frozen): every client reports every member (O(N^2) rows in a
    large group), their rows arrive shared from a worker pipe (worker_frames), and the
    run's end and each send read them again."""
    return MemberInfo(
        tn=_tn_of_display(identity.number),
        name=identity.name,
        credential=_KIND_OF_LABEL.get(identity.kind, identity.kind),
        assurance=identity.assurance.name.lower().replace("_", "-"),
        stale=identity.stale,
    )


@dataclass
class GroupState:
    """One group as the client last described it."""

    group_id: bytes
    title: str = ""
    epoch: int = 0
    active: bool = True
    safety: SafetyCode | None = None
    members: tuple[ev.MemberRow, ...] = ()
    received: list[ReceivedMessage] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)  # own texts the service accepted
    alarm: bool = False


@dataclass
class ClientState:
    """Everything one actor's client reported, by group id."""

    actor: str
    tn_of_sender: dict[str, str] = field(default_factory=dict)  # display text -> tn
    groups: dict[bytes, GroupState] = field(default_factory=dict)
    verdicts: list[CredentialVerdict] = field(default_factory=list)
    invitations: dict[str, ev.Invitation] = field(default_factory=dict)
    notices: list[ev.Notice] = field(default_factory=list)
    connection: ev.ConnectionState | None = None
    connects: int = 0  # how many times the client (re)connected
    # Scenario group names by group id, shared with the engine (titles can lag behind).
    names: dict[bytes, str] = field(default_factory=dict)
    _tn_by_label: dict[str, str] = field(default_factory=dict, repr=False)

    def name_of(self, group_id: bytes) -> str | None:
        """The scenario's name for a group, else its title as the client shows it."""
        if group_id in self.names:
            return self.names[group_id]
        g = self.groups.get(group_id)
        return g.title if g else None

    def group(self, group_id: bytes) -> GroupState:
        """The state of ``group_id`` (made empty on first use)."""
        if group_id not in self.groups:
            self.groups[group_id] = GroupState(group_id)
        return self.groups[group_id]

    def group_by_title(self, title: str) -> GroupState | None:
        """The newest group with this title (scenario group names are titles)."""
        found = [g for g in self.groups.values() if g.title == title]
        return found[-1] if found else None

    def _sender_tn(self, sender: str) -> str:
        # One scan of the run's numbers per distinct sender label, not per message.
        found = self._tn_by_label.get(sender)
        if found is None:
            found = next(
                (tn for text, tn in self.tn_of_sender.items() if text and text in sender), ""
            )
            self._tn_by_label[sender] = found
        return found

    def apply(self, event: ev.CoreEvent) -> None:
        """Fold one event into the state."""
        match event:
            case ev.GroupsChanged():
                for summary in event.groups:
                    g = self.group(summary.group_id)
                    g.title, g.epoch, g.active = summary.title, summary.epoch, summary.active
            case ev.MessageReceived():
                line = event.line
                if line.own and not line.system:
                    self.group(line.group_id).sent.append(line.text)
                elif not line.system:
                    g = self.group(line.group_id)
                    g.received.append(
                        ReceivedMessage(
                            sender_tn=self._sender_tn(line.sender),
                            text=line.text,
                            epoch=g.epoch,
                            sender=line.sender,
                        )
                    )
            case ev.MembersChanged():
                g = self.group(event.group_id)
                known = {row.key for row in g.members}
                g.members = event.members
                for row in event.members:
                    if row.key not in known and not row.is_self:
                        self.verdicts.append(self._row_verdict(g, row))
            case ev.EpochChanged():
                g = self.group(event.group_id)
                g.safety, g.epoch = event.safety, event.safety.epoch
            case ev.CodeMismatch():
                self.group(event.group_id).alarm = True
            case ev.CredentialVerdict():
                self.verdicts.append(self._verdict(event))
            case ev.InvitationReceived():
                self.invitations[event.invitation.invitation_id] = event.invitation
            case ev.InvitationClosed():
                self.invitations.pop(event.invitation_id, None)
            case ev.Notice():
                self.notices.append(event)
            case ev.ConnectionChanged():
                self.connection = event.state
                if event.state == ev.ConnectionState.CONNECTED:
                    self.connects += 1
            case _:
                pass

    def _row_verdict(self, g: GroupState, row: ev.MemberRow) -> CredentialVerdict:
        """A member entering this client's list: its credential was checked (§6)."""
        if row.identity is not None:
            info = member_info(row.identity)
            return CredentialVerdict(
                verifier=self.actor,
                subject_tn=info.tn or None,
                kind=info.credential,
                where="member",
                accepted=True,
                group=self.name_of(g.group_id),
            )
        r = row.rejection
        return CredentialVerdict(
            verifier=self.actor,
            subject_tn=None,
            kind=None,
            where="member",
            accepted=False,
            group=self.name_of(g.group_id),
            subject=r.who if r else row.key[:16],
            reason=r.reason if r else None,
            rule=r.rule if r else None,
            detail=r.detail if r else None,
        )

    def _verdict(self, event: ev.CredentialVerdict) -> CredentialVerdict:
        title = self.name_of(event.group_id) if event.group_id is not None else None
        if event.accepted and event.identity is not None:
            info = member_info(event.identity)
            return CredentialVerdict(
                verifier=self.actor,
                subject_tn=info.tn or None,
                kind=info.credential,
                where=event.entry_point,
                accepted=True,
                group=title,
            )
        rejection = event.rejection
        return CredentialVerdict(
            verifier=self.actor,
            subject_tn=None,
            kind=None,
            where=event.entry_point,
            accepted=False,
            group=title,
            subject=rejection.who if rejection else None,
            reason=rejection.reason if rejection else None,
            rule=rejection.rule if rejection else None,
            detail=rejection.detail if rejection else None,
        )

    def member_tns(self, group_id: bytes) -> set[str]:
        """The numbers of the accepted members of ``group_id`` as this client lists them
        (as in its ``view``; empty before it holds a code)."""
        g = self.groups.get(group_id)
        if g is None or g.safety is None:
            return set()
        return {member_info(r.identity).tn for r in g.members if r.identity is not None}

    def view(self, group_name: str, group_id: bytes) -> GroupView | None:
        """The run's view of this actor's group (None before it holds a code)."""
        g = self.groups.get(group_id)
        if g is None or g.safety is None:
            return None
        return GroupView(
            actor=self.actor,
            group=group_name,
            epoch=g.safety.epoch,
            code=g.safety.display,
            authenticator=g.safety.authenticator.hex(),
            members=tuple(member_info(r.identity) for r in g.members if r.identity is not None),
            received=tuple(g.received),
            alarm=g.alarm,
            active=g.active,
        )

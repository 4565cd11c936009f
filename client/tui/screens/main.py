"""The main screen: groups, chat, members; every action has a key (see the footer)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from client.core.events import (
    ConnectionState,
    CreateGroup,
    InviteNumber,
    LeaveGroup,
    MemberRow,
    NoticeLevel,
    OpenGroup,
    RemoveMember,
    SendText,
)
from client.tui.host import ChatHost
from client.tui.model import ALL_PARTS, Part
from client.tui.screens.dialogs import Confirm, TextPrompt
from client.tui.screens.invitations import InvitationsScreen
from client.tui.screens.invite import InviteDialog
from client.tui.screens.verify import VerifyScreen
from client.tui.widgets.member_list import MemberList
from client.tui.widgets.message_log import MessageLog

CONNECTION_TEXT = {
    ConnectionState.CONNECTING: "connecting…",
    ConnectionState.CONNECTED: "online",
    ConnectionState.RECONNECTING: "reconnecting…",
    ConnectionState.OFFLINE: "offline",
}


class MainScreen(Screen[None]):
    """Groups list, chat pane, member pane, status line and footer."""

    BINDINGS = [  # noqa: RUF012
        Binding("ctrl+n", "new_group", "New group"),
        Binding("ctrl+o", "invite", "Invite"),
        Binding("ctrl+r", "invitations", "Invitations"),
        Binding("ctrl+g", "verify", "Verify"),
        Binding("ctrl+t", "remove", "Remove member"),
        Binding("ctrl+l", "leave", "Leave"),
    ]

    def __init__(self, host: ChatHost) -> None:
        super().__init__()
        self._host = host

    def compose(self) -> ComposeResult:
        """The three panes, the status line and the footer."""
        with Horizontal(id="panes"):
            with Vertical(id="groups-pane"):
                yield Label("Groups", classes="pane-title")
                yield OptionList(id="groups")
            with Vertical(id="chat-pane"):
                yield Label("", id="chat-title", classes="pane-title")
                yield MessageLog(id="log")
                yield Input(placeholder="Type a message, Enter to send", id="compose")
            with Vertical(id="members-pane"):
                yield Label("Members", id="members-title", classes="pane-title")
                yield MemberList(id="members")
                yield Static("", id="member-details")
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        """Draw everything and focus the message input."""
        self.refresh_from_model(ALL_PARTS)
        self.query_one("#compose", Input).focus()

    # ------------------------------------------------------------------ redraw

    def refresh_from_model(self, parts: Part) -> None:
        """Redraw the parts that changed."""
        model = self._host.model
        if parts & Part.GROUPS:
            self._draw_groups()
        state = model.current_group
        if parts & (Part.GROUPS | Part.SAFETY | Part.HISTORY):
            title = "No group: Ctrl+N creates one" if state is None else state.summary.title
            if state is not None and state.safety is not None:
                title += f"   epoch {state.safety.epoch}  code {state.safety.display}"
            if state is not None and not state.summary.active:
                title += "   (you are no longer a member)"
            self.query_one("#chat-title", Label).update(title)
        log = self.query_one(MessageLog)
        if parts & Part.HISTORY:
            log.set_lines(state.lines if state is not None else ())
        elif parts & Part.NEW_LINE and state is not None:
            for line in state.lines[log.line_count :]:
                log.append(line)
        if parts & (Part.MEMBERS | Part.SAFETY):
            members = self.query_one(MemberList)
            if state is None:
                members.set_members((), lambda _key: None)
            else:
                group_id = state.summary.group_id
                members.set_members(state.members, lambda key: model.mark_of(group_id, key))
                self.query_one("#members-title", Label).update(f"Members ({len(state.members)})")
            self._show_details(members.highlighted)
        if parts & (Part.STATUS | Part.INVITATIONS):
            self._draw_status()

    def _draw_groups(self) -> None:
        model = self._host.model
        groups = self.query_one("#groups", OptionList)
        groups.clear_options()
        for group_id in model.order:
            summary = model.groups[group_id].summary
            label = summary.title + ("" if summary.active else " (left)")
            groups.add_option(Option(label, id=group_id.hex()))
        if model.current in model.order:
            groups.highlighted = model.order.index(model.current)

    def _draw_status(self) -> None:
        model = self._host.model
        me = model.me.title if model.me is not None else "…"
        text = f"{me} · {CONNECTION_TEXT[model.connection]}"
        if model.connection_detail:
            text += f" ({model.connection_detail})"
        if model.invitations:
            text += f" · {len(model.invitations)} invitation(s): Ctrl+R"
        if model.notices:
            last = model.notices[-1]
            text += f" · {last.text}"
            self.set_class(last.level is NoticeLevel.ERROR, "-error")
        self.query_one("#status", Static).update(text)

    def _show_details(self, member: MemberRow | None) -> None:
        details = self.query_one("#member-details", Static)
        if member is None:
            details.update("")
        elif member.identity is not None:
            details.update("\n".join(member.identity.lines()))
        elif member.rejection is not None:
            details.update(member.rejection.text)

    def on_member_list_highlighted(self, event: MemberList.Highlighted) -> None:
        """Show the highlighted member's full description."""
        self._show_details(event.member)

    # ------------------------------------------------------------------ input

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Open the chosen group."""
        if event.option.id is None:
            return
        group_id = bytes.fromhex(event.option.id)
        parts = self._host.model.select(group_id)
        self._host.send_command(OpenGroup(group_id))
        self._host.model_changed(parts)
        self.query_one("#compose", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Send the typed message to the open group."""
        text = event.value.strip()
        state = self._host.model.current_group
        if not text:
            return
        if state is None or not state.summary.active:
            self.notify("Open a group you are a member of first.", severity="warning")
            return
        self._host.send_command(SendText(state.summary.group_id, text))
        event.input.value = ""

    # ------------------------------------------------------------------ actions

    def action_new_group(self) -> None:
        """Ask for a title and create a group."""

        def created(title: str | None) -> None:
            if title:
                self._host.send_command(CreateGroup(title))

        self.app.push_screen(TextPrompt("New group: title", "e.g. Family"), created)

    def action_invite(self) -> None:
        """Invite a phone number to the open group."""
        state = self._host.model.current_group
        if state is None or not state.summary.active:
            self.notify("Open a group first.", severity="warning")
            return
        group_id = state.summary.group_id

        def invited(tn: str | None) -> None:
            if tn:
                self._host.send_command(InviteNumber(group_id, tn))

        self.app.push_screen(InviteDialog(state.summary.title, self._host.default_region), invited)

    def action_invitations(self) -> None:
        """Show pending invitations."""
        self.app.push_screen(InvitationsScreen(self._host))

    def action_verify(self) -> None:
        """Open the Verify screen of the open group."""
        state = self._host.model.current_group
        if state is None:
            self.notify("Open a group first.", severity="warning")
            return
        self.app.push_screen(VerifyScreen(self._host, state.summary.group_id))

    def action_remove(self) -> None:
        """Remove the member under the member-pane cursor (after confirmation)."""
        state = self._host.model.current_group
        member = self.query_one(MemberList).highlighted
        if state is None or member is None:
            self.notify("Choose a member in the member pane (Tab to it).", severity="warning")
            return
        if member.is_self:
            self.notify("To remove yourself, leave the group (Ctrl+L).", severity="warning")
            return
        group_id = state.summary.group_id

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._host.send_command(RemoveMember(group_id, member.key))

        self.app.push_screen(
            Confirm(f"Remove {member.label} from {state.summary.title}?"), confirmed
        )

    def action_leave(self) -> None:
        """Leave the open group (after confirmation)."""
        state = self._host.model.current_group
        if state is None or not state.summary.active:
            self.notify("Open a group first.", severity="warning")
            return
        group_id = state.summary.group_id

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._host.send_command(LeaveGroup(group_id))

        self.app.push_screen(Confirm(f"Leave {state.summary.title}?"), confirmed)

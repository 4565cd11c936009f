"""Pending invitations: accept or refuse each one."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from client.core.events import AnswerInvitation, Invitation
from client.tui.host import ChatHost


class InvitationsScreen(ModalScreen[None]):
    """List of invitations; a = accept, r = refuse, Escape = close."""

    BINDINGS = [  # noqa: RUF012
        Binding("a", "answer(True)", "Accept"),
        Binding("r", "answer(False)", "Refuse"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, host: ChatHost) -> None:
        super().__init__()
        self._host = host

    def compose(self) -> ComposeResult:
        """Title and the list."""
        with Vertical(classes="dialog"):
            yield Label("Invitations (a = accept, r = refuse, Esc = close)")
            yield OptionList(id="invitation-list")
            yield Label("", id="invitation-empty", classes="hint")

    def on_mount(self) -> None:
        """Fill the list."""
        self.refresh_invitations()
        self.query_one(OptionList).focus()

    def refresh_invitations(self) -> None:
        """Redraw from the model."""
        options = self.query_one(OptionList)
        options.clear_options()
        invitations = list(self._host.model.invitations.values())
        options.add_options(Option(self._text(inv), id=inv.invitation_id) for inv in invitations)
        if invitations:
            options.highlighted = 0
        self.query_one("#invitation-empty", Label).update(
            "" if invitations else "No pending invitations."
        )

    @staticmethod
    def _text(invitation: Invitation) -> str:
        return f"{invitation.group_title} — from {invitation.inviter}"

    def action_answer(self, accept: bool) -> None:
        """Answer the highlighted invitation."""
        options = self.query_one(OptionList)
        if options.highlighted is None:
            return
        option = options.get_option_at_index(options.highlighted)
        if option.id is None:
            return
        self._host.send_command(AnswerInvitation(option.id, accept))
        # The core confirms with InvitationClosed; remove it now so the list is honest
        # about what is still to answer.
        self._host.model.invitations.pop(option.id, None)
        self.refresh_invitations()

    def action_close(self) -> None:
        """Close the list."""
        self.dismiss(None)

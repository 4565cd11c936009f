"""Invite a person by typing their phone number."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from shared.stir.errors import InvalidNumber
from shared.stir.numbers import display, normalise


class InviteDialog(ModalScreen[str | None]):
    """Ask for a number; returns canonical E.164 digits, or None when cancelled.

    Input is parsed with libphonenumber's rules; anything that is not a possible number
    is refused on the spot with the reason, and the dialog stays open.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]  # noqa: RUF012

    def __init__(self, group_title: str, default_region: str | None) -> None:
        super().__init__()
        self._group_title = group_title
        self._region = default_region

    def compose(self) -> ComposeResult:
        """Prompt, input, error line."""
        hint = (
            f"numbers without '+' are read as {self._region} numbers"
            if self._region
            else "start with + and the country code"
        )
        with Vertical(classes="dialog"):
            yield Label(f"Invite to {self._group_title}: phone number ({hint})")
            yield Input(placeholder="+1 202 555 0101", id="invite-number")
            yield Label("", id="invite-error", classes="error")

    def on_input_changed(self, event: Input.Changed) -> None:
        """Clear a previous error while the user corrects the number."""
        self.query_one("#invite-error", Label).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Validate and return the number, or say what is wrong."""
        try:
            tn = normalise(event.value, self._region)
        except InvalidNumber as exc:
            self.query_one("#invite-error", Label).update(f"Not a phone number: {exc}")
            return
        self.notify(f"Inviting {display(tn)}")
        self.dismiss(tn)

    def action_cancel(self) -> None:
        """Close without inviting."""
        self.dismiss(None)

"""The code-mismatch alarm: loud, and it stays until the user dismisses it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from client.tui.model import Alarm


class MismatchAlarm(ModalScreen[None]):
    """Names both members and the epoch; only the Dismiss button closes it."""

    def __init__(self, alarm: Alarm) -> None:
        super().__init__()
        self.alarm = alarm

    def compose(self) -> ComposeResult:
        """Title, the explanation and a single button."""
        with Vertical(id="alarm-box"):
            yield Label("⚠  SAFETY CODES DIFFER  ⚠", id="alarm-title")
            yield Static(self.alarm.text, id="alarm-text")
            yield Button("Dismiss (Enter)", id="alarm-dismiss", variant="error")

    def on_mount(self) -> None:
        """Focus the button so Enter dismisses and nothing else does."""
        self.query_one("#alarm-dismiss", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Dismiss."""
        event.stop()
        self.dismiss(None)

"""What screens need from the app that hosts them (so screens do not import the app)."""

from __future__ import annotations

from typing import Protocol

from client.core.events import Command
from client.tui.model import ChatModel, Part


class ChatHost(Protocol):
    """The app as its screens see it: the model, and a way to send commands to the core."""

    model: ChatModel
    default_region: str | None

    def send_command(self, command: Command) -> None:
        """Hand a command to the core."""

    def model_changed(self, parts: Part) -> None:
        """Redraw after a local change of the model (e.g. a mark)."""

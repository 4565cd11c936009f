"""The Textual chat app: wires the screens to the core through events and commands.

The app only wires: it keeps the model (client.tui.model), turns core events into
redraws, and hands commands to whatever ``send_command`` it was given (the trio core in
guest mode, or a recorder in tests). Screens and widgets live in their own modules.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.message import Message

from client.core.events import Command, CoreEvent, Shutdown
from client.tui.guest import CoreMain, TrioGuest
from client.tui.model import ChatModel, Part
from client.tui.screens.alarm import MismatchAlarm
from client.tui.screens.invitations import InvitationsScreen
from client.tui.screens.main import MainScreen
from client.tui.screens.verify import VerifyScreen


class CoreEventMessage(Message):
    """A core event travelling on Textual's message queue."""

    def __init__(self, event: CoreEvent) -> None:
        super().__init__()
        self.event = event


class ChatApp(App[None]):
    """The stirmls chat TUI."""

    CSS_PATH = Path(__file__).with_name("chat.tcss")
    TITLE = "stirmls"

    def __init__(
        self,
        send_command: Callable[[Command], None] | None = None,
        *,
        default_region: str | None = None,
        core: CoreMain | None = None,
    ) -> None:
        """``send_command`` receives the UI's commands (tests); or ``core`` is started as
        a trio guest on the app's loop when the app mounts, and stopped with the app."""
        super().__init__()
        self.model = ChatModel()
        self.default_region = default_region
        self._send = send_command or (lambda _command: None)
        self.guest = TrioGuest(core) if core is not None else None

    # ------------------------------------------------------------------ wiring

    def on_mount(self) -> None:
        """Show the main screen and start the core."""
        self.push_screen(MainScreen(self))
        if self.guest is not None:
            self.guest.start(self)

    async def on_unmount(self) -> None:
        """Stop the core with the app (it is cancelled if it did not stop on Shutdown)."""
        if self.guest is not None and self.guest.running:
            await self.guest.stop()

    def send_command(self, command: Command) -> None:
        """Hand a command to the core."""
        self._send(command)

    def set_command_sink(self, send_command: Callable[[Command], None]) -> None:
        """Connect (or reconnect) the core's command input."""
        self._send = send_command

    def deliver(self, event: CoreEvent) -> None:
        """Queue an event from the core (processed in order on the app's loop)."""
        self.post_message(CoreEventMessage(event))

    def on_core_event_message(self, message: CoreEventMessage) -> None:
        """Apply an event to the model and redraw what it changed."""
        self.model_changed(self.model.apply(message.event))

    def model_changed(self, parts: Part) -> None:
        """Redraw the screens on the stack, and raise a pending alarm."""
        if not parts:
            return
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen | VerifyScreen):
                screen.refresh_from_model(parts)
            elif isinstance(screen, InvitationsScreen) and parts & Part.INVITATIONS:
                screen.refresh_invitations()
        if parts & Part.ALARM:
            self._show_alarm()

    def _show_alarm(self) -> None:
        if not self.model.alarms:
            return
        if any(isinstance(screen, MismatchAlarm) for screen in self.screen_stack):
            return  # one at a time; the next follows when this one is dismissed

        def dismissed(_result: None) -> None:
            self.model.dismiss_alarm()
            self.model_changed(Part.ALARM | Part.MEMBERS)

        self.push_screen(MismatchAlarm(self.model.alarms[0]), dismissed)

    async def action_quit(self) -> None:
        """Stop the core, then exit."""
        self.send_command(Shutdown())
        self.exit()

"""The Verify screen: epoch, 30-digit code, QR code, and marking members (PROFILE.md §8)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static

from client.core.events import MarkCode
from client.tui.host import ChatHost
from client.tui.model import Mark, Part
from client.tui.qr_text import qr_text
from client.tui.widgets.member_list import MemberList
from shared.safety_code import (
    HIGH_ASSURANCE_NOTE,
    Comparison,
    SafetyCodeError,
    parse_qr_payload,
)


class VerifyScreen(Screen[None]):
    """Compare the current epoch's code with each member, out of band."""

    BINDINGS = [  # noqa: RUF012
        Binding("m", "mark(True)", "Codes match"),
        Binding("d", "mark(False)", "Codes differ"),
        Binding("ctrl+k", "focus_compare", "Paste their code"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, host: ChatHost, group_id: bytes) -> None:
        super().__init__()
        self._host = host
        self.group_id = group_id

    def compose(self) -> ComposeResult:
        """Code and QR on the left; members and the comparison input on the right."""
        with Horizontal():
            with Vertical(id="verify-code-pane"):
                yield Label("", id="verify-title")
                yield Static("", id="verify-epoch")
                yield Static("", id="verify-code")
                yield Static(HIGH_ASSURANCE_NOTE, id="verify-note")
                yield Static("", id="verify-qr")
            with Vertical(id="verify-members-pane"):
                yield Label("Compare with (m = match, d = differ):")
                yield MemberList(id="verify-members")
                yield Input(
                    placeholder="their verify payload or their 30 digits",
                    id="verify-compare",
                )
                yield Label("", id="verify-result")
        yield Footer()

    def on_mount(self) -> None:
        """Draw from the model and put the cursor on the member list."""
        self.refresh_from_model(Part.SAFETY | Part.MEMBERS)
        self.query_one(MemberList).focus()

    def refresh_from_model(self, parts: Part) -> None:
        """Redraw what changed."""
        state = self._host.model.group(self.group_id)
        if state is None:
            return
        if parts & (Part.SAFETY | Part.GROUPS):
            self.query_one("#verify-title", Label).update(f"Verify “{state.summary.title}”")
            safety = state.safety
            if safety is None:
                self.query_one("#verify-epoch", Static).update("No epoch yet.")
                self.query_one("#verify-code", Static).update("")
                self.query_one("#verify-qr", Static).update("")
            else:
                self.query_one("#verify-epoch", Static).update(
                    f"Epoch {safety.epoch} — compare only at the same epoch"
                )
                self.query_one("#verify-code", Static).update(safety.display)
                self.query_one("#verify-qr", Static).update(qr_text(safety.qr_payload()))
        if parts & (Part.MEMBERS | Part.SAFETY):
            others = tuple(m for m in state.members if not m.is_self)
            self.query_one(MemberList).set_members(
                others, lambda key: self._host.model.mark_of(self.group_id, key)
            )

    def _record(self, matches: bool) -> None:
        state = self._host.model.group(self.group_id)
        member = self.query_one(MemberList).highlighted
        if state is None or state.safety is None or member is None:
            self.notify("Choose a member to compare with.", severity="warning")
            return
        mark = Mark.MATCH if matches else Mark.DIFFER
        parts = self._host.model.mark(self.group_id, member.key, mark)
        self._host.send_command(MarkCode(self.group_id, state.safety.epoch, member.key, matches))
        self._host.model_changed(parts)

    def action_mark(self, matches: bool) -> None:
        """Record the comparison with the highlighted member."""
        self._record(matches)

    def action_focus_compare(self) -> None:
        """Move to the input for the other member's payload or digits."""
        self.query_one("#verify-compare", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Compare what the other member shows with ours, and mark the highlighted member."""
        state = self._host.model.group(self.group_id)
        result = self.query_one("#verify-result", Label)
        if state is None or state.safety is None:
            result.update("No code to compare yet.")
            return
        text = event.value.strip()
        try:
            if text.startswith("stirmls-verify:"):
                outcome = state.safety.compare(parse_qr_payload(text))
            else:
                outcome = state.safety.compare_digits(text)
        except SafetyCodeError as exc:
            result.update(f"Cannot compare: {exc}")
            return
        if outcome is Comparison.DIFFERENT_EPOCH:
            result.update("That code is for another epoch: both must be at the same epoch.")
            return
        if outcome is Comparison.DIFFERENT_GROUP:
            result.update("That code is for another group.")
            return
        event.input.value = ""
        result.update("Codes match." if outcome is Comparison.MATCH else "CODES DIFFER.")
        self.query_one(MemberList).focus()
        self._record(outcome is Comparison.MATCH)

    def action_back(self) -> None:
        """Return to the chat."""
        self.app.pop_screen()

"""The member pane's list: one row per member, virtualised, keyboard driven.

Each row shows the user's comparison mark for the current epoch (✔ match, ✘ differ),
the member's name and formatted number, and the badge of credential kind and assurance.
A rejected credential is shown in red with its reason. Only visible rows are rendered,
so a 1,000-member group scrolls as smoothly as a small one.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from client.core.events import MemberRow
from client.tui.model import Mark
from shared.identity_view import AssuranceLevel

BADGE_STYLES = {
    AssuranceLevel.END_TO_END: Style(color="green"),
    AssuranceLevel.CARRIER_KEY: Style(color="yellow"),
    AssuranceLevel.PROVIDER_ATTESTED_KEY: Style(color="yellow", bold=True),
}
MARK_TEXT = {None: "  ", Mark.MATCH: "✔ ", Mark.DIFFER: "✘ "}
MARK_STYLES = {
    None: Style(),
    Mark.MATCH: Style(color="green", bold=True),
    Mark.DIFFER: Style(color="red", bold=True),
}
REJECTED_STYLE = Style(color="red")
CURSOR_STYLE = Style(reverse=True)


class MemberList(ScrollView, can_focus=True):
    """Members of one group with a keyboard cursor."""

    DEFAULT_CSS = """
    MemberList { height: 1fr; overflow-x: hidden; scrollbar-gutter: stable; }
    """
    BINDINGS = [  # noqa: RUF012 - Textual declares bindings as class lists
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)

    class Highlighted(Message):
        """The cursor moved to a member."""

        def __init__(self, member: MemberRow | None) -> None:
            super().__init__()
            self.member = member

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._members: tuple[MemberRow, ...] = ()
        self._mark_of: Callable[[str], Mark | None] = lambda _key: None

    @property
    def members(self) -> tuple[MemberRow, ...]:
        """The rows shown."""
        return self._members

    @property
    def highlighted(self) -> MemberRow | None:
        """The member under the cursor."""
        if 0 <= self.cursor < len(self._members):
            return self._members[self.cursor]
        return None

    def set_members(
        self, members: tuple[MemberRow, ...], mark_of: Callable[[str], Mark | None]
    ) -> None:
        """Show these members; ``mark_of(key)`` gives each one's comparison mark."""
        previous = self.highlighted.key if self.highlighted is not None else None
        self._members = members
        self._mark_of = mark_of
        self.virtual_size = Size(self.size.width, len(members))
        keys = [m.key for m in members]
        new_cursor = keys.index(previous) if previous in keys else 0
        self.cursor = min(new_cursor, max(len(members) - 1, 0))
        self.refresh()

    def refresh_marks(self, mark_of: Callable[[str], Mark | None]) -> None:
        """Redraw with new marks (same members)."""
        self._mark_of = mark_of
        self.refresh()

    # ------------------------------------------------------------------ cursor

    def watch_cursor(self, cursor: int) -> None:
        """Keep the cursor visible and tell the screen."""
        self.scroll_to_region(Region(0, cursor, 1, 1), animate=False, immediate=True)
        self.refresh()
        self.post_message(self.Highlighted(self.highlighted))

    def _move(self, to: int) -> None:
        if self._members:
            self.cursor = max(0, min(to, len(self._members) - 1))

    def action_cursor_up(self) -> None:
        """Move up one member."""
        self._move(self.cursor - 1)

    def action_cursor_down(self) -> None:
        """Move down one member."""
        self._move(self.cursor + 1)

    def action_page_up(self) -> None:
        """Move up one page."""
        self._move(self.cursor - max(self.size.height - 1, 1))

    def action_page_down(self) -> None:
        """Move down one page."""
        self._move(self.cursor + max(self.size.height - 1, 1))

    def action_first(self) -> None:
        """Move to the first member."""
        self._move(0)

    def action_last(self) -> None:
        """Move to the last member."""
        self._move(len(self._members) - 1)

    # ------------------------------------------------------------------ rendering

    def row_segments(self, member: MemberRow) -> list[Segment]:
        """The segments of one member's row (without the cursor highlight)."""
        mark = self._mark_of(member.key)
        segments = [Segment(MARK_TEXT[mark], MARK_STYLES[mark])]
        if member.identity is None:
            reason = member.rejection.reason if member.rejection else "unverified"
            segments.append(Segment(f"{member.label} [REJECTED: {reason}]", REJECTED_STYLE))
            return segments
        label = member.identity.title + (" (you)" if member.is_self else "")
        if not member.identity.number_certified and member.identity.number_note:
            label += f" ({member.identity.number_note})"
        segments.append(Segment(label + " "))
        badge_style = BADGE_STYLES[member.identity.assurance]
        segments.append(Segment(member.identity.badge, badge_style))
        if member.identity.stale:
            segments.append(Segment(" stale", Style(color="red")))
        return segments

    def render_line(self, y: int) -> Strip:
        """Render one visible row (Textual's line API)."""
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index >= len(self._members):
            return Strip.blank(width, self.rich_style)
        strip = Strip(self.row_segments(self._members[index]))
        if index == self.cursor and self.has_focus:
            strip = strip.apply_style(CURSOR_STYLE)
        elif index == self.cursor:
            strip = strip.apply_style(Style(underline=True))
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def on_focus(self) -> None:
        """Show the cursor as focused."""
        self.refresh()

    def on_blur(self) -> None:
        """Show the cursor as unfocused."""
        self.refresh()

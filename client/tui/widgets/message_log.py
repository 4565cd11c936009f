"""The chat pane: a virtualised view of a group's history.

Only the visible lines are rendered (Textual's line API), and a message is wrapped only
when it first scrolls into view, so 10,000 messages open as fast as 10. Heights are
kept per message so that the scroll range is exact.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from client.core.events import ChatLine

TIME_STYLE = Style(dim=True)
SENDER_STYLE = Style(bold=True, color="cyan")
OWN_STYLE = Style(bold=True, color="green")
SYSTEM_STYLE = Style(italic=True, color="yellow")


class MessageLog(ScrollView, can_focus=True):
    """A scrolling, wrapping, virtualised list of chat lines."""

    DEFAULT_CSS = """
    MessageLog { height: 1fr; overflow-x: hidden; scrollbar-gutter: stable; }
    """
    BINDINGS = [  # noqa: RUF012 - Textual declares bindings as class lists
        ("up", "scroll_up", "Up"),
        ("down", "scroll_down", "Down"),
        ("pageup", "page_up", "Page up"),
        ("pagedown", "page_down", "Page down"),
        ("home", "scroll_home", "Top"),
        ("end", "scroll_end", "Bottom"),
    ]

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(name=name, id=id)
        self._lines: list[ChatLine] = []
        self._width = 0
        # Per message: its wrapped strips (None until first needed) and its height.
        self._strips: list[list[Strip] | None] = []
        self._heights: list[int] = []
        # Row y -> (message index, line within message); rebuilt on width change only.
        self._rows: list[tuple[int, int]] = []

    @property
    def line_count(self) -> int:
        """Number of messages shown."""
        return len(self._lines)

    def set_lines(self, lines: Iterable[ChatLine]) -> None:
        """Replace the history shown and scroll to its end."""
        self._lines = list(lines)
        self._relayout()
        self._follow_end()

    def append(self, line: ChatLine) -> None:
        """Add one line; follow the end when the view was at the end."""
        at_end = self.scroll_y >= self.max_scroll_y
        index = len(self._lines)
        self._lines.append(line)
        height = self._height_of(line)
        self._strips.append(None)
        self._heights.append(height)
        self._rows.extend((index, n) for n in range(height))
        self.virtual_size = Size(self._width, len(self._rows))
        self.refresh()
        if at_end:
            self._follow_end()

    def _follow_end(self) -> None:
        # Forced: the scrollbar that permits scrolling appears only at the next layout.
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)
        # The layout that follows may change the height (a scrollbar appears): again then.
        self.call_after_refresh(self.scroll_end, animate=False, immediate=True)

    # ------------------------------------------------------------------ layout

    def _content_width(self) -> int:
        return max(self.scrollable_content_region.width, 10)

    def _prefix(self, line: ChatLine) -> str:
        return f"{line.sent_at:%H:%M} {'me' if line.own else line.sender}: "

    def _height_of(self, line: ChatLine) -> int:
        if line.system:
            full = len(line.sent_at.strftime("%H:%M")) + 4 + len(line.text)
        else:
            full = len(self._prefix(line)) + len(line.text)
        if full <= self._width and "\n" not in line.text:
            return 1  # the common case, without wrapping anything
        return len(self._wrap(line))

    def _wrap(self, line: ChatLine) -> list[str]:
        if line.system:
            first = f"{line.sent_at:%H:%M} ── {line.text}"
        else:
            first = self._prefix(line) + line.text
        out: list[str] = []
        for paragraph in first.split("\n"):
            out.extend(
                textwrap.wrap(
                    paragraph,
                    self._width,
                    subsequent_indent="      ",
                    drop_whitespace=True,
                    break_long_words=True,
                )
                or [""]
            )
        return out

    def _relayout(self) -> None:
        self._width = self._content_width()
        self._strips = [None] * len(self._lines)
        self._heights = [self._height_of(line) for line in self._lines]
        rows: list[tuple[int, int]] = []
        for index, height in enumerate(self._heights):
            rows.extend((index, n) for n in range(height))
        self._rows = rows
        self.virtual_size = Size(self._width, len(rows))
        self.refresh()

    def on_resize(self) -> None:
        """Re-wrap when the width changes."""
        if self._content_width() != self._width:
            at_end = self.scroll_y >= self.max_scroll_y
            self._relayout()
            if at_end:
                self._follow_end()

    def _strips_of(self, index: int) -> list[Strip]:
        cached = self._strips[index]
        if cached is not None:
            return cached
        line = self._lines[index]
        strips: list[Strip] = []
        for n, text in enumerate(self._wrap(line)):
            if line.system:
                segments = [Segment(text, SYSTEM_STYLE)]
            elif n == 0:
                time_part = text[:6]
                prefix = self._prefix(line)
                sender_part = text[6 : len(prefix)]
                style = OWN_STYLE if line.own else SENDER_STYLE
                segments = [
                    Segment(time_part, TIME_STYLE),
                    Segment(sender_part, style),
                    Segment(text[len(prefix) :]),
                ]
            else:
                segments = [Segment(text)]
            strips.append(Strip(segments))
        self._strips[index] = strips
        return strips

    def render_line(self, y: int) -> Strip:
        """Render one visible row (Textual's line API)."""
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        if row >= len(self._rows):
            return Strip.blank(width, self.rich_style)
        index, n = self._rows[row]
        strips = self._strips_of(index)
        strip = strips[n] if n < len(strips) else Strip.blank(width)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

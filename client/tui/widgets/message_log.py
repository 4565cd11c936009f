"""The chat pane: a virtualised view of a group's history.

Only the visible lines are rendered (Textual's line API), and a message is wrapped only
when it first scrolls into view, so 10,000 messages open as fast as 10. Heights are
kept per message so that the scroll range is exact.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable

from rich.cells import cell_len
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
INDENT = "      "  # continuation lines start under the message text


def _cells(text: str) -> int:
    # Wide characters (CJK, emoji) take two cells; ASCII, the common case, is cheap.
    return len(text) if text.isascii() else cell_len(text)


def wrap_words(text: str, width: int, indent: str = INDENT) -> list[str]:
    """Greedy word wrap to ``width`` cells; continuation lines start with ``indent``;
    a word longer than a line is cut.

    Written for speed (a 10,000-message history is laid out on every resize): one pass,
    no regular expressions, ASCII measured by ``len``.
    """
    if _cells(text) <= width:
        return [text]
    out: list[str] = []
    line = ""
    fresh = True  # nothing but the indent on the current line yet
    for word in text.split(" "):
        candidate = line + word if fresh else f"{line} {word}"
        if _cells(candidate) <= width:
            line, fresh = candidate, False
            continue
        if not fresh:
            out.append(line)
            line, fresh = indent, True
        while _cells(line + word) > width:
            room = max(width - _cells(line), 1)
            cut = room
            while cut > 1 and _cells(word[:cut]) > room:
                cut -= 1
            out.append(line + word[:cut])
            word = word[cut:]
            line, fresh = indent, True
        line, fresh = line + word, False
    if not fresh:
        out.append(line)
    return out or [""]


def wrapped_height(text: str, width: int, indent: str = INDENT) -> int:
    """``len(wrap_words(text, width, indent))`` without building the lines (ASCII fast
    path: word lengths only), so that laying out a long history stays cheap."""
    if not text.isascii() or width <= len(indent) + 1:
        return len(wrap_words(text, width, indent))
    if len(text) <= width:
        return 1
    lines = 0
    used = 0
    fresh = True
    ind = len(indent)
    for word in text.split(" "):
        size = len(word)
        if (used + size if fresh else used + 1 + size) <= width:
            used += size if fresh else 1 + size
            fresh = False
            continue
        if not fresh:
            lines += 1
            used, fresh = ind, True
        while used + size > width:
            lines += 1
            size -= max(width - used, 1)
            used, fresh = ind, True
        used += size
        fresh = False
    if not fresh:
        lines += 1
    return max(lines, 1)


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
        # First row of each message, and the number of rows: row -> message by bisection.
        self._starts: list[int] = []
        self._total = 0

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
        self._lines.append(line)
        height = self._height_of(line)
        self._strips.append(None)
        self._heights.append(height)
        self._starts.append(self._total)
        self._total += height
        self.virtual_size = Size(self._width, self._total)
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

    @staticmethod
    def _time(line: ChatLine) -> str:
        when = line.sent_at
        return f"{when.hour:02d}:{when.minute:02d}"

    def _prefix(self, line: ChatLine) -> str:
        return f"{self._time(line)} {'me' if line.own else line.sender}: "

    def _full(self, line: ChatLine) -> str:
        if line.system:
            return f"{self._time(line)} ── {line.text}"
        return self._prefix(line) + line.text

    def _height_of(self, line: ChatLine) -> int:
        full = self._full(line)
        if "\n" not in full:
            return wrapped_height(full, self._width)
        return len(self._wrap(line))

    def _wrap(self, line: ChatLine) -> list[str]:
        out: list[str] = []
        for n, paragraph in enumerate(self._full(line).split("\n")):
            out.extend(wrap_words(paragraph if n == 0 else INDENT + paragraph, self._width))
        return out

    def _relayout(self) -> None:
        self._width = self._content_width()
        self._strips = [None] * len(self._lines)
        self._heights = [self._height_of(line) for line in self._lines]
        self._starts = [0, *itertools.accumulate(self._heights)]
        self._total = self._starts.pop()
        self.virtual_size = Size(self._width, self._total)
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
        if row >= self._total:
            return Strip.blank(width, self.rich_style)
        index = bisect.bisect_right(self._starts, row) - 1
        n = row - self._starts[index]
        strips = self._strips_of(index)
        strip = strips[n] if n < len(strips) else Strip.blank(width)
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

"""Line numbers of keys in a TOML text, which tomllib does not give.

A light scan of the source: it follows table headers (counting ``[[array]]`` tables so
that ``step[3]`` is the third ``[[step]]``, from 1), records the line of every
``key = value``, and skips over multi-line arrays, inline tables and strings so that their
contents are not mistaken for keys. It only has to be right for files tomllib accepted.
"""

from __future__ import annotations

import re

_INLINE_KEY = re.compile(r"([A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')\s*=")


def _split_dotted(text: str) -> list[str]:
    """``a."b.c".d`` -> ["a", "b.c", "d"]."""
    parts: list[str] = []
    current = ""
    quote: str | None = None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
            else:
                current += ch
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    parts.append(current.strip())
    return parts


def _key_and_rest(line: str) -> tuple[str, str] | None:
    """Split ``key = value`` at the first '=' outside quotes."""
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return line[:i].strip(), line[i + 1 :].strip()
    return None


class _ValueScanner:
    """Tracks whether a value continues on the next lines (open brackets, long strings)."""

    def __init__(self) -> None:
        self.depth = 0
        self.long_quote: str | None = None

    @property
    def open(self) -> bool:
        return self.depth > 0 or self.long_quote is not None

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            if self.long_quote:
                end = text.find(self.long_quote, i)
                if end < 0:
                    return
                self.long_quote = None
                i = end + 3
                continue
            ch = text[i]
            if text.startswith('"""', i) or text.startswith("'''", i):
                self.long_quote = text[i : i + 3]
                i += 3
                continue
            if ch in "\"'":
                end = i + 1
                while end < len(text) and text[end] != ch:
                    end += 2 if ch == '"' and text[end] == "\\" else 1
                i = end + 1
                continue
            if ch == "#":
                return
            if ch in "[{":
                self.depth += 1
            elif ch in "]}":
                self.depth -= 1
            i += 1


def key_lines(text: str) -> dict[str, int]:
    """Map every key path in ``text`` (``actors.alice.tn``, ``step[3].action``) to its line.

    Tables map to their header's line. Keys of one-line inline tables map to that line.
    """
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    table: list[str] = []
    value = _ValueScanner()
    for number, raw in enumerate(text.splitlines(), start=1):
        if value.open:
            value.feed(raw)
            continue
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[["):
            name = stripped[2 : stripped.index("]]")]
            parts = _split_dotted(name)
            base = ".".join(parts)
            counts[base] = counts.get(base, 0) + 1
            table = [*parts[:-1], f"{parts[-1]}[{counts[base]}]"]
            lines.setdefault(".".join(table), number)
            continue
        if stripped.startswith("["):
            name = stripped[1 : stripped.index("]")]
            table = _split_dotted(name)
            lines.setdefault(".".join(table), number)
            continue
        split = _key_and_rest(stripped)
        if split is None:
            continue
        key, rest = split
        path = ".".join([*table, *_split_dotted(key)])
        lines.setdefault(path, number)
        if rest.startswith("{"):
            for match in _INLINE_KEY.finditer(rest):
                sub = match.group(1).strip("\"'")
                lines.setdefault(f"{path}.{sub}", number)
        value.feed(rest)
    return lines


_TAIL = re.compile(r"(\.[^.\[\]]+|\[\d+\])$")


def line_of(lines: dict[str, int], key: str) -> int | None:
    """The line of ``key``, or of its nearest enclosing key or table that has one."""
    while key:
        if key in lines:
            return lines[key]
        shorter = _TAIL.sub("", key)
        if shorter == key:
            break
        key = shorter
    return None

"""The run's transcript: every event as one JSON object per line (JSON Lines).

Lines are written as events happen and flushed (at least every 0.1 s, and on close), so
a run that stops early still leaves what happened up to that point.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import IO

from scenarios.results import Event, EventKind, JSONValue

# Keys every transcript line has; an event's data must not overwrite them.
RESERVED_KEYS = frozenset({"seq", "t", "kind", "actor", "group"})
FLUSH_EVERY = 0.1  # seconds


def event_line(event: Event) -> str:
    """The transcript line for one event (no newline)."""
    return json.dumps(event.to_json(), ensure_ascii=False, separators=(",", ":"))


def read_transcript(path: Path) -> list[dict[str, JSONValue]]:
    """The transcript's events as dicts, in order."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Recorder:
    """Numbers and timestamps events, keeps them, and writes each to the transcript file."""

    def __init__(
        self, path: Path | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._start = clock()
        self._events: list[Event] = []
        self._file: IO[str] | None = None
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", encoding="utf-8")
        self._listeners: list[Callable[[Event], None]] = []
        self._flushed = -FLUSH_EVERY

    def listen(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` with every later event (the progress display)."""
        self._listeners.append(listener)

    def record(
        self,
        kind: EventKind,
        /,
        *,
        actor: str | None = None,
        group: str | None = None,
        **data: JSONValue,
    ) -> Event:
        """Add one event; returns it. ``data`` must not reuse the line's own keys."""
        clash = RESERVED_KEYS.intersection(data)
        if clash:
            raise ValueError(f"event data may not use the keys {sorted(clash)}")
        event = Event(
            seq=len(self._events) + 1,
            t=self._clock() - self._start,
            kind=kind,
            actor=actor,
            group=group,
            data=dict(data),
        )
        self._events.append(event)
        if self._file is not None:
            self._file.write(event_line(event) + "\n")
            # Flushed at most every FLUSH_EVERY seconds (and on close): a flush per line
            # was a visible share of a large run (one line per delivery per member).
            if event.t - self._flushed >= FLUSH_EVERY:
                self._file.flush()
                self._flushed = event.t
        for listener in self._listeners:
            listener(event)
        return event

    @property
    def events(self) -> tuple[Event, ...]:
        """Every event so far."""
        return tuple(self._events)

    def elapsed(self) -> float:
        """Seconds since the recorder was made."""
        return self._clock() - self._start

    def close(self) -> None:
        """Close the transcript file."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_transcript(events: Iterable[Event], path: Path) -> None:
    """Write ``events`` to ``path`` as JSON Lines (for results built after the fact)."""
    with path.open("w", encoding="utf-8") as f:
        for event in events:
            f.write(event_line(event) + "\n")

"""The progress display while a scenario runs (rich, on stderr so ``--json`` stays clean)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from scenarios.model import Scenario
from scenarios.narration import narrate
from scenarios.results import Event


class ProgressDisplay:
    """A bar over the scenario's steps; with ``story``, a plain-words line per event."""

    def __init__(self, scenario: Scenario, *, console: Console, story: bool = False) -> None:
        self.scenario = scenario
        self.console = console
        self.story = story
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task(scenario.name, total=len(scenario.steps))

    def on_event(self, event: Event) -> None:
        """Advance on each finished step; tell the story when asked to."""
        if event.kind == "step" and event.data.get("phase") == "end":
            self.progress.advance(self.task)
        elif event.kind == "step" and event.data.get("phase") == "start":
            label = event.data.get("label")
            self.progress.update(self.task, description=f"{self.scenario.name}: {label}")
        if self.story:
            sentence = narrate(self.scenario, event)
            if sentence:
                self.progress.console.print(sentence, highlight=False)

    def __enter__(self) -> ProgressDisplay:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

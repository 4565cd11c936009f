"""Running a scenario end to end: load, run on the engine, check, write the outputs.

The engine (scenarios.engine) drives a real delivery service and real clients; this
module only wires it to the outputs, so the outputs are the same whoever runs them.
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import trio

from scenarios.errors import EngineUnavailable, WorkerFailed
from scenarios.expectations import Verdict, evaluate, run_passed
from scenarios.model import Scenario
from scenarios.readiness import missing_pieces, scenario_waits_for
from scenarios.report import render_report, summary
from scenarios.results import Event, JSONValue, RunResult
from scenarios.transcript import Recorder

TRANSCRIPT_NAME = "transcript.jsonl"
REPORT_NAME = "report.md"


class Engine(Protocol):
    """Runs a scenario for real and records what happened."""

    async def run(self, scenario: Scenario, run_dir: Path, recorder: Recorder) -> RunResult:
        """Run every step, with the adversaries acting; return what each client holds."""
        ...


@dataclass(frozen=True)
class RunOutcome:
    """A finished run: its result, the expectations' verdicts and where the outputs are."""

    result: RunResult
    verdicts: tuple[Verdict, ...]
    run_dir: Path
    report: Path
    transcript: Path

    @property
    def passed(self) -> bool:
        """The run went to its end and every expectation held."""
        return run_passed(self.result, self.verdicts)

    @property
    def exit_status(self) -> int:
        """0 when the run passed, 1 otherwise (the CLI's status)."""
        return 0 if self.passed else 1

    def summary(self) -> dict[str, JSONValue]:
        """The ``--json`` summary."""
        return summary(self.result, self.verdicts, report=self.report, transcript=self.transcript)


def load_engine(scenario: Scenario | None = None, *, processes: int = 0) -> Engine:
    """The real engine; EngineUnavailable naming what is missing when it cannot run
    (``scenario`` in particular, when given). ``processes``: run the clients in that
    many worker processes (``scenarios.process_launcher``); 0, in this process."""
    missing = missing_pieces() + (scenario_waits_for(scenario) if scenario else ())
    if missing:
        raise EngineUnavailable(missing)
    module = importlib.import_module("scenarios.engine")
    if processes > 0:
        from scenarios.process_launcher import ProcessLauncher

        launcher = ProcessLauncher(processes)
        engine: Engine = module.RealEngine(launcher)
    else:
        engine = module.RealEngine()
    return engine


def new_run_dir(out: Path | None, scenario: Scenario) -> Path:
    """The run's directory: ``out`` (made if needed), else a fresh temporary one."""
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        return out
    slug = "".join(c if c.isalnum() else "-" for c in scenario.name.lower())[:40]
    return Path(tempfile.mkdtemp(prefix=f"stirmls-{slug}-"))


def finish(result: RunResult, run_dir: Path) -> RunOutcome:
    """Check the expectations and write the report beside the transcript."""
    verdicts = evaluate(result)
    transcript = run_dir / TRANSCRIPT_NAME
    report = run_dir / REPORT_NAME
    report.write_text(render_report(result, verdicts, transcript=transcript), encoding="utf-8")
    return RunOutcome(result, verdicts, run_dir, report, transcript)


def run_scenario(
    scenario: Scenario,
    *,
    out: Path | None = None,
    engine: Engine | None = None,
    on_event: Callable[[Event], None] | None = None,
) -> RunOutcome:
    """Run ``scenario`` (blocking; starts its own trio loop) and write its outputs."""
    engine = engine if engine is not None else load_engine(scenario)
    run_dir = new_run_dir(out, scenario)
    with Recorder(run_dir / TRANSCRIPT_NAME) as recorder:
        if on_event is not None:
            recorder.listen(on_event)
        try:
            result = trio.run(_run, engine, scenario, run_dir, recorder)
        except ExceptionGroup as group:
            raise _cause_in(group) or group from None
    return finish(result, run_dir)


async def run_scenario_async(
    scenario: Scenario,
    *,
    out: Path | None = None,
    engine: Engine | None = None,
) -> RunOutcome:
    """Run ``scenario`` inside an existing trio loop (tests, benchmarks)."""
    engine = engine if engine is not None else load_engine(scenario)
    run_dir = new_run_dir(out, scenario)
    with Recorder(run_dir / TRANSCRIPT_NAME) as recorder:
        try:
            result = await engine.run(scenario, run_dir, recorder)
        except ExceptionGroup as group:
            raise _cause_in(group) or group from None
    return finish(result, run_dir)


def _cause_in(
    group: BaseExceptionGroup[BaseException],
) -> EngineUnavailable | WorkerFailed | None:
    """The EngineUnavailable or WorkerFailed inside a trio nursery's exception group, if
    any: what ended the run, said plainly instead of as a group of tracebacks."""
    for exc in group.exceptions:
        if isinstance(exc, EngineUnavailable | WorkerFailed):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _cause_in(exc)
            if found is not None:
                return found
    return None


def _run(
    engine: Engine, scenario: Scenario, run_dir: Path, recorder: Recorder
) -> Awaitable[RunResult]:
    return engine.run(scenario, run_dir, recorder)

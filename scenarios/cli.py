"""``stirmls scenario run|check|list`` and ``stirmls demo``.

Exit statuses of ``scenario run``: 0 every expectation holds, 1 one fails (or the run
cannot happen: a missing piece; or a client worker process died, ``--processes``), 2 a
bad scenario file (the message names the line and the key).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from scenarios.errors import EngineUnavailable, ScenarioError, WorkerFailed
from scenarios.library_files import HEADLINE, library_names, load_library_scenario
from scenarios.loader import load_scenario
from scenarios.model import Scenario
from scenarios.progress import ProgressDisplay
from scenarios.report import summary_line
from scenarios.runner import Engine, RunOutcome, load_engine, run_scenario

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_FILE = 2


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``scenario`` and ``demo`` to the ``stirmls`` command line."""
    scenario = subparsers.add_parser("scenario", help="run scripted multi-party scenarios")
    scenario_sub = scenario.add_subparsers(dest="scenario_command", metavar="SUBCOMMAND")
    scenario.set_defaults(func=lambda args: _help(scenario))

    run = scenario_sub.add_parser("run", help="run a scenario file against real clients")
    run.add_argument("file", type=Path, metavar="FILE", help="scenario file (TOML)")
    run.add_argument("--json", action="store_true", help="print one JSON summary on stdout")
    run.add_argument("--out", type=Path, metavar="DIR", help="where the outputs go")
    run.add_argument(
        "--processes",
        type=_worker_count,
        default=0,
        metavar="W",
        help=(
            "run the clients in W worker processes, spread over the machine's cores "
            "(default 0: in this process, which starts faster; worth it for large groups)"
        ),
    )
    run.set_defaults(func=run_command)

    check = scenario_sub.add_parser("check", help="validate scenario files without running")
    check.add_argument("files", type=Path, nargs="+", metavar="FILE")
    check.set_defaults(func=check_command)

    listing = scenario_sub.add_parser("list", help="list the scenarios of the library")
    listing.set_defaults(func=list_command)

    demo = subparsers.add_parser(
        "demo", help="the headline: a rogue provider splits a group; comparing codes catches it"
    )
    demo.add_argument("--out", type=Path, metavar="DIR", help="where the report goes")
    demo.add_argument(
        "--tui",
        action="store_true",
        help="instead: chat in the TUI as Alice with two bot members (nothing to set up)",
    )
    demo.set_defaults(func=demo_command)


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of processes: {text!r}") from None
    if count < 0:
        raise argparse.ArgumentTypeError(f"cannot run clients in {count} processes")
    return count


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return EXIT_BAD_FILE


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def check_command(args: argparse.Namespace) -> int:
    """Validate files; exit 2 at the first bad one."""
    for path in args.files:
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            print(exc.format(), file=sys.stderr)
            return EXIT_BAD_FILE
        print(f"{path}: ok: {scenario.name} ({len(scenario.steps)} steps)")
    return EXIT_OK


def list_command(args: argparse.Namespace) -> int:
    """Print the library's scenarios with their titles."""
    for name in library_names():
        print(f"{name:32} {load_library_scenario(name).name}")
    return EXIT_OK


def run_command(args: argparse.Namespace, *, engine: Engine | None = None) -> int:
    """``stirmls scenario run FILE [--json] [--out DIR]``."""
    try:
        scenario = load_scenario(args.file)
    except ScenarioError as exc:
        print(exc.format(), file=sys.stderr)
        return EXIT_BAD_FILE
    err = _stderr()
    try:
        if engine is None:
            engine = load_engine(scenario, processes=getattr(args, "processes", 0))
        outcome = _run_with_progress(scenario, args.out, engine, err, story=False)
    except (EngineUnavailable, WorkerFailed) as exc:
        print(f"stirmls scenario run: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(summary_line(outcome.summary()))
    else:
        _print_verdicts(outcome, Console(highlight=False))
    return outcome.exit_status


def _run_with_progress(
    scenario: Scenario, out: Path | None, engine: Engine | None, console: Console, *, story: bool
) -> RunOutcome:
    engine = engine if engine is not None else load_engine(scenario)
    with ProgressDisplay(scenario, console=console, story=story) as display:
        return run_scenario(scenario, out=out, engine=engine, on_event=display.on_event)


def _print_verdicts(outcome: RunOutcome, console: Console) -> None:
    held = sum(1 for v in outcome.verdicts if v.held)
    for v in outcome.verdicts:
        mark = "[green]ok  [/]" if v.held else "[red]FAIL[/]"
        console.print(f"{mark} {v.description}: {v.explanation}")
    word = "[green]passed[/]" if outcome.passed else "[red]failed[/]"
    console.print(
        f"{outcome.result.scenario.name}: {word}, {held} of {len(outcome.verdicts)} "
        f"expectations hold. Report: {outcome.report}"
    )


def demo_command(args: argparse.Namespace, *, engine: Engine | None = None) -> int:
    """``stirmls demo``: the headline scenario, told in plain words (``--tui``: chat)."""
    if getattr(args, "tui", False):
        # Lazy: the TUI and the whole client stack load only for --tui.
        from scenarios.demo_world import run_demo_tui

        return run_demo_tui()
    scenario = load_library_scenario(HEADLINE)
    out = Console(highlight=False)
    try:
        engine = engine if engine is not None else load_engine(scenario)
        out.print(f"[bold]{scenario.name}[/]\n")
        out.print(" ".join(scenario.description.split()) + "\n")
        outcome = _run_with_progress(scenario, args.out, engine, out, story=True)
    except EngineUnavailable as exc:
        print(f"stirmls demo: not yet: needs {'; '.join(exc.missing)}.")
        return EXIT_FAILED
    out.print()
    mismatches = [c for c in outcome.result.comparisons if not c.match]
    if mismatches:
        out.print(
            "[bold]The split was caught.[/] Every credential validated and chat worked, "
            "but the codes differ: only comparing them out of band (in person, by QR "
            "code, or over another carrier) shows the provider in the middle."
        )
    status = "[green]as expected[/]" if outcome.passed else "[red]NOT as expected[/]"
    out.print(f"The run went {status}. The report (with the codes side by side) is at:")
    out.print(f"  {outcome.report}")
    return outcome.exit_status

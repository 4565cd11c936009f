"""`stirmls scenario run|check|list` and `stirmls demo`: exit statuses and messages.

Exit 1/0 through the CLI are tested with an engine that hands back a recorded result
(ReplayEngine): that tests the CLI's wiring of outputs and statuses, not a run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from recorded_runs import split_run

from client.cli import main
from scenarios import cli as scenario_cli
from scenarios import runner
from scenarios.model import Scenario
from scenarios.results import RunResult
from scenarios.transcript import Recorder

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"


class ReplayEngine:
    """Hands back a recorded result for the headline scenario (CLI wiring only)."""

    def __init__(self, result: RunResult) -> None:
        self.result = result

    async def run(self, scenario: Scenario, run_dir: Path, recorder: Recorder) -> RunResult:
        assert scenario.name == self.result.scenario.name
        for event in self.result.events:
            recorder.record(event.kind, actor=event.actor, group=event.group, **event.data)
        return self.result


def test_bad_file_exits_2_naming_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        (LIBRARY / "three_friends.toml")
        .read_text()
        .replace('action = "send"', 'action = "sned"', 1)
    )
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["scenario", "run", str(path)]) == 2
    err = capsys.readouterr().err
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t == 'action = "sned"')
    assert err.startswith(f"{path}:{line}: key 'step[3].action': unknown action 'sned'")
    assert "did you mean 'send'?" in err
    assert main(["scenario", "check", str(LIBRARY / "three_friends.toml"), str(path)]) == 2


def test_check_and_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scenario", "check", *map(str, sorted(LIBRARY.glob("*.toml")))]) == 0
    assert main(["scenario", "list"]) == 0
    out = capsys.readouterr().out
    assert "rogue_mky_detected" in out and "rogue provider caught by comparing codes" in out


def test_missing_pieces_are_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "missing_pieces", lambda: ("the widget (issue 99)",))
    assert main(["demo"]) == 1
    assert "stirmls demo: not yet: needs the widget (issue 99)" in capsys.readouterr().out
    path = str(LIBRARY / "three_friends.toml")
    assert main(["scenario", "run", path]) == 1
    assert "needs the widget (issue 99)" in capsys.readouterr().err


def test_run_json_exits_0_when_all_expectations_hold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _args(tmp_path, json_out=True)
    assert scenario_cli.run_command(args, engine=ReplayEngine(split_run())) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    data = json.loads(out)
    assert data["passed"] is True
    assert Path(data["report"]).read_text().startswith("# Scenario:")
    # The transcript was written by the run, line by line.
    lines = (tmp_path / "transcript.jsonl").read_text().splitlines()
    assert len(lines) == len(split_run().events)


def test_run_exits_1_when_an_expectation_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = ReplayEngine(split_run(compared=False))
    assert scenario_cli.run_command(_args(tmp_path, json_out=False), engine=engine) == 1
    out = capsys.readouterr().out
    assert "FAIL alice raised a code-mismatch alarm in g1" in out
    assert "6 of 8 expectations hold" in out


def test_demo_tells_the_story_and_names_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = scenario_cli.argparse.Namespace(out=tmp_path)
    assert scenario_cli.demo_command(args, engine=ReplayEngine(split_run())) == 0
    out = capsys.readouterr().out
    assert "THEY DIFFER" in out
    assert "The split was caught." in out
    assert str(tmp_path / "report.md") in out.replace("\n", "")


def _args(tmp_path: Path, *, json_out: bool) -> scenario_cli.argparse.Namespace:
    return scenario_cli.argparse.Namespace(
        file=LIBRARY / "rogue_mky_detected.toml", json=json_out, out=tmp_path
    )


REAL = pytest.mark.skipif(
    bool(__import__("scenarios.readiness", fromlist=["x"]).missing_pieces()),
    reason="needs the binding, the delivery service and the client core",
)


@REAL
def test_real_run_with_a_failing_expectation_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (LIBRARY / "removed_member.toml").read_text()
    wrong = text.replace('received = ["before"]', 'received = ["before", "after"]')
    assert wrong != text
    path = tmp_path / "wrong.toml"
    path.write_text(wrong)
    assert main(["scenario", "run", str(path), "--json", "--out", str(tmp_path / "run")]) == 1
    data = json.loads(capsys.readouterr().out)
    failed = [e for e in data["expectations"] if not e["held"]]
    assert [e["expectation"] for e in failed] == [
        "carol received in g1 exactly ['before', 'after']"
    ]
    assert failed[0]["found"] == "received ['before']"  # removed: she never read "after"
    lines = wrong.splitlines()
    changed = lines.index('received = ["before", "after"]')
    header = max(i for i in range(changed) if lines[i] == "[[expect]]")
    assert failed[0]["line"] == header + 1


@REAL
def test_the_demo_catches_the_split_and_the_report_shows_both_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "THEY DIFFER" in out and "The split was caught." in out
    report = (tmp_path / "report.md").read_text()
    rows = [r for r in report.splitlines() if r.startswith(("| alice |", "| bob |")) and "`" in r]
    codes = {r.split("|")[5].strip() for r in rows if "RAISED" in r}
    assert len(rows) == 2 and len(codes) == 2, rows

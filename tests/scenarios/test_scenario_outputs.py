"""Expectations, transcript, report and summary over recorded run results."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from recorded_runs import CODE_A, CODE_B, split_run

from scenarios.expectations import check, evaluate, run_passed
from scenarios.model import (
    AlarmExpectation,
    CodesExpectation,
    MemberCountExpectation,
    ReceivedExpectation,
    SeenMember,
    SeesExpectation,
    StepOutcomeExpectation,
)
from scenarios.narration import narrate
from scenarios.report import MAX_DIAGRAM_EVENTS, render_report, summary, summary_line
from scenarios.results import StepResult
from scenarios.runner import finish
from scenarios.transcript import Recorder, read_transcript


def test_the_headline_expectations_hold_on_a_split_run() -> None:
    run = split_run()
    verdicts = evaluate(run)
    assert run_passed(run, verdicts), [v.explanation for v in verdicts if not v.held]
    assert len(verdicts) == 8


def test_each_kind_of_expectation_can_fail() -> None:
    result = split_run(compared=False)
    assert not check(AlarmExpectation(1, "alice", "g1", True), result).held
    assert check(AlarmExpectation(1, "alice", "g1", False), result).held
    same = check(CodesExpectation(1, ("alice", "bob"), "g1", "same"), result)
    assert not same.held and CODE_A in same.explanation and CODE_B in same.explanation
    assert not check(CodesExpectation(1, ("alice", "bob"), "g2", "differ"), result).held
    assert not check(ReceivedExpectation(1, "bob", "g1", ("of course it is",)), result).held
    # Own messages do not count as received.
    assert check(ReceivedExpectation(1, "alice", "g1", ("of course it is",)), result).held
    assert check(ReceivedExpectation(1, "bob", "g9", ()), result).held  # never in g9
    wrong_name = SeesExpectation(1, "bob", "g1", SeenMember(tn="12025550201", name="Alicia"))
    verdict = check(wrong_name, result)
    assert not verdict.held and "Alice Liddell" in verdict.explanation
    assert check(SeesExpectation(1, "bob", "g1", SeenMember(credential="passport")), result).held
    assert not check(MemberCountExpectation(1, "bob", "g1", 3), result).held
    assert check(MemberCountExpectation(1, "bob", "g1", 2), result).held
    assert not check(StepOutcomeExpectation(1, "invite", "rejected"), result).held
    assert not check(StepOutcomeExpectation(1, "nope", "ok"), result).held


def test_step_reason_must_match() -> None:
    result = split_run()
    rejected = StepResult(2, "invite", "invite", "alice", "rejected", "mky", "§5.4", "no mky")
    result = dataclasses.replace(result, steps=(result.steps[0], rejected, *result.steps[2:]))
    assert check(StepOutcomeExpectation(1, "invite", "rejected", "mky"), result).held
    verdict = check(StepOutcomeExpectation(1, "invite", "rejected", "dest"), result)
    assert not verdict.held and "'mky', not 'dest'" in verdict.explanation


def test_codes_at_different_epochs_differ() -> None:
    result = split_run()
    alice, bob = result.views
    same_code_other_epoch = dataclasses.replace(
        bob, epoch=2, code=alice.code, authenticator=alice.authenticator
    )
    result = dataclasses.replace(result, views=(alice, same_code_other_epoch))
    assert check(CodesExpectation(1, ("alice", "bob"), "g1", "differ"), result).held


def test_a_run_that_stopped_early_fails_every_expectation() -> None:
    result = dataclasses.replace(split_run(), error="the delivery service did not start")
    verdicts = evaluate(result)
    assert verdicts and not any(v.held for v in verdicts)
    assert "did not start" in verdicts[0].explanation


def test_transcript_lines_are_json_in_order(tmp_path: Path) -> None:
    ticks = iter([0.0, 0.25, 1.5])
    path = tmp_path / "run" / "transcript.jsonl"
    with Recorder(path, clock=ticks.__next__) as recorder:
        recorder.record("sent", actor="alice", group="g1", text="héllo")
        recorder.record("epoch", actor="bob", group="g1", epoch=3, code=CODE_A)
    lines = read_transcript(path)
    assert lines == [
        {"seq": 1, "t": 0.25, "kind": "sent", "actor": "alice", "group": "g1", "text": "héllo"},
        {
            "seq": 2,
            "t": 1.5,
            "kind": "epoch",
            "actor": "bob",
            "group": "g1",
            "epoch": 3,
            "code": CODE_A,
        },
    ]


def test_report_shows_codes_credentials_and_a_sequence_diagram(tmp_path: Path) -> None:
    result = split_run()
    outcome = finish(result, tmp_path)
    assert outcome.passed and outcome.exit_status == 0
    report = outcome.report.read_text()
    assert report.startswith("# Scenario: rogue provider caught by comparing codes")
    assert "**PASSED**: 8 of 8 expectations hold" in report
    assert f"| alice | +12025550201 | g1 | 1 | `{CODE_A}` | 2 | RAISED |" in report
    assert f"| bob | +12025550202 | g1 | 1 | `{CODE_B}` | 2 | RAISED |" in report
    assert "**DIFFER**" in report
    assert (
        "| delivery-service | +12025550266 | passport | register |  | **rejected** | §5.4 |"
        in report
    )
    assert "1 accepted, 1 rejected." in report
    assert "## What the adversaries did" in report
    assert "ShadyTel relays between the halves" in report
    diagram = report[report.index("```mermaid") :]
    assert "participant alice as alice +12025550201" in diagram
    assert 'alice->>DS: "hi Bob, is this really you?" [g1]' in diagram
    assert 'DS->>bob: "hi Bob, is this really you?" from alice [g1]' in diagram
    assert "alice-->>bob: out of band: CODES DIFFER" in diagram
    assert "Note over DS: rejects +12025550266: mky (§5.4)" in diagram


def test_a_run_that_stopped_early_fails_even_without_expectations(tmp_path: Path) -> None:
    run = split_run()
    bare = dataclasses.replace(run.scenario, expectations=())
    stopped = dataclasses.replace(run, scenario=bare, error="ScenarioError: it stopped")
    outcome = finish(stopped, tmp_path)
    assert not outcome.passed and outcome.exit_status == 1
    assert "**FAILED**: 0 of 0 expectations hold" in outcome.report.read_text()
    data = json.loads(summary_line(outcome.summary()))
    assert data["passed"] is False and data["error"] == "ScenarioError: it stopped"
    # The same run, gone to its end, passes with no expectations.
    assert finish(dataclasses.replace(stopped, error=None), tmp_path).passed


def test_a_failing_expectation_shows_in_report_and_summary(tmp_path: Path) -> None:
    result = split_run(compared=False)  # the headline file expects alarms: two fail
    outcome = finish(result, tmp_path)
    assert not outcome.passed and outcome.exit_status == 1
    report = outcome.report.read_text()
    assert "**FAILED**: 6 of 8 expectations hold" in report
    assert report.count("**NO**") == 2
    data = json.loads(summary_line(outcome.summary()))
    assert data["passed"] is False
    failed = [e for e in data["expectations"] if not e["held"]]
    assert [e["expectation"] for e in failed] == [
        "alice raised a code-mismatch alarm in g1",
        "bob raised a code-mismatch alarm in g1",
    ]
    assert all(isinstance(e["line"], int) for e in failed)
    assert data["report"] == str(tmp_path / "report.md")
    assert {c["code"] for c in data["codes"]} == {CODE_A, CODE_B}


def test_the_diagram_is_capped_for_large_runs() -> None:
    result = split_run()
    recorder = Recorder()
    for i in range(MAX_DIAGRAM_EVENTS + 50):
        recorder.record("sent", actor="alice", group="g1", text=f"m{i}; #{i}")
    report = render_report(dataclasses.replace(result, events=recorder.events), ())
    assert f'"m{MAX_DIAGRAM_EVENTS - 1}, no.{MAX_DIAGRAM_EVENTS - 1}"' in report
    assert "... 50 more events in the transcript" in report
    assert "; #" not in report.split("```mermaid")[1]


def test_summary_is_one_line_of_json() -> None:
    result = split_run()
    line = summary_line(summary(result, evaluate(result)))
    assert "\n" not in line
    assert json.loads(line)["scenario"] == "rogue provider caught by comparing codes"


def test_narration_tells_the_split() -> None:
    result = split_run()
    sentences = [s for e in result.events if (s := narrate(result.scenario, e))]
    assert "Alice Liddell creates the group 'g1'." in sentences
    assert (
        "Alice Liddell invites Bob Dylan; every credential checks out and they join 'g1'."
        in sentences
    )
    assert "Bob Dylan says: \u201cof course it is\u201d." in sentences
    differ = [s for s in sentences if "THEY DIFFER" in s]
    assert differ and CODE_A in differ[0] and CODE_B in differ[0]
    assert "Meanwhile: ShadyTel relays between the halves." in sentences

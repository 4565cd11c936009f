"""Run results built by hand, for testing expectations and reports without running.

These stand for what the engine records; they test the pure functions over a result,
never a run (runs are tested in test_scenario_runs.py against real pieces).
"""

from __future__ import annotations

from scenarios.library_files import load_library_scenario
from scenarios.results import (
    Comparison,
    CredentialVerdict,
    GroupView,
    MemberInfo,
    ReceivedMessage,
    RunResult,
    StepResult,
)
from scenarios.transcript import Recorder

ALICE = MemberInfo("12025550201", "Alice Liddell", "passport", "provider-attested-key")
BOB = MemberInfo("12025550202", "Bob Dylan", "passport", "provider-attested-key")
CODE_A = "11111 22222 33333 44444 55555 66666"
CODE_B = "99999 88888 77777 66666 55555 44444"


def split_run(*, compared: bool = True) -> RunResult:
    """What the headline scenario should record: a split, chat relayed, codes differ."""
    scenario = load_library_scenario("rogue_mky_detected")
    recorder = Recorder(clock=iter(float(i) for i in range(1000)).__next__)
    recorder.record("run", phase="start")
    recorder.record(
        "verdict",
        accepted=False,
        subject_tn="12025550266",
        credential="passport",
        where="register",
        reason="mky",
        rule="§5.4",
    )
    steps = []
    for step in scenario.steps:
        recorder.record(
            "step",
            actor=step.actor,
            group=step.group,
            phase="start",
            label=step.label,
            action=step.action,
        )
        if step.action == "send":
            recorder.record("sent", actor=step.actor, group=step.group, text=step.text)
            other = "bob" if step.actor == "alice" else "alice"
            recorder.record(
                "received", actor=other, group=step.group, text=step.text, sender=step.actor
            )
        if step.action == "invite":
            recorder.record(
                "verdict",
                actor="alice",
                group="g1",
                accepted=True,
                subject="bob",
                subject_tn=BOB.tn,
                credential="passport",
                where="key_package",
                reason=None,
                rule=None,
            )
            recorder.record("epoch", actor="alice", group="g1", epoch=1, code=CODE_A)
            recorder.record("epoch", actor="bob", group="g1", epoch=1, code=CODE_B)
        if step.action == "compare_codes":
            recorder.record(
                "comparison",
                group="g1",
                between=["alice", "bob"],
                epochs=[1, 1],
                codes=[CODE_A, CODE_B],
                match=False,
            )
            recorder.record("alarm", actor="alice", group="g1", detail="codes differ")
        recorder.record(
            "step",
            actor=step.actor,
            group=step.group,
            phase="end",
            label=step.label,
            action=step.action,
            outcome="ok",
            members=list(step.members),
            text=step.text,
        )
        steps.append(StepResult(step.index, step.label, step.action, step.actor, "ok"))
    recorder.record("adversary", act="ShadyTel relays between the halves", narrate=True)
    views = (
        GroupView(
            "alice",
            "g1",
            1,
            CODE_A,
            "aa" * 32,
            (ALICE, BOB),
            (
                ReceivedMessage(ALICE.tn, "hi Bob, is this really you?", 1, "alice"),
                ReceivedMessage(BOB.tn, "of course it is", 1, "bob"),
            ),
            alarm=compared,
        ),
        GroupView(
            "bob",
            "g1",
            1,
            CODE_B,
            "bb" * 32,
            (BOB, ALICE),
            (ReceivedMessage(ALICE.tn, "hi Bob, is this really you?", 1, "alice"),),
            alarm=compared,
        ),
    )
    verdicts = (
        CredentialVerdict("alice", BOB.tn, "passport", "key_package", True, "g1", "bob"),
        CredentialVerdict(
            "delivery-service",
            "12025550266",
            "passport",
            "register",
            False,
            None,
            None,
            "mky",
            "§5.4",
            "no mky entry matches the key",
        ),
    )
    comparisons = (
        (Comparison("g1", ("alice", "bob"), (1, 1), (CODE_A, CODE_B), False),) if compared else ()
    )
    return RunResult(
        scenario, tuple(steps), views, verdicts, comparisons, recorder.events, seconds=3.5
    )

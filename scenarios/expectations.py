"""Checking a scenario's expectations against a recorded run (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass

from scenarios.model import (
    AlarmExpectation,
    CodesExpectation,
    Expectation,
    MemberCountExpectation,
    ReceivedExpectation,
    SeesExpectation,
    StepOutcomeExpectation,
)
from scenarios.results import GroupView, MemberInfo, RunResult


@dataclass(frozen=True)
class Verdict:
    """One expectation and whether it held; ``explanation`` says what was found."""

    expectation: Expectation
    held: bool
    explanation: str

    @property
    def description(self) -> str:
        """The expectation in words."""
        return describe(self.expectation)


def describe(e: Expectation) -> str:
    """An expectation in words, for reports."""
    match e:
        case StepOutcomeExpectation():
            because = f" because of '{e.reason}'" if e.reason else ""
            return f"step '{e.step}' is {e.outcome}{because}"
        case SeesExpectation():
            fields = ", ".join(
                f"{k}={v}"
                for k, v in (
                    ("tn", e.sees.tn),
                    ("name", e.sees.name),
                    ("credential", e.sees.credential),
                    ("assurance", e.sees.assurance),
                )
                if v is not None
            )
            return f"{e.actor} sees in {e.group} a member with {fields}"
        case ReceivedExpectation():
            return f"{e.actor} received in {e.group} exactly {list(e.received)!r}"
        case CodesExpectation():
            verdict = "are the same" if e.codes == "same" else "differ"
            return f"codes of {e.compare[0]} and {e.compare[1]} in {e.group} {verdict}"
        case AlarmExpectation():
            raised = "raised" if e.alarm else "did not raise"
            return f"{e.actor} {raised} a code-mismatch alarm in {e.group}"
        case MemberCountExpectation():
            return f"{e.actor} has {e.member_count} members in {e.group}"


def evaluate(result: RunResult) -> tuple[Verdict, ...]:
    """Every expectation of the run's scenario, checked against the run."""
    return tuple(check(e, result) for e in result.scenario.expectations)


def run_passed(result: RunResult, verdicts: tuple[Verdict, ...]) -> bool:
    """True when the run went to its end and every expectation held (an empty list
    holds; a run that stopped early never passes, with expectations or without)."""
    return result.error is None and all(v.held for v in verdicts)


def check(e: Expectation, result: RunResult) -> Verdict:
    """Check one expectation."""
    if result.error is not None:
        return Verdict(e, False, f"the run stopped early: {result.error}")
    match e:
        case StepOutcomeExpectation():
            return _check_step(e, result)
        case SeesExpectation():
            return _check_sees(e, result)
        case ReceivedExpectation():
            return _check_received(e, result)
        case CodesExpectation():
            return _check_codes(e, result)
        case AlarmExpectation():
            view = result.view(e.actor, e.group)
            raised = view is not None and view.alarm
            word = "raised" if raised else "did not raise"
            return Verdict(e, raised == e.alarm, f"{e.actor} {word} the alarm")
        case MemberCountExpectation():
            view = result.view(e.actor, e.group)
            if view is None:
                return Verdict(e, False, f"{e.actor} never held {e.group}")
            n = len(view.members)
            return Verdict(e, n == e.member_count, f"{e.actor} has {n} members")


def _check_step(e: StepOutcomeExpectation, result: RunResult) -> Verdict:
    step = result.step_result(e.step)
    if step is None:
        return Verdict(e, False, f"step '{e.step}' did not run")
    found = step.outcome + (f" ({step.reason}: {step.detail})" if step.reason else "")
    if step.outcome != e.outcome:
        return Verdict(e, False, f"it was {found}")
    if e.reason is not None and step.reason != e.reason:
        return Verdict(e, False, f"rejected for '{step.reason}', not '{e.reason}'")
    return Verdict(e, True, f"it was {found}")


def _matches(member: MemberInfo, e: SeesExpectation) -> bool:
    want = e.sees
    return (
        (want.tn is None or member.tn == want.tn)
        and (want.name is None or member.name == want.name)
        and (want.credential is None or member.credential == want.credential)
        and (want.assurance is None or member.assurance == want.assurance)
    )


def _show(member: MemberInfo) -> str:
    return f"+{member.tn} {member.name or '(no name)'} [{member.credential}, {member.assurance}]"


def _check_sees(e: SeesExpectation, result: RunResult) -> Verdict:
    view = result.view(e.actor, e.group)
    if view is None:
        return Verdict(e, False, f"{e.actor} never held {e.group}")
    for member in view.members:
        if _matches(member, e):
            return Verdict(e, True, f"found {_show(member)}")
    seen = "; ".join(_show(m) for m in view.members) or "no members"
    return Verdict(e, False, f"{e.actor} sees {seen}")


def _others_texts(view: GroupView | None, actor_tn: str) -> tuple[str, ...]:
    if view is None:
        return ()
    return tuple(m.text for m in view.received if m.sender_tn != actor_tn)


def _check_received(e: ReceivedExpectation, result: RunResult) -> Verdict:
    actor = result.scenario.actors[e.actor]
    got = _others_texts(result.view(e.actor, e.group), actor.tn)
    if got == e.received:
        return Verdict(e, True, f"received {list(got)!r}")
    return Verdict(e, False, f"received {list(got)!r}")


def codes_match(a: GroupView, b: GroupView) -> bool:
    """Two views show the same code: same epoch and same epoch authenticator (§8)."""
    if a.epoch != b.epoch:
        return False
    if a.authenticator and b.authenticator:
        return a.authenticator == b.authenticator
    return a.code == b.code


def _check_codes(e: CodesExpectation, result: RunResult) -> Verdict:
    first, second = e.compare
    a, b = result.view(first, e.group), result.view(second, e.group)
    if a is None or b is None:
        missing = first if a is None else second
        return Verdict(e, False, f"{missing} never held {e.group}: no code to compare")
    same = codes_match(a, b)
    found = f"{first}: epoch {a.epoch} code {a.code}; {second}: epoch {b.epoch} code {b.code}"
    return Verdict(e, same == (e.codes == "same"), found)

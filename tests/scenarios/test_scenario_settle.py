"""When the engine waits its quiet period after a step, and when it sees the step's end
instead (real runs: PKI, delivery service, relay, clients, OpenMLS).

The quiet period is made long here (3 s) so that a step followed by it and one that is
not cannot be confused, whatever the machine's load.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scenarios.engine import RealEngine, Timeouts
from scenarios.loader import parse_scenario
from scenarios.readiness import missing_pieces
from scenarios.results import Event
from scenarios.runner import run_scenario_async

MISSING = missing_pieces()
QUIET = 3.0
pytestmark = pytest.mark.skipif(bool(MISSING), reason="needs " + "; ".join(MISSING))

ACTORS = """
[providers.acme]
spc = "1234"
numbers = ["12025550100/100"]

[actors.alice]
tn = "+1 202 555 0101"
name = "Alice Liddell"
provider = "acme"
credential = "tn-cert"

[actors.bob]
tn = "+1 202 555 0102"
name = "Bob Dylan"
provider = "acme"
credential = "tn-cert"

[actors.carol]
tn = "+1 202 555 0103"
name = "Carol Shaw"
provider = "acme"
credential = "tn-cert"
"""


def step(label: str, action: str, **fields: object) -> str:
    lines = [f'id = "{label}"', 'actor = "alice"', f'action = "{action}"', 'group = "g"']
    for key, value in fields.items():
        text = (
            "[" + ", ".join(f'"{v}"' for v in value) + "]"
            if isinstance(value, list)
            else f'"{value}"'
        )
        lines.append(f"{key} = {text}")
    return "[[step]]\n" + "\n".join(lines) + "\n"


def engine() -> RealEngine:
    return RealEngine(timeouts=Timeouts(step=30.0, delivery=8.0, settle_quiet=QUIET))


def marks(events: tuple[Event, ...]) -> dict[tuple[str, str], float]:
    """(label, "start"/"end") -> time of each step's start and end."""
    return {
        (str(e.data["label"]), str(e.data["phase"])): e.t
        for e in events
        if e.kind == "step" and e.data.get("phase") in ("start", "end")
    }


def gap(m: dict[tuple[str, str], float], before: str, after: str) -> float:
    return m[(after, "start")] - m[(before, "end")]


async def test_steps_no_adversary_touched_end_without_the_quiet_period(tmp_path: Path) -> None:
    text = (
        '[scenario]\nname = "settle with an adversary"\n'
        + ACTORS
        + '\n[[adversary]]\nkind = "drop"\nmessage = "application"\nstep = "lost"\n\n'
        + step("create", "create_group")
        + step("invite", "invite", members=["bob", "carol"])
        + step("hello", "send", text="hello")
        + step("lost", "send", text="never arrives")
        + step("after", "send", text="after")
        + '\n[[expect]]\nactor = "bob"\ngroup = "g"\nreceived = ["hello", "after"]\n'
    )
    outcome = await run_scenario_async(parse_scenario(text), out=tmp_path, engine=engine())
    assert outcome.result.error is None, outcome.result.error
    assert outcome.passed, [v.explanation for v in outcome.verdicts if not v.held]
    events = outcome.result.events
    m = marks(events)
    # Every client connected: the first step starts without a quiet period.
    connected = max(
        e.t for e in events if e.kind == "service" and e.data.get("state") == "client connected"
    )
    assert m[("create", "start")] - connected < QUIET / 2
    # No adversary acted on these steps' traffic: their end, seen everywhere, is the end.
    for before, after in (("create", "invite"), ("invite", "hello"), ("hello", "lost")):
        assert gap(m, before, after) < QUIET / 2, (before, after, m)
    # The drop ends the step's wait for its readers at once (not after the 8 s delivery
    # limit); what is still under way then is left to the quiet period.
    assert m[("lost", "end")] - m[("lost", "start")] < QUIET
    assert gap(m, "lost", "after") >= QUIET


async def test_commits_seen_by_every_member_end_without_the_quiet_period(tmp_path: Path) -> None:
    text = (
        '[scenario]\nname = "settle after commits"\n'
        + ACTORS
        + step("create", "create_group")
        + step("invite", "invite", members=["bob", "carol"])
        + step("update", "update")
        + step("remove", "remove", members=["carol"])
        + '[[step]]\nid = "compare"\naction = "compare_codes"\ngroup = "g"\n'
        + 'between = ["alice", "bob"]\n'
        + step("hello", "send", text="hello")
        + '\n[[expect]]\nactor = "bob"\ngroup = "g"\nreceived = ["hello"]\n'
        + '\n[[expect]]\nactor = "bob"\ngroup = "g"\nmember_count = 2\n'
        + '\n[[expect]]\ncompare = ["alice", "bob"]\ngroup = "g"\ncodes = "same"\n'
    )
    outcome = await run_scenario_async(parse_scenario(text), out=tmp_path, engine=engine())
    assert outcome.result.error is None, outcome.result.error
    assert outcome.passed, [v.explanation for v in outcome.verdicts if not v.held]
    m = marks(outcome.result.events)
    for before, after in (("update", "remove"), ("remove", "compare"), ("compare", "hello")):
        assert gap(m, before, after) < QUIET / 2, (before, after, m)

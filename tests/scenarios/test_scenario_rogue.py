"""The rogue provider's split (PROFILE.md §9) in groups that also hold members who are
not its victims, run for real; and the file shapes the split does not handle, named."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from scenarios.engine import RealEngine, Timeouts
from scenarios.errors import ScenarioError
from scenarios.library_files import load_library_scenario
from scenarios.loader import parse_scenario
from scenarios.model import Step
from scenarios.readiness import missing_pieces
from scenarios.rogue_shapes import check_rogue_split, real_side_victim
from scenarios.runner import run_scenario_async

MISSING = missing_pieces()
needs_engine = pytest.mark.skipif(bool(MISSING), reason="needs " + "; ".join(MISSING))

CAST = """\
[scenario]
name = "rogue split, three victims and a bystander"

[providers.shadytel]
spc = "5678"
numbers = ["12025550200/100"]

[providers.acme]
spc = "1234"
numbers = ["12025550300/100"]

[actors.alice]
tn = "+1 202 555 0201"
name = "Alice Liddell"
provider = "shadytel"
credential = "passport"

[actors.bob]
tn = "+1 202 555 0202"
name = "Bob Dylan"
provider = "shadytel"
credential = "passport"

[actors.dave]
tn = "+1 202 555 0204"
name = "Dave Brubeck"
provider = "shadytel"
credential = "passport"

[actors.carol]
tn = "+1 202 555 0303"
name = "Carol Danvers"
provider = "acme"
credential = "tn-cert"

[[adversary]]
kind = "rogue_provider"
provider = "shadytel"
victims = ["alice", "bob", "dave"]
"""

# g1: the anchor (Alice) makes it with two shadowed victims and the bystander; g2: the
# bystander makes it and invites the anchor and one shadowed victim.
TWO_GROUPS = (
    CAST
    + """
[[step]]
actor = "alice"
action = "create_group"
group = "g1"

[[step]]
id = "invite1"
actor = "alice"
action = "invite"
group = "g1"
members = ["bob", "dave", "carol"]

[[step]]
actor = "bob"
action = "send"
group = "g1"
text = "bob to all"

[[step]]
actor = "carol"
action = "send"
group = "g1"
text = "carol to all"

[[step]]
actor = "carol"
action = "create_group"
group = "g2"

[[step]]
id = "invite2"
actor = "carol"
action = "invite"
group = "g2"
members = ["alice", "bob"]

[[step]]
actor = "alice"
action = "send"
group = "g2"
text = "alice in g2"

[[step]]
actor = "bob"
action = "send"
group = "g2"
text = "bob in g2"

[[step]]
action = "compare_codes"
group = "g1"
between = ["alice", "dave"]

[[step]]
action = "compare_codes"
group = "g1"
between = ["bob", "dave"]

[[step]]
action = "compare_codes"
group = "g1"
between = ["carol", "alice"]

[[step]]
action = "compare_codes"
group = "g2"
between = ["carol", "bob"]

[[expect]]
step = "invite1"
outcome = "ok"
[[expect]]
step = "invite2"
outcome = "ok"

# The real g1: Alice, Carol, and the provider's Bob and Dave.
[[expect]]
actor = "carol"
group = "g1"
member_count = 4
[[expect]]
actor = "carol"
group = "g1"
sees = { tn = "+12025550204", name = "Dave Brubeck", credential = "passport" }
# The shadow g1: Bob and Dave together with a fake Alice, no Carol.
[[expect]]
actor = "dave"
group = "g1"
member_count = 3
[[expect]]
actor = "dave"
group = "g1"
sees = { tn = "+12025550202", name = "Bob Dylan", credential = "passport" }

# Every text arrives once at each reader: relayed once, never relayed back.
[[expect]]
actor = "alice"
group = "g1"
received = ["bob to all", "carol to all"]
[[expect]]
actor = "carol"
group = "g1"
received = ["bob to all"]
[[expect]]
actor = "dave"
group = "g1"
received = ["bob to all", "carol to all"]
[[expect]]
actor = "bob"
group = "g1"
received = ["carol to all"]

# g2, made by the bystander: the same split.
[[expect]]
actor = "carol"
group = "g2"
member_count = 3
[[expect]]
actor = "bob"
group = "g2"
member_count = 2
[[expect]]
actor = "carol"
group = "g2"
received = ["alice in g2", "bob in g2"]
[[expect]]
actor = "alice"
group = "g2"
received = ["bob in g2"]
[[expect]]
actor = "bob"
group = "g2"
received = ["alice in g2"]

# The codes: the two shadowed victims share one shadow group, the real side another.
[[expect]]
compare = ["alice", "dave"]
group = "g1"
codes = "differ"
[[expect]]
compare = ["bob", "dave"]
group = "g1"
codes = "same"
[[expect]]
compare = ["carol", "alice"]
group = "g1"
codes = "same"
[[expect]]
compare = ["carol", "bob"]
group = "g2"
codes = "differ"
[[expect]]
actor = "carol"
group = "g2"
alarm = true
# Bob cannot mark Carol's code: she is not in his list at all (another tell).
[[expect]]
actor = "bob"
group = "g2"
alarm = false
"""
)


@needs_engine
async def test_three_victims_and_a_bystander_in_two_groups(tmp_path: Path) -> None:
    scenario = parse_scenario(TWO_GROUPS, filename="two_groups.toml")
    engine = RealEngine(timeouts=Timeouts(step=15.0, delivery=2.0))
    outcome = await run_scenario_async(scenario, out=tmp_path, engine=engine)
    failed = [f"{v.description}: {v.explanation}" for v in outcome.verdicts if not v.held]
    assert outcome.result.error is None, outcome.result.error
    assert not failed, "\n".join(failed)
    # The bystander's words reached the shadow side in the fake anchor's voice.
    acts = [str(e.data.get("act")) for e in outcome.result.events if e.kind == "adversary"]
    assert any("carol's 'carol to all'" in a and "in alice's name" in a for a in acts), acts


@needs_engine
async def test_the_bystander_library_scenario_tells_which_side_is_which(tmp_path: Path) -> None:
    outcome = await run_scenario_async(
        load_library_scenario("rogue_split_bystander"),
        out=tmp_path,
        engine=RealEngine(timeouts=Timeouts(step=10.0, delivery=2.0)),
    )
    assert outcome.passed, [v.explanation for v in outcome.verdicts if not v.held]
    codes = {c.between: c.match for c in outcome.result.comparisons}
    assert codes == {
        ("alice", "bob"): False,
        ("carol", "bob"): False,
        ("alice", "carol"): True,
        ("carol", "erin"): True,  # two bystanders
    }
    report = outcome.report.read_text()
    assert "codes of alice and carol in g1 are the same" in report


def test_the_library_rogue_shapes_are_supported() -> None:
    for name in ("rogue_mky_detected", "rogue_mky_undetected", "rogue_split_bystander"):
        check_rogue_split(load_library_scenario(name))
    scenario = parse_scenario(TWO_GROUPS)
    check_rogue_split(scenario)
    assert real_side_victim(scenario, scenario.adversaries[0]) == "alice"


G1 = """
[[step]]
actor = "alice"
action = "create_group"
group = "g1"

[[step]]
actor = "alice"
action = "invite"
group = "g1"
members = ["bob", "carol"]
"""


@pytest.mark.parametrize(
    ("extra", "key", "words"),
    [
        pytest.param(
            '\n[[step]]\nactor = "bob"\naction = "create_group"\ngroup = "g2"\n',
            "step[3].actor",
            "bob is moved to the provider's shadow service and creates a group (only alice "
            "or a bystander may)",
            id="shadowed-victim-creates",
        ),
        pytest.param(
            '\n[[step]]\nactor = "bob"\naction = "invite"\ngroup = "g1"\nmembers = ["dave"]\n',
            "step[3].actor",
            "bob is shadowed and invites",
            id="shadowed-victim-invites",
        ),
        pytest.param(
            '\n[[step]]\nactor = "alice"\naction = "remove"\ngroup = "g1"\nmembers = ["bob"]\n',
            "step[3].members",
            "bob, a victim, is removed from 'g1'",
            id="victim-removed",
        ),
        pytest.param(
            '\n[[step]]\nactor = "bob"\naction = "remove"\ngroup = "g1"\nmembers = ["carol"]\n',
            "step[3].actor",
            "bob is shadowed and removes",
            id="shadowed-victim-removes",
        ),
        pytest.param(
            '\n[[step]]\nactor = "bob"\naction = "leave"\ngroup = "g1"\n',
            "step[3].actor",
            "bob, a victim, leaves 'g1'",
            id="victim-leaves",
        ),
        pytest.param(
            '\n[[step]]\nactor = "carol"\naction = "create_group"\ngroup = "g2"\n'
            '\n[[step]]\nactor = "carol"\naction = "invite"\ngroup = "g2"\nmembers = ["bob"]\n',
            "step[4].members",
            "bob would be in a shadow 'g2' with a fake alice, who is not in the real one",
            id="shadowed-victim-without-anchor",
        ),
    ],
)
def test_unsupported_split_shapes_are_named(extra: str, key: str, words: str) -> None:
    text = CAST.replace('victims = ["alice", "bob", "dave"]', 'victims = ["alice", "bob"]')
    with pytest.raises(ScenarioError) as info:
        # The loader may refuse it already (once it calls the check); else the check does.
        check_rogue_split(parse_scenario(text + G1 + extra, filename="s.toml"))
    assert info.value.key == key
    assert info.value.problem == f"unsupported rogue_provider split: {words}"
    assert info.value.line is not None and str(info.value).startswith(f"s.toml:{info.value.line}:")


def test_removing_a_bystander_is_supported_and_adversary_shapes_are_named() -> None:
    two = CAST.replace('victims = ["alice", "bob", "dave"]', 'victims = ["alice", "bob"]') + G1
    check_rogue_split(
        parse_scenario(
            two + '\n[[step]]\nactor = "alice"\naction = "remove"\ngroup = "g1"\n'
            'members = ["carol"]\n'
        )
    )
    one = CAST.replace('victims = ["alice", "bob", "dave"]', 'victims = ["bob"]') + G1
    with pytest.raises(ScenarioError) as info:  # from the loader once it checks, else here
        check_rogue_split(parse_scenario(one))
    assert info.value.key == "adversary[1].victims" and "two victims or more" in info.value.problem
    grouped = (
        two.replace('victims = ["alice", "bob"]', 'victims = ["alice", "bob"]\ngroup = "g2"')
        + '\n[[step]]\nactor = "alice"\naction = "create_group"\ngroup = "g2"\n'
    )
    with pytest.raises(ScenarioError) as info:
        check_rogue_split(parse_scenario(grouped))
    assert info.value.key == "adversary[1].group"


@needs_engine
async def test_a_run_refuses_an_unsupported_split_naming_it(tmp_path: Path) -> None:
    """Given to the engine directly (past any check of the loader's), the run does not
    play it."""
    supported = parse_scenario(
        CAST.replace('victims = ["alice", "bob", "dave"]', 'victims = ["alice", "bob"]') + G1,
        filename="s.toml",
    )
    leave = Step(index=3, action="leave", actor="bob", group="g1", line=52)
    scenario = dataclasses.replace(supported, steps=(*supported.steps, leave))
    outcome = await run_scenario_async(scenario, out=tmp_path)
    assert outcome.result.error is not None
    assert "ScenarioError" in outcome.result.error
    assert "key 'step[3].actor': unsupported rogue_provider split" in outcome.result.error
    assert not outcome.result.views  # no client was started


def test_scenario_check_exits_2_naming_an_unsupported_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from scenarios import cli as scenario_cli

    path = tmp_path / "s.toml"
    path.write_text(
        CAST.replace('victims = ["alice", "bob", "dave"]', 'victims = ["alice", "bob"]')
        + G1
        + '\n[[step]]\nactor = "bob"\naction = "leave"\ngroup = "g1"\n'
    )
    status = scenario_cli.check_command(scenario_cli.argparse.Namespace(files=[str(path)]))
    err = capsys.readouterr().err
    assert status == 2
    assert "key 'step[3].actor': unsupported rogue_provider split: bob, a victim, leaves" in err

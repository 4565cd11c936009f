"""The scenario loader: every library file loads; bad files name the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenarios.errors import ScenarioError
from scenarios.library_files import HEADLINE, library_names, load_library_scenario
from scenarios.loader import load_scenario, parse_scenario
from scenarios.model import (
    AlarmExpectation,
    CodesExpectation,
    MemberCountExpectation,
    ReceivedExpectation,
    SeesExpectation,
    StepOutcomeExpectation,
)

LIBRARY = Path(__file__).resolve().parents[2] / "scenarios" / "library"

# The list of library scenarios (issue 6, "The library").
REQUIRED_LIBRARY = {
    "three_friends",
    "rogue_mky_detected",
    "rogue_mky_undetected",
    "expired_passport",
    "passport_other_group",
    "tn_outside_tnauthlist",
    "delegate_wider_than_issuer",
    "mky_mismatch",
    "untrusted_root",
    "key_package_replay",
    "concurrent_commits",
    "removed_member",
    "delivery_service_restart",
    "large_group_200",
}

HEAD = """\
[scenario]
name = "t"

[providers.acme]
spc = "1234"
numbers = ["12025550100/100"]

[actors.alice]
tn = "+1 202 555 0101"
name = "Alice"
provider = "acme"
credential = "passport"

[actors.bob]
tn = "+1 202 555 0102"
provider = "acme"
credential = "tn-cert"

[[step]]
id = "make"
actor = "alice"
action = "create_group"
group = "g1"
"""


def error_of(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, filename="s.toml")
    return info.value


def line_containing(text: str, needle: str, occurrence: int = 1) -> int:
    found = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            found += 1
            if found == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in text")


def test_the_library_has_every_required_scenario() -> None:
    assert set(library_names()) >= REQUIRED_LIBRARY
    assert HEADLINE in library_names()


@pytest.mark.parametrize("name", sorted(p.stem for p in LIBRARY.glob("*.toml")))
def test_every_library_scenario_loads(name: str) -> None:
    scenario = load_scenario(LIBRARY / f"{name}.toml")
    assert scenario.steps and scenario.expectations
    assert scenario.description.strip(), "each library scenario explains itself"
    assert load_library_scenario(name) == parse_scenario(
        (LIBRARY / f"{name}.toml").read_text(), filename=str(Path("library") / f"{name}.toml")
    )


def test_library_scenarios_are_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text()
    for name in library_names():
        assert f"`{name}.toml`" in doc, f"{name} is not in docs/scenarios.md"


def test_three_friends_uses_every_credential_kind() -> None:
    scenario = load_library_scenario("three_friends")
    assert {a.credential for a in scenario.actors.values()} == {"passport", "tn-cert", "spc-cert"}
    # Human forms are normalised to E.164 digits.
    assert scenario.actors["bob"].tn == "12025550102"
    assert scenario.actors["carol"].tn == "12025550103"


def test_large_group_expands_the_crowd() -> None:
    scenario = load_library_scenario("large_group_200")
    assert len(scenario.actors) == 200
    assert scenario.crowds["m"][0] == "m1" and scenario.crowds["m"][-1] == "m199"
    assert scenario.actors["m199"].tn == "12025550199"
    assert scenario.actors["m7"].display_name == "Member 7"
    invite = scenario.step_by_id("add-all")
    assert len(invite.members) == 199


def test_expectation_kinds_and_values() -> None:
    scenario = parse_scenario(
        HEAD
        + """
[[step]]
id = "inv"
actor = "alice"
action = "invite"
group = "g1"
members = ["bob"]

[[expect]]
step = "inv"
outcome = "rejected"
reason = "mky"
[[expect]]
actor = "bob"
group = "g1"
sees = { tn = "+1 202 555 0101", name = "Alice", credential = "passport" }
[[expect]]
actor = "bob"
group = "g1"
received = []
[[expect]]
compare = ["alice", "bob"]
group = "g1"
codes = "differ"
[[expect]]
actor = "bob"
group = "g1"
alarm = true
[[expect]]
actor = "bob"
group = "g1"
member_count = 2
"""
    )
    kinds = [type(e) for e in scenario.expectations]
    assert kinds == [
        StepOutcomeExpectation,
        SeesExpectation,
        ReceivedExpectation,
        CodesExpectation,
        AlarmExpectation,
        MemberCountExpectation,
    ]
    sees = scenario.expectations[1]
    assert isinstance(sees, SeesExpectation) and sees.sees.tn == "12025550101"
    full = HEAD + "\n[[step]]"
    assert scenario.expectations[0].line is not None
    assert scenario.steps[1].line == line_containing(full, "[[step]]", occurrence=2)
    assert scenario.ciphersuite == 2


# (text appended to HEAD, the key named, a fragment of the problem, the line's needle)
BAD_TAILS = [
    (
        '[[step]]\nactor = "alice"\naction = "sned"\ngroup = "g1"\n',
        "step[2].action",
        "unknown action 'sned' (expected one of create_group, invite",
        'action = "sned"',
    ),
    (
        '[[step]]\nactor = "alice"\naction = "send"\ngroup = "g1"\n',
        "step[2]",
        "a send step needs the key 'text'",
        "[[step]]",
    ),
    (
        '[[step]]\nactor = "alice"\naction = "send"\ngroup = "g2"\ntext = "x"\n',
        "step[2].group",
        "group 'g2' is not made by an earlier create_group step",
        'group = "g2"',
    ),
    (
        '[[step]]\nactor = "alice"\naction = "invite"\ngroup = "g1"\nmembers = ["bob", "eve"]\n',
        "step[2].members[2]",
        "unknown actor 'eve'",
        'members = ["bob", "eve"]',
    ),
    (
        '[[step]]\nactor = "alice"\naction = "send"\ngroup = "g1"\ntext = "x"\ncolour = 1\n',
        "step[2].colour",
        "unexpected key for a send step",
        "colour = 1",
    ),
    (
        '[[step]]\naction = "compare_codes"\ngroup = "g1"\nbetween = ["alice"]\n',
        "step[2].between",
        "expected exactly two actors, got 1",
        "between = ",
    ),
    (
        '[[step]]\naction = "wait"\nseconds = -1\n',
        "step[2].seconds",
        "must be at least 0",
        "seconds = -1",
    ),
    (
        '[[step]]\nid = "make"\nactor = "alice"\naction = "update"\ngroup = "g1"\n',
        "step[2].id",
        "step id 'make' is used twice",
        'id = "make"',
    ),
    (
        '[[expect]]\nstep = "nope"\noutcome = "ok"\n',
        "expect[1].step",
        "unknown step id 'nope'",
        'step = "nope"',
    ),
    (
        '[[expect]]\nstep = "make"\noutcome = "fine"\n',
        "expect[1].outcome",
        "unknown outcome 'fine' (expected one of ok, rejected)",
        'outcome = "fine"',
    ),
    (
        '[[expect]]\nstep = "make"\noutcome = "ok"\nreason = "mky"\n',
        "expect[1].reason",
        'a reason goes with outcome = "rejected"',
        'reason = "mky"',
    ),
    (
        '[[expect]]\ncompare = ["alice", "bob"]\ngroup = "g1"\ncodes = "equal"\n',
        "expect[1].codes",
        "unknown codes verdict 'equal'",
        'codes = "equal"',
    ),
    (
        '[[expect]]\nactor = "bob"\ngroup = "g1"\nsees = { tn = "+1 202", name = "A" }\n',
        "expect[1].sees.tn",
        "not a valid telephone number",
        "sees = ",
    ),
    (
        '[[expect]]\nactor = "bob"\ngroup = "g1"\nsees = { colour = "red" }\n',
        "expect[1].sees.colour",
        "unexpected key for sees",
        "sees = ",
    ),
    (
        '[[expect]]\nactor = "bob"\ngroup = "g1"\nalarm = "yes"\n',
        "expect[1].alarm",
        "expected true or false, got a string",
        'alarm = "yes"',
    ),
    (
        '[[expect]]\nactor = "bob"\ngroup = "g1"\n',
        "expect[1]",
        "an expectation needs one of the keys",
        "[[expect]]",
    ),
    (
        '[[adversary]]\nkind = "rogue"\n',
        "adversary[1].kind",
        "unknown adversary kind 'rogue'",
        'kind = "rogue"',
    ),
    (
        '[[adversary]]\nkind = "rogue_provider"\nprovider = "acme"\n',
        "adversary[1]",
        "a rogue_provider adversary needs the key 'victims'",
        "[[adversary]]",
    ),
    (
        '[[adversary]]\nkind = "delay"\nmessage = "commit"\n',
        "adversary[1]",
        "a delay adversary needs the key 'seconds'",
        "[[adversary]]",
    ),
    (
        '[[adversary]]\nkind = "drop"\nmessage = "letter"\n',
        "adversary[1].message",
        "unknown message kind 'letter'",
        'message = "letter"',
    ),
    (
        '[[adversary]]\nkind = "substitute_key_package"\nvictim = "bob"\nwith = "bob"\n',
        "adversary[1].with",
        "must be another actor than the victim",
        'with = "bob"',
    ),
    (
        '[[adversary]]\nkind = "replay"\nstep = "make"\ntimes = 0\n',
        "adversary[1].times",
        "must be at least 1",
        "times = 0",
    ),
]


@pytest.mark.parametrize(("tail", "key", "problem", "needle"), BAD_TAILS)
def test_bad_files_name_the_line_and_the_key(
    tail: str, key: str, problem: str, needle: str
) -> None:
    text = HEAD + "\n" + tail
    error = error_of(text)
    assert error.key == key
    assert problem in error.problem
    assert error.line == line_containing(text, needle, occurrence=text.count(needle))
    assert str(error).startswith(f"s.toml:{error.line}: key '{key}': ")


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        (
            'credential = "passport"',
            'credential = "pasport"',
            "actors.alice.credential",
            "unknown credential kind 'pasport'",
        ),
        (
            'provider = "acme"\ncredential = "tn-cert"',
            'provider = "acm"\ncredential = "tn-cert"',
            "actors.bob.provider",
            "unknown provider 'acm'",
        ),
        (
            'tn = "+1 202 555 0102"',
            'tn = "+1 202 555 0101"',
            "actors.bob",
            "has the number 12025550101 of 'alice'",
        ),
        ('tn = "+1 202 555 0102"', 'tn = "hello"', "actors.bob.tn", "not a"),
        (
            'tn = "+1 202 555 0102"',
            "tn = 12025550102",
            "actors.bob.tn",
            "expected a string, got an integer",
        ),
        (
            'numbers = ["12025550100/100"]',
            'numbers = ["+12025550100/100"]',
            "providers.acme.numbers[1]",
            "must be E.164 digits",
        ),
        (
            'numbers = ["12025550100/100"]',
            'numbers = ["12025550100/0"]',
            "providers.acme.numbers[1]",
            "must be a whole number >= 1",
        ),
        ('spc = "1234"', 'spc = "12-34"', "providers.acme.spc", "letters and digits"),
        (
            'name = "t"',
            'name = "t"\nciphersuite = 7',
            "scenario.ciphersuite",
            "unsupported ciphersuite 7",
        ),
        (
            'name = "t"',
            'name = "t"\nauthor = "me"',
            "scenario.author",
            "unexpected key for [scenario]",
        ),
        (
            'credential = "tn-cert"',
            'credential = "tn-cert"\ndefect = "mky-mismatch"',
            "actors.bob.defect",
            "applies to passport credentials, not 'tn-cert'",
        ),
        (
            'credential = "tn-cert"',
            'credential = "tn-cert"\ndefect = "broken"',
            "actors.bob.defect",
            "unknown credential defect 'broken'",
        ),
    ],
)
def test_bad_actor_provider_and_header_fields(old: str, new: str, key: str, problem: str) -> None:
    assert old in HEAD
    text = HEAD.replace(old, new, 1)
    error = error_of(text)
    assert error.key == key
    assert problem in error.problem
    assert error.line is not None
    wrong_key = key.split(".")[-1].split("[")[0]
    line = text.splitlines()[error.line - 1]
    assert wrong_key in line or line.startswith("[")


def test_missing_sections_and_wrong_shapes() -> None:
    assert "needs the key 'step'" in error_of(HEAD.split("[[step]]")[0]).problem
    error = error_of(HEAD + "\n[misc]\nx = 1\n")
    assert error.key == "misc" and error.line == line_containing(HEAD + "\n[misc]\n", "[misc]")
    error = error_of(HEAD.replace("[[step]]", "[step]"))
    assert error.key == "step" and "expected [[step]] tables" in error.problem


def test_toml_syntax_error_reports_its_line() -> None:
    text = HEAD + '\n[[step]]\nactor = "alice\n'
    error = error_of(text)
    assert error.problem.startswith("not valid TOML")
    assert error.line == len(text.splitlines())


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "absent.toml")
    assert "cannot read the file" in str(info.value)
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        load_scenario(tmp_path / "bin.toml")


def test_crowd_references_and_names() -> None:
    text = (
        HEAD.replace(
            "[[step]]",
            '[actors.m]\ntn = "+1 202 555 0150"\nname = "M{i}"\ncount = 3\nprovider = "acme"\n'
            'credential = "passport"\n\n[[step]]',
            1,
        )
        + '\n[[step]]\nactor = "alice"\naction = "invite"\ngroup = "g1"\nmembers = ["m*", "bob"]\n'
    )
    scenario = parse_scenario(text)
    assert scenario.steps[1].members == ("m1", "m2", "m3", "bob")
    assert [scenario.actors[f"m{i}"].tn for i in (1, 2, 3)] == [
        "12025550150",
        "12025550151",
        "12025550152",
    ]
    clash = text.replace('tn = "+1 202 555 0150"', 'tn = "+1 202 555 0100"').replace(
        'members = ["m*", "bob"]', 'members = ["m*"]'
    )
    assert "has the number 12025550101 of 'alice'" in error_of(clash).problem
    twice = text.replace('members = ["m*", "bob"]', 'members = ["m*", "m2"]')
    assert "names actor 'm2' twice" in error_of(twice).problem


@given(
    before=st.integers(min_value=0, max_value=6),
    after=st.integers(min_value=0, max_value=6),
    comments=st.booleans(),
)
def test_the_nth_bad_step_is_found_among_many(before: int, after: int, comments: bool) -> None:
    good = '[[step]]\nactor = "alice"\naction = "update"\ngroup = "g1"\n'
    if comments:
        # Comments and multi-line strings that look like steps must not be counted.
        good = (
            '# [[step]] in a comment\n[[step]]\nactor = "alice"\naction = "send"\n'
            'group = "g1"\ntext = """\n[[step]]\naction = "sned"\n"""\n'
        )
    bad = '[[step]]\nactor = "alice"\naction = "sned"\ngroup = "g1"\n'
    text = HEAD + "\n" + good * before + bad + good * after
    error = error_of(text)
    assert error.key == f"step[{before + 2}].action"
    assert text.splitlines()[error.line - 1 if error.line else 0] == 'action = "sned"'


MUTATION_SOURCE = (LIBRARY / "unreliable_delivery.toml").read_text().splitlines()
ODD_VALUES = ['""', "0", "-1", "true", "[]", "{}", '["nobody"]', '"x"', "1.5", '[1, "a"]']


@given(
    line=st.integers(min_value=0, max_value=len(MUTATION_SOURCE) - 1),
    action=st.sampled_from(["drop", "value", "duplicate"]),
    value=st.sampled_from(ODD_VALUES),
)
def test_mutated_files_load_or_fail_with_a_scenario_error(
    line: int, action: str, value: str
) -> None:
    """Whatever is wrong, the loader answers with ScenarioError (file, line, key), never
    with another exception."""
    lines = list(MUTATION_SOURCE)
    if action == "drop":
        del lines[line]
    elif action == "duplicate":
        lines.insert(line, lines[line])
    elif "=" in lines[line] and not lines[line].lstrip().startswith("#"):
        key = lines[line].split("=", 1)[0]
        lines[line] = f"{key}= {value}"
    try:
        parse_scenario("\n".join(lines), filename="m.toml")
    except ScenarioError as exc:
        assert str(exc).startswith("m.toml")

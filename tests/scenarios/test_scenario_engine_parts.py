"""The engine's parts that do not need running clients: batching, streams, the relay's
need (the carrier is tested in test_scenario_carrier.py)."""

from __future__ import annotations

from scenarios.engine import group_id_of_dest, needs_relay, send_streams, step_batches
from scenarios.library_files import load_library_scenario
from scenarios.loader import parse_scenario
from shared.profile import group_dest_uri


def test_parallel_steps_are_batched_together() -> None:
    scenario = load_library_scenario("concurrent_commits")
    batches = step_batches(scenario.steps)
    assert [[s.label for s in b] for b in batches] == [
        ["step[1]"],
        ["step[2]"],
        ["alice-adds", "bob-adds"],
        ["step[5]"],
    ]


def test_group_id_of_dest_round_trips() -> None:
    for gid in (b"g", b"group-one", bytes(range(32))):
        assert group_id_of_dest(group_dest_uri(gid)) == gid
    assert group_id_of_dest("mls:ds:ds.scenario") is None


_CHAT = """
[scenario]
name = "chat"
[providers.acme]
spc = "1234"
numbers = ["12025550100/100"]
[actors.alice]
tn = "+1 202 555 0101"
provider = "acme"
credential = "tn-cert"
[actors.bob]
tn = "+1 202 555 0102"
provider = "acme"
credential = "tn-cert"
[[step]]
actor = "alice"
action = "create_group"
group = "g"
[[step]]
actor = "alice"
action = "invite"
group = "g"
members = ["bob"]
"""


def _send(actor: str, text: str, extra: str = "") -> str:
    return f'[[step]]\nactor = "{actor}"\naction = "send"\ngroup = "g"\ntext = "{text}"\n{extra}'


def test_one_senders_consecutive_sends_stream_together() -> None:
    text = _CHAT + "".join(
        [
            _send("alice", "1"),
            _send("alice", "2"),
            _send("alice", "3"),
            _send("bob", "4"),  # another sender: a new run (order across senders is kept)
            _send("alice", "5"),
            _send("alice", "6"),
            '[[step]]\naction = "wait"\nseconds = 0.1\n',
            _send("alice", "7"),
            _send("alice", "8", 'parallel = "p"\n'),
            _send("alice", "9", 'parallel = "p"\n'),
        ]
    )
    scenario = parse_scenario(text)
    streams = send_streams(step_batches(scenario.steps), scenario)
    runs = {tuple(s.text for s in run) for run in streams.values()}
    assert runs == {("1", "2", "3"), ("5", "6")}
    assert streams[3] is streams[5]  # steps 3..5 share one run


def test_no_stream_and_the_relay_with_an_adversary() -> None:
    text = (
        _CHAT
        + _send("alice", "1")
        + _send("alice", "2")
        + '[[adversary]]\nkind = "drop"\nmessage = "application"\n'
    )
    scenario = parse_scenario(text)
    assert send_streams(step_batches(scenario.steps), scenario) == {}
    assert needs_relay(scenario)
    assert not needs_relay(parse_scenario(_CHAT))
    assert needs_relay(parse_scenario(_CHAT.replace('"tn-cert"', '"passport"', 1)))
    assert needs_relay(parse_scenario(_CHAT + '[[step]]\naction = "restart"\n'))

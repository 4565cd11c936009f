"""The engine's parts that do not need running clients: batching, the carrier."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from scenarios.engine import group_id_of_dest, make_carrier, needs_relay, send_streams, step_batches
from scenarios.library_files import load_library_scenario
from scenarios.loader import parse_scenario
from scenarios.run_pki import MemberKey, RunPKI
from shared.profile import CREDENTIAL_TYPE_STIR_PASSPORT, group_dest_uri
from shared.protocol import Error, ErrorCode, PassportIssued, RequestPassport
from shared.stir.credential_codec import STIRPASSporTCredential
from shared.stir.errors import CredentialRejected
from shared.stir.validator import validate


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


def request(tn: str, dest: str, key: bytes) -> RequestPassport:
    return RequestPassport(7, tn, dest, 0x0403, key, "scenario", b"sig")


def test_the_carrier_signs_own_numbers_with_the_actors_defect(tmp_path: Path) -> None:
    pki = RunPKI.create(load_library_scenario("passport_other_group"), tmp_path)
    carrier = make_carrier(pki)
    key = MemberKey.generate().public_point
    group = b"the-group"

    refused = carrier("alice", request("12025550102", group_dest_uri(group), key))
    assert isinstance(refused, Error) and refused.code == ErrorCode.PROVIDER_REFUSED
    assert carrier("somebody-else", request("12025550101", group_dest_uri(group), key)) is None

    def content(answer: object) -> bytes:
        assert isinstance(answer, PassportIssued) and answer.re == 7
        token = answer.passport.encode("ascii")
        return STIRPASSporTCredential(answer.certificates, token).encode()

    now = datetime.now(UTC)
    good = carrier("alice", request("12025550101", group_dest_uri(group), key))
    identity = validate(
        CREDENTIAL_TYPE_STIR_PASSPORT, content(good), key, group_id=group, trust=pki.trust, now=now
    )
    assert identity.primary_tn == "12025550101"

    bad = carrier("mallory", request("12025550166", group_dest_uri(group), key))
    with pytest.raises(CredentialRejected) as info:
        validate(
            CREDENTIAL_TYPE_STIR_PASSPORT,
            content(bad),
            key,
            group_id=group,
            trust=pki.trust,
            now=now,
        )
    assert info.value.reason == "dest"
    # Her registration PASSporT is sound.
    sound = carrier("mallory", request("12025550166", "mls:ds:ds.scenario", key))
    registered = validate(
        CREDENTIAL_TYPE_STIR_PASSPORT,
        content(sound),
        key,
        group_id=None,
        ds_id="ds.scenario",
        trust=pki.trust,
        now=now,
    )
    assert registered.primary_tn == "12025550166"


def test_the_rogue_providers_impostors_get_valid_passports_for_the_victims(
    tmp_path: Path,
) -> None:
    """PROFILE.md §9: the provider signs for its subscriber's number with its own key."""
    from scenarios.interception import Interceptor
    from scenarios.relay import Relay
    from scenarios.rogue import RogueProvider, real_side_victim
    from scenarios.transcript import Recorder

    scenario = load_library_scenario("rogue_mky_detected")
    (adversary,) = scenario.adversaries
    assert real_side_victim(scenario, adversary) == "alice"
    pki = RunPKI.create(scenario, tmp_path)
    recorder = Recorder()
    relay = Relay(Interceptor(scenario), recorder, "ws://127.0.0.1:1/")
    rogue = RogueProvider(
        adversary,
        scenario,
        pki,
        relay,
        launcher=None,
        recorder=recorder,  # type: ignore[arg-type]
        run_dir=tmp_path,
        ds_id="ds.scenario",
    )
    assert rogue.shadow_victims == ["bob"]
    assert rogue.impersonated("rogue-real-bob") == "bob"
    assert rogue.impersonated("rogue-shadow-alice") == "alice"
    assert rogue.impersonated("bob") is None
    carrier = make_carrier(pki, [rogue])
    provider_key = MemberKey.generate().public_point
    group = b"alice-group"
    answer = carrier("rogue-real-bob", request("12025550202", group_dest_uri(group), provider_key))
    assert isinstance(answer, PassportIssued)
    content = STIRPASSporTCredential(answer.certificates, answer.passport.encode()).encode()
    identity = validate(
        CREDENTIAL_TYPE_STIR_PASSPORT,
        content,
        provider_key,
        group_id=group,
        trust=pki.trust,
        now=datetime.now(UTC),
    )
    assert (identity.primary_tn, identity.display_name) == ("12025550202", "Bob Dylan")
    with pytest.raises(ValueError, match="not 12025550202"):
        carrier("rogue-real-bob", request("12025550201", group_dest_uri(group), provider_key))


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

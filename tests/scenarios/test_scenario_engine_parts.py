"""The engine's parts that do not need running clients: batching, the carrier."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from scenarios.engine import group_id_of_dest, make_carrier, step_batches
from scenarios.library_files import load_library_scenario
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
        ["alice-update", "bob-update"],
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
    try:
        validate(
            CREDENTIAL_TYPE_STIR_PASSPORT,
            content(bad),
            key,
            group_id=group,
            trust=pki.trust,
            now=now,
        )
    except CredentialRejected as exc:
        assert exc.reason == "dest"
    else:
        raise AssertionError("mallory's group PASSporT should name another group")
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

"""The run's PKI issues what the files say, and the real validator judges it as the
library's expectations claim (this pins the reason codes the library expects)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from scenarios.library_files import load_library_scenario
from scenarios.model import StepOutcomeExpectation
from scenarios.run_pki import MemberKey, RunPKI

validator = pytest.importorskip(
    "shared.stir.validator", reason="shared.stir.validator (issue 3, helper B) not landed yet"
)
from shared.stir.errors import CredentialRejected  # noqa: E402

GROUP = b"scenario-group-1"


def _validate(run: RunPKI, actor: str, *, group: bytes = GROUP):  # type: ignore[no-untyped-def]
    key = MemberKey.generate().public_point
    credential = run.group_credential(actor, key, group)
    return validator.validate(
        credential.credential_type,
        credential.content,
        key,
        group_id=group,
        trust=run.trust,
        now=datetime.now(UTC),
        application_id=credential.application_id,
    )


def test_three_friends_credentials_validate_as_expected(tmp_path: Path) -> None:
    run = RunPKI.create(load_library_scenario("three_friends"), tmp_path)
    alice, bob, carol = (_validate(run, a) for a in ("alice", "bob", "carol"))
    assert (alice.kind, alice.primary_tn, alice.display_name) == (
        "passport",
        "12025550101",
        "Alice Liddell",
    )
    assert alice.assurance.name == "PROVIDER_ATTESTED_KEY"
    assert (bob.kind, bob.primary_tn, bob.display_name) == ("tn-cert", "12025550102", "Bob Dylan")
    assert bob.assurance.name == "END_TO_END"
    assert (carol.kind, carol.claimed_tn) == ("spc-cert", "12025550103")
    assert carol.assurance.name == "CARRIER_KEY"


def test_registration_credentials_are_sound_even_for_defective_actors(tmp_path: Path) -> None:
    run = RunPKI.create(load_library_scenario("mky_mismatch"), tmp_path)
    key = MemberKey.generate().public_point
    credential = run.registration_credential("mallory", key, "ds-1")
    identity = validator.validate(
        credential.credential_type,
        credential.content,
        key,
        group_id=None,
        ds_id="ds-1",
        trust=run.trust,
        now=datetime.now(UTC),
    )
    assert identity.primary_tn == "12025550166"


@pytest.mark.parametrize(
    "name",
    [
        "expired_passport",
        "passport_other_group",
        "tn_outside_tnauthlist",
        "delegate_wider_than_issuer",
        "mky_mismatch",
        "untrusted_root",
    ],
)
def test_defective_credentials_are_refused_for_the_expected_reason(
    name: str, tmp_path: Path
) -> None:
    scenario = load_library_scenario(name)
    (expected,) = [
        e
        for e in scenario.expectations
        if isinstance(e, StepOutcomeExpectation) and e.outcome == "rejected"
    ]
    run = RunPKI.create(scenario, tmp_path)
    _validate(run, "alice")  # the honest ones pass
    with pytest.raises(CredentialRejected) as info:
        _validate(run, "mallory")
    assert info.value.reason == expected.reason, info.value


def test_replayed_key_package_credential_names_the_first_group(tmp_path: Path) -> None:
    run = RunPKI.create(load_library_scenario("key_package_replay"), tmp_path)
    key = MemberKey.generate().public_point
    old = run.group_credential("bob", key, b"g1-id")
    with pytest.raises(CredentialRejected) as info:
        validator.validate(
            old.credential_type,
            old.content,
            key,
            group_id=b"g2-id",
            trust=run.trust,
            now=datetime.now(UTC),
        )
    assert info.value.reason == "dest"


def test_rogue_passport_validates_under_the_victims_number(tmp_path: Path) -> None:
    """PROFILE.md §9: every credential of the split validates."""
    run = RunPKI.create(load_library_scenario("rogue_mky_detected"), tmp_path)
    rogue_key = run.provider_key("shadytel").public_point
    credential = run.rogue_passport("shadytel", "bob", rogue_key, GROUP)
    identity = validator.validate(
        credential.credential_type,
        credential.content,
        rogue_key,
        group_id=GROUP,
        trust=run.trust,
        now=datetime.now(UTC),
    )
    assert (identity.primary_tn, identity.display_name) == ("12025550202", "Bob Dylan")

"""How identities read on screen (PROFILE.md §4.4, §5.8).

The identities here are plain records with the validator's Identity field names (the
module reads them structurally); the validator's own tests cover how they are produced.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import pytest

from shared.identity_view import (
    AssuranceLevel,
    assurance_level,
    numbers_text,
    view_identity,
    view_rejection,
)


class Assurance(enum.Enum):  # same member names as shared.stir.validator.Assurance
    END_TO_END = 1
    CARRIER_KEY = 2
    PROVIDER_ATTESTED_KEY = 3


@dataclass(frozen=True)
class Identity:
    tns: object
    display_name: str | None
    name_source: str | None
    kind: str
    signer_scope: str
    assurance: object
    stale: bool = False


@dataclass(frozen=True)
class TNRange:
    start: str
    count: int


def test_delegate_certificate_member_is_end_to_end() -> None:
    ident = Identity(("12025550101",), "Alice", "certificate", "tn-cert", "", Assurance.END_TO_END)
    view = view_identity(ident)
    assert view.number == "+1 202-555-0101"
    assert view.number_certified
    assert view.title == "Alice  +1 202-555-0101"
    assert view.name_source == "from the certificate"
    assert view.badge == "[E2E · number certificate]"
    assert view.advice is None
    assert view.lines() == [
        "+1 202-555-0101",
        "name: Alice (from the certificate)",
        "credential: number certificate; key: end to end",
    ]


def test_provider_attested_passport_tells_people_to_compare() -> None:
    ident = Identity(
        ("447700900123",), "Bob", "rcd", "passport", "1234", Assurance.PROVIDER_ATTESTED_KEY
    )
    view = view_identity(ident)
    assert view.number == "+44 7700 900123"
    assert view.badge == "[PROVIDER KEY · PASSporT]"
    assert view.name_source == "from the PASSporT (rcd)"
    assert view.advice is not None and "compare codes" in view.advice
    assert "key: provider-attested key" in view.lines()[2]


def test_carrier_level_member_number_is_claimed_not_certified() -> None:
    ident = Identity((), None, None, "spc-cert", "567C", Assurance.CARRIER_KEY)
    view = view_identity(ident, claimed_tn="12025550199")
    assert view.number == "+1 202-555-0199"
    assert not view.number_certified
    assert view.number_note == "claimed via carrier 567C"
    assert view.lines()[0] == "+1 202-555-0199 (claimed via carrier 567C)"
    assert view.name is None and view.name_source == "no name"
    assert view.badge == "[CARRIER KEY · carrier certificate]"
    assert view.advice is not None and "carrier holds" in view.advice


def test_carrier_level_member_without_claim() -> None:
    view = view_identity(Identity((), None, None, "spc-cert", "567C", Assurance.CARRIER_KEY))
    assert view.number == "carrier 567C"
    assert view.number_note == "no number claimed"


def test_claimed_number_ignored_for_certified_identities() -> None:
    ident = Identity(("12025550101",), None, None, "tn-cert", "", Assurance.END_TO_END)
    assert view_identity(ident, claimed_tn="19995550000").number == "+1 202-555-0101"


def test_stale_member_is_flagged() -> None:
    ident = Identity(("12025550101",), "A", "rcd", "passport", "", Assurance.END_TO_END, stale=True)
    assert any("stale" in line for line in view_identity(ident).lines())


def test_ranges_and_lists() -> None:
    assert numbers_text(TNRange("12025550100", 100)) == (
        "+1 202-555-0100 … +1 202-555-0199 (100 numbers)"
    )
    assert numbers_text(("12025550101", "12025550102")) == "+1 202-555-0101, +1 202-555-0102"
    assert numbers_text(()) == "(no number)"
    # A list, a tuple mixing numbers and ranges, and another sequence read the same way.
    mixed = ("12025550101", TNRange("12025550200", 2))
    text = "+1 202-555-0101, +1 202-555-0200 … +1 202-555-0201 (2 numbers)"
    assert numbers_text(mixed) == numbers_text(list(mixed)) == text
    assert numbers_text(range(0)) == "(no number)"


def test_assurance_mapping() -> None:
    assert assurance_level(Assurance.CARRIER_KEY) is AssuranceLevel.CARRIER_KEY
    assert assurance_level("END_TO_END") is AssuranceLevel.END_TO_END
    with pytest.raises(ValueError, match="unknown assurance"):
        assurance_level("TRUST_ME")


def test_rejection_text_names_member_rule_and_reason() -> None:
    view = view_rejection("+1 202-555-0101", "mky", "§5.4", "the PASSporT does not bind this key")
    assert view.text == (
        "rejected +1 202-555-0101: the PASSporT does not bind this key [mky, PROFILE §5.4]"
    )


@dataclass(frozen=True)
class IdentityWithClaim(Identity):
    claimed_tn: str | None = None


def test_claimed_number_read_from_the_identity() -> None:
    ident = IdentityWithClaim(
        (), None, None, "spc-cert", "567C", Assurance.CARRIER_KEY, claimed_tn="12025550199"
    )
    assert view_identity(ident).number == "+1 202-555-0199"

"""The validator on STIRPASSporTCredentials (0xF002): PROFILE.md §5, §6."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.profile import DS_CLOCK_TOLERANCE, ds_dest_uri, group_dest_uri
from shared.stir.credential_codec import STIRPASSporTCredential
from shared.stir.errors import CredentialRejected
from shared.stir.pki import DemoPKI
from shared.stir.tnauthlist import OneTN, TNRange
from shared.stir.trust import TrustStore
from shared.stir.validator import Assurance, Validator

from .conftest import ALICE_TN, BOB_TN, Provider, make_member_key, member_point
from .fixtures_validator import (
    DS_ID,
    OTHER_GROUP_ID,
    craft_passport,
    now,
    passport_claims,
    passport_content,
    rejection,
    sign_passport,
    validate_passport,
)

HEADER = {"alg": "ES256", "typ": "passport"}


@pytest.fixture
def bob_point() -> bytes:
    return member_point(make_member_key())


def test_spc_signed_passport_is_provider_attested(
    provider: Provider, trust: TrustStore, bob_point: bytes
) -> None:
    token = sign_passport(provider.signer, BOB_TN, bob_point, nam="Bob")
    ident = validate_passport(passport_content(provider.signer, token), bob_point, trust)
    assert ident.kind == "passport"
    assert ident.tns == (BOB_TN,) and ident.primary_tn == BOB_TN
    assert ident.display_name == "Bob" and ident.name_source == "rcd"
    assert ident.assurance is Assurance.PROVIDER_ATTESTED_KEY
    assert ident.signer_scope == "1234"
    # not_after is the PASSporT's max-age (30 days), well before the certificate's expiry.
    assert ident.not_after is not None
    assert timedelta(days=29) < ident.not_after - now() <= timedelta(days=30)
    no_name = sign_passport(provider.signer, BOB_TN, bob_point)
    ident = validate_passport(passport_content(provider.signer, no_name), bob_point, trust)
    assert ident.display_name is None and ident.name_source is None


def test_delegate_signed_passport_is_end_to_end(
    pki: DemoPKI, provider: Provider, trust: TrustStore, bob_point: bytes
) -> None:
    own = pki.issue_delegate(provider.ca, [OneTN(ALICE_TN)])
    token = sign_passport(own, ALICE_TN, bob_point)
    ident = validate_passport(passport_content(own, token), bob_point, trust)
    assert ident.assurance is Assurance.END_TO_END
    assert ident.signer_scope == ALICE_TN
    # The delegate cannot sign for a number outside its own scope.
    other = sign_passport(own, BOB_TN, bob_point)
    err = rejection(validate_passport, passport_content(own, other), bob_point, trust)
    assert (err.reason, err.rule) == ("tn-not-authorised", "§5.3")


def test_orig_authorisation(
    pki: DemoPKI, provider: Provider, trust: TrustStore, bob_point: bytes
) -> None:
    token = sign_passport(provider.signer, "12025550200", bob_point)
    err = rejection(validate_passport, passport_content(provider.signer, token), bob_point, trust)
    assert err.reason == "tn-not-authorised"
    unassigned = pki.issue_spc("Beta", "9999")
    token = sign_passport(unassigned, "14155550100", bob_point)
    err = rejection(validate_passport, passport_content(unassigned, token), bob_point, trust)
    assert err.reason == "spc-unassigned"


def test_mky_rules(provider: Provider, trust: TrustStore, bob_point: bytes) -> None:
    wrong = sign_passport(provider.signer, BOB_TN, member_point(make_member_key()))
    err = rejection(validate_passport, passport_content(provider.signer, wrong), bob_point, trust)
    assert (err.reason, err.rule) == ("mky", "§5.4")
    missing = craft_passport(provider.signer, HEADER, passport_claims(BOB_TN, bob_point, mky=None))
    err = rejection(validate_passport, passport_content(provider.signer, missing), bob_point, trust)
    assert err.reason == "mky" and "no mky" in err.detail


def test_dest_rules(provider: Provider, trust: TrustStore, bob_point: bytes) -> None:
    content = passport_content(provider.signer, sign_passport(provider.signer, BOB_TN, bob_point))
    err = rejection(validate_passport, content, bob_point, trust, group_id=OTHER_GROUP_ID)
    assert (err.reason, err.rule) == ("dest", "§5.5")
    assert rejection(validate_passport, content, bob_point, trust, ds_id=DS_ID).reason == "dest"
    # The registration PASSporT names the delivery service instead.
    reg = sign_passport(provider.signer, BOB_TN, bob_point, dest=ds_dest_uri(DS_ID))
    reg_content = passport_content(provider.signer, reg)
    assert validate_passport(reg_content, bob_point, trust, ds_id=DS_ID).tns == (BOB_TN,)
    assert rejection(validate_passport, reg_content, bob_point, trust).reason == "dest"
    # A PASSporT naming two groups is valid in neither.
    two = sign_passport(
        provider.signer,
        BOB_TN,
        bob_point,
        dest=[group_dest_uri(b"\x01group-one\xff"), group_dest_uri(OTHER_GROUP_ID)],
    )
    err = rejection(validate_passport, passport_content(provider.signer, two), bob_point, trust)
    assert err.reason == "dest"
    with pytest.raises(ValueError, match="exactly one"):
        validate_passport(content, bob_point, trust, group_id=None)


def test_freshness(provider: Provider, trust: TrustStore, bob_point: bytes) -> None:
    t = now()
    old = sign_passport(provider.signer, BOB_TN, bob_point, iat=t - timedelta(days=31))
    content = passport_content(provider.signer, old)
    err = rejection(validate_passport, content, bob_point, trust)
    assert (err.reason, err.rule) == ("stale", "§5.6")
    ident = validate_passport(content, bob_point, trust, strict_time=False)
    assert ident.stale and ident.stale_reason == "stale"
    assert validate_passport(content, bob_point, trust, max_age=timedelta(days=40)).tns
    # Future iat: 60 s skew plus the clock tolerance.
    ahead = sign_passport(provider.signer, BOB_TN, bob_point, iat=t + timedelta(seconds=130))
    content = passport_content(provider.signer, ahead)
    validate_passport(content, bob_point, trust, now=t)
    err = rejection(
        validate_passport, content, bob_point, trust, now=t, clock_tolerance=DS_CLOCK_TOLERANCE
    )
    assert err.reason == "future-iat"
    far = sign_passport(provider.signer, BOB_TN, bob_point, iat=t + timedelta(seconds=361))
    err = rejection(
        validate_passport, passport_content(provider.signer, far), bob_point, trust, now=t
    )
    assert err.reason == "future-iat"
    # exp, when present, is honoured.
    short = sign_passport(provider.signer, BOB_TN, bob_point, iat=t, exp=int(t.timestamp()) + 600)
    content = passport_content(provider.signer, short)
    assert validate_passport(content, bob_point, trust, now=t).not_after is not None
    err = rejection(validate_passport, content, bob_point, trust, now=t + timedelta(seconds=901))
    assert err.reason == "expired"


@pytest.mark.parametrize(
    ("header", "over", "reason"),
    [
        (HEADER, {"iat": "1443208345"}, "iat"),
        ({**HEADER, "ppt": "shaken"}, {}, "ppt"),
        ({**HEADER, "typ": "JWT"}, {}, "typ"),
        ({**HEADER, "alg": "ES384"}, {}, "alg"),
        (HEADER, {"orig": '{"tn":"12025550102"}'}, "claims"),
        (HEADER, {"dest": "mls:group:AQ"}, "claims"),
    ],
)
def test_passport_shape_rules(
    provider: Provider,
    trust: TrustStore,
    bob_point: bytes,
    header: dict[str, str],
    over: dict[str, object],
    reason: str,
) -> None:
    token = craft_passport(provider.signer, header, passport_claims(BOB_TN, bob_point, **over))
    err = rejection(validate_passport, passport_content(provider.signer, token), bob_point, trust)
    assert err.reason == reason


def test_nam_must_be_permitted(
    pki: DemoPKI, provider: Provider, trust: TrustStore, bob_point: bytes
) -> None:
    named = pki.issue_spc("Acme Telecom", "1234", permitted_nam="Acme Support")
    ok = sign_passport(named, BOB_TN, bob_point, nam="Acme Support")
    assert validate_passport(passport_content(named, ok), bob_point, trust).display_name == (
        "Acme Support"
    )
    bad = sign_passport(named, BOB_TN, bob_point, nam="Bob")
    err = rejection(validate_passport, passport_content(named, bad), bob_point, trust)
    assert (err.reason, err.rule) == ("nam-not-permitted", "§5.7")
    # No nam at all is fine: the constraint limits values, it does not demand one.
    none = sign_passport(named, BOB_TN, bob_point)
    assert validate_passport(passport_content(named, none), bob_point, trust).display_name is None


def test_tampered_signature_and_bytes(
    provider: Provider, trust: TrustStore, bob_point: bytes
) -> None:
    token = sign_passport(provider.signer, BOB_TN, bob_point)
    head, body, sig = token.split(".")
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    err = rejection(
        validate_passport,
        passport_content(provider.signer, f"{head}.{body}.{flipped}"),
        bob_point,
        trust,
    )
    assert err.reason == "signature"
    content = STIRPASSporTCredential(provider.signer.chain, b"\xffnot-ascii").encode()
    assert rejection(validate_passport, content, bob_point, trust).reason == "malformed"
    good = passport_content(provider.signer, token)
    assert rejection(validate_passport, good + b"\x00", bob_point, trust).reason == "malformed"


def test_member_key_types(provider: Provider, trust: TrustStore) -> None:
    ed = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    token = sign_passport(provider.signer, BOB_TN, ed)
    content = passport_content(provider.signer, token)
    assert validate_passport(content, ed, trust, ciphersuite=0x0001).tns == (BOB_TN,)
    assert validate_passport(content, ed, trust).tns == (BOB_TN,)
    assert rejection(validate_passport, content, ed, trust, ciphersuite=0x0002).reason == (
        "unsupported-key"
    )
    assert rejection(validate_passport, content, ed, trust, ciphersuite=0x0003).reason == (
        "unsupported-key"
    )
    p256 = make_member_key().public_key()
    compressed = p256.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    token = sign_passport(provider.signer, BOB_TN, compressed)
    err = rejection(validate_passport, passport_content(provider.signer, token), compressed, trust)
    assert err.reason == "unsupported-key"


def test_p384_signer(pki: DemoPKI, provider: Provider, trust: TrustStore, bob_point: bytes) -> None:
    p384 = pki.issue_spc("Acme Telecom", "1234", key_type="p384")
    token = sign_passport(provider.signer, BOB_TN, bob_point)  # any token: the key is refused
    err = rejection(validate_passport, passport_content(p384, token), bob_point, trust)
    assert err.reason == "unsupported-key"


def test_signer_chain_is_validated(
    untrusted_pki: DemoPKI, provider: Provider, trust: TrustStore, bob_point: bytes
) -> None:
    rogue = untrusted_pki.issue_spc("Rogue", "1234", [TNRange("12025550100", 100)])
    token = sign_passport(rogue, BOB_TN, bob_point)
    err = rejection(validate_passport, passport_content(rogue, token), bob_point, trust)
    assert err.reason == "chain"
    # The right chain with a token signed by another key fails on the signature.
    content = passport_content(provider.signer, token)
    assert rejection(validate_passport, content, bob_point, trust).reason == "signature"


def test_ejwtcc_must_include_and_exclude(pki: DemoPKI, trust: TrustStore, bob_point: bytes) -> None:
    from shared.stir.claim_constraints import EnhancedJWTClaimConstraints

    constraints = EnhancedJWTClaimConstraints(
        must_include=("attest",),
        permitted_values={"attest": ("A", "B")},
        must_exclude=("div",),
    )
    # The PKI issues nam constraints only; build this one through the trust of a test
    # signer by checking the validator's constraint logic directly.
    from shared.stir.passport import verify_passport_signature
    from shared.stir.validator import _check_claim_constraints  # the rule under test

    signer = pki.issue_spc("Acme Telecom", "1234")
    key = signer.cert.public_key()
    for over, reason in (
        ({}, "claim-constraints"),
        ({"attest": "C"}, "claim-constraints"),
        ({"attest": "A", "div": {}}, "claim-constraints"),
        ({"attest": "B"}, None),
    ):
        token = craft_passport(signer, HEADER, passport_claims(BOB_TN, bob_point, **over))
        passport = verify_passport_signature(token, key)  # type: ignore[arg-type]
        if reason is None:
            _check_claim_constraints(passport, constraints)
        else:
            err = rejection(_check_claim_constraints, passport, constraints)
            assert err.reason == reason


_MUTATION_BASE: dict[int, tuple[bytes, bytes]] = {}


@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_passport_credentials_only_raise_credential_rejected(
    provider: Provider, trust: TrustStore, data: st.DataObject
) -> None:
    # One credential per test run (signing per example would dominate the run time).
    if id(trust) not in _MUTATION_BASE:
        point = member_point(make_member_key())
        token = sign_passport(provider.signer, BOB_TN, point, nam="B")
        _MUTATION_BASE.clear()
        _MUTATION_BASE[id(trust)] = (passport_content(provider.signer, token), point)
    base, point = _MUTATION_BASE[id(trust)]
    content = bytearray(base)
    # Half the time aim at the PASSporT (the tail), half anywhere.
    low = len(content) - 400 if data.draw(st.booleans()) else 0
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        i = data.draw(st.integers(min_value=low, max_value=len(content) - 1))
        content[i] = data.draw(st.integers(min_value=0, max_value=255))
    try:
        ident = validate_passport(bytes(content), point, trust)
    except CredentialRejected:
        return
    assert ident.tns == (BOB_TN,)


def test_a_remembered_header_refuses_what_a_fresh_validator_refuses(
    provider: Provider, trust: TrustStore
) -> None:
    """A Validator keeps the PASSporT headers that passed their checks (a signer's are all
    the same); the rest of each token is still checked in full, and a header that fails
    is refused every time and never kept. (The headers are the full path's: with the
    binding's ES256 check, a PASSporT it verifies is parsed afresh.)"""
    validator = Validator(native=False)
    key = member_point(make_member_key())
    good = sign_passport(provider.signer, ALICE_TN, key)
    validate_passport(passport_content(provider.signer, good), key, trust, validator=validator)
    assert len(validator._passport_headers) == 1
    # The same header segment over another payload: the signature no longer holds.
    other = sign_passport(provider.signer, BOB_TN, key)
    head, _, signature = good.split(".")
    spliced = ".".join((head, other.split(".")[1], signature))
    for v in (validator, Validator()):
        err = rejection(
            validate_passport, passport_content(provider.signer, spliced), key, trust, validator=v
        )
        assert err.reason == "signature"
    bad = craft_passport(
        provider.signer, {"typ": "jwt", "alg": "ES256"}, passport_claims(ALICE_TN, key)
    )
    for _ in range(2):
        err = rejection(
            validate_passport,
            passport_content(provider.signer, bad),
            key,
            trust,
            validator=validator,
        )
        assert err.reason == "typ"
    assert len(validator._passport_headers) == 1
    assert validate_passport(
        passport_content(provider.signer, other), key, trust, validator=validator
    ).tns == (BOB_TN,)

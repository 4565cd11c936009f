"""The validator on STIRCertificateCredentials (0xF001): PROFILE.md §1, §4, §6."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.profile import (
    CREDENTIAL_TYPE_BASIC,
    CREDENTIAL_TYPE_STIR_CERTIFICATE,
    DS_CLOCK_TOLERANCE,
)
from shared.stir.credential_codec import STIRCertificateCredential
from shared.stir.errors import CredentialRejected
from shared.stir.pki import DemoPKI, IssuedCert, point_of
from shared.stir.tnauthlist import SPC, OneTN, TNEntry, TNRange
from shared.stir.trust import TrustStore
from shared.stir.validator import Assurance, Validator, validate

from .conftest import ALICE_TN, Provider, make_member_key, member_point
from .fixtures_validator import GROUP_ID, cert_content, now, rejection, validate_cert


def delegate(
    pki: DemoPKI, issuer: IssuedCert, scope: Sequence[TNEntry], **kw: Any
) -> tuple[bytes, bytes]:
    """Issue a delegate end entity over a fresh member key: (content, signature key)."""
    key = make_member_key()
    issued = pki.issue_delegate(issuer, scope, key.public_key(), **kw)
    return cert_content(issued), member_point(key)


@pytest.fixture
def old_pki(tmp_path: Path) -> tuple[DemoPKI, IssuedCert, TrustStore]:
    """A PKI and provider CA made 60 days ago, so past validity periods fit inside them."""
    then = now() - timedelta(days=60)
    pki = DemoPKI.init(tmp_path / "old-pki", now=then)
    ca = pki.issue_spc("Acme Telecom", "1234", [TNRange("12025550100", 100)], ca=True, now=then)
    return pki, ca, pki.trust_store()


# --- accepted identities ------------------------------------------------------------------


def test_tn_delegate_is_end_to_end_with_certificate_name(
    pki: DemoPKI,
    provider: Provider,
    trust: TrustStore,
    alice_key: ec.EllipticCurvePrivateKey,
    alice_cert: IssuedCert,
) -> None:
    ident = validate_cert(cert_content(alice_cert), member_point(alice_key), trust)
    assert ident.kind == "tn-cert"
    assert ident.tns == (ALICE_TN,)
    assert ident.primary_tn == ALICE_TN
    assert ident.display_name == "Alice" and ident.name_source == "certificate"
    assert ident.assurance is Assurance.END_TO_END
    assert ident.signer_scope == ALICE_TN
    assert not ident.stale
    assert ident.not_after == alice_cert.cert.not_valid_after_utc
    assert ident.claimed_tn is None


@pytest.mark.parametrize("enhanced", [False, True])
@pytest.mark.parametrize("form", ["rcd", "nam"])
def test_display_name_from_either_constraint_form(
    pki: DemoPKI, provider: Provider, trust: TrustStore, enhanced: bool, form: str
) -> None:
    content, key = delegate(
        pki,
        provider.ca,
        [OneTN("12025550111")],
        permitted_nam="Zoë",
        enhanced=enhanced,
        nam_form=form,
    )
    assert validate_cert(content, key, trust).display_name == "Zoë"


def test_range_delegate_boundaries(pki: DemoPKI, provider: Provider, trust: TrustStore) -> None:
    whole, key = delegate(pki, provider.ca, [TNRange("12025550100", 100)])
    ident = validate_cert(whole, key, trust)
    assert ident.tns == (TNRange("12025550100", 100),)
    assert ident.signer_scope == "12025550100..12025550199"
    last, key = delegate(pki, provider.ca, [TNRange("12025550190", 10)])
    validate_cert(last, key, trust)
    first, key = delegate(pki, provider.ca, [OneTN("12025550100")])
    validate_cert(first, key, trust)
    # One past either end of the assignment.
    for scope in (
        [TNRange("12025550191", 10)],
        [OneTN("12025550200")],
        [OneTN("12025550099")],
        [TNRange("12025550099", 2)],
    ):
        content, key = delegate(pki, provider.ca, scope, check_scope=False)
        assert rejection(validate_cert, content, key, trust).reason == "delegate-scope"


def test_leading_zeros_and_length_mismatch(pki: DemoPKI, trust: TrustStore) -> None:
    ca = pki.issue_spc("Zero Tel", "0077", [TNRange("01256500600", 50)], ca=True)
    trust = pki.trust_store()
    ok, key = delegate(pki, ca, [OneTN("01256500649")])
    assert validate_cert(ok, key, trust).tns == ("01256500649",)
    ok, key = delegate(pki, ca, [TNRange("01256500600", 50)])
    validate_cert(ok, key, trust)
    # The same digits without the leading zero are a different (shorter) number.
    for scope in (
        [OneTN("1256500649")],
        [OneTN("012565006490")],
        [TNRange("1256500600", 50)],
        [OneTN("01256500650")],
    ):
        content, key = delegate(pki, ca, scope, check_scope=False)
        assert rejection(validate_cert, content, key, trust).reason == "delegate-scope"


def test_spc_without_assignment_cannot_cover_numbers(pki: DemoPKI, trust: TrustStore) -> None:
    ca = pki.issue_spc("Beta", "9999", ca=True)
    trust = pki.trust_store()
    content, key = delegate(pki, ca, [OneTN("14155550100")], check_scope=False)
    err = rejection(validate_cert, content, key, trust)
    assert (err.reason, err.rule) == ("spc-unassigned", "§4.3")
    # With an assignment in the trust store, the same chain is fine.
    fixed = trust.with_assignments({"9999": (TNRange("14155550100", 10),)})
    assert validate_cert(content, key, fixed).tns == ("14155550100",)


def test_two_level_delegation_intersects_scopes(
    pki: DemoPKI, provider: Provider, trust: TrustStore
) -> None:
    sub_ca = pki.issue_delegate(provider.ca, [TNRange("12025550100", 50)], ca=True)
    content, key = delegate(pki, sub_ca, [OneTN("12025550120")])
    assert len(STIRCertificateCredential.decode(content).certificates) == 4
    assert validate_cert(content, key, trust).tns == ("12025550120",)
    # Inside the provider's assignment but outside the sub-CA's range.
    content, key = delegate(pki, sub_ca, [OneTN("12025550160")], check_scope=False)
    err = rejection(validate_cert, content, key, trust)
    assert err.reason == "delegate-scope"
    assert "certificates[0]" in err.detail


def test_delegate_wider_than_issuer(pki: DemoPKI, provider: Provider, trust: TrustStore) -> None:
    sub_ca = pki.issue_delegate(provider.ca, [TNRange("12025550100", 50)], ca=True)
    content, key = delegate(pki, sub_ca, [TNRange("12025550100", 60)], check_scope=False)
    assert rejection(validate_cert, content, key, trust).reason == "delegate-scope"
    # A sub-CA wider than the provider's SPC assignment.
    wide_ca = pki.issue_delegate(
        provider.ca, [TNRange("12025550000", 1000)], ca=True, check_scope=False
    )
    content, key = delegate(pki, wide_ca, [OneTN("12025550101")])
    err = rejection(validate_cert, content, key, trust)
    assert err.reason == "delegate-scope" and "certificates[1]" in err.detail


def test_scopeless_sub_ca_does_not_reset_scope(
    pki: DemoPKI, provider: Provider, trust: TrustStore
) -> None:
    bare_ca = pki.issue_delegate(provider.ca, [], ca=True, omit_tnauthlist=True)
    content, key = delegate(pki, bare_ca, [OneTN("19995550100")], check_scope=False)
    err = rejection(validate_cert, content, key, trust)
    assert err.reason == "delegate-scope" and "scope-less" in err.detail


def test_leaf_without_tnauthlist(pki: DemoPKI, provider: Provider, trust: TrustStore) -> None:
    # chain[0] must carry one whether or not its issuers do (§4.3).
    content, key = delegate(pki, provider.ca, [], omit_tnauthlist=True)
    assert rejection(validate_cert, content, key, trust).reason == "no-tnauthlist"
    content, key = delegate(pki, pki.intermediate, [], omit_tnauthlist=True)
    assert rejection(validate_cert, content, key, trust).reason == "no-tnauthlist"


def test_carrier_level_credential(pki: DemoPKI, provider: Provider, trust: TrustStore) -> None:
    key = make_member_key()
    carrier = pki.issue_spc("Acme Telecom", "1234", public_key=key.public_key())
    content, point = cert_content(carrier), member_point(key)
    ident = validate_cert(content, point, trust, application_id=b"12025550105")
    assert ident.kind == "spc-cert"
    assert ident.assurance is Assurance.CARRIER_KEY
    assert ident.tns == () and ident.claimed_tn == "12025550105"
    assert ident.signer_scope == "1234" and ident.spcs == ("1234",)
    assert validate_cert(content, point, trust).claimed_tn is None
    err = rejection(validate_cert, content, point, trust, application_id=b"12025559999")
    assert err.reason == "tn-not-authorised"
    err = rejection(validate_cert, content, point, trust, application_id=b"+1 202 555")
    assert err.reason == "malformed"
    # An SPC with no assignment leaves the number a claim.
    unassigned = pki.issue_spc("Gamma", "4321", public_key=key.public_key())
    ident = validate_cert(cert_content(unassigned), point, trust, application_id=b"33123456789")
    assert ident.claimed_tn == "33123456789"


# --- chain and key rules ------------------------------------------------------------------


def test_wrong_trust_anchor(untrusted_pki: DemoPKI, trust: TrustStore) -> None:
    rogue_ca = untrusted_pki.issue_spc("Rogue", "1234", [TNRange("12025550100", 100)], ca=True)
    content, key = delegate(untrusted_pki, rogue_ca, [OneTN(ALICE_TN)])
    err = rejection(validate_cert, content, key, trust)
    assert (err.reason, err.rule) == ("chain", "§4.1")


def test_chain_order_and_extra_certificates(
    pki: DemoPKI,
    provider: Provider,
    trust: TrustStore,
    alice_cert: IssuedCert,
    alice_key: ec.EllipticCurvePrivateKey,
) -> None:
    chain = alice_cert.chain
    key = member_point(alice_key)
    swapped = STIRCertificateCredential((chain[0], chain[2], chain[1])).encode()
    assert rejection(validate_cert, swapped, key, trust).reason == "chain"
    extra = STIRCertificateCredential((*chain, provider.signer.chain[0])).encode()
    assert rejection(validate_cert, extra, key, trust).reason == "chain"
    with_root = STIRCertificateCredential((*chain, pki.root.chain[0])).encode()
    assert validate_cert(with_root, key, trust).tns == (ALICE_TN,)


def test_key_rules(
    provider: Provider,
    trust: TrustStore,
    alice_cert: IssuedCert,
    alice_key: ec.EllipticCurvePrivateKey,
) -> None:
    content = cert_content(alice_cert)
    other = member_point(make_member_key())
    assert rejection(validate_cert, content, other, trust).reason == "key-mismatch"
    compressed = alice_key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    err = rejection(validate_cert, content, compressed, trust)
    assert (err.reason, err.rule) == ("unsupported-key", "§1")
    point = member_point(alice_key)
    assert rejection(validate_cert, content, point[:-1], trust).reason == "unsupported-key"
    not_on_curve = point[:-1] + bytes([point[-1] ^ 1])
    assert rejection(validate_cert, content, not_on_curve, trust).reason == "unsupported-key"
    assert rejection(validate_cert, content, b"", trust).reason == "unsupported-key"
    err = rejection(validate_cert, content, point, trust, ciphersuite=0x0001)
    assert err.reason == "unsupported-key"


def test_p384_certificate_key(pki: DemoPKI, provider: Provider, trust: TrustStore) -> None:
    issued = pki.issue_delegate(provider.ca, [OneTN(ALICE_TN)], key_type="p384")
    p384_key = issued.cert.public_key()
    assert isinstance(p384_key, ec.EllipticCurvePublicKey)
    p384_point = point_of(p384_key)
    err = rejection(validate_cert, cert_content(issued), p384_point, trust)
    assert err.reason == "unsupported-key"
    assert (
        rejection(
            validate_cert, cert_content(issued), member_point(make_member_key()), trust
        ).reason
        == "unsupported-key"
    )


def test_critical_tnauthlist(pki: DemoPKI, provider: Provider, trust: TrustStore) -> None:
    content, key = delegate(pki, provider.ca, [OneTN(ALICE_TN)], critical_tnauthlist=True)
    err = rejection(validate_cert, content, key, trust)
    assert (err.reason, err.rule) == ("critical-extension", "§4.3")
    critical_ca = pki.issue_spc(
        "Crit", "5555", [TNRange("13125550100", 10)], ca=True, critical_tnauthlist=True
    )
    content, key = delegate(pki, critical_ca, [OneTN("13125550101")])
    assert rejection(validate_cert, content, key, pki.trust_store()).reason == (
        "critical-extension"
    )


def test_content_errors(trust: TrustStore, alice_cert: IssuedCert) -> None:
    content = cert_content(alice_cert)
    key = member_point(make_member_key())
    assert rejection(validate_cert, content + b"\x00", key, trust).reason == "malformed"
    assert rejection(validate_cert, content[:-1], key, trust).reason == "malformed"
    assert rejection(validate_cert, b"\x00", key, trust).reason == "malformed"
    junk = STIRCertificateCredential((b"\x30\x03\x02\x01\x00",)).encode()
    assert rejection(validate_cert, junk, key, trust).reason == "malformed"
    err = rejection(
        validate,
        CREDENTIAL_TYPE_BASIC,
        b"\x05alice",
        key,
        group_id=GROUP_ID,
        trust=trust,
        now=now(),
    )
    assert err.reason == "credential-type"


def test_tampered_leaf_signature_both_paths(
    pki: DemoPKI, provider: Provider, trust: TrustStore
) -> None:
    validator = Validator()
    good, good_key = delegate(pki, provider.ca, [OneTN("12025550130")])
    bad, bad_key = delegate(pki, provider.ca, [OneTN("12025550131")])
    chain = STIRCertificateCredential.decode(bad).certificates
    leaf = bytearray(chain[0])
    leaf[-3] ^= 0x01  # inside the signature's INTEGER s
    tampered = STIRCertificateCredential((bytes(leaf), *chain[1:])).encode()
    # Cold: full verification.
    assert rejection(validate_cert, tampered, bad_key, trust, validator=Validator()).reason == (
        "chain"
    )
    # Issuer chain already verified: the leaf goes through the issuer-anchored verifier.
    validate_cert(good, good_key, trust, validator=validator)
    assert rejection(validate_cert, tampered, bad_key, trust, validator=validator).reason == (
        "chain"
    )
    assert validate_cert(bad, bad_key, trust, validator=validator).tns == ("12025550131",)


def test_issuer_fast_path_still_checks_scope_and_time(
    old_pki: tuple[DemoPKI, IssuedCert, TrustStore],
) -> None:
    pki, ca, trust = old_pki
    provider = Provider("Acme Telecom", "1234", (), ca, ca)
    validator = Validator()
    content, key = delegate(pki, provider.ca, [OneTN("12025550140")])
    validate_cert(content, key, trust, validator=validator)
    outside, key2 = delegate(pki, provider.ca, [OneTN("12025559999")], check_scope=False)
    assert rejection(validate_cert, outside, key2, trust, validator=validator).reason == (
        "delegate-scope"
    )
    expired, key3 = delegate(
        pki,
        provider.ca,
        [OneTN("12025550141")],
        not_before=now() - timedelta(days=10),
        not_after=now() - timedelta(days=1),
    )
    assert rejection(validate_cert, expired, key3, trust, validator=validator).reason == "expired"


# --- time rules (§6) ------------------------------------------------------------------------


def test_expired_and_not_yet_valid(old_pki: tuple[DemoPKI, IssuedCert, TrustStore]) -> None:
    pki, ca, trust = old_pki
    provider = Provider("Acme Telecom", "1234", (), ca, ca)
    t = now()
    expired, key = delegate(
        pki,
        provider.ca,
        [OneTN(ALICE_TN)],
        not_before=t - timedelta(days=30),
        not_after=t - timedelta(days=1),
    )
    err = rejection(validate_cert, expired, key, trust)
    assert (err.reason, err.rule) == ("expired", "§4.1")
    stale = validate_cert(expired, key, trust, strict_time=False)
    assert stale.stale and stale.stale_reason == "expired" and stale.tns == (ALICE_TN,)
    future, key = delegate(
        pki,
        provider.ca,
        [OneTN(ALICE_TN)],
        not_before=t + timedelta(days=1),
        not_after=t + timedelta(days=30),
    )
    assert rejection(validate_cert, future, key, trust).reason == "not-yet-valid"
    assert validate_cert(future, key, trust, strict_time=False).stale_reason == "not-yet-valid"
    # Non-time rules still reject in lenient mode.
    assert (
        rejection(
            validate_cert, expired, member_point(make_member_key()), trust, strict_time=False
        ).reason
        == "key-mismatch"
    )


def test_clock_tolerance(pki: DemoPKI, provider: Provider, trust: TrustStore) -> None:
    t = now()
    content, key = delegate(
        pki,
        provider.ca,
        [OneTN(ALICE_TN)],
        not_before=t - timedelta(days=1),
        not_after=t - timedelta(seconds=100),
    )
    # A client (300 s) still accepts what a delivery service (60 s) no longer does.
    assert not validate_cert(content, key, trust, now=t).stale
    err = rejection(validate_cert, content, key, trust, now=t, clock_tolerance=DS_CLOCK_TOLERANCE)
    assert err.reason == "expired"
    later, key = delegate(
        pki,
        provider.ca,
        [OneTN(ALICE_TN)],
        not_before=t + timedelta(seconds=200),
        not_after=t + timedelta(days=1),
    )
    validate_cert(later, key, trust, now=t)
    assert (
        rejection(
            validate_cert, later, key, trust, now=t, clock_tolerance=DS_CLOCK_TOLERANCE
        ).reason
        == "not-yet-valid"
    )


def test_expired_intermediate_is_a_time_failure(
    old_pki: tuple[DemoPKI, IssuedCert, TrustStore],
) -> None:
    pki, _, trust = old_pki
    t = now()
    old_ca = pki.issue_spc(
        "Old",
        "7777",
        [TNRange("16175550100", 10)],
        ca=True,
        not_before=t - timedelta(days=30),
        not_after=t - timedelta(days=2),
    )
    content, key = delegate(
        pki,
        old_ca,
        [OneTN("16175550101")],
        not_before=t - timedelta(days=29),
        not_after=t + timedelta(days=300),
    )
    trust = pki.trust_store()
    err = rejection(validate_cert, content, key, trust)
    assert err.reason == "expired" and "certificates[1]" in err.detail
    assert validate_cert(content, key, trust, strict_time=False).stale


def test_validity_periods_that_never_overlap(
    pki: DemoPKI, provider: Provider, trust: TrustStore
) -> None:
    # Issued "before" its issuer existed: there is no instant at which the chain is valid,
    # so this is not a stale member but a broken chain.
    t = now()
    content, key = delegate(
        pki,
        provider.ca,
        [OneTN(ALICE_TN)],
        not_before=t - timedelta(days=30),
        not_after=t - timedelta(days=1),
    )
    err = rejection(validate_cert, content, key, trust, strict_time=False)
    assert err.reason == "chain" and "never valid" in err.detail


def test_naive_now_is_refused(trust: TrustStore, alice_cert: IssuedCert) -> None:
    with pytest.raises(ValueError, match="aware"):
        validate_cert(
            cert_content(alice_cert),
            b"",
            trust,
            now=now().replace(tzinfo=None),
        )


# --- properties -----------------------------------------------------------------------------


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    content=st.binary(max_size=300),
    key=st.binary(max_size=70),
    kind=st.sampled_from([0xF001, 0xF002]),
)
def test_random_bytes_only_raise_credential_rejected(
    trust: TrustStore, content: bytes, key: bytes, kind: int
) -> None:
    with pytest.raises(CredentialRejected):
        validate(kind, content, key, group_id=GROUP_ID, trust=trust, now=now())


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(offset=st.integers(min_value=-3, max_value=102))
def test_one_tn_inside_assignment_iff_in_range(
    pki: DemoPKI, provider: Provider, trust: TrustStore, offset: int
) -> None:
    tn = str(12025550100 + offset)
    content, key = delegate(pki, provider.ca, [OneTN(tn)], check_scope=False)
    if 0 <= offset < 100:
        assert validate_cert(content, key, trust).tns == (tn,)
    else:
        assert rejection(validate_cert, content, key, trust).reason == "delegate-scope"


def test_spc_entry_in_delegate_is_not_numbers(
    pki: DemoPKI, provider: Provider, trust: TrustStore
) -> None:
    # A delegate that names another provider's SPC under this provider's SPC scope.
    content, key = delegate(pki, provider.ca, [SPC("4444")], check_scope=False)
    assert rejection(validate_cert, content, key, trust).reason == "delegate-scope"


def test_validator_instance_and_module_function_agree(
    trust: TrustStore, alice_cert: IssuedCert, alice_key: ec.EllipticCurvePrivateKey
) -> None:
    content = cert_content(alice_cert)
    key = member_point(alice_key)
    a = validate(
        CREDENTIAL_TYPE_STIR_CERTIFICATE, content, key, group_id=None, trust=trust, now=now()
    )
    assert a == validate_cert(content, key, trust)


# Mutated serial numbers make cryptography warn (non-positive serials); that is expected.
@pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning")
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_credentials_only_raise_credential_rejected(
    trust: TrustStore,
    alice_cert: IssuedCert,
    alice_key: ec.EllipticCurvePrivateKey,
    data: st.DataObject,
) -> None:
    content = bytearray(cert_content(alice_cert))
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        i = data.draw(st.integers(min_value=0, max_value=len(content) - 1))
        content[i] = data.draw(st.integers(min_value=0, max_value=255))
    try:
        ident = validate_cert(bytes(content), member_point(alice_key), trust)
    except CredentialRejected:
        return
    # A mutation the validator accepts must not have changed what it certifies.
    assert ident.tns == (ALICE_TN,)


def _outcome(validator: Validator, content: bytes, key: bytes, trust: TrustStore) -> object:
    try:
        return validate_cert(content, key, trust, validator=validator, strict_time=False)
    except CredentialRejected as err:
        return err.reason


def test_known_issuer_path_agrees_with_full_verification(
    old_pki: tuple[DemoPKI, IssuedCert, TrustStore],
) -> None:
    """Every leaf gets the same verdict from a fresh validator (full chain verification)
    and from one that already verified its issuer chain (issuer-anchored verification)."""
    pki, ca, trust = old_pki
    t = now()
    sub_ca = pki.issue_delegate(ca, [TNRange("12025550100", 50)], ca=True, now=t)
    leaves: list[tuple[bytes, bytes]] = [
        delegate(pki, ca, [OneTN("12025550101")]),
        delegate(pki, ca, [TNRange("12025550110", 10)], permitted_nam="Range"),
        delegate(pki, ca, [OneTN("12025550200")], check_scope=False),
        delegate(pki, ca, [], omit_tnauthlist=True),
        delegate(pki, ca, [OneTN("12025550102")], critical_tnauthlist=True),
        delegate(
            pki,
            ca,
            [OneTN("12025550103")],
            not_before=t - timedelta(days=5),
            not_after=t - timedelta(days=1),
        ),
        delegate(
            pki,
            ca,
            [OneTN("12025550104")],
            not_before=t + timedelta(days=1),
            not_after=t + timedelta(days=5),
        ),
        delegate(pki, sub_ca, [OneTN("12025550120")]),
        delegate(pki, sub_ca, [OneTN("12025550170")], check_scope=False),
        delegate(pki, sub_ca, [TNRange("12025550100", 60)], check_scope=False),
    ]
    p384 = pki.issue_delegate(ca, [OneTN("12025550105")], key_type="p384")
    p384_key = p384.cert.public_key()
    assert isinstance(p384_key, ec.EllipticCurvePublicKey)
    leaves.append((cert_content(p384), point_of(p384_key)))
    # A key that is not the certificate's, on an otherwise good leaf.
    good_content, _ = leaves[0]
    leaves.append((good_content, member_point(make_member_key())))
    warm = Validator()
    for warm_up in (
        delegate(pki, ca, [OneTN("12025550199")]),
        delegate(pki, sub_ca, [OneTN("12025550149")]),
    ):
        validate_cert(*warm_up, trust, validator=warm)
    assert len(warm._issuers) == 2
    outcomes = [
        (_outcome(Validator(), c, k, trust), _outcome(warm, c, k, trust)) for c, k in leaves
    ]
    for full, known in outcomes:
        assert full == known
    stale = [getattr(full, "stale_reason", None) for full, _ in outcomes[5:7]]
    assert stale == ["expired", "not-yet-valid"]
    reasons = [full if isinstance(full, str) else "ok" for full, _ in outcomes]
    assert reasons == [
        "ok",
        "ok",
        "delegate-scope",
        "no-tnauthlist",
        "critical-extension",
        "ok",  # expired: stale, same in both
        "ok",  # not yet valid: stale
        "ok",
        "delegate-scope",
        "delegate-scope",
        "unsupported-key",
        "key-mismatch",
    ]


def test_chain_cache_keeps_time_rules_and_trust_store_apart(
    pki: DemoPKI,
    trust: TrustStore,
    untrusted_pki: DemoPKI,
    alice_cert: IssuedCert,
    alice_key: ec.EllipticCurvePrivateKey,
) -> None:
    validator = Validator()
    content, key = cert_content(alice_cert), member_point(alice_key)
    validate_cert(content, key, trust, validator=validator)
    assert len(validator._chains) == 1
    # The cached chain is not served past its expiry...
    later = alice_cert.cert.not_valid_after_utc + timedelta(days=1)
    err = rejection(validate_cert, content, key, trust, validator=validator, now=later)
    assert err.reason == "expired"
    # ...nor under another trust store.
    other = untrusted_pki.trust_store()
    err = rejection(validate_cert, content, key, other, validator=validator)
    assert err.reason == "chain"
    # Forgetting is possible (e.g. after the trust configuration changed).
    validator.clear()
    assert not validator._chains and not validator._issuers


def test_shared_parse_cache_keeps_no_outcome(
    pki: DemoPKI, untrusted_pki: DemoPKI, provider: Provider, trust: TrustStore
) -> None:
    # Parses are shared by every Validator in the process; failures and verification
    # outcomes are not: a refused issuer stays refused, and a chain accepted under one
    # trust store is still verified from scratch under another.
    critical_ca = pki.issue_spc(
        "Crit", "5555", [TNRange("13125550100", 10)], ca=True, critical_tnauthlist=True
    )
    content, key = delegate(pki, critical_ca, [OneTN("13125550101")])
    for _ in range(2):
        err = rejection(validate_cert, content, key, pki.trust_store())
        assert err.reason == "critical-extension"
    content, key = delegate(pki, provider.ca, [OneTN(ALICE_TN)])
    assert validate_cert(content, key, trust).tns == (ALICE_TN,)
    err = rejection(validate_cert, content, key, untrusted_pki.trust_store())
    assert (err.reason, err.rule) == ("chain", "§4.1")

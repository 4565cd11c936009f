"""The demo STI PKI and the trust store it writes (ATIS-1000080 / RFC 9060 shapes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, VerificationError

from shared.profile import OID_JWT_CLAIM_CONSTRAINTS, OID_TNAUTHLIST
from shared.stir.claim_constraints import (
    EnhancedJWTClaimConstraints,
    claim_constraints_of,
    display_name_of,
)
from shared.stir.errors import MalformedError
from shared.stir.pki import (
    SHAKEN_POLICY_OID,
    DemoPKI,
    IssuedCert,
    ScopeError,
    point_of,
    public_key_from_point,
)
from shared.stir.tnauthlist import SPC, Coverage, OneTN, TNRange
from shared.stir.trust import TrustStore, load_trust_store, parse_assignments

from .conftest import ALICE_TN, PROVIDER_RANGE, Provider, make_member_key, member_point


def _verify(
    ic: IssuedCert, trust: TrustStore, when: datetime | None = None
) -> list[x509.Certificate]:
    """Verify with cryptography's verifier as PROFILE.md §4.1 prescribes (webpki CA rules,
    permit-all end entity, since SHAKEN end-entity certificates carry no subjectAltName)."""
    verifier = (
        PolicyBuilder()
        .store(trust.store)
        .time(when or datetime.now(UTC))
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ExtensionPolicy.permit_all()
        )
        .build_client_verifier()
    )
    chain = ic.credential().x509_chain()
    return verifier.verify(chain[0], list(chain[1:])).chain


def test_init_writes_the_layout(pki: DemoPKI) -> None:
    base = pki.directory
    for path in ("root/cert.pem", "root/key.pem", "intermediate/cert.pem", "trust-anchors.pem"):
        assert (base / path).is_file(), path
    assert (base / "root" / "key.pem").stat().st_mode & 0o077 == 0
    assert json.loads((base / "assignments.json").read_text()) == {
        "version": 1,
        "assignments": {},
    }
    with pytest.raises(FileExistsError):
        DemoPKI.init(base)


def test_spc_end_entity_has_the_atis_shape(provider: Provider, trust: TrustStore) -> None:
    cert = provider.signer.cert
    exts = cert.extensions
    bc = exts.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = exts.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and not ku.value.key_cert_sign
    policies = exts.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [SHAKEN_POLICY_OID]
    tnal_ext = exts.get_extension_for_oid(OID_TNAUTHLIST)
    assert not tnal_ext.critical
    assert provider.signer.tnauthlist is not None
    assert provider.signer.tnauthlist.entries == (SPC("1234"),)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert len(provider.signer.chain) == 2  # leaf, intermediate (root excluded)
    assert [c.subject for c in _verify(provider.signer, trust)][-1] == (trust.anchors[0].subject)


def test_provider_ca_and_two_level_delegation_verify(
    pki: DemoPKI, provider: Provider, trust: TrustStore
) -> None:
    assert provider.ca.is_ca
    sub = pki.issue_delegate(provider.ca, [TNRange("12025550100", 50)], ca=True)
    leaf = pki.issue_delegate(sub, [TNRange("12025550110", 10)])
    assert len(leaf.chain) == 4
    assert len(_verify(leaf, trust)) == 5
    assert leaf.tnauthlist is not None
    assert leaf.tnauthlist.entries == (TNRange("12025550110", 10),)


def test_delegate_over_a_member_key(
    pki: DemoPKI, provider: Provider, alice_cert: IssuedCert, trust: TrustStore
) -> None:
    assert alice_cert.key is None and alice_cert.key_path is None
    assert len(alice_cert.public_point()) == 65
    assert alice_cert.public_point()[0] == 0x04
    assert alice_cert.tnauthlist is not None
    assert alice_cert.tnauthlist.entries == (OneTN(ALICE_TN),)
    assert display_name_of(claim_constraints_of(alice_cert.cert)) == "Alice"
    assert not alice_cert.cert.extensions.get_extension_for_oid(OID_JWT_CLAIM_CONSTRAINTS).critical
    _verify(alice_cert, trust)


def test_member_point_helpers() -> None:
    key = make_member_key()
    point = member_point(key)
    assert len(point) == 65
    assert point_of(public_key_from_point(point)) == point
    with pytest.raises(ValueError):
        public_key_from_point(point[:33])


def test_enhanced_constraints_option(pki: DemoPKI, provider: Provider) -> None:
    ic = pki.issue_delegate(
        provider.ca, [OneTN("12025550105")], permitted_nam="Eve", enhanced=True, nam_form="nam"
    )
    c = claim_constraints_of(ic.cert)
    assert isinstance(c, EnhancedJWTClaimConstraints)
    assert dict(c.permitted_values) == {"nam": ("Eve",)}


def test_scope_is_checked_at_issue(pki: DemoPKI, provider: Provider) -> None:
    with pytest.raises(ScopeError, match="not-covered"):
        pki.issue_delegate(provider.ca, [OneTN("12025559999")])
    sub = pki.issue_delegate(provider.ca, [TNRange("12025550100", 10)], ca=True)
    with pytest.raises(ScopeError):
        pki.issue_delegate(sub, [TNRange("12025550100", 11)])
    # Deliberately wider, for validator tests: issued, and still chains (X.509 is blind to it).
    wide = pki.issue_delegate(sub, [TNRange("12025550100", 11)], check_scope=False)
    assert wide.tnauthlist is not None
    assert wide.tnauthlist.entries == (TNRange("12025550100", 11),)


def test_spc_without_assignment_cannot_delegate_by_default(pki: DemoPKI) -> None:
    ca = pki.issue_spc("Unassigned Co", "7777", ca=True)
    with pytest.raises(ScopeError, match="spc-unassigned"):
        pki.issue_delegate(ca, [OneTN("12025550101")])
    ic = pki.issue_delegate(ca, [OneTN("12025550101")], check_scope=False)
    assert pki.trust_store().coverage(OneTN("12025550101"), [SPC("7777")]) is (
        Coverage.SPC_UNASSIGNED
    )
    assert ic.tnauthlist is not None


def test_critical_tnauthlist_is_refused_by_the_x509_verifier(
    pki: DemoPKI, provider: Provider, trust: TrustStore
) -> None:
    ic = pki.issue_delegate(provider.ca, [OneTN("12025550102")], critical_tnauthlist=True)
    assert ic.cert.extensions.get_extension_for_oid(OID_TNAUTHLIST).critical
    with pytest.raises(VerificationError, match="critical"):
        _verify(ic, trust)


def test_validity_options(pki: DemoPKI, provider: Provider, trust: TrustStore) -> None:
    now = datetime.now(UTC)
    expired = pki.issue_delegate(
        provider.ca,
        [OneTN("12025550103")],
        not_before=now - timedelta(days=30),
        not_after=now - timedelta(days=1),
    )
    future = pki.issue_delegate(
        provider.ca,
        [OneTN("12025550104")],
        not_before=now + timedelta(days=1),
        not_after=now + timedelta(days=30),
    )
    for ic in (expired, future):
        with pytest.raises(VerificationError, match="not valid at validation time"):
            _verify(ic, trust, now)
    assert expired.cert.not_valid_after_utc < now < future.cert.not_valid_before_utc


def test_pki_made_in_the_past(tmp_path: Path) -> None:
    then = datetime.now(UTC) - timedelta(days=400)
    old = DemoPKI.init(tmp_path / "old", now=then)
    ee = old.issue_spc("Old Co", "4321", now=then)
    trust = old.trust_store()
    _verify(ee, trust, then + timedelta(days=1))
    with pytest.raises(VerificationError, match="not valid at validation time"):
        _verify(ee, trust)  # a year-long end-entity certificate has expired since


def test_p384_key_option(pki: DemoPKI, provider: Provider) -> None:
    ic = pki.issue_delegate(provider.ca, [OneTN("12025550106")], key_type="p384")
    key = ic.cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert key.curve.name == "secp384r1"


def test_omitted_tnauthlist_option(pki: DemoPKI, provider: Provider, trust: TrustStore) -> None:
    ic = pki.issue_delegate(provider.ca, [], ca=True, omit_tnauthlist=True)
    assert ic.tnauthlist is None
    _verify(ic, trust)


def test_untrusted_root(provider: Provider, untrusted_pki: DemoPKI) -> None:
    rogue = untrusted_pki.issue_spc("Rogue", "1234")
    with pytest.raises(VerificationError):
        _verify(rogue, load_trust_store(provider.signer.directory.parents[1]))


def test_reopen_and_get(pki: DemoPKI, provider: Provider, alice_cert: IssuedCert) -> None:
    again = DemoPKI.open(pki.directory)
    assert again.root.cert == pki.root.cert
    assert again.intermediate.key is not None
    assert set(again.names()) == {provider.signer.name, provider.ca.name, alice_cert.name}
    ca = again.get(provider.ca.name)
    assert ca.key is not None and ca.chain == provider.ca.chain
    leaf = again.issue_delegate(ca, [OneTN("12025550107")])
    assert leaf.chain[1:] == provider.ca.chain
    assert again.get(alice_cert.name).key is None
    with pytest.raises(KeyError):
        again.get("nope")


def test_names_are_unique_and_checked(pki: DemoPKI) -> None:
    a = pki.issue_spc("Same", "1111")
    b = pki.issue_spc("Same", "1111")
    assert a.name != b.name
    with pytest.raises(FileExistsError):
        pki.issue_spc("X", "2222", name=a.name)
    with pytest.raises(ValueError):
        pki.issue_spc("X", "2222", name="../escape")


# --- trust store -------------------------------------------------------------------------


def test_trust_store_reads_assignments(pki: DemoPKI, provider: Provider, trust: TrustStore) -> None:
    assert trust.anchors == (pki.root.cert,)
    assert trust.spc_assignments == {"1234": (PROVIDER_RANGE,)}
    assert trust.tn_covered("12025550199", [SPC("1234")])
    assert not trust.tn_covered("12025550200", [SPC("1234")])
    pki.assign("5555", [OneTN("4420794609580"), TNRange("00100", 5)])
    again = pki.trust_store()
    assert again.spc_assignments["5555"] == (OneTN("4420794609580"), TNRange("00100", 5))
    pki.unassign("5555")
    assert "5555" not in pki.trust_store().spc_assignments
    merged = trust.with_assignments({"9": [OneTN("1")]})
    assert merged.spc_assignments["9"] == (OneTN("1"),)
    assert merged.spc_assignments["1234"] == (PROVIDER_RANGE,)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("not json", "not JSON"),
        ("[]", "version"),
        ('{"version": 2, "assignments": {}}', "version"),
        ('{"version": 1}', "assignments"),
        ('{"version": 1, "assignments": {"1234": {}}}', "must be a list"),
        ('{"version": 1, "assignments": {"1234": [{"tn": 5}]}}', "expected"),
        ('{"version": 1, "assignments": {"1234": [{"start": "1", "count": "2"}]}}', "expected"),
        ('{"version": 1, "assignments": {"1234": [{"start": "12", "count": 1}]}}', "below 2"),
        ('{"version": 1, "assignments": {"": []}}', "service provider code"),
    ],
)
def test_bad_assignment_files(text: str, fragment: str) -> None:
    with pytest.raises(MalformedError, match=fragment):
        parse_assignments(text)


def test_export_trust_has_no_keys(pki: DemoPKI, provider: Provider, tmp_path: Path) -> None:
    dest = pki.export_trust(tmp_path / "trust-only")
    assert sorted(p.name for p in dest.iterdir()) == ["assignments.json", "trust-anchors.pem"]
    exported = load_trust_store(dest)
    assert exported.anchors == pki.trust_store().anchors
    assert exported.spc_assignments == {"1234": (PROVIDER_RANGE,)}


def test_trust_store_needs_anchors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_trust_store(tmp_path)
    (tmp_path / "trust-anchors.pem").write_text("nothing here")
    with pytest.raises(MalformedError):
        load_trust_store(tmp_path)
    with pytest.raises(ValueError):
        TrustStore(())

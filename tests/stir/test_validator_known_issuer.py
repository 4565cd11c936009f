"""A validator that already verified a leaf's issuer chain refuses, with the same reason,
every leaf a fresh validator (full chain verification) refuses.

Once a provider's issuer chain is verified, a new member's certificate is checked under
it with the issuer as the verifier's only anchor (validator.py). Each case below is a
leaf broken in one way the X.509 rules forbid, re-signed by the issuer so that only
that defect differs; both validators must give the same verdict. Leaves are re-encoded
with pyasn1 (an independent DER codec) so that encodings cryptography's builder never
makes (v1, GeneralizedTime before 2050, algorithm parameters, inner/outer algorithm
mismatch) can be tested.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1.type import univ
from pyasn1_alt_modules import rfc5280

from shared.stir.credential_codec import STIRCertificateCredential
from shared.stir.pki import DemoPKI, IssuedCert
from shared.stir.tnauthlist import OneTN, TNRange
from shared.stir.trust import TrustStore
from shared.stir.validator import Validator

from .conftest import Provider, make_member_key, member_point
from .fixtures_validator import now, rejection, validate_cert

ECDSA_SHA1 = "300906072a8648ce3d0401"
ECDSA_SHA256 = "300a06082a8648ce3d040302"
ECDSA_SHA256_NULL = "300c06082a8648ce3d0403020500"
ECDSA_SHA384 = "300a06082a8648ce3d040303"
ECDSA_SHA512 = "300a06082a8648ce3d040304"
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    ECDSA_SHA1: hashes.SHA1,
    ECDSA_SHA256: hashes.SHA256,
    ECDSA_SHA256_NULL: hashes.SHA256,
    ECDSA_SHA384: hashes.SHA384,
    ECDSA_SHA512: hashes.SHA512,
}
Mutation = Callable[[Any], None]


def _algorithm(hex_der: str) -> Any:
    return der_decoder.decode(bytes.fromhex(hex_der), asn1Spec=rfc5280.AlgorithmIdentifier())[0]


def craft(
    template: bytes,
    key: ec.EllipticCurvePrivateKey,
    mutate: Mutation | None = None,
    *,
    inner: str = ECDSA_SHA256,
    outer: str | None = None,
) -> bytes:
    """``template`` with its TBS changed by ``mutate``, the TBS signature algorithm
    ``inner``, signed by ``key`` with the hash of ``outer`` (default: ``inner``)."""
    cert = der_decoder.decode(template, asn1Spec=rfc5280.Certificate())[0]
    tbs = cert["tbsCertificate"]
    tbs["signature"] = _algorithm(inner)
    if mutate is not None:
        mutate(tbs)
    outer = outer or inner
    signature = key.sign(der_encoder.encode(tbs), ec.ECDSA(HASHES[outer]()))
    out = rfc5280.Certificate()
    out["tbsCertificate"] = tbs
    out["signatureAlgorithm"] = _algorithm(outer)
    out["signature"] = univ.BitString.fromOctetString(signature)
    return bytes(der_encoder.encode(out))


def _extension(oid: str, value: bytes, critical: bool) -> Any:
    ext = rfc5280.Extension()
    ext["extnID"] = univ.ObjectIdentifier(oid)
    ext["critical"] = critical
    ext["extnValue"] = value
    return ext


def add_extension(oid: str, value: bytes, critical: bool) -> Mutation:
    def mutate(tbs: Any) -> None:
        tbs["extensions"].append(_extension(oid, value, critical))

    return mutate


def set_field(name: str, value: Any) -> Mutation:
    def mutate(tbs: Any) -> None:
        tbs[name] = value

    return mutate


def general_time(which: str, text: str) -> Mutation:
    def mutate(tbs: Any) -> None:
        tbs["validity"][which]["generalTime"] = text

    return mutate


def issuer_is_subject(tbs: Any) -> None:
    tbs["issuer"] = tbs["subject"]


def drop_extensions(tbs: Any) -> None:
    tbs.setComponentByName("extensions", univ.noValue)


Setting = tuple[IssuedCert, bytes, ec.EllipticCurvePrivateKey, bytes, TrustStore, Validator]


@pytest.fixture
def setting(pki: DemoPKI, provider: Provider, trust: TrustStore) -> Setting:
    """(the provider CA, a delegate leaf it issued over a member key, the CA's key, the
    member's point, the trust store, a validator that has verified the CA's chain)."""
    member = make_member_key()
    point = member_point(member)
    leaf = pki.issue_delegate(provider.ca, [OneTN("12025550150")], member.public_key())
    assert isinstance(provider.ca.key, ec.EllipticCurvePrivateKey)
    warm = Validator()
    warm_up = pki.issue_delegate(provider.ca, [OneTN("12025550151")], member.public_key())
    validate_cert(_content(warm_up.der, provider.ca), point, trust, validator=warm)
    assert len(warm._issuers) == 1
    return provider.ca, leaf.der, provider.ca.key, point, trust, warm


# (case, mutation, TBS signature algorithm, outer algorithm, verdict of both validators)
CASES: list[tuple[str, Mutation | None, str, str | None, str]] = [
    ("as issued", None, ECDSA_SHA256, None, "ok"),
    ("ECDSA SHA-384", None, ECDSA_SHA384, None, "ok"),
    ("ECDSA SHA-512", None, ECDSA_SHA512, None, "ok"),
    ("ECDSA SHA-1", None, ECDSA_SHA1, None, "chain"),
    ("NULL parameters", None, ECDSA_SHA256_NULL, None, "chain"),
    ("inner and outer algorithms differ", None, ECDSA_SHA384, ECDSA_SHA256, "chain"),
    ("X.509 v1", set_field("version", 0), ECDSA_SHA256, None, "chain"),
    ("serial 0", set_field("serialNumber", 0), ECDSA_SHA256, None, "ok"),
    ("negative serial", set_field("serialNumber", -5), ECDSA_SHA256, None, "chain"),
    ("serial of 21 octets", set_field("serialNumber", 2**160), ECDSA_SHA256, None, "ok"),
    ("serial of 22 octets", set_field("serialNumber", 2**167), ECDSA_SHA256, None, "chain"),
    ("issuer name is not the CA's", issuer_is_subject, ECDSA_SHA256, None, "chain"),
    (
        "GeneralizedTime before 2050",
        general_time("notBefore", "20200101000000Z"),
        ECDSA_SHA256,
        None,
        "chain",
    ),
    (
        "GeneralizedTime from 2050",
        general_time("notAfter", "20510101000000Z"),
        ECDSA_SHA256,
        None,
        "ok",
    ),
    (
        "unknown critical extension",
        add_extension("1.3.6.1.4.1.99999.1", b"\x05\x00", True),
        ECDSA_SHA256,
        None,
        "chain",
    ),
    (
        "unknown non-critical extension",
        add_extension("1.3.6.1.4.1.99999.1", b"\x05\x00", False),
        ECDSA_SHA256,
        None,
        "ok",
    ),
    (
        "critical EKU (accounted for)",
        add_extension("2.5.29.37", bytes.fromhex("300a06082b06010505070302"), True),
        ECDSA_SHA256,
        None,
        "ok",
    ),
    (
        "subjectAltName",
        add_extension("2.5.29.17", bytes.fromhex("300d820b6578616d706c652e636f6d"), False),
        ECDSA_SHA256,
        None,
        "ok",
    ),
    (
        "nameConstraints on the leaf",
        add_extension("2.5.29.30", bytes.fromhex("3011a00f300d820b6578616d706c652e636f6d"), True),
        ECDSA_SHA256,
        None,
        "ok",
    ),
    ("no extensions", drop_extensions, ECDSA_SHA256, None, "no-tnauthlist"),
]


@pytest.mark.parametrize(
    ("mutate", "inner", "outer", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_defective_leaf_same_verdict_cold_and_under_a_known_issuer(
    setting: Setting,
    mutate: Mutation | None,
    inner: str,
    outer: str | None,
    expected: str,
) -> None:
    ca, template, key, point, trust, warm = setting
    content = _content(craft(template, key, mutate, inner=inner, outer=outer), ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = _outcome(Validator(), content, point, trust)
        known = _outcome(warm, content, point, trust)
    assert full == known
    assert (full if isinstance(full, str) else "ok") == expected


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_corrupted_leaves_same_verdict_cold_and_under_a_known_issuer(
    setting: Setting, data: st.DataObject
) -> None:
    ca, template, _, point, trust, warm = setting
    der = bytearray(template)
    for _ in range(data.draw(st.integers(1, 3))):
        # Positions drawn independently of the length (serials make lengths differ).
        der[data.draw(st.integers(0, 4095)) % len(der)] = data.draw(st.integers(0, 255))
    content = _content(bytes(der), ca)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _outcome(Validator(), content, point, trust) == _outcome(warm, content, point, trust)


# --- the validator: a known issuer refuses what a fresh validator refuses -----------------


def _content(leaf: bytes, ca: IssuedCert) -> bytes:
    return STIRCertificateCredential((leaf, *ca.chain)).encode()


def _outcome(validator: Validator, content: bytes, key: bytes, trust: TrustStore) -> Any:
    try:
        return validate_cert(content, key, trust, validator=validator)
    except Exception as exc:  # compared below, whatever it is
        return getattr(exc, "reason", repr(exc))


@pytest.fixture
def old_ca(tmp_path: Path) -> tuple[DemoPKI, IssuedCert, TrustStore]:
    """A PKI and provider CA made 60 days ago, so past validity periods fit inside them."""
    then = now() - timedelta(days=60)
    pki = DemoPKI.init(tmp_path / "old-pki", now=then)
    ca = pki.issue_spc("Acme Telecom", "1234", [TNRange("12025550100", 100)], ca=True, now=then)
    return pki, ca, pki.trust_store()


def test_known_issuer_refuses_what_full_verification_refuses(
    old_ca: tuple[DemoPKI, IssuedCert, TrustStore],
) -> None:
    pki, ca, trust = old_ca
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)
    t = now()
    member = make_member_key()
    point = member_point(member)

    def leaf(tn: str = "12025550160", **kw: Any) -> bytes:
        return pki.issue_delegate(ca, [OneTN(tn)], member.public_key(), **kw).der

    def window(start: datetime, end: datetime) -> Mutation:
        def mutate(tbs: Any) -> None:
            tbs["validity"]["notBefore"]["utcTime"] = start.strftime("%y%m%d%H%M%SZ")
            tbs["validity"]["notAfter"]["utcTime"] = end.strftime("%y%m%d%H%M%SZ")

        return mutate

    cases = {
        "good": leaf(),
        "wrong issuer key": craft(leaf(), make_member_key()),
        "expired leaf": leaf(not_before=t - timedelta(days=9), not_after=t - timedelta(days=1)),
        "leaf not yet valid": leaf(not_before=t + timedelta(days=1), not_after=t + timedelta(9)),
        "expired (re-encoded)": craft(
            leaf(), ca.key, window(t - timedelta(days=2), t - timedelta(hours=1))
        ),
        "unknown critical extension": craft(
            leaf(), ca.key, add_extension("1.3.6.1.4.1.99999.1", b"\x05\x00", True)
        ),
        "TN outside the issuer's TNAuthList": leaf("12025559999", check_scope=False),
        "ECDSA SHA-1": craft(leaf(), ca.key, inner=ECDSA_SHA1),
        "NULL parameters": craft(leaf(), ca.key, inner=ECDSA_SHA256_NULL),
        "issuer name": craft(leaf(), ca.key, issuer_is_subject),
        "GeneralizedTime before 2050": craft(
            leaf(), ca.key, general_time("notBefore", (t - timedelta(1)).strftime("%Y%m%d%H%M%SZ"))
        ),
        "critical TNAuthList": leaf(critical_tnauthlist=True),
    }
    expected = {
        "good": "ok",
        "wrong issuer key": "chain",
        "expired leaf": "expired",
        "leaf not yet valid": "not-yet-valid",
        "expired (re-encoded)": "expired",
        "unknown critical extension": "chain",
        "TN outside the issuer's TNAuthList": "delegate-scope",
        "ECDSA SHA-1": "chain",
        "NULL parameters": "chain",
        "issuer name": "chain",
        "GeneralizedTime before 2050": "chain",
        "critical TNAuthList": "critical-extension",
    }
    warm = Validator()
    warm_up = leaf("12025550161")
    validate_cert(_content(warm_up, ca), point, trust, validator=warm)
    assert len(warm._issuers) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, der in cases.items():
            content = _content(der, ca)
            full = _outcome(Validator(), content, point, trust)
            known = _outcome(warm, content, point, trust)
            assert full == known, name
            assert (full if isinstance(full, str) else "ok") == expected[name], name


def test_time_only_failures_are_the_same_on_both_paths(
    old_ca: tuple[DemoPKI, IssuedCert, TrustStore],
) -> None:
    """strict_time=False (members already in a group): the same stale verdicts."""
    pki, ca, trust = old_ca
    provider = Provider("Acme Telecom", "1234", (), ca, ca)
    t = now()
    member = make_member_key()
    warm = Validator()
    first = pki.issue_delegate(provider.ca, [OneTN("12025550171")], member.public_key())
    validate_cert(_content(first.der, provider.ca), member_point(member), trust, validator=warm)
    expired = pki.issue_delegate(
        provider.ca,
        [OneTN("12025550172")],
        member.public_key(),
        not_before=t - timedelta(days=3),
        not_after=t - timedelta(days=1),
    )
    content = _content(expired.der, provider.ca)
    for validator in (Validator(), warm):
        ident = validate_cert(
            content, member_point(member), trust, validator=validator, strict_time=False
        )
        assert (ident.stale, ident.stale_reason) == (True, "expired")
        err = rejection(validate_cert, content, member_point(member), trust, validator=validator)
        assert err.reason == "expired"
    assert datetime.now(UTC) > expired.cert.not_valid_after_utc


def test_member_key_encodings_same_verdict_cold_and_under_a_known_issuer(
    pki: DemoPKI, provider: Provider, trust: TrustStore
) -> None:
    """The certificate's key in each SEC1 encoding of the member's point, and a point not
    on the curve: compared as decoded points (PROFILE.md §1), the same on both paths."""
    ca = provider.ca
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)
    member = make_member_key()
    point = member_point(member)
    x, y = point[1:33], point[33:]
    compressed = bytes([2 + (y[-1] & 1)]) + x
    hybrid = bytes([6 + (y[-1] & 1)]) + x + y
    off_curve = b"\x04" + x + bytes(31) + b"\x01"

    def with_point(encoded: bytes) -> Mutation:
        def mutate(tbs: Any) -> None:
            tbs["subjectPublicKeyInfo"]["subjectPublicKey"] = univ.BitString.fromOctetString(
                encoded
            )

        return mutate

    template = pki.issue_delegate(ca, [OneTN("12025550180")], member.public_key()).der
    warm = Validator()
    warm_up = pki.issue_delegate(ca, [OneTN("12025550181")], member.public_key()).der
    validate_cert(_content(warm_up, ca), point, trust, validator=warm)
    outcomes = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, encoded in {
            "uncompressed": point,
            "compressed": compressed,
            "hybrid": hybrid,
            "not on the curve": off_curve,
        }.items():
            content = _content(craft(template, ca.key, with_point(encoded)), ca)
            full = _outcome(Validator(), content, point, trust)
            known = _outcome(warm, content, point, trust)
            assert full == known, name
            outcomes[name] = full if isinstance(full, str) else "ok"
    assert outcomes == {
        "uncompressed": "ok",
        "compressed": "ok",
        "hybrid": "ok",
        "not on the curve": "unsupported-key",
    }

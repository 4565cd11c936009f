"""Every file of ../shared/vectors/stir gets the verdict its README states.

Parse values are compared with what the README lists; rejections with the exact reason
code. Certificates from public peers have no trust anchor here, so they are judged by the
validator with their own top certificate as anchor (every rule but "chains to an STI
root"); the signalwire pair is judged against its own CA as a real trust anchor.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.profile import CREDENTIAL_TYPE_STIR_CERTIFICATE
from shared.stir.claim_constraints import (
    EnhancedJWTClaimConstraints,
    JWTClaimConstraints,
    claim_constraints_of,
)
from shared.stir.credential_codec import (
    STIRCertificateCredential,
    STIRPASSporTCredential,
    encode_opaque,
)
from shared.stir.errors import CredentialRejected
from shared.stir.passport import verify_passport_signature
from shared.stir.pki import point_of
from shared.stir.tnauthlist import SPC, OneTN, TNRange, decode_tnauthlist, tnauthlist_of
from shared.stir.trust import TrustStore
from shared.stir.validator import Validator

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "stir"
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def load_cert(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((VECTORS / name).read_bytes())


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def judge(
    chain: list[x509.Certificate], anchor: x509.Certificate | None = None, *, at: datetime = NOW
) -> CredentialRejected | None:
    """Validate chain[0] as a 0xF001 credential over its own key."""
    key = chain[0].public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    content = STIRCertificateCredential(tuple(der(c) for c in chain)).encode()
    trust = TrustStore((anchor or chain[-1],))
    try:
        Validator().validate(
            CREDENTIAL_TYPE_STIR_CERTIFICATE,
            content,
            point_of(key),
            group_id=None,
            trust=trust,
            now=at,
        )
    except CredentialRejected as err:
        return err
    return None


def test_every_vector_file_is_covered() -> None:
    covered = {
        "bogus_tnal.b64",
        "jwtcc.b64",
        "fake_spc_cert.pem",
        "ejwtcc_cert.pem",
        "zlint_shakenCert.pem",
        "zlint_shakenTNAuthWithoutSPC.pem",
        "zlint_shakenTNAuthMultiple.pem",
        "martini_acme_spc1234.pem",
        "martini_telonium_633K_printablestring.pem",
        "martini_mypbx_truncated.pem",
        "signalwire_ca.pem",
        "signalwire_sp.pem",
        "signalwire_sp.priv",
        "signalwire_sp.pub",
        "signalwire_passport.txt",
        "draft08_appA1_sec1_priv.pem",
        "rfc8225_appA2_pub.pem",
        "rfc8225_sec7_1_token.jws",
    }
    assert {p.name for p in VECTORS.iterdir()} == covered


def test_bogus_tnal() -> None:
    tnal = decode_tnauthlist(base64.b64decode((VECTORS / "bogus_tnal.b64").read_text()))
    assert tnal.entries == (SPC("bogus"), TNRange("5715551212", 788), OneTN("7035551212"))


def test_jwtcc() -> None:
    jwtcc = JWTClaimConstraints.decode(base64.b64decode((VECTORS / "jwtcc.b64").read_text()))
    assert jwtcc.must_include == ("foo",)
    assert dict(jwtcc.permitted_values) == {
        "foo": ("foo1", "foo2", "foo3"),
        "bar": ("bar1", "bar2"),
    }


def test_fake_spc_cert_is_p384_and_refused() -> None:
    cert = load_cert("fake_spc_cert.pem")
    assert tnauthlist_of(cert) is not None
    assert tnauthlist_of(cert).entries == (SPC("fake"),)  # type: ignore[union-attr]
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    content = STIRCertificateCredential((der(cert),)).encode()
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    with pytest.raises(CredentialRejected) as info:
        Validator().validate(
            CREDENTIAL_TYPE_STIR_CERTIFICATE,
            content,
            point_of(key),
            group_id=None,
            trust=TrustStore((cert,)),
            now=NOW,
        )
    assert (info.value.reason, info.value.rule) == ("unsupported-key", "§1")
    assert "P-384" in info.value.detail


def test_ejwtcc_cert() -> None:
    cert = load_cert("ejwtcc_cert.pem")
    assert tnauthlist_of(cert).entries == (SPC("1234"),)  # type: ignore[union-attr]
    cc = claim_constraints_of(cert)
    assert isinstance(cc, EnhancedJWTClaimConstraints)
    assert cc.must_include == ("confidence",)
    assert dict(cc.permitted_values) == {"confidence": ("high", "medium")}
    assert cc.must_exclude == ("priority",)
    # Structurally fine; as of now it has expired (a time failure, §4.1).
    err = judge([cert])
    assert err is not None and err.reason == "expired"


@pytest.mark.parametrize(
    ("name", "entries"),
    [
        ("zlint_shakenCert.pem", (SPC("6628"),)),
        ("zlint_shakenTNAuthWithoutSPC.pem", (OneTN("1234"),)),
        ("zlint_shakenTNAuthMultiple.pem", (SPC("6628"), SPC("6628"))),
        ("martini_acme_spc1234.pem", (SPC("1234"),)),
    ],
)
def test_real_shaken_certificates_parse(name: str, entries: tuple[object, ...]) -> None:
    cert = load_cert(name)
    assert tnauthlist_of(cert).entries == entries  # type: ignore[union-attr]
    # All have expired by now: rejected on time, and stale (not refused) for a member
    # already in a group if nothing else is wrong.
    err = judge([cert])
    assert err is not None and err.reason == "expired"


def test_zlint_shaken_cert_expired_in_2022() -> None:
    cert = load_cert("zlint_shakenCert.pem")
    assert cert.not_valid_after_utc.year == 2022
    # Inside its validity period every rule but the trust anchor holds.
    assert judge([cert], at=cert.not_valid_before_utc) is None


@pytest.mark.parametrize(
    "name", ["martini_telonium_633K_printablestring.pem", "martini_mypbx_truncated.pem"]
)
def test_malformed_real_certificates_are_rejected_with_a_reason(name: str) -> None:
    cert = load_cert(name)
    err = judge([cert], at=cert.not_valid_before_utc)
    assert err is not None
    assert (err.reason, err.rule) == ("malformed", "§3")
    assert "TNAuthList" in err.detail


def test_signalwire_chain_verifies_but_url_tnauthlist_is_malformed() -> None:
    ca, sp = load_cert("signalwire_ca.pem"), load_cert("signalwire_sp.pem")
    sp.verify_directly_issued_by(ca)  # sp.pem chains to ca.pem
    priv = serialization.load_pem_private_key((VECTORS / "signalwire_sp.priv").read_bytes(), None)
    pub = serialization.load_pem_public_key((VECTORS / "signalwire_sp.pub").read_bytes())
    assert isinstance(priv, ec.EllipticCurvePrivateKey)
    assert priv.public_key() == pub == sp.public_key()
    err = judge([sp], anchor=ca)
    assert err is not None and (err.reason, err.rule) == ("malformed", "§3")
    # The CA itself is no STIR end entity: no TNAuthList.
    err = judge([ca])
    assert err is not None and err.reason == "no-tnauthlist"


def test_signalwire_passports() -> None:
    pub = serialization.load_pem_public_key((VECTORS / "signalwire_sp.pub").read_bytes())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    lines = (VECTORS / "signalwire_passport.txt").read_text().splitlines()
    tokens = [line.split(";")[0] for line in lines if line.startswith("eyJ")]
    assert len(tokens) == 2
    for token in tokens:
        with pytest.raises(CredentialRejected) as info:
            verify_passport_signature(token, pub)  # the signature verifies first
        assert info.value.reason == "claims"


def test_rfc8225_token_and_draft08_keys() -> None:
    priv = serialization.load_pem_private_key(
        (VECTORS / "draft08_appA1_sec1_priv.pem").read_bytes(), None
    )
    pub = serialization.load_pem_public_key((VECTORS / "rfc8225_appA2_pub.pem").read_bytes())
    assert isinstance(priv, ec.EllipticCurvePrivateKey) and isinstance(
        pub, ec.EllipticCurvePublicKey
    )
    assert priv.public_key() == pub
    with pytest.raises(CredentialRejected) as info:
        verify_passport_signature((VECTORS / "rfc8225_sec7_1_token.jws").read_text(), pub)
    assert info.value.reason == "iat"


# The hex vectors of docs/profile.md §2 (kept here so the page cannot drift from the codec).
DOC_VECTORS = [
    (
        STIRCertificateCredential((bytes.fromhex("3003020101"), bytes.fromhex("3003020102"))),
        "0c053003020101053003020102",
        "f0010d0c053003020101053003020102",
    ),
    (
        STIRPASSporTCredential((bytes.fromhex("3003020101"),), b"a.b.c"),
        "0605300302010105612e622e63",
        "f0020d0605300302010105612e622e63",
    ),
]


@pytest.mark.parametrize(("value", "content", "credential"), DOC_VECTORS)
def test_profile_doc_hex_vectors(
    value: STIRCertificateCredential | STIRPASSporTCredential, content: str, credential: str
) -> None:
    assert value.encode().hex() == content
    assert type(value).decode(bytes.fromhex(content)) == value
    kind = f"{value.credential_type:04x}"
    assert credential == kind + encode_opaque(bytes.fromhex(content)).hex()
    doc = (Path(__file__).resolve().parents[2] / "docs" / "profile.md").read_text()
    assert content in doc and credential in doc


def test_profile_doc_two_byte_varint_vector() -> None:
    encoded = STIRCertificateCredential((bytes(100),)).encode()
    assert encoded[:4].hex() == "40664064" and len(encoded) == 104

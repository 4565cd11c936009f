"""``openmls.KnownIssuer``: the accept-only check of a member certificate under an issuer.

What it returns for real certificates (against cryptography's reading of the same
certificate), that it says "not decided" (None) for anything it has not shown, and that
no input bytes make it raise or crash. How the validator uses it, and the differential
tests against the full validation path, are in tests/stir/test_validator_native.py.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import openmls as m
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.profile import OID_TNAUTHLIST
from shared.stir.pki import DemoPKI, IssuedCert, generate_key, point_of
from shared.stir.tnauthlist import OneTN, TNRange, encode_tnauthlist, extension_der

RANGE = TNRange("12025550100", 100)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoPKI, IssuedCert]:
    pki = DemoPKI.init(tmp_path_factory.mktemp("pki"))
    return pki, pki.issue_spc("Acme Telecom", "1234", [RANGE], ca=True)


def _leaf(
    world: tuple[DemoPKI, IssuedCert], tn: str, **kw: object
) -> tuple[bytes, ec.EllipticCurvePrivateKey]:
    pki, ca = world
    key = generate_key()
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return pki.issue_delegate(ca, [OneTN(tn)], key.public_key(), **kw).der, key  # type: ignore[arg-type]


def _issuer(world: tuple[DemoPKI, IssuedCert]) -> m.KnownIssuer:
    return m.KnownIssuer(world[1].der)


def test_facts_of_an_ordinary_leaf_are_cryptographys(world: tuple[DemoPKI, IssuedCert]) -> None:
    issuer = _issuer(world)
    first, _ = _leaf(world, "12025550101")
    der, key = _leaf(world, "12025550102")
    assert issuer.check_leaf(der) is None  # no layout learnt yet: not decided
    assert issuer.learn(first)
    assert issuer.layouts_known == 1
    facts = issuer.check_leaf(der)
    assert facts is not None
    cert = x509.load_der_x509_certificate(der)
    assert facts.not_before == int(cert.not_valid_before_utc.timestamp())
    assert facts.not_after == int(cert.not_valid_after_utc.timestamp())
    assert facts.public_key == point_of(key.public_key())
    assert facts.tnauthlist == extension_der(cert.extensions.get_extension_for_oid(OID_TNAUTHLIST))
    assert facts.jwt_claim_constraints is None
    assert facts.enhanced_jwt_claim_constraints is None
    assert issuer.learn(der)  # the same layout again: known, not added
    assert issuer.layouts_known == 1


def test_claim_constraint_values_are_returned(world: tuple[DemoPKI, IssuedCert]) -> None:
    issuer = _issuer(world)
    plain, _ = _leaf(world, "12025550103", permitted_nam="Alice")
    enhanced, _ = _leaf(world, "12025550104", permitted_nam="Bob", enhanced=True)
    assert issuer.learn(plain) and issuer.learn(enhanced)
    for der, attribute in (
        (plain, "jwt_claim_constraints"),
        (enhanced, "enhanced_jwt_claim_constraints"),
    ):
        facts = issuer.check_leaf(der)
        assert facts is not None
        cert = x509.load_der_x509_certificate(der)
        values = [
            extension_der(e)
            for e in cert.extensions
            if e.oid.dotted_string.startswith("1.3.6.1.5.5.7.1.")
        ]
        assert getattr(facts, attribute) in values


def test_a_leaf_of_another_issuer_or_the_issuer_itself_is_not_decided(
    world: tuple[DemoPKI, IssuedCert], tmp_path: Path
) -> None:
    issuer = _issuer(world)
    der, _ = _leaf(world, "12025550105")
    assert issuer.learn(der)
    other_pki = DemoPKI.init(tmp_path / "other")
    other_ca = other_pki.issue_spc("Other", "5678", [RANGE], ca=True)
    foreign = other_pki.issue_delegate(
        other_ca, [OneTN("12025550106")], generate_key().public_key()
    ).der
    assert issuer.check_leaf(foreign) is None
    assert issuer.check_leaf(world[1].der) is None
    assert issuer.check_leaf(der) is not None


def test_a_signature_by_another_key_is_not_decided(world: tuple[DemoPKI, IssuedCert]) -> None:
    issuer = _issuer(world)
    der, _ = _leaf(world, "12025550107")
    assert issuer.learn(der)
    cert = x509.load_der_x509_certificate(der)
    forged = (
        x509.CertificateBuilder(
            issuer_name=cert.issuer,
            subject_name=cert.subject,
            public_key=cert.public_key(),
            serial_number=cert.serial_number,
            not_valid_before=cert.not_valid_before_utc,
            not_valid_after=cert.not_valid_after_utc,
            extensions=list(cert.extensions),
        )
        .sign(generate_key(), hashes.SHA256())  # type: ignore[arg-type]
        .public_bytes(serialization.Encoding.DER)
    )
    assert issuer.check_leaf(forged) is None


def test_issuers_it_cannot_check_under_raise_value_error(world: tuple[DemoPKI, IssuedCert]) -> None:
    for garbage in (
        b"",
        b"\x30\x00",
        b"\x30\x80\x00\x00",
        world[1].der[:-1],
        world[1].der + b"\x00",
    ):
        with pytest.raises(ValueError):
            m.KnownIssuer(garbage)
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Ed25519 CA")])
    cert = (
        x509.CertificateBuilder(
            issuer_name=name,
            subject_name=name,
            public_key=key.public_key(),
            serial_number=1,
            not_valid_before=x509.load_der_x509_certificate(world[1].der).not_valid_before_utc,
            not_valid_after=x509.load_der_x509_certificate(world[1].der).not_valid_after_utc,
        )
        .sign(key, None)
        .public_bytes(serialization.Encoding.DER)
    )
    with pytest.raises(ValueError, match="P-256"):
        m.KnownIssuer(cert)


def test_layouts_that_are_never_learnt(world: tuple[DemoPKI, IssuedCert]) -> None:
    issuer = _issuer(world)
    critical, _ = _leaf(world, "12025550108", critical_tnauthlist=True)
    without, _ = _leaf(world, "12025550109", omit_tnauthlist=True)
    for der in (critical, without, b"", b"\x00" * 40, world[1].der):
        assert not issuer.learn(der)
    assert issuer.layouts_known == 0


def _leaf_with(world: tuple[DemoPKI, IssuedCert], extra: bytes) -> bytes:
    """A member certificate made here, with an extra non-critical extension valued ``extra``."""
    ca = world[1]
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)
    ca_cert = x509.load_der_x509_certificate(ca.der)
    key = generate_key()
    return (
        x509.CertificateBuilder(
            issuer_name=ca_cert.subject,
            subject_name=x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Member")]),
            public_key=key.public_key(),
            serial_number=x509.random_serial_number(),
            not_valid_before=ca_cert.not_valid_before_utc,
            not_valid_after=ca_cert.not_valid_after_utc,
        )
        .add_extension(
            x509.UnrecognizedExtension(OID_TNAUTHLIST, encode_tnauthlist([OneTN("12025550130")])),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), extra),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


def test_at_most_eight_layouts(world: tuple[DemoPKI, IssuedCert]) -> None:
    issuer = _issuer(world)
    leaves = [_leaf_with(world, bytes([0x04, 0x01, i])) for i in range(9)]
    assert [issuer.learn(der) for der in leaves] == [True] * 8 + [False]
    assert issuer.layouts_known == 8
    assert issuer.check_leaf(leaves[0]) is not None
    assert issuer.check_leaf(leaves[8]) is None
    # A fixed extension's value must be byte for byte the learnt one.
    assert issuer.check_leaf(_leaf_with(world, b"\x04\x01\x09")) is None
    assert issuer.check_leaf(_leaf_with(world, b"\x04\x01\x07")) is not None


def _samples(real: bytes, rng: random.Random) -> list[bytes]:
    out = [
        b"",
        b"\x00",
        b"\x30",
        b"\x30\x80",
        b"\xff" * 7,
        bytes(rng.randrange(256) for _ in range(300)),
    ]
    out += [real[:n] for n in range(0, len(real), 7)]
    out += [real + b"\x00", b"\x30\x82\xff\xff" + real]
    for _ in range(200):
        b = bytearray(real)
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        out.append(bytes(b))
    return out


def test_garbage_and_corruptions_are_not_decided(world: tuple[DemoPKI, IssuedCert]) -> None:
    issuer = _issuer(world)
    der, _ = _leaf(world, "12025550120")
    assert issuer.learn(der)
    rng = random.Random(6)
    for sample in _samples(der, rng):
        if sample != der:
            assert issuer.check_leaf(sample) is None
        issuer.learn(sample)  # never raises; learns at most what parses
    assert issuer.check_leaf(der) is not None


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data: bytes) -> None:
    issuer = m.KnownIssuer(_CA_DER)
    assert issuer.check_leaf(data) is None
    assert issuer.learn(data) is False
    with pytest.raises(ValueError):
        m.KnownIssuer(data)


def _self_signed_p256_ca() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Test CA")])
    cert = x509.CertificateBuilder(
        issuer_name=name,
        subject_name=name,
        public_key=key.public_key(),
        serial_number=7,
        not_valid_before=datetime(2026, 1, 1, tzinfo=UTC),
        not_valid_after=datetime(2027, 1, 1, tzinfo=UTC),
    ).sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.DER)


_CA_DER = _self_signed_p256_ca()

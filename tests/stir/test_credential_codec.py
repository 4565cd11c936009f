"""STIR credential content codecs (PROFILE.md §2) and RFC 9420 variable-length integers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.profile import CREDENTIAL_TYPE_STIR_CERTIFICATE, CREDENTIAL_TYPE_STIR_PASSPORT
from shared.stir.credential_codec import (
    VARINT_MAX,
    STIRCertificateCredential,
    STIRPASSporTCredential,
    TLSReader,
    _decode_certificates,
    decode_credential,
    encode_varint,
)
from shared.stir.errors import MalformedError
from shared.stir.pki import DemoPKI, IssuedCert


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (37, "25"),
        (63, "3f"),
        (64, "4040"),
        (15293, "7bbd"),  # RFC 9000 §A.1 example, same scheme
        (16383, "7fff"),
        (16384, "80004000"),
        (494878333, "9d7f3e7d"),  # RFC 9000 §A.1 4-byte example
        (VARINT_MAX, "bfffffff"),
    ],
)
def test_varint_encoding(value: int, encoded: str) -> None:
    assert encode_varint(value).hex() == encoded
    assert TLSReader(bytes.fromhex(encoded), "t").read_varint("v") == value


@pytest.mark.parametrize("value", [-1, VARINT_MAX + 1])
def test_varint_range(value: int) -> None:
    with pytest.raises(ValueError):
        encode_varint(value)


@pytest.mark.parametrize(
    ("encoded", "fragment"),
    [
        ("4025", "not minimally encoded"),
        ("80000025", "not minimally encoded"),
        ("80003fff", "not minimally encoded"),
        ("c000000000000000", "reserved"),
        ("40", "needs 2 bytes"),
        ("", "missing"),
    ],
)
def test_varint_strictness(encoded: str, fragment: str) -> None:
    with pytest.raises(MalformedError, match=fragment):
        TLSReader(bytes.fromhex(encoded), "t").read_varint("v")


def test_hand_checked_encoding() -> None:
    cred = STIRPASSporTCredential((b"\x30\x01\x00", b"\xaa"), b"a.b.c")
    # certificates<V> = 06 bytes: [03 30 01 00] [01 aa]; passport<V> = 05 "a.b.c"
    assert cred.encode().hex() == "06" + "03300100" + "01aa" + "05" + b"a.b.c".hex()
    assert STIRCertificateCredential((b"\x01",)).encode().hex() == "020101"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("00", "chain is empty"),
        ("0100", r"certificates\[0\] is empty"),
        ("020101" + "00", "trailing"),
        ("030101", "needs 3 bytes"),
        ("02020101", r"certificates\[0\]: .*needs 2 bytes"),
        ("40020101", "not minimally encoded"),
        ("03400101", r"certificates\[0\]: .*not minimally encoded"),
        ("01c0", r"certificates\[0\]: .*reserved"),
        ("c0", "reserved"),
        ("", "missing"),
    ],
)
def test_certificate_credential_strictness(content: str, fragment: str) -> None:
    with pytest.raises(MalformedError, match=fragment):
        STIRCertificateCredential.decode(bytes.fromhex(content))


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("020101", "passport: length prefix missing"),
        ("020101" + "00", "passport is empty"),
        ("020101" + "0161" + "ff", "trailing"),
        ("00" + "0161", "chain is empty"),
        ("020101" + "0261", "needs 2 bytes"),
    ],
)
def test_passport_credential_strictness(content: str, fragment: str) -> None:
    with pytest.raises(MalformedError, match=fragment):
        STIRPASSporTCredential.decode(bytes.fromhex(content))


def test_constructors_refuse_what_decode_refuses() -> None:
    with pytest.raises(MalformedError):
        STIRCertificateCredential(())
    with pytest.raises(MalformedError):
        STIRCertificateCredential((b"",))
    with pytest.raises(MalformedError):
        STIRPASSporTCredential((b"x",), b"")


def test_decode_credential_dispatch() -> None:
    c = STIRCertificateCredential((b"x",))
    p = STIRPASSporTCredential((b"x",), b"t")
    assert decode_credential(CREDENTIAL_TYPE_STIR_CERTIFICATE, c.encode()) == c
    assert decode_credential(CREDENTIAL_TYPE_STIR_PASSPORT, p.encode()) == p
    with pytest.raises(MalformedError, match="0x0001"):
        decode_credential(0x0001, c.encode())


def test_real_chain_round_trips_and_parses(pki: DemoPKI, alice_cert: IssuedCert) -> None:
    cred = alice_cert.credential()
    assert len(cred.certificates) == 3  # delegate, provider CA, intermediate
    decoded = STIRCertificateCredential.decode(cred.encode())
    assert decoded == cred
    chain = decoded.x509_chain()
    assert chain[0] == alice_cert.cert
    assert chain[1].subject == chain[0].issuer


def test_unparseable_certificate_is_malformed() -> None:
    with pytest.raises(MalformedError, match=r"certificates\[1\]"):
        STIRCertificateCredential((_any_cert_der(), b"\x30\x00")).x509_chain()


def test_bad_version_is_malformed() -> None:
    der = _any_cert_der()
    # TBSCertificate's version [0] EXPLICIT INTEGER 2 (v3) -> 5: x509.InvalidVersion
    at = der.index(bytes.fromhex("a003020102"))
    bad = der[:at] + bytes.fromhex("a003020105") + der[at + 5 :]
    with pytest.raises(MalformedError, match=r"certificates\[0\].*version"):
        STIRCertificateCredential((bad,)).x509_chain()


def test_unparseable_name_is_malformed() -> None:
    der = _any_cert_der()
    # The first commonName's PrintableString tag -> INTEGER: cryptography parses names
    # lazily and raises KeyError on first use; it must come out as MalformedError.
    at = der.index(bytes.fromhex("0603550403")) + 5
    assert der[at] == 0x13
    bad = der[:at] + b"\x02" + der[at + 1 :]
    with pytest.raises(MalformedError, match=r"certificates\[1\]"):
        STIRCertificateCredential((der, bad)).x509_chain()


def _any_cert_der() -> bytes:
    from pathlib import Path

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    vectors = Path(__file__).resolve().parent / ".." / ".." / ".." / "shared" / "vectors" / "stir"
    cert = x509.load_pem_x509_certificate((vectors / "zlint_shakenCert.pem").read_bytes())
    return cert.public_bytes(serialization.Encoding.DER)


def test_passport_text() -> None:
    assert STIRPASSporTCredential((b"x",), b"a.b.c").passport_text == "a.b.c"
    with pytest.raises(MalformedError, match="ASCII"):
        _ = STIRPASSporTCredential((b"x",), b"\xff").passport_text


# --- property-based ------------------------------------------------------------------------

_certs = st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=4).map(tuple)


@given(_certs, st.binary(min_size=1, max_size=20000))
def test_round_trip(certs: tuple[bytes, ...], passport: bytes) -> None:
    c = STIRCertificateCredential(certs)
    assert STIRCertificateCredential.decode(c.encode()) == c
    p = STIRPASSporTCredential(certs, passport)
    assert STIRPASSporTCredential.decode(p.encode()) == p


@given(_certs, st.binary(min_size=1, max_size=50), st.binary(min_size=1, max_size=4))
def test_trailing_garbage_is_rejected(
    certs: tuple[bytes, ...], passport: bytes, garbage: bytes
) -> None:
    with pytest.raises(MalformedError):
        STIRCertificateCredential.decode(STIRCertificateCredential(certs).encode() + garbage)
    with pytest.raises(MalformedError):
        STIRPASSporTCredential.decode(STIRPASSporTCredential(certs, passport).encode() + garbage)


@given(st.binary(max_size=200))
def test_random_bytes_only_raise_malformed(data: bytes) -> None:
    for cls in (STIRCertificateCredential, STIRPASSporTCredential):
        try:
            decoded = cls.decode(data)
        except MalformedError:
            continue
        # Anything that decodes re-encodes to exactly the input (one encoding per value).
        assert decoded.encode() == data


@given(st.integers(0, VARINT_MAX))
def test_varint_round_trip(value: int) -> None:
    reader = TLSReader(encode_varint(value), "t")
    assert reader.read_varint("v") == value
    reader.finish()


def _careful_decode(
    kind: type[STIRCertificateCredential | STIRPASSporTCredential], data: bytes
) -> Any:
    """The field-by-field reader alone (what decode falls back to for its messages)."""
    reader = TLSReader(data, kind.__name__)
    certificates = _decode_certificates(reader)
    if kind is STIRCertificateCredential:
        reader.finish()
        return kind(certificates)
    passport = reader.read_opaque("passport")
    if not passport:
        raise MalformedError("empty passport")
    reader.finish()
    return kind(certificates, passport)


@settings(max_examples=150)
@given(_certs, st.binary(min_size=1, max_size=300), st.data())
def test_one_loop_decoding_agrees_with_the_careful_reader(
    certs: tuple[bytes, ...], passport: bytes, data: st.DataObject
) -> None:
    """decode's one-loop reading of the chain accepts exactly what the careful reader
    accepts, with the same result, on valid encodings and corrupted ones."""
    for kind, encoded in (
        (STIRCertificateCredential, STIRCertificateCredential(certs).encode()),
        (STIRPASSporTCredential, STIRPASSporTCredential(certs, passport).encode()),
    ):
        corrupted = bytearray(encoded)
        if data.draw(st.booleans()):
            for _ in range(data.draw(st.integers(1, 3))):
                corrupted[data.draw(st.integers(0, len(corrupted) - 1))] = data.draw(
                    st.integers(0, 255)
                )
        try:
            expected = _careful_decode(kind, bytes(corrupted))
        except MalformedError:
            with pytest.raises(MalformedError):
                kind.decode(bytes(corrupted))
        else:
            assert kind.decode(bytes(corrupted)) == expected

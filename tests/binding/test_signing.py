"""Labelled signing (RFC 9420 SignWithLabel) and P-256 key import."""

from __future__ import annotations

import openmls as m
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def varint(n: int) -> bytes:
    """RFC 9420 §2.1.2 variable-length integer."""
    if n < 1 << 6:
        return n.to_bytes(1, "big")
    if n < 1 << 14:
        return (n | 0x4000).to_bytes(2, "big")
    return (n | 0x80000000).to_bytes(4, "big")


def sign_content(label: bytes, content: bytes) -> bytes:
    full = b"MLS 1.0 " + label
    return varint(len(full)) + full + varint(len(content)) + content


@pytest.mark.parametrize("ciphersuite", [1, 2, 3])
def test_sign_and_verify(ciphersuite: int) -> None:
    k = m.SignatureKeyPair.generate(ciphersuite)
    sig = k.sign_with_label("stirmls ds-auth", b"nonces and number")
    m.verify_with_label(
        k.signature_scheme, k.public_key, "stirmls ds-auth", b"nonces and number", sig
    )
    m.verify_with_label(
        k.signature_scheme, k.public_key, b"stirmls ds-auth", b"nonces and number", sig
    )
    with pytest.raises(m.InvalidSignature):
        m.verify_with_label(
            k.signature_scheme, k.public_key, "other label", b"nonces and number", sig
        )
    with pytest.raises(m.InvalidSignature):
        m.verify_with_label(
            k.signature_scheme, k.public_key, "stirmls ds-auth", b"other content", sig
        )
    other = m.SignatureKeyPair.generate(ciphersuite)
    with pytest.raises(m.InvalidSignature):
        m.verify_with_label(
            k.signature_scheme, other.public_key, "stirmls ds-auth", b"nonces and number", sig
        )
    with pytest.raises(m.InvalidSignature):
        m.verify_with_label(k.signature_scheme, b"\x04garbage", "l", b"c", sig)
    with pytest.raises(m.InvalidSignature):
        m.verify_with_label(0x1234, k.public_key, "l", b"c", sig)


def test_p256_import_matches_cryptography() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    sec1 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    for encoded in (pkcs8, sec1, scalar):
        k = m.SignatureKeyPair.from_p256_private_key(encoded)
        assert k.public_key == point and len(k.public_key) == 65
        assert k.signature_scheme == m.SignatureScheme.ECDSA_SECP256R1_SHA256
    # The signature is over SignContent exactly as RFC 9420 defines it.
    sig = k.sign_with_label("lbl", b"content")
    key.public_key().verify(sig, sign_content(b"lbl", b"content"), ec.ECDSA(hashes.SHA256()))
    for bad in (b"", b"\x00" * 32, b"\xff" * 32, b"not a key at all", pkcs8[:-3]):
        with pytest.raises(m.InvalidCredential):
            m.SignatureKeyPair.from_p256_private_key(bad)


def test_imported_key_is_the_mls_key() -> None:
    """A certificate's key can be the member's MLS signature key (PROFILE.md §1)."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = m.SignatureKeyPair.from_p256_private_key(der)
    provider = m.Provider()
    kp = m.KeyPackage.create(provider, signer, m.Credential(0xF001, b"chain"))
    assert kp.signature_key == signer.public_key
    with pytest.raises(m.InvalidCredential):
        m.KeyPackage.create(provider, signer, m.Credential(0xF001, b"c"), ciphersuite=1)

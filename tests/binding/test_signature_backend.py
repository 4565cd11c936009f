"""The binding's signature backend (``ring`` for ECDSA P-256, RustCrypto for the rest)
against OpenSSL (Python ``cryptography``) and against OpenMLS's RustCrypto provider.

Signatures stay what RFC 9420 and RustCrypto define: DER-encoded ECDSA P-256 over
SignContent, raw Ed25519; the binding's verify accepts exactly what RustCrypto accepts.
"""

from __future__ import annotations

import openmls as m
import pytest
from cryptography.exceptions import InvalidSignature as OpenSslInvalid
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from .test_signing import sign_content

N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 order
P256 = m.SignatureScheme.ECDSA_SECP256R1_SHA256
ED25519 = m.SignatureScheme.ED25519
LABEL, CONTENT = "stirmls test", b"content to sign"
TBS = sign_content(LABEL.encode(), CONTENT)


def both_verify(scheme: int, public: bytes, sig: bytes) -> tuple[bool, bool]:
    """(binding accepts, RustCrypto accepts) for ``sig`` over (LABEL, CONTENT)."""
    out = []
    for fn in (m.verify_with_label, m._openmls._verify_with_label_rustcrypto):
        try:
            fn(scheme, public, LABEL, CONTENT, sig)
            out.append(True)
        except m.InvalidSignature:
            out.append(False)
    return out[0], out[1]


def openssl_p256() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return key, point


def der_int(v: int, pad: int = 0) -> bytes:
    body = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")  # minimal, sign bit clear
    body = b"\x00" * pad + body
    return b"\x02" + bytes([len(body)]) + body


def der_seq(*parts: bytes, long_form: bool = False) -> bytes:
    body = b"".join(parts)
    length = bytes([0x81, len(body)]) if long_form else bytes([len(body)])
    return b"\x30" + length + body


def test_binding_p256_signatures_verify_with_openssl_and_rustcrypto() -> None:
    k = m.SignatureKeyPair.generate(2)
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), k.public_key)
    sigs = {k.sign_with_label(LABEL, CONTENT) for _ in range(5)}
    # ring signs with a random nonce (RustCrypto's RFC 6979 nonces are deterministic):
    # five distinct signatures show the ring path signs.
    assert len(sigs) == 5
    for sig in sigs:
        assert sig[0] == 0x30  # DER SEQUENCE, as RustCrypto's
        pub.verify(sig, TBS, ec.ECDSA(hashes.SHA256()))
        assert both_verify(P256, k.public_key, sig) == (True, True)


def test_openssl_p256_signatures_verify_in_the_binding() -> None:
    key, point = openssl_p256()
    for _ in range(5):
        sig = key.sign(TBS, ec.ECDSA(hashes.SHA256()))
        assert both_verify(P256, point, sig) == (True, True)
    sig = key.sign(b"other bytes", ec.ECDSA(hashes.SHA256()))
    assert both_verify(P256, point, sig) == (False, False)


def test_high_s_is_accepted_as_rustcrypto_accepts_it() -> None:
    # ECDSA (r, s) and (r, n - s) are both valid; neither backend enforces low S.
    key, point = openssl_p256()
    r, s = decode_dss_signature(key.sign(TBS, ec.ECDSA(hashes.SHA256())))
    for sig in (encode_dss_signature(r, s), encode_dss_signature(r, N - s)):
        assert both_verify(P256, point, sig) == (True, True)


def test_non_canonical_and_tampered_p256_signatures_are_refused() -> None:
    key, point = openssl_p256()
    r, s = decode_dss_signature(key.sign(TBS, ec.ECDSA(hashes.SHA256())))
    good = der_seq(der_int(r), der_int(s))
    assert both_verify(P256, point, good) == (True, True)
    bad = {
        "leading zero on r": der_seq(der_int(r, pad=1), der_int(s)),
        "long-form length": der_seq(der_int(r), der_int(s), long_form=True),
        "trailing byte": good + b"\x00",
        "r + n": der_seq(der_int(r + N), der_int(s)),
        "s + n": der_seq(der_int(r), der_int(s + N)),
        "s = 0": der_seq(der_int(r), der_int(0)),
        "r = 0": der_seq(der_int(0), der_int(s)),
        "s and r swapped": der_seq(der_int(s), der_int(r)),
        "r + 1": der_seq(der_int(r + 1), der_int(s)),
        "raw r || s": r.to_bytes(32, "big") + s.to_bytes(32, "big"),
        "empty": b"",
        "last byte flipped": good[:-1] + bytes([good[-1] ^ 1]),
        "truncated": good[:-1],
    }
    for what, sig in bad.items():
        assert both_verify(P256, point, sig) == (False, False), what


def test_other_p256_key_encodings_are_judged_by_rustcrypto() -> None:
    # ring parses only uncompressed points; RustCrypto also takes compressed ones, so the
    # binding hands those to RustCrypto rather than refusing them.
    key, _ = openssl_p256()
    compressed = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    sig = key.sign(TBS, ec.ECDSA(hashes.SHA256()))
    assert both_verify(P256, compressed, sig) == (True, True)
    assert both_verify(P256, compressed, sig[:-1] + bytes([sig[-1] ^ 1])) == (False, False)
    for bad_key in (b"", b"\x04" + b"\x00" * 64, b"\x04" + b"\x01" * 64, compressed[:-1]):
        assert both_verify(P256, bad_key, sig) == (False, False), bad_key.hex()


def test_ed25519_suite_still_works_and_matches_openssl() -> None:
    k = m.SignatureKeyPair.generate(1)
    assert k.signature_scheme == ED25519 and len(k.public_key) == 32
    sig = k.sign_with_label(LABEL, CONTENT)
    ed25519.Ed25519PublicKey.from_public_bytes(k.public_key).verify(sig, TBS)
    assert both_verify(ED25519, k.public_key, sig) == (True, True)
    other = ed25519.Ed25519PrivateKey.generate()
    public = other.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert both_verify(ED25519, public, other.sign(TBS)) == (True, True)
    tampered = bytearray(other.sign(TBS))
    tampered[5] ^= 0x10
    assert both_verify(ED25519, public, bytes(tampered)) == (False, False)


def test_tampered_binding_signature_is_refused_by_openssl_too() -> None:
    k = m.SignatureKeyPair.generate(2)
    sig = bytearray(k.sign_with_label(LABEL, CONTENT))
    sig[-3] ^= 0x40
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), k.public_key)
    with pytest.raises(OpenSslInvalid):
        pub.verify(bytes(sig), TBS, ec.ECDSA(hashes.SHA256()))
    assert both_verify(P256, k.public_key, bytes(sig)) == (False, False)


@pytest.mark.parametrize("ciphersuite", [1, 2])
def test_group_messages_carry_signatures_both_backends_accept(ciphersuite: int) -> None:
    """A two-member group end to end in both suites: KeyPackage, Welcome (every leaf and the
    GroupInfo signature verified), and application messages each way."""
    creator_p, joiner_p = m.Provider(), m.Provider()
    creator_s = m.SignatureKeyPair.generate(ciphersuite)
    joiner_s = m.SignatureKeyPair.generate(ciphersuite)
    group = m.Group.create(creator_p, creator_s, m.Credential.basic(b"a"), ciphersuite=ciphersuite)
    kp = m.KeyPackage.create(joiner_p, joiner_s, m.Credential.basic(b"b"), ciphersuite=ciphersuite)
    welcome = group.add_members([kp]).welcome
    group.merge_pending_commit()
    assert welcome is not None
    joined = m.StagedWelcome.from_bytes(joiner_p, welcome).accept()
    msg = joined.process_message(group.create_message(b"hello"))
    assert isinstance(msg, m.ApplicationMessage) and msg.data == b"hello"
    back = group.process_message(joined.create_message(b"hi"))
    assert isinstance(back, m.ApplicationMessage) and back.data == b"hi"
    assert group.epoch_authenticator() == joined.epoch_authenticator()

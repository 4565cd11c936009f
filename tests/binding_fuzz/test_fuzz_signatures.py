"""Differential: the binding's signature verify (``ring`` for ECDSA P-256) accepts exactly
what OpenMLS's RustCrypto provider accepts, on mutated and hand-built signatures and keys.

``openmls._openmls._verify_with_label_rustcrypto`` is RustCrypto alone (testing only).
"""

from __future__ import annotations

import openmls
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given
from hypothesis import strategies as st

from .test_fuzz_parsers import FAST, mutated

N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 order
P256 = openmls.SignatureScheme.ECDSA_SECP256R1_SHA256
LABEL, CONTENT = "fuzz", b"signed content"

_SIGNER = openmls.SignatureKeyPair.generate(2)
_OPENSSL = ec.generate_private_key(ec.SECP256R1())
_OPENSSL_POINT = _OPENSSL.public_key().public_bytes(
    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
)
_TBS = b"\x0cMLS 1.0 fuzz\x0esigned content"
_R, _S = decode_dss_signature(_OPENSSL.sign(_TBS, ec.ECDSA(hashes.SHA256())))
# Valid signatures to mutate: the binding's (ring), OpenSSL's, and OpenSSL's with high S.
SEEDS = {
    _SIGNER.public_key: [_SIGNER.sign_with_label(LABEL, CONTENT) for _ in range(3)],
    _OPENSSL_POINT: [encode_dss_signature(_R, _S), encode_dss_signature(_R, N - _S)],
}


def verdicts(public: bytes, sig: bytes) -> tuple[bool, bool]:
    out = []
    for fn in (openmls.verify_with_label, openmls._openmls._verify_with_label_rustcrypto):
        try:
            fn(P256, public, LABEL, CONTENT, sig)
            out.append(True)
        except openmls.InvalidSignature:
            out.append(False)
    return out[0], out[1]


def test_seeds_are_valid() -> None:
    for public, sigs in SEEDS.items():
        for sig in sigs:
            assert verdicts(public, sig) == (True, True)


@FAST
@given(st.data())
def test_mutated_signatures_same_verdict(data: st.DataObject) -> None:
    public = data.draw(st.sampled_from(list(SEEDS)))
    sig = data.draw(mutated(SEEDS[public]))
    binding, rustcrypto = verdicts(public, sig)
    assert binding == rustcrypto, sig.hex()


@FAST
@given(
    r=st.one_of(st.integers(0, 2**264), st.sampled_from([_R, N - _R, _R + N, N, N - 1, 1])),
    s=st.one_of(st.integers(0, 2**264), st.sampled_from([_S, N - _S, _S + N, N, N - 1, 1])),
    pad_r=st.integers(0, 2),
    pad_s=st.integers(0, 2),
)
def test_hand_built_der_same_verdict(r: int, s: int, pad_r: int, pad_s: int) -> None:
    def der_int(v: int, pad: int) -> bytes:
        body = b"\x00" * pad + v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big")
        return b"\x02" + bytes([len(body)]) + body

    body = der_int(r, pad_r) + der_int(s, pad_s)
    sig = b"\x30" + bytes([len(body)]) + body
    binding, rustcrypto = verdicts(_OPENSSL_POINT, sig)
    assert binding == rustcrypto, sig.hex()
    # A valid (r, s) in canonical DER verifies; nothing else does.
    assert binding == (pad_r == pad_s == 0 and r == _R and s in (_S, N - _S))


@FAST
@given(st.data())
def test_mutated_public_keys_same_verdict(data: st.DataObject) -> None:
    public = data.draw(mutated(list(SEEDS)))
    sig = SEEDS[_OPENSSL_POINT][0]
    binding, rustcrypto = verdicts(public, sig)
    assert binding == rustcrypto, public.hex()

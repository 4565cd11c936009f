"""``openmls.p256_point_is_valid`` and ``openmls.verify_es256`` against cryptography.

The validator uses both accept-only (shared/stir/validator.py): True must mean what
cryptography would accept, and nothing may raise for any input.
"""

from __future__ import annotations

import openmls as m
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

P = 2**256 - 2**224 + 2**192 + 2**96 - 1


def _cryptography_accepts_point(point: bytes) -> bool:
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        return False
    return len(point) == 65 and point[0] == 4


def _key() -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)


def test_points() -> None:
    _, point = _key()
    cases = [
        point,
        point[:-1] + bytes([point[-1] ^ 1]),  # off the curve
        b"\x04" + P.to_bytes(32, "big") + point[33:],  # x = p
        b"\x04" + bytes(64),
        b"\x02" + point[1:33],  # compressed: not the encoding the profile takes
        point[:-1],
        point + b"\x00",
        b"",
    ]
    for case in cases:
        assert m.p256_point_is_valid(case) == _cryptography_accepts_point(case), case.hex()
    assert m.p256_point_is_valid(point)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=70), st.booleans())
def test_random_points_never_valid_where_cryptography_refuses(data: bytes, prefix: bool) -> None:
    point = (b"\x04" + data[:64]) if prefix else data
    if m.p256_point_is_valid(point):
        assert _cryptography_accepts_point(point)


def test_es256() -> None:
    key, point = _key()
    message = b"header.payload"
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert m.verify_es256(point, message, signature)
    n = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    assert m.verify_es256(point, message, r.to_bytes(32, "big") + (n - s).to_bytes(32, "big"))
    _, other = _key()
    for args in [
        (other, message, signature),
        (point, message + b"x", signature),
        (point, message, signature[:-1]),
        (point, message, signature + b"\x00"),
        (point, message, bytes(64)),
        (point, message, n.to_bytes(32, "big") + signature[32:]),
        (point[:-1], message, signature),
        (b"", b"", b""),
    ]:
        assert not m.verify_es256(*args)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80), st.binary(max_size=40), st.binary(max_size=80))
def test_es256_garbage_is_false(point: bytes, message: bytes, signature: bytes) -> None:
    assert m.verify_es256(point, message, signature) is False

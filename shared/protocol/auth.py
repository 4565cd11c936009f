"""What a client signs to authenticate to a delivery service (PROFILE.md §10).

The client signs with RFC 9420's SignWithLabel, label ``DS_AUTH_LABEL``, over the TLS
encoding (RFC 9420 §2.1) of::

    struct {
        opaque server_nonce<V>;
        opaque client_nonce<V>;
        opaque ds_id<V>;      // UTF-8
        opaque tn<V>;         // canonical E.164 digits, ASCII
    } DSAuthContent;

Both nonces make the signature fresh for this session on both sides; the service id
stops a signature for one service being replayed at another; the TN binds the session
to the number. The label keeps the signature from being anything else an MLS key signs
(a KeyPackageTBS, a LeafNodeTBS...), so the server is no signing oracle.
"""

from __future__ import annotations

from typing import Final

from shared.profile import DS_AUTH_LABEL

__all__ = [
    "DS_AUTH_LABEL",
    "PASSPORT_REQUEST_LABEL",
    "SIGNATURE_SCHEME_ECDSA_P256_SHA256",
    "SIGNATURE_SCHEME_ED25519",
    "ds_auth_content",
    "encode_opaque",
    "encode_varint",
]

PASSPORT_REQUEST_LABEL: Final = "stirmls passport-request"
"""SignWithLabel label of a ``RequestPassport`` (proof of possession of the key to bind).
A label of its own, so that a passport request can never be replayed as an ``Auth``."""

# RFC 8446 §4.2.3 SignatureScheme values used by the profile's ciphersuites (PROFILE.md §1).
SIGNATURE_SCHEME_ECDSA_P256_SHA256: Final = 0x0403
SIGNATURE_SCHEME_ED25519: Final = 0x0807


def encode_varint(n: int) -> bytes:
    """RFC 9420 §2.1.2 variable-length integer, minimal encoding (up to 2^30 - 1)."""
    if n < 0:
        raise ValueError("length must not be negative")
    if n < 1 << 6:
        return n.to_bytes(1, "big")
    if n < 1 << 14:
        return (n | 0x4000).to_bytes(2, "big")
    if n < 1 << 30:
        return (n | 0x8000_0000).to_bytes(4, "big")
    raise ValueError("length too large for an MLS variable-length vector")


def encode_opaque(data: bytes) -> bytes:
    """``opaque data<V>``: the length as a variable-length integer, then the bytes."""
    return encode_varint(len(data)) + data


def ds_auth_content(server_nonce: bytes, client_nonce: bytes, ds_id: str, tn: str) -> bytes:
    """The content a client signs with SignWithLabel(``DS_AUTH_LABEL``, content)."""
    return b"".join(
        encode_opaque(part)
        for part in (server_nonce, client_nonce, ds_id.encode("utf-8"), tn.encode("ascii"))
    )

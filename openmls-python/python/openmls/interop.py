"""Helpers for the MLS working group's interoperability test vectors ONLY.

Nothing here is used by stirmls's own code paths: these calls import private keys
chosen by someone else, skip KeyPackage lifetime checks and accept PrivateMessage
handshakes, which a product must never do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from openmls import _openmls
from openmls._openmls import Group, KeyPackage, Provider, SignatureKeyPair

_native = _openmls.interop

__all__ = [
    "import_key_package",
    "import_signature_key",
    "join_from_welcome",
    "join_passive_client",
    "reserialize",
    "store_external_psk",
]


def import_key_package(
    provider: Provider, key_package: bytes, init_priv: bytes, encryption_priv: bytes
) -> KeyPackage:
    """Store a KeyPackage bundle built from a KeyPackage (MLSMessage-wrapped or raw) and
    the given HPKE private keys (init key, leaf encryption key). Neither the KeyPackage's
    signature nor its lifetime is checked (vector data is trusted)."""
    return cast(
        KeyPackage, _native.import_key_package(provider, key_package, init_priv, encryption_priv)
    )


def import_signature_key(
    provider: Provider, signature_scheme: int, private_key: bytes, public_key: bytes
) -> SignatureKeyPair:
    """Build a SignatureKeyPair from raw keys (P-256 scalar / Ed25519 seed) and store it."""
    return cast(
        SignatureKeyPair,
        _native.import_signature_key(provider, signature_scheme, private_key, public_key),
    )


def store_external_psk(provider: Provider, psk_id: bytes, psk: bytes) -> None:
    """Store an external PSK (``psk_id`` → ``psk``) for joining and processing commits."""
    _native.store_external_psk(provider, psk_id, psk)


def join_from_welcome(
    provider: Provider, welcome: bytes, *, ratchet_tree: bytes | None = None
) -> Group:
    """Join from a Welcome with leaf lifetime validation skipped and PrivateMessage
    handshakes accepted (the vectors' KeyPackages expired in 2024)."""
    return cast(Group, _native.join_from_welcome(provider, welcome, ratchet_tree))


def join_passive_client(
    provider: Provider,
    welcome: bytes,
    key_package: bytes,
    init_priv: bytes,
    encryption_priv: bytes,
    signature_priv: bytes,
    external_psks: Sequence[tuple[bytes, bytes]] = (),
    ratchet_tree: bytes | None = None,
) -> Group:
    """The passive-client vectors' set-up in one call: import the KeyPackage bundle and
    the signature key, store the external PSKs (``(psk_id, psk)`` pairs), then join with
    :func:`join_from_welcome`. Follow the epochs with ``group.process_message`` (proposals
    are stored automatically) and ``group.merge_staged_commit``."""
    return cast(
        Group,
        _native.join_passive_client(
            provider,
            welcome,
            key_package,
            init_priv,
            encryption_priv,
            signature_priv,
            list(external_psks),
            ratchet_tree,
        ),
    )


def reserialize(kind: str, data: bytes) -> bytes | None:
    """Parse one structure of messages.json (``kind`` = its JSON key, e.g. "ratchet_tree",
    "add_proposal", "mls_welcome", "private_message") and serialise it again, for a
    byte-identity check. Raises :class:`~openmls.InvalidMessage` if it does not parse.
    Returns ``None`` where OpenMLS's public API cannot re-serialise (GroupInfo, which
    serialises only with its test-utils) or cannot parse at all ("commit",
    "group_secrets": crate-private types)."""
    return cast("bytes | None", _native.reserialize(kind, data))

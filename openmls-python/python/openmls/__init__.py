"""Python binding of OpenMLS (RFC 9420): custom credentials, inspection before acceptance.

The native module is :mod:`openmls._openmls` (typed by its ``.pyi``); this package
re-exports it and adds the :class:`Ciphersuite` and :class:`CredentialType` enums.
Test-vector helpers live in :mod:`openmls.interop` (never for product code).
"""

import enum

from openmls._openmls import (
    DEFAULT_CREDENTIAL_TYPES,
    OPENMLS_VERSION,
    ApplicationMessage,
    Capabilities,
    CommitBundle,
    Credential,
    ExternalJoin,
    Group,
    InactiveGroup,
    InvalidCredential,
    InvalidKeyPackage,
    InvalidMessage,
    InvalidSignature,
    KeyPackage,
    KnownIssuer,
    LeafFacts,
    LeafInfo,
    Member,
    MessageInfo,
    MlsError,
    NoMatchingKeyPackage,
    PendingCommit,
    ProposalMessage,
    Provider,
    PublicGroup,
    SignatureKeyPair,
    StagedCommit,
    StagedWelcome,
    StorageError,
    UnknownGroup,
    WrongEpoch,
    inspect_message,
    p256_point_is_valid,
    verify_es256,
    verify_with_label,
)


class Ciphersuite(enum.IntEnum):
    """The MLS ciphersuites OpenMLS's RustCrypto provider supports (RFC 9420 §17.1)."""

    MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 = 0x0001
    MLS_128_DHKEMP256_AES128GCM_SHA256_P256 = 0x0002
    MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 = 0x0003


class CredentialType(enum.IntEnum):
    """Registered MLS credential types (private-use ones are plain ints)."""

    BASIC = 0x0001
    X509 = 0x0002


class SignatureScheme(enum.IntEnum):
    """TLS SignatureScheme code points used by the supported ciphersuites."""

    ECDSA_SECP256R1_SHA256 = 0x0403
    ED25519 = 0x0807


__all__ = [
    "DEFAULT_CREDENTIAL_TYPES",
    "OPENMLS_VERSION",
    "ApplicationMessage",
    "Capabilities",
    "Ciphersuite",
    "CommitBundle",
    "Credential",
    "CredentialType",
    "ExternalJoin",
    "Group",
    "InactiveGroup",
    "InvalidCredential",
    "InvalidKeyPackage",
    "InvalidMessage",
    "InvalidSignature",
    "KeyPackage",
    "KnownIssuer",
    "LeafFacts",
    "LeafInfo",
    "Member",
    "MessageInfo",
    "MlsError",
    "NoMatchingKeyPackage",
    "PendingCommit",
    "ProposalMessage",
    "Provider",
    "PublicGroup",
    "SignatureKeyPair",
    "SignatureScheme",
    "StagedCommit",
    "StagedWelcome",
    "StorageError",
    "UnknownGroup",
    "WrongEpoch",
    "inspect_message",
    "p256_point_is_valid",
    "verify_es256",
    "verify_with_label",
]

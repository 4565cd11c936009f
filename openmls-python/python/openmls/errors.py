"""The binding's exception hierarchy (all derive from :class:`MlsError`)."""

from openmls._openmls import (
    InactiveGroup,
    InvalidCredential,
    InvalidKeyPackage,
    InvalidMessage,
    InvalidSignature,
    MlsError,
    NoMatchingKeyPackage,
    PendingCommit,
    StorageError,
    UnknownGroup,
    WrongEpoch,
)

__all__ = [
    "InactiveGroup",
    "InvalidCredential",
    "InvalidKeyPackage",
    "InvalidMessage",
    "InvalidSignature",
    "MlsError",
    "NoMatchingKeyPackage",
    "PendingCommit",
    "StorageError",
    "UnknownGroup",
    "WrongEpoch",
]

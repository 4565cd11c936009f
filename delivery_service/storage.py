"""The delivery service's durable state behind one small interface.

``Storage`` is what the service core needs; ``SQLiteStorage`` (delivery_service.
sqlite_storage) is the default implementation. Every method is synchronous and cheap;
the caller groups calls into ``transaction()`` blocks so that a batch of frames costs
one commit (see delivery_service.batching).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from shared.protocol import DeliveryKind


@dataclass(frozen=True, slots=True)
class Registration:
    """A TN's registered credential and signature key (PROFILE.md §10, issue §2)."""

    tn: str
    credential_type: int
    credential: bytes
    signature_scheme: int
    signature_key: bytes
    application_id: bytes | None
    registered_at: int  # Unix seconds


@dataclass(frozen=True, slots=True)
class PublishedKeyPackage:
    """A verified KeyPackage in the directory: its MLSMessage bytes, whether it is a
    last-resort one, and the end of its lifetime (Unix seconds; expired ones are never
    handed out)."""

    data: bytes
    last_resort: bool
    not_after: int


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """What the service keeps of a group: its epoch, the GroupInfo of that epoch (from
    which the public state is rebuilt after a restart) and its member TNs."""

    group_id: bytes
    epoch: int
    group_info: bytes
    members: frozenset[str]


class InvitationState(enum.Enum):
    """Whether an invitation still waits for the invitee's KeyPackage."""

    OPEN = "open"
    ANSWERED = "answered"


@dataclass(frozen=True, slots=True)
class Invitation:
    """An inviter's request for a group-bound KeyPackage of ``invitee`` (PROFILE.md §5.5)."""

    invitation_id: int
    inviter: str
    invitee: str
    group_id: bytes
    state: InvitationState


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message waiting in a mail box (the fields of a ``Deliver`` frame)."""

    mid: int
    kind: DeliveryKind
    sender: str
    data: bytes
    group_id: bytes | None
    epoch: int | None
    invitation_id: int | None


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store for ``recipients`` (its ``mid`` is assigned by the storage)."""

    kind: DeliveryKind
    sender: str
    data: bytes
    group_id: bytes | None = None
    epoch: int | None = None
    invitation_id: int | None = None


class Storage(Protocol):
    """The durable state of a delivery service.

    Methods raise nothing for "not found" (they return None/empty); anything they do
    raise is a storage failure. Writes outside ``transaction()`` are not allowed.
    """

    def transaction(self) -> AbstractContextManager[None]:
        """All writes inside commit together or not at all."""
        ...

    def savepoint(self) -> AbstractContextManager[None]:
        """Inside a transaction: writes of the block are undone if it raises, and the
        rest of the transaction goes on (one frame's refusal never undoes another's)."""
        ...

    def close(self) -> None:
        """Release the storage (a closed storage must not be used)."""
        ...

    def checkpoint(self) -> None:
        """Housekeeping that may block on the disk (an SQLite WAL checkpoint and its
        fsync); safe to call from a worker thread while the event loop keeps writing."""
        ...

    # registrations
    def get_registration(self, tn: str) -> Registration | None:
        """The registration of ``tn``, if any."""
        ...

    def put_registration(self, registration: Registration) -> None:
        """Insert or replace the registration of ``registration.tn``."""
        ...

    # KeyPackage directory
    def add_key_packages(self, tn: str, key_packages: Sequence[PublishedKeyPackage]) -> None:
        """Store verified KeyPackages for ``tn``."""
        ...

    def claim_key_package(self, tn: str, now: int) -> bytes | None:
        """Remove and return the oldest unexpired non-last-resort KeyPackage of ``tn``;
        if none, return (and keep) the newest unexpired last-resort one; None if there
        is nothing. Expired ones found on the way are deleted."""
        ...

    def count_key_packages(self, tn: str) -> int:
        """How many KeyPackages ``tn`` has in the directory."""
        ...

    # invitations
    def create_invitation(self, inviter: str, invitee: str, group_id: bytes) -> int:
        """Record an open invitation; returns its id."""
        ...

    def get_invitation(self, invitation_id: int) -> Invitation | None:
        """The invitation, if it exists."""
        ...

    def mark_invitation_answered(self, invitation_id: int) -> None:
        """The invitee answered; the invitation cannot be answered again."""
        ...

    # groups
    def get_group(self, group_id: bytes) -> GroupRecord | None:
        """The group's record, if the service follows it."""
        ...

    def put_group(self, record: GroupRecord) -> None:
        """Insert or replace the group's record (epoch, GroupInfo, member TNs)."""
        ...

    def group_ids(self) -> list[bytes]:
        """Every group the service follows."""
        ...

    # messages and mail boxes
    def enqueue(self, message: NewMessage, recipients: Iterable[str]) -> int:
        """Store ``message`` once and put it in each recipient's mail box; returns its mid."""
        ...

    def pending(self, tn: str, after_mid: int = 0, limit: int = 1000) -> list[StoredMessage]:
        """Messages in ``tn``'s mail box with mid > ``after_mid``, in mid order."""
        ...

    def ack(self, tn: str, mids: Iterable[int]) -> list[int]:
        """Remove these mids from ``tn``'s mail box; returns those that were not in it."""
        ...

    def mailbox_size(self, tn: str) -> int:
        """How many messages wait for ``tn``."""
        ...

    def stored_message_count(self) -> int:
        """How many message bodies are stored (for tests of garbage collection)."""
        ...


def iter_chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    """``items`` in slices of at most ``size`` (SQLite limits bound parameters)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]

"""Turn MLS group state plus accepted identities into the rows and codes people see."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from client.core.credential_checks import MemberVerdict
from client.core.events import MemberRow
from shared.identity_view import view_identity, view_rejection
from shared.safety_code import SafetyCode
from shared.stir.validator import Identity


def member_key(signature_key: bytes) -> str:
    """The opaque name of a member within an epoch: the hex of its signature key."""
    return signature_key.hex()


class RowLeaf(Protocol):
    """What a member row needs of a leaf (a binding ``Member`` has it)."""

    @property
    def index(self) -> int: ...
    @property
    def signature_key(self) -> bytes: ...


def member_rows(
    members: Sequence[RowLeaf],
    verdicts: Mapping[int, MemberVerdict],
    own_index: int,
) -> tuple[MemberRow, ...]:
    """One row per member, with its identity view or the reason it was not accepted."""
    rows = []
    for member in members:
        verdict = verdicts.get(member.index)
        identity = view_identity(verdict.identity) if verdict and verdict.identity else None
        rejection = None
        if verdict is not None and verdict.rejection is not None:
            r = verdict.rejection
            rejection = view_rejection(verdict.who, r.reason, r.rule, r.detail)
        rows.append(
            MemberRow(
                key=member_key(member.signature_key),
                leaf_index=member.index,
                identity=identity,
                rejection=rejection,
                is_self=member.index == own_index,
            )
        )
    return tuple(rows)


def sender_label(verdicts: Mapping[int, MemberVerdict], index: int) -> str:
    """How a chat line names its sender."""
    verdict = verdicts.get(index)
    if verdict is not None and verdict.identity is not None:
        return view_identity(verdict.identity).title
    if verdict is not None:
        return verdict.who
    return f"leaf {index}"


def identity_of(verdicts: Mapping[int, MemberVerdict]) -> dict[int, Identity]:
    """The accepted identities by leaf index."""
    return {i: v.identity for i, v in verdicts.items() if v.identity is not None}


def safety_code(group_id: bytes, epoch: int, authenticator: bytes) -> SafetyCode:
    """The PROFILE.md §8 code of an epoch."""
    return SafetyCode(group_id, epoch, authenticator)

"""Turn MLS group state plus accepted identities into the rows and codes people see."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from client.core.credential_checks import MemberVerdict
from client.core.events import MemberRow
from shared.identity_view import IdentityView, view_identity, view_rejection
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


class IdentityViews:
    """``view_identity`` remembered per Identity object.

    A member's Identity object outlives epochs (a client keeps a verdict for as long as
    the member's leaf does not change), and its view depends on nothing else: each
    member is rendered once, not once per message it sends (its sender label) and once
    per member list (profiled: rendering was ~2% of a scale run's delivery). Keyed by
    object, not by value (hashing an Identity costs about what rendering it does); the
    entry holds the object, so its id cannot be reused while the entry lives.
    """

    __slots__ = ("_views",)

    def __init__(self) -> None:
        self._views: dict[int, tuple[Identity, IdentityView]] = {}

    def view(self, identity: Identity) -> IdentityView:
        """The identity's view (rendered on first use)."""
        hit = self._views.get(id(identity))
        if hit is not None and hit[0] is identity:
            return hit[1]
        view = view_identity(identity)
        self._views[id(identity)] = (identity, view)
        return view

    def retain(self, identities: Iterable[Identity]) -> None:
        """Forget every view but those of ``identities`` (the members now)."""
        keep = {id(i) for i in identities}
        self._views = {k: v for k, v in self._views.items() if k in keep}

    def __len__(self) -> int:
        return len(self._views)


def member_rows(
    members: Sequence[RowLeaf],
    verdicts: Mapping[int, MemberVerdict],
    own_index: int,
    views: IdentityViews | None = None,
) -> tuple[MemberRow, ...]:
    """One row per member, with its identity view or the reason it was not accepted
    (views taken from ``views`` when given)."""
    render = views.view if views is not None else view_identity
    rows = []
    for member in members:
        verdict = verdicts.get(member.index)
        identity = render(verdict.identity) if verdict and verdict.identity else None
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


def sender_label(
    verdicts: Mapping[int, MemberVerdict], index: int, views: IdentityViews | None = None
) -> str:
    """How a chat line names its sender (its view taken from ``views`` when given)."""
    verdict = verdicts.get(index)
    if verdict is not None and verdict.identity is not None:
        if views is not None:
            return views.view(verdict.identity).title
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

"""Every credential checked at every entry point of PROFILE.md §6, before acceptance.

The client's entry points are:

* a KeyPackage, by the adder before it commits the Add (``check_key_package``);
* a Welcome: every member of the ratchet tree, before the joiner accepts
  (``check_tree``; the same for the tree of a GroupInfo before a resync by external
  commit);
* a Commit: every Add, every Update, the committer's update-path leaf, before merging
  (``check_commit``); a credential that changes in an Update keeps the same number.

Time rules are strict for credentials entering the group and lenient (``stale``) for
members already in the tree (§6). A rejection names the member as far as it can be
named without trusting the credential, the rule and the reason. Nothing here changes
any state: callers drop the staged object when a verdict rejects.

The binding's objects are read through small Protocols (credential type/content,
signature key, application_id), which the binding's LeafInfo, Member and KeyPackage
all satisfy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from cryptography import x509

from shared.identity_view import display_number, numbers_text
from shared.profile import (
    CREDENTIAL_TYPE_STIR_CERTIFICATE,
    CREDENTIAL_TYPE_STIR_PASSPORT,
)
from shared.stir.credential_codec import STIRCertificateCredential, STIRPASSporTCredential
from shared.stir.errors import CredentialRejected, StirError
from shared.stir.numbers import display
from shared.stir.passport import parse_passport_unverified
from shared.stir.tnauthlist import OneTN, tnauthlist_of
from shared.stir.trust import TrustStore
from shared.stir.validator import Identity, validate


class CredentialLike(Protocol):
    """An MLS credential: type and content bytes."""

    @property
    def credential_type(self) -> int: ...
    @property
    def content(self) -> bytes: ...


class LeafLike(Protocol):
    """A leaf node's identity parts (LeafInfo, Member, KeyPackage)."""

    @property
    def credential(self) -> CredentialLike: ...
    @property
    def signature_key(self) -> bytes: ...
    @property
    def application_id(self) -> bytes | None: ...


class IndexedLeaf(LeafLike, Protocol):
    """A leaf with its index in the tree (Member)."""

    @property
    def index(self) -> int: ...


@dataclass(frozen=True)
class CheckContext:
    """What every check needs: the trust store, the group, the clock."""

    trust: TrustStore
    group_id: bytes
    now: Callable[[], datetime]
    ciphersuite: int | None = None
    ds_id: str | None = None  # set: a registration credential (PASSporT dest mls:ds:<id>)


@dataclass(frozen=True)
class MemberVerdict:
    """The outcome for one leaf."""

    index: int | None
    who: str  # how to name the member without trusting the credential
    identity: Identity | None = None
    rejection: CredentialRejected | None = None

    @property
    def accepted(self) -> bool:
        """True when the credential validated."""
        return self.identity is not None


@dataclass(frozen=True)
class CommitVerdict:
    """All verdicts of one staged commit; accept only when ``rejections`` is empty."""

    adds: tuple[MemberVerdict, ...] = ()
    updates: tuple[MemberVerdict, ...] = ()
    path: MemberVerdict | None = None
    rejections: tuple[MemberVerdict, ...] = field(default=())

    @property
    def accepted(self) -> bool:
        """Whether the commit may be merged."""
        return not self.rejections


def claimed_name(leaf: LeafLike, index: int | None = None) -> str:
    """Name a member by what its credential *claims* (unverified), for messages only."""
    where = f"leaf {index}" if index is not None else "new member"
    claim: str | None = None
    try:
        cred = leaf.credential
        if cred.credential_type == CREDENTIAL_TYPE_STIR_PASSPORT:
            token = STIRPASSporTCredential.decode(cred.content).passport
            claim = parse_passport_unverified(token.decode("ascii")).orig_tn
        elif cred.credential_type == CREDENTIAL_TYPE_STIR_CERTIFICATE:
            chain = STIRCertificateCredential.decode(cred.content).certificates
            scope = tnauthlist_of(x509.load_der_x509_certificate(chain[0]))
            tns = [e.tn for e in (scope.entries if scope else ()) if isinstance(e, OneTN)]
            claim = tns[0] if tns else None
        if claim is None and leaf.application_id:
            claim = leaf.application_id.decode("ascii")
    except (StirError, ValueError, UnicodeDecodeError, IndexError):
        claim = None
    if claim is None:
        return where
    try:
        shown = display(claim)
    except StirError:
        shown = claim
    return f"{shown} ({where}, unverified claim)"


def check_leaf(
    leaf: LeafLike, ctx: CheckContext, *, strict_time: bool = True, index: int | None = None
) -> MemberVerdict:
    """Validate one leaf's credential for the context's group."""
    try:
        identity = validate(
            leaf.credential.credential_type,
            leaf.credential.content,
            leaf.signature_key,
            group_id=None if ctx.ds_id is not None else ctx.group_id,
            ds_id=ctx.ds_id,
            trust=ctx.trust,
            now=ctx.now(),
            strict_time=strict_time,
            application_id=leaf.application_id,
            ciphersuite=ctx.ciphersuite,
        )
    except CredentialRejected as exc:
        return MemberVerdict(index, claimed_name(leaf, index), rejection=exc)
    return MemberVerdict(index, verified_name(identity, index), identity=identity)


def verified_name(identity: Identity, index: int | None = None) -> str:
    """Name an accepted member by its validated number(s) (no second parse of the
    credential: naming by the claim cost a third of a check, profiled)."""
    where = f"leaf {index}" if index is not None else "new member"
    if identity.tns:
        shown = numbers_text(identity.tns)
    elif identity.claimed_tn:
        shown = f"{display_number(identity.claimed_tn)}, claimed via carrier"
    else:
        shown = "no number"
    return f"{shown} ({where})"


def check_key_package(key_package: LeafLike, ctx: CheckContext) -> MemberVerdict:
    """Before an Add: the invitee's KeyPackage, strictly (it enters the group)."""
    return check_leaf(key_package, ctx, strict_time=True)


def check_tree(members: Sequence[IndexedLeaf], ctx: CheckContext) -> list[MemberVerdict]:
    """Before joining (Welcome, or a resync's GroupInfo): every member of the tree.

    Members already in the group get the lenient time rule: an expired or old
    credential comes back as an Identity marked stale, shown, not a refusal (§6).
    """
    return [check_leaf(m, ctx, strict_time=False, index=m.index) for m in members]


def numbers_of(identity: Identity) -> tuple[str, ...]:
    """The numbers an identity speaks for (certified ones, else the carrier-claimed one)."""
    certified = tuple(
        str(t) if isinstance(t, str) else f"{t.start}x{t.count}" for t in identity.tns
    )
    if certified:
        return certified
    return (identity.claimed_tn,) if identity.claimed_tn else ()


class StagedCommitLike(Protocol):
    """The inspection side of the binding's StagedCommit."""

    @property
    def committer(self) -> int | None: ...
    @property
    def adds(self) -> Sequence[LeafLike]: ...
    @property
    def updates(self) -> Sequence[IndexedLeaf]: ...
    @property
    def path_leaf(self) -> LeafLike | None: ...


def _same_number(
    verdict: MemberVerdict, before: Identity | None, index: int | None
) -> MemberVerdict:
    if verdict.identity is None or before is None:
        return verdict
    if numbers_of(verdict.identity) != numbers_of(before):
        old = ", ".join(numbers_of(before)) or "none"
        new = ", ".join(numbers_of(verdict.identity)) or "none"
        return MemberVerdict(
            index,
            verdict.who,
            rejection=CredentialRejected(
                "tn-changed",
                "§6",
                f"an update must keep the member's number: was {old}, now {new}",
            ),
        )
    return verdict


def check_commit(
    staged: StagedCommitLike, members_before: Mapping[int, Identity], ctx: CheckContext
) -> CommitVerdict:
    """Before merging: every Add, every Update and the committer's path leaf (strict).

    ``members_before`` maps leaf index to the identity accepted for it so far; an
    Update or a path leaf whose number differs from it is rejected (§6).
    """
    adds = tuple(check_leaf(leaf, ctx) for leaf in staged.adds)
    updates = tuple(
        _same_number(check_leaf(u, ctx, index=u.index), members_before.get(u.index), u.index)
        for u in staged.updates
    )
    path: MemberVerdict | None = None
    if staged.path_leaf is not None:
        committer = staged.committer
        path = check_leaf(staged.path_leaf, ctx, index=committer)
        if committer is not None:
            path = _same_number(path, members_before.get(committer), committer)
    rejections = tuple(
        v for v in (*adds, *updates, *((path,) if path else ())) if v.rejection is not None
    )
    return CommitVerdict(adds, updates, path, rejections)

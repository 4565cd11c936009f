"""Commit sequencing: the service follows each group's public state and decides commits.

``CommitSequencer`` holds one ``openmls.PublicGroup`` per followed group (each in its
own in-memory provider, so groups are processed in parallel threads) and the TN of
every leaf. It is pure CPU work (no storage, no I/O): the server calls it from a worker
thread while holding the group's lock, and stores the outcome itself. The durable
truth is the stored GroupRecord: a public group missing from memory (after a restart,
or because a commit failed half way) is rebuilt from the record's GroupInfo.

Rules enforced (PROFILE.md §6, §7; docs/protocol.md §4):
- exactly one commit per epoch: the epoch is checked against the record by the caller
  under the group lock, and again here against the public state;
- the committer is a leaf of the session's TN; an external commit (resync) only by a
  TN that already is a member;
- every added, updated and path leaf's credential validates for the group, and an
  update or path leaf keeps its TN;
- the GroupInfo shipped with the commit is for the new epoch and has the same tree as
  the state the commit produces (so a resync from it joins the real group).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import openmls

from delivery_service.credentials import MemberIdentifier
from delivery_service.errors import Refused
from delivery_service.storage import GroupRecord
from shared.protocol import Commit, ErrorCode, Propose


@dataclass(slots=True)
class FollowedGroup:
    """The public state of one group and the TN of each leaf."""

    public: openmls.PublicGroup
    leaf_tns: dict[int, str]

    @property
    def member_tns(self) -> frozenset[str]:
        """The TNs with at least one leaf in the group."""
        return frozenset(self.leaf_tns.values())


@dataclass(frozen=True, slots=True)
class AcceptedCommit:
    """A verified commit, merged into a fresh copy of the public state (not yet stored)."""

    record: GroupRecord
    previous_members: frozenset[str]
    added_tns: tuple[str, ...]
    followed: FollowedGroup


LeafKey = tuple[int, bytes, bytes, bytes | None]
"""(credential type, credential content, signature key, application_id) of a leaf."""


def _leaf_key(leaf: openmls.LeafInfo) -> LeafKey:
    cred = leaf.credential
    return (cred.credential_type, cred.content, leaf.signature_key, leaf.application_id)


class CommitSequencer:
    """Follows groups' public state; verifies new groups and commits (CPU only)."""

    def __init__(
        self,
        identifier: MemberIdentifier,
        *,
        provider_factory: Callable[[], openmls.Provider] | None = None,
    ) -> None:
        self._identifier = identifier
        self._provider_factory = provider_factory or openmls.Provider
        self._groups: dict[bytes, FollowedGroup] = {}

    # --- state in memory ----------------------------------------------------------------

    def install(self, group_id: bytes, followed: FollowedGroup) -> None:
        """Keep ``followed`` as the group's current state (after its record is stored)."""
        self._groups[group_id] = followed

    def forget(self, group_id: bytes) -> None:
        """Drop the in-memory state; the next use rebuilds it from the stored record."""
        self._groups.pop(group_id, None)

    def is_loaded(self, group_id: bytes) -> bool:
        """Whether the group's public state is in memory."""
        return group_id in self._groups

    def _identify(self, group_id: bytes, leaf: openmls.LeafInfo, *, strict: bool) -> str:
        cred = leaf.credential
        return self._identifier.identify(
            cred.credential_type,
            cred.content,
            leaf.signature_key,
            group_id=group_id,
            application_id=leaf.application_id,
            strict_time=strict,
        )

    def _from_group_info(self, group_info: bytes, what: str) -> openmls.PublicGroup:
        try:
            return openmls.PublicGroup.from_group_info(self._provider_factory(), group_info)
        except openmls.MlsError as exc:
            raise Refused(ErrorCode.INVALID_MLS, f"{what}: {exc}") from None

    def _leaf_tns(
        self, public: openmls.PublicGroup, *, strict: bool, known: dict[LeafKey, str]
    ) -> dict[int, str]:
        out: dict[int, str] = {}
        for member in public.members:
            key = _leaf_key(member)
            tn = known.get(key)
            if tn is None:
                try:
                    tn = self._identify(public.group_id, member, strict=strict)
                except Refused as exc:
                    exc.detail = f"member at leaf {member.index}: {exc.detail}"
                    raise
            out[member.index] = tn
        return out

    def followed(self, record: GroupRecord) -> FollowedGroup:
        """The group's state in memory, rebuilt from ``record`` if needed."""
        current = self._groups.get(record.group_id)
        if current is not None and current.public.epoch == record.epoch:
            return current
        public = self._from_group_info(record.group_info, "stored GroupInfo")
        # Members already in the tree: time-only failures do not change who they are.
        followed = FollowedGroup(public, self._leaf_tns(public, strict=False, known={}))
        self._groups[record.group_id] = followed
        return followed

    # --- new groups ---------------------------------------------------------------------

    def verify_new_group(
        self, group_id: bytes, group_info: bytes, creator_tn: str
    ) -> tuple[GroupRecord, FollowedGroup]:
        """Check a group's first GroupInfo: verifies, every member validates, the creator
        is a member. Returns the record to store and the state to install."""
        public = self._from_group_info(group_info, "group_info")
        if public.group_id != group_id:
            raise Refused(ErrorCode.INVALID_MLS, "group_info is for another group id")
        leaf_tns = self._leaf_tns(public, strict=True, known={})
        followed = FollowedGroup(public, leaf_tns)
        if creator_tn not in followed.member_tns:
            raise Refused(ErrorCode.FORBIDDEN, f"{creator_tn} is not a member of the group")
        record = GroupRecord(group_id, public.epoch, group_info, followed.member_tns)
        return record, followed

    # --- commits ------------------------------------------------------------------------

    def verify_commit(self, record: GroupRecord, frame: Commit, sender_tn: str) -> AcceptedCommit:
        """Verify ``frame`` against the group at ``record`` and merge it into the public
        state taken out of the cache. On success the caller stores ``record`` and then
        ``install``s the result; on any failure the cache is left without the group, so
        the next use rebuilds it from the stored (old) record."""
        if frame.epoch != record.epoch:
            raise Refused(
                ErrorCode.STALE_EPOCH if frame.epoch < record.epoch else ErrorCode.FUTURE_EPOCH,
                f"the group is at epoch {record.epoch}, the commit is for epoch {frame.epoch}",
                current_epoch=record.epoch,
            )
        self._check_framing(frame)
        followed = self.followed(record)
        # From here the cached state may be mutated: take it out of the cache.
        self._groups.pop(record.group_id, None)
        public = followed.public
        try:
            staged = public.process_message(frame.commit)
        except openmls.MlsError as exc:
            # process_message validates without changing the state: keep it cached.
            self._groups[record.group_id] = followed
            raise Refused(ErrorCode.INVALID_MLS, f"commit: {exc}") from None
        if not isinstance(staged, openmls.StagedCommit):
            self._groups.pop(record.group_id, None)
            raise Refused(ErrorCode.INVALID_MLS, "commit frame does not carry a commit")
        added = self._check_commit(record, followed, staged, frame, sender_tn)
        self._groups[record.group_id] = followed  # unchanged so far: keep it cached
        # Verify the shipped GroupInfo before touching the followed state.
        shipped = self._from_group_info(frame.group_info, "group_info")
        if shipped.group_id != record.group_id or shipped.epoch != staged.new_epoch:
            raise Refused(
                ErrorCode.INVALID_MLS,
                f"group_info is for epoch {shipped.epoch}, the commit creates {staged.new_epoch}",
            )
        # Leaves the commit leaves unchanged keep their TN without a second validation.
        known = {_leaf_key(m): followed.leaf_tns[m.index] for m in public.members}
        self._groups.pop(record.group_id, None)
        try:
            public.merge_staged_commit(staged)
        except openmls.MlsError as exc:
            raise Refused(ErrorCode.INVALID_MLS, f"commit does not merge: {exc}") from None
        if public.export_ratchet_tree() != shipped.export_ratchet_tree():
            raise Refused(
                ErrorCode.INVALID_MLS, "group_info's ratchet tree is not the commit's result"
            )
        leaf_tns = self._leaf_tns(public, strict=True, known=known)
        merged = FollowedGroup(public, leaf_tns)
        new_record = GroupRecord(record.group_id, public.epoch, frame.group_info, merged.member_tns)
        return AcceptedCommit(new_record, record.members, added, merged)

    # --- proposals ----------------------------------------------------------------------

    def verify_proposal(self, record: GroupRecord, frame: Propose, sender_tn: str) -> None:
        """Verify a standalone proposal from a member of ``sender_tn`` and keep it in the
        public state (a later commit may include it by reference). Kept in memory only:
        after a restart a commit referring to it is refused, and the member proposes
        again (docs/protocol.md §4)."""
        if frame.epoch != record.epoch:
            raise Refused(
                ErrorCode.STALE_EPOCH if frame.epoch < record.epoch else ErrorCode.FUTURE_EPOCH,
                f"the group is at epoch {record.epoch}, the proposal is for {frame.epoch}",
                current_epoch=record.epoch,
            )
        try:
            info = openmls.inspect_message(frame.proposal)
        except openmls.MlsError as exc:
            raise Refused(ErrorCode.INVALID_MLS, f"proposal: {exc}") from None
        if info.wire_format != "public_message" or info.content_type != "proposal":
            raise Refused(ErrorCode.INVALID_MLS, "proposal must be a PublicMessage proposal")
        if info.group_id != frame.group_id or info.epoch != frame.epoch:
            raise Refused(ErrorCode.INVALID_MLS, "proposal's group id or epoch differs")
        if info.sender_type != "member" or info.sender_index is None:
            raise Refused(ErrorCode.FORBIDDEN, "only members' proposals are relayed")
        followed = self.followed(record)
        if followed.leaf_tns.get(info.sender_index) != sender_tn:
            raise Refused(
                ErrorCode.FORBIDDEN,
                f"the proposal's sender (leaf {info.sender_index}) is not {sender_tn}",
            )
        # Validate a new leaf before the public group stores the proposal.
        try:
            proposal = followed.public.process_message(frame.proposal)
        except openmls.MlsError as exc:
            raise Refused(ErrorCode.INVALID_MLS, f"proposal: {exc}") from None
        if isinstance(proposal, openmls.ProposalMessage) and proposal.leaf is not None:
            try:
                tn = self._identify(record.group_id, proposal.leaf, strict=True)
            except Refused:
                self.forget(record.group_id)  # drop the stored proposal with the state
                raise
            if proposal.kind == "update" and tn != sender_tn:
                self.forget(record.group_id)
                raise Refused(
                    ErrorCode.CREDENTIAL_REJECTED,
                    f"update proposal changes the number to {tn}",
                    reason="tn-changed",
                    rule="§6",
                )

    def _check_framing(self, frame: Commit) -> None:
        try:
            info = openmls.inspect_message(frame.commit)
        except openmls.MlsError as exc:
            raise Refused(ErrorCode.INVALID_MLS, f"commit: {exc}") from None
        if info.wire_format != "public_message" or info.content_type != "commit":
            raise Refused(
                ErrorCode.INVALID_MLS,
                f"commit must be a PublicMessage commit, got {info.wire_format}"
                f" {info.content_type}",
            )
        if info.group_id != frame.group_id or info.epoch != frame.epoch:
            raise Refused(
                ErrorCode.INVALID_MLS, "commit's group id or epoch differs from the frame's"
            )
        if frame.welcome is not None:
            try:
                welcome = openmls.inspect_message(frame.welcome)
            except openmls.MlsError as exc:
                raise Refused(ErrorCode.INVALID_MLS, f"welcome: {exc}") from None
            if welcome.wire_format != "welcome":
                raise Refused(ErrorCode.INVALID_MLS, "welcome is not an MLSMessage(Welcome)")

    def _check_commit(
        self,
        record: GroupRecord,
        followed: FollowedGroup,
        staged: openmls.StagedCommit,
        frame: Commit,
        sender_tn: str,
    ) -> tuple[str, ...]:
        gid = record.group_id
        if staged.is_external:
            joiner = staged.path_leaf
            if joiner is None:
                raise Refused(ErrorCode.INVALID_MLS, "external commit without a path leaf")
            tn = self._identify(gid, joiner, strict=True)
            if tn != sender_tn:
                raise Refused(
                    ErrorCode.FORBIDDEN, f"external commit joins as {tn}, session is {sender_tn}"
                )
            if sender_tn not in record.members:
                raise Refused(
                    ErrorCode.FORBIDDEN,
                    f"{sender_tn} is not a member: external commits are for resync only",
                )
        else:
            committer = staged.committer
            committer_tn = None if committer is None else followed.leaf_tns.get(committer)
            if committer_tn != sender_tn:
                raise Refused(
                    ErrorCode.FORBIDDEN,
                    f"the commit's committer (leaf {committer}) is not {sender_tn}",
                )
            if staged.path_leaf is not None:
                tn = self._identify(gid, staged.path_leaf, strict=True)
                if tn != sender_tn:
                    raise Refused(
                        ErrorCode.CREDENTIAL_REJECTED,
                        f"path leaf names {tn}, the committer is {sender_tn}",
                        reason="tn-changed",
                        rule="§6",
                    )
        for update in staged.updates:
            tn = self._identify(gid, update, strict=True)
            if tn != followed.leaf_tns.get(update.index):
                raise Refused(
                    ErrorCode.CREDENTIAL_REJECTED,
                    f"update of leaf {update.index} changes its number to {tn}",
                    reason="tn-changed",
                    rule="§6",
                )
        added = []
        for i, leaf in enumerate(staged.adds):
            try:
                added.append(self._identify(gid, leaf, strict=True))
            except Refused as exc:
                exc.detail = f"added member {i}: {exc.detail}"
                raise
        if added and frame.welcome is None:
            raise Refused(ErrorCode.INVALID_MLS, "the commit adds members but has no welcome")
        if not added and frame.welcome is not None:
            raise Refused(ErrorCode.INVALID_MLS, "a welcome without added members")
        return tuple(added)

"""The delivery service's request logic, without I/O: checks, storage writes, outcomes.

Each request is split by cost and by what it touches, so the trio server can put each
part where it belongs:

- ``verify_*``: CPU work on bytes (signatures, STIR validation, KeyPackage parsing);
  no storage, safe in a worker thread;
- everything else: reads/writes through ``Storage``, run on the event loop inside the
  write batcher's transaction (one savepoint per frame), returning an ``Outcome``: the
  reply for the sender and the messages stored for others (to push after the commit).

A refusal is a ``Refused`` exception raised before any write of that frame is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from delivery_service.credentials import MemberIdentifier
from delivery_service.errors import Refused
from delivery_service.limits import Limits
from delivery_service.mls_framing import (
    CONTENT_TYPE_APPLICATION,
    FramingError,
    private_header,
)
from delivery_service.sqlite_storage import now_seconds
from delivery_service.storage import (
    GroupRecord,
    Invitation,
    InvitationState,
    NewMessage,
    PublishedKeyPackage,
    Registration,
    Storage,
    StoredMessage,
)
from delivery_service.wire_frames import Delivery
from shared.profile import MAX_PAST_EPOCHS, PASSPORT_CIPHERSUITES
from shared.protocol import (
    DS_AUTH_LABEL,
    Ack,
    AnswerInvitation,
    Auth,
    ClaimKeyPackage,
    Commit,
    CommitAccepted,
    CreateGroup,
    Deliver,
    DeliveryKind,
    Error,
    ErrorCode,
    FetchGroupInfo,
    GroupCreated,
    GroupInfoReply,
    InvitationCreated,
    KeyPackageReply,
    Ok,
    Propose,
    PublishKeyPackages,
    RequestInvitation,
    SendMessage,
    Sent,
    ServerFrame,
    encode_delivery_item,
)
from shared.protocol.auth import SIGNATURE_SCHEME_ECDSA_P256_SHA256, SIGNATURE_SCHEME_ED25519

if TYPE_CHECKING:
    import openmls

    from delivery_service.sequencer import AcceptedCommit

LabelVerifier = Callable[[int, bytes, str, bytes, bytes], None]
"""(signature_scheme, public_key, label, content, signature) -> None, raising on failure."""

SUPPORTED_SCHEMES = frozenset({SIGNATURE_SCHEME_ECDSA_P256_SHA256, SIGNATURE_SCHEME_ED25519})


@dataclass(frozen=True, slots=True)
class Push:
    """A stored message and who must get it: ``delivery`` is its encoded delivery item,
    encoded once (JSON, and WebSocket framing when first needed) for every recipient."""

    mid: int
    recipients: frozenset[str]
    delivery: Delivery


@dataclass(slots=True)
class Outcome:
    """What one request produced: the reply to the sender and the messages to push."""

    reply: ServerFrame | None  # None: nothing to answer (a quiet ack)
    pushes: list[Push] = field(default_factory=list)


def deliver_frame(message: StoredMessage) -> Deliver:
    """The ``Deliver`` frame of a stored message."""
    return Deliver(
        mid=message.mid,
        kind=message.kind,
        sender=message.sender,
        data=message.data,
        group_id=message.group_id,
        epoch=message.epoch,
        invitation_id=message.invitation_id,
    )


def _verify_with_openmls(
    scheme: int, public_key: bytes, label: str, content: bytes, signature: bytes
) -> None:
    import openmls  # the binding is needed only once a client authenticates

    openmls.verify_with_label(scheme, public_key, label, content, signature)


class DeliveryCore:
    """Request logic of one delivery service (``ds_id``) over a ``Storage``."""

    def __init__(
        self,
        ds_id: str,
        storage: Storage,
        identifier: MemberIdentifier,
        *,
        limits: Limits | None = None,
        verify_label: LabelVerifier = _verify_with_openmls,
        provider: openmls.Provider | None = None,
    ) -> None:
        self.ds_id = ds_id
        self.storage = storage
        self.identifier = identifier
        self.limits = limits or Limits()
        self._verify_label = verify_label
        self._provider = provider

    def _parsing_provider(self) -> openmls.Provider:
        # KeyPackage parsing needs a provider for its crypto only; one is enough.
        import openmls

        if self._provider is None:
            self._provider = openmls.Provider()
        return self._provider

    # --- authentication (CPU part: worker thread) ---------------------------------------

    def verify_auth(
        self, frame: Auth, content: bytes, existing: Registration | None
    ) -> Registration:
        """Check an ``Auth`` against the signed ``content`` (from the session); returns
        the registration to store (the new one, or ``existing``)."""
        import openmls

        if frame.signature_scheme not in SUPPORTED_SCHEMES:
            raise Refused(
                ErrorCode.AUTH_FAILED, f"unsupported signature scheme {frame.signature_scheme:#06x}"
            )
        if frame.credential is not None or frame.credential_type is not None:
            if frame.credential is None or frame.credential_type is None:
                raise Refused(
                    ErrorCode.MALFORMED_FRAME,
                    "auth: credential_type and credential come together",
                )
            tn = self.identifier.identify(
                frame.credential_type,
                frame.credential,
                frame.signature_key,
                group_id=None,
                ds_id=self.ds_id,
                application_id=frame.application_id,
            )
            if tn != frame.tn:
                raise Refused(ErrorCode.AUTH_FAILED, f"the credential is for {tn}, not {frame.tn}")
            registration = Registration(
                tn=frame.tn,
                credential_type=frame.credential_type,
                credential=frame.credential,
                signature_scheme=frame.signature_scheme,
                signature_key=frame.signature_key,
                application_id=frame.application_id,
                registered_at=now_seconds(),
            )
        else:
            if existing is None:
                raise Refused(
                    ErrorCode.UNKNOWN_TN, f"{frame.tn} is not registered: send a credential"
                )
            if (
                existing.signature_key != frame.signature_key
                or existing.signature_scheme != frame.signature_scheme
            ):
                raise Refused(
                    ErrorCode.AUTH_FAILED, f"not the signature key registered for {frame.tn}"
                )
            # The stored credential must still be valid (a PASSporT ages out).
            self.identifier.identify(
                existing.credential_type,
                existing.credential,
                existing.signature_key,
                group_id=None,
                ds_id=self.ds_id,
                application_id=existing.application_id,
            )
            registration = existing
        try:
            self._verify_label(
                frame.signature_scheme, frame.signature_key, DS_AUTH_LABEL, content, frame.signature
            )
        except openmls.MlsError:
            raise Refused(ErrorCode.AUTH_FAILED, "the auth signature does not verify") from None
        return registration

    def store_registration(self, registration: Registration, re: int) -> Outcome:
        """Write a (new) registration (the session answers ``registered`` itself)."""
        self.storage.put_registration(registration)
        return Outcome(Ok(re=re))

    # --- KeyPackages --------------------------------------------------------------------

    def verify_key_packages(
        self, tn: str, key_packages: Iterable[bytes], *, group_id: bytes | None = None
    ) -> list[PublishedKeyPackage]:
        """Parse and validate KeyPackages published by ``tn`` (CPU part): each must
        verify, use an allowed ciphersuite, and carry a credential proving ``tn``
        (for ``group_id``'s group when given: the invitation flow)."""
        import openmls

        out = []
        for i, data in enumerate(key_packages):
            what = f"key package {i}"
            try:
                kp = openmls.KeyPackage.parse(self._parsing_provider(), data)
            except openmls.MlsError as exc:
                raise Refused(ErrorCode.INVALID_MLS, f"{what}: {exc}") from None
            if kp.ciphersuite not in PASSPORT_CIPHERSUITES:
                raise Refused(
                    ErrorCode.INVALID_MLS, f"{what}: ciphersuite {kp.ciphersuite:#06x} not allowed"
                )
            cred = kp.credential
            try:
                kp_tn = self.identifier.identify(
                    cred.credential_type,
                    cred.content,
                    kp.signature_key,
                    group_id=group_id,
                    application_id=kp.application_id,
                )
            except Refused as exc:
                exc.detail = f"{what}: {exc.detail}"
                raise
            if kp_tn != tn:
                raise Refused(ErrorCode.FORBIDDEN, f"{what} is for {kp_tn}, not {tn}")
            out.append(PublishedKeyPackage(kp.to_bytes(), kp.last_resort, kp.lifetime[1]))
        return out

    def publish(
        self, tn: str, frame: PublishKeyPackages, verified: list[PublishedKeyPackage]
    ) -> Outcome:
        """Store verified KeyPackages of ``tn``."""
        self.storage.add_key_packages(tn, verified)
        return Outcome(Ok(re=frame.id))

    def claim(self, frame: ClaimKeyPackage) -> Outcome:
        """Hand out one KeyPackage of ``frame.tn``."""
        data = self.storage.claim_key_package(frame.tn, now_seconds())
        if data is None:
            if self.storage.get_registration(frame.tn) is None:
                raise Refused(ErrorCode.UNKNOWN_TN, f"{frame.tn} is not registered here")
            raise Refused(ErrorCode.NO_KEY_PACKAGE, f"{frame.tn} has no KeyPackage to claim")
        return Outcome(KeyPackageReply(re=frame.id, tn=frame.tn, key_package=data))

    # --- invitations --------------------------------------------------------------------

    def _member_group(self, tn: str, group_id: bytes) -> GroupRecord:
        record = self.storage.get_group(group_id)
        if record is None:
            raise Refused(ErrorCode.UNKNOWN_GROUP, "no such group on this service")
        if tn not in record.members:
            raise Refused(ErrorCode.FORBIDDEN, f"{tn} is not a member of the group")
        return record

    def _store(self, message: NewMessage, recipients: Iterable[str]) -> Push:
        rcpt = frozenset(recipients)
        mid = self.storage.enqueue(message, rcpt)
        item = encode_delivery_item(
            Deliver(
                mid=mid,
                kind=message.kind,
                sender=message.sender,
                data=message.data,
                group_id=message.group_id,
                epoch=message.epoch,
                invitation_id=message.invitation_id,
            )
        )
        return Push(mid, rcpt, Delivery(item))

    def request_invitation(self, tn: str, frame: RequestInvitation) -> Outcome:
        """Queue an invitation (a request for a group-bound KeyPackage) to ``frame.tn``."""
        self._member_group(tn, frame.group_id)
        if self.storage.get_registration(frame.tn) is None:
            raise Refused(ErrorCode.UNKNOWN_TN, f"{frame.tn} is not registered here")
        invitation_id = self.storage.create_invitation(tn, frame.tn, frame.group_id)
        push = self._store(
            NewMessage(
                DeliveryKind.INVITATION,
                sender=tn,
                data=b"",
                group_id=frame.group_id,
                invitation_id=invitation_id,
            ),
            [frame.tn],
        )
        return Outcome(InvitationCreated(re=frame.id, invitation_id=invitation_id), [push])

    def open_invitation(self, tn: str, invitation_id: int) -> Invitation:
        """The open invitation ``invitation_id`` addressed to ``tn`` (read-only check)."""
        invitation = self.storage.get_invitation(invitation_id)
        if invitation is None or invitation.state is not InvitationState.OPEN:
            raise Refused(ErrorCode.UNKNOWN_INVITATION, f"no open invitation {invitation_id}")
        if invitation.invitee != tn:
            raise Refused(ErrorCode.FORBIDDEN, f"invitation {invitation_id} is not for {tn}")
        return invitation

    def answer_invitation(
        self, tn: str, frame: AnswerInvitation, verified: list[PublishedKeyPackage]
    ) -> Outcome:
        """Hand the invitee's verified group-bound KeyPackage to the inviter."""
        invitation = self.open_invitation(tn, frame.invitation_id)  # again, in the transaction
        self.storage.mark_invitation_answered(invitation.invitation_id)
        push = self._store(
            NewMessage(
                DeliveryKind.KEY_PACKAGE,
                sender=tn,
                data=verified[0].data,
                group_id=invitation.group_id,
                invitation_id=invitation.invitation_id,
            ),
            [invitation.inviter],
        )
        return Outcome(Ok(re=frame.id), [push])

    # --- groups -------------------------------------------------------------------------

    def check_new_group(self, frame: CreateGroup) -> None:
        """Refuse a ``create_group`` for a group the service already follows."""
        if self.storage.get_group(frame.group_id) is not None:
            raise Refused(ErrorCode.GROUP_EXISTS, "a group with this id exists")

    def store_new_group(self, frame: CreateGroup, record: GroupRecord) -> Outcome:
        """Store a verified new group."""
        self.check_new_group(frame)
        self.storage.put_group(record)
        return Outcome(GroupCreated(re=frame.id, group_id=record.group_id, epoch=record.epoch))

    def group_record(self, tn: str, group_id: bytes) -> GroupRecord:
        """The record of a group ``tn`` may commit to (members; or any TN for the
        external-commit check, which the sequencer makes)."""
        record = self.storage.get_group(group_id)
        if record is None:
            raise Refused(ErrorCode.UNKNOWN_GROUP, "no such group on this service")
        return record

    def store_commit(self, tn: str, frame: Commit, accepted: AcceptedCommit) -> Outcome:
        """Store the winning commit: new record, the commit to the other members of the
        old epoch, the Welcome to the added TNs."""
        current = self.storage.get_group(frame.group_id)
        if current is None or current.epoch != frame.epoch:
            # Cannot happen under the group lock; kept so a bug can never fork a group.
            epoch = None if current is None else current.epoch
            raise Refused(ErrorCode.STALE_EPOCH, "the group moved on", current_epoch=epoch)
        self.storage.put_group(accepted.record)
        pushes = []
        others = accepted.previous_members - {tn}
        if others:
            pushes.append(
                self._store(
                    NewMessage(
                        DeliveryKind.COMMIT,
                        sender=tn,
                        data=frame.commit,
                        group_id=frame.group_id,
                        epoch=frame.epoch,
                    ),
                    others,
                )
            )
        if frame.welcome is not None and accepted.added_tns:
            pushes.append(
                self._store(
                    NewMessage(
                        DeliveryKind.WELCOME,
                        sender=tn,
                        data=frame.welcome,
                        group_id=frame.group_id,
                        epoch=accepted.record.epoch,
                    ),
                    accepted.added_tns,
                )
            )
        reply = CommitAccepted(re=frame.id, group_id=frame.group_id, epoch=accepted.record.epoch)
        return Outcome(reply, pushes)

    def store_proposal(self, tn: str, frame: Propose) -> Outcome:
        """Relay a verified proposal to the other members (if the epoch still holds)."""
        record = self._member_group(tn, frame.group_id)
        if record.epoch != frame.epoch:
            raise Refused(ErrorCode.STALE_EPOCH, "the group moved on", current_epoch=record.epoch)
        push = self._store(
            NewMessage(
                DeliveryKind.PROPOSAL,
                sender=tn,
                data=frame.proposal,
                group_id=frame.group_id,
                epoch=frame.epoch,
            ),
            record.members - {tn},
        )
        return Outcome(Sent(re=frame.id, mid=push.mid), [push])

    def fetch_group_info(self, tn: str, frame: FetchGroupInfo) -> Outcome:
        """The kept GroupInfo, for members (resync)."""
        record = self._member_group(tn, frame.group_id)
        return Outcome(
            GroupInfoReply(
                re=frame.id,
                group_id=record.group_id,
                epoch=record.epoch,
                group_info=record.group_info,
            )
        )

    # --- application messages and acknowledgements --------------------------------------

    def send(self, tn: str, frame: SendMessage) -> Outcome:
        """Store an application message for the other members of the group."""
        try:
            header = private_header(frame.message)
        except FramingError as exc:
            raise Refused(ErrorCode.INVALID_MLS, f"message: {exc}") from None
        if header.group_id != frame.group_id:
            raise Refused(ErrorCode.INVALID_MLS, "message is for another group than the frame's")
        if header.content_type != CONTENT_TYPE_APPLICATION:
            raise Refused(
                ErrorCode.INVALID_MLS,
                "only application messages travel as PrivateMessage (PROFILE.md §7)",
            )
        record = self._member_group(tn, frame.group_id)
        if header.epoch < record.epoch - MAX_PAST_EPOCHS:
            raise Refused(
                ErrorCode.EPOCH_TOO_OLD,
                f"epoch {header.epoch} is more than {MAX_PAST_EPOCHS} epochs old; dropped",
                current_epoch=record.epoch,
            )
        if header.epoch > record.epoch:
            raise Refused(
                ErrorCode.FUTURE_EPOCH,
                f"the group is at epoch {record.epoch}, the message at {header.epoch}",
                current_epoch=record.epoch,
            )
        push = self._store(
            NewMessage(
                DeliveryKind.APPLICATION,
                sender=tn,
                data=frame.message,
                group_id=frame.group_id,
                epoch=header.epoch,
            ),
            record.members - {tn},
        )
        return Outcome(Sent(re=frame.id, mid=push.mid), [push])

    def ack(self, tn: str, frame: Ack) -> Outcome:
        """Remove acknowledged messages from ``tn``'s mail box."""
        if len(frame.mids) > self.limits.max_acks_per_frame:
            raise Refused(
                ErrorCode.MALFORMED_FRAME,
                f"ack: at most {self.limits.max_acks_per_frame} mids per frame",
            )
        unknown = self.storage.ack(tn, frame.mids)
        if unknown:
            # The known ones are removed anyway: acknowledging twice is harmless.
            return Outcome(
                Error(
                    re=frame.id,
                    code=ErrorCode.UNKNOWN_MESSAGE,
                    detail=f"{len(unknown)} acknowledged mid(s) are not in this mail box",
                    mids=tuple(unknown),
                )
            )
        return Outcome(None if frame.quiet else Ok(re=frame.id))

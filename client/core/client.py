"""The client core: one member's groups, history and delivery-service session (trio).

``ChatClient.run(commands)`` is the whole client: it loads the profile's state, keeps a
session with the delivery service (reconnecting with back-off), applies deliveries and
user commands to the MLS state through the binding, and reports everything as
``client.core.events`` values through ``emit``. The protocol decisions are in the
sans-I/O ``ClientSession``; the credential decisions in ``credential_checks``; this
module only sequences them.

Concurrency: one task reads deliveries, one runs commands; both change MLS state only
under ``self._mls`` (a trio lock), so a commit's round trip (send, wait for the
service's verdict, merge or clear) is atomic with respect to incoming commits. When the
service answers ``stale_epoch``, the pending commit is cleared, the lock released so the
winning commit can be applied, and the operation is retried at the new epoch.

Heavy binding calls and SQLite run in worker threads (``trio.to_thread``), except a few
application messages at a time, applied in the event loop's thread (a hop costs as much
as applying one).
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import os
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import openmls
import trio

from client.core.backoff import Backoff
from client.core.chat_payload import PayloadError, Text, Title, decode_payload, encode_payload
from client.core.connection import (
    DeliveryConnection,
    FrameLink,
    HandshakeFailed,
    LinkClosed,
    PendingRequest,
    RequestRefused,
    open_websocket_link,
)
from client.core.credential_checks import (
    CheckContext,
    IndexedLeaf,
    LeafLike,
    MemberVerdict,
    check_commit,
    check_key_package,
    check_leaf,
    check_tree,
    numbers_of,
)
from client.core.events import (
    AnswerInvitation,
    ChatLine,
    CodeMismatch,
    Command,
    ConnectionChanged,
    ConnectionState,
    CoreEvent,
    CreateGroup,
    CredentialVerdict,
    EpochChanged,
    GroupsChanged,
    GroupSummary,
    HistoryLoaded,
    Invitation,
    InvitationClosed,
    InvitationReceived,
    InviteNumber,
    LeaveGroup,
    MarkCode,
    MembersChanged,
    MessageReceived,
    Notice,
    NoticeLevel,
    OpenGroup,
    RemoveMember,
    SelfIdentity,
    SendText,
    Shutdown,
    UpdateKeys,
)
from client.core.failures import describe
from client.core.group_view import (
    IdentityViews,
    identity_of,
    member_key,
    member_rows,
    safety_code,
    sender_label,
)
from client.core.history import ChatHistory
from client.core.profile import ClientProfile
from client.core.session import ClientSession, Registration
from shared.identity_view import view_identity, view_rejection
from shared.profile import (
    CREDENTIAL_TYPE_STIR_PASSPORT,
    DEFAULT_CIPHERSUITE,
    DS_AUTH_LABEL,
    MAX_PAST_EPOCHS,
    PASSPORT_MAX_AGE,
    ds_dest_uri,
    group_dest_uri,
)
from shared.protocol import (
    PASSPORT_REQUEST_LABEL,
    Commit,
    Deliver,
    DeliveryKind,
    ErrorCode,
    FetchGroupInfo,
    GroupInfoReply,
    InvitationCreated,
    PassportIssued,
    Ping,
    Propose,
    RequestInvitation,
    RequestPassport,
    SendMessage,
)
from shared.protocol import (
    AnswerInvitation as AnswerInvitationFrame,
)
from shared.protocol import (
    CreateGroup as CreateGroupFrame,
)
from shared.stir.credential_codec import STIRPASSporTCredential
from shared.stir.errors import CredentialRejected, StirError
from shared.stir.numbers import display
from shared.stir.passport import parse_passport_unverified
from shared.stir.trust import TrustStore, load_trust_store

T = TypeVar("T")

COMMIT_ATTEMPTS = 5
EPOCH_WAIT = 10.0  # seconds to wait for the winning commit after a stale-epoch answer
KEEPALIVE = 60.0  # seconds between pings (the service closes idle sessions after 300 s)
DELIVERY_BATCH = 256  # deliveries handled (and stored) together at most
SEND_WINDOW = 64  # messages sent and not yet answered by the service, at most
# A worker-thread hop costs about what decrypting and storing one message does
# (profiled, N = 100, K = 100: delivery 31 s with a hop per message, 20 s without): a
# few messages are applied in the event loop's thread, a burst in a worker thread.
INLINE_DECRYPT = 4
# Answers to invitations sent together arrive back to back: the adder commits once every
# invitation it sent is answered and checked, so N invitees join in one commit, not N;
# while some are unanswered, once none is being checked and none came for this long,
# plus ADD_GATHER_PER_AWAITED per answer still awaited (capped): on a busy machine a large
# batch of answers arrives with gaps, and each early commit makes every member validate
# the tree again (a 300-member run made 36 commits with a fixed 0.2 s).
ADD_GATHER_QUIET = 0.2
ADD_GATHER_PER_AWAITED = 0.005
ADD_GATHER_QUIET_MAX = 2.0
# Invitation requests in flight at once when several are queued together (_invite_many):
# below the service's frame burst (400), like the send window.
INVITE_WINDOW = 64
PROPOSAL_PATIENCE = 5.0  # seconds a member waits for the designated committer of a proposal
# Joins from a Welcome in progress at once, per process (trio run). A staged Welcome
# holds the whole ratchet tree and each step is a worker-thread hop: without a bound,
# every client in a process (the scale benchmark runs 999 joiners in one) staged its
# Welcome before any finished, and memory grew with N x the tree (14 GB at N = 1000).
# One client per process never waits on it.
JOINS_AT_ONCE = 2
_joins: trio.lowlevel.RunVar[trio.CapacityLimiter] = trio.lowlevel.RunVar("stirmls_joins")


def add_gather_quiet(awaited: int) -> float:
    """How long the adder waits for the next invitation answer before committing those
    it has: longer while many are still awaited."""
    return min(ADD_GATHER_QUIET_MAX, ADD_GATHER_QUIET + ADD_GATHER_PER_AWAITED * awaited)


def _join_limiter() -> trio.CapacityLimiter:
    """The process's (this trio run's) bound on joins in progress."""
    try:
        return _joins.get()
    except LookupError:
        limiter = trio.CapacityLimiter(JOINS_AT_ONCE)
        _joins.set(limiter)
        return limiter


LinkFactory = Callable[[], AbstractAsyncContextManager[FrameLink]]


def _now() -> datetime:
    return datetime.now(UTC)


def _short_id(group_id: bytes) -> str:
    return base64.urlsafe_b64encode(group_id).rstrip(b"=").decode("ascii")[:8]


@dataclass(frozen=True)
class OwnLeaf:
    """This member's credential and key, shaped like a leaf for the checks."""

    credential: openmls.Credential
    signature_key: bytes
    application_id: bytes | None


def _invitation_key(invitation_id: int) -> str:
    return f"sent-invitation:{invitation_id}"


def _invitation_request(tn: str, group_id: bytes) -> Callable[[int], RequestInvitation]:
    return lambda request_id: RequestInvitation(request_id, tn, group_id)


def _leaf_key(member: LeafLike) -> bytes:
    """A digest of what a verdict depends on (credential, key, application_id): kept per
    member per client, so 32 bytes rather than the credential's chain (~2 KB)."""
    h = hashlib.sha256()
    for part in (
        member.credential.credential_type.to_bytes(2, "big"),
        member.credential.content,
        member.signature_key,
        member.application_id,
    ):
        if part is None:
            h.update(b"\xff")
        else:
            h.update(len(part).to_bytes(4, "big") + part)
    return h.digest()


@dataclass(frozen=True, slots=True)
class RosterLeaf:
    """What a client keeps of one member between refreshes: the binding's ``Member``
    carries the whole leaf (its certificate chain); a 1,000-member group held one per
    member in every client."""

    index: int
    signature_key: bytes
    key: bytes  # _leaf_key of the leaf

    @classmethod
    def of(cls, member: IndexedLeaf) -> RosterLeaf:
        """The record of a binding ``Member``."""
        return cls(member.index, member.signature_key, _leaf_key(member))


@dataclass
class _Applied:
    """What a run of application messages produced (made in a worker thread)."""

    lines: list[ChatLine] = field(default_factory=list)  # stored, to show
    notices: list[tuple[str, NoticeLevel]] = field(default_factory=list)
    titled: bool = False  # a group was renamed


class CommitFailed(Exception):
    """A commit could not be placed (refused, or lost the race too often)."""


@dataclass
class GroupSlot:
    """One group's live state in memory."""

    group: openmls.Group
    verdicts: dict[int, MemberVerdict] = field(default_factory=dict)
    checked: list[tuple[RosterLeaf, MemberVerdict]] = field(default_factory=list)
    # Verdicts of leaves this client checked before they entered the tree (a KeyPackage
    # it adds, a commit's Adds): the next refresh uses them instead of checking again.
    prechecked: dict[bytes, MemberVerdict] = field(default_factory=dict)
    pending_adds: list[openmls.KeyPackage] = field(default_factory=list)
    adding: bool = False
    checking: int = 0  # KeyPackage answers being checked right now
    # Invitations sent (this session) and not answered yet; set on every change of the
    # answers: the adder commits once all have come (or none came for ADD_GATHER_QUIET).
    awaiting: set[int] = field(default_factory=set)
    answers_moved: trio.Event = field(default_factory=trio.Event)
    epoch_moved: trio.Event = field(default_factory=trio.Event)
    # Members' identity views, rendered once per member rather than per message.
    views: IdentityViews = field(default_factory=IdentityViews)

    def label(self, index: int) -> str:
        """How a line names the member at ``index`` (its current verdict)."""
        return sender_label(self.verdicts, index, self.views)


class ChatClient:
    """One member's client core."""

    def __init__(
        self,
        profile: ClientProfile,
        emit: Callable[[CoreEvent], None],
        *,
        link_factory: LinkFactory | None = None,
        clock: Callable[[], datetime] = _now,
        backoff: Backoff | None = None,
        renew_check: float = 60.0,
        proposal_patience: float = PROPOSAL_PATIENCE,
        release_storage: bool = True,
    ) -> None:
        """``renew_check``: seconds between checks of PASSporT age (renewal at max_age/2);
        ``proposal_patience``: how long a member that is not the designated committer of
        a proposal waits before committing it itself; ``release_storage``: let go of
        the binding's storage when ``run`` ends, which closes its SQLite file (see
        ``_close``). A process that exits right after its clients stop (a scenario
        worker) passes False and keeps the client object: the file is then left as a
        crash leaves it, every change committed to its write-ahead log, which SQLite
        reads back on the next open."""
        self.profile = profile
        self._release_storage = release_storage
        self._proposal_patience = proposal_patience
        self._renew_check = renew_check
        self._emit = emit
        self._link_factory = link_factory or (lambda: open_websocket_link(profile.ds_url))
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._mls = trio.Lock()
        self.slots: dict[bytes, GroupSlot] = {}
        self.conn: DeliveryConnection | None = None
        self._invitations: dict[str, Deliver] = {}  # received, waiting for the user
        self._connected = trio.Event()
        self._resync_needed: set[bytes] = set()
        self._leaving: set[bytes] = set()  # groups we asked to leave
        # Set while a batch of invitations is being recorded (_invite_many).
        self._invitations_stored: trio.Event | None = None
        self._nursery: trio.Nursery | None = None  # for commits that deliveries ask for
        self._send_window = trio.Semaphore(SEND_WINDOW)  # messages awaiting the service
        self._last_send = trio.Event()  # set when the newest message in flight is done
        self._last_send.set()
        # Opened in run(): the binding's storage, the signer, the history.
        self.provider: openmls.Provider
        self.signer: openmls.SignatureKeyPair
        self.credential: openmls.Credential | None = None  # certificate kinds only
        self.history: ChatHistory
        self.trust: TrustStore

    # ------------------------------------------------------------------ helpers

    def emit(self, event: CoreEvent) -> None:
        """Hand an event to the UI (or the test)."""
        self._emit(event)

    def notice(self, text: str, level: NoticeLevel = NoticeLevel.INFO) -> None:
        """Tell the user something."""
        self.emit(Notice(text, level))

    async def _thread(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await trio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    def _mls_nowait(self) -> bool:
        """Take the MLS lock if it is free (no one holds or waits for it)."""
        try:
            self._mls.acquire_nowait()
        except trio.WouldBlock:
            return False
        return True

    def _ctx(self, group_id: bytes) -> CheckContext:
        return CheckContext(self.trust, group_id, self._clock)

    # ------------------------------------------------------------------ start

    def _open(self) -> None:
        """Open the profile's state (blocking; run in a thread)."""
        self.provider = openmls.Provider(str(self.profile.mls_path))
        self.signer = openmls.SignatureKeyPair.from_p256_private_key(self.profile.private_key_der)
        self.signer.store(self.provider)
        if not self.profile.is_passport:
            self.credential = openmls.Credential(
                self.profile.credential_type, self.profile.credential_content
            )
        self.history = ChatHistory(self.profile.history_path)
        self.trust = load_trust_store(self.profile.trust_dir)
        for record in self.history.groups():
            if not record.active:
                continue
            try:
                group = openmls.Group.load(self.provider, record.group_id)
            except openmls.MlsError:
                # History says we are a member but the MLS state is gone: rejoin by
                # external commit once connected (PROFILE §7 resync).
                self._resync_needed.add(record.group_id)
                continue
            if group.is_active:
                self.slots[record.group_id] = GroupSlot(group)

    async def _self_identity(
        self, credential: openmls.Credential | None = None, ds_id: str | None = None
    ) -> None:
        credential = credential or self.credential
        if credential is None:
            return  # a PASSporT member learns who it is when it registers
        ctx = CheckContext(self.trust, b"", self._clock, ds_id=ds_id)
        own = OwnLeaf(credential, self.signer.public_key, self.profile.application_id)
        verdict = await self._thread(check_leaf, own, ctx)
        if verdict.identity is not None:
            self.emit(SelfIdentity(view_identity(verdict.identity)))
        elif verdict.rejection is not None:
            r = verdict.rejection
            self.notice(f"your own credential fails: {r.detail} [{r.reason}]", NoticeLevel.ERROR)

    async def run(self, commands: trio.MemoryReceiveChannel[Command]) -> None:
        """Run until a Shutdown command (or cancellation)."""
        await self._thread(self._open)
        try:
            await self._self_identity()
            for group_id, slot in list(self.slots.items()):
                await self._refresh_members(group_id, slot)
            self._groups_changed()
            first = next(iter(self.slots), None)
            if first is not None:
                await self._open_group(first)
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._connection_loop)
                if self.profile.is_passport:
                    nursery.start_soon(self._renewal_loop)
                await self._command_loop(commands)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._thread(self._close)

    def _close(self) -> None:
        """Close the history and let go of the MLS state (blocking; run in a worker
        thread). The binding closes its SQLite file when the last reference to it goes
        (a WAL checkpoint and its syncs, 20-50 ms): left to the garbage of a finished
        ``run``, that happened in the event loop's thread, and the clients of a process
        stopping together waited for each other's (3 s for 150 clients in a worker).
        Nothing is lost either way: every change was committed when it was made. The
        close copies the write-ahead log into the database (a checkpoint): after a scale
        run's 100 messages that is ~7 MB per client, which is why a process about to
        exit may keep the storage open (``release_storage``)."""
        history = getattr(self, "history", None)
        if history is not None:
            history.close()
        if self._release_storage:
            self.slots.clear()
            self.__dict__.pop("provider", None)

    # ------------------------------------------------------------------ connection

    async def _registration(self, conn: DeliveryConnection, ds_id: str) -> Registration | None:
        if self.profile.ds_id is not None and ds_id != self.profile.ds_id:
            raise HandshakeFailed(f"service is {ds_id!r}, profile expects {self.profile.ds_id!r}")
        if self.profile.is_passport:
            credential = await self._fetch_passport(conn, ds_dest_uri(ds_id))
            await self._self_identity(credential, ds_id)
            return Registration(credential.credential_type, credential.content)
        return Registration(
            self.profile.credential_type,
            self.profile.credential_content,
            self.profile.application_id,
        )

    async def _fetch_passport(self, conn: DeliveryConnection, dest: str) -> openmls.Credential:
        """A PASSporT for our number and key from the provider role (PROFILE §5.5)."""
        signature = self.signer.sign_with_label(PASSPORT_REQUEST_LABEL, conn.session.auth_content())
        secret = self.profile.provider_secret or ""
        reply = await conn.call(
            lambda i: RequestPassport(
                i,
                self.profile.tn,
                dest,
                self.signer.signature_scheme,
                self.signer.public_key,
                secret,
                signature,
            )
        )
        if not isinstance(reply, PassportIssued):
            raise CommitFailed(f"the provider answered {type(reply).__name__}, not a PASSporT")
        content = STIRPASSporTCredential(
            reply.certificates, reply.passport.encode("ascii")
        ).encode()
        return openmls.Credential(CREDENTIAL_TYPE_STIR_PASSPORT, content)

    async def _credential_for(self, group_id: bytes) -> openmls.Credential:
        """Our credential for a group: the certificate one, or a fresh per-group PASSporT."""
        if self.credential is not None:
            return self.credential
        return await self._fetch_passport(await self._require_conn(), group_dest_uri(group_id))

    def _sign_auth(self, content: bytes) -> bytes:
        return self.signer.sign_with_label(DS_AUTH_LABEL, content)

    async def _connection_loop(self) -> None:
        state = ConnectionState.CONNECTING
        while True:
            self.emit(ConnectionChanged(state))
            detail = ""
            try:
                async with self._link_factory() as link:
                    session = ClientSession(
                        tn=self.profile.tn,
                        signature_scheme=self.signer.signature_scheme,
                        signature_key=self.signer.public_key,
                        sign=self._sign_auth,
                        expected_ds_id=self.profile.ds_id,
                    )
                    conn = DeliveryConnection(link, session)
                    conn.on_garbage = lambda d: self.notice(
                        f"the service sent garbage: {d}", NoticeLevel.WARNING
                    )
                    async with trio.open_nursery() as nursery:
                        await nursery.start(conn.reader)
                        await conn.handshake(self._registration)
                        self.conn = conn
                        self._backoff.reset()
                        self._connected.set()
                        self.emit(ConnectionChanged(ConnectionState.CONNECTED, conn.ds_id or ""))
                        nursery.start_soon(self._keepalive, conn)
                        await self._resync_pending()
                        async for deliver in conn.deliveries:
                            done = await self._handle_deliveries(self._drain(conn, deliver))
                            # Queued: the connection gathers acks into few frames.
                            await conn.ack(tuple(done))
                        nursery.cancel_scope.cancel()
                    detail = "connection closed"
            except* (LinkClosed, HandshakeFailed, RequestRefused, OSError) as group:
                detail = describe(group)
            except* Exception as group:
                # A bug must not take the client down: say so, reconnect, keep the state.
                detail = "internal error: " + describe(group, internal=True)
                self.notice(detail, NoticeLevel.ERROR)
            finally:
                self.conn = None
                self._connected = trio.Event()
            state = ConnectionState.RECONNECTING
            self.emit(ConnectionChanged(state, detail))
            await trio.sleep(self._backoff.next_delay())

    async def _keepalive(self, conn: DeliveryConnection) -> None:
        """Ping now and then so that an idle session is not closed by the service."""
        while True:
            await trio.sleep(KEEPALIVE)
            try:
                await conn.call(Ping, timeout=KEEPALIVE)
            except (LinkClosed, RequestRefused):
                return  # the reader notices a dead link and the loop reconnects

    async def _require_conn(self) -> DeliveryConnection:
        if self.conn is None:
            raise LinkClosed("not connected to the delivery service")
        return self.conn

    # ------------------------------------------------------------------ commands

    async def _command_loop(self, commands: trio.MemoryReceiveChannel[Command]) -> None:
        async for first in commands:
            command: Command | None = first
            # The commands already queued behind it are taken without a scheduler pass
            # each: a message handed over while nothing needs a wait is sent at once
            # (``_send_now``); in a process running 150 clients a pass per command
            # spaced a stream of sends tens of milliseconds apart.
            while command is not None:
                if isinstance(command, Shutdown):
                    await self._sends_finished()
                    return
                if isinstance(command, InviteNumber):
                    # Invitations queued together to one group go out together.
                    invites = [command]
                    command = self._next_queued(commands)
                    while (
                        isinstance(command, InviteNumber)
                        and command.group_id == invites[0].group_id
                    ):
                        invites.append(command)
                        command = self._next_queued(commands)
                    batch = functools.partial(
                        self._invite_many, invites[0].group_id, [i.tn for i in invites]
                    )
                    await self._run_command(invites[0], batch)
                    continue
                if not (isinstance(command, SendText) and self._send_now(command)):
                    await self._run_command(command)
                command = self._next_queued(commands)

    @staticmethod
    def _next_queued(commands: trio.MemoryReceiveChannel[Command]) -> Command | None:
        try:
            return commands.receive_nowait()
        except (trio.WouldBlock, trio.EndOfChannel):
            return None

    async def _run_command(
        self, command: Command, action: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Run ``command`` (or ``action``, which does it together with others of its kind:
        a batch of invitations), telling the user when it fails."""
        try:
            await (action() if action is not None else self._command(command))
        except* (LinkClosed, RequestRefused, CommitFailed, openmls.MlsError) as group:
            text = describe(group)
            if isinstance(command, SendText):
                self._not_sent(command.text, text)
            else:
                self.notice(f"{type(command).__name__} failed: {text}", NoticeLevel.ERROR)
        except* Exception as group:
            text = describe(group, internal=True)
            if isinstance(command, SendText):
                self._not_sent(command.text, f"internal error: {text}")
            else:
                self.notice(f"{type(command).__name__}: internal error: {text}", NoticeLevel.ERROR)

    async def _command(self, command: Command) -> None:
        if isinstance(command, OpenGroup):
            await self._open_group(command.group_id)
        elif isinstance(command, CreateGroup):
            await self._create_group(command.title)
        elif isinstance(command, SendText):
            await self._send_text(command.group_id, command.text)
        elif isinstance(command, InviteNumber):
            await self._invite_many(command.group_id, [command.tn])
        elif isinstance(command, AnswerInvitation):
            await self._answer_invitation(command.invitation_id, command.accept)
        elif isinstance(command, RemoveMember):
            await self._remove(command.group_id, command.member_key)
        elif isinstance(command, LeaveGroup):
            await self._leave(command.group_id)
        elif isinstance(command, MarkCode):
            await self._mark(command)
        elif isinstance(command, UpdateKeys):
            await self._update_keys(command.group_id)

    async def _open_group(self, group_id: bytes) -> None:
        lines = await self._thread(self.history.lines, group_id)
        self.emit(HistoryLoaded(group_id, tuple(lines)))
        slot = self.slots.get(group_id)
        if slot is not None:
            self._members_changed(group_id, slot)
            self._epoch_changed(group_id, slot)

    async def _create_group(self, title: str) -> None:
        conn = await self._require_conn()
        # The id is chosen first: a PASSporT credential names the group (§5.5).
        group_id = os.urandom(16)
        credential = await self._credential_for(group_id)
        async with self._mls:
            group = await self._thread(
                openmls.Group.create,
                self.provider,
                self.signer,
                credential,
                group_id=group_id,
                ciphersuite=DEFAULT_CIPHERSUITE,
                required_credential_types=[self.profile.credential_type],
                max_past_epochs=MAX_PAST_EPOCHS,
                application_id=self.profile.application_id,
            )
            info = await self._thread(group.export_group_info)
            await conn.call(lambda i: CreateGroupFrame(i, group.group_id, info))
            await self._thread(self.history.add_group, group.group_id, title)
            slot = GroupSlot(group)
            self.slots[group.group_id] = slot
            await self._refresh_members(group.group_id, slot)
        self._groups_changed()
        await self._system_line(group.group_id, f"You created “{title}”")
        await self._open_group(group.group_id)

    async def _send_text(self, group_id: bytes, text: str) -> None:
        """Encrypt and hand the message to the service; the next command does not wait
        for the service's answer (up to SEND_WINDOW in flight), so a burst of messages
        costs one round trip, not one each. Frames leave in command order and the own
        lines are stored and shown in that order too."""
        conn = await self._require_conn()
        slot = self._slot(group_id)
        payload = encode_payload(Text(text))
        # The slot before the encryption: frames must leave in the order their
        # generations were taken. A message encrypted and then held back while the
        # window was full (retries of rate-limited messages hold slots for seconds) went
        # out after later ones, too far behind for the receivers' ratchets.
        await self._send_window.acquire()
        try:
            async with self._mls:
                message = await self._thread(slot.group.create_message, payload)
            self._queue_send(conn, group_id, message, text)
        except BaseException:
            self._send_window.release()
            raise

    def _send_now(self, command: SendText) -> bool:
        """``_send_text`` without a wait, when none is needed (connected, the group's
        lock free, a send-window slot): the message is encrypted in the event loop's
        thread (~0.3 ms; a worker-thread hop waits behind every other client's work in
        a busy process) and queued. False, with nothing done, when something must be
        waited for (then ``_send_text`` does it); True when sent or reported failed."""
        conn, slot = self.conn, self.slots.get(command.group_id)
        if conn is None or slot is None:
            return False
        try:
            self._send_window.acquire_nowait()
        except trio.WouldBlock:
            return False
        if not self._mls_nowait():
            self._send_window.release()
            return False
        try:
            try:
                message = slot.group.create_message(encode_payload(Text(command.text)))
            finally:
                self._mls.release()
            self._queue_send(conn, command.group_id, message, command.text)
        except BaseException as exc:
            self._send_window.release()
            if not isinstance(exc, Exception):
                raise
            if isinstance(exc, LinkClosed | openmls.MlsError):
                self._not_sent(command.text, str(exc))
            else:
                self._not_sent(command.text, f"internal error: {exc!r}")
        return True

    def _not_sent(self, text: str, why: str) -> None:
        """Tell the user a message was not sent, with its text: it is not stored (the
        history holds what the group has), so the notice is where the user finds it to
        send it again."""
        self.notice(f"SendText failed, not sent: “{text}” ({why})", NoticeLevel.ERROR)

    def _queue_send(
        self, conn: DeliveryConnection, group_id: bytes, message: bytes, text: str
    ) -> None:
        """Queue the message's frame now (frames leave in the order queued) and follow
        its answer in a task of its own (holding one send-window slot)."""
        # Not retried by the connection: ``_delivered`` encrypts it again instead.
        pending = conn.request(lambda i: SendMessage(i, group_id, message), retry=False)
        previous, mine = self._last_send, trio.Event()
        assert self._nursery is not None
        self._nursery.start_soon(self._finish_send, conn, group_id, pending, text, previous, mine)
        self._last_send = mine

    async def _finish_send(
        self,
        conn: DeliveryConnection,
        group_id: bytes,
        pending: PendingRequest,
        text: str,
        previous: trio.Event,
        mine: trio.Event,
    ) -> None:
        try:
            try:
                await self._delivered(conn, group_id, encode_payload(Text(text)), pending)
            except (LinkClosed, RequestRefused, CommitFailed, openmls.MlsError) as exc:
                await previous.wait()
                self._not_sent(text, str(exc))
                return
            line = ChatLine(group_id, "me", text, self._clock(), own=True)
            await previous.wait()  # own lines stored and shown in the order sent
            # Stored at once when no worker thread is using the history (one small
            # transaction), else in a worker thread: a hop per own line held the send
            # window's slots (and so the next sends) behind a busy process's threads.
            if not self.history.add_lines_if_free([line]):
                await self._thread(self.history.add_lines, [line])
            self.emit(MessageReceived(line))
        except Exception as exc:  # a bug must not take the client down
            self._not_sent(text, f"internal error: {exc!r}")
        finally:
            mine.set()
            self._send_window.release()

    async def _delivered(
        self, conn: DeliveryConnection, group_id: bytes, payload: bytes, pending: PendingRequest
    ) -> None:
        """Wait until the service took an application message (``pending``, encrypting
        ``payload``). After a ``rate_limited`` refusal (the service dropped it
        unprocessed) the payload is encrypted again and sent again after the back-off of
        the connection's retry policy: the same ciphertext could reach the receivers
        after too many of our later messages for their ratchets (see
        ``client.core.connection``). A retried message may so reach the others after
        messages sent later; our history keeps the order it was sent in. Raises
        RequestRefused (or LinkClosed, CommitFailed when the group is gone) once it
        gives up."""
        refusals = 0
        while True:
            try:
                await conn.reply(pending)
                return
            except RequestRefused as exc:
                if exc.code is not ErrorCode.RATE_LIMITED:
                    raise
                refusals += 1
                delay = conn.retry_policy.delay(refusals, conn.rng)
                if delay is None:
                    raise
            await trio.sleep(delay)
            slot = self._slot(group_id)
            async with self._mls:
                message = await self._thread(slot.group.create_message, payload)
            frame = functools.partial(SendMessage, group_id=group_id, message=message)
            pending = conn.request(frame, retry=False)

    async def _sends_finished(self) -> None:
        """Wait (bounded) until every message handed to the service has its answer."""
        with trio.move_on_after(EPOCH_WAIT):
            await self._last_send.wait()

    async def _invite_many(self, group_id: bytes, tns: list[str]) -> None:
        """Invitations to one group (one or many), their requests in flight together
        (INVITE_WINDOW at a time) and one transaction for their records and lines: one by
        one, a 300-member group's adder waited for 299 round trips and 598 worker-thread
        hops, in turn, before any invitee could answer (measured: 1.1 s of the
        formation's serial part, more under load). Each refusal is its own notice. A
        single invitation goes this way too: its answer can arrive before its record is
        stored, and only this path makes the answer wait for the record."""
        conn = await self._require_conn()
        slot = self._slot(group_id)
        made: list[tuple[int, str]] = []
        stored = trio.Event()
        self._invitations_stored = stored
        try:
            for start in range(0, len(tns), INVITE_WINDOW):
                pending: list[PendingRequest] = []
                for tn in tns[start : start + INVITE_WINDOW]:
                    try:
                        pending.append(conn.request(_invitation_request(tn, group_id)))
                    except LinkClosed as exc:
                        self.notice(f"InviteNumber failed: {exc}", NoticeLevel.ERROR)
                chunk = tns[start : start + len(pending)]
                for tn, request in zip(chunk, pending, strict=True):
                    try:
                        reply = await conn.reply(request)
                    except (RequestRefused, LinkClosed) as exc:
                        self.notice(f"InviteNumber failed: {exc}", NoticeLevel.ERROR)
                        continue
                    if not isinstance(reply, InvitationCreated):
                        self.notice(
                            "InviteNumber failed: the service answered "
                            f"{type(reply).__name__} to an invitation",
                            NoticeLevel.ERROR,
                        )
                        continue
                    slot.awaiting.add(reply.invitation_id)
                    made.append((reply.invitation_id, tn))
        finally:
            # Remembered on disk: an answer may come after a restart, and only a KeyPackage
            # from the invited number for this group may be added (checked on arrival).
            # An answer that came meanwhile waits for this before it is matched
            # (_key_packages).
            items = [(_invitation_key(i), f"{group_id.hex()}:{tn}") for i, tn in made]
            lines = [
                self._sys(group_id, f"Invited {display(tn)}; waiting for their answer")
                for _, tn in made
            ]
            with trio.CancelScope(shield=True):
                await self._thread(self.history.set_settings, items, lines)
            stored.set()
            if self._invitations_stored is stored:
                self._invitations_stored = None
        for line in lines:
            self.emit(MessageReceived(line))

    async def _answer_invitation(self, invitation_id: str, accept: bool) -> None:
        deliver = self._invitations.get(invitation_id)
        if deliver is None:
            self.notice(f"no open invitation {invitation_id}", NoticeLevel.WARNING)
            return
        conn = await self._require_conn()
        if accept:
            assert deliver.group_id is not None
            credential = await self._credential_for(deliver.group_id)
            key_package = await self._thread(
                openmls.KeyPackage.create,
                self.provider,
                self.signer,
                credential,
                ciphersuite=DEFAULT_CIPHERSUITE,
                application_id=self.profile.application_id,
            )
            data = key_package.to_bytes()
            assert deliver.invitation_id is not None
            inv = deliver.invitation_id
            await conn.call(lambda i: AnswerInvitationFrame(i, inv, data))
            self.notice("Invitation accepted: you join when they add you.")
        del self._invitations[invitation_id]
        await self._thread(self.history.mark_handled, [deliver.mid])
        await conn.ack((deliver.mid,))
        self.emit(InvitationClosed(invitation_id))

    async def _remove(self, group_id: bytes, key: str) -> None:
        slot = self._slot(group_id)
        target = next((m for m in slot.group.members if member_key(m.signature_key) == key), None)
        if target is None:
            self.notice("that member is no longer in the group", NoticeLevel.WARNING)
            return
        index = target.index
        label = slot.label(index)
        await self._commit(group_id, lambda: slot.group.remove_members([index]))
        await self._system_line(group_id, f"You removed {label}")

    async def _renewal_loop(self) -> None:
        """Renew PASSporT credentials by self-update at max_age/2 (PROFILE §5.6)."""
        while True:
            await trio.sleep(self._renew_check)
            if self.conn is None:
                continue
            for group_id, slot in list(self.slots.items()):
                if self._passport_age(slot) < PASSPORT_MAX_AGE / 2:
                    continue
                try:
                    credential = await self._credential_for(group_id)
                    await self._commit(
                        group_id, functools.partial(slot.group.self_update, credential=credential)
                    )
                except (LinkClosed, RequestRefused, CommitFailed, openmls.MlsError) as exc:
                    self.notice(f"could not renew your PASSporT: {exc}", NoticeLevel.WARNING)
                else:
                    await self._system_line(group_id, "Renewed your PASSporT (self-update)")

    def _passport_age(self, slot: GroupSlot) -> timedelta:
        credential = slot.group.own_leaf.credential
        if credential.credential_type != CREDENTIAL_TYPE_STIR_PASSPORT:
            return timedelta(0)
        try:
            token = STIRPASSporTCredential.decode(credential.content).passport
            iat = parse_passport_unverified(token.decode("ascii")).iat
        except (StirError, UnicodeDecodeError):
            return PASSPORT_MAX_AGE  # unreadable: renew
        return self._clock() - datetime.fromtimestamp(iat, UTC)

    async def _update_keys(self, group_id: bytes) -> None:
        slot = self._slot(group_id)
        await self._commit(group_id, lambda: slot.group.self_update())
        await self._system_line(group_id, f"You updated your keys (epoch {slot.group.epoch})")

    async def _leave(self, group_id: bytes) -> None:
        """Send a Remove proposal for ourselves; another member commits it."""
        conn = await self._require_conn()
        slot = self._slot(group_id)
        async with self._mls:
            epoch = slot.group.epoch
            proposal = await self._thread(slot.group.leave)
        await conn.call(lambda i: Propose(i, group_id, epoch, proposal))
        self._leaving.add(group_id)
        await self._system_line(group_id, "Leaving: waiting for another member to commit it")

    async def _mark(self, command: MarkCode) -> None:
        slot = self.slots.get(command.group_id)
        if slot is None:
            return
        row = next(
            (m for m in slot.group.members if member_key(m.signature_key) == command.member_key),
            None,
        )
        who = slot.label(row.index) if row is not None else command.member_key
        verdict = "codes match" if command.matches else "CODES DIFFER"
        await self._system_line(
            command.group_id, f"You compared codes with {who} at epoch {command.epoch}: {verdict}"
        )
        if not command.matches:
            me = slot.verdicts.get(slot.group.own_index)
            mine = slot.views.view(me.identity).title if me and me.identity else "you"
            self.emit(CodeMismatch(command.group_id, command.epoch, mine, who))

    # ------------------------------------------------------------------ commits

    def _slot(self, group_id: bytes) -> GroupSlot:
        slot = self.slots.get(group_id)
        if slot is None:
            raise CommitFailed(f"group {_short_id(group_id)} is not one of ours")
        return slot

    async def _commit(
        self,
        group_id: bytes,
        make: Callable[[], openmls.CommitBundle],
        still_needed: Callable[[], bool] = lambda: True,
    ) -> openmls.CommitBundle | None:
        """Create, place and merge a commit, retrying after a lost race (PROFILE §7).

        ``still_needed`` is asked before each attempt (after a lost race the winner may
        have done the job); None is returned when it says no.
        """
        slot = self._slot(group_id)
        for _ in range(COMMIT_ATTEMPTS):
            conn = await self._require_conn()
            async with self._mls:
                if not still_needed():
                    return None
                epoch = slot.group.epoch
                moved = slot.epoch_moved
                bundle = await self._thread(make)
                info = bundle.group_info
                if info is None:
                    info = await self._thread(slot.group.export_group_info)
                frame = functools.partial(
                    Commit,
                    group_id=group_id,
                    epoch=epoch,
                    commit=bundle.commit,
                    group_info=info,
                    welcome=bundle.welcome,
                )
                try:
                    await conn.call(frame)
                except RequestRefused as exc:
                    await self._thread(slot.group.clear_pending_commit)
                    if exc.code is not ErrorCode.STALE_EPOCH:
                        raise CommitFailed(str(exc)) from exc
                except BaseException:
                    await self._thread(slot.group.clear_pending_commit)
                    raise
                else:
                    await self._thread(slot.group.merge_pending_commit)
                    await self._after_epoch_change(group_id, slot)
                    return bundle
            # Lost the race: let the delivery task apply the winner, then try again.
            with trio.move_on_after(EPOCH_WAIT):
                await moved.wait()
        raise CommitFailed(f"gave up after {COMMIT_ATTEMPTS} lost races for the epoch")

    async def _after_epoch_change(self, group_id: bytes, slot: GroupSlot) -> None:
        await self._refresh_members(group_id, slot)
        slot.epoch_moved.set()
        slot.epoch_moved = trio.Event()
        self._epoch_changed(group_id, slot)
        self._groups_changed()

    async def _refresh_members(self, group_id: bytes, slot: GroupSlot) -> None:
        # A leaf whose credential, key and application_id did not change keeps its
        # verdict from this epoch's check: a commit to a 1,000-member group re-validates
        # only the leaves it touched. (Time rules are re-applied at every restart.)
        known = {m.key: v for m, v in slot.checked}
        known.update(slot.prechecked)
        slot.prechecked = {}
        ctx = self._ctx(group_id)

        def read() -> tuple[list[RosterLeaf], list[MemberVerdict]]:
            # One read of the members (the binding builds N objects) and one hop.
            members = slot.group.members
            roster = [RosterLeaf.of(m) for m in members]
            fresh = [m for m, r in zip(members, roster, strict=True) if r.key not in known]
            return roster, check_tree(fresh, ctx) if fresh else []

        members, checked = await self._thread(read)
        fresh_keys = [m.key for m in members if m.key not in known]
        known.update(zip(fresh_keys, checked, strict=True))
        slot.checked = [(m, known[m.key]) for m in members]
        slot.verdicts = {m.index: dataclasses.replace(known[m.key], index=m.index) for m in members}
        slot.views.retain(v.identity for v in slot.verdicts.values() if v.identity is not None)
        self._members_changed(group_id, slot)

    def _members_changed(self, group_id: bytes, slot: GroupSlot) -> None:
        # The members as of the last refresh (or the Welcome): reading them again from
        # the binding builds N objects in the event loop's thread (profiled).
        members: list[RosterLeaf] = [m for m, _ in slot.checked]
        if not members:
            members = [RosterLeaf.of(m) for m in slot.group.members]
        rows = member_rows(members, slot.verdicts, slot.group.own_index, slot.views)
        self.emit(MembersChanged(group_id, rows))

    def _epoch_changed(self, group_id: bytes, slot: GroupSlot) -> None:
        group = slot.group
        self.emit(
            EpochChanged(group_id, safety_code(group_id, group.epoch, group.epoch_authenticator()))
        )

    def _groups_changed(self) -> None:
        summaries = []
        for record in self.history.groups():
            slot = self.slots.get(record.group_id)
            summaries.append(
                GroupSummary(
                    record.group_id,
                    record.title,
                    slot.group.epoch if slot else 0,
                    len(slot.checked) if slot else 0,  # as of the last refresh
                    active=slot is not None,
                )
            )
        self.emit(GroupsChanged(tuple(summaries)))

    def _sys(self, group_id: bytes, text: str) -> ChatLine:
        return ChatLine(group_id, "", text, self._clock(), system=True)

    async def _system_line(self, group_id: bytes, text: str) -> None:
        line = self._sys(group_id, text)
        await self._thread(self.history.add_lines, [line])
        self.emit(MessageReceived(line))

    # ------------------------------------------------------------------ deliveries

    @staticmethod
    def _drain(conn: DeliveryConnection, first: Deliver) -> list[Deliver]:
        """``first`` and the deliveries already waiting behind it (at most DELIVERY_BATCH):
        a burst is handled with one thread hop, one history transaction and one ack."""
        batch = [first]
        while len(batch) < DELIVERY_BATCH:
            try:
                batch.append(conn.deliveries.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                break
        return batch

    async def _handle_deliveries(self, batch: list[Deliver]) -> list[int]:
        """Apply deliveries in order; returns the mids to acknowledge (their effect is
        stored). Invitations are acknowledged later, once the user answers.

        Consecutive application messages are applied in one worker-thread call (decrypt,
        store in one transaction); anything else one by one, as it may change the group,
        and is stored before the next delivery is looked at.
        """
        done: list[int] = []
        run: list[Deliver] = []
        answers: list[Deliver] = []  # consecutive KeyPackages (invitees' answers)
        for deliver in batch:
            if deliver.kind is DeliveryKind.APPLICATION:
                run.append(deliver)
                continue
            if run:
                done += await self._applications(run)
                run = []
            if deliver.kind is DeliveryKind.KEY_PACKAGE:
                answers.append(deliver)
                continue
            if answers:
                done += await self._key_packages(answers)
                answers = []
            if await self._thread(self.history.is_handled, deliver.mid):
                done.append(deliver.mid)  # a redelivery after a reconnect: already done
            elif deliver.kind is DeliveryKind.INVITATION:
                self._invitation(deliver)  # acknowledged once the user answers
            else:
                await self._handle_one(deliver)
                done.append(deliver.mid)
        if run:
            done += await self._applications(run)
        if answers:
            done += await self._key_packages(answers)
        return done

    async def _handle_one(self, deliver: Deliver) -> None:
        """Apply one delivery that is not an application message and store its lines."""
        lines: list[ChatLine] = []
        if deliver.kind is DeliveryKind.COMMIT and deliver.group_id in self._resync_needed:
            await self._resync_pending()
        try:
            if deliver.kind is DeliveryKind.COMMIT:
                lines = await self._incoming_commit(deliver)
            elif deliver.kind is DeliveryKind.WELCOME:
                lines = await self._welcome(deliver)
            elif deliver.kind is DeliveryKind.PROPOSAL:
                lines = await self._proposal(deliver)
        except (openmls.MlsError, CommitFailed, RequestRefused) as exc:
            self.notice(self._could_not_apply_text(deliver, exc), NoticeLevel.WARNING)
            if deliver.kind is DeliveryKind.COMMIT and deliver.group_id in self.slots:
                # A commit we cannot process leaves us behind the group: rejoin (§7).
                self._resync_needed.add(deliver.group_id)
                await self._resync_pending()
        except LinkClosed:
            raise  # not acknowledged: the service delivers it again after the reconnect
        except Exception as exc:
            # A bug must not stop the client; the message is reported, not retried forever.
            self.notice(self._internal_error_text(deliver, exc), NoticeLevel.ERROR)
        stored = await self._thread(self.history.add_lines, lines, mid=deliver.mid)
        if stored:
            for line in lines:
                self.emit(MessageReceived(line))

    @staticmethod
    def _could_not_apply_text(deliver: Deliver, exc: Exception) -> str:
        return f"could not apply a {deliver.kind.value} from {display(deliver.sender)}: {exc}"

    @staticmethod
    def _internal_error_text(deliver: Deliver, exc: Exception) -> str:
        return f"internal error applying a {deliver.kind.value} (mid {deliver.mid}): {exc!r}"

    def _invitation(self, deliver: Deliver) -> None:
        if deliver.invitation_id is None or deliver.group_id is None:
            self.notice("the service sent an invitation without its id", NoticeLevel.WARNING)
            return
        key = str(deliver.invitation_id)
        self._invitations[key] = deliver
        self.emit(
            InvitationReceived(
                Invitation(
                    key,
                    deliver.group_id,
                    f"group {_short_id(deliver.group_id)}",
                    display(deliver.sender),
                )
            )
        )

    async def _applications(self, run: list[Deliver]) -> list[int]:
        """Apply a run of application messages (one worker-thread call), then show what
        they said; returns their mids (all handled: stored, or reported as unreadable)."""
        if len(run) <= INLINE_DECRYPT and self._mls_nowait():
            # The lock was free: taken without a checkpoint, one task switch less per
            # message (the delivery loop checkpoints when it reads the next one).
            try:
                applied = self._apply_applications(run)
            finally:
                self._mls.release()
        else:
            async with self._mls:
                if len(run) <= INLINE_DECRYPT:
                    applied = self._apply_applications(run)
                else:
                    applied = await self._thread(self._apply_applications, run)
        for text, level in applied.notices:
            self.notice(text, level)
        if applied.titled:
            self._groups_changed()
        for line in applied.lines:
            self.emit(MessageReceived(line))
        return [d.mid for d in run]

    def _apply_applications(self, run: list[Deliver]) -> _Applied:
        """Decrypt each message not handled before and store its lines, each with its
        mid, all in one history transaction (blocking; under the MLS lock). A
        redelivered message is skipped before decryption: its key is gone, and it was
        stored. A message that cannot be read is reported and marked handled."""
        out = _Applied()

        def apply(position: int) -> list[ChatLine]:
            deliver = run[position]
            slot = self.slots.get(deliver.group_id) if deliver.group_id is not None else None
            try:
                result = slot.group.process_message(deliver.data) if slot is not None else None
                if slot is not None and isinstance(result, openmls.ApplicationMessage):
                    return self._application_lines(deliver, slot, result, out)
            except openmls.MlsError as exc:
                out.notices.append((self._could_not_apply_text(deliver, exc), NoticeLevel.WARNING))
            except Exception as exc:  # a bug must not stop the client (reported, not retried)
                out.notices.append((self._internal_error_text(deliver, exc), NoticeLevel.ERROR))
            return []

        out.lines = self.history.handle_new([d.mid for d in run], apply)
        return out

    def _application_lines(
        self,
        deliver: Deliver,
        slot: GroupSlot,
        result: openmls.ApplicationMessage,
        out: _Applied,
    ) -> list[ChatLine]:
        """The chat lines of one decrypted message (blocking: reads the history)."""
        assert deliver.group_id is not None
        group_id = deliver.group_id
        try:
            payload = decode_payload(result.data)
        except PayloadError as exc:
            out.notices.append(
                (f"unreadable message from {display(deliver.sender)}: {exc}", NoticeLevel.INFO)
            )
            return []
        sender = slot.label(result.sender.index)
        when = self._clock()
        if isinstance(payload, Title):
            record = self.history.group(group_id)
            if record is not None and record.title == payload.title:
                return []  # sent again for a newer member: nothing new for us
            self.history.set_title(group_id, payload.title)
            out.titled = True
            return [
                ChatLine(
                    group_id, "", f"{sender} named the group “{payload.title}”", when, system=True
                )
            ]
        return [ChatLine(group_id, sender, payload.body, when)]

    async def _incoming_commit(self, deliver: Deliver) -> list[ChatLine]:
        group_id = deliver.group_id
        slot = self.slots.get(group_id) if group_id is not None else None
        if slot is None or group_id is None:
            return []
        lines: list[ChatLine] = []
        async with self._mls:
            if deliver.epoch is not None and deliver.epoch < slot.group.epoch:
                return []  # already applied (redelivered after a crash)
            if deliver.epoch is not None and deliver.epoch > slot.group.epoch:
                raise CommitFailed(
                    f"commit for epoch {deliver.epoch} while we are at {slot.group.epoch}"
                )
            staged = await self._thread(slot.group.process_message, deliver.data)
            if not isinstance(staged, openmls.StagedCommit):
                return []
            verdict = await self._thread(
                check_commit, staged, identity_of(slot.verdicts), self._ctx(group_id)
            )
            if not verdict.accepted:
                for rejected in verdict.rejections:
                    assert rejected.rejection is not None
                    r = rejected.rejection
                    view = view_rejection(rejected.who, r.reason, r.rule, r.detail)
                    self.emit(CredentialVerdict(group_id, "commit", False, rejection=view))
                    lines.append(self._sys(group_id, f"Refused a commit: {view.text}"))
                return lines  # the staged commit is dropped: nothing changed
            removed = [slot.label(m.index) for m in staged.removed_members]
            adds = await self._thread(lambda: staged.adds)
            for leaf, checked in zip(adds, verdict.adds, strict=True):
                slot.prechecked[_leaf_key(leaf)] = checked
            self_removed = staged.self_removed
            await self._thread(slot.group.merge_staged_commit, staged)
            if self_removed or not slot.group.is_active:
                self.slots.pop(group_id, None)
                await self._thread(self.history.set_active, group_id, False)
                self._groups_changed()
                left = group_id in self._leaving
                self._leaving.discard(group_id)
                text = "You left this group" if left else "You were removed from this group"
                return [self._sys(group_id, text)]
            before = set(slot.verdicts)
            await self._after_epoch_change(group_id, slot)
        for index in sorted(set(slot.verdicts) - before):
            lines.append(self._sys(group_id, f"{slot.label(index)} joined"))
        for label in removed:
            lines.append(self._sys(group_id, f"{label} left"))
        return lines

    async def _welcome(self, deliver: Deliver) -> list[ChatLine]:
        # Three worker-thread hops (stage and read the members; check them, with what
        # is kept of them and their views; accept and record the group), not six: joins
        # in a process go one after another (_join_limiter), so every hop's wait for the
        # event loop is on the path of every join.
        def stage() -> tuple[openmls.StagedWelcome, list[openmls.Member]]:
            staged = openmls.StagedWelcome.from_bytes(
                self.provider, deliver.data, max_past_epochs=MAX_PAST_EPOCHS
            )
            return staged, staged.members

        views = IdentityViews()

        def check(
            members: list[openmls.Member], ctx: CheckContext
        ) -> tuple[list[MemberVerdict], list[RosterLeaf]]:
            verdicts = check_tree(members, ctx)
            for v in verdicts:
                if v.identity is not None:
                    views.view(v.identity)  # rendered here, not in the event loop
            return verdicts, [RosterLeaf.of(m) for m in members]

        def accept(staged: openmls.StagedWelcome) -> openmls.Group:
            group = staged.accept()
            # Keeps a stored title (a re-join), else names the group until told its title.
            self.history.add_group(staged.group_id, f"group {_short_id(staged.group_id)}")
            return group

        async with _join_limiter(), self._mls:
            staged, members = await self._thread(stage)
            group_id = staged.group_id
            verdicts, roster = await self._thread(check, members, self._ctx(group_id))
            rejected = [v for v in verdicts if v.rejection is not None]
            if rejected:
                for v in rejected:
                    assert v.rejection is not None
                    r = v.rejection
                    view = view_rejection(v.who, r.reason, r.rule, r.detail)
                    self.emit(CredentialVerdict(group_id, "welcome", False, rejection=view))
                self.notice(
                    f"Refused to join group {_short_id(group_id)}: "
                    f"{len(rejected)} member credential(s) failed",
                    NoticeLevel.ERROR,
                )
                return []  # the staged Welcome is dropped: we did not join
            group = await self._thread(accept, staged)
            slot = GroupSlot(
                group,
                {v.index: v for v in verdicts if v.index is not None},
                list(zip(roster, verdicts, strict=True)),
                views=views,
            )
            self.slots[group_id] = slot
        inviter = slot.label(staged.sender.index)
        self._groups_changed()
        self._members_changed(group_id, slot)
        self._epoch_changed(group_id, slot)
        return [self._sys(group_id, f"You joined; added by {inviter}")]

    async def _key_packages(self, answers: list[Deliver]) -> list[int]:
        """KeyPackages delivered together (invitees' answers): each parsed, checked
        strictly and matched to our invitation, all in one worker-thread hop, and stored
        as handled in one transaction; returns their mids. One at a time, a 300-member
        group's adder made three hops per answer, in turn (measured: 1.7 s of the
        formation's serial part under load). A checked one waits in ``pending_adds``
        for the commit that adds it (``_add_members``)."""
        handled = await self._thread(self.history.handled_among, [d.mid for d in answers])
        todo: list[tuple[Deliver, bytes, GroupSlot, CheckContext]] = []
        for deliver in answers:
            if deliver.mid in handled:
                continue  # a redelivery after a reconnect: already done
            group_id = deliver.group_id
            if group_id is None or group_id not in self.slots:
                self.notice("a KeyPackage arrived for a group we are not in", NoticeLevel.WARNING)
                continue
            slot = self.slots[group_id]
            slot.checking += 1
            if deliver.invitation_id is not None:
                slot.awaiting.discard(deliver.invitation_id)
            todo.append((deliver, group_id, slot, self._ctx(group_id)))
        if self._invitations_stored is not None:
            # A batch of our invitations is being recorded: these may answer some of them.
            await self._invitations_stored.wait()

        def examine(
            deliver: Deliver, group_id: bytes, ctx: CheckContext
        ) -> tuple[openmls.KeyPackage, MemberVerdict, bytes]:
            key_package = openmls.KeyPackage.parse(self.provider, deliver.data)
            verdict = check_key_package(key_package, ctx)
            if verdict.rejection is None:
                verdict = self._answers_our_invitation(deliver, group_id, verdict)
            return key_package, verdict, _leaf_key(key_package)

        def examine_all() -> list[tuple[openmls.KeyPackage, MemberVerdict, bytes] | Exception]:
            out: list[tuple[openmls.KeyPackage, MemberVerdict, bytes] | Exception] = []
            for deliver, group_id, _, ctx in todo:
                try:
                    out.append(examine(deliver, group_id, ctx))
                except Exception as exc:  # this answer's, reported below
                    out.append(exc)
            return out

        try:
            results = await self._thread(examine_all) if todo else []
        finally:
            for _, _, slot, _ in todo:
                slot.checking -= 1
                slot.answers_moved.set()
        lines: dict[int, list[ChatLine]] = {}
        for (deliver, group_id, _, _), result in zip(todo, results, strict=True):
            if isinstance(result, openmls.MlsError):
                self.notice(self._could_not_apply_text(deliver, result), NoticeLevel.WARNING)
                continue
            if isinstance(result, Exception):
                self.notice(self._internal_error_text(deliver, result), NoticeLevel.ERROR)
                continue
            key_package, verdict, leaf_key = result
            if verdict.rejection is not None:
                r = verdict.rejection
                view = view_rejection(verdict.who, r.reason, r.rule, r.detail)
                self.emit(CredentialVerdict(group_id, "key-package", False, rejection=view))
                lines[deliver.mid] = [self._sys(group_id, f"Did not add: {view.text}")]
                continue
            current = self.slots.get(group_id)
            if current is None:
                continue  # we left the group meanwhile: nothing to add it to
            current.pending_adds.append(key_package)
            current.prechecked[leaf_key] = verdict
            if not current.adding:
                current.adding = True
                self._in_background(self._add_members, group_id)
        fresh = [d.mid for d in answers if d.mid not in handled]
        stored = await self._thread(
            self.history.add_batch, [(mid, lines.get(mid, [])) for mid in fresh]
        )
        for mid, new in zip(fresh, stored, strict=True):
            for line in lines.get(mid, []) if new else []:
                self.emit(MessageReceived(line))
        return [d.mid for d in answers]

    def _answers_our_invitation(
        self, deliver: Deliver, group_id: bytes, verdict: MemberVerdict
    ) -> MemberVerdict:
        """A KeyPackage is added only as the answer to our invitation of that number to
        that group, from that number, with a credential for that number (blocking:
        reads and updates the history)."""

        def refuse(detail: str) -> MemberVerdict:
            rejection = CredentialRejected("not-invited", "§6", detail)
            return MemberVerdict(verdict.index, verdict.who, rejection=rejection)

        if deliver.invitation_id is None:
            return refuse("the KeyPackage answers no invitation")
        key = _invitation_key(deliver.invitation_id)
        record = self.history.get_setting(key)
        if record is None:
            return refuse(f"the KeyPackage answers no invitation of ours ({deliver.invitation_id})")
        self.history.delete_setting(key)  # one answer per invitation
        group_hex, _, tn = record.partition(":")
        if group_hex != group_id.hex():
            return refuse("the KeyPackage answers an invitation to another group")
        if deliver.sender != tn:
            return refuse(
                f"we invited {display(tn)}, the answer came from {display(deliver.sender)}"
            )
        assert verdict.identity is not None
        numbers = numbers_of(verdict.identity)
        if tn not in numbers:
            shown = ", ".join(display(n) if n.isdigit() else n for n in numbers) or "no number"
            return refuse(f"we invited {display(tn)}, the KeyPackage's credential is for {shown}")
        return verdict

    def _in_background(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run a commit that a delivery asked for outside the delivery task: a commit
        that loses its epoch's race waits for the delivery task to apply the winner."""

        async def run() -> None:
            try:
                await fn(*args)
            except Exception as exc:  # reported, never fatal to the client
                name = getattr(fn, "__name__", "commit")
                self.notice(f"{name} failed: {exc}", NoticeLevel.ERROR)

        if self._nursery is not None:
            self._nursery.start_soon(run)

    async def _add_members(self, group_id: bytes) -> None:
        """Add every checked KeyPackage waiting for this group, as few commits as possible:
        the answers that arrive while a commit is in flight go into the next one."""
        slot = self._slot(group_id)
        try:
            while slot.pending_adds:
                # Until every invitation sent is answered and checked; for invitees who
                # do not answer (yet), until no answer came for ADD_GATHER_QUIET.
                while slot.checking or slot.awaiting:
                    slot.answers_moved = trio.Event()
                    with trio.move_on_after(add_gather_quiet(len(slot.awaiting))) as quiet:
                        await slot.answers_moved.wait()
                    if quiet.cancelled_caught and not slot.checking:
                        break
                batch, slot.pending_adds = slot.pending_adds, []
                await self._commit(group_id, functools.partial(slot.group.add_members, batch))
                await self._send_title(group_id, slot)
        finally:
            slot.adding = False

    async def _send_title(self, group_id: bytes, slot: GroupSlot) -> None:
        """Tell the group (and so the new members) the title people gave it."""
        record = await self._thread(self.history.group, group_id)
        if record is None:
            return
        data = encode_payload(Title(record.title))
        conn = await self._require_conn()
        async with self._mls:
            message = await self._thread(slot.group.create_message, data)
        pending = conn.request(lambda i: SendMessage(i, group_id, message), retry=False)
        await self._delivered(conn, group_id, data, pending)

    async def _proposal(self, deliver: Deliver) -> list[ChatLine]:
        group_id = deliver.group_id
        slot = self.slots.get(group_id) if group_id is not None else None
        if slot is None or group_id is None:
            return []
        async with self._mls:
            proposal = await self._thread(slot.group.process_message, deliver.data)
        if not isinstance(proposal, openmls.ProposalMessage):
            return []
        who = slot.label(proposal.sender_index or 0)
        if proposal.kind == "remove" and proposal.removed == proposal.sender_index:
            line = self._sys(group_id, f"{who} is leaving")
        else:
            line = self._sys(group_id, f"{who} proposed a {proposal.kind}")
        # One member commits at once (the lowest leaf index that is not leaving); the
        # others step in after a pause if the proposal is still pending then.
        leaving = {proposal.removed} if proposal.removed is not None else set()
        staying = sorted(m.index for m in slot.group.members if m.index not in leaving)
        delay = 0.0 if staying and staying[0] == slot.group.own_index else self._proposal_patience
        self._in_background(self._commit_proposals, group_id, delay)
        return [line]

    async def _commit_proposals(self, group_id: bytes, delay: float) -> None:
        await trio.sleep(delay)
        slot = self.slots.get(group_id)
        if slot is None:
            return
        await self._commit(
            group_id,
            slot.group.commit_pending_proposals,
            still_needed=lambda: slot.group.has_pending_proposals,
        )

    # ------------------------------------------------------------------ resync

    async def _resync_pending(self) -> None:
        for group_id in sorted(self._resync_needed):
            try:
                await self.resync(group_id)
            except (openmls.MlsError, CommitFailed, RequestRefused) as exc:
                self.notice(
                    f"could not resynchronise group {_short_id(group_id)}: {exc}",
                    NoticeLevel.ERROR,
                )
            else:
                self._resync_needed.discard(group_id)

    async def resync(self, group_id: bytes) -> None:
        """Rejoin a group by external commit from the service's GroupInfo (PROFILE §7),
        after validating every member of its tree."""
        conn = await self._require_conn()
        reply = await conn.call(lambda i: FetchGroupInfo(i, group_id))
        assert isinstance(reply, GroupInfoReply)
        credential = await self._credential_for(group_id)
        async with self._mls:
            join = await self._thread(
                openmls.Group.join_by_external_commit,
                self.provider,
                self.signer,
                credential,
                reply.group_info,
                application_id=self.profile.application_id,
                max_past_epochs=MAX_PAST_EPOCHS,
            )
            verdicts = await self._thread(check_tree, join.members, self._ctx(group_id))
            rejected = [v for v in verdicts if v.rejection is not None]
            if rejected:
                for v in rejected:
                    assert v.rejection is not None
                    r = v.rejection
                    view = view_rejection(v.who, r.reason, r.rule, r.detail)
                    self.emit(CredentialVerdict(group_id, "external-join", False, rejection=view))
                raise CommitFailed("resync refused: the group's tree holds rejected credentials")
            group, bundle = await self._thread(join.accept)
            info = bundle.group_info
            if info is None:
                info = await self._thread(group.export_group_info)
            try:
                await conn.call(
                    lambda i: Commit(i, group_id, join.epoch, bundle.commit, info, bundle.welcome)
                )
            except RequestRefused:
                # The binding (OpenMLS 0.8's ExternalCommitBuilder) may already have
                # merged the commit locally; then the refused state is simply not kept.
                if group.has_pending_commit:
                    await self._thread(group.clear_pending_commit)
                raise
            if group.has_pending_commit:
                await self._thread(group.merge_pending_commit)
            slot = GroupSlot(group)
            self.slots[group_id] = slot
            await self._after_epoch_change(group_id, slot)
        await self._system_line(group_id, "Resynchronised with the group (external commit)")


ClientCore = ChatClient
"""The name the scenario runner's launcher looks for (scenarios.launcher)."""

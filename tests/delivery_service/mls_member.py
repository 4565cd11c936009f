"""A test member: real OpenMLS state (the binding), a real STIR credential (demo PKI) and
a WireClient on a real WebSocket. Only what the delivery-service tests need."""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import openmls
from ds_constants import DS_ID
from wire_client import WireClient

from shared.profile import CREDENTIAL_TYPE_STIR_CERTIFICATE
from shared.protocol import (
    DS_AUTH_LABEL,
    Ack,
    Auth,
    Challenge,
    ClaimKeyPackage,
    Commit,
    CommitAccepted,
    CreateGroup,
    Deliver,
    DeliveryKind,
    Error,
    GroupCreated,
    KeyPackageReply,
    Ok,
    PublishKeyPackages,
    Registered,
    SendMessage,
    Sent,
    ServerFrame,
    ds_auth_content,
)
from shared.stir.pki import DemoPKI, IssuedCert, public_key_from_point
from shared.stir.tnauthlist import OneTN


@dataclass
class Member:
    """One telephone number's client: MLS provider, signer, credential, groups."""

    tn: str
    signer: openmls.SignatureKeyPair
    credential: openmls.Credential
    provider: openmls.Provider = field(default_factory=openmls.Provider)
    groups: dict[bytes, openmls.Group] = field(default_factory=dict)
    received: list[tuple[int, bytes]] = field(default_factory=list)  # (mid, plaintext)
    handled: set[int] = field(default_factory=set)
    client: WireClient | None = None

    @classmethod
    def make(cls, pki: DemoPKI, ca: IssuedCert, tn: str) -> Member:
        signer = openmls.SignatureKeyPair.generate(openmls.Ciphersuite(2))
        cert = pki.issue_delegate(ca, [OneTN(tn)], public_key_from_point(signer.public_key))
        credential = openmls.Credential(
            CREDENTIAL_TYPE_STIR_CERTIFICATE, cert.credential().encode()
        )
        return cls(tn, signer, credential)

    @property
    def c(self) -> WireClient:
        assert self.client is not None, "not connected"
        return self.client

    def fresh_state(self) -> None:
        """Lose every group (a device wiped; keys and credential kept)."""
        self.provider = openmls.Provider()
        self.groups.clear()

    async def login(self, client: WireClient, *, with_credential: bool = True) -> ServerFrame:
        """hello -> challenge -> auth; returns the server's answer to the auth."""
        self.client = client
        challenge = await client.request(client.hello())
        assert isinstance(challenge, Challenge)
        content = ds_auth_content(challenge.server_nonce, client.last_nonce, DS_ID, self.tn)
        auth = Auth(
            id=client.next_id(),
            tn=self.tn,
            signature_scheme=self.signer.signature_scheme,
            signature_key=self.signer.public_key,
            signature=self.signer.sign_with_label(DS_AUTH_LABEL, content),
            credential_type=self.credential.credential_type if with_credential else None,
            credential=self.credential.content if with_credential else None,
        )
        return await client.request(auth)

    async def register(self, client: WireClient) -> None:
        answer = await self.login(client)
        assert isinstance(answer, Registered), answer

    def key_package(self, *, last_resort: bool = False) -> openmls.KeyPackage:
        return openmls.KeyPackage.create(
            self.provider, self.signer, self.credential, last_resort=last_resort
        )

    async def publish(self, n: int = 1, *, last_resort: bool = False) -> None:
        kps = tuple(self.key_package(last_resort=last_resort).to_bytes() for _ in range(n))
        answer = await self.c.request(PublishKeyPackages(id=self.c.next_id(), key_packages=kps))
        assert isinstance(answer, Ok), answer

    async def create_group(self, group_id: bytes) -> openmls.Group:
        group = openmls.Group.create(self.provider, self.signer, self.credential, group_id=group_id)
        self.groups[group_id] = group
        answer = await self.c.request(
            CreateGroup(
                id=self.c.next_id(), group_id=group_id, group_info=group.export_group_info()
            )
        )
        assert isinstance(answer, GroupCreated), answer
        return group

    async def claim(self, tn: str) -> openmls.KeyPackage:
        answer = await self.c.request(ClaimKeyPackage(id=self.c.next_id(), tn=tn))
        assert isinstance(answer, KeyPackageReply), answer
        return openmls.KeyPackage.parse(self.provider, answer.key_package)

    async def submit(
        self, group_id: bytes, bundle: openmls.CommitBundle, *, epoch: int | None = None
    ) -> ServerFrame:
        """Send a commit bundle; merge on acceptance, clear on refusal. ``epoch``: the
        epoch the commit is made in (for an external commit: the GroupInfo's)."""
        group = self.groups[group_id]
        assert bundle.group_info is not None
        answer = await self.c.request(
            Commit(
                id=self.c.next_id(),
                group_id=group_id,
                epoch=group.epoch if epoch is None else epoch,
                commit=bundle.commit,
                group_info=bundle.group_info,
                welcome=bundle.welcome,
            )
        )
        # ExternalJoin.accept() returns the group already at the new epoch (OpenMLS
        # merges an external commit at once); other commits are pending until answered.
        if isinstance(answer, CommitAccepted):
            if group.has_pending_commit:
                group.merge_pending_commit()
            assert group.epoch == answer.epoch
        elif group.has_pending_commit:
            group.clear_pending_commit()
        return answer

    async def add(self, group_id: bytes, *tns: str) -> ServerFrame:
        kps = [await self.claim(tn) for tn in tns]
        return await self.submit(group_id, self.groups[group_id].add_members(kps))

    async def say(self, group_id: bytes, text: str) -> Sent | Error:
        data = self.groups[group_id].create_message(text.encode())
        answer = await self.c.request(
            SendMessage(id=self.c.next_id(), group_id=group_id, message=data)
        )
        assert isinstance(answer, (Sent, Error)), answer
        return answer

    def handle(self, d: Deliver) -> Any:
        """Apply one delivery to the MLS state (once per mid)."""
        if d.mid in self.handled:
            return None
        self.handled.add(d.mid)
        if d.kind is DeliveryKind.WELCOME:
            staged = openmls.StagedWelcome.from_bytes(self.provider, d.data)
            group = staged.accept()
            self.groups[group.group_id] = group
            return group
        if d.kind in (DeliveryKind.INVITATION, DeliveryKind.KEY_PACKAGE):
            return None  # not MLS traffic: the test reads these itself
        assert d.group_id is not None
        group = self.groups[d.group_id]
        result = group.process_message(d.data)
        if isinstance(result, openmls.StagedCommit):
            group.merge_staged_commit(result)
        elif isinstance(result, openmls.ApplicationMessage):
            self.received.append((d.mid, result.data))
        return result

    async def pump(self, count: int, *, ack: bool = True, timeout: float = 10) -> list[Deliver]:
        """Receive ``count`` deliveries, apply them in order, then ack them in one frame."""
        got = [await self.c.next_deliver(timeout) for _ in range(count)]
        for d in got:
            self.handle(d)
        if ack and got:
            answer = await self.c.request(Ack(id=self.c.next_id(), mids=tuple(d.mid for d in got)))
            assert isinstance(answer, Ok), answer
        return got

    def texts(self) -> list[str]:
        return [data.decode() for _, data in self.received]


async def three_in_a_group(
    url: str,
    stack: AsyncExitStack,
    pki: DemoPKI,
    ca: IssuedCert,
    group_id: bytes,
    tns: tuple[str, str, str],
    *,
    features: tuple[str, ...] = (),
) -> tuple[Member, Member, Member]:
    """Three registered members; the first creates ``group_id`` and adds the other two
    in one commit, whose one Welcome (naming both) reaches both."""
    alice, bob, carol = (Member.make(pki, ca, tn) for tn in tns)
    for m in (alice, bob, carol):
        ws = await stack.enter_async_context(WireClient.connect(url, features=features))
        await m.register(ws)
    await bob.publish(2)
    await carol.publish(1)
    await alice.create_group(group_id)
    answer = await alice.add(group_id, bob.tn, carol.tn)
    assert isinstance(answer, CommitAccepted) and answer.epoch == 1
    for m in (bob, carol):
        (welcome,) = await m.pump(1)
        assert welcome.kind is DeliveryKind.WELCOME and welcome.sender == alice.tn
        assert m.groups[group_id].epoch == 1
    return alice, bob, carol

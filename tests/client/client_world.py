"""Fixtures for the client core tests: a demo PKI, a real delivery service on loopback,
and real clients (profiles on disk, real OpenMLS, real sockets).

Not a conftest.py: other test directories do ``from conftest import ...``, which would
pick up whichever conftest module was imported last. Test modules import the fixtures
from here by their unique names (``world_fixture``, ``start_client_fixture``).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
from cryptography.hazmat.primitives.asymmetric import ec

from client.core.backoff import Backoff
from client.core.client import ChatClient, LinkFactory
from client.core.events import (
    AnswerInvitation,
    Command,
    ConnectionChanged,
    ConnectionState,
    CoreEvent,
    CreateGroup,
    GroupsChanged,
    InvitationReceived,
    InviteNumber,
    MessageReceived,
)
from client.core.profile import ClientProfile, create_profile, load_profile
from delivery_service.credentials import StirIdentifier
from delivery_service.provider import PassportIssuer, Subscriber
from delivery_service.sequencer import CommitSequencer
from delivery_service.server import DeliveryServer
from delivery_service.service import DeliveryCore
from delivery_service.sqlite_storage import SQLiteStorage
from shared.stir.passport import PassportSigner
from shared.stir.pki import DemoPKI, IssuedCert, generate_key
from shared.stir.tnauthlist import OneTN, TNRange
from shared.stir.trust import TrustStore

DS_ID = "ds.client-test"
ALICE, BOB, CAROL, EVE = "12025550101", "12025550102", "12025550103", "14155550100"
SECRETS = {ALICE: "alice-secret", BOB: "bob-secret"}
NAMES = {ALICE: "Alice", BOB: "Bob"}


@dataclass
class World:
    """A PKI (trusted by clients), a rogue PKI (trusted only by the service), a service."""

    tmp: Path
    pki: DemoPKI
    provider_ca: IssuedCert
    rogue: DemoPKI
    rogue_ca: IssuedCert
    url: str = ""
    storages: list[SQLiteStorage] = field(default_factory=list)
    # The running service: a test may set ``server.limits`` before its clients connect
    # (each connection takes the limits in force when it is accepted).
    server: DeliveryServer | None = None

    def new_profile(
        self, name: str, tn: str, *, rogue: bool = False, passport: bool = False
    ) -> ClientProfile:
        key = generate_key("p256")
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        trust = self.tmp / f"trust-{name}"
        self.pki.export_trust(trust)  # clients trust only the real PKI
        if passport:  # the service's provider role signs PASSporTs for this number
            return create_profile(
                self.tmp / name,
                tn=tn,
                ds_url=self.url,
                ds_id=DS_ID,
                private_key=key,
                chain=(),
                trust_dir=trust,
                kind="passport",
                provider_secret=SECRETS[tn],
            )
        pki, ca = (self.rogue, self.rogue_ca) if rogue else (self.pki, self.provider_ca)
        cert = pki.issue_delegate(ca, [OneTN(tn)], key.public_key())
        return create_profile(
            self.tmp / name,
            tn=tn,
            ds_url=self.url,
            ds_id=DS_ID,
            private_key=key,
            chain=cert.chain,
            trust_dir=trust,
            region="US",
        )


@dataclass
class RunningClient:
    """A client core running in the test's nursery, with its events recorded."""

    name: str
    profile: ClientProfile
    events: list[CoreEvent]
    send: trio.MemorySendChannel[Command]
    cancel: trio.CancelScope
    changed: trio.Event = field(default_factory=trio.Event)
    done: trio.Event = field(default_factory=trio.Event)
    core: ChatClient | None = None

    def record(self, event: CoreEvent) -> None:
        self.events.append(event)
        self.changed.set()

    async def wait_for(
        self, predicate: Callable[[CoreEvent], bool], *, timeout: float = 20.0, start: int = 0
    ) -> CoreEvent:
        """The first event from index ``start`` matching ``predicate`` (waits for it)."""
        with trio.fail_after(timeout):
            seen = start
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                self.changed = trio.Event()
                await self.changed.wait()

    async def command(self, command: Command) -> None:
        await self.send.send(command)


@pytest.fixture(name="world")
async def world_fixture(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[World]:
    pki = DemoPKI.init(tmp_path / "pki")
    provider_ca = pki.issue_spc("Acme Telecom", "1234", [TNRange("12025550100", 100)], ca=True)
    rogue = DemoPKI.init(tmp_path / "rogue", name="Rogue STI")
    rogue_ca = rogue.issue_spc("Rogue Tel", "6666", [TNRange("14155550100", 10)], ca=True)
    ds_trust = pki.trust_store()
    rogue_trust = rogue.trust_store()
    both = TrustStore(
        ds_trust.anchors + rogue_trust.anchors,
        {**ds_trust.spc_assignments, **rogue_trust.spc_assignments},
    )
    storage = SQLiteStorage(str(tmp_path / "ds.sqlite"))
    identifier = StirIdentifier(both)
    core = DeliveryCore(DS_ID, storage, identifier)
    # The provider's SPC-level signer: its PASSporTs are "provider-attested key" (§5.8).
    signer = pki.issue_spc("Acme Telecom", "1234", [TNRange("12025550100", 100)])
    assert isinstance(signer.key, ec.EllipticCurvePrivateKey)
    issuer = PassportIssuer(
        PassportSigner(signer.key, signer.chain),
        {tn: Subscriber(tn, SECRETS[tn], NAMES[tn]) for tn in SECRETS},
    )
    server = DeliveryServer(core, CommitSequencer(identifier), passport_issuer=issuer)
    port = await nursery.start(server.serve_websocket, "127.0.0.1", 0)
    w = World(
        tmp_path, pki, provider_ca, rogue, rogue_ca, f"ws://127.0.0.1:{port}/", [storage], server
    )
    yield w
    for s in w.storages:
        s.close()


@pytest.fixture(name="start_client")
def start_client_fixture(
    nursery: trio.Nursery,
) -> Callable[..., Awaitable[RunningClient]]:
    async def start(
        name: str,
        profile: ClientProfile,
        link_factory: LinkFactory | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> RunningClient:
        send, receive = trio.open_memory_channel[Command](math.inf)
        client = RunningClient(name, profile, [], send, trio.CancelScope())

        async def run() -> None:
            with client.cancel:
                core = ChatClient(
                    load_profile(profile.directory),
                    client.record,
                    backoff=Backoff(base=0.05, cap=0.5),
                    link_factory=link_factory,
                    clock=clock or (lambda: datetime.now(UTC)),
                    renew_check=0.1,
                    proposal_patience=0.3,
                )
                client.core = core
                await core.run(receive)
            client.done.set()

        nursery.start_soon(run)
        return client

    return start


def connected(e: CoreEvent) -> bool:
    """The event that says a client's connection is up."""
    return isinstance(e, ConnectionChanged) and e.state is ConnectionState.CONNECTED


async def create_group(client: RunningClient, title: str) -> bytes:
    """``client`` creates a group titled ``title``; returns its id."""
    await client.command(CreateGroup(title))
    created = await client.wait_for(lambda e: isinstance(e, GroupsChanged) and bool(e.groups))
    assert isinstance(created, GroupsChanged)
    return created.groups[0].group_id


async def join(inviter: RunningClient, invitee: RunningClient, group_id: bytes, tn: str) -> None:
    """``inviter`` invites ``tn`` (``invitee``'s number), who accepts and joins."""
    mark = len(invitee.events)
    await inviter.command(InviteNumber(group_id, tn))
    invitation = await invitee.wait_for(lambda e: isinstance(e, InvitationReceived), start=mark)
    assert isinstance(invitation, InvitationReceived)
    assert invitation.invitation.group_id == group_id
    await invitee.command(AnswerInvitation(invitation.invitation.invitation_id, True))
    await invitee.wait_for(
        lambda e: isinstance(e, MessageReceived) and e.line.text.startswith("You joined"),
        start=mark,
    )

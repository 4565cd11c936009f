"""``stirmls demo --tui``: a small real world to chat in, with no setup.

Everything is real and lives in one temporary directory: a demo PKI (an STI-CA and a
provider CA for +1 202 555 01xx), a delivery service on loopback backed by SQLite, the
human's profile (Alice) and two scripted members (Bob and Carol) running the real client
core. Alice's core creates the group "Stir demo" and invites the bots; they accept,
greet, answer every message of hers, and tell their safety code when asked, so the
Verify screen can be tried end to end.

All of it runs in the one trio guest run that the Textual app hosts (client.tui.guest):
when the app quits, Alice's core stops on Shutdown, the bots and the service are
cancelled with it, and the temporary directory is removed after the app returns.
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import trio
from cryptography.hazmat.primitives.asymmetric import ec

from client.core.client import ChatClient
from client.core.events import (
    AnswerInvitation,
    Command,
    ConnectionChanged,
    ConnectionState,
    CoreEvent,
    CreateGroup,
    EpochChanged,
    GroupsChanged,
    InvitationReceived,
    InviteNumber,
    MessageReceived,
    SendText,
)
from client.core.profile import ClientProfile, create_profile
from client.tui.app import ChatApp
from delivery_service.credentials import StirIdentifier
from delivery_service.sequencer import CommitSequencer
from delivery_service.server import DeliveryServer
from delivery_service.service import DeliveryCore
from delivery_service.sqlite_storage import SQLiteStorage
from scenarios.reconnect import scenario_backoff
from shared.safety_code import format_code
from shared.stir.pki import DemoPKI, generate_key
from shared.stir.tnauthlist import OneTN, TNRange

DS_ID = "ds.demo"
GROUP_TITLE = "Stir demo"
PROVIDER_CA = "demo-provider-ca"
# Quick reconnects: everything is on loopback, a slow backoff would only look like a hang.


@dataclass(frozen=True)
class Person:
    """A member of the demo world: display name and E.164 digits."""

    name: str
    tn: str


HUMAN = Person("Alice", "12025550101")
BOTS = (Person("Bob", "12025550102"), Person("Carol", "12025550103"))

_FRIENDLY = {
    "Bob": "Bob here: you said {text!r}. Good to hear from you!",
    "Carol": "Carol got {text!r}. Ask me for my code and we can verify.",
}


def bot_answer(
    bot: Person, text: str, code: str | None, others: tuple[str, ...] = ()
) -> str | None:
    """What a bot says to one of the human's messages (pure, so it can be tested);
    None when the message names only other bots (``others``), so it is not for this one."""
    words = set(re.findall(r"\w+", text.lower()))
    if bot.name.lower() not in words and any(o.lower() in words for o in others):
        return None
    if "code" in text.lower() or "verify" in text.lower():
        if code is None:
            return f"{bot.name}: I have no code for this group yet."
        return f"{bot.name}: my code is {code}. Compare it on Ctrl+G and press m if it matches."
    template = _FRIENDLY.get(bot.name, "{name} heard {text!r}.")
    return template.format(text=text, name=bot.name)


@dataclass
class DemoBot:
    """A scripted member: accepts invitations, greets each group once, answers the human."""

    person: Person
    human: Person
    codes: dict[bytes, str] = field(default_factory=dict)  # group -> code at its epoch
    epochs: dict[bytes, int] = field(default_factory=dict)
    answered: list[str] = field(default_factory=list)
    others: tuple[str, ...] = ()  # the other bots' names (a message to them is not ours)
    running: bool = False
    _greeted: set[bytes] = field(default_factory=set)

    async def run(self, profile: ClientProfile) -> None:
        """Run the bot's real core until cancelled."""
        send, receive = trio.open_memory_channel[Command](math.inf)
        events_in, events_out = trio.open_memory_channel[CoreEvent](math.inf)
        core = ChatClient(profile, events_in.send_nowait, backoff=scenario_backoff())
        self.running = True
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(core.run, receive)
                async for event in events_out:
                    for command in self.react(event):
                        send.send_nowait(command)
        finally:
            self.running = False

    def react(self, event: CoreEvent) -> list[Command]:
        """The commands the bot sends in answer to one event of its core."""
        if isinstance(event, InvitationReceived):
            return [AnswerInvitation(event.invitation.invitation_id, True)]
        if isinstance(event, EpochChanged):
            self.codes[event.group_id] = format_code(event.safety.digits)
            self.epochs[event.group_id] = event.safety.epoch
            return []
        if isinstance(event, GroupsChanged):
            fresh = [g for g in event.groups if g.active and g.group_id not in self._greeted]
            self._greeted.update(g.group_id for g in fresh)
            return [
                SendText(
                    g.group_id,
                    f"Hi {self.human.name}, {self.person.name} here (a demo bot). "
                    "Write anything and I will answer; ask for my code to verify.",
                )
                for g in fresh
            ]
        if isinstance(event, MessageReceived):
            line = event.line
            # Only the human's lines: answering each other would never end.
            if line.own or line.system or not line.sender.startswith(self.human.name):
                return []
            answer = bot_answer(self.person, line.text, self.codes.get(line.group_id), self.others)
            if answer is None:
                return []
            self.answered.append(line.text)
            return [SendText(line.group_id, answer)]
        return []


class DemoWorld:
    """The demo world in ``base``: its ``core`` is the ChatApp's core (a guest CoreMain)."""

    def __init__(self, base: Path, human: Person = HUMAN, bots: tuple[Person, ...] = BOTS) -> None:
        """Create the PKI now (fast, synchronous); service and clients start in ``core``."""
        self.base = base
        self.human = human
        self.bots = [
            DemoBot(person, human, others=tuple(b.name for b in bots if b != person))
            for person in bots
        ]
        self.pki = DemoPKI.init(base / "pki")
        self.pki.issue_spc(
            "Demo Telecom", "1234", [TNRange("12025550100", 100)], ca=True, name=PROVIDER_CA
        )
        self.url: str | None = None
        self.running = False
        self.group_id: bytes | None = None
        self._group_requested = False

    def _profile(self, person: Person, url: str) -> ClientProfile:
        key = generate_key("p256")
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        cert = self.pki.issue_delegate(
            self.pki.get(PROVIDER_CA),
            [OneTN(person.tn)],
            key.public_key(),
            permitted_nam=person.name,
        )
        return create_profile(
            self.base / "profiles" / person.name,
            tn=person.tn,
            ds_url=url,
            ds_id=DS_ID,
            private_key=key,
            chain=cert.chain,
            trust_dir=self.pki.export_trust(self.base / "trust" / person.name),
            region="US",
        )

    async def core(
        self, commands: trio.MemoryReceiveChannel[Command], emit: Callable[[CoreEvent], None]
    ) -> None:
        """Run service, bots and the human's core; return when the human's core stops."""
        storage = SQLiteStorage(str(self.base / "ds.sqlite"))
        identifier = StirIdentifier(self.pki.trust_store())
        server = DeliveryServer(
            DeliveryCore(DS_ID, storage, identifier), CommitSequencer(identifier)
        )
        # The human's core reads the UI's commands plus the world's set-up commands.
        to_core, from_world = trio.open_memory_channel[Command](math.inf)

        def watch(event: CoreEvent) -> None:
            emit(event)
            connected = (
                isinstance(event, ConnectionChanged) and event.state is ConnectionState.CONNECTED
            )
            # The core refuses commands until connected: set the group up on first contact.
            if connected and not self._group_requested:
                self._group_requested = True
                to_core.send_nowait(CreateGroup(GROUP_TITLE))
            elif isinstance(event, GroupsChanged) and self.group_id is None:
                for group in event.groups:
                    if group.title == GROUP_TITLE:
                        self.group_id = group.group_id
                        for bot in self.bots:
                            to_core.send_nowait(InviteNumber(group.group_id, bot.person.tn))

        async def forward() -> None:
            async for command in commands:
                await to_core.send(command)

        self.running = True
        try:
            async with trio.open_nursery() as nursery:
                port = await nursery.start(server.serve_websocket, "127.0.0.1", 0)
                self.url = f"ws://127.0.0.1:{port}/"
                for bot in self.bots:
                    nursery.start_soon(bot.run, self._profile(bot.person, self.url))
                human = self._profile(self.human, self.url)
                nursery.start_soon(forward)
                await ChatClient(human, watch, backoff=scenario_backoff()).run(from_world)
                nursery.cancel_scope.cancel()
        finally:
            storage.close()
            self.running = False


def make_app(world: DemoWorld) -> ChatApp:
    """The chat app hosting the world (US numbers may be typed without +1)."""
    return ChatApp(core=world.core, default_region="US")


def run_demo_tui() -> int:
    """Open the TUI in a fresh demo world; everything is removed when the app exits."""
    with tempfile.TemporaryDirectory(prefix="stirmls-demo-") as tmp:
        app = make_app(DemoWorld(Path(tmp)))
        app.run()
        error = app.guest.error if app.guest is not None else None
    if error is not None and not isinstance(error, trio.Cancelled):
        print(f"stirmls demo: the world stopped with an error: {error!r}")
        return 1
    return 0

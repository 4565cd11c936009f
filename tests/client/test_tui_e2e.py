"""End to end through guest mode: the real app, the real trio core inside it as a trio
guest, a real delivery service and a real second member (a bot) on loopback.

Everything trio (service, Alice's core, Bob's core and bot) runs in the one trio guest
run hosted by Textual's asyncio loop; the test drives the app only with keys.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from pathlib import Path

import trio
from cryptography.hazmat.primitives.asymmetric import ec
from textual.widgets import Static

from client.core.backoff import Backoff
from client.core.client import ChatClient
from client.core.events import (
    AnswerInvitation,
    Command,
    CoreEvent,
    EpochChanged,
    InvitationReceived,
    MessageReceived,
    SendText,
)
from client.core.profile import ClientProfile, create_profile
from client.tui.app import ChatApp
from client.tui.screens.main import MainScreen
from client.tui.screens.verify import VerifyScreen
from delivery_service.credentials import StirIdentifier
from delivery_service.sequencer import CommitSequencer
from delivery_service.server import DeliveryServer
from delivery_service.service import DeliveryCore
from delivery_service.sqlite_storage import SQLiteStorage
from shared.stir.pki import DemoPKI, generate_key
from shared.stir.tnauthlist import OneTN, TNRange

DS_ID = "ds.e2e"


def make_profile(tmp: Path, pki: DemoPKI, name: str, tn: str, url: str) -> ClientProfile:
    key = generate_key("p256")
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert = pki.issue_delegate(pki.get("acme-ca"), [OneTN(tn)], key.public_key(), permitted_nam=name)
    return create_profile(
        tmp / name,
        tn=tn,
        ds_url=url,
        ds_id=DS_ID,
        private_key=key,
        chain=cert.chain,
        trust_dir=pki.export_trust(tmp / f"trust-{name}"),
        region="US",
    )


class Bob:
    """A scripted member: accepts invitations, echoes messages, remembers his codes."""

    def __init__(self) -> None:
        self.codes: dict[int, str] = {}
        self.commands: trio.MemorySendChannel[Command] | None = None

    async def run(self, profile: ClientProfile) -> None:
        send, receive = trio.open_memory_channel[Command](math.inf)
        events_in, events_out = trio.open_memory_channel[CoreEvent](math.inf)
        self.commands = send
        core = ChatClient(profile, events_in.send_nowait, backoff=Backoff(0.05, 0.5))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(core.run, receive)
            async for event in events_out:
                if isinstance(event, InvitationReceived):
                    await send.send(AnswerInvitation(event.invitation.invitation_id, True))
                elif isinstance(event, EpochChanged):
                    self.codes[event.safety.epoch] = event.safety.digits
                elif isinstance(event, MessageReceived):
                    line = event.line
                    if not line.own and not line.system and not line.text.startswith("echo"):
                        await send.send(SendText(line.group_id, f"echo: {line.text}"))


def test_app_with_real_core_service_and_bot(tmp_path: Path) -> None:
    pki = DemoPKI.init(tmp_path / "pki")
    pki.issue_spc("Acme", "1234", [TNRange("12025550100", 100)], ca=True, name="acme-ca")
    bob = Bob()
    started: dict[str, ClientProfile] = {}

    async def world(
        commands: trio.MemoryReceiveChannel[Command], emit: Callable[[CoreEvent], None]
    ) -> None:
        storage = SQLiteStorage(str(tmp_path / "ds.sqlite"))
        identifier = StirIdentifier(pki.trust_store())
        server = DeliveryServer(
            DeliveryCore(DS_ID, storage, identifier), CommitSequencer(identifier)
        )
        try:
            async with trio.open_nursery() as nursery:
                port = await nursery.start(server.serve_websocket, "127.0.0.1", 0)
                url = f"ws://127.0.0.1:{port}/"
                alice = make_profile(tmp_path, pki, "Alice", "12025550101", url)
                bob_profile = make_profile(tmp_path, pki, "Bob", "12025550102", url)
                started["alice"] = alice
                nursery.start_soon(bob.run, bob_profile)
                await ChatClient(alice, emit, backoff=Backoff(0.05, 0.5)).run(commands)
                nursery.cancel_scope.cancel()
        finally:
            storage.close()

    async def until(pilot_pause: Callable[[], object], check: Callable[[], bool]) -> None:
        for _ in range(200):
            if check():
                return
            await pilot_pause()  # type: ignore[misc]
        raise AssertionError("condition not reached in time")

    async def main() -> None:
        app = ChatApp(core=world, default_region="US")
        async with app.run_test(size=(140, 40)) as pilot:

            def pause() -> object:
                return pilot.pause(0.05)

            await until(pause, lambda: app.model.me is not None)
            assert app.model.me is not None and app.model.me.name == "Alice"
            await pilot.press("ctrl+n", *"Family", "enter")
            await until(pause, lambda: app.model.current_group is not None)
            await pilot.press("ctrl+o", *"202 555 0102", "enter")  # read as a US number
            group = app.model.current_group
            assert group is not None
            await until(pause, lambda: len(group.members) == 2)
            await pilot.press(*"hello bob", "enter")
            await until(pause, lambda: any(x.text == "echo: hello bob" for x in group.lines))
            echo = next(x for x in group.lines if x.text == "echo: hello bob")
            assert echo.sender == "Bob  +1 202-555-0102"

            await pilot.press("ctrl+g")
            assert isinstance(app.screen, VerifyScreen)
            assert group.safety is not None
            shown = str(app.screen.query_one("#verify-code", Static).render())
            # Bob's core computed the same code for this epoch on its own.
            await until(pause, lambda: group.safety is not None and group.safety.epoch in bob.codes)
            assert shown.replace(" ", "") == bob.codes[group.safety.epoch]
            await pilot.press("escape")
            assert isinstance(app.screen, MainScreen)
            await pilot.press("ctrl+q")
        assert app.guest is not None and app.guest.error is None
        assert not app.guest.running

    asyncio.run(main())
    assert "alice" in started

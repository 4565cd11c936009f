"""Pilot tests of the chat TUI: every action by keyboard, commands out, events in.

The app runs on asyncio (Textual); pytest-trio's trio_mode would run ``async def`` tests
under trio, so each test is a plain function that runs its scenario with asyncio.run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

from textual.pilot import Pilot
from textual.widgets import Input, Label, Static
from tui_sample import AUTH_3, AUTH_4, FAMILY, MEMBERS, T0, WORK, world

from client.core.events import (
    AnswerInvitation,
    ChatLine,
    CodeMismatch,
    Command,
    CreateGroup,
    EpochChanged,
    Invitation,
    InvitationReceived,
    InviteNumber,
    LeaveGroup,
    MarkCode,
    MessageReceived,
    OpenGroup,
    RemoveMember,
    SendText,
    Shutdown,
)
from client.tui.app import ChatApp
from client.tui.model import Mark
from client.tui.screens.alarm import MismatchAlarm
from client.tui.screens.invite import InviteDialog
from client.tui.screens.main import MainScreen
from client.tui.screens.verify import VerifyScreen
from client.tui.widgets.member_list import MemberList
from client.tui.widgets.message_log import MessageLog
from shared.safety_code import SafetyCode

Scenario = Callable[[ChatApp, Pilot[None], list[Command]], Awaitable[None]]


def run(scenario: Scenario, *, region: str | None = None) -> list[Command]:
    sent: list[Command] = []

    async def main() -> None:
        app = ChatApp(sent.append, default_region=region)
        async with app.run_test(size=(140, 40)) as pilot:
            for event in world():
                app.deliver(event)
            await pilot.pause()
            await scenario(app, pilot, sent)

    asyncio.run(main())
    return sent


def row_text(members: MemberList, index: int) -> str:
    return "".join(seg.text for seg in members.row_segments(members.members[index]))


def test_world_is_shown() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        assert isinstance(app.screen, MainScreen)
        title = str(app.screen.query_one("#chat-title", Label).render())
        assert "Family" in title and "epoch 3" in title
        assert "09060 60585 12110 63635 15160 66685" in title
        log = app.screen.query_one(MessageLog)
        assert log.line_count == 3
        members = app.screen.query_one(MemberList)
        assert "(you)" in row_text(members, 0)
        assert "[PROVIDER KEY · PASSporT]" in row_text(members, 2)

    run(scenario)


def test_send_and_receive() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        await pilot.press(*"hello", "enter")
        assert sent == [SendText(FAMILY, "hello")]
        assert app.screen.query_one("#compose", Input).value == ""
        app.deliver(MessageReceived(ChatLine(FAMILY, "Bob", "hi Alice", T0)))
        await pilot.pause()
        log = app.screen.query_one(MessageLog)
        assert log.line_count == 4
        # The new line is visible at the bottom of the log (it follows the end).
        rendered = [log.render_line(y).text for y in range(log.size.height)]
        assert any("09:30 Bob: hi Alice" in line for line in rendered)
        # A message for a group that is not open is kept, not shown.
        app.deliver(MessageReceived(ChatLine(WORK, "Dan", "meeting", T0)))
        await pilot.pause()
        assert log.line_count == 4
        assert app.model.groups[WORK].lines[-1].text == "meeting"

    run(scenario)


def test_blank_message_is_not_sent() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        await pilot.press("space", "enter")
        assert sent == []

    run(scenario)


def test_invite_by_number() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        await pilot.press("ctrl+o")
        assert isinstance(app.screen, InviteDialog)
        await pilot.press(*"+1 (202) 555-0199", "enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        assert sent == [InviteNumber(FAMILY, "12025550199")]

    run(scenario)


def test_invalid_number_is_refused_with_a_reason() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        await pilot.press("ctrl+o", *"555-01x", "enter")
        assert isinstance(app.screen, InviteDialog)
        error = str(app.screen.query_one("#invite-error", Label).render())
        assert error.startswith("Not a phone number:") and "555-01x" in error
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert sent == []

    run(scenario)


def test_invite_uses_default_region() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        await pilot.press("ctrl+o", *"07700 900456", "enter")
        assert sent == [InviteNumber(FAMILY, "447700900456")]

    run(scenario, region="GB")


def test_verify_match_then_mismatch_alarm_stays_until_dismissed() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        await pilot.press("ctrl+g")
        screen = app.screen
        assert isinstance(screen, VerifyScreen)
        assert "Epoch 3" in str(screen.query_one("#verify-epoch", Static).render())
        code = str(screen.query_one("#verify-code", Static).render())
        assert code == "09060 60585 12110 63635 15160 66685"
        note = str(screen.query_one("#verify-note", Static).render())
        assert "QR" in note and "high-assurance" in note
        members = screen.query_one(MemberList)
        assert [m.key for m in members.members] == [MEMBERS[1].key, MEMBERS[2].key]

        await pilot.press("m")  # Bob: codes match
        assert sent[-1] == MarkCode(FAMILY, 3, MEMBERS[1].key, True)
        assert app.model.mark_of(FAMILY, MEMBERS[1].key) is Mark.MATCH
        assert row_text(members, 0).startswith("✔ Bob")

        await pilot.press("down", "d")  # Carol: codes differ
        await pilot.pause()
        assert sent[-1] == MarkCode(FAMILY, 3, MEMBERS[2].key, False)
        assert isinstance(app.screen, MismatchAlarm)
        text = str(app.screen.query_one("#alarm-text", Static).render())
        assert "Alice" in text and "Carol" in text and "epoch 3" in text
        await pilot.press("escape", "m", "d")  # nothing but the button dismisses it
        assert isinstance(app.screen, MismatchAlarm)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, VerifyScreen)
        assert row_text(members, 1).startswith("✘ Carol")

        # The marks hold only for this epoch.
        app.deliver(EpochChanged(FAMILY, SafetyCode(FAMILY, 4, AUTH_4)))
        await pilot.pause()
        assert app.model.mark_of(FAMILY, MEMBERS[1].key) is None
        assert row_text(members, 0).startswith("  Bob")
        assert "Epoch 4" in str(screen.query_one("#verify-epoch", Static).render())
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)

    run(scenario)


def test_verify_by_pasting_the_other_code() -> None:
    theirs_same = SafetyCode(FAMILY, 3, AUTH_3).qr_payload()
    theirs_other = SafetyCode(FAMILY, 3, AUTH_4).qr_payload()
    stale = SafetyCode(FAMILY, 2, AUTH_3).qr_payload()

    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        await pilot.press("ctrl+g", "ctrl+k")
        screen = app.screen
        compare = screen.query_one("#verify-compare", Input)
        assert compare.has_focus
        # Pasted text arrives whole; setting the value stands in for the paste.
        compare.value = stale
        await pilot.press("enter")
        assert "another epoch" in str(screen.query_one("#verify-result", Label).render())
        compare.value = theirs_same
        await pilot.press("enter")
        assert sent[-1] == MarkCode(FAMILY, 3, MEMBERS[1].key, True)
        await pilot.press("down", "ctrl+k")
        compare.value = theirs_other
        await pilot.press("enter")
        await pilot.pause()
        assert sent[-1] == MarkCode(FAMILY, 3, MEMBERS[2].key, False)
        assert isinstance(app.screen, MismatchAlarm)

    run(scenario)


def test_core_mismatch_event_raises_alarm() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        app.deliver(CodeMismatch(FAMILY, 3, "Alice", "Bob"))
        app.deliver(CodeMismatch(FAMILY, 3, "Alice", "Carol"))
        await pilot.pause()
        assert isinstance(app.screen, MismatchAlarm)
        assert "Bob" in app.screen.alarm.text
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MismatchAlarm)  # the second one follows
        assert "Carol" in app.screen.alarm.text
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)

    run(scenario)


def test_accept_and_refuse_invitations() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        for n in ("1", "2"):
            invitation = Invitation(f"inv-{n}", b"g" + n.encode(), f"Club {n}", "+1 202-555-0109")
            app.deliver(InvitationReceived(invitation))
        await pilot.pause()
        status = str(app.screen.query_one("#status", Static).render())
        assert "2 invitation(s)" in status
        await pilot.press("ctrl+r", "a")
        assert sent == [AnswerInvitation("inv-1", True)]
        await pilot.press("r")
        assert sent[-1] == AnswerInvitation("inv-2", False)
        assert app.model.invitations == {}
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)

    run(scenario)


def test_remove_member_and_leave_need_confirmation() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        app.screen.query_one(MemberList).focus()
        await pilot.press("down", "ctrl+t", "n")
        assert sent == []
        await pilot.press("ctrl+t", "y")
        assert sent == [RemoveMember(FAMILY, MEMBERS[1].key)]
        await pilot.press("up", "ctrl+t")  # yourself: refused, use leave
        assert isinstance(app.screen, MainScreen)
        await pilot.press("ctrl+l", "y")
        assert sent[-1] == LeaveGroup(FAMILY)

    run(scenario)


def test_new_group_and_switching_groups() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        await pilot.press("ctrl+n", "enter")  # blank title refused
        await pilot.press(*"Book club", "enter")
        assert sent == [CreateGroup("Book club")]
        app.screen.query_one("#groups").focus()
        await pilot.press("down", "enter")
        assert sent[-1] == OpenGroup(WORK)
        assert app.model.current == WORK
        assert app.screen.query_one(MessageLog).line_count == 0

    run(scenario)


def test_quit_stops_the_core() -> None:
    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        await pilot.press("ctrl+q")
        assert isinstance(sent[-1], Shutdown)

    run(scenario)


def test_large_group_and_history_are_virtualised() -> None:
    members = tuple(
        replace(MEMBERS[1], key=f"{i:016x}", leaf_index=i, is_self=i == 0) for i in range(1000)
    )
    lines = tuple(ChatLine(FAMILY, "Bob", f"message {i}", T0) for i in range(10_000))

    async def scenario(app: ChatApp, pilot: Pilot[None], sent: list[Command]) -> None:
        from client.core.events import HistoryLoaded, MembersChanged

        app.deliver(MembersChanged(FAMILY, members))
        app.deliver(HistoryLoaded(FAMILY, lines))
        await pilot.pause()
        log = app.screen.query_one(MessageLog)
        assert log.line_count == 10_000
        visible = [log.render_line(y).text for y in range(log.size.height)]
        assert any("message 9999" in line for line in visible)
        # Only what scrolled into view was wrapped.
        assert sum(s is not None for s in log._strips) <= log.size.height + 5
        member_list = app.screen.query_one(MemberList)
        member_list.focus()
        await pilot.press("end")
        assert member_list.cursor == 999
        assert member_list.scroll_y >= 1000 - member_list.size.height

    run(scenario)

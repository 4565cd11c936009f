"""Folding the client core's events into the run's views (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from client.core import events as ev
from scenarios.client_state import ClientState
from shared.identity_view import AssuranceLevel, IdentityView, view_rejection
from shared.safety_code import SafetyCode

G = b"group-id-1"


def identity(number: str, name: str, kind: str, level: AssuranceLevel) -> IdentityView:
    return IdentityView(
        number, True, None, name, "from the PASSporT (rcd)", kind, level, False, None
    )


ALICE = identity("+1 202-555-0101", "Alice", "PASSporT", AssuranceLevel.PROVIDER_ATTESTED_KEY)
BOB = identity("+1 202-555-0102", "Bob", "number certificate", AssuranceLevel.END_TO_END)


def line(text: str, sender: str, *, own: bool = False, system: bool = False) -> ev.MessageReceived:
    return ev.MessageReceived(ev.ChatLine(G, sender, text, datetime.now(UTC), own, system))


def test_fold_gives_the_view_expectations_read() -> None:
    state = ClientState("bob", tn_of_sender={"+1 202-555-0101": "12025550101"})
    assert state.view("g1", G) is None  # no code yet
    safety = SafetyCode(G, 3, bytes(range(32)))
    for event in (
        ev.GroupsChanged((ev.GroupSummary(G, "g1", 2, 2),)),
        ev.MembersChanged(
            G, (ev.MemberRow("a", 0, ALICE), ev.MemberRow("b", 1, BOB, is_self=True))
        ),
        ev.EpochChanged(G, safety),
        line("hello", "Alice  +1 202-555-0101"),
        line("mine", "Bob", own=True),
        line("Carol joined", "", system=True),
        ev.CodeMismatch(G, 3, "bob", "alice"),
    ):
        state.apply(event)
    view = state.view("g1", G)
    assert view is not None
    assert (view.epoch, view.code, view.authenticator) == (
        3,
        safety.display,
        bytes(range(32)).hex(),
    )
    assert [(m.tn, m.name, m.credential, m.assurance) for m in view.members] == [
        ("12025550101", "Alice", "passport", "provider-attested-key"),
        ("12025550102", "Bob", "tn-cert", "end-to-end"),
    ]
    assert [(r.sender_tn, r.text) for r in view.received] == [("12025550101", "hello")]
    assert view.alarm and view.active
    # Alice entering Bob's member list is an accepted credential (Bob himself is not).
    (accepted,) = state.verdicts
    assert (accepted.verifier, accepted.subject_tn, accepted.accepted) == (
        "bob",
        "12025550101",
        True,
    )
    assert state.group_by_title("g1") is state.groups[G]


def test_verdicts_and_removal() -> None:
    state = ClientState("alice")
    state.apply(ev.GroupsChanged((ev.GroupSummary(G, "g1", 1, 1),)))
    state.apply(
        ev.CredentialVerdict(
            G,
            "key-package",
            False,
            rejection=view_rejection("+1 202-555-0166", "mky", "§5.4", "no"),
        )
    )
    state.apply(ev.CredentialVerdict(G, "welcome", True, identity=BOB))
    rejected, accepted = state.verdicts
    assert (rejected.accepted, rejected.reason, rejected.rule, rejected.group) == (
        False,
        "mky",
        "§5.4",
        "g1",
    )
    assert (accepted.subject_tn, accepted.kind, accepted.where) == (
        "12025550102",
        "tn-cert",
        "welcome",
    )
    state.apply(ev.GroupsChanged((ev.GroupSummary(G, "g1", 1, 1, active=False),)))
    assert not state.groups[G].active

"""A small, fixed world of core events for TUI tests (stable content for snapshots)."""

from __future__ import annotations

from datetime import datetime

from client.core.events import (
    ChatLine,
    ConnectionChanged,
    ConnectionState,
    CoreEvent,
    EpochChanged,
    GroupsChanged,
    GroupSummary,
    HistoryLoaded,
    MemberRow,
    MembersChanged,
    SelfIdentity,
)
from shared.identity_view import AssuranceLevel, IdentityView
from shared.safety_code import SafetyCode

FAMILY = b"family-group-id!"
WORK = b"work-group-id-00"
AUTH_3 = bytes(range(32))
AUTH_4 = bytes(range(100, 132))
T0 = datetime(2026, 11, 28, 9, 30)


def ident(
    number: str,
    name: str | None,
    assurance: AssuranceLevel = AssuranceLevel.END_TO_END,
    kind: str = "number certificate",
    source: str = "from the certificate",
) -> IdentityView:
    advice = None if assurance is AssuranceLevel.END_TO_END else "compare codes"
    return IdentityView(
        number=number,
        number_certified=True,
        number_note=None,
        name=name,
        name_source=source if name else "no name",
        kind=kind,
        assurance=assurance,
        stale=False,
        advice=advice,
    )


ALICE = ident("+1 202-555-0101", "Alice")
BOB = ident("+1 202-555-0102", "Bob", source="from the PASSporT (rcd)", kind="PASSporT")
CAROL = ident(
    "+44 7700 900123",
    "Carol",
    AssuranceLevel.PROVIDER_ATTESTED_KEY,
    kind="PASSporT",
    source="from the PASSporT (rcd)",
)
MEMBERS = (
    MemberRow("aa" * 8, 0, ALICE, is_self=True),
    MemberRow("bb" * 8, 1, BOB),
    MemberRow("cc" * 8, 2, CAROL),
)


def world() -> list[CoreEvent]:
    """Alice, in two groups; the first is open with three members and a short history."""
    return [
        SelfIdentity(ALICE),
        ConnectionChanged(ConnectionState.CONNECTED),
        GroupsChanged(
            (
                GroupSummary(FAMILY, "Family", 3, 3),
                GroupSummary(WORK, "Work", 1, 1),
            )
        ),
        HistoryLoaded(
            FAMILY,
            (
                ChatLine(FAMILY, "Bob", "Dinner at eight?", T0),
                ChatLine(FAMILY, "Alice", "Yes!", T0, own=True),
                ChatLine(FAMILY, "", "Carol joined", T0, system=True),
            ),
        ),
        MembersChanged(FAMILY, MEMBERS),
        EpochChanged(FAMILY, SafetyCode(FAMILY, 3, AUTH_3)),
    ]

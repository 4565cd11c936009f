"""How a validated STIR identity is shown to people: number, name and its source, badges.

The validator (shared.stir.validator) decides *whether* a credential holds and returns an
Identity; this module decides only how that verdict reads on screen, so that the TUI,
the scenario runner and logs all say the same words (PROFILE.md §4.4, §5.8):

* the number in international format ("+1 202-555-0101"); a number that travels only in
  the LeafNode's application_id under a carrier-level certificate is marked "claimed
  via carrier <SPC>", never shown as certified;
* the display name and where it comes from (PASSporT rcd, certificate constraint, none);
* a badge for the credential kind and its assurance: end to end, carrier key, or
  provider-attested key (the last two mean the provider holds or chose the key, so
  members are told to compare codes, PROFILE.md §8).

Pure: no I/O. The Identity is read through a structural Protocol so this module does
not import the validator (the layering keeps views below the verdict logic).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class AssuranceLevel(enum.Enum):
    """The three assurances of the profile, by the validator's Assurance member names."""

    END_TO_END = "end to end"
    CARRIER_KEY = "carrier key"
    PROVIDER_ATTESTED_KEY = "provider-attested key"


class IdentityLike(Protocol):
    """The fields of shared.stir.validator.Identity this module reads."""

    @property
    def tns(self) -> object: ...
    @property
    def display_name(self) -> str | None: ...
    @property
    def name_source(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def signer_scope(self) -> str: ...
    @property
    def assurance(self) -> object: ...
    @property
    def stale(self) -> bool: ...


KIND_LABELS = {
    "passport": "PASSporT",
    "tn-cert": "number certificate",
    "spc-cert": "carrier certificate",
}
NAME_SOURCE_LABELS = {
    "rcd": "from the PASSporT (rcd)",
    "certificate": "from the certificate",
}
_BADGE_TEXT = {
    AssuranceLevel.END_TO_END: "E2E",
    AssuranceLevel.CARRIER_KEY: "CARRIER KEY",
    AssuranceLevel.PROVIDER_ATTESTED_KEY: "PROVIDER KEY",
}
_ADVICE = {
    AssuranceLevel.END_TO_END: None,
    AssuranceLevel.CARRIER_KEY: "the carrier holds this member's key: compare codes",
    AssuranceLevel.PROVIDER_ATTESTED_KEY: "the provider chose this member's key: compare codes",
}


@functools.lru_cache(maxsize=65536)
def display_number(tn: str) -> str:
    """Canonical E.164 digits shown in international format ("+1 202-555-0101").

    The one place that depends on shared.stir.numbers (libphonenumber rules). Cached:
    formatting is ~100 µs and every client shows every member's number after every
    epoch change (O(N^2) formattings per commit in a large group, profiled).
    """
    from shared.stir.numbers import display

    return display(tn)


def _range_text(start: str, count: int) -> str:
    last = str(int(start) + count - 1).zfill(len(start))
    return f"{display_number(start)} … {display_number(last)} ({count} numbers)"


def numbers_text(tns: object) -> str:
    """The number(s) of an identity for people: one number, a list, or a range.

    Accepts a digit string, a range object with ``start`` and ``count`` (TNRange), or a
    sequence of either. Anything else is shown by ``str`` rather than hidden.
    """
    if isinstance(tns, str):
        return display_number(tns)
    if type(tns) is tuple or type(tns) is list:
        # The validator's tns is a tuple: checked before the ABC below, whose isinstance
        # costs more than the rest of this function (profiled).
        return ", ".join(numbers_text(item) for item in tns) or "(no number)"
    start = getattr(tns, "start", None)
    count = getattr(tns, "count", None)
    if isinstance(start, str) and isinstance(count, int):
        return _range_text(start, count)
    if isinstance(tns, Sequence):
        return ", ".join(numbers_text(item) for item in tns) or "(no number)"
    tn = getattr(tns, "tn", None)  # OneTN
    if isinstance(tn, str):
        return display_number(tn)
    return str(tns)


def assurance_level(assurance: object) -> AssuranceLevel:
    """Map the validator's Assurance (by member name, or our own level) to ours."""
    if isinstance(assurance, AssuranceLevel):
        return assurance
    name = getattr(assurance, "name", assurance)
    try:
        return AssuranceLevel[str(name)]
    except KeyError:
        raise ValueError(f"unknown assurance {assurance!r}") from None


@dataclass(frozen=True)
class IdentityView:
    """Everything the member pane shows for one accepted member."""

    number: str  # formatted, e.g. "+1 202-555-0101"
    number_certified: bool  # False: claimed via a carrier-level certificate
    number_note: str | None  # e.g. "claimed via carrier 1234"
    name: str | None
    name_source: str  # "from the PASSporT (rcd)", "from the certificate", "no name"
    kind: str  # "PASSporT", "number certificate", "carrier certificate"
    assurance: AssuranceLevel
    stale: bool
    advice: str | None  # what to do about a weaker assurance

    @property
    def badge(self) -> str:
        """Short badge: the assurance, then the kind, e.g. "[E2E · PASSporT]"."""
        return f"[{_BADGE_TEXT[self.assurance]} · {self.kind}]"

    @property
    def title(self) -> str:
        """Name and number on one line ("Alice  +1 202-555-0101")."""
        return f"{self.name}  {self.number}" if self.name else self.number

    def lines(self) -> list[str]:
        """The full description, one fact per line, for a details view or a log."""
        out = [self.number + ("" if self.number_certified else f" ({self.number_note})")]
        out.append(f"name: {self.name} ({self.name_source})" if self.name else "name: none")
        out.append(f"credential: {self.kind}; key: {self.assurance.value}")
        if self.stale:
            out.append("credential is stale (expired or older than max_age): ask for renewal")
        if self.advice:
            out.append(self.advice)
        return out


def view_identity(identity: IdentityLike, *, claimed_tn: str | None = None) -> IdentityView:
    """Render an accepted Identity.

    ``claimed_tn`` is the number a carrier-level member carries in its LeafNode's
    application_id (PROFILE.md §4.4); it is shown as claimed via the carrier, and only
    for an "spc-cert" identity (elsewhere the certified numbers are what counts).
    """
    level = assurance_level(identity.assurance)
    # The validator's Identity carries the claimed number itself (read from application_id).
    claimed_tn = claimed_tn or getattr(identity, "claimed_tn", None)
    kind = KIND_LABELS.get(identity.kind, identity.kind)
    if identity.kind == "spc-cert":
        scope = identity.signer_scope
        if claimed_tn:
            number = display_number(claimed_tn)
            note: str | None = f"claimed via carrier {scope}"
        else:
            number = f"carrier {scope}"
            note = "no number claimed"
        certified = False
    else:
        number = numbers_text(identity.tns)
        note = None
        certified = True
    if identity.display_name:
        source = NAME_SOURCE_LABELS.get(identity.name_source or "", "source unknown")
    else:
        source = "no name"
    return IdentityView(
        number=number,
        number_certified=certified,
        number_note=note,
        name=identity.display_name or None,
        name_source=source,
        kind=kind,
        assurance=level,
        stale=identity.stale,
        advice=_ADVICE[level],
    )


@dataclass(frozen=True)
class RejectionView:
    """What people see about a credential that failed validation (PROFILE.md §6)."""

    who: str  # the member as far as it can be named without trusting the credential
    rule: str  # PROFILE.md section, e.g. "§5.4"
    reason: str  # machine code, e.g. "mky"
    detail: str  # sentence for people

    @property
    def text(self) -> str:
        """One line: who, why, and which rule."""
        return f"rejected {self.who}: {self.detail} [{self.reason}, PROFILE {self.rule}]"


def view_rejection(who: str, reason: str, rule: str, detail: str) -> RejectionView:
    """Render a CredentialRejected (its reason, rule and detail) for a named member."""
    return RejectionView(who=who, rule=rule, reason=reason, detail=detail)

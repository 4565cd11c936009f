"""What a run leaves behind, as plain values: the input of expectations and reports.

The engine builds a RunResult while it drives real clients; expectations, the Markdown
report and the JSON summary are pure functions of it (so they are tested with
constructed results, without running anything).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from scenarios.model import Scenario

JSONScalar = str | int | float | bool | None
JSONValue = JSONScalar | list["JSONValue"] | dict[str, "JSONValue"]

EventKind = Literal[
    "run",  # the run started / ended
    "step",  # a step started / ended (with its outcome)
    "sent",  # a client sent a message (application text, commit, welcome, key package)
    "received",  # a client received and processed a message
    "verdict",  # a credential was validated (accepted or rejected, by which rule)
    "epoch",  # a client's group moved to a new epoch (with its code)
    "comparison",  # two actors compared codes out of band
    "alarm",  # a client raised the code-mismatch alarm
    "adversary",  # an adversary acted (dropped, delayed, reordered, replayed, forged)
    "service",  # the delivery service started, stopped, restarted
    "frame",  # the relay passed an MLS-carrying frame between a client and the service
]


@dataclass(frozen=True)
class Event:
    """One line of the transcript. ``t`` is seconds since the run started."""

    seq: int
    t: float
    kind: EventKind
    actor: str | None = None
    group: str | None = None
    data: dict[str, JSONValue] = field(default_factory=dict)

    def to_json(self) -> dict[str, JSONValue]:
        """The transcript line's object (keys in a fixed order)."""
        out: dict[str, JSONValue] = {"seq": self.seq, "t": round(self.t, 6), "kind": self.kind}
        if self.actor is not None:
            out["actor"] = self.actor
        if self.group is not None:
            out["group"] = self.group
        out.update(self.data)
        return out


@dataclass(frozen=True)
class MemberInfo:
    """A group member as one actor's client shows it."""

    tn: str  # E.164 digits
    name: str | None
    credential: str  # passport | tn-cert | spc-cert
    assurance: str  # end-to-end | carrier-key | provider-attested-key
    stale: bool = False


@dataclass(frozen=True)
class ReceivedMessage:
    """An application message an actor's client decrypted."""

    sender_tn: str
    text: str
    epoch: int
    sender: str | None = None  # the actor with that number, when the run knows one


@dataclass(frozen=True)
class GroupView:
    """One actor's state of one group when the run ended."""

    actor: str
    group: str
    epoch: int
    code: str  # the 30-digit code of PROFILE.md §8, six groups of five
    authenticator: str  # hex of the full epoch authenticator
    members: tuple[MemberInfo, ...]
    received: tuple[ReceivedMessage, ...] = ()
    alarm: bool = False  # the client raised the code-mismatch alarm
    active: bool = True  # False once removed or left


@dataclass(frozen=True)
class StepResult:
    """How one step ended."""

    index: int
    label: str
    action: str
    actor: str | None
    outcome: Literal["ok", "rejected", "error"]
    reason: str | None = None  # the rejection's rule name (validator reason code)
    rule: str | None = None  # the PROFILE.md section, e.g. "§5.4"
    detail: str | None = None  # a sentence for people
    seconds: float = 0.0


@dataclass(frozen=True)
class CredentialVerdict:
    """A credential check at one of PROFILE.md §6's entry points."""

    verifier: str  # actor name, or "delivery-service"
    subject_tn: str | None
    kind: str | None  # passport | tn-cert | spc-cert (None when it did not decode)
    where: str  # key_package | welcome | commit | update | register
    accepted: bool
    group: str | None = None
    subject: str | None = None  # the actor with that number, when the run knows one
    reason: str | None = None
    rule: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class Comparison:
    """A compare_codes step: two actors read their codes to each other."""

    group: str
    between: tuple[str, str]
    epochs: tuple[int | None, int | None]
    codes: tuple[str | None, str | None]
    match: bool


@dataclass(frozen=True)
class RunResult:
    """Everything a run produced, in the order it happened."""

    scenario: Scenario
    steps: tuple[StepResult, ...]
    views: tuple[GroupView, ...]
    verdicts: tuple[CredentialVerdict, ...] = ()
    comparisons: tuple[Comparison, ...] = ()
    events: tuple[Event, ...] = ()
    seconds: float = 0.0
    error: str | None = None  # set when the run stopped early; expectations then fail

    def view(self, actor: str, group: str) -> GroupView | None:
        """``actor``'s view of ``group``, or None when it never held that group."""
        for v in self.views:
            if v.actor == actor and v.group == group:
                return v
        return None

    def step_result(self, label: str) -> StepResult | None:
        """The result of the step with this id or label."""
        for s in self.steps:
            if s.label == label:
                return s
        return None

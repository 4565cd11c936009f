"""The delivery-service adversaries as a pure state machine (no I/O).

The runner puts a relay between every client and the delivery service; for each frame
that crosses it the relay asks the ``Interceptor`` what to do, and does it. This module
decides; ``scenarios.relay`` moves bytes and time. Kinds handled here: ``drop``,
``delay``, ``reorder``, ``replay`` and ``substitute_key_package`` (SCENARIOS.md and
docs/scenarios.md). A dropped delivery is acknowledged to the service on the
recipient's behalf, as a service that discards it would: otherwise the service would
deliver it again on the next connection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from scenarios.model import Adversary, Scenario
from shared.protocol import (
    Ack,
    AnswerInvitation,
    Deliver,
    DeliveryKind,
    Frame,
    KeyPackageReply,
    PublishKeyPackages,
)

Direction = Literal["to_service", "to_client"]

_DELIVERY_KINDS: Mapping[DeliveryKind, str] = {
    DeliveryKind.COMMIT: "commit",
    DeliveryKind.APPLICATION: "application",
    DeliveryKind.WELCOME: "welcome",
    DeliveryKind.KEY_PACKAGE: "key_package",
    DeliveryKind.INVITATION: "invitation",
}


@dataclass(frozen=True)
class Forward:
    """Send ``frame`` on towards its destination after ``delay`` seconds."""

    frame: Frame
    direction: Direction
    actor: str  # whose connection
    delay: float = 0.0


@dataclass(frozen=True)
class Note:
    """Something an adversary did, for the transcript (kind "adversary")."""

    adversary: int
    act: str


Action = Forward | Note


@dataclass(frozen=True)
class Traffic:
    """A frame crossing the relay on ``actor``'s connection, during step ``step``."""

    direction: Direction
    actor: str
    frame: Frame
    step: str | None


def message_kind(frame: Frame) -> str | None:
    """The selector word for a frame (``commit``, ``application``, ...), None if none fits."""
    if isinstance(frame, Deliver):
        return _DELIVERY_KINDS.get(frame.kind)
    if isinstance(frame, KeyPackageReply | AnswerInvitation | PublishKeyPackages):
        return "key_package"
    return None


@dataclass
class _State:
    adversary: Adversary
    affected: int = 0
    held: list[Traffic] = field(default_factory=list)  # reorder
    captured: list[Traffic] = field(default_factory=list)  # replay with at_step

    @property
    def exhausted(self) -> bool:
        count = self.adversary.count
        return count is not None and self.affected >= count


class Interceptor:
    """Decides, frame by frame, what the delivery-service adversaries do.

    ``group_ids`` maps scenario group names to MLS group ids as the run creates them
    (``bind_group``); selectors naming a group match only once it is bound.
    """

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.actor_of_tn = {a.tn: a.name for a in scenario.actors.values()}
        self.group_ids: dict[str, bytes] = {}
        self.states = [_State(a) for a in scenario.adversaries if a.kind != "rogue_provider"]
        # substitute_key_package: the latest KeyPackage each actor published or answered.
        self.key_packages: dict[str, bytes] = {}

    def bind_group(self, name: str, group_id: bytes) -> None:
        """The run created scenario group ``name`` with this id."""
        self.group_ids[name] = group_id

    # -- selectors ------------------------------------------------------------------------

    def _sender(self, t: Traffic) -> str | None:
        if t.direction == "to_service":
            return t.actor
        if isinstance(t.frame, Deliver):
            return self.actor_of_tn.get(t.frame.sender)
        if isinstance(t.frame, KeyPackageReply):
            return self.actor_of_tn.get(t.frame.tn)
        return None

    def _recipient(self, t: Traffic) -> str | None:
        return t.actor if t.direction == "to_client" else None

    def _group(self, t: Traffic) -> bytes | None:
        return getattr(t.frame, "group_id", None)

    def matches(self, a: Adversary, t: Traffic) -> bool:
        """Whether ``t`` is selected by ``a``'s selectors."""
        kind = message_kind(t.frame)
        if kind is None:
            return False
        if a.message != "any" and a.message != kind:
            return False
        if a.sender is not None and self._sender(t) != a.sender:
            return False
        if a.recipient is not None and self._recipient(t) != a.recipient:
            return False
        if a.steps and t.step not in a.steps:
            return False
        if a.group is not None:
            wanted = self.group_ids.get(a.group)
            if wanted is None or self._group(t) != wanted:
                return False
        return True

    # -- events ---------------------------------------------------------------------------

    def on_frame(self, t: Traffic) -> list[Action]:
        """What to do with one frame: forward it (maybe changed, delayed), or not."""
        self._remember_key_package(t)
        actions: list[Action] = []
        frame = t.frame
        for state in self.states:
            a = state.adversary
            if a.kind == "substitute_key_package":
                frame, note = self._substitute(state, dataclasses.replace(t, frame=frame))
                if note:
                    actions.append(note)
                continue
            if a.kind == "replay" and a.at_step is not None:
                replaced = self._replay_at_step(state, dataclasses.replace(t, frame=frame))
                if replaced is not None:
                    frame, note = replaced
                    actions.append(note)
                continue
            if t.direction != "to_client" or state.exhausted:
                continue
            current = dataclasses.replace(t, frame=frame)
            if not self.matches(a, current):
                continue
            state.affected += 1
            kind = message_kind(frame)
            if a.kind == "drop":
                actions.append(Note(a.index, f"drops a {kind} to {t.actor}"))
                actions += self._ack_for(current)
                return actions
            if a.kind == "delay":
                actions.append(Note(a.index, f"delays a {kind} to {t.actor} by {a.seconds} s"))
                actions.append(Forward(frame, t.direction, t.actor, delay=a.seconds or 0.0))
                return actions
            if a.kind == "reorder":
                state.held.append(current)
                if len(state.held) < (a.window or 2):
                    actions.append(Note(a.index, f"holds a {kind} to {t.actor}"))
                    return actions
                actions += self._release(state)
                return actions
            if a.kind == "replay":
                copies = a.times or 1
                actions.append(Note(a.index, f"replays a {kind} to {t.actor} x{copies}"))
                actions += [Forward(frame, t.direction, t.actor)] * (1 + copies)
                return actions
        actions.append(Forward(frame, t.direction, t.actor))
        return actions

    def on_step_start(self, label: str) -> list[Action]:
        """At the start of a step: replays due at this step (not key packages)."""
        actions: list[Action] = []
        for state in self.states:
            a = state.adversary
            if a.kind == "replay" and a.at_step == label and a.message != "key_package":
                for t in state.captured:
                    actions.append(Note(a.index, f"replays an old {message_kind(t.frame)}"))
                    actions.append(Forward(t.frame, t.direction, t.actor))
                state.captured.clear()
        return actions

    def flush(self, remaining: frozenset[str] = frozenset()) -> list[Action]:
        """Release what is held once its window can no longer fill: at the end of a
        step, unless a step the adversary selects is still to come (``remaining``)."""
        actions: list[Action] = []
        for state in self.states:
            if state.held and not (set(state.adversary.steps) & remaining):
                actions += self._release(state)
        return actions

    # -- helpers --------------------------------------------------------------------------

    def _release(self, state: _State) -> list[Action]:
        held, state.held = state.held, []
        actions: list[Action] = [
            Note(state.adversary.index, f"releases {len(held)} messages in reverse order")
        ]
        actions += [Forward(t.frame, t.direction, t.actor) for t in reversed(held)]
        return actions

    def _ack_for(self, t: Traffic) -> list[Action]:
        if isinstance(t.frame, Deliver):
            # id 0: the relay's own request id space is not the client's; the service
            # answers with Ok re=0, which the relay swallows.
            return [Forward(Ack(id=0, mids=(t.frame.mid,)), "to_service", t.actor)]
        return []

    def _remember_key_package(self, t: Traffic) -> None:
        frame = t.frame
        if t.direction == "to_service" and isinstance(frame, PublishKeyPackages):
            if frame.key_packages:
                self.key_packages[t.actor] = frame.key_packages[0]
        elif t.direction == "to_service" and isinstance(frame, AnswerInvitation):
            self.key_packages[t.actor] = frame.key_package

    def _key_package_of(self, t: Traffic) -> tuple[str | None, bytes | None]:
        """(whose, bytes) of a KeyPackage travelling to a client."""
        frame = t.frame
        if t.direction != "to_client":
            return None, None
        if isinstance(frame, KeyPackageReply):
            return self.actor_of_tn.get(frame.tn), frame.key_package
        if isinstance(frame, Deliver) and frame.kind == DeliveryKind.KEY_PACKAGE:
            return self.actor_of_tn.get(frame.sender), frame.data
        return None, None

    def _with_key_package(self, frame: Frame, data: bytes) -> Frame:
        if isinstance(frame, KeyPackageReply):
            return dataclasses.replace(frame, key_package=data)
        assert isinstance(frame, Deliver)
        return dataclasses.replace(frame, data=data)

    def _substitute(self, state: _State, t: Traffic) -> tuple[Frame, Note | None]:
        a = state.adversary
        whose, _ = self._key_package_of(t)
        if whose is None or whose != a.victim or state.exhausted:
            return t.frame, None
        if a.steps and t.step not in a.steps:
            return t.frame, None
        if a.group is not None and self._group(t) not in (None, self.group_ids.get(a.group)):
            return t.frame, None
        assert a.substitute is not None
        other = self.key_packages.get(a.substitute)
        if other is None:
            return t.frame, Note(a.index, f"has no KeyPackage of {a.substitute} to hand out yet")
        state.affected += 1
        note = Note(a.index, f"hands {t.actor} {a.substitute}'s KeyPackage as {a.victim}'s")
        return self._with_key_package(t.frame, other), note

    def _replay_at_step(self, state: _State, t: Traffic) -> tuple[Frame, Note] | None:
        """Capture during ``step``; at ``at_step`` re-use (key packages) the capture."""
        a = state.adversary
        if t.direction != "to_client":
            return None
        if t.step != a.at_step and self.matches(a, t) and not state.captured:
            state.captured.append(t)  # first match in the capturing step
            return None
        if t.step == a.at_step and a.message == "key_package" and state.captured:
            whose, _ = self._key_package_of(t)
            old_whose, old = self._key_package_of(state.captured[0])
            if whose is not None and whose == old_whose and old is not None:
                state.affected += 1
                note = Note(a.index, f"hands {t.actor} an old KeyPackage of {whose}")
                return self._with_key_package(t.frame, old), note
        return None

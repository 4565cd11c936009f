"""A scenario as typed, frozen values: what the loader returns and the engine runs.

The vocabulary is the contract of SCENARIOS.md (team design folder) plus the extensions
written down in docs/scenarios.md. Every value here has been validated: actor, group,
provider and step names it holds refer to things the scenario defines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

CredentialKind = Literal["passport", "tn-cert", "spc-cert"]
CREDENTIAL_KINDS: Final[tuple[CredentialKind, ...]] = ("passport", "tn-cert", "spc-cert")

# Deliberately bad credentials an actor can be issued (the run's PKI and signers issue what
# the file says, so that verifiers are what is tested). Each applies to the kinds listed.
CREDENTIAL_DEFECTS: Final[dict[str, tuple[CredentialKind, ...]]] = {
    "expired": ("passport", "tn-cert", "spc-cert"),
    "other-group": ("passport",),
    "mky-mismatch": ("passport",),
    "untrusted-root": ("passport", "tn-cert", "spc-cert"),
    "wider-delegate": ("tn-cert",),
}

ACTIONS: Final[tuple[str, ...]] = (
    "create_group",
    "invite",
    "accept",
    "send",
    "remove",
    "update",
    "leave",
    "compare_codes",
    "restart",
    "wait",
)

ADVERSARY_KINDS: Final[tuple[str, ...]] = (
    "rogue_provider",
    "drop",
    "delay",
    "reorder",
    "replay",
    "substitute_key_package",
)

# What the delivery-service adversaries can pick out of the traffic.
MESSAGE_KINDS: Final[tuple[str, ...]] = (
    "any",
    "commit",
    "welcome",
    "application",
    "proposal",
    "key_package",
)

Outcome = Literal["ok", "rejected"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("ok", "rejected")
CodeVerdict = Literal["same", "differ"]
CODE_VERDICTS: Final[tuple[CodeVerdict, ...]] = ("same", "differ")


@dataclass(frozen=True)
class NumberRange:
    """``start/count``: ``count`` consecutive numbers from ``start`` (E.164 digits)."""

    start: str
    count: int

    def contains(self, tn: str) -> bool:
        """True when ``tn`` (E.164 digits) lies in the range; compared as digit strings."""
        if len(tn) != len(self.start) or not tn.isdigit():
            return False
        return int(self.start) <= int(tn) < int(self.start) + self.count


@dataclass(frozen=True)
class Provider:
    """A carrier: gets an SPC-level certificate from the run's STI CA."""

    name: str
    spc: str
    numbers: tuple[NumberRange, ...]

    def covers(self, tn: str) -> bool:
        """True when the SPC assignment table gives ``tn`` to this provider."""
        return any(r.contains(tn) for r in self.numbers)


@dataclass(frozen=True)
class Actor:
    """A person with a client: a number, a name, a provider and a credential kind."""

    name: str
    tn: str  # E.164 digits, no '+'
    display_name: str | None
    provider: str
    credential: CredentialKind
    defect: str | None = None  # one of CREDENTIAL_DEFECTS, on purpose
    crowd: str | None = None  # the [actors.X] table with `count` that made this actor


@dataclass(frozen=True)
class Step:
    """One step. Fields an action does not use are empty; the loader enforces which."""

    index: int  # 1-based position among the [[step]] tables
    action: str
    line: int | None = None
    id: str | None = None
    actor: str | None = None
    group: str | None = None
    members: tuple[str, ...] = ()  # invite / remove (crowd names already expanded)
    between: tuple[str, ...] = ()  # compare_codes
    text: str | None = None  # send
    seconds: float | None = None  # wait
    parallel: str | None = None  # consecutive steps with the same label run concurrently

    @property
    def label(self) -> str:
        """The step's id, or ``step[N]`` when it has none."""
        return self.id if self.id is not None else f"step[{self.index}]"


@dataclass(frozen=True)
class Adversary:
    """An adversary acting for the whole run. Fields a kind does not use are empty."""

    index: int
    kind: str
    line: int | None = None
    # rogue_provider
    provider: str | None = None
    victims: tuple[str, ...] = ()
    # delivery-service selectors (drop / delay / reorder / replay)
    group: str | None = None
    message: str = "any"
    sender: str | None = None
    recipient: str | None = None
    steps: tuple[str, ...] = ()  # only traffic caused by these steps (ids or parallel labels)
    count: int | None = None  # at most this many messages (None: all that match)
    seconds: float | None = None  # delay
    window: int | None = None  # reorder: hold this many, release them reversed
    times: int | None = None  # replay: how many extra copies
    at_step: str | None = None  # replay: when to replay (default: right after the original)
    # substitute_key_package
    victim: str | None = None
    substitute: str | None = None  # the actor whose KeyPackage is handed out instead


@dataclass(frozen=True)
class SeenMember:
    """The fields of a ``sees`` expectation; None means "any value"."""

    tn: str | None = None
    name: str | None = None
    credential: str | None = None
    assurance: str | None = None


@dataclass(frozen=True)
class StepOutcomeExpectation:
    """``step`` ended with ``outcome``; when rejected, for ``reason`` (if given)."""

    index: int
    step: str
    outcome: Outcome
    reason: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class SeesExpectation:
    """``actor``'s member list for ``group`` has a member with these fields."""

    index: int
    actor: str
    group: str
    sees: SeenMember
    line: int | None = None


@dataclass(frozen=True)
class ReceivedExpectation:
    """``actor`` received exactly these texts from other members in ``group``, in order."""

    index: int
    actor: str
    group: str
    received: tuple[str, ...]
    line: int | None = None


@dataclass(frozen=True)
class CodesExpectation:
    """The two actors' codes at their current epochs are the same / differ."""

    index: int
    compare: tuple[str, str]
    group: str
    codes: CodeVerdict
    line: int | None = None


@dataclass(frozen=True)
class AlarmExpectation:
    """``actor``'s client raised (True) or did not raise (False) a code-mismatch alarm."""

    index: int
    actor: str
    group: str
    alarm: bool
    line: int | None = None


@dataclass(frozen=True)
class MemberCountExpectation:
    """``actor``'s member list for ``group`` has exactly ``member_count`` members."""

    index: int
    actor: str
    group: str
    member_count: int
    line: int | None = None


Expectation = (
    StepOutcomeExpectation
    | SeesExpectation
    | ReceivedExpectation
    | CodesExpectation
    | AlarmExpectation
    | MemberCountExpectation
)


@dataclass(frozen=True)
class Scenario:
    """A validated scenario file."""

    name: str
    description: str
    ciphersuite: int
    providers: dict[str, Provider]
    actors: dict[str, Actor]
    steps: tuple[Step, ...]
    adversaries: tuple[Adversary, ...] = ()
    expectations: tuple[Expectation, ...] = ()
    crowds: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = "<scenario>"

    @property
    def groups(self) -> tuple[str, ...]:
        """Group names in the order their create_group steps appear."""
        return tuple(s.group for s in self.steps if s.action == "create_group" and s.group)

    def step_by_id(self, step_id: str) -> Step:
        """The step with this id (KeyError when none)."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)

"""Read a scenario file (TOML, tomllib) into a validated Scenario.

Everything the contract names is checked before anything runs: known keys only, the
right type for each value, the fields each action and adversary kind needs, and every
reference (actors, providers, groups, step ids). A bad file raises ScenarioError
naming the file, the line and the key path, e.g.
``s.toml:12: key 'step[3].action': unknown action 'sned' (expected one of ...)``.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NoReturn, cast

from scenarios.errors import ScenarioError
from scenarios.model import (
    ACTIONS,
    ADVERSARY_KINDS,
    CODE_VERDICTS,
    CREDENTIAL_DEFECTS,
    CREDENTIAL_KINDS,
    MESSAGE_KINDS,
    OUTCOMES,
    Actor,
    Adversary,
    AlarmExpectation,
    CodesExpectation,
    CredentialKind,
    Expectation,
    MemberCountExpectation,
    NumberRange,
    Provider,
    ReceivedExpectation,
    Scenario,
    SeenMember,
    SeesExpectation,
    Step,
    StepOutcomeExpectation,
)
from scenarios.phone_numbers import NumberNotValid, normalise_tn
from scenarios.rogue_shapes import check_rogue_split
from scenarios.source_positions import key_lines, line_of

DEFAULT_CIPHERSUITE = 0x0002  # PROFILE.md §1 (shared.profile.DEFAULT_CIPHERSUITE)
CIPHERSUITES = (0x0001, 0x0002, 0x0003)
ASSURANCES = ("end-to-end", "carrier-key", "provider-attested-key")

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_TOML_POSITION = re.compile(r"\(at line (\d+), column \d+\)")

# Keys each action accepts beyond the common ones, and which of them are required.
_COMMON_STEP_KEYS = ("action", "id", "parallel")
_ACTION_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # action: (required, optional)
    "create_group": (("actor", "group"), ()),
    "invite": (("actor", "group", "members"), ()),
    "accept": (("actor", "group"), ()),
    "send": (("actor", "group", "text"), ()),
    "remove": (("actor", "group", "members"), ()),
    "update": (("actor", "group"), ()),
    "leave": (("actor", "group"), ()),
    "compare_codes": (("group", "between"), ()),
    "restart": ((), ("actor",)),  # no actor: the delivery service restarts
    "wait": (("seconds",), ()),
}

_SELECTOR_KEYS = ("group", "message", "sender", "recipient", "step", "count")
_ADVERSARY_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "rogue_provider": (("provider", "victims"), ("group",)),
    "drop": ((), _SELECTOR_KEYS),
    "delay": (("seconds",), _SELECTOR_KEYS),
    "reorder": ((), (*_SELECTOR_KEYS, "window")),
    "replay": ((), (*_SELECTOR_KEYS, "times", "at_step")),
    "substitute_key_package": (("victim", "with"), ("step", "group", "count")),
}

# An expectation's kind is told by the key that only it has.
_EXPECT_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "outcome": (("step", "outcome"), ("reason",)),
    "sees": (("actor", "group", "sees"), ()),
    "received": (("actor", "group", "received"), ()),
    "codes": (("compare", "group", "codes"), ()),
    "alarm": (("actor", "group", "alarm"), ()),
    "member_count": (("actor", "group", "member_count"), ()),
}


# Keys that tell an expectation's kind even when its main key is missing.
_EXPECT_MARKERS: dict[str, tuple[str, ...]] = {
    "outcome": ("outcome", "step", "reason"),
    "sees": ("sees",),
    "received": ("received",),
    "codes": ("codes", "compare"),
    "alarm": ("alarm",),
    "member_count": ("member_count",),
}


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate the scenario file at ``path`` (ScenarioError when it is bad)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror}", filename=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError("the file is not UTF-8 text", filename=str(path)) from exc
    return parse_scenario(text, filename=str(path))


def parse_scenario(text: str, *, filename: str = "<scenario>") -> Scenario:
    """Validate the scenario in ``text``; ``filename`` is used in error messages."""
    return _Loader(text, filename).load()


def _a(value: object) -> str:
    """A value's TOML type, for messages."""
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a float",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    return names.get(type(value), type(value).__name__)


class _Loader:
    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.filename = filename
        self.lines = key_lines(text)
        self.actors: dict[str, Actor] = {}
        self.crowds: dict[str, tuple[str, ...]] = {}
        self.providers: dict[str, Provider] = {}
        self.step_ids: set[str] = set()
        self.groups: set[str] = set()
        self.parallel_labels: set[str] = set()

    # -- errors ---------------------------------------------------------------------------

    def fail(self, key: str | None, problem: str) -> NoReturn:
        line = line_of(self.lines, key) if key else None
        raise ScenarioError(problem, key=key, line=line, filename=self.filename)

    def one_of(self, key: str, value: str, choices: Iterable[str], what: str) -> NoReturn:
        choices = tuple(choices)
        hint = difflib.get_close_matches(value, choices, n=1)
        did_you_mean = f"; did you mean '{hint[0]}'?" if hint else ""
        self.fail(
            key,
            f"unknown {what} {value!r} (expected one of {', '.join(choices)}){did_you_mean}",
        )

    # -- typed getters ----------------------------------------------------------------------

    def table(self, value: object, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"expected a table, got {_a(value)}")
        return cast(dict[str, Any], value)

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {_a(value)}")
        if not value.strip():
            self.fail(key, "must not be empty")
        return value

    def integer(self, value: object, key: str, *, minimum: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"expected an integer, got {_a(value)}")
        if value < minimum:
            self.fail(key, f"must be at least {minimum}, got {value}")
        return value

    def number(self, value: object, key: str, *, positive: bool) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"expected a number of seconds, got {_a(value)}")
        if value < 0 or (positive and value == 0):
            self.fail(key, f"must be {'more than' if positive else 'at least'} 0, got {value}")
        return float(value)

    def boolean(self, value: object, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {_a(value)}")
        return value

    def strings(self, value: object, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.fail(key, f"expected an array of strings, got {_a(value)}")
        return tuple(self.string(v, f"{key}[{i}]") for i, v in enumerate(value, start=1))

    def name(self, value: object, key: str, what: str) -> str:
        text = self.string(value, key)
        if not _NAME.match(text):
            self.fail(key, f"{what} {text!r} must be a letter then letters, digits, '_' or '-'")
        return text

    def check_keys(
        self,
        data: Mapping[str, object],
        key: str,
        required: Iterable[str],
        optional: Iterable[str],
        what: str,
    ) -> None:
        required = tuple(required)
        allowed = (*required, *optional)
        for k in data:
            if k not in allowed:
                hint = difflib.get_close_matches(k, allowed, n=1)
                did_you_mean = f"; did you mean '{hint[0]}'?" if hint else ""
                self.fail(
                    f"{key}.{k}" if key else k,
                    f"unexpected key for {what} (allowed: {', '.join(allowed)}){did_you_mean}",
                )
        for k in required:
            if k not in data:
                self.fail(key, f"{what} needs the key '{k}'")

    # -- references ---------------------------------------------------------------------------

    def actor_ref(self, value: object, key: str) -> str:
        text = self.string(value, key)
        if text not in self.actors:
            self.one_of(key, text, self.actors, "actor")
        return text

    def actor_refs(self, value: object, key: str) -> tuple[str, ...]:
        """Actor names; ``X*`` stands for every actor of the crowd ``X``."""
        names: list[str] = []
        for i, text in enumerate(self.strings(value, key), start=1):
            if text.endswith("*") and text[:-1] in self.crowds:
                names.extend(self.crowds[text[:-1]])
            else:
                names.append(self.actor_ref(text, f"{key}[{i}]"))
        if not names:
            self.fail(key, "must name at least one actor")
        seen: set[str] = set()
        for n in names:
            if n in seen:
                self.fail(key, f"names actor {n!r} twice")
            seen.add(n)
        return tuple(names)

    def group_ref(self, value: object, key: str) -> str:
        text = self.name(value, key, "group")
        if text not in self.groups:
            self.fail(key, f"group {text!r} is not made by an earlier create_group step")
        return text

    def step_ref(self, value: object, key: str, *, parallel_ok: bool = False) -> str:
        text = self.string(value, key)
        if parallel_ok and text in self.parallel_labels:
            return text
        if text not in self.step_ids:
            if self.step_ids:
                self.one_of(key, text, sorted(self.step_ids), "step id")
            self.fail(key, f"unknown step id {text!r} (no step has an id)")
        return text

    # -- sections ---------------------------------------------------------------------------

    def load(self) -> Scenario:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            match = _TOML_POSITION.search(str(exc))
            problem = _TOML_POSITION.sub("", str(exc)).strip()
            raise ScenarioError(
                f"not valid TOML: {problem}",
                line=int(match.group(1)) if match else None,
                filename=self.filename,
            ) from exc
        self.check_keys(
            data,
            "",
            ("scenario", "actors", "step"),
            ("providers", "adversary", "expect"),
            "a scenario file",
        )
        name, description, ciphersuite = self.scenario_table(data["scenario"])
        providers = self.table(data.get("providers", {}), "providers")
        for pname, pdata in providers.items():
            self.providers[pname] = self.provider(pname, pdata)
        actors = self.table(data["actors"], "actors")
        for aname, adata in actors.items():
            self.actor(aname, adata)
        if not self.actors:
            self.fail("actors", "a scenario needs at least one actor")
        steps = self.steps(data["step"])
        adversaries = tuple(
            self.adversary(i, a) for i, a in enumerate(self.array(data, "adversary"), start=1)
        )
        expectations = tuple(
            self.expectation(i, e) for i, e in enumerate(self.array(data, "expect"), start=1)
        )
        scenario = Scenario(
            name=name,
            description=description,
            ciphersuite=ciphersuite,
            providers=dict(self.providers),
            actors=dict(self.actors),
            steps=steps,
            adversaries=adversaries,
            expectations=expectations,
            crowds=dict(self.crowds),
            source=self.filename,
        )
        check_rogue_split(scenario)  # a rogue_provider's unsupported shapes, key named
        return scenario

    def array(self, data: Mapping[str, object], key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list):
            self.fail(key, f"expected [[{key}]] tables, got {_a(value)}")
        return [self.table(v, f"{key}[{i}]") for i, v in enumerate(value, start=1)]

    def scenario_table(self, value: object) -> tuple[str, str, int]:
        data = self.table(value, "scenario")
        self.check_keys(data, "scenario", ("name",), ("description", "ciphersuite"), "[scenario]")
        name = self.string(data["name"], "scenario.name")
        description = data.get("description", "")
        if not isinstance(description, str):
            self.fail("scenario.description", f"expected a string, got {_a(description)}")
        suite = data.get("ciphersuite", DEFAULT_CIPHERSUITE)
        suite = self.integer(suite, "scenario.ciphersuite", minimum=1)
        if suite not in CIPHERSUITES:
            self.fail(
                "scenario.ciphersuite",
                f"unsupported ciphersuite {suite} (expected one of 1, 2, 3)",
            )
        return name, description, suite

    def provider(self, pname: str, value: object) -> Provider:
        key = f"providers.{pname}"
        self.name(pname, key, "provider name")
        data = self.table(value, key)
        self.check_keys(data, key, ("spc",), ("numbers",), "a provider")
        spc = self.string(data["spc"], f"{key}.spc")
        if not spc.isalnum():
            self.fail(f"{key}.spc", f"an SPC is letters and digits, got {spc!r}")
        ranges: list[NumberRange] = []
        for i, text in enumerate(self.strings(data.get("numbers", []), f"{key}.numbers"), 1):
            ranges.append(self.number_range(text, f"{key}.numbers[{i}]"))
        return Provider(name=pname, spc=spc, numbers=tuple(ranges))

    def number_range(self, text: str, key: str) -> NumberRange:
        start, _, count_text = text.partition("/")
        start = start.strip()
        if not start.isdigit() or not 1 <= len(start) <= 15:
            self.fail(key, f"range start {start!r} must be E.164 digits (1 to 15, no '+')")
        count = 1
        if count_text:
            if not count_text.strip().isdigit() or int(count_text) < 1:
                self.fail(key, f"range count {count_text!r} must be a whole number >= 1")
            count = int(count_text)
        if len(str(int(start) + count - 1)) > len(start):
            self.fail(key, f"range {text!r} runs past {len(start)} digits")
        return NumberRange(start=start, count=count)

    def tn(self, value: object, key: str) -> str:
        text = self.string(value, key)
        try:
            return normalise_tn(text)
        except NumberNotValid as exc:
            self.fail(key, str(exc))

    def actor(self, aname: str, value: object) -> None:
        key = f"actors.{aname}"
        self.name(aname, key, "actor name")
        data = self.table(value, key)
        self.check_keys(
            data,
            key,
            ("tn", "provider", "credential"),
            ("name", "defect", "count"),
            "an actor",
        )
        tn = self.tn(data["tn"], f"{key}.tn")
        display = data.get("name")
        if display is not None:
            display = self.string(display, f"{key}.name")
        provider = self.string(data["provider"], f"{key}.provider")
        if provider not in self.providers:
            self.one_of(f"{key}.provider", provider, self.providers, "provider")
        kind = self.string(data["credential"], f"{key}.credential")
        if kind not in CREDENTIAL_KINDS:
            self.one_of(f"{key}.credential", kind, CREDENTIAL_KINDS, "credential kind")
        defect = data.get("defect")
        if defect is not None:
            defect = self.string(defect, f"{key}.defect")
            if defect not in CREDENTIAL_DEFECTS:
                self.one_of(f"{key}.defect", defect, CREDENTIAL_DEFECTS, "credential defect")
            if kind not in CREDENTIAL_DEFECTS[defect]:
                self.fail(
                    f"{key}.defect",
                    f"defect {defect!r} applies to {', '.join(CREDENTIAL_DEFECTS[defect])} "
                    f"credentials, not {kind!r}",
                )
        credential: CredentialKind = kind
        if "count" not in data:
            self.add_actor(Actor(aname, tn, display, provider, credential, defect), key)
            return
        count = self.integer(data["count"], f"{key}.count", minimum=1)
        if len(str(int(tn) + count - 1)) > len(tn):
            self.fail(f"{key}.count", f"{count} numbers from {tn} run past {len(tn)} digits")
        members: list[str] = []
        for i in range(1, count + 1):
            member_tn = str(int(tn) + i - 1).zfill(len(tn))
            member_name = display.replace("{i}", str(i)) if display else None
            actor = Actor(
                f"{aname}{i}", member_tn, member_name, provider, credential, defect, crowd=aname
            )
            self.add_actor(actor, key)
            members.append(actor.name)
        self.crowds[aname] = tuple(members)

    def add_actor(self, actor: Actor, key: str) -> None:
        if actor.name in self.actors:
            self.fail(key, f"actor {actor.name!r} is defined twice")
        for other in self.actors.values():
            if other.tn == actor.tn:
                self.fail(key, f"actor {actor.name!r} has the number {actor.tn} of {other.name!r}")
        self.actors[actor.name] = actor

    def steps(self, value: object) -> tuple[Step, ...]:
        if not isinstance(value, list):
            self.fail("step", f"expected [[step]] tables, got {_a(value)}")
        if not value:
            self.fail("step", "a scenario needs at least one [[step]]")
        steps = tuple(self.step(i, v) for i, v in enumerate(value, start=1))
        return steps

    def step(self, index: int, value: object) -> Step:
        key = f"step[{index}]"
        data = self.table(value, key)
        if "action" not in data:
            self.fail(key, "a step needs the key 'action'")
        action = self.string(data["action"], f"{key}.action")
        if action not in ACTIONS:
            self.one_of(f"{key}.action", action, ACTIONS, "action")
        required, optional = _ACTION_KEYS[action]
        self.check_keys(data, key, required, (*_COMMON_STEP_KEYS, *optional), f"a {action} step")
        step_id = None
        if "id" in data:
            step_id = self.string(data["id"], f"{key}.id")
            if step_id in self.step_ids:
                self.fail(f"{key}.id", f"step id {step_id!r} is used twice")
        actor = self.actor_ref(data["actor"], f"{key}.actor") if "actor" in data else None
        group = None
        if "group" in data:
            if action == "create_group":
                group = self.name(data["group"], f"{key}.group", "group")
                if group in self.groups:
                    self.fail(f"{key}.group", f"group {group!r} is already created")
            else:
                group = self.group_ref(data["group"], f"{key}.group")
        members: tuple[str, ...] = ()
        if "members" in data:
            members = self.actor_refs(data["members"], f"{key}.members")
            if actor in members:
                self.fail(f"{key}.members", f"the step's own actor {actor!r} is among them")
        between: tuple[str, ...] = ()
        if "between" in data:
            between = self.pair(data["between"], f"{key}.between")
        text = self.string(data["text"], f"{key}.text") if "text" in data else None
        seconds = None
        if "seconds" in data:
            seconds = self.number(data["seconds"], f"{key}.seconds", positive=False)
        parallel = None
        if "parallel" in data:
            parallel = self.string(data["parallel"], f"{key}.parallel")
        if group is not None and action == "create_group":
            self.groups.add(group)
        if step_id is not None:
            self.step_ids.add(step_id)
        if parallel is not None:
            self.parallel_labels.add(parallel)
        return Step(
            index=index,
            action=action,
            line=line_of(self.lines, key),
            id=step_id,
            actor=actor,
            group=group,
            members=members,
            between=between,
            text=text,
            seconds=seconds,
            parallel=parallel,
        )

    def pair(self, value: object, key: str) -> tuple[str, str]:
        names = self.actor_refs(value, key)
        if len(names) != 2:
            self.fail(key, f"expected exactly two actors, got {len(names)}")
        return names[0], names[1]

    def adversary(self, index: int, data: dict[str, Any]) -> Adversary:
        key = f"adversary[{index}]"
        if "kind" not in data:
            self.fail(key, "an adversary needs the key 'kind'")
        kind = self.string(data["kind"], f"{key}.kind")
        if kind not in ADVERSARY_KINDS:
            self.one_of(f"{key}.kind", kind, ADVERSARY_KINDS, "adversary kind")
        required, optional = _ADVERSARY_KEYS[kind]
        self.check_keys(data, key, required, ("kind", *optional), f"a {kind} adversary")
        fields: dict[str, Any] = {}
        if "provider" in data:
            provider = self.string(data["provider"], f"{key}.provider")
            if provider not in self.providers:
                self.one_of(f"{key}.provider", provider, self.providers, "provider")
            fields["provider"] = provider
        if "victims" in data:
            fields["victims"] = self.actor_refs(data["victims"], f"{key}.victims")
        if "group" in data:
            fields["group"] = self.group_ref(data["group"], f"{key}.group")
        if "message" in data:
            message = self.string(data["message"], f"{key}.message")
            if message not in MESSAGE_KINDS:
                self.one_of(f"{key}.message", message, MESSAGE_KINDS, "message kind")
            fields["message"] = message
        for role in ("sender", "recipient", "victim"):
            if role in data:
                fields[role] = self.actor_ref(data[role], f"{key}.{role}")
        if "with" in data:
            fields["substitute"] = self.actor_ref(data["with"], f"{key}.with")
            if fields["substitute"] == fields.get("victim"):
                self.fail(f"{key}.with", "must be another actor than the victim")
        if "step" in data:
            value = data["step"]
            names = (value,) if isinstance(value, str) else self.strings(value, f"{key}.step")
            if not names:
                self.fail(f"{key}.step", "must name at least one step")
            fields["steps"] = tuple(
                self.step_ref(
                    n,
                    f"{key}.step" if isinstance(value, str) else f"{key}.step[{i}]",
                    parallel_ok=True,
                )
                for i, n in enumerate(names, start=1)
            )
        if "at_step" in data:
            fields["at_step"] = self.step_ref(data["at_step"], f"{key}.at_step")
        if "count" in data:
            fields["count"] = self.integer(data["count"], f"{key}.count", minimum=1)
        if "seconds" in data:
            fields["seconds"] = self.number(data["seconds"], f"{key}.seconds", positive=True)
        if "window" in data:
            fields["window"] = self.integer(data["window"], f"{key}.window", minimum=2)
        elif kind == "reorder":
            fields["window"] = 2
        if "times" in data:
            fields["times"] = self.integer(data["times"], f"{key}.times", minimum=1)
        elif kind == "replay":
            fields["times"] = 1
        return Adversary(index=index, kind=kind, line=line_of(self.lines, key), **fields)

    def expectation(self, index: int, data: dict[str, Any]) -> Expectation:
        key = f"expect[{index}]"
        kinds = [k for k in _EXPECT_KEYS if any(m in data for m in _EXPECT_MARKERS[k])]
        if not kinds:
            self.fail(
                key,
                "an expectation needs one of the keys " + ", ".join(_EXPECT_KEYS),
            )
        if len(kinds) > 1:
            self.fail(
                key,
                f"one expectation per [[expect]]: found both a '{kinds[0]}' and a "
                f"'{kinds[1]}' expectation",
            )
        kind = kinds[0]
        required, optional = _EXPECT_KEYS[kind]
        self.check_keys(data, key, required, optional, f"a '{kind}' expectation")
        line = line_of(self.lines, key)
        if kind == "outcome":
            step = self.step_ref(data["step"], f"{key}.step")
            outcome = self.string(data["outcome"], f"{key}.outcome")
            if outcome not in OUTCOMES:
                self.one_of(f"{key}.outcome", outcome, OUTCOMES, "outcome")
            reason = None
            if "reason" in data:
                reason = self.string(data["reason"], f"{key}.reason")
                if outcome != "rejected":
                    self.fail(f"{key}.reason", 'a reason goes with outcome = "rejected"')
            return StepOutcomeExpectation(index, step, outcome, reason, line=line)
        if kind == "codes":
            a, b = self.pair(data["compare"], f"{key}.compare")
            group = self.group_ref(data["group"], f"{key}.group")
            verdict = self.string(data["codes"], f"{key}.codes")
            if verdict not in CODE_VERDICTS:
                self.one_of(f"{key}.codes", verdict, CODE_VERDICTS, "codes verdict")
            return CodesExpectation(index, (a, b), group, verdict, line=line)
        actor = self.actor_ref(data["actor"], f"{key}.actor")
        group = self.group_ref(data["group"], f"{key}.group")
        if kind == "sees":
            return SeesExpectation(index, actor, group, self.seen(data["sees"], key), line=line)
        if kind == "received":
            texts = self.received(data["received"], f"{key}.received")
            return ReceivedExpectation(index, actor, group, texts, line=line)
        if kind == "alarm":
            alarm = self.boolean(data["alarm"], f"{key}.alarm")
            return AlarmExpectation(index, actor, group, alarm, line=line)
        count = self.integer(data["member_count"], f"{key}.member_count", minimum=0)
        return MemberCountExpectation(index, actor, group, count, line=line)

    def received(self, value: object, key: str) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.fail(key, f"expected an array of strings, got {_a(value)}")
        for i, v in enumerate(value, start=1):
            if not isinstance(v, str):
                self.fail(f"{key}[{i}]", f"expected a string, got {_a(v)}")
        return tuple(value)  # an empty list means: received nothing

    def seen(self, value: object, parent: str) -> SeenMember:
        key = f"{parent}.sees"
        data = self.table(value, key)
        self.check_keys(data, key, (), ("tn", "name", "credential", "assurance"), "sees")
        if not data:
            self.fail(key, "needs at least one of tn, name, credential, assurance")
        tn = self.tn(data["tn"], f"{key}.tn") if "tn" in data else None
        name = self.string(data["name"], f"{key}.name") if "name" in data else None
        credential = None
        if "credential" in data:
            credential = self.string(data["credential"], f"{key}.credential")
            if credential not in CREDENTIAL_KINDS:
                self.one_of(f"{key}.credential", credential, CREDENTIAL_KINDS, "credential kind")
        assurance = None
        if "assurance" in data:
            assurance = self.string(data["assurance"], f"{key}.assurance")
            if assurance not in ASSURANCES:
                self.one_of(f"{key}.assurance", assurance, ASSURANCES, "assurance")
        return SeenMember(tn=tn, name=name, credential=credential, assurance=assurance)

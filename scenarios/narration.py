"""The run told in plain words, one sentence per thing that matters (``stirmls demo``).

Sentences are made from transcript events as they happen, so the story follows the
run live. The engine records, for each step, a ``step`` event with ``phase`` "end" and
the step's fields (label, action, outcome, reason, detail, members, text).
"""

from __future__ import annotations

from scenarios.model import Scenario
from scenarios.results import Event, JSONValue


def _who(scenario: Scenario, actor: JSONValue) -> str:
    """An actor by its display name, else its scenario name."""
    if isinstance(actor, str) and actor in scenario.actors:
        return scenario.actors[actor].display_name or actor
    return str(actor)


def _names(scenario: Scenario, value: JSONValue) -> str:
    names = [_who(scenario, v) for v in value] if isinstance(value, list) else []
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def narrate(scenario: Scenario, event: Event) -> str | None:
    """A sentence for people about ``event``, or None when it is not worth one."""
    d = event.data
    who = _who(scenario, event.actor) if event.actor else ""
    group = f"'{event.group}'" if event.group else "the group"
    if event.kind == "adversary" and d.get("narrate"):
        return f"Meanwhile: {d.get('act')}."
    if event.kind == "comparison":
        between = d.get("between")
        names = _names(scenario, between)
        codes = d.get("codes")
        epochs = d.get("epochs")
        shown = ""
        if isinstance(codes, list) and isinstance(between, list) and isinstance(epochs, list):
            shown = "; ".join(
                f"{_who(scenario, a)} reads epoch {e}: {c}"
                for a, e, c in zip(between, epochs, codes, strict=False)
            )
        if d.get("match"):
            return f"{names} read their codes to each other ({shown}): they match."
        return (
            f"{names} read their codes to each other ({shown}): THEY DIFFER. "
            "They are not in the same group: someone split it."
        )
    if event.kind == "alarm":
        return f"{who}'s client raises the alarm: {d.get('detail', 'codes differ')}."
    if event.kind == "verdict" and not d.get("accepted"):
        return (
            f"{who or 'The delivery service'} refuses {d.get('subject') or 'a member'}'s "
            f"credential: {d.get('reason')} ({d.get('rule')})."
        )
    if event.kind != "step" or d.get("phase") != "end":
        return None
    return _narrate_step(scenario, event, who, group)


def _narrate_step(scenario: Scenario, event: Event, who: str, group: str) -> str | None:
    d = event.data
    action = d.get("action")
    if d.get("outcome") == "rejected":
        return (
            f"{who or 'The step'} {d.get('label')} is refused: "
            f"{d.get('reason')} — {d.get('detail')}."
        )
    if d.get("outcome") == "error":
        return f"Step {d.get('label')} failed: {d.get('detail')}."
    members = _names(scenario, d.get("members"))
    match action:
        case "create_group":
            return f"{who} creates the group {group}."
        case "invite":
            return f"{who} invites {members}; every credential checks out and they join {group}."
        case "accept":
            return f"{who} joins {group}."
        case "send":
            return f"{who} says: \u201c{d.get('text')}\u201d."
        case "remove":
            return f"{who} removes {members} from {group}."
        case "update":
            return f"{who} updates their keys in {group}."
        case "leave":
            return f"{who} leaves {group}."
        case "restart":
            target = who or "the delivery service"
            return f"{target[:1].upper() + target[1:]} restarts."
    return None

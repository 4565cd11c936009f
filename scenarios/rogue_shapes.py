"""Which ``rogue_provider`` splits a run can play (PROFILE.md §9): the anchor victim who
stays on the real service, and the file shapes the split does not handle, named by key.

Kept apart from ``scenarios.rogue`` (which brings the run's machinery) so that loading a
scenario file can check them cheaply.
"""

from __future__ import annotations

from typing import NoReturn

from scenarios.errors import ScenarioError
from scenarios.model import Adversary, Scenario


def real_side_victim(scenario: Scenario, adversary: Adversary) -> str:
    """The victim who stays on the real service (the anchor): the first of them to create
    a group, else the first named."""
    for step in scenario.steps:
        if step.action == "create_group" and step.actor in adversary.victims:
            return step.actor
    return adversary.victims[0]


def check_rogue_split(scenario: Scenario) -> None:
    """Raise ``ScenarioError`` (key and line named) for a ``rogue_provider`` the split
    cannot play as written; None when every one of them is supported.

    Supported: groups made by the anchor or a bystander, invitations by them (of victims
    and bystanders alike), sends, updates and comparisons by anyone, removal and leaving
    of bystanders. Not supported, because the provider would have to mirror a membership
    change from one side to the other and does not: a shadowed victim who creates a
    group, invites, removes or leaves; the removal or leaving of a victim from a group
    it splits; a group that puts a shadowed victim in without the anchor (the shadow
    group's fake anchor would be a member the real group does not have). Also: fewer
    than two victims (nobody to shadow), a victim of two rogue providers, and ``group``
    (the victims are routed for the whole run, so every group of theirs is split).
    """
    seen: dict[str, int] = {}
    for adversary in scenario.adversaries:
        if adversary.kind != "rogue_provider":
            continue
        key = f"adversary[{adversary.index}]"

        def fail(where: str, problem: str, line: int | None = adversary.line) -> NoReturn:
            raise ScenarioError(
                f"unsupported rogue_provider split: {problem}",
                key=where,
                line=line,
                filename=scenario.source,
            )

        if len(set(adversary.victims)) < 2:
            fail(
                f"{key}.victims",
                "it needs two victims or more (one stays on the real service and is "
                "impersonated to the others)",
            )
        for victim in adversary.victims:
            if victim in seen and seen[victim] != adversary.index:
                fail(f"{key}.victims", f"{victim} is already a victim of adversary[{seen[victim]}]")
            seen[victim] = adversary.index
        anchor = real_side_victim(scenario, adversary)
        victims = set(adversary.victims)
        shadowed = victims - {anchor}
        members: dict[str, set[str]] = {}
        for step in scenario.steps:
            at, line = f"step[{step.index}]", step.line
            group = step.group or ""
            now = members.setdefault(group, set())
            split = bool(now & shadowed)
            if step.action == "create_group" and step.actor in shadowed:
                fail(
                    f"{at}.actor",
                    f"{step.actor} is moved to the provider's shadow service and creates a "
                    f"group (only {anchor} or a bystander may)",
                    line,
                )
            elif step.action == "create_group" and step.actor is not None:
                members[group] = {step.actor}
            elif step.action == "invite":
                joining = set(step.members)
                if step.actor in shadowed:
                    fail(f"{at}.actor", f"{step.actor} is shadowed and invites", line)
                if joining & shadowed and anchor not in now | joining:
                    fail(
                        f"{at}.members",
                        f"{', '.join(sorted(joining & shadowed))} would be in a shadow "
                        f"{group!r} with a fake {anchor}, who is not in the real one",
                        line,
                    )
                now |= joining
            elif step.action == "remove":
                if step.actor in shadowed:
                    fail(f"{at}.actor", f"{step.actor} is shadowed and removes", line)
                if split and set(step.members) & victims:
                    removed = ", ".join(sorted(set(step.members) & victims))
                    fail(f"{at}.members", f"{removed}, a victim, is removed from {group!r}", line)
                now -= set(step.members)
            elif step.action == "leave" and step.actor is not None:
                if split and step.actor in victims:
                    fail(f"{at}.actor", f"{step.actor}, a victim, leaves {group!r}", line)
                now.discard(step.actor)
        if adversary.group is not None and any(
            g != adversary.group and m & shadowed for g, m in members.items()
        ):
            fail(
                f"{key}.group",
                "its victims are routed for the whole run, so every group they are in is "
                "split: leave 'group' out",
            )

"""The rogue provider of PROFILE.md §9 (the draft's §10): a split relayed so chat works.

The provider holds the SPC-level certificate for its subscribers' numbers. It routes
its victims' traffic: the group's creator stays on the real delivery service, every
other victim is sent to a shadow service of the provider's own (same service id, so
nothing looks different). For each victim it runs a real client of its own under the
victim's number, with a PASSporT it signs whose mky is its own key:

* on the real service, "Bob" (provider key) joins the creator's group;
* on the shadow service, "Alice" (provider key) makes a group of the same name and
  invites the real Bob;
* each text one side's impostor receives, the other side's impostor sends on.

Every credential validates. Only comparing codes out of band shows the split.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import trio

from client.core import events as ev
from scenarios.client_state import ClientState
from scenarios.launcher import ClientHandle, ClientLauncher, ClientSpec
from scenarios.model import Actor, Adversary, Scenario
from scenarios.relay import Relay
from scenarios.run_pki import MemberKey, RunPKI
from scenarios.service_host import ServiceHost
from scenarios.transcript import Recorder
from shared.stir.numbers import display


@dataclass
class Impostor:
    """A client the provider runs under a victim's number."""

    path: str  # the relay path its connection uses
    victim: str
    side: str  # "real" or "shadow"
    handle: ClientHandle
    state: ClientState
    pending: list[ev.CoreEvent] = field(default_factory=list)


def real_side_victim(scenario: Scenario, adversary: Adversary) -> str:
    """The victim who stays on the real service: the first of them to create a group."""
    for step in scenario.steps:
        if step.action == "create_group" and step.actor in adversary.victims:
            return step.actor
    return adversary.victims[0]


class RogueProvider:
    """Runs the split for one ``rogue_provider`` adversary."""

    def __init__(
        self,
        adversary: Adversary,
        scenario: Scenario,
        pki: RunPKI,
        relay: Relay,
        launcher: ClientLauncher,
        recorder: Recorder,
        run_dir: Path,
        ds_id: str,
        names: dict[bytes, str] | None = None,
    ) -> None:
        assert adversary.provider is not None
        self.adversary = adversary
        self.provider = adversary.provider
        self.scenario = scenario
        self.pki = pki
        self.relay = relay
        self.launcher = launcher
        self.recorder = recorder
        self.run_dir = run_dir
        self.ds_id = ds_id
        self.real_victim = real_side_victim(scenario, adversary)
        self.shadow_victims = [v for v in adversary.victims if v != self.real_victim]
        self.impostors: dict[str, Impostor] = {}
        self.names = names if names is not None else {}  # the engine's group names by id
        # Scenario group name -> its id on each side ("real", "shadow").
        self.pairs: dict[str, dict[str, bytes]] = {}
        self.shadow = ServiceHost(ds_id, run_dir / "shadow-ds.sqlite", pki.trust)

    def impersonated(self, path: str) -> str | None:
        """The victim a relay path's client pretends to be (None: not one of ours)."""
        impostor = self.impostors.get(path)
        if impostor is not None:
            return impostor.victim
        for side in ("real", "shadow"):
            prefix = f"rogue-{side}-"
            if path.startswith(prefix) and path[len(prefix) :] in self.scenario.actors:
                return path[len(prefix) :]
        return None

    def _note(self, act: str) -> None:
        self.recorder.record("adversary", adversary=self.adversary.index, act=act, narrate=True)

    async def setup(self, nursery: trio.Nursery, trust_dir: Path) -> None:
        """Start the shadow service, route the victims, start the impostors.

        Must run before the victims' clients connect.
        """
        shadow_url = await self.shadow.start(nursery)
        self.recorder.record("service", state="shadow service started", url=shadow_url)
        for victim in self.shadow_victims:
            self.relay.routes[victim] = shadow_url
        # On the real service, an impostor for every shadowed victim...
        for victim in self.shadow_victims:
            await self._start(nursery, f"rogue-real-{victim}", victim, "real", trust_dir, None)
        # ...and on the shadow service, one for the real-side victim.
        path = f"rogue-shadow-{self.real_victim}"
        await self._start(nursery, path, self.real_victim, "shadow", trust_dir, shadow_url)
        names = " and ".join(self.adversary.victims)
        self._note(
            f"{self.provider} splits {names}: it routes {', '.join(self.shadow_victims)} "
            f"to a service of its own and joins each side under the other's number"
        )

    async def _start(
        self,
        nursery: trio.Nursery,
        path: str,
        victim: str,
        side: str,
        trust_dir: Path,
        route: str | None,
    ) -> None:
        if route is not None:
            self.relay.routes[path] = route
        real = self.scenario.actors[victim]
        actor = Actor(path, real.tn, real.display_name, self.provider, "passport")
        spec = ClientSpec(
            actor=actor,
            profile_dir=self.run_dir / "rogue" / path,
            service_url=self.relay.url_for(path),
            ds_id=self.ds_id,
            trust_dir=trust_dir,
            key=MemberKey.generate(),  # the provider's own key (§9)
            chain=_no_certificate,
        )
        spec.profile_dir.mkdir(parents=True, exist_ok=True)
        handle = await self.launcher.launch(nursery, spec)
        tns = {display(a.tn): a.tn for a in self.scenario.actors.values()}
        impostor = Impostor(path, victim, side, handle, ClientState(path, tn_of_sender=tns))
        self.impostors[path] = impostor
        nursery.start_soon(self._pump, impostor)

    def _counterpart(self, impostor: Impostor, sender_tn: str) -> Impostor | None:
        """Who forwards a text ``impostor`` received from ``sender_tn`` to the other side."""
        sender = next((a for a in self.scenario.actors.values() if a.tn == sender_tn), None)
        if sender is None:
            return None
        for other in self.impostors.values():
            if other.side != impostor.side and other.victim == sender.name:
                return other
        return None

    async def _pump(self, impostor: Impostor) -> None:
        groups_seen: set[bytes] = set()
        async for event in impostor.handle.events():
            impostor.state.apply(event)
            if isinstance(event, ev.InvitationReceived):
                await impostor.handle.send(
                    ev.AnswerInvitation(event.invitation.invitation_id, accept=True)
                )
            elif isinstance(event, ev.GroupsChanged) and impostor.side == "real":
                for summary in event.groups:
                    if summary.group_id not in groups_seen:
                        groups_seen.add(summary.group_id)
                        name = self.names.get(summary.group_id, summary.title)
                        self.pairs.setdefault(name, {})["real"] = summary.group_id
                        await self._mirror(name, impostor)
            elif isinstance(event, ev.MessageReceived):
                await self._relay_text(impostor, event.line)

    async def _mirror(self, title: str, joined: Impostor) -> None:
        """An impostor joined a real group: make its twin on the shadow side."""
        creator = next((i for i in self.impostors.values() if i.side == "shadow"), None)
        if creator is None:
            return
        await creator.handle.send(ev.CreateGroup(title))
        with trio.move_on_after(10):
            while creator.state.group_by_title(title) is None:
                await trio.sleep(0.05)
        group = creator.state.group_by_title(title)
        if group is None:
            self._note(f"could not make the shadow group {title!r}")
            return
        self.pairs.setdefault(title, {})["shadow"] = group.group_id
        self.names[group.group_id] = title  # the report names the shadow group as the real
        victim = self.scenario.actors[joined.victim]
        await creator.handle.send(ev.InviteNumber(group.group_id, victim.tn))
        self._note(
            f"{self.provider} puts {joined.victim} in a shadow {title!r} of its own making, "
            f"with a fake {creator.victim}"
        )

    async def _relay_text(self, impostor: Impostor, line: ev.ChatLine) -> None:
        if line.own or line.system:
            return
        sender_tn = next(
            (tn for shown, tn in impostor.state.tn_of_sender.items() if shown in line.sender), ""
        )
        other = self._counterpart(impostor, sender_tn)
        name = next(
            (n for n, ids in self.pairs.items() if ids.get(impostor.side) == line.group_id), None
        )
        if other is None or name is None:
            return
        target = self.pairs[name].get(other.side)
        if target is None:
            return
        await other.handle.send(ev.SendText(target, line.text))
        self._note(f"{self.provider} reads {line.text!r} and relays it to the other half")


def _no_certificate(public_key: bytes) -> tuple[bytes, ...]:
    raise RuntimeError("the rogue provider's impostors hold PASSporTs only")

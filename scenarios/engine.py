"""The engine: one real run of a scenario.

Per run: a fresh demo STI PKI (``RunPKI``), a real delivery service on loopback with its
SQLite file in the run directory (``ServiceHost``), the relay in front of it where the
delivery-service adversaries act (``Relay`` + ``Interceptor``) and which plays each
actor's carrier for PASSporT requests, and one real client per actor started through
the client core (``ClientLauncher``), driven by the same commands a user interface
gives and observed through the same events. Steps run in order (a ``parallel`` label
starts consecutive steps together); after each, the engine waits for the clients to
settle, so that the next step starts from a known state.
"""

from __future__ import annotations

import base64
import gc
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from client.core import events as ev
from delivery_service.garbage_collection import (
    YOUNG_COLLECTION_THRESHOLD,
    collect_periodically,
    defer_full_collections,
)
from scenarios.carrier import RunCarrier
from scenarios.client_state import ClientState
from scenarios.client_worker import FULL_GC_INTERVAL
from scenarios.errors import EngineUnavailable
from scenarios.expectations import codes_match
from scenarios.interception import Interceptor
from scenarios.launcher import ClientHandle, ClientLauncher, ClientSpec, CoreLauncher
from scenarios.model import Scenario, Step
from scenarios.relay import Relay
from scenarios.results import (
    Comparison,
    CredentialVerdict,
    Event,
    GroupView,
    RunResult,
    StepResult,
)
from scenarios.rogue import RogueProvider
from scenarios.run_pki import MemberKey, RunPKI
from scenarios.service_host import ServiceHost
from scenarios.service_process import ServiceProcessHost
from scenarios.transcript import Recorder
from shared.profile import GROUP_DEST_PREFIX
from shared.stir.numbers import display

DS_ID = "ds.scenario"


@dataclass(frozen=True)
class Timeouts:
    """How long the engine waits (seconds). Steps that touch many members get
    ``per_member`` more for each member they name or the group holds."""

    step: float = 30.0  # a step not finished by then ends as "error"
    per_member: float = 1.0
    delivery: float = 5.0  # how long a sent message may take to reach every member
    per_delivery: float = 0.002  # more for a stream: per message per client
    settle_quiet: float = 0.3  # no client event for this long: the clients settled
    settle_max: float = 5.0
    connect: float = 20.0  # for all clients to connect (plus per_member / 10 each)


def step_batches(steps: Sequence[Step]) -> list[list[Step]]:
    """Steps grouped for running: consecutive steps with one ``parallel`` label together."""
    batches: list[list[Step]] = []
    for step in steps:
        if batches and step.parallel is not None and batches[-1][-1].parallel == step.parallel:
            batches[-1].append(step)
        else:
            batches.append([step])
    return batches


def send_streams(batches: Sequence[Sequence[Step]], scenario: Scenario) -> dict[int, list[Step]]:
    """Runs of consecutive ``send`` steps that stream: by step index, the run each step
    belongs to (runs of one step are left out).

    A run is one actor's consecutive sends to one group, none in a ``parallel`` batch,
    in a scenario without adversaries. Its sends go out back to back and the engine
    waits once, after the last, until every member has read them all: one sender's
    messages reach each member in the order sent (the service keeps each recipient's
    mail box in order), so every expectation reads the same as with a wait after each
    send, and the K round trips of a conversation become one stream. Adversaries act
    per step (a step's traffic, a hold released when the step ends): with any in the
    file, every send waits for its own delivery as before.
    """
    if scenario.adversaries:
        return {}
    streams: dict[int, list[Step]] = {}
    run: list[Step] = []

    def close() -> None:
        if len(run) > 1:
            whole = list(run)
            for step in whole:
                streams[step.index] = whole
        run.clear()

    for batch in batches:
        step = batch[0]
        streams_on = (
            len(batch) == 1
            and step.action == "send"
            and step.parallel is None
            and (not run or (run[0].actor, run[0].group) == (step.actor, step.group))
        )
        if not streams_on:
            close()
            if len(batch) == 1 and step.action == "send" and step.parallel is None:
                run.append(step)
            continue
        run.append(step)
    close()
    return streams


class StepRejected(Exception):
    """A step ended with a refusal (outcome ``rejected``)."""

    def __init__(self, reason: str | None, rule: str | None, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.rule, self.detail = reason, rule, detail


class StepFailed(Exception):
    """A step could not be carried out (outcome ``error``)."""


@dataclass
class RunningClient:
    """One actor's client: its handle, what it reported, and a wake-up on every event."""

    actor: str
    spec: ClientSpec
    handle: ClientHandle
    state: ClientState
    last_event: float = 0.0


class RealEngine:
    """Runs scenarios for real (see the module docstring)."""

    def __init__(
        self,
        launcher: ClientLauncher | None = None,
        timeouts: Timeouts | None = None,
        *,
        direct: bool = False,
        service_process: bool = False,
    ) -> None:
        """``direct``: clients connect straight to the delivery service, without the
        relay's hop, when the scenario needs no relay (``needs_relay``); for the scale
        benchmark. The transcript then has no ``frame`` events (the relay records them).
        ``service_process``: the delivery service runs in a process of its own
        (``scenarios.service_process``), off the runner's GIL."""
        self.launcher: ClientLauncher = launcher or CoreLauncher()
        self.timeouts = timeouts or Timeouts()
        self.direct = direct
        self.service_process = service_process
        # The service processes' figures (CPU time, peak RSS), one per start.
        self.service_reports: list[dict[str, Any]] = []

    async def run(self, scenario: Scenario, run_dir: Path, recorder: Recorder) -> RunResult:
        """Run every step; return what each client holds at the end."""
        direct = self.direct and not needs_relay(scenario)
        run = _Run(
            scenario,
            run_dir,
            recorder,
            self.launcher,
            self.timeouts,
            direct=direct,
            service_process=self.service_process,
        )
        # This process holds the service, the relay, every client's folded state (and,
        # without worker processes, the clients): CPython's growth rule ran full
        # collections again and again as they grew (2.4 s of a 27 s run at N = 100 in
        # one process). Young ones less often, full ones on a schedule, as in the
        # delivery service's and the client workers' processes; restored after the run.
        old = defer_full_collections(YOUNG_COLLECTION_THRESHOLD)
        try:
            result = await run.run()
        finally:
            gc.set_threshold(*old)
        if isinstance(run.service_host, ServiceProcessHost):
            self.service_reports += run.service_host.reports
        return result


def needs_relay(scenario: Scenario) -> bool:
    """Whether the run needs the relay between clients and service: for an adversary,
    for a PASSporT member's carrier (the relay plays it), or for a service restart (the
    clients keep the relay's address while the service's changes)."""
    return (
        bool(scenario.adversaries)
        or any(a.credential == "passport" for a in scenario.actors.values())
        or any(s.action == "restart" and s.actor is None for s in scenario.steps)
    )


class _Run:
    def __init__(
        self,
        scenario: Scenario,
        run_dir: Path,
        recorder: Recorder,
        launcher: ClientLauncher,
        timeouts: Timeouts,
        *,
        direct: bool = False,
        service_process: bool = False,
    ) -> None:
        self.t = timeouts
        self.direct = direct  # clients dial the service, not the relay (RealEngine)
        self.service_process = service_process
        self.scenario = scenario
        self.run_dir = run_dir
        self.recorder = recorder
        self.launcher = launcher
        self.clients: dict[str, RunningClient] = {}
        self.group_ids: dict[tuple[str, str], bytes] = {}  # (actor, group name) -> id
        self.names_by_id: dict[bytes, str] = {}  # shared with every ClientState
        self.refused: set[str] = set()  # actors the service refused to register
        self._last_command = 0.0  # when the engine last gave a client a command
        # Steps whose end the engine saw happen everywhere (a message read by every
        # member): nothing is left to settle after them, so no quiet period is waited.
        self._seen_done: set[int] = set()
        # What the delivery-service adversaries did (their "adversary" events): a step
        # whose traffic none of them touched ran as it would without them, so the end
        # the engine saw is its end. A rogue provider's split has no such event per
        # frame (its halves talk through its shadow service): with one, steps always
        # end with the quiet period.
        self._adversary_acts = 0
        self._batch_acts = 0  # the count when the current batch started
        self._rogue = any(a.kind == "rogue_provider" for a in scenario.adversaries)
        self._streams: dict[int, list[Step]] = {}  # send steps that stream (send_streams)
        self._stream_base: dict[str, int] = {}  # actor -> messages it held at the start
        self._stream_notices = 0  # the sender's notices at the start of the stream
        self.service_verdicts: list[CredentialVerdict] = []
        recorder.listen(self._on_event)
        self.steps: list[StepResult] = []
        self.comparisons: list[Comparison] = []
        self.interceptor = Interceptor(scenario)
        self.tn_of_sender = {display(a.tn): a.tn for a in scenario.actors.values()}
        # Who waits on which actors' events: one wake-up per waiter, not one task per
        # client per event (that was O(N) trio tasks on every event of a 200-member run).
        self._waiters: list[tuple[frozenset[str], trio.Event]] = []
        # An invite step's invitees hold their answers until all of them have their
        # invitation, so the answers reach the inviter together and go into few commits.
        self._holding: frozenset[str] = frozenset()
        self._held: dict[str, ev.InvitationReceived] = {}
        self._all_held = trio.Event()

    async def run(self) -> RunResult:
        rec = self.recorder
        rec.record("run", phase="start", scenario=self.scenario.name)
        error: str | None = None
        async with trio.open_nursery() as nursery:
            # A launcher with processes to start (ProcessLauncher) starts them now: their
            # start-up overlaps the PKI's making.
            prepare = getattr(self.launcher, "prepare", None)
            if prepare is not None:
                await prepare(nursery)
            nursery.start_soon(collect_periodically, FULL_GC_INTERVAL)
            pki = await trio.to_thread.run_sync(RunPKI.create, self.scenario, self.run_dir)
            trust_dir = self.run_dir / "trust"
            pki.pki.export_trust(trust_dir)
            host: ServiceHost | ServiceProcessHost
            if self.service_process:
                host = ServiceProcessHost(DS_ID, self.run_dir / "ds.sqlite", trust_dir)
            else:
                host = ServiceHost(DS_ID, self.run_dir / "ds.sqlite", pki.trust)
            self.service_host = host
            url = await host.start(nursery)
            rec.record("service", state="started", url=url)
            self.service_url = url
            if self.direct:
                rec.record("service", state="clients connect directly (no relay hop)")
            rogues: list[RogueProvider] = []
            relay = Relay(self.interceptor, rec, url, carrier=RunCarrier(pki, rogues))
            await nursery.start(relay.serve)
            self.host, self.relay, self.nursery, self.pki = host, relay, nursery, pki
            try:
                for adversary in self.scenario.adversaries:
                    if adversary.kind == "rogue_provider":
                        rogue = RogueProvider(
                            adversary,
                            self.scenario,
                            pki,
                            relay,
                            self.launcher,
                            rec,
                            self.run_dir,
                            DS_ID,
                            self.names_by_id,
                        )
                        rogues.append(rogue)
                        await rogue.setup(nursery, trust_dir)
                for actor in self.scenario.actors.values():
                    await self._start_client(actor.name, trust_dir, MemberKey.generate())
                    # A checkpoint per client: a worker process's launch orders leave
                    # as they are made, so its clients start while the rest are being
                    # launched (at N = 300 the workers sat idle until all 300 were).
                    await trio.lowlevel.checkpoint()
                connected = await self._connected(list(self.clients.values()))
                # Every client connected and registered: each has said all it says at
                # start (its groups, its identity) before it connects, so nothing is
                # left to settle. Otherwise (a refusal, a client not there yet) the
                # quiet period lets the stragglers' events in.
                await self._settle(until_quiet=not connected)
                batches = step_batches(self.scenario.steps)
                self._streams = send_streams(batches, self.scenario)
                for i, batch in enumerate(batches):
                    later = frozenset(
                        label
                        for b in batches[i + 1 :]
                        for s in b
                        for label in (s.label, s.parallel)
                        if label is not None
                    )
                    await self._run_batch(batch, later)
                await self.relay.flush()
            except EngineUnavailable:
                raise
            except Exception as exc:  # a crash of the run itself: reported, not hidden
                error = f"{type(exc).__name__}: {exc}"
                rec.record("run", phase="error", detail=error)
            views = self._views()
            # All at once: one after the other was seconds for a large group.
            async with trio.open_nursery() as stopping:
                for client in self.clients.values():
                    stopping.start_soon(self._stop_client, client)
            await host.stop()
            for rogue in rogues:
                await rogue.shadow.stop()
            nursery.cancel_scope.cancel()
        rec.record("run", phase="end", seconds=round(rec.elapsed(), 3))
        verdicts = tuple(self._distinct(self.service_verdicts)) + tuple(
            v for c in self.clients.values() for v in c.state.verdicts
        )
        return RunResult(
            scenario=self.scenario,
            steps=tuple(self.steps),
            views=views,
            verdicts=verdicts,
            comparisons=tuple(self.comparisons),
            events=rec.events,
            seconds=rec.elapsed(),
            error=error,
        )

    @staticmethod
    async def _stop_client(client: RunningClient) -> None:
        with trio.move_on_after(5):
            await client.handle.stop()

    def _on_event(self, event: Event) -> None:
        """The service's refusals, as the relay recorded them (PROFILE.md §6); the
        adversaries' acts (they end waits for a step's definite end)."""
        if event.kind == "adversary":
            self._adversary_acts += 1
            for _, woken in self._waiters:
                woken.set()
            return
        if event.kind != "verdict" or event.data.get("verifier") != "delivery-service":
            return
        about = event.data.get("about")
        actor = self.scenario.actors.get(about) if isinstance(about, str) else None
        if actor is not None:
            self.refused.add(actor.name)
        reason, rule, detail = (event.data.get(k) for k in ("reason", "rule", "detail"))
        self.service_verdicts.append(
            CredentialVerdict(
                verifier="delivery-service",
                subject_tn=actor.tn if actor else None,
                kind=actor.credential if actor else None,
                where="service",
                accepted=False,
                subject=actor.name if actor else None,
                reason=reason if isinstance(reason, str) else None,
                rule=rule if isinstance(rule, str) else None,
                detail=detail if isinstance(detail, str) else None,
            )
        )

    # -- clients ----------------------------------------------------------------------------

    async def _start_client(self, name: str, trust_dir: Path, key: MemberKey) -> None:
        actor = self.scenario.actors[name]
        pki = self.pki
        spec = ClientSpec(
            actor=actor,
            profile_dir=self.run_dir / "clients" / name,
            service_url=self.service_url if self.direct else self.relay.url_for(name),
            ds_id=DS_ID,
            trust_dir=trust_dir,
            key=key,
            chain=lambda public_key: pki.certificate_chain(name, public_key),
        )
        spec.profile_dir.mkdir(parents=True, exist_ok=True)
        handle = await self.launcher.launch(self.nursery, spec)
        state = ClientState(name, tn_of_sender=dict(self.tn_of_sender), names=self.names_by_id)
        client = RunningClient(name, spec, handle, state)
        self.clients[name] = client
        self.nursery.start_soon(self._pump, client)

    async def _pump(self, client: RunningClient) -> None:
        """Fold a client's events, record them, and play its user where a user must act."""
        async for event in client.handle.events():
            client.state.apply(event)
            client.last_event = trio.current_time()
            self._record(client, event)
            if isinstance(event, ev.InvitationReceived):
                # The run's people accept every invitation (a refusal is not in the
                # vocabulary yet); the invitee's client makes the group-bound KeyPackage.
                if client.actor in self._holding and client.actor not in self._held:
                    self._held[client.actor] = event
                    if len(self._held) == len(self._holding):
                        self._all_held.set()
                else:
                    await client.handle.send(
                        ev.AnswerInvitation(event.invitation.invitation_id, accept=True)
                    )
            for actors, woken in self._waiters:
                if client.actor in actors:
                    woken.set()

    def _group_name(self, client: RunningClient, group_id: bytes) -> str | None:
        return client.state.name_of(group_id)

    def _record(self, client: RunningClient, event: ev.CoreEvent) -> None:
        rec, actor = self.recorder, client.actor
        match event:
            case ev.MessageReceived() if not event.line.own and not event.line.system:
                rec.record(
                    "received",
                    actor=actor,
                    group=self._group_name(client, event.line.group_id),
                    text=event.line.text,
                    sender=event.line.sender,
                )
            case ev.EpochChanged():
                rec.record(
                    "epoch",
                    actor=actor,
                    group=self._group_name(client, event.group_id),
                    epoch=event.safety.epoch,
                    code=event.safety.display,
                )
            case ev.CredentialVerdict():
                v = client.state.verdicts[-1]
                rec.record(
                    "verdict",
                    actor=actor,
                    group=v.group,
                    accepted=v.accepted,
                    where=v.where,
                    credential=v.kind,
                    subject=v.subject,
                    subject_tn=v.subject_tn,
                    reason=v.reason,
                    rule=v.rule,
                    detail=v.detail,
                )
            case ev.CodeMismatch():
                rec.record(
                    "alarm",
                    actor=actor,
                    group=self._group_name(client, event.group_id),
                    detail=f"codes differ with {event.other_member} at epoch {event.epoch}",
                )
            case ev.ConnectionChanged():
                rec.record(
                    "service", actor=actor, state=f"client {event.state.value}", detail=event.detail
                )
            case ev.Notice() if event.level != ev.NoticeLevel.INFO:
                rec.record("step", actor=actor, phase="notice", detail=event.text)
            case _:
                pass

    async def _wait_for(
        self, predicate: Callable[[], bool], timeout: float, clients: Sequence[RunningClient]
    ) -> bool:
        """Wait until ``predicate`` holds (re-checked on every event of ``clients``)."""
        actors = frozenset(c.actor for c in clients)
        with trio.move_on_after(timeout):
            while not predicate():
                if not clients:
                    await trio.sleep(0.05)
                    continue
                waiter = (actors, trio.Event())
                self._waiters.append(waiter)
                try:
                    await waiter[1].wait()
                finally:
                    self._waiters.remove(waiter)
            return True
        return predicate()

    async def _connected(self, clients: Sequence[RunningClient]) -> bool:
        """Wait until every client is connected and registered (or CONNECT_TIMEOUT);
        whether all are (none refused)."""

        def all_connected() -> bool:
            return all(
                c.state.connection == ev.ConnectionState.CONNECTED or c.actor in self.refused
                for c in clients
            )

        limit = self.t.connect + len(clients) * self.t.per_member / 10
        if not await self._wait_for(all_connected, limit, clients):
            late = [c.actor for c in clients if c.state.connection != ev.ConnectionState.CONNECTED]
            self.recorder.record("service", state="clients not connected", detail=", ".join(late))
            return False
        return not self.refused

    async def _settle(self, *, until_quiet: bool = True) -> None:
        """Until no frame is held back by a delay and (with ``until_quiet``) no client has
        reported anything for SETTLE_QUIET (at most SETTLE_MAX after the delays)."""
        with trio.move_on_after(self.t.step):
            while self.relay.in_flight:
                await trio.sleep(0.05)
        if not until_quiet:
            return
        quiet = self.t.settle_quiet
        with trio.move_on_after(self.t.settle_max):
            while True:
                now = trio.current_time()
                newest = max(
                    (c.last_event for c in self.clients.values()), default=self._last_command
                )
                newest = max(newest, self._last_command)
                if now - newest >= quiet:
                    return
                await trio.sleep(quiet - (now - newest))

    # -- steps ------------------------------------------------------------------------------

    async def _run_batch(self, batch: list[Step], later: frozenset[str]) -> None:
        # Traffic of a parallel batch cannot be told apart by step: it belongs to the
        # batch's label (adversaries select it with step = "<parallel label>").
        label = batch[0].parallel if len(batch) > 1 else None
        self._batch_acts = self._adversary_acts
        for step in batch:
            await self.relay.step_started(step.label, attribute_to=label)
        results: dict[int, StepResult] = {}
        streamed = self._streams.get(batch[0].index)
        if streamed is not None and streamed[-1] is not batch[0]:
            # A send handed over within a stream: no task (and scheduler pass) per step.
            await self._run_step(batch[0], results)
        else:
            async with trio.open_nursery() as nursery:
                for step in batch:
                    nursery.start_soon(self._run_step, step, results)
        # Quiet is counted from the step's end too: its last command may not have
        # produced an event yet.
        self._last_command = trio.current_time()
        await self.relay.flush(later)
        # The end seen everywhere, and no adversary touched the batch's traffic (also
        # not a release just now): no quiet period. Else it catches what is still
        # under way (a delayed frame, then what its recipient does with it).
        done = all(s.index in self._seen_done for s in batch) and not self._acted()
        await self._settle(until_quiet=not done)
        self.steps += [results[s.index] for s in batch]

    async def _run_step(self, step: Step, results: dict[int, StepResult]) -> None:
        rec = self.recorder
        rec.record(
            "step",
            actor=step.actor,
            group=step.group,
            phase="start",
            label=step.label,
            action=step.action,
        )
        start = trio.current_time()
        outcome, reason, rule, detail = "ok", None, None, None
        limit = self._step_limit(step)
        try:
            with trio.fail_after(limit):
                await getattr(self, f"_do_{step.action}")(step)
        except StepRejected as exc:
            outcome, reason, rule, detail = "rejected", exc.reason, exc.rule, exc.detail
        except (StepFailed, trio.TooSlowError) as exc:
            outcome, detail = "error", str(exc) or f"did not finish in {limit:.0f} s"
        results[step.index] = StepResult(
            step.index,
            step.label,
            step.action,
            step.actor,
            outcome,  # type: ignore[arg-type]
            reason,
            rule,
            detail,
            trio.current_time() - start,
        )
        rec.record(
            "step",
            actor=step.actor,
            group=step.group,
            phase="end",
            label=step.label,
            action=step.action,
            outcome=outcome,
            reason=reason,
            rule=rule,
            detail=detail,
            members=list(step.members),
            text=step.text,
        )

    def _step_limit(self, step: Step) -> float:
        """The step's time limit: more for steps that involve more members (the last
        send of a stream waits for the whole stream's delivery too)."""
        members = len(step.members) + len(self.clients) // 10
        limit = self.t.step + members * self.t.per_member
        stream = self._streams.get(step.index)
        if stream is not None and stream[-1] is step:
            limit += self._stream_delivery_limit(len(stream))
        return limit

    def _stream_delivery_limit(self, messages: int) -> float:
        """How long a stream of ``messages`` may take to reach every member."""
        return self.t.delivery + messages * len(self.clients) * self.t.per_delivery

    def _acted(self) -> bool:
        """Whether an adversary acted during this batch, or one that cannot be followed
        frame by frame (a rogue provider) is in the run."""
        return self._rogue or self._adversary_acts > self._batch_acts

    def _client(self, actor: str | None) -> RunningClient:
        assert actor is not None  # the loader guarantees it for these actions
        return self.clients[actor]

    def _group_id(self, actor: str, group: str | None) -> bytes:
        assert group is not None
        gid = self.group_ids.get((actor, group))
        if gid is None:
            found = self.clients[actor].state.group_by_title(group)
            if found is None:
                raise StepFailed(f"{actor} is not in group {group!r}")
            gid = self.group_ids[(actor, group)] = found.group_id
        return gid

    def _member_tns(self, client: RunningClient, gid: bytes) -> set[str]:
        return client.state.member_tns(gid)

    def _error_since(self, client: RunningClient, seen: int) -> str | None:
        """The first error notice the client gave since ``seen`` notices."""
        for notice in client.state.notices[seen:]:
            if notice.level == ev.NoticeLevel.ERROR:
                return notice.text
        return None

    def _new_rejection(self, client: RunningClient, seen: int) -> StepRejected | None:
        for verdict in client.state.verdicts[seen:]:
            if not verdict.accepted:
                return StepRejected(
                    verdict.reason, verdict.rule, verdict.detail or "a credential was rejected"
                )
        return None

    async def _do_create_group(self, step: Step) -> None:
        client = self._client(step.actor)
        assert step.group is not None
        seen_notices = len(client.state.notices)
        await client.handle.send(ev.CreateGroup(step.group))

        def made() -> bool:
            g = client.state.group_by_title(step.group or "")
            return (g is not None and g.safety is not None) or self._error_since(
                client, seen_notices
            ) is not None

        await self._wait_for(made, math.inf, [client])  # bounded by the step's limit
        error = self._error_since(client, seen_notices)
        if error is not None:
            raise StepFailed(error)
        g = client.state.group_by_title(step.group)
        assert g is not None
        self._seen_done.add(step.index)  # only its creator is involved
        self.group_ids[(client.actor, step.group)] = g.group_id
        self.names_by_id[g.group_id] = step.group
        self.interceptor.bind_group(step.group, g.group_id)

    async def _do_invite(self, step: Step) -> None:
        client = self._client(step.actor)
        gid = self._group_id(client.actor, step.group)
        seen_verdicts, seen_notices = len(client.state.verdicts), len(client.state.notices)
        invitees = [self.scenario.actors[m] for m in step.members]
        names = {i.name for i in invitees}
        seen_service = len(self.service_verdicts)
        seen_by = {n: len(self.clients[n].state.verdicts) for n in names}
        hold = frozenset(names - self.refused) if len(names) > 1 else frozenset()
        self._holding, self._held, self._all_held = hold, {}, trio.Event()
        for invitee in invitees:
            await client.handle.send(ev.InviteNumber(gid, invitee.tn))
        if hold:
            await self._answer_together(len(hold))

        def refused_now() -> StepRejected | None:
            # The service checks the invitee's KeyPackage when it answers (PROFILE.md §6).
            for v in self.service_verdicts[seen_service:]:
                if v.subject in names:
                    return StepRejected(v.reason, v.rule, v.detail or "refused by the service")
            return None

        def settled() -> bool:
            if self._new_rejection(client, seen_verdicts) is not None:
                return True
            if refused_now() is not None:
                return True
            if any(n.level == ev.NoticeLevel.ERROR for n in client.state.notices[seen_notices:]):
                return True
            return {i.tn for i in invitees} <= self._member_tns(client, gid)

        watched = [client, *(self.clients[n] for n in names)]
        await self._wait_for(settled, math.inf, watched)  # bounded by the step's limit
        rejection = self._new_rejection(client, seen_verdicts) or refused_now()
        if rejection is not None:
            raise rejection
        errors = [n for n in client.state.notices[seen_notices:] if n.level == ev.NoticeLevel.ERROR]
        if errors:
            # Refused because the service never registered the invitee: say why it did not.
            for v in reversed(self.service_verdicts):
                if v.subject in names:
                    raise StepRejected(v.reason, v.rule, f"{errors[0].text} ({v.detail})")
            raise StepRejected(None, None, errors[0].text)
        missing = {i.tn for i in invitees} - self._member_tns(client, gid)
        if missing:
            raise StepFailed(f"not added: {', '.join(sorted(missing))}")
        # The invitees join from the Welcome (checking every member of the tree first:
        # O(N) signature checks each, so a large group needs time in proportion); one
        # that refuses the Welcome is done too. Later steps start from the joined group.
        joiners = [self.clients[i.name] for i in invitees]
        group = step.group or ""

        def done(j: RunningClient) -> bool:
            joined = j.state.group_by_title(group) is not None
            return joined or self._new_rejection(j, seen_by[j.actor]) is not None

        limit = self.t.delivery + len(joiners) * self.t.per_member / 2
        pending = list(joiners)

        def all_done() -> bool:
            # One joiner at a time until it is done, then never again: re-checking all
            # of them on every joiner's event was O(N^2) checks for a large group.
            while pending and done(pending[-1]):
                pending.pop()
            return not pending

        await self._wait_for(all_done, limit, joiners)
        await self._seen_everywhere(step, client, gid, joiners)

    async def _seen_everywhere(
        self,
        step: Step,
        committer: RunningClient,
        gid: bytes,
        joiners: Sequence[RunningClient] = (),
    ) -> None:
        """After a commit: when every joiner joined and every other member reached the
        committer's epoch (or left the group), nothing is left to settle (no quiet
        period). Not when an adversary touched the step's traffic: a frame it delays or
        drops has no event that says it is over (the quiet period catches it)."""
        if self._acted():
            return
        group = step.group or ""
        if not all(j.state.group_by_title(group) is not None for j in joiners):
            return  # someone refused the Welcome: let the quiet period catch the rest
        epoch = committer.state.groups[gid].epoch
        named = {committer.actor, *(j.actor for j in joiners)}
        others = []
        for c in self.clients.values():
            g = c.state.group_by_title(group)
            if c.actor not in named and g is not None and g.active:
                others.append(c)
        waiting = iter(others)
        current = next(waiting, None)

        def behind(c: RunningClient) -> bool:
            g = c.state.group_by_title(group)
            return g is not None and g.active and g.epoch < epoch

        def caught_up() -> bool:
            # Members in order: each is checked until it caught up, then never again
            # (with every member's event re-checking all of them, a 300-member group
            # cost O(N^2) checks per commit).
            nonlocal current
            while current is not None and not behind(current):
                current = next(waiting, None)
            return current is None

        await self._wait_for(lambda: caught_up() or self._acted(), self.t.delivery, others)
        if caught_up() and not self._acted():
            self._seen_done.add(step.index)

    async def _answer_together(self, count: int) -> None:
        """Answer the held invitations at once, when all have arrived (or at the bound,
        then those that have): their KeyPackages reach the inviter together, and its
        client adds the answers that arrive together in one commit."""
        # The inviter makes the invitations one round trip each: under load, 0.1 s apiece
        # was too little for 300 (the early answers went into a commit of their own).
        with trio.move_on_after(self.t.delivery + count * self.t.per_member / 4):
            await self._all_held.wait()
        held, self._holding, self._held = self._held, frozenset(), {}
        for actor, event in held.items():
            answer = ev.AnswerInvitation(event.invitation.invitation_id, accept=True)
            await self.clients[actor].handle.send(answer)

    async def _do_accept(self, step: Step) -> None:
        client = self._client(step.actor)
        group = step.group or ""

        def joined() -> bool:
            g = client.state.group_by_title(group)
            return g is not None and g.safety is not None

        if not await self._wait_for(joined, self.t.delivery, [client]):
            rejection = self._new_rejection(client, 0)
            if rejection is not None:
                raise rejection
            raise StepFailed(f"{client.actor} has not joined {group!r}")

    async def _do_send(self, step: Step) -> None:
        client = self._client(step.actor)
        gid = self._group_id(client.actor, step.group)
        assert step.text is not None
        stream = self._streams.get(step.index, [step])
        tns = self._member_tns(client, gid) - {self.scenario.actors[client.actor].tn}
        readers = [c for c in self.clients.values() if self.scenario.actors[c.actor].tn in tns]
        group = step.group or ""
        own = client.state.groups[gid]
        if stream[0] is step:
            self._stream_base = {
                r.actor: len(g.received) if (g := r.state.group_by_title(group)) else 0
                for r in readers
            }
            self._stream_base[client.actor] = len(own.sent)
            self._stream_notices = len(client.state.notices)
        self.recorder.record("sent", actor=client.actor, group=step.group, text=step.text)
        await client.handle.send(ev.SendText(gid, step.text))
        if stream[-1] is not step:
            # Streaming: the next send is handed over at once (the client core keeps
            # their order); the last step waits for them all.
            self._seen_done.add(step.index)
            return
        sent_base, seen_notices = self._stream_base.get(client.actor, 0), self._stream_notices
        # The sender: every message of the stream taken by the service, or a failure.
        limit = self._stream_delivery_limit(len(stream)) if len(stream) > 1 else self.t.delivery
        await self._wait_for(
            lambda: (
                len(own.sent) - sent_base >= len(stream)
                or self._error_since(client, seen_notices) is not None
            ),
            limit,
            [client],
        )
        error = self._error_since(client, seen_notices)
        if error is not None:
            raise StepFailed(error)
        texts = Counter(s.text for s in stream)
        base = self._stream_base
        waiting = iter(readers)
        current = next(waiting, None)

        def has_all(reader: RunningClient) -> bool:
            g = reader.state.group_by_title(group)
            if g is None:
                return False
            since = g.received[base.get(reader.actor, 0) :]
            # The count first: cheap, and false until the last message of the stream.
            return len(since) >= len(stream) and Counter(m.text for m in since) >= texts

        def delivered() -> bool:
            # Readers in order: each is checked until it has everything, then never again.
            nonlocal current
            while current is not None and has_all(current):
                current = next(waiting, None)
            return current is None

        def touched() -> bool:
            # A delivery-service adversary acted on the batch's traffic (dropped, held,
            # delayed, replayed): some reader may never read it, or later; the quiet
            # period takes over instead of waiting out the limit (5 s for a drop). A
            # rogue provider's relayed messages are waited for as they come.
            return not self._rogue and self._adversary_acts > self._batch_acts

        await self._wait_for(lambda: delivered() or touched(), limit, readers)
        if delivered():
            self._seen_done.update(s.index for s in stream)

    def _member_key(self, client: RunningClient, gid: bytes, tn: str) -> str:
        g = client.state.groups.get(gid)
        for row in g.members if g else ():
            if row.identity is not None and self.tn_of_sender.get(row.identity.number) == tn:
                return row.key
        raise StepFailed(f"{client.actor} sees no member with number +{tn}")

    async def _do_remove(self, step: Step) -> None:
        client = self._client(step.actor)
        gid = self._group_id(client.actor, step.group)
        tns = {self.scenario.actors[m].tn for m in step.members}
        for tn in tns:
            await client.handle.send(ev.RemoveMember(gid, self._member_key(client, gid, tn)))
        if not await self._wait_for(
            lambda: not (tns & self._member_tns(client, gid)), math.inf, [client]
        ):
            raise StepFailed("the members are still in the group")
        await self._seen_everywhere(step, client, gid)

    async def _do_update(self, step: Step) -> None:
        client = self._client(step.actor)
        gid = self._group_id(client.actor, step.group)
        seen_notices = len(client.state.notices)
        before = client.state.groups[gid].epoch
        await client.handle.send(ev.UpdateKeys(gid))

        def done() -> bool:
            return (
                client.state.groups[gid].epoch > before
                or self._error_since(client, seen_notices) is not None
            )

        await self._wait_for(done, math.inf, [client])  # bounded by the step's limit
        error = self._error_since(client, seen_notices)
        if error is not None:
            raise StepFailed(error)
        await self._seen_everywhere(step, client, gid)

    async def _do_leave(self, step: Step) -> None:
        client = self._client(step.actor)
        gid = self._group_id(client.actor, step.group)
        await client.handle.send(ev.LeaveGroup(gid))
        g = client.state.groups[gid]
        await self._wait_for(lambda: not g.active, math.inf, [client])

    async def _do_compare_codes(self, step: Step) -> None:
        a_name, b_name = step.between[0], step.between[1]
        group = step.group or ""
        a, b = self.clients[a_name], self.clients[b_name]
        views: list[GroupView | None] = []
        for c in (a, b):
            g = c.state.group_by_title(group)
            views.append(c.state.view(group, g.group_id) if g else None)
        va, vb = views
        match = va is not None and vb is not None and codes_match(va, vb)
        comparison = Comparison(
            group,
            (a_name, b_name),
            (va.epoch if va else None, vb.epoch if vb else None),
            (va.code if va else None, vb.code if vb else None),
            match,
        )
        self.comparisons.append(comparison)
        self.recorder.record(
            "comparison",
            group=group,
            between=[a_name, b_name],
            epochs=list(comparison.epochs),
            codes=list(comparison.codes),
            match=match,
        )
        # Each tells its client what it found (the Verify screen's match / differ).
        for me, other, view in ((a, b, va), (b, a, vb)):
            if view is None:
                continue
            gid = self._group_id(me.actor, group)
            other_tn = self.scenario.actors[other.actor].tn
            try:
                key = self._member_key(me, gid, other_tn)
            except StepFailed:
                continue  # the other is not in this member's list at all
            await me.handle.send(ev.MarkCode(gid, view.epoch, key, matches=match))
        if not match:
            # Both clients raise the mismatch alarm (PROFILE.md §8).
            told = [c for c, v in ((a, va), (b, vb)) if v is not None]
            if not await self._wait_for(
                lambda: all(c.state.groups[self._group_id(c.actor, group)].alarm for c in told),
                self.t.delivery,
                told,
            ):
                return
        # Only the two clients are told, each in its command order (a later command
        # waits behind it): nothing else to settle.
        self._seen_done.add(step.index)

    async def _do_restart(self, step: Step) -> None:
        if step.actor is None:
            clients = [c for c in self.clients.values() if c.actor not in self.refused]
            before = {c.actor: c.state.connects for c in clients}
            self.recorder.record("service", state="stopping")
            await self.relay.disconnect_all()
            url = await self.host.restart(self.nursery)
            self.relay.service_url = url
            self.recorder.record("service", state="restarted", url=url)
            # The step is done when every client is back (they reconnect with back-off).
            await self._wait_for(
                lambda: all(c.state.connects > before[c.actor] for c in clients),
                math.inf,
                clients,
            )
            return
        client = self._client(step.actor)
        connects = client.state.connects
        await client.handle.stop()
        spec = client.spec
        client.handle = await self.launcher.launch(self.nursery, spec)
        self.nursery.start_soon(self._pump, client)
        if client.actor not in self.refused:
            # Done when the client is back, as for the service's restart: a client in a
            # fresh worker process takes a moment to start, and the next step needs it.
            await self._wait_for(lambda: client.state.connects > connects, math.inf, [client])

    async def _do_wait(self, step: Step) -> None:
        await trio.sleep(step.seconds or 0.0)

    # -- the end ----------------------------------------------------------------------------

    @staticmethod
    def _distinct(verdicts: list[CredentialVerdict]) -> list[CredentialVerdict]:
        """One line per refusal (a refused client retries: the same refusal repeats)."""
        out: list[CredentialVerdict] = []
        for v in verdicts:
            if v not in out:
                out.append(v)
        return out

    def _views(self) -> tuple[GroupView, ...]:
        views: list[GroupView] = []
        for client in self.clients.values():
            for group in self.scenario.groups:
                g = client.state.group_by_title(group)
                if g is None:
                    continue
                view = client.state.view(group, g.group_id)
                if view is not None:
                    views.append(view)
        return tuple(views)


def group_id_of_dest(dest: str) -> bytes | None:
    """The group id a ``mls:group:`` dest URI names (None for other URIs)."""
    if not dest.startswith(GROUP_DEST_PREFIX):
        return None
    text = dest[len(GROUP_DEST_PREFIX) :]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

"""ds_fanout: delivered messages/s and end-to-end latency of the delivery service.

    uv run --no-sync python benchmarks/ds_fanout/run.py [--clients 100 1000]
        [--group-sizes 10 100] [--seconds 3] [--load-procs 2]
        [--out benchmarks/ds_fanout/results.json]

For each (C clients, groups of G): the real service (``python -m delivery_service.cli
serve``, SQLite WAL file, real STIR registration of every client, real MLS groups made by
one add-commit each) runs in its own process. The C load clients run in ``--load-procs``
other processes (client i in process i mod P, so every group spans the processes); this
process only coordinates them over pipes and reads the service's CPU time from /proc, so
the service process is measured on its own. The load processes still share the
machine's cores with the service: the figures say so.

Per configuration:

- saturation: every group keeps ``--window`` messages outstanding (waits for ``sent``);
  measures durable deliveries/s (a delivery = a message received by a member, in a
  ``deliver`` frame or as an item of a ``deliveries`` frame; each is stored before it
  is pushed, and acknowledged in batches);
- sweep: fixed offered loads at ``--sweep`` fractions of the measured saturation rate;
  each point gives delivered/s, p50/p99 from the sender's send to the recipient's
  receipt (CLOCK_MONOTONIC is one clock for all processes on Linux) and whether the
  service kept up (delivered >= 95% of offered). "Below saturation" is the 50% point;
- the floor: the same load processes against ``bare_server.py`` (same WebSocket
  library, frames forwarded verbatim: no storage, no validation), closed loop.

Application payloads are PrivateMessage-framed (RFC 9420 header: group id, epoch,
content type) with random bytes standing in for the ciphertext: the service never
decrypts, so its work per message is the same as for real traffic, and the load
generator does not spend the shared CPU on encryption. The load clients speak WebSocket
through ``lean_client.py`` (no reader task or message channel per connection), so that
their own cost per message limits the measurement less; the service and the floor both
use the service's own WebSocket layer (``shared.websocket``; trio-websocket
until the fifth session).

The load clients follow the real client's protocol policy (client.core.connection and
session): they ask for ``deliveries`` frames in ``hello`` (``--single-delivers``: not),
and acknowledge with quiet acks ``ACK_DELAY`` after the first unacknowledged delivery,
or at once when ``ACK_BATCH`` are waiting (``--ack-interval``, ``--ack-count``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import openmls
import trio
import trio_websocket

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from lean_client import LeanClosed, LeanWebSocket  # noqa: E402

from client.core.connection import ACK_BATCH, ACK_DELAY  # noqa: E402
from delivery_service.garbage_collection import (  # noqa: E402
    YOUNG_COLLECTION_THRESHOLD,
    defer_full_collections,
)
from delivery_service.loop_monitor import LoopMonitor  # noqa: E402
from shared.profile import CREDENTIAL_TYPE_STIR_CERTIFICATE  # noqa: E402
from shared.protocol import (  # noqa: E402
    DS_AUTH_LABEL,
    FEATURE_DELIVERIES,
    Ack,
    Auth,
    Challenge,
    ClaimKeyPackage,
    Commit,
    CommitAccepted,
    CreateGroup,
    Deliver,
    Deliveries,
    DeliveryKind,
    GroupCreated,
    Hello,
    KeyPackageReply,
    Ok,
    PublishKeyPackages,
    Registered,
    SendMessage,
    decode_frame,
    ds_auth_content,
    encode_frame,
)
from shared.protocol.codec import b64decode  # noqa: E402
from shared.stir.pki import DemoPKI, generate_key  # noqa: E402
from shared.stir.tnauthlist import OneTN, TNRange  # noqa: E402

DS_ID = "ds.bench"
PAYLOAD_BYTES = 200  # a short chat message's PrivateMessage is ~150-250 bytes
ID_SPACE = 10**9  # request ids: client index * ID_SPACE + sequence number


def private_message(group_id: bytes, epoch: int, payload: bytes) -> bytes:
    """An MLSMessage(PrivateMessage) header (RFC 9420 §6.3) around opaque bytes."""
    assert len(group_id) < 64
    return (
        b"\x00\x01\x00\x02"
        + bytes([len(group_id)])
        + group_id
        + epoch.to_bytes(8, "big")
        + b"\x01"
        + payload
    )


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    user, system = cpu_split(pid)
    return user + system


def runqueue_wait_seconds(pid: int) -> float:
    """Time the process's main thread spent runnable but waiting for a CPU (Linux
    schedstat): how much the machine's other load held the service back."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


SERVICE_ROOT = REPO  # --service-root: run another checkout's service (before/after pairs)
# --pin: the service (and the floor) on one CPU, the load processes and this coordinator on
# the other, so that the service never waits for its own load generator (other
# processes on the machine still share both).
SERVICE_CPU = 1
LOAD_CPU = 0


async def start_process(args: list[str], cwd: Path = REPO) -> tuple[trio.Process, str]:
    proc = await trio.lowlevel.open_process(args, stdout=subprocess.PIPE, cwd=cwd)
    assert proc.stdout is not None
    line = b""
    with trio.fail_after(60):
        while not line.endswith(b"\n"):
            chunk = await proc.stdout.receive_some(1)
            if not chunk:
                raise RuntimeError("server exited before listening")
            line += chunk
    url = next(w for w in line.decode().split() if w.startswith("ws://"))
    return proc, url


# --- members: made once by the coordinator, handed to load processes as bytes ------------


@dataclass(frozen=True)
class PortableMember:
    """What a load process needs to be one member (picklable)."""

    index: int
    tn: str
    key_der: bytes  # PKCS#8 P-256 private key
    cert: bytes  # STIR certificate credential content


class Members:
    """Keys and certificates of the load clients (``members``: (tn, signer, credential))."""

    def __init__(self, pki: DemoPKI, count: int) -> None:
        ca = pki.issue_spc("Bench Tel", "4321", [TNRange("15550000000", 10_000)], ca=True)
        self.portable: list[PortableMember] = []
        self.members = []
        for i in range(count):
            tn = f"1555{i:07d}"
            key = generate_key("p256")
            der = key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            cert = pki.issue_delegate(ca, [OneTN(tn)], key.public_key(), name=f"m{i}")
            content = cert.credential().encode()
            self.portable.append(PortableMember(i, tn, der, content))
            self.members.append(member_objects(self.portable[-1]))


def member_objects(m: PortableMember) -> tuple[str, Any, Any]:
    signer = openmls.SignatureKeyPair.from_p256_private_key(m.key_der)
    cred = openmls.Credential(CREDENTIAL_TYPE_STIR_CERTIFICATE, m.cert)
    return m.tn, signer, cred


async def request(ws: trio_websocket.WebSocketConnection | LeanWebSocket, frame: Any) -> Any:
    await ws.send_message(encode_frame(frame))
    while True:
        answer = decode_frame(await ws.get_message())
        if not isinstance(answer, Deliver | Deliveries):
            return answer


async def register(url: str, tn: str, signer: Any, cred: Any, nursery: trio.Nursery) -> Any:
    """A registered trio-websocket connection (kept open by ``nursery``)."""
    ws = await trio_websocket.connect_websocket_url(nursery, url, max_message_size=64 * 1024 * 1024)
    return await authenticate(ws, tn, signer, cred)


async def authenticate(
    ws: Any, tn: str, signer: Any, cred: Any, features: tuple[str, ...] = ()
) -> Any:
    nonce = os.urandom(32)
    challenge = await request(ws, Hello(id=1, client_nonce=nonce, features=features))
    assert isinstance(challenge, Challenge)
    content = ds_auth_content(challenge.server_nonce, nonce, DS_ID, tn)
    answer = await request(
        ws,
        Auth(
            id=2,
            tn=tn,
            signature_scheme=signer.signature_scheme,
            signature_key=signer.public_key,
            signature=signer.sign_with_label(DS_AUTH_LABEL, content),
            credential_type=cred.credential_type,
            credential=cred.content,
        ),
    )
    assert isinstance(answer, Registered), answer
    return ws


# --- one load process -------------------------------------------------------------------


@dataclass
class Stats:
    total: int = 0  # every delivery, warm-up included (for deliveries per CPU second)
    delivered: int = 0
    latencies: list[float] = field(default_factory=list)
    window_start: float = 0.0
    window_end: float = float("inf")
    traced: list[tuple[int, float, float]] = field(default_factory=list)  # (mid, sent, read)

    def record(self, sent_at: float, now: float) -> None:
        self.total += 1
        if self.window_start <= now < self.window_end:
            self.delivered += 1
            self.latencies.append(now - sent_at)


@dataclass
class LoadClient:
    index: int
    tn: str
    ws: LeanWebSocket
    group: int
    gid: bytes = b""  # the MLS group id of its group
    pending_acks: list[int] = field(default_factory=list)
    outstanding: trio.Semaphore | None = None
    acks_sent: int = 0
    push_frames: int = 0  # deliver/deliveries frames received (a client's cost is per frame)
    ack_due: trio.Event = field(default_factory=trio.Event)


@dataclass(frozen=True)
class Plan:
    """One load process's share of a configuration."""

    clients_n: int
    group_size: int
    mine: list[PortableMember]
    ack_interval: float
    ack_count: int
    quiet_acks: bool
    features: tuple[str, ...]
    loop_stats: bool = False  # record this process's own event loop per drive
    trace: bool = False  # keep (mid, sent, read) of each measured delivery (--latency-trace)
    lean_gc: bool = False  # the service's GC policy in the load process (--load-gc)


class LoadProcess:
    """Drives a slice of the clients; commands arrive over a pipe (``serve``)."""

    def __init__(self, pipe: Connection, plan: Plan) -> None:
        self.pipe = pipe
        self.plan = plan
        self.clients: list[LoadClient] = []
        self.members = {m.tn: m for m in plan.mine}
        self.provider = openmls.Provider()
        self.monitor = LoopMonitor() if plan.loop_stats else None

    def group_of(self, index: int) -> int:
        return index // self.plan.group_size

    def is_creator(self, index: int) -> bool:
        return index % self.plan.group_size == 0

    def is_sender(self, index: int) -> bool:
        g = self.group_of(index)
        return index == g * self.plan.group_size + (g % self.plan.group_size)

    def gid(self, group: int) -> bytes:
        return f"bench-{self.plan.clients_n}x{self.plan.group_size}-{group}".encode()

    async def serve(self) -> None:
        if self.monitor is not None:
            trio.lowlevel.add_instrument(self.monitor)
        async with trio.open_nursery() as nursery:
            while True:
                command, arg = await trio.to_thread.run_sync(self.pipe.recv)
                if command == "exit":
                    nursery.cancel_scope.cancel()
                    return
                result = await getattr(self, command)(nursery, arg)
                self.pipe.send(result)

    async def register_all(self, nursery: trio.Nursery, url: str) -> int:
        """Register every client; non-creators publish one KeyPackage."""
        limiter = trio.CapacityLimiter(25)

        async def one(m: PortableMember) -> None:
            async with limiter:
                tn, signer, cred = member_objects(m)
                ws = await authenticate(
                    await LeanWebSocket.connect(url), tn, signer, cred, self.plan.features
                )
                c = LoadClient(
                    m.index, tn, ws, self.group_of(m.index), self.gid(self.group_of(m.index))
                )
                self.clients.append(c)
                if not self.is_creator(m.index):
                    kp = openmls.KeyPackage.create(self.provider, signer, cred)
                    answer = await request(
                        ws, PublishKeyPackages(id=3, key_packages=(kp.to_bytes(),))
                    )
                    assert isinstance(answer, Ok), answer

        async with trio.open_nursery() as reg:
            for m in self.plan.mine:
                reg.start_soon(one, m)
        self.clients.sort(key=lambda c: c.index)
        return len(self.clients)

    async def make_groups(self, nursery: trio.Nursery, _: Any) -> int:
        """Creators make their groups (one add-commit); members take their Welcome."""
        g_size = self.plan.group_size
        for c in self.clients:
            if not self.is_creator(c.index):
                continue
            _, signer, cred = member_objects(self.members[c.tn])
            group = openmls.Group.create(self.provider, signer, cred, group_id=c.gid)
            created = await request(
                c.ws, CreateGroup(id=4, group_id=c.gid, group_info=group.export_group_info())
            )
            assert isinstance(created, GroupCreated), created
            kps = []
            for j in range(c.index + 1, c.index + g_size):
                reply = await request(c.ws, ClaimKeyPackage(id=5, tn=f"1555{j:07d}"))
                assert isinstance(reply, KeyPackageReply), reply
                kps.append(openmls.KeyPackage.parse(self.provider, reply.key_package))
            bundle = await trio.to_thread.run_sync(group.add_members, kps)
            assert bundle.group_info is not None
            accepted = await request(
                c.ws,
                Commit(
                    id=6,
                    group_id=c.gid,
                    epoch=0,
                    commit=bundle.commit,
                    group_info=bundle.group_info,
                    welcome=bundle.welcome,
                ),
            )
            assert isinstance(accepted, CommitAccepted), accepted

        # Every member takes its Welcome and acknowledges it now, so that the measurement
        # does not start with a backlog of (large) Welcomes.
        async def welcome(c: LoadClient) -> None:
            while True:
                frame = decode_frame(await c.ws.get_message())
                items = frame.items if isinstance(frame, Deliveries) else (frame,)
                welcomes = [
                    d.mid
                    for d in items
                    if isinstance(d, Deliver) and d.kind is DeliveryKind.WELCOME
                ]
                if welcomes:
                    break
            assert isinstance(await request(c.ws, Ack(id=7, mids=tuple(welcomes))), Ok)

        with trio.fail_after(300):
            async with trio.open_nursery() as waits:
                for c in self.clients:
                    if not self.is_creator(c.index):
                        waits.start_soon(welcome, c)
        return len(self.clients)

    async def connect_bare(self, nursery: trio.Nursery, url: str) -> int:
        for c in self.clients:
            await c.ws.aclose()
        self.clients = []
        for m in self.plan.mine:
            ws = await LeanWebSocket.connect(url)
            g = self.group_of(m.index)
            await ws.send_message(str(g))
            self.clients.append(LoadClient(m.index, m.tn, ws, g, f"bare-{g}".encode()))
        return len(self.clients)

    async def close_all(self, nursery: trio.Nursery, _: Any) -> int:
        for c in self.clients:
            with trio.move_on_after(2):
                await c.ws.aclose()
        self.clients = []
        return 0

    async def drive(self, nursery: trio.Nursery, spec: dict[str, Any]) -> dict[str, Any]:
        """Saturation (``window``) or fixed offered load (``rate`` messages/s, this
        process's share), from ``start`` (monotonic) for warm-up + seconds."""
        stats = Stats()
        bare = spec["bare"]
        window = spec["window"]
        rate = spec["rate"]
        senders = [c for c in self.clients if self.is_sender(c.index)]
        for s in senders:
            s.outstanding = trio.Semaphore(window or 10**9)
        for c in self.clients:
            c.pending_acks = []
            c.acks_sent = 0
            c.push_frames = 0
            c.ack_due = trio.Event()
        start = spec["start"]  # time.monotonic(): CLOCK_MONOTONIC, the same in every process
        stats.window_start = start + spec["warmup"]
        stats.window_end = stats.window_start + spec["seconds"]
        to_trio = trio.current_time() - time.monotonic()  # trio's clock has its own offset
        end = stats.window_end + to_trio
        if self.monitor is not None:
            self.monitor.reset()
        async with trio.open_nursery() as run:
            for c in self.clients:
                run.start_soon(self.client_reader, c, stats)
                if not bare:
                    run.start_soon(self.client_acker, c)
            await trio.sleep_until(start + to_trio)

            async def closed_loop(s: LoadClient) -> None:
                seq = 0
                assert s.outstanding is not None
                while trio.current_time() < end:
                    await s.outstanding.acquire()
                    seq += 1
                    await s.ws.send_message(message_frame(s, seq))

            async def open_loop() -> None:
                tick = 0.005
                owed = 0.0
                seq = 0
                i = 0
                last = trio.current_time()
                while trio.current_time() < end:
                    now = trio.current_time()
                    owed += rate * (now - last)  # by elapsed time: sleeps overshoot under load
                    last = now
                    while owed >= 1:
                        owed -= 1
                        s = senders[i]
                        seq += 1
                        await s.ws.send_message(message_frame(s, seq))
                        i = (i + 1) % len(senders)
                    await trio.sleep(tick)

            if senders:
                if window is not None:
                    for s in senders:
                        run.start_soon(closed_loop, s)
                elif rate:
                    run.start_soon(open_loop)
            await trio.sleep_until(end + 0.5)
            # Drain: keep reading (and acking) until nothing arrived for 1.5 s, so the
            # next run does not start with this run's backlog (a starved service can
            # pause for over 0.5 s on this machine with a backlog still queued).
            with trio.move_on_after(spec.get("drain_cap", 60)):
                quiet = 0
                while quiet < 3:
                    seen = stats.total
                    await trio.sleep(0.5)
                    quiet = quiet + 1 if stats.total == seen else 0
            run.cancel_scope.cancel()
        return {
            "total": stats.total,
            "delivered": stats.delivered,
            "latencies": stats.latencies,
            "traced": stats.traced,
            "ack_frames": sum(c.acks_sent for c in self.clients),
            "push_frames": sum(c.push_frames for c in self.clients),
            "loop": None if self.monitor is None else self.monitor.report(top_tasks=4),
        }

    async def client_reader(self, c: LoadClient, stats: Stats) -> None:
        """Counts what arrives and queues its mid for the acker.

        The load clients share the service's 2 cores, so they read only what they need:
        ``json.loads`` and the fields used, not ``decode_frame``'s full validation (the
        service's frames are checked by the client core's own tests)."""
        loads = json.loads
        unpack = struct.unpack_from
        ack_count = self.plan.ack_count
        traced = stats.traced if self.plan.trace else None
        try:
            while True:
                message = await c.ws.get_message()
                now = time.monotonic()
                obj = loads(message)
                kind = obj["type"]
                if kind == "deliver" or kind == "deliveries":
                    c.push_frames += 1
                    for item in obj["items"] if kind == "deliveries" else (obj,):
                        if item["kind"] == "application":
                            data = b64decode(item["data"])
                            sent = unpack("!d", data, len(data) - PAYLOAD_BYTES)[0]
                            stats.record(sent, now)
                            if traced is not None and stats.window_start <= now < stats.window_end:
                                traced.append((item["mid"], sent, now))
                        c.pending_acks.append(item["mid"])
                    c.ack_due.set()
                    if len(c.pending_acks) >= ack_count:
                        await self.send_ack(c)
                elif kind == "send":  # bare floor: forwarded verbatim
                    if obj["id"] // ID_SPACE != c.index:
                        data = b64decode(obj["message"])
                        stats.record(unpack("!d", data, len(data) - PAYLOAD_BYTES)[0], now)
                    elif c.outstanding is not None:  # our own echo: the floor's "sent"
                        c.outstanding.release()
                elif kind == "sent" and c.outstanding is not None:
                    c.outstanding.release()
        except LeanClosed:
            pass

    async def send_ack(self, c: LoadClient) -> None:
        mids, c.pending_acks = c.pending_acks, []
        c.acks_sent += 1
        ack = Ack(id=10_000_000 + c.acks_sent, mids=tuple(mids), quiet=self.plan.quiet_acks)
        await c.ws.send_message(encode_frame(ack))

    async def client_acker(self, c: LoadClient) -> None:
        """Like the real client's ack policy (client.core.connection): after the first
        unacknowledged delivery, wait ``ack_interval``, then acknowledge everything
        received by then (and at once at ``ack_count``: see client_reader). (A timer
        per client that woke every interval cost the load processes more than the
        acks cost the service, at C = 1000.)"""
        while True:
            await c.ack_due.wait()
            await trio.sleep(self.plan.ack_interval)
            c.ack_due = trio.Event()
            if c.pending_acks:
                await self.send_ack(c)


def message_frame(c: LoadClient, seq: int) -> str:
    payload = struct.pack("!d", time.monotonic()) + os.urandom(PAYLOAD_BYTES - 8)
    return encode_frame(
        SendMessage(
            id=c.index * ID_SPACE + seq,
            group_id=c.gid,
            message=private_message(c.gid, 1, payload),
        )
    )


def load_process_main(pipe: Connection, plan: Plan) -> None:
    """Entry point of a load process (multiprocessing, spawn)."""
    if plan.lean_gc:
        # What ``ds serve`` does (delivery_service.garbage_collection): with 500
        # connections a process's young and full collections scan them all, and its
        # pauses delay every delivery it reads.
        defer_full_collections(YOUNG_COLLECTION_THRESHOLD)
    trio.run(LoadProcess(pipe, plan).serve)


# --- the coordinator --------------------------------------------------------------------


class LoadFleet:
    """The load processes of one configuration, driven in lock step."""

    def __init__(self, members: Members, clients_n: int, group_size: int, args: argparse.Namespace):
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs = []
        n = max(1, args.load_procs)
        for p in range(n):
            mine = [m for m in members.portable[:clients_n] if m.index % n == p]
            plan = Plan(
                clients_n,
                group_size,
                mine,
                args.ack_interval,
                args.ack_count,
                not args.loud_acks,
                () if args.single_delivers else (FEATURE_DELIVERIES,),
                args.loop_stats,
                args.latency_trace,
                args.load_gc,
            )
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=load_process_main, args=(theirs, plan), daemon=True)
            proc.start()
            if args.pin:
                os.sched_setaffinity(proc.pid, {LOAD_CPU})
            self.pipes.append(ours)
            self.procs.append(proc)
        self.senders = [
            sum(
                1
                for m in members.portable[:clients_n]
                if m.index % n == p and _sender(m.index, group_size)
            )
            for p in range(n)
        ]

    async def all(self, command: str, arg: Any | list[Any]) -> list[Any]:
        args = arg if isinstance(arg, list) else [arg] * len(self.pipes)
        for pipe, a in zip(self.pipes, args, strict=True):
            pipe.send((command, a))
        return [await trio.to_thread.run_sync(pipe.recv) for pipe in self.pipes]

    async def drive(
        self, *, seconds: float, window: int | None, rate: float | None, bare: bool
    ) -> Stats:
        total_senders = sum(self.senders)
        start = time.monotonic() + 0.3  # CLOCK_MONOTONIC: the same clock in every process
        specs = [
            {
                "bare": bare,
                "window": window,
                "rate": None if rate is None else rate * n / total_senders,
                "start": start,
                "warmup": 1.0,
                "seconds": seconds,
            }
            for n in self.senders
        ]
        parts = await self.all("drive", specs)
        stats = Stats()
        for part in parts:
            stats.total += part["total"]
            stats.delivered += part["delivered"]
            stats.latencies.extend(part["latencies"])
            stats.traced.extend(part["traced"])
        self.ack_frames = sum(part["ack_frames"] for part in parts)
        self.push_frames = sum(part.get("push_frames", 0) for part in parts)
        self.load_loops = [part["loop"] for part in parts if part.get("loop") is not None]
        return stats

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(BrokenPipeError, OSError):
                pipe.send(("exit", None))
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()


def _sender(index: int, group_size: int) -> bool:
    g = index // group_size
    return index == g * group_size + (g % group_size)


def summary(stats: Stats, seconds: float, server_cpu: float) -> dict[str, float]:
    lat = sorted(stats.latencies)
    out: dict[str, float] = {
        "deliveries_per_s": round(stats.delivered / seconds, 1),
        # What the service process could deliver with a whole core to itself.
        "deliveries_per_server_cpu_s": round(stats.total / server_cpu, 1) if server_cpu else 0.0,
        "server_cpu_s": round(server_cpu, 2),
        "server_cpu_share": round(server_cpu / (seconds + 1.5), 2),  # of one core, whole run
        "p50_ms": float("nan"),
        "p99_ms": float("nan"),
    }
    if lat:
        out["p50_ms"] = round(statistics.median(lat) * 1000, 2)
        out["p99_ms"] = round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2)
    return out


BUDGET_STAGES = (
    # (name, from column, to column): columns of a joined row, see latency_budget
    ("sender to service read", "sent", "received"),
    ("decode, checks, pipeline wait", "received", "decoded"),
    ("batcher queue", "decoded", "batch_started"),
    ("transaction and commit", "batch_started", "committed"),
    ("fan-out of the batch", "committed", "fanned_out"),
    ("pushed to recipient's read", "fanned_out", "read"),
)


def latency_budget(
    traced: list[tuple[int, float, float]], rows: list[list[float]]
) -> dict[str, Any]:
    """Where each measured delivery's time went: the load clients' (mid, sent, read)
    joined by mid with the service's stage times (``serve --latency-trace``; one
    CLOCK_MONOTONIC for every process). Per stage: p50, p99 and mean over every
    delivery, and the mean over the slowest 1% (the deliveries at or above the p99
    end-to-end latency): what the tail is made of."""
    stages = {int(r[0]): r for r in rows}
    joined = []
    for mid, sent, read in traced:
        r = stages.get(mid)
        if r is not None:
            joined.append(
                {
                    "sent": sent,
                    "received": r[1],
                    "decoded": r[2],
                    "batch_started": r[3],
                    "committed": r[4],
                    "fanned_out": r[5],
                    "read": read,
                    "transaction_cpu": r[6],
                    "fan_out_cpu": r[7],
                }
            )
    out: dict[str, Any] = {"deliveries": len(traced), "joined": len(joined)}
    if not joined:
        return out
    joined.sort(key=lambda j: j["read"] - j["sent"])
    tail = joined[min(len(joined) - 1, int(len(joined) * 0.99)) :]
    for name, a, b in BUDGET_STAGES:
        values = sorted((j[b] - j[a]) * 1000 for j in joined)
        out[name] = {
            "p50_ms": round(values[len(values) // 2], 3),
            "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))], 3),
            "mean_ms": round(sum(values) / len(values), 3),
            "tail_mean_ms": round(sum((j[b] - j[a]) * 1000 for j in tail) / len(tail), 3),
        }
    for name in ("transaction_cpu", "fan_out_cpu"):  # seconds of CPU, not an interval
        values = sorted(j[name] * 1000 for j in joined)
        out[name.replace("_", " ")] = {
            "p50_ms": round(values[len(values) // 2], 3),
            "p99_ms": round(values[min(len(values) - 1, int(len(values) * 0.99))], 3),
            "mean_ms": round(sum(values) / len(values), 3),
            "tail_mean_ms": round(sum(j[name] * 1000 for j in tail) / len(tail), 3),
        }
    out["end_to_end_tail_mean_ms"] = round(
        sum((j["read"] - j["sent"]) * 1000 for j in tail) / len(tail), 3
    )
    return out


def serve_args(db: Path, pki_dir: Path, args: argparse.Namespace) -> list[str]:
    launcher = (
        [str(Path(__file__).parent / "profiled_server.py"), args.profile_server]
        if args.profile_server
        else ["-m", "delivery_service.cli"]
    )
    extra = []
    for item in args.serve_arg or []:
        extra.extend(item.split())
    if args.loop_stats:
        extra.extend(["--loop-stats", str(db.with_name("loop-stats.json"))])
    if args.latency_trace:
        extra.extend(["--latency-trace", str(db.with_name("latency-trace.json"))])
    return [
        sys.executable,
        *launcher,
        "serve",
        "--db",
        str(db),
        "--port",
        "0",
        "--trust",
        str(pki_dir),
        "--ds-id",
        DS_ID,
        "--rate",
        "1e9",
        "--burst",
        "1000000000",
        *extra,
    ]


async def loop_report(proc: trio.Process, path: Path) -> dict[str, Any]:
    """The service's event-loop statistics since the last call (``serve --loop-stats``:
    SIGUSR2 makes it write them and start afresh)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    proc.send_signal(signal.SIGUSR2)
    with trio.fail_after(30):
        while not path.exists():
            await trio.sleep(0.05)
    report: dict[str, Any] = json.loads(path.read_text())
    return report


async def run_config(
    pki_dir: Path, members: Members, clients_n: int, group_size: int, args: argparse.Namespace
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "clients": clients_n,
        "group_size": group_size,
        "load_average_at_start": os.getloadavg(),
    }
    fleet = LoadFleet(members, clients_n, group_size, args)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            proc, url = await start_process(
                serve_args(Path(tmp) / "bench.sqlite", pki_dir, args), cwd=args.service_root
            )
            if args.pin:
                os.sched_setaffinity(proc.pid, {SERVICE_CPU})
            try:
                base = rss_kib(proc.pid)
                t0 = time.monotonic()
                await fleet.all("register_all", url)
                await fleet.all("make_groups", None)
                result["setup_s"] = round(time.monotonic() - t0, 1)
                await trio.sleep(1.0)
                idle = rss_kib(proc.pid)
                result["rss_kib_before_clients"] = base
                result["rss_kib_idle_clients"] = idle
                # Not just connections: registrations, KeyPackages, groups, Welcomes too
                # (idle_memory.py measures idle connections alone).
                result["kib_per_client_with_groups"] = round((idle - base) / clients_n, 1)

                loop_stats = Path(tmp) / "loop-stats.json"
                trace_file = Path(tmp) / "latency-trace.json"
                signalled = loop_stats if args.loop_stats else trace_file
                recording = args.loop_stats or args.latency_trace

                async def measured(**kw: Any) -> dict[str, Any]:
                    if recording:  # from here on: the set-up and earlier runs are out
                        await loop_report(proc, signalled)
                    user0, sys0 = cpu_split(proc.pid)
                    wait0 = runqueue_wait_seconds(proc.pid)
                    stats = await fleet.drive(seconds=args.seconds, **kw)
                    user1, sys1 = cpu_split(proc.pid)
                    with contextlib.suppress(FileNotFoundError):
                        trace_file.unlink()  # the next one is this run's
                    report = await loop_report(proc, signalled) if recording else None
                    loop = report if args.loop_stats else None
                    out = summary(stats, args.seconds, user1 + sys1 - user0 - sys0)
                    out["server_user_s"] = round(user1 - user0, 2)
                    out["server_system_s"] = round(sys1 - sys0, 2)
                    out["server_runqueue_wait_s"] = round(
                        runqueue_wait_seconds(proc.pid) - wait0, 2
                    )
                    out["ack_frames"] = fleet.ack_frames
                    # Deliveries per frame a client read (all of the run, warm-up included).
                    out["deliveries_per_push_frame"] = (
                        round(stats.total / fleet.push_frames, 2) if fleet.push_frames else None
                    )
                    if loop is not None:
                        out["loop"] = loop
                        out["load_process_loops"] = fleet.load_loops
                    if args.latency_trace:
                        if args.loop_stats:  # written together with the loop statistics
                            with trio.fail_after(30):
                                while not trace_file.exists():
                                    await trio.sleep(0.05)
                        rows = json.loads(trace_file.read_text())["rows"]
                        out["latency_budget"] = latency_budget(stats.traced, rows)
                    return out

                if args.profile_server:  # profile the measured traffic, not the set-up
                    proc.send_signal(signal.SIGUSR1)
                sat = await measured(window=args.window, rate=None, bare=False)
                result["durable_saturation"] = sat
                msgs_per_s = sat["deliveries_per_s"] / (group_size - 1)
                result["saturation_msgs_per_s"] = round(msgs_per_s, 1)
                sweep = []
                # --offered: the same absolute loads in every run (paired comparisons: a
                # fraction of each run's own saturation differs between runs).
                loads = (
                    [
                        (d / (group_size - 1), round(d / sat["deliveries_per_s"], 3))
                        for d in args.offered
                    ]
                    if args.offered
                    else [(max(1.0, msgs_per_s * f), f) for f in args.sweep]
                )
                for offered, fraction in loads:
                    point = await measured(window=None, rate=offered, bare=False)
                    expected = offered * (group_size - 1)
                    point = {
                        "fraction": fraction,
                        "offered_msgs_per_s": round(offered, 1),
                        "offered_deliveries_per_s": round(expected, 1),
                        **point,
                        "kept_up": point["deliveries_per_s"] >= 0.95 * expected,
                    }
                    sweep.append(point)
                    print(json.dumps(point), file=sys.stderr)
                result["durable_sweep"] = sweep
                await fleet.all("close_all", None)
            finally:
                if args.profile_server:  # a clean exit, so that the profiler writes its report
                    proc.send_signal(signal.SIGINT)
                    with trio.move_on_after(60):
                        await proc.wait()
                proc.kill()
                await proc.wait()
        if not args.no_bare:
            proc, url = await start_process(
                [sys.executable, str(Path(__file__).parent / "bare_server.py")]
            )
            if args.pin:
                os.sched_setaffinity(proc.pid, {SERVICE_CPU})
            try:
                await fleet.all("connect_bare", url)
                user0, sys0 = cpu_split(proc.pid)
                wait0 = runqueue_wait_seconds(proc.pid)
                bare = await fleet.drive(
                    seconds=args.seconds, window=args.window, rate=None, bare=True
                )
                user1, sys1 = cpu_split(proc.pid)
                floor = summary(bare, args.seconds, user1 + sys1 - user0 - sys0)
                floor["server_user_s"] = round(user1 - user0, 2)
                floor["server_system_s"] = round(sys1 - sys0, 2)
                floor["server_runqueue_wait_s"] = round(runqueue_wait_seconds(proc.pid) - wait0, 2)
                result["bare_saturation"] = floor
                await fleet.all("close_all", None)
            finally:
                proc.kill()
                await proc.wait()
            b = result["bare_saturation"]["deliveries_per_s"]
            d = result["durable_saturation"]["deliveries_per_s"]
            result["durable_over_bare"] = round(d / b, 3) if b else None
            bc = result["bare_saturation"]["deliveries_per_server_cpu_s"]
            dc = result["durable_saturation"]["deliveries_per_server_cpu_s"]
            result["durable_over_bare_per_cpu"] = round(dc / bc, 3) if bc else None
    finally:
        fleet.close()
    result["load_average_at_end"] = os.getloadavg()
    return result


async def main_async(args: argparse.Namespace) -> None:
    load_at_start = os.getloadavg()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        pki = DemoPKI.init(Path(tmp) / "pki")
        t0 = time.monotonic()
        members = Members(pki, max(args.clients))
        print(
            f"made {len(members.members)} members in {time.monotonic() - t0:.1f} s", file=sys.stderr
        )
        for c in args.clients:
            for g in args.group_sizes:
                if g > c:
                    continue
                t0 = time.monotonic()
                r = await run_config(pki.directory, members, c, g, args)
                r["wall_s"] = round(time.monotonic() - t0, 1)
                print(
                    json.dumps({k: v for k, v in r.items() if k != "durable_sweep"}),
                    file=sys.stderr,
                )
                results.append(r)
    out = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
        },
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip(),
        "settings": {
            "seconds": args.seconds,
            "window": args.window,
            "sweep": args.sweep,
            "offered": args.offered,
            "payload_bytes": PAYLOAD_BYTES,
            "ack_interval_s": args.ack_interval,
            "ack_count": args.ack_count,
            "quiet_acks": not args.loud_acks,
            "deliveries_frames": not args.single_delivers,
            "load_procs": args.load_procs,
            "serve_args": args.serve_arg,
            "service_root": str(args.service_root),
            "pin": args.pin,
            "latency_trace": args.latency_trace,
            "load_gc": args.load_gc,
        },
        "note": (
            f"load clients run in {args.load_procs} separate processes, sharing the machine's"
            f" {os.cpu_count()} cores with the service"
        ),
        "results": results,
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--group-sizes", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--sweep", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    parser.add_argument(
        "--offered",
        type=float,
        nargs="+",
        metavar="DELIVERIES_PER_S",
        help="instead of --sweep: these offered loads (deliveries/s) in every configuration"
        " (their fraction of the run's own saturation is recorded)",
    )
    parser.add_argument("--load-procs", type=int, default=2)
    parser.add_argument(
        "--load-gc",
        action="store_true",
        help="the load processes use the service's garbage-collection policy (young"
        " collections every 20,000 allocations, no automatic full ones) instead of"
        " Python's default",
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "results.json"))
    parser.add_argument(
        "--loud-acks", action="store_true", help="acks without quiet (each answered by ok)"
    )
    parser.add_argument(
        "--profile-server", metavar="OUT", help="run the service under cProfile (text report)"
    )
    parser.add_argument(
        "--ack-interval",
        type=float,
        default=ACK_DELAY,
        help="seconds from a client's first unacknowledged delivery to its ack frame"
        " (default: the real client's ACK_DELAY)",
    )
    parser.add_argument(
        "--ack-count",
        type=int,
        default=ACK_BATCH,
        help="also ack as soon as this many deliveries are unacknowledged"
        " (default: the real client's ACK_BATCH)",
    )
    parser.add_argument(
        "--single-delivers",
        action="store_true",
        help="clients do not ask for deliveries frames (one deliver frame per message)",
    )
    parser.add_argument("--no-bare", action="store_true", help="skip the bare floor")
    parser.add_argument(
        "--pin",
        action="store_true",
        help=f"the service and the floor on CPU {SERVICE_CPU}, the load processes and the"
        f" coordinator on CPU {LOAD_CPU} (a diagnosis: the machine's other work still"
        " shares both)",
    )
    parser.add_argument(
        "--loop-stats",
        action="store_true",
        help="record the service's event loop per measured run (serve --loop-stats):"
        " longest task steps and loop turns, scheduling delay, GC pauses",
    )
    parser.add_argument(
        "--latency-trace",
        action="store_true",
        help="a latency budget per measured run: the service's stage times per message"
        " (serve --latency-trace) joined with the clients' send and read times",
    )
    parser.add_argument(
        "--service-root",
        type=Path,
        default=REPO,
        help="run the service from this checkout (e.g. an older commit, for a paired run)",
    )
    parser.add_argument(
        "--serve-arg", action="append", help="extra arguments for 'ds serve' (repeatable)"
    )
    args = parser.parse_args()
    if args.pin:
        os.sched_setaffinity(0, {LOAD_CPU})
    trio.run(main_async, args)


if __name__ == "__main__":
    main()

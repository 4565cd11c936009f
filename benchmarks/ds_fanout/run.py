"""ds_fanout: delivered messages/s and end-to-end latency of the delivery service.

    uv run --no-sync python benchmarks/ds_fanout/run.py [--clients 100 1000]
        [--group-sizes 10 100] [--seconds 4] [--out benchmarks/ds_fanout/results.json]

For each (C clients, groups of G): the real service (``python -m delivery_service.cli
serve``, SQLite WAL file, real STIR registration of every client, real MLS groups made by
one add-commit each) runs in its own process; the C load clients run as trio tasks in
this process. Two runs per configuration:

- saturation: every group keeps ``--window`` messages outstanding (waits for ``sent``);
  measures durable deliveries/s (a delivery = a ``deliver`` frame received by a member;
  each is stored before it is pushed and acknowledged in batches);
- latency: a fixed offered load at ``--latency-fraction`` of the measured saturation
  rate; p50/p99 from the sender's send to the recipient's receipt (one clock: same
  process).

The floor: the same clients against ``bare_server.py`` (same WebSocket library, frames
forwarded verbatim: no storage, no validation). Memory per idle connection: the
service's RSS growth from no client to C registered clients in their groups, divided
by C (``idle_memory.py`` measures idle connections alone).

Application payloads are PrivateMessage-framed (RFC 9420 header: group id, epoch,
content type) with random bytes standing in for the ciphertext: the service never
decrypts, so its work per message is the same as for real traffic, and the load
generator does not spend the shared CPU on encryption.

The load clients and the service share the machine's cores: the figures are for both
together, and say so.
"""

from __future__ import annotations

import argparse
import json
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
from pathlib import Path
from typing import Any

import openmls
import trio
import trio_websocket

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from shared.profile import CREDENTIAL_TYPE_STIR_CERTIFICATE  # noqa: E402
from shared.protocol import (  # noqa: E402
    DS_AUTH_LABEL,
    Ack,
    Auth,
    Challenge,
    ClaimKeyPackage,
    Commit,
    CommitAccepted,
    CreateGroup,
    Deliver,
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
from shared.stir.pki import DemoPKI, public_key_from_point  # noqa: E402
from shared.stir.tnauthlist import OneTN, TNRange  # noqa: E402

DS_ID = "ds.bench"
PAYLOAD_BYTES = 200  # a short chat message's PrivateMessage is ~150-250 bytes


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
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Stats:
    total: int = 0  # every delivery, warm-up included (for deliveries per CPU second)
    delivered: int = 0
    latencies: list[float] = field(default_factory=list)
    window_start: float = 0.0
    window_end: float = float("inf")

    def record(self, sent_at: float, now: float) -> None:
        self.total += 1
        if self.window_start <= now < self.window_end:
            self.delivered += 1
            self.latencies.append(now - sent_at)


@dataclass
class LoadClient:
    index: int
    tn: str
    ws: trio_websocket.WebSocketConnection
    group: int
    gid: bytes = b""  # the MLS group id of its group
    pending_acks: list[int] = field(default_factory=list)
    outstanding: trio.Semaphore | None = None


async def start_process(args: list[str]) -> tuple[trio.Process, str]:
    proc = await trio.lowlevel.open_process(args, stdout=subprocess.PIPE, cwd=REPO)
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


class Members:
    """Keys, certificates and one shared MLS provider for all load clients."""

    def __init__(self, pki: DemoPKI, count: int) -> None:
        ca = pki.issue_spc("Bench Tel", "4321", [TNRange("15550000000", 10_000)], ca=True)
        self.provider = openmls.Provider()
        self.members = []
        for i in range(count):
            tn = f"1555{i:07d}"
            signer = openmls.SignatureKeyPair.generate(2)
            cert = pki.issue_delegate(
                ca, [OneTN(tn)], public_key_from_point(signer.public_key), name=f"m{i}"
            )
            cred = openmls.Credential(CREDENTIAL_TYPE_STIR_CERTIFICATE, cert.credential().encode())
            self.members.append((tn, signer, cred))


async def request(ws: trio_websocket.WebSocketConnection, frame: Any) -> Any:
    await ws.send_message(encode_frame(frame))
    while True:
        answer = decode_frame(await ws.get_message())
        if not isinstance(answer, Deliver):
            return answer


async def register(url: str, tn: str, signer: Any, cred: Any, nursery: trio.Nursery) -> Any:
    ws = await trio_websocket.connect_websocket_url(nursery, url, max_message_size=64 * 1024 * 1024)
    nonce = os.urandom(32)
    challenge = await request(ws, Hello(id=1, client_nonce=nonce))
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


async def setup_service(
    url: str, members: Members, clients_n: int, group_size: int, nursery: trio.Nursery
) -> list[LoadClient]:
    clients: list[LoadClient] = []
    # Register everyone (a few at a time, to keep the handshake load bounded).
    limiter = trio.CapacityLimiter(50)

    async def one(i: int) -> None:
        async with limiter:
            tn, signer, cred = members.members[i]
            ws = await register(url, tn, signer, cred, nursery)
            clients.append(LoadClient(i, tn, ws, i // group_size))

    async with trio.open_nursery() as reg:
        for i in range(clients_n):
            reg.start_soon(one, i)
    clients.sort(key=lambda c: c.tn)
    by_tn = {tn: (signer, cred) for tn, signer, cred in members.members[:clients_n]}
    # Groups: the first member creates the group and adds the others in one commit.
    ngroups = len(clients) // group_size
    for g in range(ngroups):
        group_clients = clients[g * group_size : (g + 1) * group_size]
        creator = group_clients[0]
        signer, cred = by_tn[creator.tn]
        for c in group_clients[1:]:
            s, cr = by_tn[c.tn]
            kp = openmls.KeyPackage.create(members.provider, s, cr)
            assert isinstance(
                await request(c.ws, PublishKeyPackages(id=3, key_packages=(kp.to_bytes(),))), Ok
            )
        gid = f"bench-{clients_n}x{group_size}-{g}".encode()
        for c in group_clients:
            c.gid = gid
        group = openmls.Group.create(members.provider, signer, cred, group_id=gid)
        created = await request(
            creator.ws, CreateGroup(id=4, group_id=gid, group_info=group.export_group_info())
        )
        assert isinstance(created, GroupCreated), created
        kps = []
        for c in group_clients[1:]:
            reply = await request(creator.ws, ClaimKeyPackage(id=5, tn=c.tn))
            assert isinstance(reply, KeyPackageReply), reply
            kps.append(openmls.KeyPackage.parse(members.provider, reply.key_package))
        bundle = await trio.to_thread.run_sync(group.add_members, kps)
        assert bundle.group_info is not None
        accepted = await request(
            creator.ws,
            Commit(
                id=6,
                group_id=gid,
                epoch=0,
                commit=bundle.commit,
                group_info=bundle.group_info,
                welcome=bundle.welcome,
            ),
        )
        assert isinstance(accepted, CommitAccepted), accepted
        # Each member takes its Welcome and acknowledges it now, so that the measurement
        # does not start with a backlog of (large) Welcomes.
        for c in group_clients[1:]:
            while True:
                frame = decode_frame(await c.ws.get_message())
                if isinstance(frame, Deliver) and frame.kind is DeliveryKind.WELCOME:
                    break
            assert isinstance(await request(c.ws, Ack(id=7, mids=(frame.mid,))), Ok)
    return clients


async def client_reader(c: LoadClient, stats: Stats, bare: bool) -> None:
    """Counts what arrives and queues its mid for the acker.

    The load clients share the service's 2 cores, so they read only what they need:
    ``json.loads`` and the fields used, not ``decode_frame``'s full validation (the
    service's frames are checked by the client core's own tests)."""
    loads = json.loads
    unpack = struct.unpack_from
    try:
        while True:
            message = await c.ws.get_message()
            now = time.monotonic()
            obj = loads(message)
            kind = obj["type"]
            if kind == "deliver":
                if obj["kind"] == "application":
                    data = b64decode(obj["data"])
                    stats.record(unpack("!d", data, len(data) - PAYLOAD_BYTES)[0], now)
                c.pending_acks.append(obj["mid"])
            elif kind == "send":  # bare floor: forwarded verbatim
                if obj["id"] // ID_SPACE != c.index:
                    data = b64decode(obj["message"])
                    stats.record(unpack("!d", data, len(data) - PAYLOAD_BYTES)[0], now)
                elif c.outstanding is not None:  # our own echo: the floor's "sent"
                    c.outstanding.release()
            elif kind == "sent" and c.outstanding is not None:
                c.outstanding.release()
    except trio_websocket.ConnectionClosed:
        pass


async def client_acker(c: LoadClient) -> None:
    n = 0
    while True:
        await trio.sleep(ACK_INTERVAL)
        if c.pending_acks:
            mids, c.pending_acks = c.pending_acks, []
            n += 1
            ack = Ack(id=10_000_000 + n, mids=tuple(mids), quiet=QUIET_ACKS)
            await c.ws.send_message(encode_frame(ack))


ACK_INTERVAL = 0.05  # seconds between a client's ack frames (--ack-interval)
QUIET_ACKS = True  # set by --loud-acks: every ack answered with "ok"
ID_SPACE = 10**9  # request ids: client index * ID_SPACE + sequence number


def message_frame(c: LoadClient, gid: bytes, seq: int) -> str:
    payload = struct.pack("!d", time.monotonic()) + os.urandom(PAYLOAD_BYTES - 8)
    frame_id = c.index * ID_SPACE + seq
    return encode_frame(
        SendMessage(id=frame_id, group_id=gid, message=private_message(gid, 1, payload))
    )


async def drive(
    clients: list[LoadClient],
    group_size: int,
    *,
    seconds: float,
    window: int | None,
    rate: float | None,
    bare: bool,
) -> Stats:
    """Saturation (``window``) or fixed offered load (``rate`` messages/s in total)."""
    stats = Stats()
    ngroups = len(clients) // group_size
    senders = [clients[g * group_size + (g % group_size)] for g in range(ngroups)]
    for s in senders:
        s.outstanding = trio.Semaphore(window or 10**9)
    warmup = 1.0
    async with trio.open_nursery() as nursery:
        for c in clients:
            nursery.start_soon(client_reader, c, stats, bare)
            if not bare:
                nursery.start_soon(client_acker, c)
        start = time.monotonic()
        stats.window_start = start + warmup
        stats.window_end = start + warmup + seconds

        async def closed_loop(g: int) -> None:
            s = senders[g]
            gid = s.gid
            seq = 0
            assert s.outstanding is not None
            while time.monotonic() < stats.window_end:
                await s.outstanding.acquire()
                seq += 1
                await s.ws.send_message(message_frame(s, gid, seq))

        async def open_loop() -> None:
            assert rate is not None
            tick = 0.005
            owed = 0.0
            seq = 0
            g = 0
            last = time.monotonic()
            while time.monotonic() < stats.window_end:
                now = time.monotonic()
                owed += rate * (now - last)  # by elapsed time: sleeps overshoot under load
                last = now
                while owed >= 1:
                    owed -= 1
                    s = senders[g]
                    seq += 1
                    await s.ws.send_message(message_frame(s, s.gid, seq))
                    g = (g + 1) % ngroups
                await trio.sleep(tick)

        if window is not None:
            for g in range(ngroups):
                nursery.start_soon(closed_loop, g)
        else:
            nursery.start_soon(open_loop)
        await trio.sleep(warmup + seconds + 0.5)
        nursery.cancel_scope.cancel()
    return stats


def summary(stats: Stats, seconds: float, server_cpu: float) -> dict[str, float]:
    lat = sorted(stats.latencies)
    if not lat:
        return {
            "deliveries_per_s": 0.0,
            "deliveries_per_server_cpu_s": 0.0,
            "server_cpu_s": round(server_cpu, 2),
            "p50_ms": float("nan"),
            "p99_ms": float("nan"),
        }
    return {
        "deliveries_per_s": round(stats.delivered / seconds, 1),
        # What the service process could deliver with a whole core to itself.
        "deliveries_per_server_cpu_s": round(stats.total / server_cpu, 1) if server_cpu else 0.0,
        "server_cpu_s": round(server_cpu, 2),
        "p50_ms": round(statistics.median(lat) * 1000, 2),
        "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2),
    }


async def run_config(
    pki_dir: Path, members: Members, clients_n: int, group_size: int, args: argparse.Namespace
) -> dict[str, Any]:
    result: dict[str, Any] = {"clients": clients_n, "group_size": group_size}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        launcher = (
            [str(Path(__file__).parent / "profiled_server.py"), args.profile_server]
            if args.profile_server
            else ["-m", "delivery_service.cli"]
        )
        proc, url = await start_process(
            [
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
            ]
        )
        try:
            base = rss_kib(proc.pid)
            async with trio.open_nursery() as nursery:
                clients = await setup_service(url, members, clients_n, group_size, nursery)
                await trio.sleep(1.0)
                idle = rss_kib(proc.pid)
                result["rss_kib_before_clients"] = base
                result["rss_kib_idle_clients"] = idle
                # Not just connections: registrations, KeyPackages, groups, Welcomes too
                # (idle_memory.py measures idle connections alone).
                result["kib_per_client_with_groups"] = round((idle - base) / clients_n, 1)
                cpu0 = cpu_seconds(proc.pid)
                sat = await drive(
                    clients,
                    group_size,
                    seconds=args.seconds,
                    window=args.window,
                    rate=None,
                    bare=False,
                )
                result["durable_saturation"] = summary(
                    sat, args.seconds, cpu_seconds(proc.pid) - cpu0
                )
                msgs_per_s = result["durable_saturation"]["deliveries_per_s"] / (group_size - 1)
                offered = max(1.0, msgs_per_s * args.latency_fraction)
                cpu0 = cpu_seconds(proc.pid)
                lat = await drive(
                    clients, group_size, seconds=args.seconds, window=None, rate=offered, bare=False
                )
                result["durable_latency"] = {
                    "offered_msgs_per_s": round(offered, 1),
                    **summary(lat, args.seconds, cpu_seconds(proc.pid) - cpu0),
                }
                nursery.cancel_scope.cancel()
        finally:
            if args.profile_server:  # a clean exit, so that the profiler writes its report
                proc.send_signal(signal.SIGINT)
                with trio.move_on_after(30):
                    await proc.wait()
            proc.kill()
            await proc.wait()
    # The floor.
    proc, url = await start_process([sys.executable, str(Path(__file__).parent / "bare_server.py")])
    try:
        async with trio.open_nursery() as nursery:
            clients = []
            for i, (tn, _, _) in enumerate(members.members[:clients_n]):
                ws = await trio_websocket.connect_websocket_url(nursery, url)
                await ws.send_message(str(i // group_size))
                bare_gid = f"bare-{i // group_size}".encode()
                clients.append(LoadClient(i, tn, ws, i // group_size, bare_gid))
            cpu0 = cpu_seconds(proc.pid)
            bare = await drive(
                clients, group_size, seconds=args.seconds, window=args.window, rate=None, bare=True
            )
            result["bare_saturation"] = summary(bare, args.seconds, cpu_seconds(proc.pid) - cpu0)
            nursery.cancel_scope.cancel()
    finally:
        proc.kill()
        await proc.wait()
    b = result["bare_saturation"]["deliveries_per_s"]
    d = result["durable_saturation"]["deliveries_per_s"]
    result["durable_over_bare"] = round(d / b, 3) if b else None
    bc = result["bare_saturation"]["deliveries_per_server_cpu_s"]
    dc = result["durable_saturation"]["deliveries_per_server_cpu_s"]
    result["durable_over_bare_per_cpu"] = round(dc / bc, 3) if bc else None
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
                print(json.dumps(r), file=sys.stderr)
                results.append(r)
    out = {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": os.getloadavg(),
        },
        "settings": {
            "seconds": args.seconds,
            "window": args.window,
            "latency_fraction": args.latency_fraction,
            "payload_bytes": PAYLOAD_BYTES,
            "ack_interval_s": ACK_INTERVAL,
            "quiet_acks": QUIET_ACKS,
        },
        "note": "load clients run in one process on the same cores as the service",
        "results": results,
    }
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--group-sizes", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--window", type=int, default=4)
    parser.add_argument("--latency-fraction", type=float, default=0.5)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results.json"))
    parser.add_argument(
        "--loud-acks", action="store_true", help="acks without quiet (each answered by ok)"
    )
    parser.add_argument(
        "--profile-server", metavar="OUT", help="run the service under pyinstrument (text report)"
    )
    parser.add_argument(
        "--ack-interval",
        type=float,
        default=0.05,
        help="seconds between a client's ack frames (each acknowledges all it received)",
    )
    args = parser.parse_args()
    global QUIET_ACKS, ACK_INTERVAL
    ACK_INTERVAL = args.ack_interval
    QUIET_ACKS = not args.loud_acks
    trio.run(main_async, args)


if __name__ == "__main__":
    main()

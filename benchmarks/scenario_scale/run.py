"""Scenario scale: one group of N members over real sockets, then K messages to everyone.

    uv run --no-sync python benchmarks/scenario_scale/run.py --members 10 100 300 --messages 100

Each size is a real run of the scenario runner (real delivery service on loopback,
real clients through the client core, real OpenMLS, all in this one process, or with
``--processes W`` the clients in W worker processes): one
commit adds everyone, every member joins from the Welcome, then one member sends K
messages (streamed: the runner waits once, until every member has read all K).
Clients connect straight to the service (the scenario has no adversary, so the runner
needs no relay); ``--via-relay`` puts the relay's WebSocket hop back.

Reported per size: wall time and the CPU time of this process and its client workers
(their own figures, reported as each exits), the phases (setup,
formation, delivery, teardown), the clients' credential validations (count and their
CPU time, measured), the machine's load, and the floor of floor.py (the signatures,
HPKE and AEAD operations MLS and the STIR credentials need for that run), measured in
this process just before the run. Written to results.json (one JSON line per size is
printed as it finishes).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor import OperationCounts, measure_unit_costs
from validation_meter import ValidationMeter
from worker_profile import PROFILE_DIR_ENV

from scenarios.engine import RealEngine, Timeouts
from scenarios.errors import EngineUnavailable
from scenarios.launcher import ClientLauncher
from scenarios.loader import parse_scenario
from scenarios.process_launcher import ProcessLauncher
from scenarios.runner import RunOutcome, load_engine, run_scenario

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parents[1]


def scale_scenario(n: int, k: int) -> str:
    """The benchmark's scenario file for N members and K messages."""
    steps = [
        '[[step]]\nid = "create"\nactor = "host"\naction = "create_group"\ngroup = "big"\n',
        '[[step]]\nid = "form"\nactor = "host"\naction = "invite"\ngroup = "big"\n'
        'members = ["m*"]\n',
    ]
    steps += [
        f'[[step]]\nid = "msg{i}"\nactor = "host"\naction = "send"\ngroup = "big"\n'
        f'text = "message {i}"\n'
        for i in range(1, k + 1)
    ]
    return (
        f'[scenario]\nname = "scale N={n} K={k}"\n\n'
        '[providers.acme]\nspc = "1234"\nnumbers = ["12025550000/9999"]\n\n'
        '[actors.host]\ntn = "+1 202 555 0000"\nname = "Host"\nprovider = "acme"\n'
        'credential = "tn-cert"\n\n'
        f'[actors.m]\ntn = "+1 202 555 0001"\nname = "Member {{i}}"\ncount = {n - 1}\n'
        'provider = "acme"\ncredential = "tn-cert"\n\n'
        + "\n".join(steps)
        + f'\n[[expect]]\nactor = "m{n - 1}"\ngroup = "big"\nmember_count = {n}\n'
    )


BYTECODE_CACHE = Path(tempfile.gettempdir()) / "stirmls-bench-pycache"


def cache_bytecode(probe: str) -> str:
    """Let the client workers load compiled bytecode, as an installed Python does.

    With PYTHONDONTWRITEBYTECODE in the environment (set here by the sessions' shell),
    no ``.pyc`` is ever written, so every worker compiled the whole client stack from
    source when it started: ~1 s of CPU each, on the set-up's critical path (profiled).
    The benchmark measures a run, not a first install: the variable is dropped for the
    workers (they inherit this environment) and the bytecode goes to BYTECODE_CACHE
    (PYTHONPYCACHEPREFIX: nothing is written into the tree); one worker started and
    closed before any timing fills it. Returns what the results record."""
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return "python's default"
    del os.environ["PYTHONDONTWRITEBYTECODE"]
    os.environ["PYTHONPYCACHEPREFIX"] = str(BYTECODE_CACHE)
    sys.dont_write_bytecode = False  # this process's own later imports too
    sys.pycache_prefix = str(BYTECODE_CACHE)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    # The project's own modules (what the runner imports lazily during a run too), then
    # a worker whose stdin is empty: it imports everything it uses, reports and exits.
    packages = [str(ROOT / name) for name in ("client", "delivery_service", "scenarios", "shared")]
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", *packages], env=env, check=True, timeout=120
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "scenarios.client_worker",
            "--probe",
            probe,
            "--path",
            str(BENCH_DIR),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        env=env,
        check=True,
        timeout=120,
    )
    return f"cached in {BYTECODE_CACHE} (PYTHONDONTWRITEBYTECODE dropped)"


def machine_cpu() -> tuple[float, float]:
    """The machine's CPU time so far, busy and idle (seconds over all cores, /proc/stat;
    steal counts as busy: another guest had the core)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system irq softirq steal
    return busy / tick, idle / tick


def rss_mb() -> tuple[float, float]:
    """This process's resident memory now and at its peak (MB, Linux /proc)."""
    now = peak = 0.0
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    now = int(line.split()[1]) / 1024
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return now, peak


class Progress:
    """Counts, from the transcript's events as they are recorded, the members past the
    first epoch (joined) and the messages read; a thread prints them with this
    process's memory every ``every`` seconds (stderr), so a run that is stopped still
    says how far it got."""

    def __init__(self, every: float) -> None:
        self.joined: set[str] = set()
        self.received = 0
        self.every = every
        self._start = time.perf_counter()
        self._stop = threading.Event()

    def on_event(self, event: Any) -> None:
        """The runner's ``on_event`` hook."""
        if event.kind == "epoch" and event.data.get("epoch", 0) >= 1:
            self.joined.add(str(event.actor))
        elif event.kind == "received":
            self.received += 1

    def start(self) -> None:
        """Start the printing thread."""
        threading.Thread(target=self._loop, daemon=True).start()

    def stop(self) -> None:
        """Stop it."""
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            now, peak = rss_mb()
            print(
                json.dumps(
                    {
                        "t_s": round(time.perf_counter() - self._start, 1),
                        "rss_mb": round(now),
                        "peak_rss_mb": round(peak),
                        "joined": len(self.joined),
                        "received": self.received,
                        "cpu_s": round(time.process_time(), 1),
                        "load": round(os.getloadavg()[0], 1),
                    }
                ),
                file=sys.stderr,
                flush=True,
            )


class DeliveryProfile:
    """cProfile of this process's event-loop thread (service + runner) during the
    delivery phase: from the first send step's start to the K-th send step's end.
    The stats go to ``path`` (``python -m pstats`` reads them). cProfile times in wall
    clock, so on a busy machine its figures include waits for a core: the phase's CPU
    time of this process is printed (stderr) beside its wall time to tell them apart."""

    def __init__(self, path: Path, messages: int) -> None:
        self.path = path
        self.messages = messages
        self.ended = 0
        self.profile = cProfile.Profile()
        self._start = (0.0, 0.0)

    def on_event(self, event: Any) -> None:
        """The runner's ``on_event`` hook."""
        if event.kind != "step" or not str(event.data.get("label", "")).startswith("msg"):
            return
        phase = event.data.get("phase")
        if phase == "start" and event.data.get("label") == "msg1":
            self._start = (time.perf_counter(), time.process_time())
            self.profile.enable()
        elif phase == "end":
            self.ended += 1
            if self.ended == self.messages:
                self.profile.disable()
                wall = time.perf_counter() - self._start[0]
                cpu = time.process_time() - self._start[1]
                self.profile.dump_stats(str(self.path))
                print(
                    json.dumps(
                        {"profiled_delivery_wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}
                    ),
                    file=sys.stderr,
                    flush=True,
                )


def phases(outcome: RunOutcome) -> dict[str, float]:
    """Wall-clock phases of a run from its transcript: setup (PKI, service, clients
    started and connected), formation (create + invite steps), delivery (first send
    handed over to the last message read by every member), teardown."""
    events = outcome.result.events
    marks: dict[tuple[str, str], float] = {}
    for e in events:
        if e.kind == "step" and e.data.get("phase") in ("start", "end"):
            marks.setdefault((str(e.data.get("label")), str(e.data.get("phase"))), e.t)
            if e.data.get("phase") == "end":
                marks[(str(e.data.get("label")), "end")] = e.t
    sends = [label for (label, phase) in marks if label.startswith("msg") and phase == "start"]
    first = marks.get(("create", "start"), 0.0)
    formed = marks.get(("form", "end"), first)
    delivered = max((marks[(label, "end")] for label in sends), default=formed)
    end = events[-1].t if events else delivered
    return {
        "setup_s": first,
        "formation_s": formed - first,
        "delivery_s": delivered - (min(marks[(lb, "start")] for lb in sends) if sends else formed),
        "teardown_s": end - delivered,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--messages", type=int, default=100)
    parser.add_argument(
        "--via-relay",
        action="store_true",
        help="clients connect through the scenario relay (one more WebSocket hop per frame)",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        metavar="W",
        help="run the clients in W worker processes (default 0: in this process)",
    )
    parser.add_argument(
        "--service-process",
        action="store_true",
        help="run the delivery service in a process of its own",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parent / "results.json"
    )
    parser.add_argument(
        "--progress-every",
        type=float,
        default=0.0,
        help="print memory and how many members joined every so many seconds (stderr)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="PATH",
        help="cProfile this process's event loop (service + runner) during the delivery "
        "phase into PATH (pstats format; each size overwrites it)",
    )
    parser.add_argument(
        "--profile-workers",
        type=Path,
        default=None,
        metavar="DIR",
        help="with --processes: cProfile every thread of each client worker (thread CPU "
        "time) for the whole run into DIR/worker-<pid>.pstats (worker_profile.py)",
    )
    parser.add_argument(
        "--keep-clients",
        action="store_true",
        help="keep each run's clients/ directory (their MLS and history files: ~1.2 GB "
        "at N = 300); by default it is removed once the size's row is written",
    )
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE if set: each worker compiles its source at start",
    )
    args = parser.parse_args()
    try:
        load_engine()
    except EngineUnavailable as exc:
        print(f"scenario_scale: cannot run: {exc}", file=sys.stderr)
        return 1
    if args.profile_workers is not None:
        args.profile_workers.mkdir(parents=True, exist_ok=True)
        # The workers inherit this process's environment (worker_profile reads it).
        os.environ[PROFILE_DIR_ENV] = str(args.profile_workers.resolve())
    probe = "validation_meter" if args.profile_workers is None else "worker_profile"
    bytecode = "as the environment says"
    if args.processes > 0 and not args.no_bytecode_cache:
        bytecode = cache_bytecode(probe)
    commit = _commit()  # the code this process loaded (others may commit during a long run)
    meter = ValidationMeter()
    meter.install()
    rows = []
    for n in args.members:
        costs = measure_unit_costs()  # again per size: the machine's load changes
        load_start = os.getloadavg()
        # Large groups need more time per member than the library's defaults allow.
        timeouts = Timeouts(per_member=max(1.0, n / 300), per_delivery=0.05)
        launcher: ClientLauncher | None = None
        if args.processes > 0:
            # Each worker meters its own clients' validations (the probe) and reports
            # them with its CPU time and peak memory when it exits.
            launcher = ProcessLauncher(args.processes, probe=probe, probe_path=[BENCH_DIR])
        engine = RealEngine(
            launcher,
            timeouts=timeouts,
            direct=not args.via_relay,
            service_process=args.service_process,
        )
        scenario = parse_scenario(scale_scenario(n, args.messages))
        meter.reset()
        machine_start = machine_cpu()
        start, cpu = time.perf_counter(), time.process_time()
        progress = Progress(args.progress_every)
        if args.progress_every > 0:
            progress.start()
        hook = progress.on_event
        if args.profile is not None:
            profile = DeliveryProfile(args.profile, args.messages)

            def hook(
                event: Any, progress: Progress = progress, profile: DeliveryProfile = profile
            ) -> None:
                progress.on_event(event)
                profile.on_event(event)

        outcome = run_scenario(scenario, engine=engine, on_event=hook)
        progress.stop()
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        machine_busy, machine_idle = (
            b - a for a, b in zip(machine_start, machine_cpu(), strict=True)
        )
        workers = launcher.reports if isinstance(launcher, ProcessLauncher) else []
        services = engine.service_reports
        workers_cpu = sum(w["cpu_s"] for w in workers) + sum(w["cpu_s"] for w in services)
        checks = meter.calls + sum(w.get("client_credential_checks", 0) for w in workers)
        checks_cpu = meter.cpu + sum(
            w.get("client_credential_validation_cpu_s", 0.0) for w in workers
        )
        floor = OperationCounts.for_run(n, args.messages).seconds(costs)
        row: dict[str, Any] = {
            "members": n,
            "messages": args.messages,
            "passed": outcome.passed,
            "error": outcome.result.error,
            "wall_s": round(wall, 2),
            # This process, every client worker and the service process, if any.
            "process_cpu_s": round(cpu + workers_cpu, 2),
            "client_processes": args.processes,
            "runner_cpu_s": round(cpu, 2),
            "workers_cpu_s": [round(w["cpu_s"], 2) for w in workers],
            # A worker killed at the end (it did not stop in time) reports nothing: its
            # CPU, memory and validations are then missing from the row.
            "workers_started": len(launcher.pids) if isinstance(launcher, ProcessLauncher) else 0,
            "workers_reported": len(workers),
            "service_process": args.service_process,
            "service_cpu_s": [round(w["cpu_s"], 2) for w in services],
            **{k: round(v, 2) for k, v in phases(outcome).items()},
            # Every member read all K messages by the end (the delivery wait is bounded).
            "all_delivered": all(
                len(v.received) >= args.messages for v in outcome.result.views if v.actor != "host"
            ),
            # The sum of each process's own peak (they need not peak at the same time).
            "peak_rss_mb": round(
                rss_mb()[1] + sum(w["peak_rss_mb"] for w in [*workers, *services])
            ),
            "workers_peak_rss_mb": [round(w["peak_rss_mb"]) for w in workers],
            "client_credential_checks": checks,
            "client_credential_validation_cpu_s": round(checks_cpu, 2),
            "floor_s": round(floor["total"], 3),
            "wall_over_floor": round(wall / floor["total"], 1),
            # The machine during the run: cores' worth of CPU used by everyone, and
            # left idle (the run could have had it); others' = busy - this run's CPU.
            "machine_busy_cores": round(machine_busy / wall, 2),
            "machine_idle_cores": round(machine_idle / wall, 2),
            "load_avg_start": [round(x, 2) for x in load_start],
            "load_avg_end": [round(x, 2) for x in os.getloadavg()],
            "unit_costs_us": {k: round(v * 1e6, 1) for k, v in costs.__dict__.items()},
            "connections": "via the relay" if args.via_relay else "direct to the service",
            "worker_bytecode": bytecode,
            "report": str(outcome.report),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not args.keep_clients:
            # Every run left ~4 MB per client in the temporary directory (their WALs):
            # a day of runs filled the disk. The transcript and the report stay.
            shutil.rmtree(outcome.run_dir / "clients", ignore_errors=True)
        previous = json.loads(args.out.read_text()) if args.out.exists() else {}
        args.out.write_text(
            json.dumps(
                {
                    "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "command": " ".join(sys.argv),
                    "commit": commit,
                    "rows": rows,
                    "earlier": _earlier(previous),
                },
                indent=2,
            )
        )
    return 0 if all(r["passed"] for r in rows) else 1


def _earlier(previous: dict[str, Any]) -> list[Any]:
    """The earlier runs kept in results.json: the previous file's own run (its rows and
    how they were made) and everything it kept (older files kept theirs as ``runs``)."""
    kept = list(previous.get("earlier", [])) + list(previous.get("runs", []))
    if previous.get("rows"):
        own = {k: v for k, v in previous.items() if k not in ("earlier", "runs")}
        kept.insert(0, own)
    return kept


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())

"""Clients in worker processes (``--processes``): library scenarios meet the same
expectations as in one process, a restarted client comes back on its files, a worker
that dies is a clear error naming its clients, and no worker outlives its runner.

Real runs: real worker processes, the real delivery service on loopback, real OpenMLS.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import trio

from client.core import events as ev
from delivery_service.garbage_collection import YOUNG_COLLECTION_THRESHOLD
from scenarios.cli import run_command
from scenarios.engine import RealEngine, Timeouts
from scenarios.errors import WorkerFailed
from scenarios.library_files import load_library_scenario
from scenarios.loader import parse_scenario
from scenarios.process_launcher import ProcessLauncher
from scenarios.readiness import missing_pieces
from scenarios.runner import RunOutcome, run_scenario_async
from scenarios.worker_frames import FrameDecoder, FrameEncoder, FrameError, encode
from shared.identity_view import AssuranceLevel, IdentityView

MISSING = missing_pieces()
needs_engine = pytest.mark.skipif(bool(MISSING), reason="needs " + "; ".join(MISSING))
ROOT = Path(__file__).resolve().parents[2]

RESTARTS = textwrap.dedent(
    """
    [scenario]
    name = "clients restart"

    [providers.acme]
    spc = "1234"
    numbers = ["12025550100/100"]

    [actors.alice]
    tn = "+1 202 555 0101"
    provider = "acme"
    credential = "tn-cert"

    [actors.bob]
    tn = "+1 202 555 0102"
    provider = "acme"
    credential = "tn-cert"

    [actors.carol]
    tn = "+1 202 555 0103"
    provider = "acme"
    credential = "spc-cert"

    [[step]]
    actor = "alice"
    action = "create_group"
    group = "g"

    [[step]]
    actor = "alice"
    action = "invite"
    group = "g"
    members = ["bob", "carol"]

    [[step]]
    actor = "alice"
    action = "send"
    group = "g"
    text = "before"

    [[step]]
    id = "bob-restarts"
    actor = "bob"
    action = "restart"

    [[step]]
    id = "alice-restarts"
    actor = "alice"
    action = "restart"

    [[step]]
    actor = "alice"
    action = "send"
    group = "g"
    text = "after"

    [[step]]
    actor = "bob"
    action = "send"
    group = "g"
    text = "bob is back"

    [[expect]]
    step = "bob-restarts"
    outcome = "ok"

    [[expect]]
    actor = "bob"
    group = "g"
    received = ["before", "after"]

    [[expect]]
    actor = "carol"
    group = "g"
    received = ["before", "after", "bob is back"]

    [[expect]]
    compare = ["alice", "bob"]
    group = "g"
    codes = "same"
    """
)


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


async def run_in_workers(
    text_or_name: str, out: Path, workers: int = 2, linger: float = 2.0
) -> tuple[RunOutcome, ProcessLauncher]:
    launcher = ProcessLauncher(workers, linger=linger)
    engine = RealEngine(launcher, timeouts=Timeouts(step=10.0, delivery=2.0))
    if "\n" in text_or_name:
        scenario = parse_scenario(text_or_name)
    else:
        scenario = load_library_scenario(text_or_name)
    with trio.fail_after(120):
        outcome = await run_scenario_async(scenario, out=out, engine=engine)
    return outcome, launcher


def assert_met(outcome: RunOutcome) -> None:
    failed = [f"{v.description}: {v.explanation}" for v in outcome.verdicts if not v.held]
    assert outcome.result.error is None, outcome.result.error
    assert not failed, "\n".join(failed)


# -- framing ------------------------------------------------------------------------------


def test_frames_survive_any_split_and_keep_their_order() -> None:
    data = encode([("event", 1, "a")]) + encode([("event", 2, b"b"), ("stopped", 2, None)])
    decoder = FrameDecoder()
    got = [m for i in range(len(data)) for m in decoder.feed(data[i : i + 1])]
    assert got == [("event", 1, "a"), ("event", 2, b"b"), ("stopped", 2, None)]
    assert decoder.pending == 0


def test_a_frame_that_is_not_messages_is_refused() -> None:
    import pickle
    import struct

    body = pickle.dumps({"not": "a list"})
    with pytest.raises(FrameError, match="not a list of messages"):
        FrameDecoder().feed(struct.pack(">I", len(body)) + body)
    with pytest.raises(FrameError, match="undecodable"):
        FrameDecoder().feed(struct.pack(">I", 3) + b"xyz")


def _rows(count: int, *, own: int | None = None) -> tuple[ev.MemberRow, ...]:
    view = IdentityView(
        "+1 202-555-0101", True, None, "Al", "from the certificate", "number certificate",
        AssuranceLevel.END_TO_END, False, None,
    )  # fmt: skip
    return tuple(ev.MemberRow(f"{i:064x}", i, view, is_self=i == own) for i in range(count))


def test_member_rows_cross_a_pipe_once_and_arrive_equal() -> None:
    encoder, decoder = FrameEncoder(), FrameDecoder()
    first = encoder.encode([("event", 1, ev.MembersChanged(b"g", _rows(50, own=1)))])
    again = encoder.encode([("event", 2, ev.MembersChanged(b"g", _rows(50, own=2)))])
    # The second list repeats 48 rows: they cross as numbers, the frame is far smaller.
    plain = encode([("event", 2, ev.MembersChanged(b"g", _rows(50, own=2)))])
    assert len(again) < len(plain) / 4
    got = [m for i in range(len(first + again)) for m in decoder.feed((first + again)[i : i + 1])]
    assert got[0][2].members == _rows(50, own=1)
    assert got[1][2].members == _rows(50, own=2)
    # Equal rows arrive as one shared (frozen) object.
    assert got[1][2].members[10] is got[0][2].members[10]
    assert got[1][2].members[1] is not got[0][2].members[1]  # is_self differs


def test_a_frame_naming_a_value_never_sent_is_refused() -> None:
    encoder = FrameEncoder()
    encoder.encode([("event", 1, ev.MembersChanged(b"g", _rows(3)))])  # not delivered
    later = encoder.encode([("event", 1, ev.MembersChanged(b"g", _rows(3)))])
    with pytest.raises(FrameError, match="unknown interned value"):
        FrameDecoder().feed(later)


def test_a_launcher_needs_a_worker() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ProcessLauncher(0)


# -- real runs ----------------------------------------------------------------------------


@needs_engine
async def test_three_friends_in_two_workers(tmp_path: Path) -> None:
    outcome, launcher = await run_in_workers("three_friends", tmp_path)
    assert_met(outcome)
    # Both workers ran clients, reported at exit and are gone.
    assert len(launcher.pids) == 2
    assert sorted(r["clients"] for r in launcher.reports) == [1, 2]
    assert all(r["cpu_s"] > 0 and r["peak_rss_mb"] > 0 for r in launcher.reports)
    assert not any(alive(pid) for pid in launcher.pids)


@needs_engine
@pytest.mark.parametrize(("linger", "workers_started"), [(2.0, 2), (0.0, 3)])
async def test_restarted_clients_come_back_on_their_files(
    tmp_path: Path, linger: float, workers_started: int
) -> None:
    outcome, launcher = await run_in_workers(RESTARTS, tmp_path, linger=linger)
    assert_met(outcome)
    # Bob runs alone in the second worker. Stopped for his restart, he comes back in
    # it while it lingers; without the linger it ends and he comes back in a fresh one.
    # Alice comes back beside Carol.
    assert len(launcher.pids) == workers_started
    assert not any(alive(pid) for pid in launcher.pids)


@needs_engine
async def test_rogue_provider_split_is_detected_in_workers(tmp_path: Path) -> None:
    outcome, _ = await run_in_workers("rogue_mky_detected", tmp_path)
    assert_met(outcome)
    assert any(not c.match for c in outcome.result.comparisons)


@needs_engine
async def test_a_killed_worker_is_an_error_naming_its_clients(tmp_path: Path) -> None:
    text = long_wait_scenario()
    launcher = ProcessLauncher(2)
    engine = RealEngine(launcher, timeouts=Timeouts(step=10.0, delivery=2.0))
    scenario = parse_scenario(text)
    killed: list[int] = []

    async def kill_when_waiting() -> None:
        # The run reaches its 60 s wait step with everyone in the group: kill bob's worker.
        await until_waiting(tmp_path)
        pid = launcher.pids[1]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(kill_when_waiting)
            with pytest.raises(WorkerFailed) as caught:
                await run_scenario_async(scenario, out=tmp_path, engine=engine)
    assert caught.value.actors == ("bob",)
    assert "killed by signal 9" in str(caught.value) and "bob" in str(caught.value)
    assert killed and not any(alive(pid) for pid in launcher.pids)


@needs_engine
def test_scenario_run_cli_takes_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(
        file=ROOT / "scenarios" / "library" / "three_friends.toml",
        json=True,
        out=tmp_path,
        processes=2,
    )
    assert run_command(args) == 0
    assert '"passed":true' in capsys.readouterr().out.replace(" ", "")


WORKER_ORPHAN = textwrap.dedent(
    """
    import sys, trio
    from pathlib import Path
    from scenarios.launcher import ClientSpec
    from scenarios.model import Actor
    from scenarios.process_launcher import ProcessLauncher
    from scenarios.run_pki import MemberKey

    async def main(base):
        launcher = ProcessLauncher(1)
        (base / "trust").mkdir()
        spec = ClientSpec(
            actor=Actor("alice", "12025550101", None, "acme", "passport"),
            profile_dir=base / "alice",
            service_url="ws://127.0.0.1:9/",
            ds_id="ds.test",
            trust_dir=base / "trust",
            key=MemberKey.generate(),
            chain=lambda key: (),
        )
        async with trio.open_nursery() as nursery:
            await launcher.launch(nursery, spec)
            print(launcher.pids[0], flush=True)
            await trio.sleep_forever()

    trio.run(main, Path(sys.argv[1]))
    """
)


@needs_engine
def test_no_worker_outlives_a_killed_runner(tmp_path: Path) -> None:
    runner = subprocess.Popen(
        [sys.executable, "-c", WORKER_ORPHAN, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert runner.stdout is not None
        pid = int(runner.stdout.readline())
        assert alive(pid)
    finally:
        runner.kill()
        runner.wait()
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(pid), f"worker {pid} outlived its runner"


@needs_engine
async def test_service_in_its_own_process_survives_a_restart(tmp_path: Path) -> None:
    launcher = ProcessLauncher(2)
    engine = RealEngine(launcher, timeouts=Timeouts(step=10.0, delivery=2.0), service_process=True)
    scenario = load_library_scenario("delivery_service_restart")
    with trio.fail_after(120):
        outcome = await run_scenario_async(scenario, out=tmp_path, engine=engine)
    assert_met(outcome)
    # Two service processes (before and after the restart), each stopped cleanly and
    # reporting its figures.
    assert len(engine.service_reports) == 2
    assert all(not alive(r["pid"]) for r in engine.service_reports)


def long_wait_scenario() -> str:
    """The restarts scenario with a 60 s wait before the restarts (to act during it)."""
    text = RESTARTS.replace(
        '[[step]]\nid = "bob-restarts"',
        '[[step]]\naction = "wait"\nseconds = 60\n\n[[step]]\nid = "bob-restarts"',
    )
    assert "seconds = 60" in text
    return text


async def until_waiting(run_dir: Path) -> None:
    """Until the run's transcript shows its wait step started."""
    transcript = run_dir / "transcript.jsonl"
    while not transcript.exists() or '"wait"' not in transcript.read_text():
        await trio.sleep(0.1)


@needs_engine
async def test_a_cancelled_run_leaves_no_worker(tmp_path: Path) -> None:
    launcher = ProcessLauncher(2)
    engine = RealEngine(launcher, timeouts=Timeouts(step=10.0, delivery=2.0))
    scenario = parse_scenario(long_wait_scenario())
    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:

            async def cancel_when_waiting() -> None:
                await until_waiting(tmp_path)
                nursery.cancel_scope.cancel()  # as Ctrl-C or a caller's timeout would

            nursery.start_soon(cancel_when_waiting)
            await run_scenario_async(scenario, out=tmp_path, engine=engine)
    assert len(launcher.pids) == 2
    assert not any(alive(pid) for pid in launcher.pids)


@needs_engine
async def test_a_worker_that_cannot_start_says_why(tmp_path: Path) -> None:
    launcher = ProcessLauncher(1, probe="no_such_probe_module")
    engine = RealEngine(launcher, timeouts=Timeouts(step=10.0, delivery=2.0))
    with trio.fail_after(60), pytest.raises(WorkerFailed) as caught:
        await run_scenario_async(
            load_library_scenario("three_friends"), out=tmp_path, engine=engine
        )
    message = str(caught.value)
    assert "exited with status 1" in message and "no_such_probe_module" in message
    assert set(caught.value.actors) == {"alice", "bob", "carol"}


def test_a_worker_runs_young_collections_less_often_and_full_ones_on_a_schedule() -> None:
    # Python's own policy made ~1,000 young and 9 full collections (up to 1.5 s each)
    # per worker while a 300-member group formed.
    here = Path(__file__).resolve().parent
    command = [sys.executable, "-m", "scenarios.client_worker", "--probe", "gc_policy_probe"]
    worker = subprocess.run(
        [*command, "--path", str(here)],
        input=b"",
        capture_output=True,
        cwd=here.parents[1],
        timeout=60,
        check=True,
    )
    reports = [m[1] for m in FrameDecoder().feed(worker.stdout) if m[0] == "report"]
    assert len(reports) == 1
    young, _, full = reports[0]["gc_threshold"]
    assert reports[0]["gc_enabled"]
    assert young == YOUNG_COLLECTION_THRESHOLD
    assert full >= 2**30  # automatic full collections off: FULL_GC_INTERVAL instead

"""The event-loop monitor (``serve --loop-stats``): it must see a step that blocks the
loop, name its task, count garbage collections, and report on SIGUSR2 from a running
service without disturbing it."""

from __future__ import annotations

import gc
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio
from ds_constants import DS_ID
from wire_client import WireClient

from delivery_service.loop_monitor import LoopMonitor
from shared.protocol import Ping, Pong
from shared.stir.pki import DemoPKI

REPO = Path(__file__).resolve().parents[2]


async def _blocks_the_loop() -> None:
    await trio.sleep(0)
    time.sleep(0.03)  # a step that never yields, like a long transaction on the loop
    await trio.sleep(0)


async def test_the_monitor_finds_a_blocking_step_and_names_its_task() -> None:
    monitor = LoopMonitor()
    trio.lowlevel.add_instrument(monitor)
    try:
        async with trio.open_nursery() as nursery:
            for _ in range(20):  # some short steps around it
                nursery.start_soon(trio.sleep, 0)
            nursery.start_soon(_blocks_the_loop)
        gc.collect()
        report = monitor.report()
    finally:
        trio.lowlevel.remove_instrument(monitor)
        monitor.close()
    longest = report["longest_steps"][0]
    assert longest["ms"] >= 30 and longest["task"].endswith("_blocks_the_loop")
    assert report["task_steps"]["max_ms"] >= 30
    assert report["loop_turns"]["max_ms"] >= 30  # nothing else ran while it blocked
    assert report["task_steps"]["count"] > 20
    assert any(t["task"].endswith("_blocks_the_loop") for t in report["by_task"])
    assert report["gc_pauses"]["2"]["count"] >= 1
    assert report["scheduling_delay"]["count"] > 0

    monitor.reset()
    fresh = monitor.report()
    assert fresh["task_steps"]["count"] == 0 and fresh["longest_steps"] == []
    assert fresh["gc_pauses"]["2"]["count"] == 0


@pytest.mark.slow  # a service process starts (imports dominate): a few seconds
async def test_serve_writes_loop_stats_on_sigusr2_and_keeps_serving(
    tmp_path: Path, pki: DemoPKI
) -> None:
    stats = tmp_path / "loop.json"
    trace = tmp_path / "trace.json"  # --latency-trace is written on the same signal
    proc = await trio.lowlevel.open_process(
        [
            sys.executable,
            "-m",
            "delivery_service.cli",
            "serve",
            "--db",
            ":memory:",
            "--port",
            "0",
            "--trust",
            str(pki.directory),
            "--ds-id",
            DS_ID,
            "--loop-stats",
            str(stats),
            "--latency-trace",
            str(trace),
        ],
        stdout=subprocess.PIPE,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = b""
        with trio.fail_after(30):
            while not line.endswith(b"\n"):
                chunk = await proc.stdout.receive_some(1)
                assert chunk, "the service exited before listening"
                line += chunk
        url = line.decode().split()[4]
        async with WireClient.connect(url) as c:
            assert await c.request(Ping(id=1)) == Pong(re=1)
            for round_ in range(2):
                proc.send_signal(signal.SIGUSR2)
                with trio.fail_after(10):
                    while not stats.exists():
                        await trio.sleep(0.02)
                report = json.loads(stats.read_text())
                assert report["task_steps"]["count"] > 0, round_
                assert report["by_task"] and report["loop_turns"]["count"] > 0
                stats.unlink()
                traced = json.loads(trace.read_text())  # written before the loop stats' file
                assert traced["fields"][0] == "mid" and traced["rows"] == []  # no send yet
                trace.unlink()
                assert await c.request(Ping(id=2 + round_)) == Pong(re=2 + round_)
        assert proc.returncode is None  # SIGUSR2's default action would have ended it
    finally:
        proc.kill()
        await proc.wait()

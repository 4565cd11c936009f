"""Markdown tables from a ds_fanout results file (run.py --out).

uv run --no-sync python benchmarks/ds_fanout/table.py benchmarks/ds_fanout/results.json
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _n(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def main(path: str) -> None:
    with open(path) as f:
        run = json.load(f)
    machine = run["machine"]
    print(f"commit {run['commit']}, settings {json.dumps(run['settings'])}")
    print(f"load average at start {machine['load_average_at_start']}, at end "
          f"{machine['load_average_at_end']}\n")  # fmt: skip
    print(
        "| C | G | load at start | durable deliveries/s (wall) | per service CPU-s | "
        "bare deliveries/s (wall) | bare per CPU-s | durable/bare wall | durable/bare per CPU"
        " | saturation p50/p99 ms | ack frames | service run-queue wait s |"
    )
    print("|---" * 12 + "|")
    for r in run["results"]:
        d = r["durable_saturation"]
        b = r.get("bare_saturation", {})
        print(
            f"| {r['clients']} | {r['group_size']} | {r['load_average_at_start'][0]:.2f} | "
            f"{_n(d['deliveries_per_s'])} | {_n(d['deliveries_per_server_cpu_s'])} | "
            f"{_n(b.get('deliveries_per_s'))} | {_n(b.get('deliveries_per_server_cpu_s'))} | "
            f"{_n(r.get('durable_over_bare'))} | {_n(r.get('durable_over_bare_per_cpu'))} | "
            f"{_n(d['p50_ms'])} / {_n(d['p99_ms'])} | {_n(d.get('ack_frames'))} | "
            f"{_n(d.get('server_runqueue_wait_s'))} |"
        )
    print(
        "\n| C | G | fraction | offered deliveries/s | delivered/s | kept up | p50 ms | p99 ms"
        " | per service CPU-s | ack frames |"
    )
    print("|---" * 10 + "|")
    for r in run["results"]:
        for p in r.get("durable_sweep", []):
            print(
                f"| {r['clients']} | {r['group_size']} | {p['fraction']} | "
                f"{_n(p['offered_deliveries_per_s'])} | {_n(p['deliveries_per_s'])} | "
                f"{'yes' if p['kept_up'] else 'no'} | {_n(p['p50_ms'])} | {_n(p['p99_ms'])} | "
                f"{_n(p['deliveries_per_server_cpu_s'])} | {_n(p.get('ack_frames'))} |"
            )
    points = [
        (r, label, p)
        for r in run["results"]
        for label, p in [("sat", r["durable_saturation"])]
        + [(str(q["fraction"]), q) for q in r.get("durable_sweep", [])]
        if "loop" in p
    ]
    if points:
        print(
            "\n| C | G | point | p99 ms | service: longest turn ms | turns > 20 ms (total ms)"
            " | longest step ms (task) | GC max ms gen 0/1/2 | load processes: longest turn ms"
            " | turns > 20 ms |"
        )
        print("|---" * 10 + "|")
        for r, label, p in points:
            loop = p["loop"]
            long_count, long_ms = _over(loop["loop_turns"], 20)
            step = loop["longest_steps"][0] if loop["longest_steps"] else {"ms": 0, "task": "-"}
            gc_max = " / ".join(_n(loop["gc_pauses"][g]["max_ms"]) for g in ("0", "1", "2"))
            loads = p.get("load_process_loops", [])
            load_max = ", ".join(_n(x["loop_turns"]["max_ms"]) for x in loads)
            load_long = ", ".join(str(_over(x["loop_turns"], 20)[0]) for x in loads)
            print(
                f"| {r['clients']} | {r['group_size']} | {label} | {_n(p['p99_ms'])} | "
                f"{_n(loop['loop_turns']['max_ms'])} | {long_count} ({long_ms:,.0f}) | "
                f"{_n(step['ms'])} ({step['task'].rsplit('.', 1)[-1]}) | {gc_max} | "
                f"{load_max} | {load_long} |"
            )
    budgets = [
        (r, label, p)
        for r in run["results"]
        for label, p in [("sat", r["durable_saturation"])]
        + [(str(q["fraction"]), q) for q in r.get("durable_sweep", [])]
        if "latency_budget" in p
    ]
    if budgets:
        stages = [
            "sender to service read",
            "decode, checks, pipeline wait",
            "batcher queue",
            "transaction and commit",
            "fan-out of the batch",
            "pushed to recipient's read",
        ]
        print(
            "\n**Latency budget** (ms; each stage p50 / p99 over all deliveries, then in"
            " brackets its mean over the slowest 1 %; last columns: the loop thread's CPU"
            " in the transaction and fan-out, p99):\n"
        )
        print(
            "| C | G | point | run-queue wait s | p50 / p99 ms | slowest 1 %: mean ms | "
            + " | ".join(stages)
            + " | transaction CPU | fan-out CPU |"
        )
        print("|---" * (8 + len(stages)) + "|")
        for r, label, p in budgets:
            b = p["latency_budget"]
            if "joined" not in b or not b.get("joined"):
                continue
            cells = [
                f"{_n(b[s]['p50_ms'])} / {_n(b[s]['p99_ms'])} ({_n(b[s]['tail_mean_ms'])})"
                for s in stages
            ]
            print(
                f"| {r['clients']} | {r['group_size']} | {label} | "
                f"{_n(p.get('server_runqueue_wait_s'))} | {_n(p['p50_ms'])} / {_n(p['p99_ms'])}"
                f" | {_n(b['end_to_end_tail_mean_ms'])} | "
                + " | ".join(cells)
                + f" | {_n(b.get('transaction cpu', {}).get('p99_ms'))} | "
                + f"{_n(b.get('fan out cpu', {}).get('p99_ms'))} |"
            )


def _over(histogram: dict[str, Any], ms: float) -> tuple[int, float]:
    """(count, total ms) of a loop_monitor histogram's buckets above ``ms``."""
    count, total = 0, 0.0
    for label, bucket in histogram["buckets"].items():
        edge = float(label.lstrip("<=>").removesuffix("ms"))
        if edge > ms or label.startswith(">"):
            count += bucket["count"]
            total += bucket["total_ms"]
    return count, total


if __name__ == "__main__":
    main(sys.argv[1])

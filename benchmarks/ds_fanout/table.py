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


if __name__ == "__main__":
    main(sys.argv[1])

"""What opening a new ``Provider(path)`` file costs (a scale run opens one per member).

Creates F new storage files one after the other in a temporary directory, keeping each
open (as a process holding many clients does), and prints the wall and CPU time of the
first and the median of the later ones; then reopens them all (existing files).

    uv run --no-sync python benchmarks/binding_storage/new_files.py --files 100
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import openmls


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--files", type=int, default=100)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp) / f"{i}.sqlite" for i in range(args.files)]
        times: list[tuple[float, float]] = []
        providers = []
        for path in paths:
            c, w = time.process_time(), time.perf_counter()
            providers.append(openmls.Provider(path))
            times.append((time.perf_counter() - w, time.process_time() - c))
        del providers
        again: list[float] = []
        for path in paths:
            w = time.perf_counter()
            provider = openmls.Provider(path)
            again.append(time.perf_counter() - w)
            del provider
        later = times[1:]
        print(
            f"{args.files} new files: first {times[0][0] * 1e3:.2f} ms wall; later median "
            f"{statistics.median(t[0] for t in later) * 1e3:.2f} ms wall, "
            f"{statistics.median(t[1] for t in later) * 1e3:.2f} ms CPU "
            f"(mean wall {statistics.mean(t[0] for t in later) * 1e3:.2f} ms); "
            f"reopen median {statistics.median(again) * 1e3:.2f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

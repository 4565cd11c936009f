"""Run ``delivery_service.cli serve`` under pyinstrument (``run.py --profile-server``).

    python benchmarks/ds_fanout/profiled_server.py OUT.txt serve-args...

The report is written when the service stops on SIGINT. pyinstrument is a local
profiling tool, not a project dependency: ``uv pip install pyinstrument``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pyinstrument import Profiler

from delivery_service.cli import main

if __name__ == "__main__":
    out = sys.argv[1]
    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        main(sys.argv[2:])
    finally:
        profiler.stop()
        Path(out).write_text(profiler.output_text(unicode=False, show_all=False))

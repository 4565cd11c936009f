"""Run ``delivery_service.cli serve`` under cProfile (``run.py --profile-server``).

    python benchmarks/ds_fanout/profiled_server.py OUT.txt serve-args...

The report (top functions by internal and by cumulative time) is written when the
service stops on SIGINT. SIGUSR1 drops what was collected so far (run.py sends it when
the set-up is done, so that the report covers the measured traffic only). cProfile is
in the standard library; it slows every Python call, so read the report for relative
costs, not for absolute rates.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from delivery_service.cli import main

if __name__ == "__main__":
    out = sys.argv[1]
    profiler = cProfile.Profile()
    signal.signal(signal.SIGUSR1, lambda *_: profiler.clear())
    profiler.enable()
    try:
        main(sys.argv[2:])
    except KeyboardInterrupt:
        pass
    finally:
        profiler.disable()
        text = io.StringIO()
        stats = pstats.Stats(profiler, stream=text)
        stats.sort_stats("tottime").print_stats(45)
        stats.sort_stats("cumulative").print_stats(45)
        Path(out).write_text(text.getvalue())

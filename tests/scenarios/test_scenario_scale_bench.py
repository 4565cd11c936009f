"""The scale benchmark's scenario is a valid file and its floor counts are what it says."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from scenarios.loader import parse_scenario

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "scenario_scale"


def load(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"scale_{name}", BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_the_benchmark_scenario_loads() -> None:
    run = load("run")
    scenario = parse_scenario(run.scale_scenario(100, 5))
    assert len(scenario.actors) == 100
    assert [s.action for s in scenario.steps] == ["create_group", "invite"] + ["send"] * 5
    assert len(scenario.step_by_id("form").members) == 99


def test_floor_counts_are_quadratic_in_members() -> None:
    floor = load("floor")
    small = floor.OperationCounts.for_run(10, 0)
    large = floor.OperationCounts.for_run(100, 0)
    assert small.hpke_seals == small.hpke_opens == 9
    # Each joiner checks every member of the tree: (N-1)(2N+3) verifications, plus the
    # adder's and the service's 2(N-1)+2 each.
    assert large.verifies == 99 * (2 * 100 + 3) + 2 * (2 * 99 + 2)
    assert floor.OperationCounts.for_run(10, 7).aead_opens == 63

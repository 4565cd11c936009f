"""Scenario scale: one group of N members over real sockets, then K messages to everyone.

    uv run --no-sync python benchmarks/scenario_scale/run.py --members 10 100 --messages 100

Each size is a real run of the scenario runner (real delivery service on loopback,
real clients through the client core, real OpenMLS): one commit adds everyone, every
member joins from the Welcome, then one member sends K messages and the run waits for
each to reach every member. Reported beside it, measured in the same process: the floor
of floor.py (the signatures, HPKE and AEAD operations MLS and the STIR credentials need
for that run) and the cost of one credential validation by shared.stir.validator.

Results are written to benchmarks/scenario_scale/results.json and printed as a
Markdown table (machine, command, figures) for docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from floor import OperationCounts, measure_unit_costs

from scenarios.errors import EngineUnavailable
from scenarios.loader import parse_scenario
from scenarios.run_pki import MemberKey, RunPKI
from scenarios.runner import load_engine, run_scenario


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


def validation_cost(tmp: Path) -> float:
    """Seconds for one validation of a delegate-certificate credential (no verdict cache)."""
    from shared.stir.validator import validate

    scenario = parse_scenario(scale_scenario(2, 0))
    pki = RunPKI.create(scenario, tmp)
    key = MemberKey.generate().public_point
    chain = pki.certificate_chain("host", key)
    from shared.profile import CREDENTIAL_TYPE_STIR_CERTIFICATE
    from shared.stir.credential_codec import STIRCertificateCredential

    content = STIRCertificateCredential(chain).encode()
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < 0.5:
        validate(
            CREDENTIAL_TYPE_STIR_CERTIFICATE,
            content,
            key,
            group_id=b"g",
            trust=pki.trust,
            now=datetime.now(UTC),
        )
        calls += 1
    return (time.perf_counter() - start) / calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--messages", type=int, default=100)
    args = parser.parse_args()
    try:
        engine = load_engine()
    except EngineUnavailable as exc:
        print(f"scenario_scale: cannot run: {exc}", file=sys.stderr)
        return 1
    costs = measure_unit_costs()
    with tempfile.TemporaryDirectory() as tmp:
        per_validation = validation_cost(Path(tmp))
    rows = []
    for n in args.members:
        scenario = parse_scenario(scale_scenario(n, args.messages))
        start = time.perf_counter()
        outcome = run_scenario(scenario, engine=engine)
        wall = time.perf_counter() - start
        steps = {s.label: s.seconds for s in outcome.result.steps}
        formation = steps.get("create", 0.0) + steps.get("form", 0.0)
        delivery = sum(v for label, v in steps.items() if label.startswith("msg"))
        validations = len(outcome.result.verdicts)
        floor = OperationCounts.for_run(n, args.messages).seconds(costs)
        rows.append(
            {
                "members": n,
                "messages": args.messages,
                "passed": outcome.passed,
                "wall_s": round(wall, 3),
                "formation_s": round(formation, 3),
                "credential_checks": validations,
                "credential_validation_s_est": round(validations * per_validation, 3),
                "delivery_s": round(delivery, 3),
                "floor_s": round(floor["total"], 3),
                "ratio_to_floor": round(wall / floor["total"], 2) if floor["total"] else None,
                "report": str(outcome.report),
            }
        )
        print(json.dumps(rows[-1]))
    machine = f"{platform.machine()} {platform.processor() or ''}".strip()
    out = Path(__file__).resolve().parent / "results.json"
    out.write_text(
        json.dumps(
            {
                "machine": machine,
                "python": platform.python_version(),
                "unit_costs_us": {k: v * 1e6 for k, v in costs.__dict__.items()},
                "validation_us": per_validation * 1e6,
                "rows": rows,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Binding overhead: the same MLS operations through openmls-python and OpenMLS from Rust.

One run measures, per ciphersuite and group size N (members added to a one-member
group): create group; add N members in one commit; join from the Welcome; self-update
commit + processing by another member; encrypt + decrypt an application message.

* ``rust`` — OpenMLS 0.8.1 called directly (rust/ bench binary, OpenMLS's own memory
  storage, JSON values);
* ``rust+bstore`` — the same, with the binding's storage (openmls-python/src/storage.rs
  compiled into the bench: in memory, bincode values, one undo-journalled transaction
  per call): the difference to ``rust`` is the storage choice, the difference to
  ``python`` is what the binding layer (PyO3, GIL release, copies, result objects) adds;
* ``rust+bstore+ring`` — ``rust+bstore`` with the binding's crypto provider as well
  (openmls-python/src/crypto.rs compiled into the bench: RustCrypto with ECDSA P-256
  signatures by ``ring``): exactly what ``Provider()`` runs, so ``python`` against it is
  the binding layer alone, now that the binding's crypto differs from the baseline's;
* ``python`` — openmls-python, configured as the Rust bench (see rust/src/main.rs);
* ``mls-rs`` — mls-rs's Python binding from PyPI, ciphersuite 0x0001 only, when
  ``mls_rs_uniffi`` is importable (optional; see README.md).

Times are CPU time of the measuring process, all threads (time.process_time /
CLOCK_PROCESS_CPUTIME_ID: OpenMLS encrypts path secrets on rayon worker threads): the
machine is shared, and wall time mostly measures other processes' load (wall medians
are in the --json output). Beside each figure, the crypto floor: the signatures / HPKE
operations RFC 9420 makes the operation do, timed with the same RustCrypto provider
(counts in rust/src/main.rs).

    uv run --no-sync python benchmarks/binding_overhead/run.py            # N = 10, 100, 1000
    uv run --no-sync python benchmarks/binding_overhead/run.py --scale    # add + join up to 10,000
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openmls

HERE = Path(__file__).resolve().parent
RUST_DIR = HERE / "rust"
RUST_BIN = RUST_DIR / "target" / "release" / "binding-overhead-bench"
OPS = ("create", "add_all", "join", "self_update", "app_message")
PAYLOAD = b"x" * 100


def reps_for(n: int, small: int, mid: int, large: int) -> int:
    """Repetitions by group size: the same schedule as the Rust bench."""
    if n <= 10:
        return small
    if n <= 100:
        return mid
    return large


@dataclass
class Result:
    """Samples of one operation by one implementation."""

    impl: str
    suite: int
    n: int
    op: str
    samples: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def to_json(self) -> dict[str, Any]:
        return {
            "impl": self.impl,
            "suite": self.suite,
            "n": self.n,
            "op": self.op,
            "median_s": self.median,
            "samples_s": self.samples,
            "wall_median_s": statistics.median(self.wall) if self.wall else None,
            "wall_samples_s": self.wall,
        }


_WALL: list[float] = []


def timed(fn: Callable[[], object]) -> float:
    """CPU time of the process for one call (all threads: OpenMLS runs some work on rayon
    workers), robust to other processes' load; the wall time is kept
    aside for :func:`finish`. The cyclic collector is kept out of the measured window
    (not run before each call: a collection evicts the caches and inflates the figure)."""
    gc.disable()
    try:
        t, c = time.perf_counter(), time.process_time()
        fn()
        cpu = time.process_time() - c
        _WALL.append(time.perf_counter() - t)
        return cpu
    finally:
        gc.enable()


def finish(res: Result) -> Result:
    """Attach the wall times recorded since the last result."""
    res.wall = _WALL[:]
    _WALL.clear()
    return res


# --------------------------------------------------------------------------- openmls-python


def _openmls_client(
    suite: int, name: bytes
) -> tuple[openmls.Provider, openmls.SignatureKeyPair, openmls.Credential]:
    provider = openmls.Provider()
    signer = openmls.SignatureKeyPair.generate(suite)
    signer.store(provider)
    return provider, signer, openmls.Credential.basic(name)


def bench_python(suite: int, n: int, scale_only: bool) -> list[Result]:
    """The Rust bench's schedule, through the binding."""
    out: list[Result] = []
    provider, signer, cred = _openmls_client(suite, b"creator")
    add_reps = reps_for(n, 10, 5, 1 if n > 1000 else 3)
    join_reps = min(reps_for(n, 9, 9, 3 if n > 1000 else 5), n)

    def create() -> openmls.Group:
        return openmls.Group.create(provider, signer, cred, ciphersuite=suite)

    joiners = [_openmls_client(suite, f"m{i}".encode()) for i in range(max(join_reps, 1))]
    kps = [openmls.KeyPackage.create(p, s, c, ciphersuite=suite) for p, s, c in joiners]
    # Members that never join share one pool provider (distinct signers), as in Rust.
    pool = openmls.Provider()
    for i in range(len(joiners), n):
        s = openmls.SignatureKeyPair.generate(suite)
        c = openmls.Credential.basic(f"m{i}".encode())
        kps.append(openmls.KeyPackage.create(pool, s, c, ciphersuite=suite))

    if not scale_only:
        out.append(finish(Result("python", suite, n, "create", [timed(create) for _ in range(20)])))

    add = Result("python", suite, n, "add_all")
    group = create()
    welcome = b""
    for _ in range(add_reps):
        group = create()
        bundle: list[openmls.CommitBundle] = []

        def add_all(g: openmls.Group = group, box: list[openmls.CommitBundle] = bundle) -> None:
            box.append(g.add_members(kps))
            g.merge_pending_commit()

        add.samples.append(timed(add_all))
        w = bundle[0].welcome
        assert w is not None
        welcome = w
    out.append(finish(add))

    join = Result("python", suite, n, "join")
    joined: list[openmls.Group] = []
    for p, _, _ in joiners[:join_reps]:

        def do_join(p: openmls.Provider = p) -> None:
            joined.append(openmls.StagedWelcome.from_bytes(p, welcome).accept())

        join.samples.append(timed(do_join))
    out.append(finish(join))
    if scale_only:
        return out

    receiver = joined[0]
    upd = Result("python", suite, n, "self_update")
    for _ in range(reps_for(n, 20, 10, 5)):

        def update() -> None:
            commit = group.self_update().commit
            group.merge_pending_commit()
            staged = receiver.process_message(commit)
            assert isinstance(staged, openmls.StagedCommit)
            receiver.merge_staged_commit(staged)

        upd.samples.append(timed(update))
    assert group.epoch_authenticator() == receiver.epoch_authenticator()
    out.append(finish(upd))

    def app() -> None:
        msg = receiver.process_message(group.create_message(PAYLOAD))
        assert isinstance(msg, openmls.ApplicationMessage)
        assert msg.data == PAYLOAD

    out.append(finish(Result("python", suite, n, "app_message", [timed(app) for _ in range(300)])))
    return out


# --------------------------------------------------------------------------- mls-rs (optional)


def bench_mlsrs(n: int, scale_only: bool) -> list[Result]:
    """The same schedule through mls-rs's UniFFI binding (ciphersuite 0x0001 only)."""
    import mls_rs_uniffi as m  # type: ignore[import-untyped,import-not-found,unused-ignore]

    suite = m.CipherSuite.CURVE25519_AES128

    def client(name: bytes) -> Any:
        return m.Client(name, m.generate_signature_keypair(suite), m.client_config_default())

    out: list[Result] = []
    creator = client(b"creator")
    add_reps = reps_for(n, 10, 5, 1 if n > 1000 else 3)
    join_reps = min(reps_for(n, 9, 9, 3 if n > 1000 else 5), n)
    # mls-rs keeps key-package secrets in the client; no shared pool is possible, so each
    # member is a client (setup only, not timed).
    members = [client(f"m{i}".encode()) for i in range(n)]
    kps = [c.generate_key_package_message() for c in members]

    if not scale_only:
        out.append(
            finish(
                Result(
                    "mls-rs",
                    1,
                    n,
                    "create",
                    [timed(lambda: creator.create_group(None)) for _ in range(20)],
                )
            )
        )

    add = Result("mls-rs", 1, n, "add_all")
    group: Any = None
    welcome = b""
    for _ in range(add_reps):
        group = creator.create_group(None)
        box: list[Any] = []

        def add_all(g: Any = group, box: list[Any] = box) -> None:
            o = g.add_members(kps)
            # mls-rs applies its own commit when it processes it (its "merge").
            g.process_incoming_message(o.commit_message)
            box.append((o.commit_message.to_bytes(), o.welcome_message.to_bytes()))

        add.samples.append(timed(add_all))
        welcome = box[0][1]
    out.append(finish(add))

    join = Result("mls-rs", 1, n, "join")
    joined: list[Any] = []
    for c in members[:join_reps]:

        def do_join(c: Any = c) -> None:
            joined.append(c.join_group(None, m.Message.from_bytes(welcome)).group)

        join.samples.append(timed(do_join))
    out.append(finish(join))
    if scale_only:
        return out

    receiver = joined[0]
    upd = Result("mls-rs", 1, n, "self_update")
    for _ in range(reps_for(n, 20, 10, 5)):

        def update() -> None:
            o = group.commit()  # an empty commit carries a path: a self-update
            group.process_incoming_message(o.commit_message)
            receiver.process_incoming_message(m.Message.from_bytes(o.commit_message.to_bytes()))

        upd.samples.append(timed(update))
    out.append(finish(upd))

    def app() -> None:
        msg = group.encrypt_application_message(PAYLOAD)
        got = receiver.process_incoming_message(m.Message.from_bytes(msg.to_bytes()))
        assert got.data == PAYLOAD

    out.append(finish(Result("mls-rs", 1, n, "app_message", [timed(app) for _ in range(300)])))
    return out


def mlsrs_available() -> bool:
    """Whether the optional mls-rs binding is installed (see README.md)."""
    return importlib.util.find_spec("mls_rs_uniffi") is not None


# --------------------------------------------------------------------------- rust


def build_rust() -> None:
    env = dict(os.environ, CARGO_TARGET_DIR=str(RUST_DIR / "target"))
    subprocess.run(
        ["nice", "-n", "10", "cargo", "build", "--release", "--quiet"],
        cwd=RUST_DIR,
        env=env,
        check=True,
    )


def run_rust(suite: int, n: int, storage: str, scale_only: bool) -> dict[str, Any]:
    cmd = [str(RUST_BIN), "--sizes", str(n), "--suites", str(suite), "--storage", storage]
    if scale_only:
        cmd += ["--ops", "scale"]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    data: dict[str, Any] = json.loads(done.stdout)
    return data


# --------------------------------------------------------------------------- report


def fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def table(rows: Iterable[dict[str, Any]], with_mlsrs: bool) -> str:
    head = [
        "suite",
        "N",
        "operation",
        "crypto floor",
        "rust",
        "rust+bstore",
        "rust+bstore+ring",
        "python",
        "python/rust",
        "python/rust+bstore",
        "python/rust+bstore+ring",
        "python/rust (min)",
    ]
    if with_mlsrs:
        head += ["mls-rs (py)", "python/mls-rs"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            f"0x{r['suite']:04x}",
            str(r["n"]),
            r["op"],
            fmt(r["floor_s"]),
            fmt(r["rust_s"]),
            fmt(r["rust_bstore_s"]) if r["rust_bstore_s"] else "—",
            fmt(r["rust_ring_s"]) if r.get("rust_ring_s") else "—",
            fmt(r["python_s"]),
            f"{r['python_s'] / r['rust_s']:.2f}",
            f"{r['python_s'] / r['rust_bstore_s']:.2f}" if r["rust_bstore_s"] else "—",
            f"{r['python_s'] / r['rust_ring_s']:.2f}" if r.get("rust_ring_s") else "—",
            f"{r['python_min_s'] / r['rust_min_s']:.2f}",
        ]
        if with_mlsrs:
            mls = r.get("mlsrs_s")
            cells += [fmt(mls), f"{r['python_s'] / mls:.2f}"] if mls else ["—", "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpu.splitlines() if "Model name" in ln), "?"
    )
    return (
        f"{model}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"openmls {openmls.OPENMLS_VERSION}, {platform.platform()}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--suites", default="2,1")
    ap.add_argument("--scale", action="store_true", help="add-all + join only, N up to 10,000")
    ap.add_argument("--no-mlsrs", action="store_true")
    ap.add_argument(
        "--no-rust-bstore",
        action="store_true",
        help="skip the rust+bstore and rust+bstore+ring baselines (saves time)",
    )
    ap.add_argument("--json", type=Path, help="write all samples here")
    args = ap.parse_args(argv)
    if args.scale and args.sizes == "10,100,1000":
        args.sizes = "1000,2000,5000,10000"
    sizes = [int(s) for s in args.sizes.split(",")]
    suites = [int(s) for s in args.suites.split(",")]
    with_mlsrs = not args.no_mlsrs and mlsrs_available()

    build_rust()
    rows: list[dict[str, Any]] = []
    raw: list[dict[str, Any]] = []
    for suite in suites:
        for n in sizes:
            print(f"suite {suite} N {n} ...", file=sys.stderr, flush=True)
            # Interleaved, so that load from other processes hits all implementations alike.
            rust = run_rust(suite, n, "memory", args.scale)
            py = bench_python(suite, n, args.scale)
            rust_bs = (
                {"results": []}
                if args.no_rust_bstore
                else run_rust(suite, n, "binding", args.scale)
            )
            rust_ring = (
                {"results": []}
                if args.no_rust_bstore
                else run_rust(suite, n, "binding-ring", args.scale)
            )
            mls = bench_mlsrs(n, args.scale) if with_mlsrs and suite == 1 else []
            raw += [*(r.to_json() for r in py), *(r.to_json() for r in mls)]
            raw += [dict(r, impl="rust") for r in rust["results"]]
            raw += [dict(r, impl="rust+bstore") for r in rust_bs["results"]]
            raw += [dict(r, impl="rust+bstore+ring") for r in rust_ring["results"]]
            by_op_rust = {r["op"]: r for r in rust["results"]}
            by_op_bs = {r["op"]: r for r in rust_bs["results"]}
            by_op_ring = {r["op"]: r for r in rust_ring["results"]}
            by_op_mls = {r.op: r for r in mls}
            for res in py:
                rr = by_op_rust[res.op]
                row = {
                    "suite": suite,
                    "n": n,
                    "op": res.op,
                    "floor_s": rr["floor_s"],
                    "floor_counts": rr["floor_counts"],
                    "rust_s": rr["median_s"],
                    "rust_bstore_s": by_op_bs[res.op]["median_s"] if by_op_bs else None,
                    "rust_ring_s": by_op_ring[res.op]["median_s"] if by_op_ring else None,
                    "python_s": res.median,
                    "rust_min_s": min(rr["samples_s"]),
                    "python_min_s": min(res.samples),
                }
                if res.op in by_op_mls:
                    row["mlsrs_s"] = by_op_mls[res.op].median
                rows.append(row)
            print(table(rows[-len(py) :], with_mlsrs), file=sys.stderr, flush=True)

    print(f"Machine: {machine()}\n")
    print(
        "Medians; ratios are python / rust (targets: ≤ 1.15 at N=1000, ≤ 1.5 at N=10). The\n"
        "binding signs and verifies P-256 with ring, the rust baseline with RustCrypto:\n"
        "python/rust+bstore+ring is the binding layer alone. python/rust (min) compares the\n"
        "fastest samples, less sensitive to load from other processes.\n"
    )
    print(table(rows, with_mlsrs))
    if args.json:
        args.json.write_text(
            json.dumps({"machine": machine(), "rows": rows, "samples": raw}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

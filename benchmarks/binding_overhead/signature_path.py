"""Where signature verification dominates: join and application messages at N members.

Times, through the binding (ciphersuite 0x0002 unless ``--suite``), CPU time of this
process, medians:

* ``verify``: one ``verify_with_label`` (a P-256 ECDSA verify plus the call), beside one
  verify by Python ``cryptography`` (OpenSSL) of the same signature: the floor;
* ``sign``: one ``sign_with_label``;
* ``join``: a member stages and accepts the Welcome of an N-member group (it verifies
  every leaf signature and the GroupInfo signature);
* ``app_encrypt`` / ``app_decrypt``: member 0 encrypts 100 bytes; member 1 parses and
  decrypts them (one signature verify inside);
* each of them with ``Provider()`` (memory) and ``Provider(path)`` (SQLite file in a temp
  directory), as the client core uses the latter;
* ``--updates K``: K self-update commits before the messages, so that past epochs are
  stored (OpenMLS rewrites them with every message, as in a group that has evolved).

    uv run --no-sync python benchmarks/binding_overhead/signature_path.py --n 100
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import openmls
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

PAYLOAD = b"x" * 100


def cpu(fn: Callable[[], object]) -> float:
    """CPU time of one call (all threads), the collector kept out of the window."""
    gc.disable()
    try:
        c = time.process_time()
        fn()
        return time.process_time() - c
    finally:
        gc.enable()


def median_of(fn: Callable[[], object], reps: int) -> float:
    return statistics.median(cpu(fn) for _ in range(reps))


def signatures(suite: int) -> dict[str, float]:
    """One labelled sign / verify through the binding, and OpenSSL's verify of it."""
    k = openmls.SignatureKeyPair.generate(suite)
    sig = k.sign_with_label("bench", b"content" * 10)
    out = {
        "sign": median_of(lambda: k.sign_with_label("bench", b"content" * 10), 2000),
        "verify": median_of(
            lambda: openmls.verify_with_label(
                k.signature_scheme, k.public_key, "bench", b"content" * 10, sig
            ),
            2000,
        ),
    }
    if suite == 2:
        full = b"MLS 1.0 bench"
        tbs = bytes([len(full)]) + full + (0x4000 | 70).to_bytes(2, "big") + b"content" * 10
        pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), k.public_key)
        out["verify_openssl"] = median_of(
            lambda: pub.verify(sig, tbs, ec.ECDSA(hashes.SHA256())), 2000
        )
    return out


def provider(tmp: Path | None, name: str) -> openmls.Provider:
    return openmls.Provider(tmp / f"{name}.db") if tmp is not None else openmls.Provider()


def group_ops(
    suite: int, n: int, tmp: Path | None, joins: int, messages: int, updates: int
) -> dict[str, float]:
    """Join and application-message times in an N-member group (n members added to one)."""

    def client(name: str) -> tuple[openmls.Provider, openmls.SignatureKeyPair, openmls.Credential]:
        p = provider(tmp, name)
        s = openmls.SignatureKeyPair.generate(suite)
        s.store(p)
        return p, s, openmls.Credential.basic(name.encode())

    p0, s0, c0 = client("creator")
    group = openmls.Group.create(p0, s0, c0, ciphersuite=suite)
    joiners = [client(f"j{i}") for i in range(joins)]
    kps = [openmls.KeyPackage.create(p, s, c, ciphersuite=suite) for p, s, c in joiners]
    pool = openmls.Provider()  # members that never join: one shared in-memory provider
    for i in range(joins, n):
        s = openmls.SignatureKeyPair.generate(suite)
        kps.append(
            openmls.KeyPackage.create(
                pool, s, openmls.Credential.basic(b"m%d" % i), ciphersuite=suite
            )
        )
    welcome = group.add_members(kps).welcome
    group.merge_pending_commit()
    assert welcome is not None
    joined: list[openmls.Group] = []
    join_samples = []
    for p, _, _ in joiners:

        def join(p: openmls.Provider = p, w: bytes = welcome) -> None:
            joined.append(openmls.StagedWelcome.from_bytes(p, w).accept())

        join_samples.append(cpu(join))
    receiver = joined[0]
    for _ in range(updates):  # past epochs are kept (and rewritten with every message)
        commit = group.self_update().commit
        group.merge_pending_commit()
        staged = receiver.process_message(commit)
        assert isinstance(staged, openmls.StagedCommit)
        receiver.merge_staged_commit(staged)
    enc: list[float] = []
    dec: list[float] = []
    for _ in range(messages):
        box: list[bytes] = []

        def encrypt(box: list[bytes] = box) -> None:
            box.append(group.create_message(PAYLOAD))

        def decrypt(box: list[bytes] = box) -> None:
            receiver.process_message(box[0])

        enc.append(cpu(encrypt))
        dec.append(cpu(decrypt))
    last = receiver.process_message(group.create_message(PAYLOAD))
    assert isinstance(last, openmls.ApplicationMessage) and last.data == PAYLOAD
    return {
        "join": statistics.median(join_samples),
        "app_encrypt": statistics.median(enc),
        "app_decrypt": statistics.median(dec),
    }


def fmt(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s >= 1e-3 else f"{s * 1e6:.0f} µs"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--suite", type=int, default=2)
    ap.add_argument("--joins", type=int, default=7, help="joiners timed (median)")
    ap.add_argument("--messages", type=int, default=300, help="application messages timed")
    ap.add_argument(
        "--updates", type=int, default=0, help="self-update commits before the messages"
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    res: dict[str, object] = {
        "n": args.n,
        "suite": args.suite,
        "updates": args.updates,
        "load_start": load,
    }
    res["signatures"] = signatures(args.suite)
    res["memory"] = group_ops(args.suite, args.n, None, args.joins, args.messages, args.updates)
    with tempfile.TemporaryDirectory() as d:
        res["sqlite"] = group_ops(
            args.suite, args.n, Path(d), args.joins, args.messages, args.updates
        )
    res["load_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(
        f"suite 0x{args.suite:04x}, N={args.n}, {args.updates} updates; "
        f"load {load} -> {res['load_end']}"
    )
    for k, v in res["signatures"].items():  # type: ignore[attr-defined]
        print(f"  {k:16} {fmt(v)}")
    for store in ("memory", "sqlite"):
        for k, v in res[store].items():  # type: ignore[attr-defined]
            print(f"  {store:7} {k:12} {fmt(v)}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

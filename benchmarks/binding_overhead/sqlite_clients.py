"""Many ``Provider(path)`` clients in one process, as the scenario runner holds them.

K members, each with its own SQLite file, join an N-member group (the other members'
KeyPackages sit in one in-memory provider), process two self-update commits and ten
application messages. Prints the process's RSS growth from just before the joins, and
CPU time per join, per commit processed and per message decrypted (means over members).

    uv run --no-sync python benchmarks/binding_overhead/sqlite_clients.py --n 1000 --k 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import openmls


def rss_mib() -> float:
    """Resident set size of this process (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=1000, help="group size")
    ap.add_argument("--k", type=int, default=20, help="members with their own SQLite file")
    args = ap.parse_args(argv)
    n, k = args.n, args.k
    with tempfile.TemporaryDirectory() as tmp:
        creator_p = openmls.Provider()
        creator_s = openmls.SignatureKeyPair.generate(2)
        creator_s.store(creator_p)
        group = openmls.Group.create(
            creator_p, creator_s, openmls.Credential.basic(b"creator"), ciphersuite=2
        )
        providers = [openmls.Provider(Path(tmp) / f"{i}.sqlite") for i in range(k)]
        kps = []
        for i, p in enumerate(providers):
            s = openmls.SignatureKeyPair.generate(2)
            kps.append(openmls.KeyPackage.create(p, s, openmls.Credential.basic(b"j%d" % i)))
        pool = openmls.Provider()
        for i in range(n - k):
            s = openmls.SignatureKeyPair.generate(2)
            kps.append(openmls.KeyPackage.create(pool, s, openmls.Credential.basic(b"m%d" % i)))
        welcome = group.add_members(kps).welcome
        group.merge_pending_commit()
        assert welcome is not None
        del pool, kps
        rss0 = rss_mib()
        c = time.process_time()
        members = [openmls.StagedWelcome.from_bytes(p, welcome).accept() for p in providers]
        join = (time.process_time() - c) / k
        commit = 0.0
        for _ in range(2):
            bundle = group.self_update()
            group.merge_pending_commit()
            c = time.process_time()
            for m in members:
                staged = m.process_message(bundle.commit)
                assert isinstance(staged, openmls.StagedCommit)
                m.merge_staged_commit(staged)
            commit += time.process_time() - c
        msgs = [group.create_message(b"x" * 100) for _ in range(10)]
        c = time.process_time()
        for m in members:
            for msg in msgs:
                m.process_message(msg)
        decrypt = (time.process_time() - c) / (k * len(msgs))
        print(
            f"N={n} K={k}: RSS +{rss_mib() - rss0:.0f} MiB, join {join * 1e3:.1f} ms, "
            f"commit {commit / (2 * k) * 1e3:.2f} ms, decrypt {decrypt * 1e6:.0f} µs"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

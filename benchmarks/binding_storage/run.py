"""What ``Provider(path)`` (SQLite file) costs against ``Provider()`` (memory), per call.

One N-member group (the creator and the unmeasured members in memory); K measured
members join it from one Welcome, half of them with memory storage, half with an SQLite
file each; optionally the creator commits ``--updates`` self-updates, which every
measured member processes and merges; then the creator sends M application messages,
which every measured member processes (members taken in turn, memory and file
alternating, so that both kinds see the same load on a shared machine). Credentials
are basic ones padded to ``--credential-bytes`` (a STIR member's credential is ~2 KB,
which is what makes the stored tree large).

Prints, per storage, the CPU and wall time of a Welcome join (``StagedWelcome.from_bytes``
+ ``accept``), of a commit (process + merge) and of ``process_message`` (one application
message): medians over members (joins) or calls, and the mean wall time of a message.
For the files: the bytes the joins and the messages appended to the WAL (growth of the
``-wal`` file: valid only while SQLite has not checkpointed, at 1000 pages, which the
script warns about) and the page size.

    uv run --no-sync python benchmarks/binding_storage/run.py --n 100 --k 10 --messages 100
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import openmls


def size(path: Path) -> int:
    """File size, 0 if absent."""
    return path.stat().st_size if path.exists() else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=100, help="group size")
    ap.add_argument("--k", type=int, default=10, help="measured members (half memory, half file)")
    ap.add_argument("--messages", type=int, default=100, help="application messages")
    ap.add_argument(
        "--updates",
        type=int,
        default=0,
        help="self-update commits before the messages (each member processes and merges "
        "them; they give the group past epochs, whose member lists OpenMLS keeps in the "
        "message secrets it rewrites per message)",
    )
    ap.add_argument("--credential-bytes", type=int, default=2000)
    ap.add_argument(
        "--page-size",
        type=int,
        default=0,
        help="create the files with this SQLite page size first (0: the binding's choice; "
        "an existing file keeps its page size)",
    )
    args = ap.parse_args(argv)
    n, k, m = args.n, args.k, args.messages
    pad = b"x" * max(0, args.credential_bytes - 8)

    def cred(name: bytes) -> openmls.Credential:
        return openmls.Credential.basic(name + pad)

    with tempfile.TemporaryDirectory() as tmp:
        creator_p = openmls.Provider()
        creator_s = openmls.SignatureKeyPair.generate(2)
        group = openmls.Group.create(creator_p, creator_s, cred(b"creator"), ciphersuite=2)
        files = [Path(tmp) / f"{i}.sqlite" for i in range(k // 2)]
        if args.page_size:
            for f in files:
                with sqlite3.connect(f) as db:
                    db.execute(f"PRAGMA page_size={args.page_size}")
                    db.execute("PRAGMA journal_mode=WAL")
        # Alternating, so that both kinds see the same load on a shared machine.
        providers: list[tuple[str, openmls.Provider, Path | None]] = []
        for i in range(k):
            if i % 2 and i // 2 < len(files):
                providers.append(("file", openmls.Provider(files[i // 2]), files[i // 2]))
            else:
                providers.append(("memory", openmls.Provider(), None))
        kps = []
        for i, (_, p, _) in enumerate(providers):
            s = openmls.SignatureKeyPair.generate(2)
            kps.append(openmls.KeyPackage.create(p, s, cred(b"j%d" % i)))
        pool = openmls.Provider()
        for i in range(n - 1 - k):
            s = openmls.SignatureKeyPair.generate(2)
            kps.append(openmls.KeyPackage.create(pool, s, cred(b"m%d" % i)))
        welcome = group.add_members(kps).welcome
        group.merge_pending_commit()
        assert welcome is not None
        del pool, kps

        wal0 = {f: size(f.with_name(f.name + "-wal")) for f in files}
        joins: dict[str, list[tuple[float, float]]] = {"memory": [], "file": []}
        members = []
        for kind, p, _ in providers:
            c, w = time.process_time(), time.perf_counter()
            member = openmls.StagedWelcome.from_bytes(p, welcome).accept()
            joins[kind].append((time.process_time() - c, time.perf_counter() - w))
            members.append((kind, member))
        wal1 = {f: size(f.with_name(f.name + "-wal")) for f in files}

        commits: dict[str, list[tuple[float, float]]] = {"memory": [], "file": []}
        for _ in range(args.updates):
            bundle = group.self_update()
            group.merge_pending_commit()
            for kind, member in members:
                c, w = time.process_time(), time.perf_counter()
                staged = member.process_message(bundle.commit)
                assert isinstance(staged, openmls.StagedCommit)
                member.merge_staged_commit(staged)
                commits[kind].append((time.process_time() - c, time.perf_counter() - w))
        walm = {f: size(f.with_name(f.name + "-wal")) for f in files}

        msgs = [group.create_message(b"m" * 100) for _ in range(m)]
        calls: dict[str, list[tuple[float, float]]] = {"memory": [], "file": []}
        for msg in msgs:
            for kind, member in members:
                c, w = time.process_time(), time.perf_counter()
                member.process_message(msg)
                calls[kind].append((time.process_time() - c, time.perf_counter() - w))
        wal2 = {f: size(f.with_name(f.name + "-wal")) for f in files}

        page = sqlite3.connect(files[0]).execute("PRAGMA page_size").fetchone()[0] if files else 0
        print(
            f"N={n}, {k - k // 2} memory + {k // 2} file members ({page} B pages), "
            f"{args.updates} updates, {m} messages"
        )
        for kind in ("memory", "file"):
            jc = statistics.median(t[0] for t in joins[kind])
            jw = statistics.median(t[1] for t in joins[kind])
            pc = statistics.median(t[0] for t in calls[kind])
            pw = statistics.median(t[1] for t in calls[kind])
            # The mean too: a message that changes the length of a stored value (the
            # first few from a sender, while its ratchet window fills) rewrites the value.
            pm = statistics.mean(t[1] for t in calls[kind])
            print(
                f"  {kind:6}: join CPU {jc * 1e3:7.2f} ms wall {jw * 1e3:7.2f} ms | "
                f"process_message CPU {pc * 1e6:6.0f} us wall {pw * 1e6:6.0f} us "
                f"(mean wall {pm * 1e6:6.0f} us)"
            )
            if commits[kind]:
                cc = statistics.median(t[0] for t in commits[kind])
                cw = statistics.median(t[1] for t in commits[kind])
                print(
                    f"          commit (process + merge) CPU {cc * 1e3:.2f} ms, "
                    f"wall {cw * 1e3:.2f} ms"
                )
        if files:
            join_wal = statistics.median(wal1[f] - wal0[f] for f in files)
            msg_wal = statistics.median((wal2[f] - walm[f]) / m for f in files)
            db = statistics.median(size(f) for f in files)
            if max(wal2.values()) >= 1000 * page:
                print("  (a WAL reached 1000 pages: SQLite checkpointed, the WAL figures are low)")
            print(
                f"  WAL per join {join_wal / 1024:.1f} KiB, per message {msg_wal / 1024:.2f} KiB; "
                f"db file {db / 1024:.0f} KiB"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

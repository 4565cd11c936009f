"""Tree checks as a scale run makes them: many clients in one process, each validating
the same members' delegate certificates through ``client.core.credential_checks``.

Run from the repository root:

    uv run --no-sync python benchmarks/credentials/bench_tree_checks.py [--clients 20]
        [--members 300] [--profile]

The shape of benchmarks/scenario_scale: members hold 0xF001 TN delegate certificates
under one provider CA, each with its own key, number and a claim constraint permitting
its display name ("Member i", as scenarios issue them); every client (its own trust
store, so its own issuer chain and native leaf check in the module-wide validator, as
each client process loads its own) runs ``check_tree`` over every member (lenient time,
as a joiner does). Each client's issuer chain is made known first (one untimed check):
what is timed is the steady state, a known issuer and a new leaf per check. Reported:
CPU per check (``time.process_time``) and its ratio to one raw ES256 verification with
``cryptography`` measured right before and after (the floor counts one per member
credential besides the leaf signature OpenMLS verifies).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench_credentials import clone_leaf
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from client.core.credential_checks import CheckContext, check_tree
from shared.profile import (
    CREDENTIAL_TYPE_STIR_CERTIFICATE,
)
from shared.stir.claim_constraints import nam_constraints
from shared.stir.credential_codec import STIRCertificateCredential
from shared.stir.pki import DemoPKI, generate_key, point_of
from shared.stir.tnauthlist import OneTN, TNRange
from shared.stir.trust import TrustStore

FIRST_TN = 12025550000
GROUP_ID = b"benchmark-group"


@dataclass(frozen=True)
class Credential:
    """The binding's Credential, as the checks read it."""

    credential_type: int
    content: bytes


@dataclass(frozen=True)
class Member:
    """The binding's Member (a leaf with its index), as the checks read it."""

    credential: Credential
    signature_key: bytes
    application_id: bytes | None
    index: int


def build(directory: Path, members: int, clients: int) -> tuple[list[TrustStore], list[Member]]:
    """The provider, ``members`` members (plus one to warm each client) and the clients'
    trust stores (one each, loaded separately)."""
    pki = DemoPKI.init(directory)
    ca = pki.issue_spc("Acme Telecom", "1234", [TNRange(str(FIRST_TN), 10000)], ca=True)
    template = pki.issue_delegate(
        ca, [OneTN(str(FIRST_TN))], generate_key().public_key(), permitted_nam="Member 0"
    )
    tree = []
    for i in range(members + 1):
        key = generate_key()
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        der = clone_leaf(
            template.cert,
            ca,
            key,
            str(FIRST_TN + i),
            subject=template.cert.subject,
            claim_constraints=nam_constraints(f"Member {i}").encode(),
        )
        content = STIRCertificateCredential((der, *template.chain[1:])).encode()
        tree.append(
            Member(
                Credential(CREDENTIAL_TYPE_STIR_CERTIFICATE, content),
                point_of(key.public_key()),
                None,
                i,
            )
        )
    return [pki.trust_store() for _ in range(clients)], tree


def floor_us(count: int = 300) -> float:
    """Microseconds per raw ES256 verification with cryptography (400-byte message)."""
    key = ec.generate_private_key(ec.SECP256R1())
    message = bytes(400)
    signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    public = key.public_key()
    start = time.process_time()
    for _ in range(count):
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    return (time.process_time() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--members", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="cProfile the checks instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trusts, tree = build(Path(tmp) / "pki", args.members, args.clients)
    now = datetime.now(UTC)
    contexts = [CheckContext(trust=t, group_id=GROUP_ID, now=lambda: now) for t in trusts]
    for ctx in contexts:  # each client's issuer chain known, as after its first check
        warm = check_tree(tree[:1], ctx)
        assert warm[0].identity is not None, warm[0].rejection
    members = tree[1:]
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for ctx in contexts:
            check_tree(members, ctx)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        return
    ratios, per_check = [], []
    for ctx in contexts:
        before = floor_us()
        start = time.process_time()
        verdicts = check_tree(members, ctx)
        spent = (time.process_time() - start) / len(members) * 1e6
        after = floor_us()
        assert all(v.identity is not None for v in verdicts)
        per_check.append(spent)
        ratios.append(spent / ((before + after) / 2))
    print(
        f"{args.clients} clients x {args.members} members: per check median "
        f"{statistics.median(per_check):.1f} us (first client {per_check[0]:.1f} us), "
        f"{statistics.median(ratios):.2f} floors (first client {ratios[0]:.2f})"
    )


if __name__ == "__main__":
    main()

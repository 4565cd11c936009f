"""The floor of a scenario-scale run: the cryptography MLS (and STIR) require, timed here.

For one group of N members (ciphersuite 2: P-256, HPKE DHKEM(P-256)/HKDF-SHA256/
AES-128-GCM) formed by one commit adding everyone, every member joining from the
Welcome, then K application messages delivered to every member, the operations below
cannot be avoided by any implementation. Their count times their cost, measured in this
process, is the floor the end-to-end run is compared with (issue 6, "Performance").

Counted (a lower bound; caches allowed: one certificate chain per provider is checked
once per verifier):
- adder: N-1 KeyPackage signatures + N-1 PASSporT signatures (credentials), one chain;
  signs the commit and the GroupInfo; N-1 HPKE seals (the Welcome's group secrets).
- delivery service: repeats the KeyPackage and credential checks (PROFILE.md §6).
- each joiner: one HPKE open (its Welcome), the GroupInfo signature, and every member
  of the tree: N leaf signatures + N PASSporT signatures, one chain. This is O(N^2).
- messages: the sender signs K; every other member verifies K signatures and opens K
  AEAD ciphertexts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHAIN_VERIFIES = 2  # SPC certificate by the intermediate, intermediate by the root


@dataclass(frozen=True)
class UnitCosts:
    """Seconds per operation, measured in this process."""

    sign: float
    verify: float
    hpke_seal: float
    hpke_open: float
    aead_open: float


@dataclass(frozen=True)
class OperationCounts:
    """How many of each operation a run of N members and K messages needs at least."""

    signs: int
    verifies: int
    hpke_seals: int
    hpke_opens: int
    aead_opens: int

    @staticmethod
    def for_run(n: int, k: int) -> OperationCounts:
        joiners = n - 1
        adder = 2 * joiners + CHAIN_VERIFIES
        service = 2 * joiners + CHAIN_VERIFIES
        per_joiner = 1 + 2 * n + CHAIN_VERIFIES
        return OperationCounts(
            signs=2 + k,
            verifies=adder + service + joiners * per_joiner + k * joiners,
            hpke_seals=joiners,
            hpke_opens=joiners,
            aead_opens=k * joiners,
        )

    def seconds(self, cost: UnitCosts) -> dict[str, float]:
        """The floor, by operation and in total."""
        parts = {
            "signatures": self.signs * cost.sign + self.verifies * cost.verify,
            "hpke": self.hpke_seals * cost.hpke_seal + self.hpke_opens * cost.hpke_open,
            "aead": self.aead_opens * cost.aead_open,
        }
        parts["total"] = sum(parts.values())
        return parts


def _per_call(fn: Callable[[], object], seconds: float = 0.3) -> float:
    fn()  # warm up
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        calls += 1
    return elapsed / calls


def measure_unit_costs() -> UnitCosts:
    """Time each operation with the same primitives the profile uses."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    message = os.urandom(200)
    signature = key.sign(message, ec.ECDSA(hashes.SHA256()))
    suite = hpke.Suite(hpke.KEM.P256, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_128_GCM)
    secret = os.urandom(32)
    sealed = suite.encrypt(secret, public, info=b"welcome")
    aead = AESGCM(os.urandom(16))
    nonce = os.urandom(12)
    ciphertext = aead.encrypt(nonce, os.urandom(100), None)
    return UnitCosts(
        sign=_per_call(lambda: key.sign(message, ec.ECDSA(hashes.SHA256()))),
        verify=_per_call(lambda: public.verify(signature, message, ec.ECDSA(hashes.SHA256()))),
        hpke_seal=_per_call(lambda: suite.encrypt(secret, public, info=b"welcome")),
        hpke_open=_per_call(lambda: suite.decrypt(sealed, key, info=b"welcome")),
        aead_open=_per_call(lambda: aead.decrypt(nonce, ciphertext, None)),
    )


if __name__ == "__main__":
    costs = measure_unit_costs()
    print("unit costs (us): " + ", ".join(f"{k} {v * 1e6:.1f}" for k, v in costs.__dict__.items()))
    for n, k in ((10, 100), (100, 100), (300, 100), (1000, 100)):
        floor = OperationCounts.for_run(n, k).seconds(costs)
        print(
            f"N={n:5} K={k}: floor {floor['total']:.2f} s  "
            + ", ".join(f"{name} {value:.2f} s" for name, value in floor.items() if name != "total")
        )

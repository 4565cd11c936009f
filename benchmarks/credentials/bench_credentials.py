"""Credential validation throughput: cold, known issuer, cached, and the ES256 floor.

Run from the repository root:

    uv run --no-sync python benchmarks/credentials/bench_credentials.py [--members 10000]

What is measured (all in one process, one run, so the figures compare):

- floor: one raw ES256 verification with ``cryptography`` (P-256, SHA-256, a 400-byte
  message, DER signature), the cost every validation must pay per signature;
- per credential kind, validations per second
  - cold: a fresh :class:`Validator` for every validation (no verification cached: the
    chain is verified from the root, the PASSporT verified; certificates the process has
    parsed before and built verifiers are shared by all Validators, so the issuer
    certificates of a provider are parsed once); "empty process" (isolated table only)
    clears those too;
  - known issuer: one long-lived Validator, every validation a different member whose
    issuer chain it has seen (the steady state of a client or delivery service);
    with the binding's accept-only leaf check (``openmls.KnownIssuer``, the default) and
    without it (``Validator(native=False)``: cryptography's verifier, the Python path);
  - cached: :class:`ValidationCache` hits (the same credential again);
  and the cold cost in units of the floor times the number of signatures it must verify;
- 10,000 distinct members of one provider (delegate certificates under the provider's
  CA) validated by one fresh Validator: the total time;
- the binding's ``KnownIssuer.check_leaf`` alone per new leaf, and ``ring``'s raw P-256
  verification (through ``openmls.verify_with_label``), in floors;
- per new leaf, parts of a known-issuer validation that are cryptography's own work
  (load, extensions, TBS re-serialisation as any signature check over it needs, key
  load), in floors: what no code of ours can make cheaper.

Setup (not timed): a demo PKI in a temporary directory; the members' delegate
certificates are clones of one certificate issued by the PKI, each with its own key,
number and serial, signed by the provider CA (issuing 10,000 through the PKI's files would
take half a minute and measure the disk).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import openmls
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.verification import ClientVerifier, PolicyBuilder, Store

from shared.profile import (
    CREDENTIAL_TYPE_STIR_CERTIFICATE,
    CREDENTIAL_TYPE_STIR_PASSPORT,
    OID_JWT_CLAIM_CONSTRAINTS,
    OID_TNAUTHLIST,
    group_dest_uri,
)
from shared.stir.credential_codec import (
    STIRCertificateCredential,
    STIRPASSporTCredential,
    decode_credential,
)
from shared.stir.passport import PassportSigner
from shared.stir.pki import DemoPKI, IssuedCert, generate_key, point_of
from shared.stir.tnauthlist import OneTN, TNRange, encode_tnauthlist
from shared.stir.trust import TrustStore
from shared.stir.validation_cache import ValidationCache
from shared.stir.validator import (
    CA_POLICY,
    EE_POLICY,
    MAX_CHAIN_DEPTH,
    Validator,
    clear_shared_caches,
)

GROUP_ID = b"benchmark-group"
FIRST_TN = 12025550000


@dataclass
class Case:
    """One credential kind: its credentials (one per member) and signatures per validation."""

    name: str
    credential_type: int
    items: list[tuple[bytes, bytes]]  # (content, signature key)
    signatures_cold: int
    signatures_known: int


def clone_leaf(
    template: x509.Certificate,
    ca: IssuedCert,
    key: ec.EllipticCurvePrivateKey,
    tn: str,
    *,
    subject: x509.Name | None = None,
    claim_constraints: bytes | None = None,
) -> bytes:
    """The template delegate certificate with another key, number and serial (and, when
    given, another subject and JWT claim constraints; by default "Delegate <tn>" and the
    template's)."""
    assert isinstance(ca.key, ec.EllipticCurvePrivateKey)
    if subject is None:
        subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, f"Delegate {tn}")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(template.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(template.not_valid_before_utc)
        .not_valid_after(template.not_valid_after_utc)
    )
    for ext in template.extensions:
        if ext.oid == OID_TNAUTHLIST:
            value: x509.ExtensionType = x509.UnrecognizedExtension(
                OID_TNAUTHLIST, encode_tnauthlist([OneTN(tn)])
            )
        elif ext.oid == OID_JWT_CLAIM_CONSTRAINTS and claim_constraints is not None:
            value = x509.UnrecognizedExtension(ext.oid, claim_constraints)
        elif isinstance(ext.value, x509.SubjectKeyIdentifier):
            value = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        else:
            value = ext.value
        builder = builder.add_extension(value, critical=ext.critical)
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def build(directory: Path, members: int) -> tuple[TrustStore, list[Case]]:
    pki = DemoPKI.init(directory)
    ca = pki.issue_spc("Acme Telecom", "1234", [TNRange(str(FIRST_TN), 10000)], ca=True)
    signer = pki.issue_spc("Acme Telecom", "1234", name="signer")
    trust = pki.trust_store()
    template = pki.issue_delegate(ca, [OneTN(str(FIRST_TN))], generate_key().public_key())
    keys = [generate_key() for _ in range(members)]
    tn_items = []
    for i, key in enumerate(keys):
        leaf = clone_leaf(template.cert, ca, key, str(FIRST_TN + i % 10000))
        content = STIRCertificateCredential((leaf, *template.chain[1:])).encode()
        tn_items.append((content, point_of(key.public_key())))
    spc_items = []
    for key in keys[:200]:
        carrier = pki.issue_spc("Acme Telecom", "1234", public_key=key.public_key())
        spc_items.append(
            (STIRCertificateCredential(carrier.chain).encode(), point_of(key.public_key()))
        )
    assert isinstance(signer.key, ec.EllipticCurvePrivateKey)
    passport_signer = PassportSigner(signer.key, signer.chain)
    pp_items = []
    now = datetime.now(UTC)
    for i, key in enumerate(keys[:2000]):
        point = point_of(key.public_key())
        token = passport_signer.sign(
            str(FIRST_TN + i), group_dest_uri(GROUP_ID), point, now, nam=f"Member {i}"
        )
        pp_items.append((STIRPASSporTCredential(signer.chain, token.encode()).encode(), point))
    cases = [
        # leaf <- provider CA <- intermediate <- root: 3 signatures; known issuer: 1.
        Case("0xF001 TN delegate (3-cert chain)", CREDENTIAL_TYPE_STIR_CERTIFICATE, tn_items, 3, 1),
        # carrier cert <- intermediate <- root: 2 signatures; known issuer: 1.
        Case(
            "0xF001 SPC carrier-level (2-cert chain)",
            CREDENTIAL_TYPE_STIR_CERTIFICATE,
            spc_items,
            2,
            1,
        ),
        # signer <- intermediate <- root, plus the PASSporT: 3; the signer chain is shared
        # by every member of the provider, so once known: 1 (the PASSporT).
        Case("0xF002 PASSporT, SPC signer", CREDENTIAL_TYPE_STIR_PASSPORT, pp_items, 3, 1),
    ]
    return trust, cases


class Floor:
    """One raw ES256 verification with cryptography (P-256, SHA-256, 400-byte message)."""

    def __init__(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        self.message = bytes(range(256)) + bytes(144)
        self.signature = key.sign(self.message, ec.ECDSA(hashes.SHA256()))
        self.pub = key.public_key()
        self.algorithm = ec.ECDSA(hashes.SHA256())

    def us(self, count: int = 100) -> float:
        """Mean microseconds per verification over ``count`` verifications."""
        start = time.process_time()
        for _ in range(count):
            self.pub.verify(self.signature, self.message, self.algorithm)
        return (time.process_time() - start) / count * 1e6


@dataclass
class Measure:
    per_op_us: float  # median over the passes
    floor_us: float  # median of the floor measured next to each pass
    ratio: float  # median over the passes of (per-op time / adjacent floor)


def measure(
    func: Callable[[tuple[bytes, bytes]], object],
    items: list[tuple[bytes, bytes]],
    floor: Floor,
    passes: int = 20,
) -> Measure:
    """Alternate a short floor measurement and a short pass over a slice of ``items``; on
    a shared, noisy machine the ratio to the adjacent floor is steadier than either
    figure, and short passes keep the floor next to what it is compared with."""
    chunk = max(1, len(items) // passes)
    per_op, floors, ratios = [], [], []
    for r in range(passes):
        part = items[r * chunk : (r + 1) * chunk] or items[:chunk]
        before = floor.us(50)
        start = time.process_time()
        for item in part:
            func(item)
        op = (time.process_time() - start) / len(part) * 1e6
        after = floor.us(50)
        f = (before + after) / 2
        per_op.append(op)
        floors.append(f)
        ratios.append(op / f)
    return Measure(statistics.median(per_op), statistics.median(floors), statistics.median(ratios))


def isolated(func: Callable[[], object], floor: Floor, rounds: int = 15) -> float:
    """Median over ``rounds`` of (time of 20 calls / adjacent floor): one credential
    repeated, which leaves out the effect of touching thousands of distinct ones."""
    ratios = []
    for _ in range(rounds):
        before = floor.us(50)
        start = time.process_time()
        for _ in range(20):
            func()
        op = (time.process_time() - start) / 20 * 1e6
        ratios.append(op / ((before + floor.us(50)) / 2))
    return statistics.median(ratios)


def verifier_floor(
    trust: TrustStore, case: Case, floor: Floor, now: datetime, rounds: int = 15
) -> tuple[float, float, float]:
    """What ``cryptography.x509.verification`` alone costs, certificates already parsed and
    the verifier built: (full chain ÷ (sigs * floor), one leaf under its issuer as the only
    anchor ÷ floor, seconds for every leaf of ``case`` under its issuer)."""
    chains = [
        [
            x509.load_der_x509_certificate(d)
            for d in decode_credential(case.credential_type, c).certificates
        ]
        for c, _ in case.items
    ]

    def build_verifier(store: Store) -> ClientVerifier:
        return (
            PolicyBuilder()
            .store(store)
            .time(now)
            .max_chain_depth(MAX_CHAIN_DEPTH)
            .extension_policies(ca_policy=CA_POLICY, ee_policy=EE_POLICY)
            .build_client_verifier()
        )

    full = build_verifier(trust.store)
    under = build_verifier(Store([chains[0][1]]))
    full_ratios, leaf_ratios = [], []
    for r in range(rounds):
        part = chains[r * 20 : (r + 1) * 20] or chains[:20]
        before = floor.us(50)
        start = time.process_time()
        for chain in part:
            full.verify(chain[0], chain[1:])
        full_us = (time.process_time() - start) / len(part) * 1e6
        start = time.process_time()
        for chain in part:
            under.verify(chain[0], [])
        leaf_us = (time.process_time() - start) / len(part) * 1e6
        f = (before + floor.us(50)) / 2
        full_ratios.append(full_us / f / case.signatures_cold)
        leaf_ratios.append(leaf_us / f)
    start = time.process_time()
    for chain in chains:
        under.verify(chain[0], [])
    every = time.process_time() - start
    return statistics.median(full_ratios), statistics.median(leaf_ratios), every


def native_floor(
    case: Case, trust: TrustStore, floor: Floor, now: datetime, rounds: int = 15
) -> tuple[float, float]:
    """The binding's leaf check alone (per new leaf, issuer known, layout learnt) and
    ring's raw P-256 verify, each ÷ floor (medians over ``rounds`` of 20)."""
    validator = Validator()
    content, key = case.items[0]
    validator.validate(case.credential_type, content, key, group_id=GROUP_ID, trust=trust, now=now)
    native = next(iter(validator._issuers.values())).native
    assert native is not None
    leaves = [decode_credential(case.credential_type, c).certificates[0] for c, _ in case.items]
    signer = openmls.SignatureKeyPair.generate(2)
    message = bytes(400)
    signature = signer.sign_with_label("floor", message)
    check_ratios, ring_ratios = [], []
    for r in range(rounds):
        chunk = leaves[r * 20 : (r + 1) * 20] or leaves[:20]
        before = floor.us(50)
        start = time.process_time()
        for der in chunk:
            assert native.check_leaf(der) is not None
        check_us = (time.process_time() - start) / len(chunk) * 1e6
        start = time.process_time()
        for _ in chunk:
            openmls.verify_with_label(0x0403, signer.public_key, "floor", message, signature)
        ring_us = (time.process_time() - start) / len(chunk) * 1e6
        f = (before + floor.us(50)) / 2
        check_ratios.append(check_us / f)
        ring_ratios.append(ring_us / f)
    return statistics.median(check_ratios), statistics.median(ring_ratios)


def leaf_parts(case: Case, floor: Floor, rounds: int = 15) -> list[tuple[str, float]]:
    """What a known-issuer 0xF001 validation must have cryptography do per new leaf, each
    in floors (median over ``rounds`` of 20 leaves, each part on freshly loaded leaves):
    the parts no Python code of ours can make cheaper."""
    ders = [decode_credential(case.credential_type, c).certificates for c, _ in case.items]
    parts: dict[str, Callable[[bytes], object]] = {
        "load the DER": x509.load_der_x509_certificate,
        "parse its extensions": lambda d: x509.load_der_x509_certificate(d).extensions,
        "re-serialise its TBS": lambda d: x509.load_der_x509_certificate(d).tbs_certificate_bytes,
        "load its public key": lambda d: x509.load_der_x509_certificate(d).public_key(),
    }
    out = []
    for name, part in parts.items():
        ratios = []
        for r in range(rounds):
            chunk = [d[0] for d in ders[r * 20 : (r + 1) * 20] or ders[:20]]
            before = floor.us(50)
            start = time.process_time()
            for der in chunk:
                part(der)
            op = (time.process_time() - start) / len(chunk) * 1e6
            ratios.append(op / ((before + floor.us(50)) / 2))
        out.append((name, statistics.median(ratios)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=10000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        trust, cases = build(Path(tmp) / "pki", args.members)
        setup = time.process_time() - t0
    now = datetime.now(UTC)
    print(f"python {platform.python_version()} on {platform.machine()}; setup {setup:.1f} s")
    floor = Floor()
    rows = []
    isolated_rows = []
    for case in cases:
        kind = case.credential_type

        def cold(item: tuple[bytes, bytes], kind: int = kind) -> object:
            return Validator().validate(
                kind, item[0], item[1], group_id=GROUP_ID, trust=trust, now=now
            )

        warm_validator = Validator()
        cold(case.items[0])
        warm_validator.validate(
            kind, case.items[0][0], case.items[0][1], group_id=GROUP_ID, trust=trust, now=now
        )

        def known(
            item: tuple[bytes, bytes], kind: int = kind, v: Validator = warm_validator
        ) -> object:
            return v.validate(kind, item[0], item[1], group_id=GROUP_ID, trust=trust, now=now)

        off_validator = Validator(native=False)
        off_validator.validate(
            kind, case.items[0][0], case.items[0][1], group_id=GROUP_ID, trust=trust, now=now
        )

        def known_off(
            item: tuple[bytes, bytes], kind: int = kind, v: Validator = off_validator
        ) -> object:
            return v.validate(kind, item[0], item[1], group_id=GROUP_ID, trust=trust, now=now)

        cache = ValidationCache(Validator())
        sample = case.items[1:201]
        for item in sample:
            cache.validate(kind, item[0], item[1], group_id=GROUP_ID, trust=trust, now=now)

        def cached(
            item: tuple[bytes, bytes], kind: int = kind, c: ValidationCache = cache
        ) -> object:
            return c.validate(kind, item[0], item[1], group_id=GROUP_ID, trust=trust, now=now)

        content, key = case.items[1]
        iso_validator = Validator()
        iso_validator.validate(kind, content, key, group_id=GROUP_ID, trust=trust, now=now)

        def iso_known(
            kind: int = kind, v: Validator = iso_validator, c: bytes = content, k: bytes = key
        ) -> object:
            if kind == CREDENTIAL_TYPE_STIR_CERTIFICATE:
                # A new member's certificate: keep the issuer chain, forget the whole
                # chain. (A PASSporT's signer chain is shared: it stays known.)
                v._chains.clear()
                v._native_leaves.clear()
            return v.validate(kind, c, k, group_id=GROUP_ID, trust=trust, now=now)

        def iso_cold(kind: int = kind, c: bytes = content, k: bytes = key) -> object:
            return Validator().validate(kind, c, k, group_id=GROUP_ID, trust=trust, now=now)

        def iso_empty(kind: int = kind, c: bytes = content, k: bytes = key) -> object:
            # Nothing seen before in the process either: no parsed certificate, no verifier.
            clear_shared_caches()
            return Validator().validate(kind, c, k, group_id=GROUP_ID, trust=trust, now=now)

        isolated_rows.append(
            (
                case,
                isolated(iso_empty, floor),
                isolated(iso_cold, floor),
                isolated(iso_known, floor),
            )
        )
        rows.append(
            (
                case,
                measure(cold, case.items[1:201], floor),
                measure(known, case.items[201:1201] or case.items[1:201], floor),
                measure(cached, sample * 100, floor),
                measure(known_off, case.items[201:1201] or case.items[1:201], floor),
            )
        )

    tn_case = cases[0]
    v_full, v_leaf, v_every = verifier_floor(trust, tn_case, floor, now)
    floor_before = floor.us(1000)
    validator = Validator()
    start = time.process_time()
    for content, key in tn_case.items:
        validator.validate(
            CREDENTIAL_TYPE_STIR_CERTIFICATE, content, key, group_id=GROUP_ID, trust=trust, now=now
        )
    many = time.process_time() - start
    floor_after = floor.us(1000)
    validator = Validator(native=False)
    start = time.process_time()
    for content, key in tn_case.items:
        validator.validate(
            CREDENTIAL_TYPE_STIR_CERTIFICATE, content, key, group_id=GROUP_ID, trust=trust, now=now
        )
    many_off = time.process_time() - start
    native_alone, ring_alone = native_floor(tn_case, trust, floor, now)

    print("floor = one raw ES256 verification, measured next to every pass")
    print()
    print(
        "| credential kind | cold /s | cold µs (floor µs) | cold ÷ (sigs * floor) "
        "| known issuer /s | known µs | known ÷ (sigs * floor) | known, binding off ÷ floor "
        "| cached /s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for case, cold_m, known_m, cached_m, off_m in rows:
        print(
            f"| {case.name} | {1e6 / cold_m.per_op_us:,.0f} "
            f"| {cold_m.per_op_us:.0f} ({cold_m.floor_us:.0f}) "
            f"| {cold_m.ratio / case.signatures_cold:.2f} ({case.signatures_cold} sigs) "
            f"| {1e6 / known_m.per_op_us:,.0f} | {known_m.per_op_us:.0f} "
            f"| {known_m.ratio / case.signatures_known:.2f} ({case.signatures_known} sig) "
            f"| {off_m.ratio / case.signatures_known:.2f} "
            f"| {1e6 / cached_m.per_op_us:,.0f} |"
        )
    print()
    print("Isolated (one credential repeated), in floors:")
    print()
    print(
        "| credential kind | empty process ÷ (sigs * floor) | cold ÷ (sigs * floor) "
        "| known issuer ÷ (1 * floor) |"
    )
    print("|---|---|---|---|")
    for case, empty_ratio, cold_ratio, known_ratio in isolated_rows:
        print(
            f"| {case.name} | {empty_ratio / case.signatures_cold:.2f} "
            f"| {cold_ratio / case.signatures_cold:.2f} "
            f"| {known_ratio / case.signatures_known:.2f} |"
        )
    print()
    print(
        f"{len(tn_case.items):,} distinct members of one provider (0xF001 delegates), one "
        f"fresh Validator: {many:.2f} s ({len(tn_case.items) / many:,.0f}/s; floor "
        f"{floor_before:.0f} µs before, {floor_after:.0f} µs after, so the signatures alone "
        f"take {len(tn_case.items) * (floor_before + floor_after) / 2e6:.2f} s); "
        f"binding off: {many_off:.2f} s"
    )
    print()
    print(
        f"The binding's KnownIssuer.check_leaf alone: {native_alone:.2f} floors a new leaf; "
        f"ring's raw P-256 verification (openmls.verify_with_label): {ring_alone:.2f} floors"
    )
    print()
    print("Per new leaf, cryptography's own work (each on freshly loaded leaves), in floors:")
    print()
    print("| part | floors |")
    print("|---|---|")
    for name, ratio in leaf_parts(tn_case, floor):
        print(f"| {name} | {ratio:.2f} |")
    print()
    print(
        f"cryptography's X.509 verifier alone (certificates parsed, verifier built), "
        f"{tn_case.name}: full chain {v_full:.2f} floors a signature; one leaf under its "
        f"issuer {v_leaf:.2f} floors; all {len(tn_case.items):,} leaves under their issuer "
        f"{v_every:.2f} s"
    )


if __name__ == "__main__":
    main()

"""Fixtures for the STIR tests: a fresh demo PKI, a provider with numbers, member keys.

Every fixture builds real certificates with :mod:`shared.stir.pki` in ``tmp_path``
(P-256 keys, so a whole PKI takes milliseconds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from shared.stir.pki import DemoPKI, IssuedCert, generate_key, point_of
from shared.stir.tnauthlist import OneTN, TNRange
from shared.stir.trust import TrustStore

VECTORS = Path(__file__).resolve().parent / ".." / ".." / ".." / "shared" / "vectors" / "stir"

PROVIDER_NAME = "Acme Telecom"
PROVIDER_SPC = "1234"
# The provider holds 100 numbers, +1 202-555-0100 .. +1 202-555-0199.
PROVIDER_RANGE = TNRange("12025550100", 100)
ALICE_TN = "12025550101"
BOB_TN = "12025550102"


@dataclass(frozen=True)
class Provider:
    """A provider of the demo PKI: its SPC, numbers and certificates."""

    name: str
    spc: str
    numbers: tuple[TNRange, ...]
    signer: IssuedCert  # SPC-level end entity (signs PASSporTs; ATIS-1000080 shape)
    ca: IssuedCert  # SPC-level CA (issues RFC 9060 delegate certificates)


@pytest.fixture
def vectors_dir() -> Path:
    """The shared STIR vectors directory (read in place, never copied)."""
    return VECTORS


@pytest.fixture
def pki(tmp_path: Path) -> DemoPKI:
    """A fresh demo PKI (root + intermediate) in ``tmp_path / "pki"``."""
    return DemoPKI.init(tmp_path / "pki")


@pytest.fixture
def provider(pki: DemoPKI) -> Provider:
    """Provider "Acme Telecom", SPC 1234, assigned 12025550100 x 100, signer and CA certs."""
    signer = pki.issue_spc(PROVIDER_NAME, PROVIDER_SPC, [PROVIDER_RANGE])
    ca = pki.issue_spc(PROVIDER_NAME, PROVIDER_SPC, ca=True)
    return Provider(PROVIDER_NAME, PROVIDER_SPC, (PROVIDER_RANGE,), signer, ca)


@pytest.fixture
def trust(pki: DemoPKI, provider: Provider) -> TrustStore:
    """The PKI's trust store as a verifier loads it (anchors + the provider's assignment)."""
    return pki.trust_store()


@pytest.fixture
def untrusted_pki(tmp_path: Path) -> DemoPKI:
    """A second, unrelated PKI: its root is not in ``trust``."""
    return DemoPKI.init(tmp_path / "rogue-pki", name="Rogue STI")


def make_member_key() -> ec.EllipticCurvePrivateKey:
    """A member's P-256 signature key (what the MLS client would hold)."""
    return generate_key("p256")


def member_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The 65-byte uncompressed point of a member key (the MLS LeafNode signature_key)."""
    return point_of(key.public_key())


@pytest.fixture
def member_key_factory() -> Callable[[], ec.EllipticCurvePrivateKey]:
    """Make fresh member P-256 keys."""
    return make_member_key


@pytest.fixture
def alice_key() -> ec.EllipticCurvePrivateKey:
    """Alice's member key."""
    return make_member_key()


@pytest.fixture
def alice_cert(
    pki: DemoPKI, provider: Provider, alice_key: ec.EllipticCurvePrivateKey
) -> IssuedCert:
    """An end-to-end delegate certificate for ALICE_TN over Alice's key, nam "Alice"."""
    return pki.issue_delegate(
        provider.ca, [OneTN(ALICE_TN)], alice_key.public_key(), permitted_nam="Alice"
    )

"""The client's credential checks at the PROFILE §6 entry points, with a real demo PKI and
the real validator. Leaves are plain records with the binding's field names (the MLS side
is exercised by the multi-client tests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from client.core.credential_checks import (
    CheckContext,
    check_commit,
    check_key_package,
    check_leaf,
    check_tree,
)
from shared.identity_view import AssuranceLevel, view_identity
from shared.profile import (
    CREDENTIAL_TYPE_STIR_CERTIFICATE,
    CREDENTIAL_TYPE_STIR_PASSPORT,
    group_dest_uri,
)
from shared.stir.credential_codec import STIRCertificateCredential, STIRPASSporTCredential
from shared.stir.passport import PassportSigner
from shared.stir.pki import DemoPKI, IssuedCert, generate_key, point_of
from shared.stir.tnauthlist import OneTN, TNRange

GROUP = b"group-under-test"
ALICE_TN = "12025550101"
BOB_TN = "12025550102"
NOW = datetime.now(UTC)


@dataclass(frozen=True)
class Cred:
    credential_type: int
    content: bytes


@dataclass(frozen=True)
class Leaf:
    credential: Cred
    signature_key: bytes
    application_id: bytes | None = None
    index: int = 0


@dataclass(frozen=True)
class Staged:
    committer: int | None
    adds: tuple[Leaf, ...] = ()
    updates: tuple[Leaf, ...] = ()
    path_leaf: Leaf | None = None


@dataclass
class World:
    pki: DemoPKI
    signer: IssuedCert  # SPC-level PASSporT signer
    ca: IssuedCert  # SPC-level CA for delegates

    def ctx(self, now: datetime = NOW) -> CheckContext:
        return CheckContext(self.pki.trust_store(), GROUP, lambda: now)

    def delegate_leaf(self, tn: str, name: str | None = None, index: int = 0) -> Leaf:
        key = generate_key("p256")
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        cert = self.pki.issue_delegate(self.ca, [OneTN(tn)], key.public_key(), permitted_nam=name)
        content = STIRCertificateCredential(cert.chain).encode()
        return Leaf(
            Cred(CREDENTIAL_TYPE_STIR_CERTIFICATE, content), point_of(key.public_key()), None, index
        )

    def passport_leaf(
        self,
        tn: str,
        *,
        index: int = 0,
        group: bytes = GROUP,
        iat: datetime | None = None,
        bind_other_key: bool = False,
        name: str | None = None,
    ) -> Leaf:
        key = generate_key("p256")
        point = point_of(key.public_key())
        mky = point_of(generate_key("p256").public_key()) if bind_other_key else point
        assert isinstance(self.signer.key, ec.EllipticCurvePrivateKey)
        token = PassportSigner(self.signer.key, self.signer.chain).sign(
            tn, group_dest_uri(group), mky, iat=iat or NOW, nam=name
        )
        content = STIRPASSporTCredential(self.signer.chain, token.encode("ascii")).encode()
        return Leaf(Cred(CREDENTIAL_TYPE_STIR_PASSPORT, content), point, None, index)


@pytest.fixture
def world(tmp_path: Path) -> World:
    pki = DemoPKI.init(tmp_path / "pki")
    signer = pki.issue_spc("Acme", "1234", [TNRange("12025550100", 100)])
    ca = pki.issue_spc("Acme", "1234", ca=True)
    return World(pki, signer, ca)


def test_tree_of_delegate_and_passport_members(world: World) -> None:
    alice = world.delegate_leaf(ALICE_TN, name="Alice", index=0)
    bob = world.passport_leaf(BOB_TN, index=1, name="Bob")
    verdicts = check_tree([alice, bob], world.ctx())
    assert [v.accepted for v in verdicts] == [True, True]
    a, b = (v.identity for v in verdicts)
    assert a is not None and b is not None
    view_a, view_b = view_identity(a), view_identity(b)
    assert (view_a.number, view_a.name, view_a.assurance) == (
        "+1 202-555-0101",
        "Alice",
        AssuranceLevel.END_TO_END,
    )
    # A PASSporT signed under an SPC-only certificate: the provider chose the key.
    assert (view_b.number, view_b.name, view_b.assurance) == (
        "+1 202-555-0102",
        "Bob",
        AssuranceLevel.PROVIDER_ATTESTED_KEY,
    )
    assert view_b.name_source == "from the PASSporT (rcd)"


def test_passport_for_another_group_is_rejected_and_named(world: World) -> None:
    bob = world.passport_leaf(BOB_TN, index=1, group=b"some-other-group")
    (verdict,) = check_tree([bob], world.ctx())
    assert not verdict.accepted and verdict.rejection is not None
    assert verdict.rejection.reason == "dest"
    assert verdict.who == "+1 202-555-0102 (leaf 1, unverified claim)"


def test_key_package_whose_mky_binds_another_key(world: World) -> None:
    verdict = check_key_package(world.passport_leaf(BOB_TN, bind_other_key=True), world.ctx())
    assert verdict.rejection is not None and verdict.rejection.reason == "mky"
    assert verdict.rejection.rule.startswith("§5")


def test_old_passport_is_stale_in_the_tree_but_refused_on_entry(world: World) -> None:
    old = world.passport_leaf(BOB_TN, iat=NOW - timedelta(days=40))
    (in_tree,) = check_tree([old], world.ctx())
    assert in_tree.identity is not None and in_tree.identity.stale
    entering = check_key_package(old, world.ctx())
    assert entering.rejection is not None
    assert entering.rejection.reason in {"stale", "expired"}


def test_garbage_credential_is_rejected_with_a_reason(world: World) -> None:
    leaf = Leaf(Cred(CREDENTIAL_TYPE_STIR_PASSPORT, b"\x00\x01junk"), b"\x04" + b"\x01" * 64)
    verdict = check_leaf(leaf, world.ctx())
    assert verdict.rejection is not None and verdict.rejection.reason == "malformed"
    assert verdict.who == "new member"


def test_commit_checks_adds_updates_and_path(world: World) -> None:
    alice = world.delegate_leaf(ALICE_TN, index=0)
    before = {0: check_leaf(alice, world.ctx()).identity}
    assert before[0] is not None
    identities = {k: v for k, v in before.items() if v is not None}
    good = Staged(
        committer=0,
        adds=(world.passport_leaf(BOB_TN),),
        path_leaf=world.delegate_leaf(ALICE_TN, index=0),  # new key, same number
    )
    assert check_commit(good, identities, world.ctx()).accepted

    # An update path that changes Alice's number is refused (§6).
    changed = Staged(committer=0, path_leaf=world.delegate_leaf("12025550150", index=0))
    verdict = check_commit(changed, identities, world.ctx())
    assert not verdict.accepted
    assert verdict.rejections[0].rejection is not None
    assert verdict.rejections[0].rejection.reason == "tn-changed"

    # One bad Add among good ones refuses the whole commit.
    bad_add = Staged(
        committer=0,
        adds=(world.passport_leaf(BOB_TN), world.passport_leaf(BOB_TN, bind_other_key=True)),
    )
    verdict = check_commit(bad_add, identities, world.ctx())
    assert [v.accepted for v in verdict.adds] == [True, False]
    assert len(verdict.rejections) == 1

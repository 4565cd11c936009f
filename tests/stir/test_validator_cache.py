"""ValidationCache: same verdicts as the validator, never served past expiry."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from shared.profile import CREDENTIAL_TYPE_STIR_CERTIFICATE, CREDENTIAL_TYPE_STIR_PASSPORT
from shared.stir.errors import CredentialRejected
from shared.stir.pki import DemoPKI, IssuedCert
from shared.stir.tnauthlist import OneTN, TNRange
from shared.stir.trust import TrustStore, load_trust_store
from shared.stir.validation_cache import ValidationCache
from shared.stir.validator import Validator

from .conftest import BOB_TN, Provider, make_member_key, member_point
from .fixtures_validator import (
    GROUP_ID,
    OTHER_GROUP_ID,
    cert_content,
    now,
    passport_content,
    sign_passport,
)

F001 = CREDENTIAL_TYPE_STIR_CERTIFICATE
F002 = CREDENTIAL_TYPE_STIR_PASSPORT


def test_hit_returns_the_same_identity(
    pki: DemoPKI,
    trust: TrustStore,
    alice_cert: IssuedCert,
    alice_key: ec.EllipticCurvePrivateKey,
) -> None:
    cache = ValidationCache(Validator())
    content, key = cert_content(alice_cert), member_point(alice_key)
    first = cache.validate(F001, content, key, group_id=GROUP_ID, trust=trust, now=now())
    second = cache.validate(F001, content, key, group_id=GROUP_ID, trust=trust, now=now())
    assert first is second
    assert (cache.hits, cache.misses, len(cache)) == (1, 1, 1)
    # A different trust store object is a different key.
    other_trust = load_trust_store(pki.directory)
    cache.validate(F001, content, key, group_id=GROUP_ID, trust=other_trust, now=now())
    assert cache.misses == 2


def test_certificate_expiry_is_honoured(tmp_path: Path) -> None:
    t = now()
    pki = DemoPKI.init(tmp_path / "pki", now=t - timedelta(days=10))
    ca = pki.issue_spc(
        "Acme", "1234", [TNRange("12025550100", 100)], ca=True, now=t - timedelta(days=10)
    )
    member = make_member_key()
    leaf = pki.issue_delegate(
        ca,
        [OneTN("12025550101")],
        member.public_key(),
        not_before=t - timedelta(days=1),
        not_after=t + timedelta(hours=1),
    )
    trust = pki.trust_store()
    cache = ValidationCache(Validator())
    content, key = cert_content(leaf), member_point(member)
    cache.validate(F001, content, key, group_id=None, trust=trust, now=t)
    # Within the expiry plus tolerance: served from the cache.
    cache.validate(F001, content, key, group_id=None, trust=trust, now=t + timedelta(hours=1))
    assert cache.hits == 1
    later = t + timedelta(hours=2)
    with pytest.raises(CredentialRejected) as info:
        cache.validate(F001, content, key, group_id=None, trust=trust, now=later)
    assert info.value.reason == "expired"
    assert len(cache) == 0  # dropped: it can never be valid again
    # A lenient lookup (a member already in the tree) gets it marked stale.
    ident = cache.validate(
        F001, content, key, group_id=None, trust=trust, now=later, strict_time=False
    )
    assert ident.stale and ident.stale_reason == "expired"


def test_not_yet_valid_becomes_valid(pki: DemoPKI, provider: Provider, trust: TrustStore) -> None:
    t = now()
    member = make_member_key()
    leaf = pki.issue_delegate(
        provider.ca,
        [OneTN("12025550101")],
        member.public_key(),
        not_before=t + timedelta(hours=1),
        not_after=t + timedelta(days=2),
    )
    cache = ValidationCache(Validator())
    content, key = cert_content(leaf), member_point(member)
    with pytest.raises(CredentialRejected) as info:
        cache.validate(F001, content, key, group_id=None, trust=trust, now=t)
    assert info.value.reason == "not-yet-valid"
    ident = cache.validate(
        F001, content, key, group_id=None, trust=trust, now=t + timedelta(hours=1)
    )
    assert not ident.stale and cache.hits == 1


def test_passport_max_age_is_honoured(provider: Provider, trust: TrustStore) -> None:
    t = now()
    point = member_point(make_member_key())
    content = passport_content(
        provider.signer, sign_passport(provider.signer, BOB_TN, point, iat=t)
    )
    cache = ValidationCache(Validator())
    cache.validate(F002, content, point, group_id=GROUP_ID, trust=trust, now=t)
    cache.validate(F002, content, point, group_id=GROUP_ID, trust=trust, now=t + timedelta(days=30))
    with pytest.raises(CredentialRejected) as info:
        cache.validate(
            F002,
            content,
            point,
            group_id=GROUP_ID,
            trust=trust,
            now=t + timedelta(days=30, seconds=301),
        )
    assert info.value.reason == "stale"
    # A shorter max_age is part of the key, not a stale reuse of the longer one.
    with pytest.raises(CredentialRejected):
        cache.validate(
            F002,
            content,
            point,
            group_id=GROUP_ID,
            trust=trust,
            now=t + timedelta(days=2),
            max_age=timedelta(days=1),
        )


def test_group_is_part_of_the_key(provider: Provider, trust: TrustStore) -> None:
    point = member_point(make_member_key())
    content = passport_content(provider.signer, sign_passport(provider.signer, BOB_TN, point))
    cache = ValidationCache(Validator())
    cache.validate(F002, content, point, group_id=GROUP_ID, trust=trust, now=now())
    with pytest.raises(CredentialRejected) as info:
        cache.validate(F002, content, point, group_id=OTHER_GROUP_ID, trust=trust, now=now())
    assert info.value.reason == "dest"
    with pytest.raises(CredentialRejected) as info:
        cache.validate(
            F002,
            content,
            member_point(make_member_key()),
            group_id=GROUP_ID,
            trust=trust,
            now=now(),
        )
    assert info.value.reason == "mky"


def test_rejections_are_not_cached_and_size_is_bounded(
    pki: DemoPKI, provider: Provider, trust: TrustStore
) -> None:
    cache = ValidationCache(Validator(), maxsize=2)
    point = member_point(make_member_key())
    bad = passport_content(provider.signer, sign_passport(provider.signer, "19995550100", point))
    for _ in range(2):
        with pytest.raises(CredentialRejected):
            cache.validate(F002, bad, point, group_id=GROUP_ID, trust=trust, now=now())
    assert len(cache) == 0 and cache.misses == 2
    for tn in ("12025550110", "12025550111", "12025550112"):
        c = passport_content(provider.signer, sign_passport(provider.signer, tn, point))
        cache.validate(F002, c, point, group_id=GROUP_ID, trust=trust, now=now())
    assert len(cache) == 2
    with pytest.raises(ValueError):
        ValidationCache(maxsize=0)
    with pytest.raises(ValueError, match="aware"):
        cache.validate(
            F002, bad, point, group_id=GROUP_ID, trust=trust, now=now().replace(tzinfo=None)
        )

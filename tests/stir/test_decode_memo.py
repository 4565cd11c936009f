"""Decodings shared by exact bytes (shared.stir.decode_memo) and their use in the validator:
a different byte string is never served another's decoding, failures are not kept, and
the memo stays within its bound."""

from __future__ import annotations

import pytest

from shared.profile import CREDENTIAL_TYPE_STIR_CERTIFICATE
from shared.stir import validator as validator_module
from shared.stir.decode_memo import DecodeMemo
from shared.stir.errors import CredentialRejected, MalformedError
from shared.stir.pki import DemoPKI
from shared.stir.tnauthlist import OneTN
from shared.stir.trust import TrustStore
from shared.stir.validator import Validator, clear_shared_caches

from .conftest import Provider, make_member_key, member_point
from .fixtures_validator import GROUP_ID, cert_content, now, validate_cert


def test_same_bytes_decoded_once_other_bytes_decoded_afresh() -> None:
    memo: DecodeMemo[bytes, str] = DecodeMemo(8)
    calls: list[bytes] = []

    def decode(data: bytes) -> str:
        calls.append(data)
        return data.hex()

    assert memo.get(b"\x01\x02", lambda: decode(b"\x01\x02")) == "0102"
    assert memo.get(b"\x01\x02", lambda: decode(b"\x01\x02")) == "0102"
    assert memo.get(b"\x01\x03", lambda: decode(b"\x01\x03")) == "0103"
    assert calls == [b"\x01\x02", b"\x01\x03"]


def test_bounded_oldest_out() -> None:
    memo: DecodeMemo[int, int] = DecodeMemo(3)
    for i in range(10):
        memo.get(i, lambda: i * 2)  # noqa: B023 (called at once, inside the iteration)
    assert len(memo) == 3
    # The newest three are kept; the first is decoded again.
    assert memo.get(9, lambda: -1) == 18
    assert memo.get(0, lambda: -1) == -1
    with pytest.raises(ValueError, match="maxsize"):
        DecodeMemo(0)


def test_failures_not_kept() -> None:
    memo: DecodeMemo[bytes, str] = DecodeMemo(4)
    attempts = 0

    def broken() -> str:
        nonlocal attempts
        attempts += 1
        raise MalformedError("bad bytes")

    for _ in range(2):
        with pytest.raises(MalformedError, match="bad bytes"):
            memo.get(b"x", broken)
    assert attempts == 2
    assert len(memo) == 0


def test_members_each_get_their_own_numbers_and_names(
    pki: DemoPKI, provider: Provider, trust: TrustStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Members whose leaves differ only in key, number and permitted name, through small
    memos (so entries are dropped and decoded again) and several validators (the memos are
    shared): each gets the Identity the full path gives it."""
    monkeypatch.setattr(validator_module, "_CREDENTIALS", DecodeMemo(2))
    monkeypatch.setattr(validator_module, "_LEAF_EXTENSIONS", DecodeMemo(2))
    members = []
    for i in range(5):
        key = make_member_key()
        tn = f"120255501{i:02d}"
        cert = pki.issue_delegate(
            provider.ca, [OneTN(tn)], key.public_key(), permitted_nam=f"Member {i}"
        )
        members.append((cert_content(cert), member_point(key), tn, f"Member {i}"))
    validators = [Validator(), Validator()]
    for v in validators:
        validate_cert(members[0][0], members[0][1], trust, validator=v)  # issuer known
    for _ in range(2):
        for v in validators:
            for content, point, tn, name in members:
                identity = validate_cert(content, point, trust, validator=v)
                full = validate_cert(content, point, trust, validator=Validator(native=False))
                assert (identity.tns, identity.display_name) == ((tn,), name)
                assert identity == full
    assert all(v.native_accepts >= len(members) - 1 for v in validators)
    assert len(validator_module._CREDENTIALS) <= 2
    assert len(validator_module._LEAF_EXTENSIONS) <= 2


def test_altered_content_is_decoded_afresh(
    pki: DemoPKI, provider: Provider, trust: TrustStore
) -> None:
    """A content one byte short of a remembered one is refused with the words a process
    that never saw the good one gives."""
    key = make_member_key()
    cert = pki.issue_delegate(provider.ca, [OneTN("12025550150")], key.public_key())
    content, point = cert_content(cert), member_point(key)
    validate_cert(content, point, trust)

    def refusal() -> tuple[str, str, str]:
        with pytest.raises(CredentialRejected) as info:
            Validator().validate(
                CREDENTIAL_TYPE_STIR_CERTIFICATE,
                content[:-1],
                point,
                group_id=GROUP_ID,
                trust=trust,
                now=now(),
            )
        return info.value.reason, info.value.rule, info.value.detail

    warm = refusal()
    clear_shared_caches()
    assert refusal() == warm
    assert warm[0] == "malformed"

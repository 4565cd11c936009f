"""Known-answer and robustness tests of the PROFILE.md §8 safety code and QR payload.

Expected values are worked out here by hand (or by a different route than the module's:
hex text -> int -> last five decimal digits), never copied from the implementation.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.safety_code import (
    CODE_DIGITS,
    HIGH_ASSURANCE_NOTE,
    Comparison,
    SafetyCode,
    SafetyCodeError,
    code_digits,
    format_code,
    normalise_typed_code,
    parse_qr_payload,
)

COUNTING = bytes(range(32))  # 00 01 02 ... 1f


def test_counting_bytes_known_answer() -> None:
    # 0x0001020304 = 2^24 + 2*2^16 + 3*2^8 + 4 = 16909060 -> 09060
    # 0x0506070809 = 5*2^32 + 6*2^24 + 7*2^16 + 8*2^8 + 9 = 21575960585 -> 60585
    # 0x0a0b0c0d0e = 10*2^32 + 11*2^24 + 12*2^16 + 13*2^8 + 14 = 43135012110 -> 12110
    digits = code_digits(COUNTING)
    assert digits[:15] == "090606058512110"
    assert format_code(digits) == "09060 60585 12110 63635 15160 66685"


def test_all_ones_and_all_zeros() -> None:
    # 0xffffffffff = 2^40 - 1 = 1099511627775 -> 27775 in each group.
    assert code_digits(b"\xff" * 32) == "27775" * 6
    assert code_digits(bytes(32)) == "0" * 30  # zero padding kept


def test_only_first_thirty_bytes_count() -> None:
    assert code_digits(COUNTING[:30]) == code_digits(COUNTING)
    assert code_digits(COUNTING + b"\x99") == code_digits(COUNTING)


@given(st.binary(min_size=30, max_size=64))
def test_code_matches_independent_route(auth: bytes) -> None:
    expected = "".join(
        str(int(auth[i : i + 5].hex(), 16)).rjust(5, "0")[-5:] for i in range(0, 30, 5)
    )
    assert code_digits(auth) == expected
    assert len(expected) == CODE_DIGITS


def test_short_authenticator_rejected() -> None:
    with pytest.raises(SafetyCodeError, match="29 bytes"):
        code_digits(bytes(29))


def test_qr_payload_known_answer() -> None:
    # b"\xfb\xff\x01" in base64url is "-_8B" (standard base64 would be "+/8B").
    code = SafetyCode(group_id=b"\xfb\xff\x01", epoch=7, authenticator=COUNTING)
    assert code.qr_payload() == (
        "stirmls-verify:-_8B:7:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    )


def test_qr_payload_no_padding() -> None:
    # One byte b"g" is "Zw==" padded; the payload drops the padding.
    code = SafetyCode(group_id=b"g", epoch=0, authenticator=bytes(32))
    assert code.qr_payload().split(":")[1] == "Zw"


@given(
    st.binary(min_size=1, max_size=40),
    st.integers(min_value=0, max_value=2**64 - 1),
    st.binary(min_size=30, max_size=64),
)
def test_qr_round_trip(group_id: bytes, epoch: int, auth: bytes) -> None:
    code = SafetyCode(group_id, epoch, auth)
    assert parse_qr_payload(code.qr_payload()) == code


@pytest.mark.parametrize(
    ("payload", "complaint"),
    [
        ("", "4 ':'-separated parts"),
        ("stirmls-verify:Zw:1", "4 ':'-separated parts"),
        ("otherscheme:Zw:1:" + "00" * 32, "must start with"),
        ("stirmls-verify:Z+w:1:" + "00" * 32, "base64url"),
        ("stirmls-verify:Zw==:1:" + "00" * 32, "base64url"),
        ("stirmls-verify:Zx:1:" + "00" * 32, "canonical"),  # trailing bits set
        ("stirmls-verify:Zw:-1:" + "00" * 32, "decimal"),
        ("stirmls-verify:Zw:01:" + "00" * 32, "leading zero"),
        ("stirmls-verify:Zw:18446744073709551616:" + "00" * 32, "64 bits"),
        ("stirmls-verify:Zw:1:" + "0" * 63, "hex"),
        ("stirmls-verify:Zw:1:" + "zz" * 32, "hex"),
        ("stirmls-verify:Zw:1:" + "00" * 29, "29 bytes"),
    ],
)
def test_bad_payloads_name_the_problem(payload: str, complaint: str) -> None:
    with pytest.raises(SafetyCodeError, match=complaint):
        parse_qr_payload(payload)


def test_compare_outcomes() -> None:
    mine = SafetyCode(b"group", 3, COUNTING)
    assert mine.compare(SafetyCode(b"group", 3, bytes(COUNTING))) is Comparison.MATCH
    flipped = bytes([COUNTING[0] ^ 1]) + COUNTING[1:]
    assert mine.compare(SafetyCode(b"group", 3, flipped)) is Comparison.MISMATCH
    assert mine.compare(SafetyCode(b"group", 4, COUNTING)) is Comparison.DIFFERENT_EPOCH
    assert mine.compare(SafetyCode(b"other", 3, COUNTING)) is Comparison.DIFFERENT_GROUP


def test_full_compare_catches_what_the_digits_miss() -> None:
    # Bytes 30 and 31 are outside the code: only the QR (full) comparison sees them.
    mine = SafetyCode(b"g", 1, COUNTING)
    theirs = SafetyCode(b"g", 1, COUNTING[:31] + b"\x00")
    assert mine.digits == theirs.digits
    assert mine.compare(theirs) is Comparison.MISMATCH
    assert "QR" in HIGH_ASSURANCE_NOTE and "high-assurance" in HIGH_ASSURANCE_NOTE


def test_compare_typed_digits() -> None:
    mine = SafetyCode(b"g", 1, COUNTING)
    assert mine.compare_digits("09060 60585 12110 63635 15160 66685") is Comparison.MATCH
    assert mine.compare_digits("09060-60585-12110-63635-15160-66686") is Comparison.MISMATCH


@pytest.mark.parametrize(
    ("typed", "complaint"),
    [
        ("0906060585", "30 digits; 10"),
        ("09060 6058x" + "0" * 20, "'x'"),
        ("\u0660" * 30, "'\u0660'"),
    ],
)
def test_typed_code_errors(typed: str, complaint: str) -> None:
    with pytest.raises(SafetyCodeError, match=complaint):
        normalise_typed_code(typed)


def test_groups_and_display() -> None:
    code = SafetyCode(b"g", 2, b"\xff" * 32)
    assert code.groups == ("27775",) * 6
    assert code.display == " ".join(["27775"] * 6)


def test_invalid_state_rejected() -> None:
    with pytest.raises(SafetyCodeError, match="negative"):
        SafetyCode(b"g", -1, COUNTING)
    with pytest.raises(SafetyCodeError, match="empty"):
        SafetyCode(b"", 1, COUNTING)

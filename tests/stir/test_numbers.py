"""Telephone numbers: normalisation, display and digit-string ranges (PROFILE.md §3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.stir.errors import InvalidNumber
from shared.stir.numbers import (
    check_e164_digits,
    display,
    normalise,
    range_in_range,
    range_last,
    tn_in_range,
)


@pytest.mark.parametrize(
    ("human", "region", "expected"),
    [
        ("+1 (202) 555-0101", None, "12025550101"),
        ("+12025550101", None, "12025550101"),
        ("12025550101", None, "12025550101"),
        ("(202) 555-0101", "US", "12025550101"),
        ("  +44 20 7946 0958 ", None, "442079460958"),
        ("+33 1 23 45 67 89", None, "33123456789"),
    ],
)
def test_normalise_human_input(human: str, region: str | None, expected: str) -> None:
    assert normalise(human, region) == expected


@pytest.mark.parametrize(
    "human",
    ["", "   ", "hello", "+1 202 555 01", "+999 1234", "(202) 555-0101", "+1 202 555 0101 0101"],
)
def test_normalise_rejects_with_the_input_named(human: str) -> None:
    with pytest.raises(InvalidNumber) as info:
        normalise(human)
    if human.strip():
        assert repr(human) in str(info.value)


def test_display_international_format() -> None:
    assert display("12025550101") == "+1 202-555-0101"
    assert display("442079460958") == "+44 20 7946 0958"
    # TNAuthList allows # and *; such strings are shown as they are.
    assert display("1234#") == "1234#"


def test_display_round_trips_through_normalise() -> None:
    for tn in ("12025550101", "442079460958", "33123456789"):
        assert normalise(display(tn)) == tn


@pytest.mark.parametrize("bad", ["", "+12025550101", "1 202", "1234567890123456", "١٢٣"])
def test_check_e164_digits_rejects(bad: str) -> None:
    with pytest.raises(InvalidNumber):
        check_e164_digits(bad)


def test_check_e164_digits_accepts() -> None:
    assert check_e164_digits("12025550101") == "12025550101"


def test_range_keeps_length_and_leading_zeros() -> None:
    assert range_last("0010", 5) == "0014"
    assert range_last("12025550100", 100) == "12025550199"
    assert tn_in_range("0012", "0010", 5)
    assert not tn_in_range("12", "0010", 5)  # same value, other length
    assert not tn_in_range("00012", "0010", 5)


def test_range_boundaries() -> None:
    assert tn_in_range("12025550100", "12025550100", 100)
    assert tn_in_range("12025550199", "12025550100", 100)
    assert not tn_in_range("12025550200", "12025550100", 100)
    assert not tn_in_range("12025550099", "12025550100", 100)


def test_range_that_would_change_length_is_invalid() -> None:
    with pytest.raises(InvalidNumber):
        range_last("98", 3)  # 98, 99, 100
    assert range_last("98", 2) == "99"
    assert not tn_in_range("99", "98", 3)


def test_range_in_range() -> None:
    assert range_in_range("12025550110", 10, "12025550100", 100)
    assert range_in_range("12025550100", 100, "12025550100", 100)
    assert not range_in_range("12025550150", 51, "12025550100", 100)
    assert not range_in_range("1202555010", 10, "12025550100", 100)
    assert not range_in_range("12025550090", 20, "12025550100", 100)


@given(
    length=st.integers(1, 15),
    data=st.data(),
)
def test_tn_in_range_matches_integer_arithmetic_within_one_length(
    length: int, data: st.DataObject
) -> None:
    top = 10**length - 1
    start = data.draw(st.integers(0, top))
    count = data.draw(st.integers(1, top - start + 1))
    tn = data.draw(st.integers(0, top))
    s_start, s_tn = str(start).zfill(length), str(tn).zfill(length)
    assert tn_in_range(s_tn, s_start, count) == (start <= tn <= start + count - 1)
    assert len(range_last(s_start, count)) == length

"""Telephone numbers: human input to canonical E.164 digits, display, and digit-string ranges.

The canonical form on the wire (TNAuthList, PASSporT ``orig``/``dest``) is E.164 digits
only, no ``+`` and no separators (RFC 8224 §8.3, PROFILE.md §3). Parsing and display use
libphonenumber's rules (the ``phonenumbers`` package), never hand-written patterns.

Ranges (RFC 8226 §9 ``TelephoneNumberRange``, RFC 9060 delegation) are sets of digit
strings of one length: ``start`` and ``count`` cover ``start`` .. ``start + count - 1``,
keeping the length and any leading zeros. Numbers of different lengths are never in the
same range, so nothing here compares numbers as integers across lengths.
"""

from __future__ import annotations

import phonenumbers

from shared.stir.errors import InvalidNumber

# ITU-T E.164: at most 15 digits including the country code; RFC 8226 §9 bounds
# TelephoneNumber to SIZE (1..15) as well.
MAX_TN_DIGITS = 15


def normalise(human: str, default_region: str | None = None) -> str:
    """Parse a number typed by a person and return its canonical E.164 digits (no ``+``).

    ``"+1 (202) 555-0101"`` → ``"12025550101"``. Without a leading ``+`` the number is
    read in ``default_region`` (an ISO 3166 code such as ``"US"``); without a region, a
    bare run of digits is taken as already being E.164 digits. Raises
    :class:`InvalidNumber` naming the input when it is not a possible number.
    """
    text = human.strip()
    if not text:
        raise InvalidNumber("empty telephone number")
    region = default_region
    if not text.startswith("+") and default_region is None:
        if not text.isdigit():
            raise InvalidNumber(
                f"cannot read {human!r} without a country: start it with '+' and the "
                "country code, or give a default region"
            )
        text = "+" + text
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{human!r} is not a telephone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidNumber(f"{human!r} is not a possible telephone number (wrong length)")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return e164[1:]


def check_e164_digits(tn: str) -> str:
    """Check that ``tn`` is in canonical wire form (1..15 ASCII digits) and return it.

    Raises :class:`InvalidNumber` naming what is wrong.
    """
    if not tn:
        raise InvalidNumber("empty telephone number")
    if not (tn.isascii() and tn.isdigit()):
        raise InvalidNumber(f"{tn!r} is not canonical: E.164 digits only, no '+' or separators")
    if len(tn) > MAX_TN_DIGITS:
        raise InvalidNumber(f"{tn!r} has {len(tn)} digits; E.164 allows at most 15")
    return tn


def display(tn: str) -> str:
    """Format canonical digits for people: ``"12025550101"`` → ``"+1 202-555-0101"``.

    A string libphonenumber cannot read (e.g. one holding ``#`` or ``*``, which
    TNAuthList allows) is shown as ``+`` and the digits, unchanged otherwise.
    """
    if tn.isascii() and tn.isdigit():
        try:
            parsed = phonenumbers.parse("+" + tn, None)
        except phonenumbers.NumberParseException:
            return "+" + tn
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return tn


def _is_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


def range_last(start: str, count: int) -> str:
    """The last number of the range ``start`` x ``count``, as a digit string of start's length.

    Raises :class:`InvalidNumber` when ``start`` is not all digits, ``count`` is below 1,
    or the range would run past the largest number of that length (it would then hold
    numbers of two lengths, which a TN range cannot).
    """
    if not _is_digits(start):
        raise InvalidNumber(f"range start {start!r} is not all digits")
    if count < 1:
        raise InvalidNumber(f"range count {count} is below 1")
    last = int(start) + count - 1
    if last >= 10 ** len(start):
        raise InvalidNumber(
            f"range {start} x {count} runs past {'9' * len(start)}: it would change length"
        )
    return str(last).zfill(len(start))


def tn_in_range(tn: str, start: str, count: int) -> bool:
    """Whether the number ``tn`` lies in the range ``start`` x ``count``.

    Only numbers of the range's length can be in it; a range that would change length
    or holds non-digits covers nothing.
    """
    if len(tn) != len(start) or not _is_digits(tn):
        return False
    try:
        last = range_last(start, count)
    except InvalidNumber:
        return False
    # Equal-length digit strings order the same way as the numbers they spell.
    return start <= tn <= last


def range_in_range(start: str, count: int, outer_start: str, outer_count: int) -> bool:
    """Whether every number of ``start`` x ``count`` lies in ``outer_start`` x ``outer_count``."""
    if len(start) != len(outer_start):
        return False
    try:
        last = range_last(start, count)
        outer_last = range_last(outer_start, outer_count)
    except InvalidNumber:
        return False
    return outer_start <= start and last <= outer_last

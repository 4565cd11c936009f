"""Telephone numbers written in scenario files, in canonical form.

The project's one normaliser is ``shared.stir.numbers.normalise`` (PROFILE.md §3). Until
that module exists this falls back to libphonenumber directly; the fallback lives only
in this function so it is removed in one place.
"""

from __future__ import annotations

import importlib


class NumberNotValid(ValueError):
    """A scenario's telephone number is not a valid E.164 number."""


def normalise_tn(human: str) -> str:
    """E.164 digits without '+' for a number in any human form ("+1 202 555 0101").

    Raises NumberNotValid naming the input.
    """
    try:
        numbers = importlib.import_module("shared.stir.numbers")
    except ModuleNotFoundError:
        return _normalise_with_phonenumbers(human)
    try:
        digits: str = numbers.normalise(human)
    except ValueError as exc:  # shared.stir.errors.InvalidNumber is a ValueError
        raise NumberNotValid(f"{human!r} is not a valid telephone number: {exc}") from exc
    return digits


def _normalise_with_phonenumbers(human: str) -> str:
    import phonenumbers

    text = human.strip()
    # Canonical wire form has no '+': accept it as written in the contract's examples.
    if text.isdigit():
        text = "+" + text
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise NumberNotValid(f"{human!r} is not a telephone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise NumberNotValid(f"{human!r} is not a possible E.164 number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]

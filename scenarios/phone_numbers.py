"""Telephone numbers written in scenario files, in canonical form.

A thin adapter over the project's one normaliser, ``shared.stir.numbers.normalise``
(PROFILE.md §3), raising the scenario package's own error so the loader can report
the file's line and key.
"""

from __future__ import annotations

from shared.stir.errors import InvalidNumber
from shared.stir.numbers import normalise


class NumberNotValid(ValueError):
    """A scenario's telephone number is not a valid E.164 number."""


def normalise_tn(human: str) -> str:
    """E.164 digits without '+' for a number in any human form ("+1 202 555 0101").

    Raises NumberNotValid naming the input.
    """
    try:
        return normalise(human)
    except InvalidNumber as exc:
        raise NumberNotValid(f"{human!r} is not a valid telephone number: {exc}") from exc

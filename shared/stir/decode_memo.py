"""A bounded memo of decodings keyed by the exact bytes decoded.

Every joiner of a group validates every member's credential, and a client process hosts
many clients: the same credential bytes are decoded again and again. A decoding
(credential framing, a TNAuthList, claim constraints) depends on nothing but its input
bytes, so its result can be shared; no verification outcome is ever kept here, and
failures are not kept either (each bad input is decoded afresh, so it raises the same
error with the same words).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class DecodeMemo(Generic[K, V]):
    """Results of one decoding function by its exact input (bytes, or a tuple of them and
    small ints), at most ``maxsize`` of them, oldest out first."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, decode: Callable[[], V]) -> V:
        """The result for ``key``: remembered, or ``decode()`` (kept only if it returns).

        ``decode`` must compute from ``key``'s bytes alone. Safe across threads: the
        worst a race does is decode twice or drop one entry early.
        """
        hit = self._items.get(key)
        if hit is not None:
            return hit
        value = decode()
        items = self._items
        items[key] = value
        while len(items) > self.maxsize:
            try:
                items.popitem(last=False)
            except KeyError:  # another thread emptied it meanwhile
                break
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Forget every result."""
        self._items.clear()

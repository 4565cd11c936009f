"""The words for a failure that reaches the client core as an exception group.

Failures come out of nested trio nurseries (the link's, the connection reader's, the
command's) as groups inside groups; a group's own text is only "Exceptions from Trio
nursery (1 sub-exception)", so the user is shown the leaves.
"""

from __future__ import annotations

from collections.abc import Iterator


def leaf_exceptions(group: BaseExceptionGroup[BaseException]) -> Iterator[BaseException]:
    """The exceptions in ``group`` and in every group nested in it, in order."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from leaf_exceptions(exc)
        else:
            yield exc


def describe(group: BaseExceptionGroup[BaseException], *, internal: bool = False) -> str:
    """The leaves' messages joined by "; " (``internal``: their reprs, for a bug)."""
    return "; ".join(repr(e) if internal else str(e) for e in leaf_exceptions(group))

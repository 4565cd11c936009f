"""The words a failure is shown in when it comes out of nested nurseries."""

from __future__ import annotations

from client.core.connection import LinkClosed
from client.core.failures import describe, leaf_exceptions


def nested() -> ExceptionGroup[Exception]:
    inner = ExceptionGroup("inner nursery", [LinkClosed("connection lost: reset")])
    return ExceptionGroup("outer nursery", [inner, ValueError("bad frame")])


def test_leaves_of_nested_groups_in_order() -> None:
    leaves = list(leaf_exceptions(nested()))
    assert [type(e) for e in leaves] == [LinkClosed, ValueError]


def test_describe_names_the_leaves_not_the_groups() -> None:
    text = describe(nested())
    assert text == "connection lost: reset; bad frame"
    assert "nursery" not in text


def test_describe_internal_gives_reprs() -> None:
    assert describe(nested(), internal=True) == (
        "LinkClosed('connection lost: reset'); ValueError('bad frame')"
    )

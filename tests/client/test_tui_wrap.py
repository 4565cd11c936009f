"""The chat log's word wrap: within the width, nothing lost, and the fast height count
agrees with the real wrap (the scroll range depends on it)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len

from client.tui.widgets.message_log import INDENT, wrap_words, wrapped_height

words = st.text(alphabet=st.sampled_from("abcdefghij 界👋-"), max_size=120)


@given(words, st.integers(min_value=8, max_value=60))
def test_lines_fit_and_nothing_is_lost(text: str, width: int) -> None:
    lines = wrap_words(text, width)
    assert all(cell_len(line) <= width for line in lines)
    rejoined = "".join(
        line[len(INDENT) :] if n and line.startswith(INDENT) else line
        for n, line in enumerate(lines)
    )
    assert rejoined.replace(" ", "") == text.replace(" ", "")


@given(st.text(alphabet=st.sampled_from("abcdefghij  -."), max_size=300), st.integers(8, 90))
def test_fast_height_matches_the_wrap(text: str, width: int) -> None:
    assert wrapped_height(text, width) == len(wrap_words(text, width))


def test_known_wrap() -> None:
    assert wrap_words("09:30 Bob: hello world this is long", 20) == [
        "09:30 Bob: hello",
        "      world this is",
        "      long",
    ]
    assert wrap_words("x" * 30, 20) == ["x" * 20, INDENT + "x" * 10]
    assert wrap_words("short", 20) == ["short"]

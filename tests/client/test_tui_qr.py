"""The Verify screen's QR code: the text rendering carries exactly the module matrix that
the qrcode library made for the payload (two rows per line: upper as the half block's
colour, lower as its background)."""

from __future__ import annotations

from rich.style import Style

from client.tui.qr_text import DARK, UPPER_HALF, qr_matrix, qr_text
from shared.safety_code import SafetyCode


def test_rendering_round_trips_to_the_matrix() -> None:
    payload = SafetyCode(b"family-group-id!", 3, bytes(range(32))).qr_payload()
    matrix = qr_matrix(payload)
    text = qr_text(payload)
    rows = text.plain.split("\n")
    assert len(rows) == (len(matrix) + 1) // 2
    assert all(set(row) == {UPPER_HALF} and len(row) == len(matrix[0]) for row in rows)
    style_at: dict[int, Style] = {}
    for span in text.spans:
        assert isinstance(span.style, Style)
        for offset in range(span.start, span.end):
            style_at[offset] = span.style
    rebuilt: list[list[bool]] = [[] for _ in range(2 * len(rows))]
    offset = 0
    for y, row in enumerate(rows):
        for x in range(len(row)):
            style = style_at[offset + x]
            assert style.color is not None and style.bgcolor is not None
            rebuilt[2 * y].append(style.color.name == DARK)
            rebuilt[2 * y + 1].append(style.bgcolor.name == DARK)
        offset += len(row) + 1
    assert rebuilt[: len(matrix)] == matrix
    # A QR symbol: square, with the quiet zone light and the finder's dark corner.
    assert len(matrix) == len(matrix[0])
    assert not any(matrix[0]) and matrix[2][2]


def test_payload_changes_the_code() -> None:
    a = qr_matrix(SafetyCode(b"g", 3, bytes(32)).qr_payload())
    b = qr_matrix(SafetyCode(b"g", 3, bytes(31) + b"\x01").qr_payload())
    assert a != b

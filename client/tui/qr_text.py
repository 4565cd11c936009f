"""A QR code as terminal text: two modules per character cell with half blocks.

Colours are explicit (dark modules black, light modules white, with a quiet zone), so
the code scans the same on a dark or a light terminal theme.
"""

from __future__ import annotations

import qrcode  # type: ignore[import-untyped]  # no stubs published
from qrcode.constants import ERROR_CORRECT_M  # type: ignore[import-untyped]
from rich.style import Style
from rich.text import Text

DARK = "black"
LIGHT = "white"
UPPER_HALF = "▀"


def qr_matrix(payload: str, *, border: int = 2) -> list[list[bool]]:
    """The module matrix of ``payload`` (True = dark), with a quiet zone of ``border``."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=border)
    code.add_data(payload)
    code.make(fit=True)
    return [[bool(cell) for cell in row] for row in code.get_matrix()]


def render_matrix(matrix: list[list[bool]]) -> Text:
    """Render two matrix rows per text line: the upper module as the foreground of a
    half block, the lower as its background (an odd last row gets a light lower half)."""
    text = Text(no_wrap=True, overflow="crop")
    styles = {
        (top, bottom): Style(color=DARK if top else LIGHT, bgcolor=DARK if bottom else LIGHT)
        for top in (False, True)
        for bottom in (False, True)
    }
    for y in range(0, len(matrix), 2):
        upper = matrix[y]
        lower = matrix[y + 1] if y + 1 < len(matrix) else [False] * len(upper)
        for top, bottom in zip(upper, lower, strict=True):
            text.append(UPPER_HALF, styles[(top, bottom)])
        if y + 2 < len(matrix):
            text.append("\n")
    return text


def qr_text(payload: str) -> Text:
    """The QR code of ``payload`` as Rich text for a terminal."""
    return render_matrix(qr_matrix(payload))

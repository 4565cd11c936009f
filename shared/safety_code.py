"""The epoch-authenticator comparison of PROFILE.md §8: the 30-digit code and the QR payload.

Two members at the same epoch of the same group hold the same epoch authenticator
(RFC 9420 §8.7). People compare it out of band in one of two forms:

* the **code**: the first 30 bytes cut into six 5-byte chunks, each read as an unsigned
  big-endian integer mod 100000 and zero-padded, shown as six groups of five digits,
  always next to the epoch number. It keeps about 100 bits, so a provider in both halves
  of a split could grind a collision at roughly 2^50 work;
* the **QR payload** ``stirmls-verify:<group id b64url, no padding>:<epoch>:<hex>``
  carrying the full authenticator: the high-assurance path.

Pure: no I/O. The comparison of authenticators is constant-time (the values are not
secret once shown, but there is no reason to leak a prefix length while comparing).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hmac
import re
from dataclasses import dataclass
from typing import Final

CHUNK_COUNT: Final = 6
CHUNK_BYTES: Final = 5
GROUP_DIGITS: Final = 5
CODE_DIGITS: Final = CHUNK_COUNT * GROUP_DIGITS  # 30
# The code reads only the first 30 bytes; a shorter authenticator cannot make one.
MIN_AUTHENTICATOR_BYTES: Final = CHUNK_COUNT * CHUNK_BYTES
QR_SCHEME: Final = "stirmls-verify"

HIGH_ASSURANCE_NOTE: Final = (
    "The 30-digit code keeps about 100 bits; scanning the QR code compares the full "
    "authenticator and is the high-assurance check."
)

_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_HEX = re.compile(r"[0-9a-fA-F]+")


class SafetyCodeError(ValueError):
    """A safety code, QR payload or authenticator that is not well formed; says what is wrong."""


def code_digits(authenticator: bytes) -> str:
    """The 30 digits of PROFILE.md §8 for an epoch authenticator (no separators)."""
    if len(authenticator) < MIN_AUTHENTICATOR_BYTES:
        raise SafetyCodeError(
            f"epoch authenticator is {len(authenticator)} bytes; the code needs at least "
            f"{MIN_AUTHENTICATOR_BYTES}"
        )
    parts = []
    for i in range(CHUNK_COUNT):
        chunk = authenticator[i * CHUNK_BYTES : (i + 1) * CHUNK_BYTES]
        parts.append(f"{int.from_bytes(chunk, 'big') % 10**GROUP_DIGITS:0{GROUP_DIGITS}d}")
    return "".join(parts)


def code_groups(digits: str) -> tuple[str, ...]:
    """Split 30 digits into the six groups of five shown to people."""
    _check_digits(digits)
    return tuple(digits[i : i + GROUP_DIGITS] for i in range(0, CODE_DIGITS, GROUP_DIGITS))


def format_code(digits: str) -> str:
    """The code as people read it aloud: six groups of five separated by spaces."""
    return " ".join(code_groups(digits))


def normalise_typed_code(text: str) -> str:
    """Digits of a code typed by a person: spaces and dashes are dropped, nothing else is.

    Raises SafetyCodeError naming the problem (a non-digit, or the wrong number of digits).
    """
    cleaned = re.sub(r"[\s-]", "", text)
    for ch in cleaned:
        if not ch.isascii() or not ch.isdigit():
            raise SafetyCodeError(f"a safety code holds only digits; found {ch!r}")
    if len(cleaned) != CODE_DIGITS:
        raise SafetyCodeError(f"a safety code has {CODE_DIGITS} digits; {len(cleaned)} were given")
    return cleaned


def _check_digits(digits: str) -> None:
    if len(digits) != CODE_DIGITS or not (digits.isascii() and digits.isdigit()):
        raise SafetyCodeError(f"expected {CODE_DIGITS} ASCII digits, got {digits!r}")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    if not text or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise SafetyCodeError(f"group id {text!r} is not unpadded base64url")
    decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64url(decoded) != text:
        # Non-canonical trailing bits: two strings would name one group id.
        raise SafetyCodeError(f"group id {text!r} is not canonical base64url")
    return decoded


class Comparison(enum.Enum):
    """Outcome of comparing our epoch state with what another member shows."""

    MATCH = "match"
    MISMATCH = "mismatch"  # same group and epoch, different authenticator: not one group
    DIFFERENT_EPOCH = "different-epoch"  # cannot compare: one side must catch up first
    DIFFERENT_GROUP = "different-group"  # the other side scanned a code for another group


@dataclass(frozen=True)
class SafetyCode:
    """The comparable state of one member at one epoch of one group."""

    group_id: bytes
    epoch: int
    authenticator: bytes

    def __post_init__(self) -> None:
        if self.epoch < 0:
            raise SafetyCodeError(f"epoch must not be negative, got {self.epoch}")
        if not self.group_id:
            raise SafetyCodeError("group id must not be empty")
        code_digits(self.authenticator)  # validates the length

    @property
    def digits(self) -> str:
        """The 30 digits, no separators."""
        return code_digits(self.authenticator)

    @property
    def groups(self) -> tuple[str, ...]:
        """The six groups of five digits."""
        return code_groups(self.digits)

    @property
    def display(self) -> str:
        """The code as shown: six groups of five separated by spaces."""
        return format_code(self.digits)

    def qr_payload(self) -> str:
        """``stirmls-verify:<group id b64url>:<epoch>:<hex of the full authenticator>``."""
        return f"{QR_SCHEME}:{_b64url(self.group_id)}:{self.epoch}:{self.authenticator.hex()}"

    def compare(self, other: SafetyCode) -> Comparison:
        """Compare full authenticators (the QR path)."""
        if self.group_id != other.group_id:
            return Comparison.DIFFERENT_GROUP
        if self.epoch != other.epoch:
            return Comparison.DIFFERENT_EPOCH
        if hmac.compare_digest(self.authenticator, other.authenticator):
            return Comparison.MATCH
        return Comparison.MISMATCH

    def compare_digits(self, typed: str) -> Comparison:
        """Compare with a 30-digit code read out by the other member at our epoch.

        The caller is responsible for both sides being at the same epoch (the code is
        always shown next to it); only MATCH or MISMATCH can come out.
        """
        other = normalise_typed_code(typed)
        if hmac.compare_digest(self.digits.encode(), other.encode()):
            return Comparison.MATCH
        return Comparison.MISMATCH


def parse_qr_payload(text: str) -> SafetyCode:
    """Parse a QR payload; raises SafetyCodeError naming the faulty part."""
    parts = text.strip().split(":")
    if len(parts) != 4:
        raise SafetyCodeError(
            f"a verify payload has 4 ':'-separated parts "
            f"({QR_SCHEME}:<group>:<epoch>:<hex>); got {len(parts)}"
        )
    scheme, group_b64, epoch_text, auth_hex = parts
    if scheme != QR_SCHEME:
        raise SafetyCodeError(f"verify payload must start with {QR_SCHEME!r}, got {scheme!r}")
    group_id = _b64url_decode(group_b64)
    if not epoch_text.isascii() or not epoch_text.isdigit():
        raise SafetyCodeError(f"epoch {epoch_text!r} is not a decimal number")
    if len(epoch_text) > 1 and epoch_text.startswith("0"):
        raise SafetyCodeError(f"epoch {epoch_text!r} has a leading zero")
    epoch = int(epoch_text)
    if epoch >= 2**64:
        raise SafetyCodeError(f"epoch {epoch_text} does not fit in 64 bits")
    if not _HEX.fullmatch(auth_hex) or len(auth_hex) % 2:
        raise SafetyCodeError("authenticator is not an even-length hex string")
    try:
        authenticator = binascii.unhexlify(auth_hex)
    except binascii.Error as exc:  # pragma: no cover - excluded by the regex above
        raise SafetyCodeError(f"authenticator is not hex: {exc}") from exc
    return SafetyCode(group_id=group_id, epoch=epoch, authenticator=authenticator)

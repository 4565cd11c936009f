"""TNAuthList (RFC 8226 §9): the telephone numbers and codes a STIR certificate speaks for.

ASN.1 (RFC 8226 Appendix A, a module with EXPLICIT TAGS)::

    TNAuthorizationList ::= SEQUENCE SIZE (1..MAX) OF TNEntry
    TNEntry ::= CHOICE {
      spc   [0] ServiceProviderCode,
      range [1] TelephoneNumberRange,
      one   [2] TelephoneNumber }
    ServiceProviderCode ::= IA5String
    TelephoneNumberRange ::= SEQUENCE { start TelephoneNumber, count INTEGER (2..MAX), ... }
    TelephoneNumber ::= IA5String (SIZE (1..15)) (FROM ("0123456789#*"))

Encoding and decoding go through cryptography's declarative ``hazmat.asn1`` module
(DER, strict: trailing bytes, bad lengths and unknown tags are errors). The constraints
that module does not enforce (the list is non-empty, the TN alphabet and size, count >= 2)
are checked here. Containment (RFC 9060 delegation) compares equal-length digit strings
via :mod:`shared.stir.numbers`.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Any, Literal

import cryptography.hazmat.asn1 as asn1
from cryptography import x509
from cryptography.hazmat.asn1 import asn1 as _asn1_impl

from shared.profile import OID_TNAUTHLIST
from shared.stir import numbers
from shared.stir.errors import InvalidNumber, MalformedError

_TN_ALPHABET = frozenset("0123456789#*")
_TN_PATTERN = re.compile(rf"[0-9#*]{{1,{numbers.MAX_TN_DIGITS}}}")


@dataclass(frozen=True)
class SPC:
    """``spc`` entry: a Service Provider Code (in the US, the carrier's OCN)."""

    code: str

    def __post_init__(self) -> None:
        # RFC 8226 only says IA5String; an empty or space-holding code names no provider,
        # and printable ASCII keeps codes unambiguous when shown or used as file names.
        if not self.code or not all("!" <= ch <= "~" for ch in self.code):
            raise MalformedError(
                f"TNAuthList spc {self.code!r}: a service provider code must be non-empty "
                "printable ASCII without spaces"
            )


@dataclass(frozen=True)
class TNRange:
    """``range`` entry: ``count`` numbers from ``start`` on, all of start's length."""

    start: str
    count: int

    def __post_init__(self) -> None:
        _check_tn(self.start, "range start")
        if self.count < 2:
            raise MalformedError(f"TNAuthList range count {self.count} is below 2 (RFC 8226 §9)")
        try:
            numbers.range_last(self.start, self.count)
        except InvalidNumber as exc:
            raise MalformedError(f"TNAuthList range: {exc}") from exc

    @cached_property
    def last(self) -> str:
        """The last number of the range (same length as ``start``)."""
        return numbers.range_last(self.start, self.count)


@dataclass(frozen=True)
class OneTN:
    """``one`` entry: a single telephone number."""

    tn: str

    def __post_init__(self) -> None:
        _check_tn(self.tn, "one")


TNEntry = SPC | TNRange | OneTN
"""One entry of a TNAuthList."""

NumberScope = TNRange | OneTN
"""Entries that name telephone numbers (not a provider code)."""


@dataclass(frozen=True)
class TNAuthList:
    """A decoded TNAuthList: one or more entries, in certificate order."""

    entries: tuple[TNEntry, ...]

    def __post_init__(self) -> None:
        if not self.entries:
            raise MalformedError("TNAuthList is empty; RFC 8226 §9 requires SIZE (1..MAX)")

    @property
    def spcs(self) -> tuple[str, ...]:
        """The service provider codes among the entries."""
        return tuple(e.code for e in self.entries if isinstance(e, SPC))

    @property
    def number_entries(self) -> tuple[NumberScope, ...]:
        """The TN and range entries (the numbers it names directly)."""
        return tuple(e for e in self.entries if not isinstance(e, SPC))

    @cached_property
    def description(self) -> str:
        """The entries for people, joined by ``", "``: an SPC code, a number, or a range
        as ``start..last`` (made once: a signer's TNAuthList describes every PASSporT it
        signs)."""
        return ", ".join(
            e.code
            if isinstance(e, SPC)
            else e.tn
            if isinstance(e, OneTN)
            else f"{e.start}..{e.last}"
            for e in self.entries
        )

    @cached_property
    def spc_only(self) -> bool:
        """Whether every entry is an SPC (a carrier-level certificate, PROFILE.md §4.4)."""
        return all(isinstance(e, SPC) for e in self.entries)


def _check_tn(tn: str, what: str) -> None:
    if _TN_PATTERN.fullmatch(tn):
        return  # the common case in one step; the checks below say what is wrong
    if not 1 <= len(tn) <= numbers.MAX_TN_DIGITS:
        raise MalformedError(
            f"TNAuthList {what} {tn!r}: a TelephoneNumber has 1 to 15 characters (RFC 8226 §9)"
        )
    if not set(tn) <= _TN_ALPHABET:
        raise MalformedError(
            f"TNAuthList {what} {tn!r}: a TelephoneNumber holds only 0-9, # and * (RFC 8226 §9)"
        )


def parse_entry(text: str, default_region: str | None = None) -> TNEntry:
    """Read a TNAuthList entry typed by a person (for CLIs and scenario files).

    ``spc:1234`` is an SPC; ``12025550100..12025550199`` (equal-length digit strings)
    and ``12025550100x100`` (start and count) are ranges; anything else is one number,
    normalised with :func:`shared.stir.numbers.normalise` unless it is already wire
    digits (which keeps leading zeros and TNAuthList's ``#``/``*``). Raises
    :class:`MalformedError` or :class:`InvalidNumber` naming the input.
    """
    text = text.strip()
    if text.lower().startswith("spc:"):
        return SPC(text[4:])
    if ".." in text:
        first, _, last = text.partition("..")
        if len(first) != len(last) or not (
            first.isascii() and first.isdigit() and last.isascii() and last.isdigit()
        ):
            raise MalformedError(
                f"range {text!r}: give two digit strings of the same length, START..END"
            )
        if last < first:
            raise MalformedError(f"range {text!r} ends before it starts")
        return TNRange(first, int(last) - int(first) + 1)
    start, sep, count = text.partition("x")
    if sep and start.isascii() and start.isdigit() and count.isascii() and count.isdigit():
        return TNRange(start, int(count))
    if text and set(text) <= _TN_ALPHABET:
        return OneTN(text)
    return OneTN(numbers.normalise(text, default_region))


# --- ASN.1 schema (cryptography.hazmat.asn1) --------------------------------------------


@asn1.sequence
class _TelephoneNumberRange:
    start: asn1.IA5String
    count: int


_TNEntrySchema = (
    Annotated[asn1.Variant[asn1.IA5String, Literal["spc"]], asn1.Explicit(0)]
    | Annotated[asn1.Variant[_TelephoneNumberRange, Literal["range"]], asn1.Explicit(1)]
    | Annotated[asn1.Variant[asn1.IA5String, Literal["one"]], asn1.Explicit(2)]
)


class _TNAuthorizationList(list[Any]):
    """Top-level ``SEQUENCE OF TNEntry`` for encode_der/decode_der.

    cryptography 48.0.0's decode_der/encode_der accept only classes carrying a root type,
    and the public API gives roots only to @sequence/@set classes; a bare SEQUENCE OF at
    the top level arrives upstream with pyca/cryptography#15501, which normalises
    ``list[T]`` through the same ``_normalize_field_type`` used here. Until then this class
    carries that root itself. cryptography is pinned exactly (pyproject.toml), and the
    tests round-trip RFC 8226's example byte for byte against pyasn1, so a change here
    fails loudly rather than silently.
    """

    __asn1_root__ = _asn1_impl._normalize_field_type(list[_TNEntrySchema], "TNAuthList").inner


# rust-asn1's parse error kinds, in words for people; the library's own text follows.
_DER_ERROR_WORDS = (
    ("ShortData", "truncated: a length runs past the end of the data"),
    ("InvalidLength", "a length is not valid DER"),
    ("UnexpectedTag", "a field has the wrong ASN.1 type"),
    ("ExtraData", "trailing bytes after the structure"),
    ("InvalidValue", "a value is not valid for its type"),
    ("InvalidTag", "a tag is not valid DER"),
    ("matching variant", "an element is not one of the CHOICE's tagged alternatives"),
)


def explain_der_error(structure: str, exc: ValueError) -> MalformedError:
    """A :class:`MalformedError` for a DER parse failure, in words plus the library's text."""
    raw = str(exc)
    words = next((w for key, w in _DER_ERROR_WORDS if key in raw), "not valid DER")
    return MalformedError(f"{structure} is malformed: {words} ({raw})")


def _entry_from_asn1(item: Any) -> TNEntry:
    tag = item.tag
    if tag == "spc":
        return SPC(item.value.as_str())
    if tag == "one":
        return OneTN(item.value.as_str())
    rng = item.value
    return TNRange(rng.start.as_str(), rng.count)


def _entry_to_asn1(entry: TNEntry) -> Any:
    if isinstance(entry, SPC):
        return asn1.Variant(asn1.IA5String(entry.code), "spc")
    if isinstance(entry, OneTN):
        return asn1.Variant(asn1.IA5String(entry.tn), "one")
    return asn1.Variant(
        _TelephoneNumberRange(start=asn1.IA5String(entry.start), count=entry.count), "range"
    )


def decode_tnauthlist(der: bytes) -> TNAuthList:
    """Decode the DER of a TNAuthList (a certificate extension's value).

    Raises :class:`MalformedError` naming what is wrong: not DER, wrong structure
    (e.g. an untagged string instead of the SEQUENCE OF), an empty list, a TN outside
    0-9#* or longer than 15, a count below 2.
    """
    try:
        items = asn1.decode_der(_TNAuthorizationList, bytes(der))
    except ValueError as exc:
        raise explain_der_error("TNAuthList (SEQUENCE OF TNEntry)", exc) from exc
    return TNAuthList(tuple(_entry_from_asn1(item) for item in items))


def encode_tnauthlist(tnauthlist: TNAuthList | Sequence[TNEntry]) -> bytes:
    """Encode a TNAuthList (or a sequence of entries) as DER."""
    if not isinstance(tnauthlist, TNAuthList):
        tnauthlist = TNAuthList(tuple(tnauthlist))
    value = _TNAuthorizationList(_entry_to_asn1(e) for e in tnauthlist.entries)
    return bytes(asn1.encode_der(value))


def tnauthlist_extension(cert: x509.Certificate) -> x509.Extension[x509.ExtensionType] | None:
    """The certificate's TNAuthList extension (value undecoded), or None when absent.

    Raises :class:`MalformedError` when the certificate's extensions do not parse.
    """
    try:
        return cert.extensions.get_extension_for_oid(OID_TNAUTHLIST)
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension) as exc:
        raise MalformedError(f"certificate extensions do not parse: {exc}") from exc


def extension_der(ext: x509.Extension[x509.ExtensionType]) -> bytes:
    """The raw DER of an extension value cryptography does not know (the extnValue)."""
    value = ext.value
    if isinstance(value, x509.UnrecognizedExtension):
        return bytes(value.value)
    # cryptography decodes the extensions it knows; re-encode those.
    return bytes(value.public_bytes())


def tnauthlist_of(cert: x509.Certificate) -> TNAuthList | None:
    """Decode the certificate's TNAuthList, or None when it has none.

    Raises :class:`MalformedError` when the extension is present but malformed.
    """
    ext = tnauthlist_extension(cert)
    if ext is None:
        return None
    return decode_tnauthlist(extension_der(ext))


# --- containment (RFC 9060 delegation) ---------------------------------------------------

SPCAssignments = Mapping[str, Sequence[NumberScope]]
"""Which numbers each service provider code holds (the configured SPC→numbers table)."""


class Coverage(enum.Enum):
    """Whether a scope lies inside a TNAuthList's entries."""

    COVERED = "covered"
    NOT_COVERED = "not-covered"
    # Not covered by any TN or range entry, and an SPC entry might cover it, but the
    # assignments table says nothing about that SPC ("cannot show SPC covers TN").
    SPC_UNASSIGNED = "spc-unassigned"


def _number_in(inner: NumberScope, outer: NumberScope) -> bool:
    if isinstance(inner, OneTN):
        return _tn_in(inner.tn, outer)
    if isinstance(outer, OneTN):
        return False
    # numbers.range_in_range, with each range's last number computed once per range
    # (valid: TNRange checks it when made).
    return (
        len(inner.start) == len(outer.start)
        and outer.start <= inner.start
        and inner.last <= outer.last
    )


def coverage(
    inner: TNEntry | str,
    entries: TNAuthList | Iterable[TNEntry],
    spc_assignments: SPCAssignments | None = None,
) -> Coverage:
    """Whether ``inner`` (a TN string or an entry) lies inside one of ``entries``.

    A TN lies in an equal TN or a range holding it; a range lies in a range holding all
    its numbers; an SPC lies only in the same SPC. A TN or range lies in an SPC entry only
    through ``spc_assignments`` (the SPC's assigned numbers must hold it); when that is
    the only way it could be covered and the SPC has no assignment, the answer is
    :attr:`Coverage.SPC_UNASSIGNED`.
    """
    if isinstance(entries, TNAuthList):
        entries = entries.entries
    if isinstance(inner, str):
        return _tn_coverage(inner, entries, spc_assignments)
    assignments = spc_assignments or {}
    unassigned_spc = False
    for outer in entries:
        if isinstance(inner, SPC):
            if isinstance(outer, SPC) and outer.code == inner.code:
                return Coverage.COVERED
            continue
        if isinstance(outer, SPC):
            held = assignments.get(outer.code)
            if held is None:
                unassigned_spc = True
            elif any(_number_in(inner, scope) for scope in held):
                return Coverage.COVERED
            continue
        if _number_in(inner, outer):
            return Coverage.COVERED
    return Coverage.SPC_UNASSIGNED if unassigned_spc else Coverage.NOT_COVERED


def _tn_in(tn: str, scope: NumberScope) -> bool:
    # numbers.tn_in_range with the range's last number computed once per range.
    if isinstance(scope, OneTN):
        return scope.tn == tn
    return len(tn) == len(scope.start) and tn.isdigit() and scope.start <= tn <= scope.last


def _tn_coverage(
    tn: str, entries: Iterable[TNEntry], assignments: SPCAssignments | None
) -> Coverage:
    """:func:`coverage` of one number given as a string (a PASSporT's orig, a claimed
    number: the common case), without making an entry of it."""
    _check_tn(tn, "one")  # what OneTN(tn) would check (so tn is ASCII from here on)
    unassigned_spc = False
    for outer in entries:
        if isinstance(outer, SPC):
            held = assignments.get(outer.code) if assignments else None
            if held is None:
                unassigned_spc = True
            elif any(_tn_in(tn, scope) for scope in held):
                return Coverage.COVERED
        elif _tn_in(tn, outer):
            return Coverage.COVERED
    return Coverage.SPC_UNASSIGNED if unassigned_spc else Coverage.NOT_COVERED


def tn_covered(
    tn: str,
    entries: TNAuthList | Iterable[TNEntry],
    spc_assignments: SPCAssignments | None = None,
) -> bool:
    """Whether the telephone number ``tn`` is authorised by ``entries`` (see :func:`coverage`)."""
    return coverage(tn, entries, spc_assignments) is Coverage.COVERED


def entries_within(
    inner: TNAuthList | Iterable[TNEntry],
    outer: TNAuthList | Iterable[TNEntry],
    spc_assignments: SPCAssignments | None = None,
) -> Coverage:
    """Whether every entry of ``inner`` lies inside some entry of ``outer`` (RFC 9060).

    Returns the first failing entry's :class:`Coverage`, or ``COVERED`` when all lie inside.
    """
    outer_entries = tuple(outer.entries if isinstance(outer, TNAuthList) else outer)
    inner_entries = inner.entries if isinstance(inner, TNAuthList) else inner
    for entry in inner_entries:
        result = coverage(entry, outer_entries, spc_assignments)
        if result is not Coverage.COVERED:
            return result
    return Coverage.COVERED

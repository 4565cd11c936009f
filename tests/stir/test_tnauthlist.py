"""TNAuthList codec (RFC 8226 §9) against pyasn1-alt-modules as the oracle, plus containment."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1_alt_modules import rfc8226

from shared.stir import numbers
from shared.stir.errors import InvalidNumber, MalformedError
from shared.stir.tnauthlist import (
    SPC,
    Coverage,
    OneTN,
    TNAuthList,
    TNEntry,
    TNRange,
    coverage,
    decode_tnauthlist,
    encode_tnauthlist,
    entries_within,
    parse_entry,
    tn_covered,
    tnauthlist_of,
)
from shared.stir.validator import describe_entries

VECTORS = Path(__file__).resolve().parent / ".." / ".." / ".." / "shared" / "vectors" / "stir"


def _oracle_decode(der: bytes) -> list[TNEntry]:
    """Decode with pyasn1 (the test oracle) into our entry values."""
    value, rest = der_decoder.decode(der, asn1Spec=rfc8226.TNAuthorizationList())
    assert rest == b""
    out: list[TNEntry] = []
    for entry in value:
        name = entry.getName()
        if name == "spc":
            out.append(SPC(str(entry["spc"])))
        elif name == "one":
            out.append(OneTN(str(entry["one"])))
        else:
            out.append(TNRange(str(entry["range"]["start"]), int(entry["range"]["count"])))
    return out


def _oracle_encode(entries: list[TNEntry]) -> bytes:
    value = rfc8226.TNAuthorizationList()
    for i, e in enumerate(entries):
        entry = rfc8226.TNEntry()
        if isinstance(e, SPC):
            entry["spc"] = e.code
        elif isinstance(e, OneTN):
            entry["one"] = e.tn
        else:
            entry["range"]["start"] = e.start
            entry["range"]["count"] = e.count
        value[i] = entry
    return bytes(der_encoder.encode(value))


def _load(name: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((VECTORS / name).read_bytes())


def test_rfc8226_example_round_trips_byte_identically() -> None:
    der = base64.b64decode((VECTORS / "bogus_tnal.b64").read_text())
    tnal = decode_tnauthlist(der)
    assert tnal.entries == (
        SPC("bogus"),
        TNRange("5715551212", 788),
        OneTN("7035551212"),
    )
    assert encode_tnauthlist(tnal) == der
    assert list(tnal.entries) == _oracle_decode(der)


@pytest.mark.parametrize(
    ("vector", "entries"),
    [
        ("fake_spc_cert.pem", (SPC("fake"),)),
        ("ejwtcc_cert.pem", (SPC("1234"),)),
        ("zlint_shakenCert.pem", (SPC("6628"),)),
        ("zlint_shakenTNAuthWithoutSPC.pem", (OneTN("1234"),)),
        ("zlint_shakenTNAuthMultiple.pem", (SPC("6628"), SPC("6628"))),
        ("martini_acme_spc1234.pem", (SPC("1234"),)),
    ],
)
def test_vector_certificates_parse(vector: str, entries: tuple[TNEntry, ...]) -> None:
    tnal = tnauthlist_of(_load(vector))
    assert tnal is not None
    assert tnal.entries == entries


@pytest.mark.parametrize(
    ("vector", "reason"),
    [
        ("martini_telonium_633K_printablestring.pem", "not one of the CHOICE's tagged"),
        ("martini_mypbx_truncated.pem", "truncated"),
        ("signalwire_sp.pem", "wrong ASN.1 type"),
    ],
)
def test_malformed_real_certificates_are_rejected_with_a_reason(vector: str, reason: str) -> None:
    # The certificates themselves load; only their TNAuthList is broken.
    try:
        cert = _load(vector)
    except ValueError as exc:  # pragma: no cover - cryptography refusing is also a rejection
        pytest.fail(f"expected the certificate to load and its TNAuthList to fail: {exc}")
    with pytest.raises(MalformedError) as info:
        tnauthlist_of(cert)
    assert str(info.value).startswith("TNAuthList (SEQUENCE OF TNEntry) is malformed: ")
    assert reason in str(info.value)


def test_certificate_without_tnauthlist() -> None:
    assert tnauthlist_of(_load("signalwire_ca.pem")) is None


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: TNAuthList(()), "empty"),
        (lambda: OneTN(""), "1 to 15"),
        (lambda: OneTN("1234567890123456"), "1 to 15"),
        (lambda: OneTN("+12025550101"), "0-9, # and *"),
        (lambda: OneTN("202 555"), "0-9, # and *"),
        (lambda: TNRange("12025550100", 1), "below 2"),
        (lambda: TNRange("12025550100", 0), "below 2"),
        (lambda: TNRange("98", 5), "change length"),
        (lambda: SPC(""), "service provider code"),
        (lambda: SPC("a b"), "service provider code"),
    ],
)
def test_constraints_the_library_does_not_enforce(make: object, fragment: str) -> None:
    assert callable(make)
    with pytest.raises(MalformedError, match=fragment):
        make()


def _raw_one_entries(tns: list[str]) -> bytes:
    """DER of a SEQUENCE OF [2] EXPLICIT IA5String built without pyasn1's TN constraints."""
    from pyasn1.type import char, tag, univ

    value = univ.SequenceOf(componentType=univ.Any())
    for i, tn in enumerate(tns):
        inner = char.IA5String(tn).subtype(
            explicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 2)
        )
        value[i] = univ.Any(der_encoder.encode(inner))
    return bytes(der_encoder.encode(value))


@pytest.mark.parametrize(
    ("tns", "fragment"),
    [
        ([], "empty"),
        (["x"], "0-9"),
        (["12025550101", "+1202"], "0-9"),
        (["1234567890123456"], "1 to 15"),
        ([""], "1 to 15"),
    ],
)
def test_decoding_checks_constraints(tns: list[str], fragment: str) -> None:
    with pytest.raises(MalformedError, match=fragment):
        decode_tnauthlist(_raw_one_entries(tns))


def test_decoding_rejects_count_below_two_and_implicit_tags() -> None:
    from pyasn1.type import tag, univ

    good = _oracle_encode([TNRange("12025550100", 2)])
    assert decode_tnauthlist(good).entries == (TNRange("12025550100", 2),)
    # count 1: patch the INTEGER content byte of the range (last byte of the DER).
    bad = good[:-1] + b"\x01"
    with pytest.raises(MalformedError, match="below 2"):
        decode_tnauthlist(bad)
    # IMPLICIT [2] instead of EXPLICIT [2]: must not be accepted.
    implicit = univ.SequenceOf(componentType=univ.Any())
    implicit[0] = univ.Any(
        der_encoder.encode(
            rfc8226.TelephoneNumber("1234").subtype(
                implicitTag=tag.Tag(tag.tagClassContext, tag.tagFormatSimple, 2)
            )
        )
    )
    with pytest.raises(MalformedError):
        decode_tnauthlist(bytes(der_encoder.encode(implicit)))


def test_trailing_bytes_are_rejected() -> None:
    der = encode_tnauthlist([OneTN("12025550101")])
    with pytest.raises(MalformedError):
        decode_tnauthlist(der + b"\x00")


# --- property-based: our codec against the oracle ---------------------------------------

_tn_chars = st.sampled_from("0123456789#*")
_tns = st.text(_tn_chars, min_size=1, max_size=15)
_spcs = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)


@st.composite
def _ranges(draw: st.DrawFn) -> TNRange:
    length = draw(st.integers(1, 15))
    top = 10**length - 1
    start = draw(st.integers(0, top - 1))
    count = draw(st.integers(2, min(top - start + 1, 10**9)))
    return TNRange(str(start).zfill(length), count)


_entries = st.one_of(_spcs.map(SPC), _tns.map(OneTN), _ranges())


@given(st.lists(_entries, min_size=1, max_size=8))
def test_round_trip_and_oracle_agree(entries: list[TNEntry]) -> None:
    der = encode_tnauthlist(entries)
    assert der == _oracle_encode(entries)
    assert _oracle_decode(der) == entries
    assert decode_tnauthlist(der).entries == tuple(entries)


@given(st.binary(max_size=80))
def test_random_bytes_only_raise_malformed(data: bytes) -> None:
    try:
        decoded = decode_tnauthlist(data)
    except MalformedError:
        return
    assert encode_tnauthlist(decoded) == data  # DER: one encoding per value


@given(st.lists(_entries, min_size=1, max_size=4), st.data())
def test_mutated_encodings_only_raise_malformed(
    entries: list[TNEntry], data: st.DataObject
) -> None:
    der = bytearray(encode_tnauthlist(entries))
    i = data.draw(st.integers(0, len(der) - 1))
    der[i] = data.draw(st.integers(0, 255))
    try:
        decoded = decode_tnauthlist(bytes(der))
    except MalformedError:
        return
    # Whatever still decodes re-encodes to the same bytes (DER is canonical).
    assert encode_tnauthlist(decoded) == bytes(der)


# --- containment (RFC 9060) --------------------------------------------------------------

PROVIDER = TNAuthList((TNRange("12025550100", 100),))


def test_tn_covered_by_range_and_one() -> None:
    assert tn_covered("12025550150", PROVIDER)
    assert not tn_covered("12025550200", PROVIDER)
    assert tn_covered("12025550101", [OneTN("12025550101")])
    assert not tn_covered("12025550102", [OneTN("12025550101")])


def test_leading_zeros_and_length_mismatch() -> None:
    entries = [TNRange("0010", 10)]
    assert tn_covered("0015", entries)
    assert not tn_covered("15", entries)
    assert not tn_covered("00015", entries)


def test_spc_covers_only_through_assignments() -> None:
    spc_only = [SPC("1234")]
    assert coverage("12025550101", spc_only) is Coverage.SPC_UNASSIGNED
    assert coverage("12025550101", spc_only, {"1234": [TNRange("12025550100", 100)]}) is (
        Coverage.COVERED
    )
    assert coverage("12025550201", spc_only, {"1234": [TNRange("12025550100", 100)]}) is (
        Coverage.NOT_COVERED
    )
    assert coverage(SPC("1234"), spc_only) is Coverage.COVERED
    assert coverage(SPC("9999"), spc_only) is Coverage.NOT_COVERED


def test_entries_within_for_delegation() -> None:
    assert entries_within([TNRange("12025550110", 10)], PROVIDER) is Coverage.COVERED
    assert entries_within([OneTN("12025550110")], PROVIDER) is Coverage.COVERED
    # Wider than the issuer: not inside.
    assert entries_within([TNRange("12025550100", 101)], PROVIDER) is Coverage.NOT_COVERED
    # Every entry must lie inside.
    assert (
        entries_within([OneTN("12025550110"), OneTN("12025559999")], PROVIDER)
        is Coverage.NOT_COVERED
    )
    # An SPC under a TN-range issuer is never inside.
    assert entries_within([SPC("1234")], PROVIDER) is Coverage.NOT_COVERED


def test_tnauthlist_views() -> None:
    tnal = TNAuthList((SPC("1234"), OneTN("12025550101")))
    assert tnal.spcs == ("1234",)
    assert tnal.number_entries == (OneTN("12025550101"),)
    assert not tnal.spc_only
    assert TNAuthList((SPC("1"),)).spc_only


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("spc:1234", SPC("1234")),
        ("12025550100..12025550199", TNRange("12025550100", 100)),
        ("0010..0014", TNRange("0010", 5)),
        ("12025550100x100", TNRange("12025550100", 100)),
        ("12025550101", OneTN("12025550101")),
        ("00123", OneTN("00123")),
        ("1234#", OneTN("1234#")),
        ("+1 (202) 555-0101", OneTN("12025550101")),
    ],
)
def test_parse_entry(text: str, entry: TNEntry) -> None:
    assert parse_entry(text) == entry


@pytest.mark.parametrize(
    "text", ["spc:", "100..1000", "199..100", "12025550100x1", "98x5", "hello", "+1 202"]
)
def test_parse_entry_rejects(text: str) -> None:
    with pytest.raises((MalformedError, InvalidNumber)):
        parse_entry(text)


@given(_ranges(), st.data())
def test_range_inside_range_means_every_number_is_covered(
    outer: TNRange, data: st.DataObject
) -> None:
    length = len(outer.start)
    lo = int(outer.start)
    hi = lo + outer.count - 1
    start = data.draw(st.integers(max(0, lo - 3), min(hi, 10**length - 2)))
    count = data.draw(st.integers(2, min(10**length - start, hi - lo + 5)))
    inner = TNRange(str(start).zfill(length), count)
    inside = entries_within([inner], [outer]) is Coverage.COVERED
    assert inside == (lo <= start and start + count - 1 <= hi)
    probe = data.draw(st.integers(start, start + count - 1))
    if inside:
        assert tn_covered(str(probe).zfill(length), [outer])


@st.composite
def _near_tns(draw: st.DrawFn, entries: list[TNEntry]) -> str:
    """A number inside, at the edge of, or just outside one of ``entries``, or any."""
    ranges = [e for e in entries if isinstance(e, TNRange)]
    if ranges and draw(st.booleans()):
        r = draw(st.sampled_from(ranges))
        n = int(r.start) + draw(st.sampled_from([-1, 0, r.count // 2, r.count - 1, r.count]))
        return str(max(n, 0)).zfill(len(r.start))[: len(r.start) + 1]
    ones = [e.tn for e in entries if isinstance(e, OneTN)]
    if ones and draw(st.booleans()):
        return draw(st.sampled_from(ones))
    return draw(_tns)


@given(st.lists(_entries, min_size=1, max_size=5), st.data())
def test_number_coverage_is_the_entry_coverage(entries: list[TNEntry], data: st.DataObject) -> None:
    """A number given as a string is covered exactly as its OneTN entry is (the string
    path does not make the entry), with and without SPC assignments."""
    tn = data.draw(_near_tns(entries))
    spcs = [e.code for e in entries if isinstance(e, SPC)]
    assigned = {code: (data.draw(_ranges()), OneTN(tn)) for code in spcs[:1]}
    for table in (None, {}, assigned):
        assert coverage(tn, entries, table) is coverage(OneTN(tn), entries, table)
        assert coverage(tn, TNAuthList(tuple(entries)), table) is coverage(
            OneTN(tn), entries, table
        )


def test_number_coverage_checks_the_number_as_an_entry_does() -> None:
    for bad in ("", "1" * 16, "12a"):
        with pytest.raises(MalformedError):
            coverage(bad, [TNRange("12025550100", 100)])


@given(st.lists(_entries, min_size=1, max_size=6))
def test_description_is_the_validators_description(entries: list[TNEntry]) -> None:
    assert TNAuthList(tuple(entries)).description == describe_entries(entries)


@given(_ranges(), _ranges(), _tns)
def test_containment_agrees_with_the_digit_string_rules(
    inner: TNRange, outer: TNRange, tn: str
) -> None:
    """Containment with each range's last number cached is numbers' containment."""
    assert (coverage(inner, [outer]) is Coverage.COVERED) == numbers.range_in_range(
        inner.start, inner.count, outer.start, outer.count
    )
    for probe in (tn, inner.start, inner.last, outer.start, outer.last):
        assert (coverage(OneTN(probe), [outer]) is Coverage.COVERED) == numbers.tn_in_range(
            probe, outer.start, outer.count
        )

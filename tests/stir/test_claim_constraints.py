"""JWTClaimConstraints / EnhancedJWTClaimConstraints against pyasn1-alt-modules, and "nam"."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.der import decoder as der_decoder
from pyasn1.codec.der import encoder as der_encoder
from pyasn1_alt_modules import rfc8226, rfc9118

from shared.profile import OID_ENHANCED_JWT_CLAIM_CONSTRAINTS
from shared.stir.claim_constraints import (
    EnhancedJWTClaimConstraints,
    JWTClaimConstraints,
    claim_constraints_of,
    display_name_of,
    nam_constraints,
    nam_permitted,
    permitted_nams,
    rcd_permitted_value,
)
from shared.stir.errors import MalformedError

VECTORS = Path(__file__).resolve().parent / ".." / ".." / ".." / "shared" / "vectors" / "stir"


def _oracle_values(
    value: object,
) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]], tuple[str, ...]]:
    def names(field: str) -> tuple[str, ...]:
        comp = value[field]  # type: ignore[index]
        return tuple(str(n) for n in comp) if comp.isValue else ()

    permitted: dict[str, tuple[str, ...]] = {}
    comp = value["permittedValues"]  # type: ignore[index]
    if comp.isValue:
        for item in comp:
            values = item["permitted"] if "permitted" in item else item["values"]
            permitted[str(item["claim"])] = tuple(str(v) for v in values)
    exclude = names("mustExclude") if "mustExclude" in value else ()  # type: ignore[operator]
    return names("mustInclude"), permitted, exclude


def test_rfc8226_example_round_trips_byte_identically() -> None:
    der = base64.b64decode((VECTORS / "jwtcc.b64").read_text())
    c = JWTClaimConstraints.decode(der)
    assert c.must_include == ("foo",)
    assert dict(c.permitted_values) == {
        "foo": ("foo1", "foo2", "foo3"),
        "bar": ("bar1", "bar2"),
    }
    assert c.encode() == der
    oracle, rest = der_decoder.decode(der, asn1Spec=rfc8226.JWTClaimConstraints())
    assert rest == b""
    assert _oracle_values(oracle)[:2] == (c.must_include, dict(c.permitted_values))


def test_rfc9118_certificate_round_trips_byte_identically() -> None:
    cert = x509.load_pem_x509_certificate((VECTORS / "ejwtcc_cert.pem").read_bytes())
    c = claim_constraints_of(cert)
    assert isinstance(c, EnhancedJWTClaimConstraints)
    assert c.must_include == ("confidence",)
    assert dict(c.permitted_values) == {"confidence": ("high", "medium")}
    assert c.must_exclude == ("priority",)
    ext = cert.extensions.get_extension_for_oid(OID_ENHANCED_JWT_CLAIM_CONSTRAINTS)
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    assert c.encode() == ext.value.value
    oracle, _ = der_decoder.decode(ext.value.value, asn1Spec=rfc9118.EnhancedJWTClaimConstraints())
    assert _oracle_values(oracle) == (
        c.must_include,
        dict(c.permitted_values),
        c.must_exclude,
    )


def test_certificate_without_constraints() -> None:
    cert = x509.load_pem_x509_certificate((VECTORS / "zlint_shakenCert.pem").read_bytes())
    assert claim_constraints_of(cert) is None


@pytest.mark.parametrize(
    "make",
    [
        lambda: JWTClaimConstraints(),
        lambda: EnhancedJWTClaimConstraints(),
        lambda: JWTClaimConstraints(permitted_values={"nam": ()}),
        lambda: JWTClaimConstraints(must_include=("",)),
        lambda: JWTClaimConstraints(must_include=("nämé",)),
    ],
)
def test_presence_and_size_rules(make: object) -> None:
    assert callable(make)
    with pytest.raises(MalformedError):
        make()


def test_decoding_rejects_empty_lists_and_duplicates() -> None:
    # SEQUENCE { [0] SEQUENCE {} } : mustInclude present but empty.
    with pytest.raises(MalformedError, match="empty"):
        JWTClaimConstraints.decode(bytes.fromhex("3004a0023000"))
    # SEQUENCE {}: neither component.
    with pytest.raises(MalformedError, match="needs"):
        JWTClaimConstraints.decode(bytes.fromhex("3000"))
    dup = rfc8226.JWTClaimConstraints()
    pv = dup["permittedValues"]
    for i in range(2):
        item = rfc8226.JWTClaimPermittedValues()
        item["claim"] = "nam"
        item["permitted"][0] = "Alice"
        pv[i] = item
    with pytest.raises(MalformedError, match="twice"):
        JWTClaimConstraints.decode(bytes(der_encoder.encode(dup)))
    with pytest.raises(MalformedError):
        JWTClaimConstraints.decode(b"\x30\x03\xa0\x01")


_names = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=8)
_permitted = st.dictionaries(
    _names, st.lists(st.text(max_size=10), min_size=1, max_size=3).map(tuple), max_size=3
)


@given(
    st.lists(_names, max_size=3).map(tuple),
    _permitted,
    st.lists(_names, max_size=3).map(tuple),
)
def test_round_trip_and_oracle_agree(
    must_include: tuple[str, ...],
    permitted: dict[str, tuple[str, ...]],
    must_exclude: tuple[str, ...],
) -> None:
    if must_include or permitted or must_exclude:
        e = EnhancedJWTClaimConstraints(must_include, permitted, must_exclude)
        der = e.encode()
        assert EnhancedJWTClaimConstraints.decode(der) == e
        oracle, rest = der_decoder.decode(der, asn1Spec=rfc9118.EnhancedJWTClaimConstraints())
        assert rest == b""
        assert _oracle_values(oracle) == (must_include, permitted, must_exclude)
        assert bytes(der_encoder.encode(oracle)) == der
    if must_include or permitted:
        j = JWTClaimConstraints(must_include, permitted)
        assert JWTClaimConstraints.decode(j.encode()) == j
        oracle, _ = der_decoder.decode(j.encode(), asn1Spec=rfc8226.JWTClaimConstraints())
        assert bytes(der_encoder.encode(oracle)) == j.encode()


@given(st.binary(max_size=60))
def test_random_bytes_only_raise_malformed(data: bytes) -> None:
    for cls in (JWTClaimConstraints, EnhancedJWTClaimConstraints):
        try:
            decoded = cls.decode(data)
        except MalformedError:
            continue
        assert decoded.encode() == data  # DER: one encoding per value


# --- display names -----------------------------------------------------------------------


def test_rcd_form_follows_rfc9795_and_plain_nam_is_accepted() -> None:
    rcd = nam_constraints("Alice Atlanta")
    assert dict(rcd.permitted_values) == {"rcd": ('{"nam":"Alice Atlanta"}',)}
    assert json.loads(rcd_permitted_value("Ålice")) == {"nam": "Ålice"}
    plain = nam_constraints("Alice Atlanta", form="nam")
    for c in (rcd, plain, nam_constraints("Alice Atlanta", enhanced=True)):
        decoded = type(c).decode(c.encode())
        assert display_name_of(decoded) == "Alice Atlanta"
        assert nam_permitted(decoded, "Alice Atlanta")
        assert not nam_permitted(decoded, "Mallory")


def test_unconstrained_and_multi_valued_names() -> None:
    assert permitted_nams(None) is None
    assert nam_permitted(None, "anything")
    other = JWTClaimConstraints(must_include=("foo",))
    assert permitted_nams(other) is None
    assert display_name_of(other) is None
    two = JWTClaimConstraints(permitted_values={"nam": ("A", "B")})
    assert display_name_of(two) is None  # no single name to show
    assert nam_permitted(two, "B")


def test_excluded_or_unreadable_rcd_permits_no_name() -> None:
    excluded = EnhancedJWTClaimConstraints(must_exclude=("rcd",))
    assert permitted_nams(excluded) == ()
    assert not nam_permitted(excluded, "Alice")
    junk = JWTClaimConstraints(permitted_values={"rcd": ("not json", '{"jcd":[]}')})
    assert permitted_nams(junk) == ()
    both = JWTClaimConstraints(
        permitted_values={"nam": ("Alice", "Bob"), "rcd": (rcd_permitted_value("Bob"),)}
    )
    assert permitted_nams(both) == ("Bob",)


def test_both_extensions_on_one_certificate_is_malformed(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from shared.profile import OID_JWT_CLAIM_CONSTRAINTS

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "t")])
    now = datetime.now(UTC)
    c = nam_constraints("A")
    e = nam_constraints("A", enhanced=True)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.UnrecognizedExtension(OID_JWT_CLAIM_CONSTRAINTS, c.encode()), False)
        .add_extension(
            x509.UnrecognizedExtension(OID_ENHANCED_JWT_CLAIM_CONSTRAINTS, e.encode()), False
        )
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(MalformedError, match="both"):
        claim_constraints_of(cert)

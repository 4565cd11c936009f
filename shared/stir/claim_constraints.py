"""JWTClaimConstraints (RFC 8226 §8) and EnhancedJWTClaimConstraints (RFC 9118 §4).

ASN.1 (both modules use EXPLICIT TAGS)::

    JWTClaimConstraints ::= SEQUENCE {
      mustInclude [0] JWTClaimNames OPTIONAL,
      permittedValues [1] JWTClaimPermittedValuesList OPTIONAL }
      -- at least one present
    JWTClaimPermittedValuesList ::= SEQUENCE SIZE (1..MAX) OF JWTClaimPermittedValues
    JWTClaimPermittedValues ::= SEQUENCE {
      claim JWTClaimName, permitted SEQUENCE SIZE (1..MAX) OF UTF8String }
    EnhancedJWTClaimConstraints ::= SEQUENCE {
      mustInclude [0] JWTClaimNames OPTIONAL,
      permittedValues [1] JWTClaimValuesList OPTIONAL,   -- same shape as above
      mustExclude [2] JWTClaimNames OPTIONAL }
      -- at least one present
    JWTClaimNames ::= SEQUENCE SIZE (1..MAX) OF JWTClaimName
    JWTClaimName ::= IA5String

Codecs use cryptography's declarative ``hazmat.asn1``; the SIZE (1..MAX) and
"at least one present" rules, which it does not enforce, are checked here, as is a
claim listed twice under permittedValues (which would make the constraint ambiguous).

Display names (PROFILE.md §4.5 / §5.7): a certificate constrains the display name
either through the plain claim name ``nam`` (as the seed phrases it), or, in RFC 9795's
form, through the ``rcd`` claim, whose permitted values are JSON texts of ``rcd`` objects
(``{"nam":"Alice"}``): the ``nam`` member of each is a permitted display name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated

import cryptography.hazmat.asn1 as asn1
from cryptography import x509

from shared.profile import OID_ENHANCED_JWT_CLAIM_CONSTRAINTS, OID_JWT_CLAIM_CONSTRAINTS
from shared.stir.errors import MalformedError
from shared.stir.tnauthlist import explain_der_error, extension_der

NAM_CLAIM = "nam"
RCD_CLAIM = "rcd"

# --- ASN.1 schema ---------------------------------------------------------------------


@asn1.sequence
class _PermittedValues:
    claim: asn1.IA5String
    permitted: list[str]


@asn1.sequence
class _JWTClaimConstraints:
    must_include: Annotated[list[asn1.IA5String] | None, asn1.Explicit(0)]
    permitted_values: Annotated[list[_PermittedValues] | None, asn1.Explicit(1)]


@asn1.sequence
class _EnhancedJWTClaimConstraints:
    must_include: Annotated[list[asn1.IA5String] | None, asn1.Explicit(0)]
    permitted_values: Annotated[list[_PermittedValues] | None, asn1.Explicit(1)]
    must_exclude: Annotated[list[asn1.IA5String] | None, asn1.Explicit(2)]


# --- values ---------------------------------------------------------------------------


def _check_claim_name(name: str, where: str) -> None:
    # JWTClaimName is IA5String: ASCII only, and a claim name is never empty.
    if not name or not name.isascii():
        raise MalformedError(f"{where}: claim name {name!r} must be non-empty ASCII (IA5String)")


def _check_names(names: tuple[str, ...], where: str) -> None:
    for name in names:
        _check_claim_name(name, where)


def _check_permitted(permitted: Mapping[str, tuple[str, ...]], where: str) -> None:
    for claim, values in permitted.items():
        _check_claim_name(claim, where)
        if not values:
            raise MalformedError(f"{where}: claim {claim!r} lists no permitted values")


@dataclass(frozen=True)
class JWTClaimConstraints:
    """RFC 8226 §8 constraint on the claims of PASSporTs a certificate signs.

    ``permitted_values`` maps a claim name to the values it may take (order kept).
    """

    must_include: tuple[str, ...] = ()
    permitted_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.must_include and not self.permitted_values:
            raise MalformedError(
                "JWTClaimConstraints needs mustInclude or permittedValues (RFC 8226 §8)"
            )
        _check_names(self.must_include, "JWTClaimConstraints mustInclude")
        _check_permitted(self.permitted_values, "JWTClaimConstraints permittedValues")

    def encode(self) -> bytes:
        """DER encoding (the extension value)."""
        value = _JWTClaimConstraints(
            must_include=_names_to_asn1(self.must_include),
            permitted_values=_permitted_to_asn1(self.permitted_values),
        )
        return bytes(asn1.encode_der(value))

    @classmethod
    def decode(cls, der: bytes) -> JWTClaimConstraints:
        """Decode DER strictly; :class:`MalformedError` names what is wrong."""
        try:
            raw = asn1.decode_der(_JWTClaimConstraints, bytes(der))
        except ValueError as exc:
            raise explain_der_error("JWTClaimConstraints", exc) from exc
        return cls(
            must_include=_names_from_asn1(raw.must_include, "JWTClaimConstraints mustInclude"),
            permitted_values=_permitted_from_asn1(
                raw.permitted_values, "JWTClaimConstraints permittedValues"
            ),
        )


@dataclass(frozen=True)
class EnhancedJWTClaimConstraints:
    """RFC 9118 §4 constraint: like :class:`JWTClaimConstraints` plus ``must_exclude``."""

    must_include: tuple[str, ...] = ()
    permitted_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    must_exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (self.must_include or self.permitted_values or self.must_exclude):
            raise MalformedError(
                "EnhancedJWTClaimConstraints needs mustInclude, permittedValues or "
                "mustExclude (RFC 9118 §4)"
            )
        _check_names(self.must_include, "EnhancedJWTClaimConstraints mustInclude")
        _check_permitted(self.permitted_values, "EnhancedJWTClaimConstraints permittedValues")
        _check_names(self.must_exclude, "EnhancedJWTClaimConstraints mustExclude")

    def encode(self) -> bytes:
        """DER encoding (the extension value)."""
        value = _EnhancedJWTClaimConstraints(
            must_include=_names_to_asn1(self.must_include),
            permitted_values=_permitted_to_asn1(self.permitted_values),
            must_exclude=_names_to_asn1(self.must_exclude),
        )
        return bytes(asn1.encode_der(value))

    @classmethod
    def decode(cls, der: bytes) -> EnhancedJWTClaimConstraints:
        """Decode DER strictly; :class:`MalformedError` names what is wrong."""
        try:
            raw = asn1.decode_der(_EnhancedJWTClaimConstraints, bytes(der))
        except ValueError as exc:
            raise explain_der_error("EnhancedJWTClaimConstraints", exc) from exc
        return cls(
            must_include=_names_from_asn1(
                raw.must_include, "EnhancedJWTClaimConstraints mustInclude"
            ),
            permitted_values=_permitted_from_asn1(
                raw.permitted_values, "EnhancedJWTClaimConstraints permittedValues"
            ),
            must_exclude=_names_from_asn1(
                raw.must_exclude, "EnhancedJWTClaimConstraints mustExclude"
            ),
        )


ClaimConstraints = JWTClaimConstraints | EnhancedJWTClaimConstraints


def _names_to_asn1(names: tuple[str, ...]) -> list[asn1.IA5String] | None:
    return [asn1.IA5String(n) for n in names] if names else None


def _permitted_to_asn1(
    permitted: Mapping[str, tuple[str, ...]],
) -> list[_PermittedValues] | None:
    if not permitted:
        return None
    return [
        _PermittedValues(claim=asn1.IA5String(claim), permitted=list(values))
        for claim, values in permitted.items()
    ]


def _names_from_asn1(raw: list[asn1.IA5String] | None, where: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not raw:
        raise MalformedError(f"{where} is present but empty (SIZE (1..MAX))")
    return tuple(n.as_str() for n in raw)


def _permitted_from_asn1(
    raw: list[_PermittedValues] | None, where: str
) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not raw:
        raise MalformedError(f"{where} is present but empty (SIZE (1..MAX))")
    out: dict[str, tuple[str, ...]] = {}
    for item in raw:
        claim = item.claim.as_str()
        if claim in out:
            raise MalformedError(f"{where}: claim {claim!r} is listed twice")
        out[claim] = tuple(item.permitted)
    return out


# --- certificates ---------------------------------------------------------------------


def claim_constraints_of(cert: x509.Certificate) -> ClaimConstraints | None:
    """The certificate's EnhancedJWTClaimConstraints, else its JWTClaimConstraints, else None.

    Raises :class:`MalformedError` when the extension present does not parse, or when
    the certificate carries both (RFC 9118 §3: it MUST NOT).
    """
    enhanced = _extension(cert, OID_ENHANCED_JWT_CLAIM_CONSTRAINTS)
    plain = _extension(cert, OID_JWT_CLAIM_CONSTRAINTS)
    if enhanced is not None and plain is not None:
        raise MalformedError(
            "certificate carries both JWTClaimConstraints and EnhancedJWTClaimConstraints"
        )
    if enhanced is not None:
        return EnhancedJWTClaimConstraints.decode(enhanced)
    if plain is not None:
        return JWTClaimConstraints.decode(plain)
    return None


def _extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension) as exc:
        raise MalformedError(f"certificate extensions do not parse: {exc}") from exc
    return extension_der(ext)


# --- display names ("nam") ------------------------------------------------------------


def rcd_permitted_value(nam: str) -> str:
    """The JSON text of ``{"nam": nam}`` as a permitted value of the ``rcd`` claim.

    Serialised with sorted keys and no whitespace (the form RFC 8225 §9 uses for
    claims), so that issuers and verifiers agree on the bytes.
    """
    return json.dumps({NAM_CLAIM: nam}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def permitted_nams(constraints: ClaimConstraints | None) -> tuple[str, ...] | None:
    """The display names the constraints permit, or None when they do not constrain ``nam``.

    Read from a plain ``nam`` entry of permittedValues and from the ``nam`` member of
    each JSON ``rcd`` permitted value (RFC 9795's form). An ``rcd`` value that is not a
    JSON object, or lacks a string ``nam``, permits no display name. When both forms
    are present a name must be permitted by both. An EnhancedJWTClaimConstraints that
    lists ``nam`` or ``rcd`` under mustExclude permits none.
    """
    if constraints is None:
        return None
    if isinstance(constraints, EnhancedJWTClaimConstraints) and (
        NAM_CLAIM in constraints.must_exclude or RCD_CLAIM in constraints.must_exclude
    ):
        return ()
    permitted = constraints.permitted_values
    result: tuple[str, ...] | None = None
    if NAM_CLAIM in permitted:
        result = permitted[NAM_CLAIM]
    if RCD_CLAIM in permitted:
        from_rcd = tuple(n for n in (_nam_of_rcd_json(v) for v in permitted[RCD_CLAIM]) if n)
        result = from_rcd if result is None else tuple(n for n in result if n in from_rcd)
    return result


def _nam_of_rcd_json(text: str) -> str | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, dict):
        nam = value.get(NAM_CLAIM)
        if isinstance(nam, str):
            return nam
    return None


def display_name_of(constraints: ClaimConstraints | None) -> str | None:
    """The certificate's display name: the single permitted ``nam`` value, else None."""
    names = permitted_nams(constraints)
    if names is not None and len(names) == 1:
        return names[0]
    return None


def nam_permitted(constraints: ClaimConstraints | None, nam: str) -> bool:
    """Whether a PASSporT signed under ``constraints`` may carry display name ``nam``."""
    names = permitted_nams(constraints)
    return names is None or nam in names


def nam_constraints(nam: str, *, enhanced: bool = False, form: str = RCD_CLAIM) -> ClaimConstraints:
    """Constraints permitting exactly the display name ``nam`` (for issuing certificates).

    ``form`` is ``"rcd"`` (RFC 9795: the rcd claim's permitted value is ``{"nam":...}``)
    or ``"nam"`` (the plain claim name, as the seed phrases it).
    """
    permitted: dict[str, tuple[str, ...]]
    if form == RCD_CLAIM:
        permitted = {RCD_CLAIM: (rcd_permitted_value(nam),)}
    elif form == NAM_CLAIM:
        permitted = {NAM_CLAIM: (nam,)}
    else:
        raise ValueError(f"form must be 'rcd' or 'nam', not {form!r}")
    if enhanced:
        return EnhancedJWTClaimConstraints(permitted_values=permitted)
    return JWTClaimConstraints(permitted_values=permitted)

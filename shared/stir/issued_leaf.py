"""A new end-entity certificate under an issuer chain already verified: its signature
and the RFC 5280 checks cryptography's X.509 verifier makes on it, without building a
path.

Once a provider's issuer chain has been verified (by ``cryptography.x509.verification``),
every new member certificate under it differs from the last in one signature and a few
fields. Handing each to the verifier (with the issuer as its only anchor) costs about 1.7
raw signatures; most of that is path building and Python objects made for a chain of two.
:func:`issued_by` makes the verifier's checks on the leaf itself and verifies the
signature with the issuer's key, loaded once.

It is an *accept-only* shortcut: it returns True only when every check the verifier
would make on the leaf is shown to pass, and False whenever it cannot show that (an
unusual algorithm, a subjectAltName, a bad signature, anything it does not parse). On
False the caller asks the verifier, whose verdict (and message) stands. So it can never
refuse what the verifier accepts, and it must never accept what the verifier refuses:
each check below is at least as strict as the verifier's (byte equality where the
verifier compares parsed values), and tests/stir/test_issued_leaf.py holds the two to
the same verdicts on deliberately broken leaves.

What the verifier checks on an end entity directly under a trust anchor, with the
validator's policies (``permit_all`` end-entity extension policy; cryptography 48.0.0,
``Policy::permits_basic``, ``permits_ee``, ``valid_issuer``), and how it is checked here:

- X.509 v3 (``version == 2``): the decoded version;
- the inner (TBS) and outer signature algorithms equal: their DER bytes equal;
- the signature algorithm permitted (Web PKI set): only ecdsa-with-SHA256/384/512
  without parameters are taken here (exact DER); RSA and the rest go to the verifier;
- serial number of 1..21 octets and not negative: from the decoded integer;
- a non-empty issuer name, equal to the issuer's subject: DER bytes equal, non-empty;
- validity dates before 2050 as UTCTime (a GeneralizedTime before 2050 goes to the
  verifier);
- valid at the verification time: the validator picks an instant inside every validity
  period (or refuses, "chain") before any of this, so it holds by construction;
- extensions: no critical extension the policy does not account for (AIA, AKI, SKI,
  keyUsage, subjectAltName, basicConstraints, nameConstraints, EKU); a subjectAltName or
  nameConstraints on the leaf (name-constraint evaluation, the SAN the client verifier
  returns) goes to the verifier;
- the leaf is not the anchor itself (the verifier would end the path there, unsigned):
  a leaf with the issuer's own bytes goes to the verifier;
- the signature, by the issuer's key, over the TBS bytes as cryptography re-serialises
  them (``tbs_certificate_bytes``, what its verifier signs over), with the hash the
  algorithm names: the same ``EllipticCurvePublicKey.verify`` call.

The issuer's own checks (CA policy at depth 0, its key algorithm, its validity) were
made when its chain was verified, at the same depth, and do not depend on the leaf;
issuers carrying name constraints are never remembered as known (validator.py), since
those constrain the leaf's names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final

import cryptography.hazmat.asn1 as asn1
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID

# --- the certificate, as far as these checks read it (RFC 5280 §4.1) --------------------


@asn1.sequence
class _Validity:
    not_before: asn1.UTCTime | asn1.GeneralizedTime
    not_after: asn1.UTCTime | asn1.GeneralizedTime


@asn1.sequence
class _TBSCertificate:
    version: Annotated[int, asn1.Explicit(0), asn1.Default(0)]
    serial: int
    signature: asn1.TLV
    issuer: asn1.TLV
    validity: _Validity
    subject: asn1.TLV
    subject_public_key_info: asn1.TLV
    issuer_unique_id: Annotated[asn1.BitString | None, asn1.Implicit(1)]
    subject_unique_id: Annotated[asn1.BitString | None, asn1.Implicit(2)]
    extensions: Annotated[list[asn1.TLV] | None, asn1.Explicit(3)]


@asn1.sequence
class _Certificate:
    tbs_certificate: _TBSCertificate
    signature_algorithm: asn1.TLV
    signature: asn1.BitString


_X509_V3: Final = 2
_MAX_SERIAL_OCTETS: Final = 21  # 20, plus the sign octet some CAs' 20 random bytes need
_UTC_TIME_UNTIL: Final = 2050  # RFC 5280 §4.1.2.5
_SEQUENCE_TAG: Final = b"\x30"

# AlgorithmIdentifier contents (OID, no parameters) of ECDSA with SHA-2 (RFC 5758 §3.2).
_ECDSA_ALGORITHMS: Final = {
    bytes.fromhex("06082a8648ce3d040302"): ec.ECDSA(hashes.SHA256()),
    bytes.fromhex("06082a8648ce3d040303"): ec.ECDSA(hashes.SHA384()),
    bytes.fromhex("06082a8648ce3d040304"): ec.ECDSA(hashes.SHA512()),
}

# Extensions the verifier's extension policies account for (so they may be critical).
_ACCOUNTED_EXTENSIONS: Final = frozenset(
    {
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.NAME_CONSTRAINTS,
        ExtensionOID.EXTENDED_KEY_USAGE,
    }
)
# Extensions on a leaf that make the verifier do more than this module does.
_VERIFIER_ONLY_EXTENSIONS: Final = frozenset(
    {ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.NAME_CONSTRAINTS}
)


def _tlv_bytes(tlv: asn1.TLV) -> tuple[bytes, bytes]:
    return tlv.tag_bytes, bytes(tlv.data)


def _utc_time_rule_holds(when: asn1.UTCTime | asn1.GeneralizedTime) -> bool:
    # A UTCTime cannot hold 2050 or later (the parser refuses it); a GeneralizedTime
    # is right from 2050 on. Earlier GeneralizedTimes are left to the verifier.
    return isinstance(when, asn1.UTCTime) or when.as_datetime().year >= _UTC_TIME_UNTIL


@dataclass(frozen=True)
class KnownIssuer:
    """An issuer certificate already verified, ready to check leaves under it.

    Built once per issuer chain (loading the key costs half a signature).
    """

    der: bytes
    subject: tuple[bytes, bytes]  # the subject Name's tag and contents, as encoded
    key: ec.EllipticCurvePublicKey

    @classmethod
    def of(cls, cert: x509.Certificate) -> KnownIssuer | None:
        """The issuer ready for :func:`issued_by`, or None when this module cannot check
        leaves under it (a key other than EC, a certificate it does not decode)."""
        der = cert.public_bytes(Encoding.DER)
        try:
            decoded = asn1.decode_der(_Certificate, der)
            key = cert.public_key()
        except ValueError:
            return None
        if not isinstance(key, ec.EllipticCurvePublicKey):
            return None
        return cls(der, _tlv_bytes(decoded.tbs_certificate.subject), key)


def issued_by(leaf: x509.Certificate, leaf_der: bytes, issuer: KnownIssuer) -> bytes | None:
    """When ``leaf`` (whose DER is ``leaf_der``) passes every check cryptography's
    verifier makes on an end entity under ``issuer`` as the only trust anchor, at an
    instant inside every validity period: the contents of its subjectPublicKeyInfo
    (DER, inside the SEQUENCE; decoded here anyway, and what the validator compares
    with the member's key). None when that is not shown here (ask the verifier). The
    caller has parsed ``leaf.extensions`` already (a leaf whose extensions do not parse
    never gets here)."""
    if leaf_der == issuer.der:
        return None
    try:
        decoded = asn1.decode_der(_Certificate, leaf_der)
    except ValueError:
        return None
    tbs = decoded.tbs_certificate
    outer = decoded.signature_algorithm
    algorithm = _ECDSA_ALGORITHMS.get(bytes(outer.data))
    if (
        algorithm is None
        or outer.tag_bytes != _SEQUENCE_TAG
        or tbs.version != _X509_V3
        or _tlv_bytes(tbs.signature) != _tlv_bytes(outer)
        or tbs.serial < 0
        or tbs.serial.bit_length() // 8 + 1 > _MAX_SERIAL_OCTETS
    ):
        return None
    issuer_name = _tlv_bytes(tbs.issuer)
    if not issuer_name[1] or issuer_name != issuer.subject:
        return None
    validity = tbs.validity
    if not (_utc_time_rule_holds(validity.not_before) and _utc_time_rule_holds(validity.not_after)):
        return None
    for ext in leaf.extensions:
        oid = ext.oid
        if oid in _VERIFIER_ONLY_EXTENSIONS or (ext.critical and oid not in _ACCOUNTED_EXTENSIONS):
            return None
    try:
        issuer.key.verify(leaf.signature, leaf.tbs_certificate_bytes, algorithm)
    except InvalidSignature:
        return None
    return bytes(tbs.subject_public_key_info.data)

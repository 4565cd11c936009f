"""The validator: is this MLS credential a STIR identity under the profile, and whose?

:func:`validate` takes an MLS credential (type and content bytes), the LeafNode's
signature key and the context (group or delivery service, trust store, time) and returns
an :class:`Identity`, or raises :class:`~shared.stir.errors.CredentialRejected` with one
machine-readable reason per rule of PROFILE.md §4 and §5 (table in docs/profile.md).

Order of checks (cheap and structural first, so that junk is refused before any
signature is verified, and every non-time rule is decided before the time rules):

1. decode the content (``credential-type``, ``malformed``); the member key's encoding
   (``unsupported-key``, §1); parse the certificates; refuse a critical TNAuthList /
   JWTClaimConstraints (``critical-extension``, §4.3); decode every TNAuthList
   (``malformed``);
2. the chain, with ``cryptography.x509.verification`` (``chain``, §4.1), at an instant
   inside every certificate's validity period as close to ``now`` as possible, so that a
   time-only failure can be told apart (§6);
3. delegation scope down the chain (``no-tnauthlist``, ``delegate-scope``,
   ``spc-unassigned``, §4.3);
4. for 0xF001, chain[0]'s key against the signature key (``unsupported-key``,
   ``key-mismatch``, §1, §4.2); for 0xF002 the PASSporT (§5.2-§5.7: ``unsupported-key``,
   ``typ``, ``alg``, ``signature``, ``iat``, ``claims``, ``ppt``, ``mky``,
   ``tn-not-authorised``, ``spc-unassigned``, ``dest``, ``nam-not-permitted``,
   ``claim-constraints``);
5. the time rules (``expired``, ``not-yet-valid``, ``future-iat``, ``stale``): strict
   rejections, or with ``strict_time=False`` (members already in a group) an Identity
   marked ``stale``.

Chain validation is cached (see :class:`Validator`): the outcome of verifying a given
certificate chain against a given trust store does not depend on the time, once the
time is inside every validity period, so it is kept per (chain bytes, trust store) with
its validity window. A new leaf under an issuer chain already verified is checked by
the same X.509 verifier with the verified issuer as its only anchor (one signature),
which is what makes thousands of members of one provider cheap. Before that, the
binding's accept-only check (``openmls.KnownIssuer``, in Rust) is asked: when it shows
the leaf passes every check the verifier and our static checks make, the member's
certificate verdict is built from its facts without cryptography's per-certificate work;
whenever it does not ("not decided"), or any rule below fails, the path above decides,
so every rejection and its reason come from that path.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import enum
import functools
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Final

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtensionOID
from cryptography.x509.verification import (
    ClientVerifier,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)
from openmls import KnownIssuer, p256_point_is_valid, verify_es256

from shared.profile import (
    CERTIFICATE_CIPHERSUITES,
    CLIENT_CLOCK_TOLERANCE,
    CREDENTIAL_TYPE_STIR_CERTIFICATE,
    CREDENTIAL_TYPE_STIR_PASSPORT,
    OID_ENHANCED_JWT_CLAIM_CONSTRAINTS,
    OID_JWT_CLAIM_CONSTRAINTS,
    OID_TNAUTHLIST,
    PASSPORT_CIPHERSUITES,
    PASSPORT_FUTURE_SKEW,
    PASSPORT_MAX_AGE,
    ds_dest_uri,
    group_dest_uri,
)
from shared.stir.claim_constraints import (
    NAM_CLAIM,
    RCD_CLAIM,
    ClaimConstraints,
    EnhancedJWTClaimConstraints,
    JWTClaimConstraints,
    claim_constraints_of,
    display_name_of,
    nam_permitted,
)
from shared.stir.credential_codec import (
    STIRCertificateCredential,
    STIRPASSporTCredential,
    decode_credential,
)
from shared.stir.decode_memo import DecodeMemo
from shared.stir.errors import CredentialRejected, MalformedError
from shared.stir.passport import (
    HeaderCache,
    Passport,
    parse_passport_unverified,
    verify_passport_signature,
)
from shared.stir.tnauthlist import (
    SPC,
    Coverage,
    OneTN,
    TNAuthList,
    TNEntry,
    TNRange,
    decode_tnauthlist,
    entries_within,
    extension_der,
)
from shared.stir.trust import TrustStore

# STIR's extensions, which the X.509 verifier cannot account for when critical (§4.3).
STIR_EXTENSION_OIDS: Final = frozenset(
    {OID_TNAUTHLIST, OID_JWT_CLAIM_CONSTRAINTS, OID_ENHANCED_JWT_CLAIM_CONSTRAINTS}
)
# CAs: the Web PKI profile (basicConstraints, keyUsage, ...). End entities: anything,
# because SHAKEN end-entity certificates have no subjectAltName, which the Web PKI
# end-entity policy requires.
CA_POLICY: Final = ExtensionPolicy.webpki_defaults_ca()
EE_POLICY: Final = ExtensionPolicy.permit_all()
MAX_CHAIN_DEPTH: Final = 8
_OID_NAME_CONSTRAINTS: Final = ExtensionOID.NAME_CONSTRAINTS

KIND_PASSPORT: Final = "passport"
KIND_TN_CERT: Final = "tn-cert"
KIND_SPC_CERT: Final = "spc-cert"

_P256_POINT_LEN: Final = 65
_P384_POINT_LEN: Final = 97
_ED25519_KEY_LEN: Final = 32


class Assurance(enum.Enum):
    """How far the member's key is vouched for (PROFILE.md §4.4, §5.8)."""

    # The certificate for the number is the member's own key (or signs its PASSporT).
    END_TO_END = "end to end"
    # A carrier-level (SPC-only) certificate: the carrier holds the key.
    CARRIER_KEY = "carrier key"
    # A PASSporT signed under an SPC-only certificate: the provider chose the key.
    PROVIDER_ATTESTED_KEY = "provider-attested key"


@dataclass(frozen=True)
class Identity:
    """Who a validated credential says the member is.

    ``tns`` are the certified numbers (digit strings, or a :class:`TNRange`); empty for a
    carrier-level credential, whose number (if any) is ``claimed_tn``, read from the
    LeafNode's application_id and never certified (§4.4). ``signer_scope`` names chain[0]'s
    TNAuthList (for a carrier-level credential: its SPC codes). ``not_after`` is the
    instant after which the credential no longer passes the time rules (the earliest
    certificate expiry, PASSporT max-age or exp); ``stale`` is set only by
    ``strict_time=False`` validations whose only failure is time (§6).
    """

    kind: str
    tns: tuple[str | TNRange, ...]
    display_name: str | None
    name_source: str | None
    signer_scope: str
    signer_entries: tuple[TNEntry, ...]
    assurance: Assurance
    credential_type: int
    not_after: datetime | None
    valid_from: datetime | None = None
    claimed_tn: str | None = None
    stale: bool = False
    stale_reason: str | None = None
    stale_detail: str | None = None

    @property
    def spcs(self) -> tuple[str, ...]:
        """The service provider codes of chain[0]'s TNAuthList."""
        return tuple(e.code for e in self.signer_entries if isinstance(e, SPC))

    @property
    def primary_tn(self) -> str | None:
        """The one number this member speaks for, when there is exactly one."""
        if len(self.tns) == 1 and isinstance(self.tns[0], str):
            return self.tns[0]
        return self.claimed_tn

    def to_json(self) -> dict[str, Any]:
        """A JSON-able description (for ``stirmls credential inspect --json``)."""
        return {
            "kind": self.kind,
            "tns": [
                t if isinstance(t, str) else {"start": t.start, "count": t.count} for t in self.tns
            ],
            "claimed_tn": self.claimed_tn,
            "display_name": self.display_name,
            "name_source": self.name_source,
            "signer_scope": self.signer_scope,
            "assurance": self.assurance.name,
            "credential_type": self.credential_type,
            "not_after": _iso(self.not_after),
            "valid_from": _iso(self.valid_from),
            "stale": self.stale,
            "stale_reason": self.stale_reason,
            "stale_detail": self.stale_detail,
        }


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- time bounds ----------------------------------------------------------------------


@dataclass(frozen=True)
class TimeBound:
    """One time rule: ``at`` (POSIX seconds) is a lower or upper bound on validity.

    ``template`` names the instant ``shown`` as ``{when}``; the sentence is only formatted
    when a bound fails (formatting dates is most of the cost of a cached lookup).
    """

    at: float
    reason: str
    rule: str
    template: str
    shown: float

    @property
    def detail(self) -> str:
        """The sentence for people."""
        return self.template.format(when=_iso(_utc(self.shown)))


@dataclass(frozen=True)
class Verdict:
    """The time-independent outcome of a validation: every non-time rule held.

    :meth:`at` applies the time rules for a given instant, so a verdict can be cached and
    re-served without ever serving a credential past its expiry (validation_cache.py).
    """

    identity: Identity
    lower: tuple[TimeBound, ...]
    upper: tuple[TimeBound, ...]

    def time_failure(self, now: float, tolerance: float) -> TimeBound | None:
        """The first time rule that fails at ``now`` (± ``tolerance`` s), or None."""
        for bound in self.lower:
            if now + tolerance < bound.at:
                return bound
        for bound in self.upper:
            if now - tolerance > bound.at:
                return bound
        return None

    def at(self, now: float, tolerance: float, strict_time: bool) -> Identity:
        """The Identity at ``now``; raises the time rejection, or marks it stale."""
        failed = self.time_failure(now, tolerance)
        if failed is None:
            return self.identity
        if strict_time:
            raise CredentialRejected(failed.reason, failed.rule, failed.detail)
        return dataclasses.replace(
            self.identity, stale=True, stale_reason=failed.reason, stale_detail=failed.detail
        )


def _ts(when: datetime) -> float:
    return when.timestamp()


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _check_now(now: datetime) -> float:
    if now.tzinfo is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.timestamp()


# --- keys -----------------------------------------------------------------------------


def _check_p256_encoding(signature_key: bytes) -> None:
    if len(signature_key) == _P384_POINT_LEN and signature_key[0] == 0x04:
        raise CredentialRejected(
            "unsupported-key", "§1", "the key is a P-384 point; STIR and MLS here use P-256 (ES256)"
        )
    if len(signature_key) != _P256_POINT_LEN or signature_key[0] != 0x04:
        raise CredentialRejected(
            "unsupported-key",
            "§1",
            f"the signature key is {len(signature_key)} bytes starting "
            f"0x{signature_key[:1].hex() or '--'}; a P-256 key must be the 65-byte "
            "uncompressed point 0x04||X||Y",
        )


def decode_p256_signature_key(signature_key: bytes) -> ec.EllipticCurvePublicKey:
    """The LeafNode signature key as a P-256 point: exactly the 65-byte SEC1 uncompressed
    form (PROFILE.md §1). Raises :class:`CredentialRejected` ``unsupported-key``."""
    _check_p256_encoding(signature_key)
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), signature_key)
    except ValueError as exc:
        raise CredentialRejected(
            "unsupported-key", "§1", "the signature key is not a point on P-256"
        ) from exc


def _check_passport_member_key(
    signature_key: bytes, ciphersuite: int | None, native: bool = False
) -> None:
    # mky binds any key type, but the key must still be in its one canonical encoding.
    if ciphersuite is not None and ciphersuite not in PASSPORT_CIPHERSUITES:
        raise CredentialRejected(
            "unsupported-key",
            "§1",
            f"ciphersuite 0x{ciphersuite:04x} is not allowed with PASSporT credentials",
        )
    if ciphersuite == 0x0001 or (ciphersuite is None and len(signature_key) == _ED25519_KEY_LEN):
        if len(signature_key) != _ED25519_KEY_LEN:
            raise CredentialRejected(
                "unsupported-key", "§1", "an Ed25519 signature key is 32 bytes"
            )
        return
    if native and p256_point_is_valid(signature_key):
        # The binding shows it is the one P-256 encoding of a point on the curve: what
        # loading it with cryptography shows (which also multiplies it by the group order,
        # ≈ 0.17 signatures), so only a key it does not show goes on to be decoded.
        return
    decode_p256_signature_key(signature_key)


def _p256_key_of(cert: x509.Certificate, what: str) -> ec.EllipticCurvePublicKey:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise CredentialRejected(
            "unsupported-key", "§1", f"{what} has a key cryptography cannot load: {exc}"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        name = key.curve.name if isinstance(key, ec.EllipticCurvePublicKey) else type(key).__name__
        raise CredentialRejected(
            "unsupported-key", "§1", f"{what} has a {name} key; STIR uses ES256 (P-256)"
        )
    return key


# --- describing scopes ----------------------------------------------------------------


def describe_entry(entry: TNEntry) -> str:
    """A TNAuthList entry for people and logs: ``1234`` (SPC), a TN, or ``start..last``."""
    if isinstance(entry, SPC):
        return entry.code
    if isinstance(entry, OneTN):
        return entry.tn
    return f"{entry.start}..{entry.last}"


def describe_entries(entries: Sequence[TNEntry]) -> str:
    """Entries joined by ``", "``."""
    return ", ".join(describe_entry(e) for e in entries)


# --- chain validation -----------------------------------------------------------------


@dataclass(frozen=True)
class ChainFacts:
    """What a verified chain establishes, independent of the time inside its window."""

    certificates: tuple[x509.Certificate, ...]  # as given, leaf first
    path: tuple[x509.Certificate, ...]  # as verified: leaf ... trust anchor
    tnauthlists: tuple[TNAuthList | None, ...]  # of ``path``
    leaf_constraints: ClaimConstraints | None
    not_before: float  # latest notBefore on the path
    not_after: float  # earliest notAfter on the path
    starts: tuple[float, ...] = ()  # notBefore of each certificate on ``path``
    ends: tuple[float, ...] = ()  # notAfter of each certificate on ``path``

    @property
    def leaf(self) -> x509.Certificate:
        """chain[0]."""
        return self.certificates[0]

    @cached_property
    def bounds(self) -> tuple[tuple[TimeBound, ...], tuple[TimeBound, ...]]:
        """The chain's time rules (computed once per verified chain)."""
        return _chain_bounds(self)

    @cached_property
    def leaf_point(self) -> bytes | None:
        """chain[0]'s key as an uncompressed P-256 point, None if it is not P-256."""
        try:
            key = self.leaf.public_key()
        except (ValueError, UnsupportedAlgorithm):
            return None
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            return None
        return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    @cached_property
    def signer_key(self) -> ec.EllipticCurvePublicKey:
        """chain[0]'s P-256 key as a PASSporT signer (loaded once per verified chain: a
        provider's signer chain signs every member's PASSporT)."""
        return _p256_key_of(self.leaf, "the PASSporT signer (certificates[0])")

    @property
    def leaf_tnauthlist(self) -> TNAuthList:
        """chain[0]'s TNAuthList (present once the scope rules passed)."""
        tnal = self.tnauthlists[0]
        assert tnal is not None  # checked by _check_scope
        return tnal


@dataclass
class _IssuerFacts:
    """A verified issuer chain (chain[1:]) and the effective scope it grants below it."""

    trust: TrustStore
    path: tuple[x509.Certificate, ...]  # chain[1] ... anchor
    tnauthlists: tuple[TNAuthList | None, ...]
    scope: TNAuthList | None  # None: nothing above the leaf carries a TNAuthList
    not_before: float
    not_after: float
    starts: tuple[float, ...]
    ends: tuple[float, ...]
    # chain[1] as the only anchor; built on first use (building it is not free, and most
    # issuer chains remembered by a short-lived Validator are never used again).
    store: Store | None = None
    # chain[1] for the binding's accept-only leaf check (None: it cannot check under it).
    native: KnownIssuer | None = None


@dataclass(frozen=True, slots=True)
class _NativeLeaf:
    """A leaf the binding accepted under a known issuer, and the per-chain rules applied
    to it (cached per chain, as :class:`ChainFacts` is on the full path)."""

    point: bytes
    tnauthlist: TNAuthList
    constraints: ClaimConstraints | None
    display_name: str | None
    not_before: float
    not_after: float
    bounds: tuple[tuple[TimeBound, ...], tuple[TimeBound, ...]]


@dataclass(frozen=True, slots=True)
class _ParsedCert:
    """A parsed certificate and what the static checks found in it (all immutable)."""

    cert: x509.Certificate
    tnauthlist: TNAuthList | None
    constrained: bool  # carries (enhanced) JWT claim constraints
    name_constrained: bool  # carries name constraints
    not_before: float
    not_after: float


# Parsed issuer certificates (chain[1:]) by DER bytes, shared by every Validator: a
# certificate's bytes determine its parse and its static checks (nothing here depends on
# trust or time), and issuer certificates recur in every credential of a provider. Leaves
# are not kept (each member's is new; a Validator's chain cache covers repeats), nor are
# failures. Oldest out once full (OrderedDict: a plain dict's first item gets slower to
# reach as items are deleted from the front).
_PARSED: OrderedDict[bytes, _ParsedCert] = OrderedDict()
_PARSED_ANCHORS: OrderedDict[x509.Certificate, _ParsedCert] = OrderedDict()
_PARSED_MAX: Final = 2048

# Decodings by the exact bytes decoded, shared by every Validator (shared.stir.decode_memo):
# the credential framing, and a leaf's TNAuthList and claim constraints (with the display
# name they permit). Every joiner decodes every member's credential, and one process hosts
# many clients, so the same bytes recur; what is verified is still verified per check.
_DECODE_MEMO_MAX: Final = 4096
_CREDENTIALS: DecodeMemo[tuple[int, bytes], STIRCertificateCredential | STIRPASSporTCredential] = (
    DecodeMemo(_DECODE_MEMO_MAX)
)
_LEAF_EXTENSIONS: DecodeMemo[
    tuple[bytes, bytes | None, bytes | None],
    tuple[TNAuthList, ClaimConstraints | None, str | None],
] = DecodeMemo(_DECODE_MEMO_MAX)


def _inspect(index: int, cert: x509.Certificate) -> _ParsedCert:
    tnal, constrained, name_constrained = _static_checks(index, cert)
    return _ParsedCert(
        cert, tnal, constrained, name_constrained, _not_before(cert), _not_after(cert)
    )


def _load(index: int, der: bytes) -> _ParsedCert | x509.Certificate:
    """chain[index]: its cached parse, or the freshly loaded certificate to inspect."""
    hit = _PARSED.get(der)
    if hit is not None:
        return hit
    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, x509.InvalidVersion) as exc:
        raise CredentialRejected(
            "malformed", "§2", f"certificates[{index}] is not a DER X.509 certificate: {exc}"
        ) from exc


def _parsed(index: int, der: bytes, loaded: _ParsedCert | x509.Certificate) -> _ParsedCert:
    """``loaded`` (from :func:`_load`) statically checked, and remembered by its bytes."""
    if isinstance(loaded, _ParsedCert):
        return loaded
    parsed = _inspect(index, loaded)
    if index:
        _PARSED[der] = parsed
        if len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    return parsed


def _parse_anchor(index: int, cert: x509.Certificate) -> _ParsedCert:
    """A path certificate the credential left out (a trust anchor), cached likewise."""
    hit = _PARSED_ANCHORS.get(cert)
    if hit is not None:
        return hit
    parsed = _inspect(index, cert)
    _PARSED_ANCHORS[cert] = parsed
    if len(_PARSED_ANCHORS) > _PARSED_MAX:
        _PARSED_ANCHORS.popitem(last=False)
    return parsed


def _leaf_constraints(leaf: _ParsedCert) -> ClaimConstraints | None:
    """chain[0]'s (Enhanced)JWTClaimConstraints, if it carries them (§4.5)."""
    if not leaf.constrained:
        return None
    try:
        return claim_constraints_of(leaf.cert)
    except MalformedError as exc:
        raise CredentialRejected(
            "malformed", "§4.5", f"{_cert_name(0, leaf.cert)}: claim constraints: {exc}"
        ) from exc


def _not_before(cert: x509.Certificate) -> float:
    return cert.not_valid_before_utc.timestamp()


def _not_after(cert: x509.Certificate) -> float:
    return cert.not_valid_after_utc.timestamp()


def _cert_name(index: int, cert: x509.Certificate) -> str:
    try:
        subject = cert.subject.rfc4514_string() or "empty subject"
    except (ValueError, KeyError):  # a name that does not parse must not hide the reason
        subject = "unreadable subject"
    return f"certificates[{index}] ({subject})"


def _static_checks(index: int, cert: x509.Certificate) -> tuple[TNAuthList | None, bool, bool]:
    """Critical STIR extensions and the TNAuthList's encoding (no signatures), in one pass
    over the extensions. Returns the TNAuthList, whether claim constraints are present and
    whether name constraints are.
    """
    try:
        extensions = cert.extensions
    except (ValueError, x509.DuplicateExtension) as exc:
        raise CredentialRejected(
            "malformed", "§4.1", f"{_cert_name(index, cert)}: extensions do not parse: {exc}"
        ) from exc
    tnal_ext = None
    constrained = name_constrained = False
    for ext in extensions:
        oid = ext.oid
        if oid not in STIR_EXTENSION_OIDS:
            if oid == _OID_NAME_CONSTRAINTS:
                name_constrained = True
            continue
        if ext.critical:
            raise CredentialRejected(
                "critical-extension",
                "§4.3",
                f"{_cert_name(index, cert)} marks extension {oid.dotted_string} critical; "
                "the X.509 verifier cannot account for it, so it is refused, not ignored",
            )
        if oid == OID_TNAUTHLIST:
            tnal_ext = ext
        else:
            constrained = True
    if tnal_ext is None:
        return None, constrained, name_constrained
    try:
        return decode_tnauthlist(extension_der(tnal_ext)), constrained, name_constrained
    except MalformedError as exc:
        raise CredentialRejected(
            "malformed", "§3", f"{_cert_name(index, cert)}: malformed TNAuthList: {exc}"
        ) from exc


def _check_scope(
    path: Sequence[x509.Certificate],
    tnauthlists: Sequence[TNAuthList | None],
    trust: TrustStore,
    *,
    start: int,
    scope: TNAuthList | None,
) -> TNAuthList | None:
    """RFC 9060 delegation from ``path[start]`` down to ``path[0]``, given the effective
    ``scope`` above ``path[start]``. Returns the effective scope of ``path[0]``.

    Each certificate's entries must lie inside its issuer's (already checked) entries,
    which makes every effective scope the intersection of the TNAuthLists above it.
    """
    for i in range(start, -1, -1):
        tnal = tnauthlists[i]
        if scope is None:
            scope = tnal
            continue
        if tnal is None:
            if i == 0:
                break
            raise CredentialRejected(
                "delegate-scope",
                "§4.3",
                f"{_cert_name(i, path[i])} carries no TNAuthList below a certificate that "
                "does: a scope-less sub-CA must not reset the scope",
            )
        result = entries_within(tnal, scope, trust.spc_assignments)
        if result is Coverage.SPC_UNASSIGNED:
            raise CredentialRejected(
                "spc-unassigned",
                "§4.3",
                f"{_cert_name(i, path[i])} names {describe_entries(tnal.entries)} under SPC "
                f"scope {describe_entries(scope.entries)}; no SPC assignment is configured, "
                "so it cannot be shown that the SPC covers those numbers",
            )
        if result is not Coverage.COVERED:
            raise CredentialRejected(
                "delegate-scope",
                "§4.3",
                f"{_cert_name(i, path[i])} names {describe_entries(tnal.entries)}, outside "
                f"its issuer's scope {describe_entries(scope.entries)}",
            )
        scope = tnal
    if tnauthlists[0] is None:
        raise CredentialRejected(
            "no-tnauthlist", "§4.3", f"{_cert_name(0, path[0])} carries no TNAuthList"
        )
    return scope


def _verification_instant(now: float, not_before: float, not_after: float) -> float:
    if not_before > not_after:
        raise CredentialRejected(
            "chain",
            "§4.1",
            "the certificates' validity periods do not overlap: the chain is never valid",
        )
    return min(max(now, not_before), not_after)


def _candidate_anchor_window(
    top: x509.Certificate, trust: TrustStore
) -> tuple[float, float] | None:
    # Only when one anchor can issue the top certificate do we know the anchor's window
    # before verifying; it keeps an expired anchor a time failure, not a chain failure.
    candidates = [a for a in trust.anchors if a.subject == top.issuer]
    if len(candidates) != 1 or top in trust.anchors:
        return None
    return _not_before(candidates[0]), _not_after(candidates[0])


# Verifiers by (id of the store's owner, whole second), shared by every Validator: a
# verifier depends only on its store, its instant and the module's policies, and building
# one is not free. The entry keeps the owner alive, so its id cannot be reused.
_VERIFIERS: dict[tuple[int, int], tuple[object, ClientVerifier]] = {}


def _verifier(store: Store, owner: object, instant: float) -> ClientVerifier:
    """A verifier for ``store`` at ``instant``; the last few are kept, since consecutive
    validations mostly fall in the same second."""
    # Certificate times are whole seconds, so the truncated instant stays inside the
    # window the instant was chosen in.
    key = (id(owner), int(instant))
    hit = _VERIFIERS.get(key)
    if hit is not None and hit[0] is owner:
        return hit[1]
    verifier = (
        PolicyBuilder()
        .store(store)
        .time(_utc(int(instant)))
        .max_chain_depth(MAX_CHAIN_DEPTH)
        .extension_policies(ca_policy=CA_POLICY, ee_policy=EE_POLICY)
        .build_client_verifier()
    )
    _VERIFIERS[key] = (owner, verifier)
    if len(_VERIFIERS) > 64:
        del _VERIFIERS[next(iter(_VERIFIERS))]
    return verifier


def clear_shared_caches() -> None:
    """Forget the parsed certificates and verifiers every Validator shares (they depend
    on nothing but certificate bytes and trust stores; for memory, or to measure a
    process that has seen nothing)."""
    _PARSED.clear()
    _PARSED_ANCHORS.clear()
    _VERIFIERS.clear()
    _CREDENTIALS.clear()
    _LEAF_EXTENSIONS.clear()


class Validator:
    """Validates STIR credentials, caching chain verification (not verdicts).

    Two caches, each bounded (least recently used out first) and keyed by the trust
    store object (kept alive by the entry, so its ``id`` cannot be reused):

    - verified chains by (trust store, certificate DER bytes): the X.509 verifier's
      outcome does not depend on the time inside the chain's validity window, which is
      kept with it; time rules are re-applied on every validation;
    - verified issuer chains (chain[1:]) by the same key: a new chain[0] under a known
      issuer is verified by the same verifier and policies with chain[1] as the only
      anchor (one signature), unless an issuer carries name constraints. Before that,
      with ``native=True`` (the default), the binding's accept-only ``KnownIssuer``
      check (one ``ring`` signature, no cryptography objects); its accepted chains are
      kept by the same key. ``native_accepts`` counts the verdicts built that way.

    With ``native=True`` a PASSporT's ES256 signature is also verified by the binding
    (``ring``) and a P-256 member key's point checked by it (``p256``), accept-only:
    whatever they do not show goes through cryptography as before
    (``native_passports`` counts the PASSporTs verified that way).

    Shared by every Validator in the process (no trust or time in them): parsed and
    statically checked certificates by DER bytes, and built verifiers by store and second
    (:func:`clear_shared_caches`). No verification outcome is shared that way.
    """

    def __init__(self, *, cache_size: int = 4096, native: bool = True) -> None:
        self._cache_size = cache_size
        # Ask the binding's accept-only check first for leaves under known issuers.
        self._native = native
        self._native_leaves: OrderedDict[
            tuple[int, tuple[bytes, ...]], tuple[TrustStore, _NativeLeaf]
        ]
        self._native_leaves = OrderedDict()
        #: Certificate verdicts built from the binding's facts (for tests and benchmarks).
        self.native_accepts = 0
        #: PASSporTs whose signature the binding verified (likewise).
        self.native_passports = 0
        self._chains: OrderedDict[tuple[int, tuple[bytes, ...]], tuple[TrustStore, ChainFacts]]
        self._chains = OrderedDict()
        self._issuers: OrderedDict[tuple[int, tuple[bytes, ...]], _IssuerFacts] = OrderedDict()
        # PASSporT headers already decoded and checked (a signer's are all the same).
        self._passport_headers: HeaderCache = {}

    def clear(self) -> None:
        """Forget every cached chain (e.g. after the trust configuration changed)."""
        self._chains.clear()
        self._issuers.clear()
        self._native_leaves.clear()
        self._passport_headers.clear()
        clear_shared_caches()

    def _remember(self, cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > self._cache_size:
            cache.popitem(last=False)

    # -- chains --

    def chain_facts(
        self, certificates: tuple[bytes, ...], trust: TrustStore, now: float
    ) -> ChainFacts:
        """Parse, check and verify a chain (leaf first, DER); cached. ``now`` only picks the
        instant of verification inside the chain's validity window."""
        key = (id(trust), certificates)
        hit = self._chains.get(key)
        if hit is not None and hit[0] is trust:
            self._chains.move_to_end(key)
            return hit[1]
        try:
            facts = self._verify_chain(certificates, trust, now)
        except (ValueError, KeyError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
            # cryptography parses names and extensions lazily; a field that does not parse
            # surfaces on first use, as one of these. (Our own errors are not among them:
            # MalformedError is turned into CredentialRejected where it arises.)
            raise CredentialRejected(
                "malformed", "§2", f"a certificate does not parse: {exc!r}"
            ) from exc
        self._remember(self._chains, key, (trust, facts))
        return facts

    def _verify_chain(
        self, certificates: tuple[bytes, ...], trust: TrustStore, now: float
    ) -> ChainFacts:
        issuer = self._issuers.get((id(trust), certificates[1:])) if len(certificates) > 1 else None
        if issuer is not None and issuer.trust is trust:
            # Under a known issuer chain only chain[0] is new: parse and check just that.
            leaf_der = certificates[0]
            leaf = _parsed(0, leaf_der, _load(0, leaf_der))
            leaf_constraints = _leaf_constraints(leaf)
            path, tnals, nb, na = self._verify_under_issuer(leaf, issuer, now)
            _check_scope(path, tnals, trust, start=0, scope=issuer.scope)
            if issuer.native is not None:
                # Accepted the long way: the binding may take leaves laid out like it.
                issuer.native.learn(leaf_der)
            return ChainFacts(
                certificates=path[: len(certificates)],
                path=path,
                tnauthlists=tnals,
                leaf_constraints=leaf_constraints,
                not_before=nb,
                not_after=na,
                starts=(leaf.not_before, *issuer.starts),
                ends=(leaf.not_after, *issuer.ends),
            )
        # Every certificate parses before any is inspected (the order of the checks).
        loaded = [_load(i, der) for i, der in enumerate(certificates)]
        leaf = _parsed(0, certificates[0], loaded[0])
        leaf_constraints = _leaf_constraints(leaf)
        parsed = [leaf] + [_parsed(i, certificates[i], loaded[i]) for i in range(1, len(loaded))]
        full = self._verify_full(parsed, trust, now)
        path = tuple(p.cert for p in full)
        tnals = tuple(p.tnauthlist for p in full)
        _check_scope(path, tnals, trust, start=len(path) - 1, scope=None)
        if len(parsed) > 1:
            self._remember_issuer(certificates, full, trust)
        starts = tuple(p.not_before for p in full)
        ends = tuple(p.not_after for p in full)
        return ChainFacts(
            certificates=tuple(p.cert for p in parsed),
            path=path,
            tnauthlists=tnals,
            leaf_constraints=leaf_constraints,
            not_before=max(starts),
            not_after=min(ends),
            starts=starts,
            ends=ends,
        )

    def _remember_issuer(
        self, certificates: tuple[bytes, ...], full: tuple[_ParsedCert, ...], trust: TrustStore
    ) -> None:
        issuer_path = full[1:]
        if any(p.name_constrained for p in issuer_path):
            return  # name constraints apply to the leaf's names: always verify in full
        # The full check passed, so below the first certificate carrying a TNAuthList
        # every one carries one: the scope granted to chain[0] is chain[1]'s TNAuthList
        # (None when nothing above chain[0] is scoped).
        starts = tuple(p.not_before for p in issuer_path)
        ends = tuple(p.not_after for p in issuer_path)
        facts = _IssuerFacts(
            trust=trust,
            path=tuple(p.cert for p in issuer_path),
            tnauthlists=tuple(p.tnauthlist for p in issuer_path),
            scope=issuer_path[0].tnauthlist,
            not_before=max(starts),
            not_after=min(ends),
            starts=starts,
            ends=ends,
            native=_native_issuer(certificates[1], certificates[0]) if self._native else None,
        )
        self._remember(self._issuers, (id(trust), certificates[1:]), facts)

    def _verify_full(
        self, parsed: list[_ParsedCert], trust: TrustStore, now: float
    ) -> tuple[_ParsedCert, ...]:
        certs = [p.cert for p in parsed]
        nb = max(p.not_before for p in parsed)
        na = min(p.not_after for p in parsed)
        anchor_window = _candidate_anchor_window(certs[-1], trust)
        if anchor_window is not None:
            nb, na = max(nb, anchor_window[0]), min(na, anchor_window[1])
        instant = _verification_instant(now, nb, na)
        verifier = _verifier(trust.store, trust, instant)
        try:
            verified = verifier.verify(certs[0], certs[1:])
        except VerificationError as exc:
            raise CredentialRejected(
                "chain", "§4.1", f"the chain does not validate to an STI trust anchor: {exc}"
            ) from exc
        path = verified.chain
        # The credential's chain must be the path itself, leaf first, each certificate
        # signed by the next (PROFILE.md §2); the anchor may be left out.
        if len(path) < len(certs) or any(
            a is not b and a != b for a, b in zip(path, certs, strict=False)
        ):
            raise CredentialRejected(
                "chain",
                "§2",
                "the certificates are not the verified path in order (leaf first, each "
                "signed by the next, nothing else)",
            )
        return tuple(parsed) + tuple(
            _parse_anchor(i, c) for i, c in enumerate(path[len(certs) :], start=len(certs))
        )

    def _verify_under_issuer(
        self, leaf: _ParsedCert, issuer: _IssuerFacts, now: float
    ) -> tuple[tuple[x509.Certificate, ...], tuple[TNAuthList | None, ...], float, float]:
        nb = max(leaf.not_before, issuer.not_before)
        na = min(leaf.not_after, issuer.not_after)
        instant = _verification_instant(now, nb, na)
        # The same verifier and policies, with the already verified issuer as the only
        # anchor: checks the leaf's signature, names, validity and extensions as the
        # full verification does; everything above was established by it. (Making those
        # checks here instead, with the issuer key loaded once, measured no faster: the
        # verifier's own cost beyond the signature is mostly the TBS re-serialisation and
        # parsing any such check needs too; benchmarks/credentials/RESULTS.md.)
        if issuer.store is None:
            issuer.store = Store([issuer.path[0]])
        verifier = _verifier(issuer.store, issuer, instant)
        try:
            verifier.verify(leaf.cert, [])
        except VerificationError as exc:
            raise CredentialRejected(
                "chain", "§4.1", f"the chain does not validate to an STI trust anchor: {exc}"
            ) from exc
        return (leaf.cert, *issuer.path), (leaf.tnauthlist, *issuer.tnauthlists), nb, na

    # -- credentials --

    def verdict(
        self,
        credential_type: int,
        content: bytes,
        signature_key: bytes,
        *,
        group_id: bytes | None,
        ds_id: str | None = None,
        trust: TrustStore,
        now: datetime,
        application_id: bytes | None = None,
        max_age: timedelta = PASSPORT_MAX_AGE,
        future_skew: timedelta = PASSPORT_FUTURE_SKEW,
        ciphersuite: int | None = None,
        check_dest: bool = True,
        check_key: bool = True,
    ) -> Verdict:
        """Every non-time rule; the time rules come back as bounds (see :class:`Verdict`).

        ``check_dest=False`` skips §5.5 and ``check_key=False`` the PASSporT's member key
        (§1, §5.4 binding; mky must still be present and well formed): both exist for
        inspection tools only, which may not know the group or the LeafNode.
        """
        now_s = _check_now(now)
        try:
            data = bytes(content)
            credential = _CREDENTIALS.get(
                (credential_type, data), lambda: decode_credential(credential_type, data)
            )
        except MalformedError as exc:
            if credential_type not in (
                CREDENTIAL_TYPE_STIR_CERTIFICATE,
                CREDENTIAL_TYPE_STIR_PASSPORT,
            ):
                raise CredentialRejected(
                    "credential-type",
                    "§2",
                    f"credential type 0x{credential_type:04x} is not a STIR credential type",
                ) from exc
            raise CredentialRejected("malformed", "§2", str(exc)) from exc
        if isinstance(credential, STIRCertificateCredential):
            return self._certificate_verdict(
                credential, bytes(signature_key), trust, now_s, application_id, ciphersuite
            )
        if check_dest and (group_id is None) == (ds_id is None):
            raise ValueError("validate a PASSporT credential for exactly one of group_id, ds_id")
        expected = None
        if check_dest:
            expected = (
                group_dest_uri(group_id) if group_id is not None else ds_dest_uri(ds_id or "")
            )
        return self._passport_verdict(
            credential,
            bytes(signature_key),
            trust,
            now_s,
            expected,
            max_age,
            future_skew,
            ciphersuite,
            check_key,
        )

    def _certificate_verdict(
        self,
        credential: STIRCertificateCredential,
        signature_key: bytes,
        trust: TrustStore,
        now: float,
        application_id: bytes | None,
        ciphersuite: int | None,
    ) -> Verdict:
        if ciphersuite is not None and ciphersuite not in CERTIFICATE_CIPHERSUITES:
            raise CredentialRejected(
                "unsupported-key",
                "§1",
                f"ciphersuite 0x{ciphersuite:04x} cannot carry a certificate credential "
                "(its signature key is not an ES256 key)",
            )
        _check_p256_encoding(signature_key)
        if self._native:
            native = self._native_leaf(credential.certificates, trust)
            if native is not None and native.point == signature_key:
                try:
                    identity = _certificate_identity(
                        native.tnauthlist,
                        native.display_name,
                        native.not_before,
                        native.not_after,
                        application_id,
                        trust,
                    )
                except CredentialRejected:
                    pass  # the full path below words the rejection
                else:
                    self.native_accepts += 1
                    return Verdict(identity, *native.bounds)
        facts = self.chain_facts(credential.certificates, trust, now)
        leaf_point = facts.leaf_point
        if leaf_point is None:
            _p256_key_of(facts.leaf, "certificates[0]")  # raises, naming the key type
        # Compare decoded points (PROFILE.md §1): the member key is in the canonical
        # uncompressed encoding, so re-encoding the certificate's (validated) point the
        # same way and comparing bytes compares the points; equal bytes are then a valid
        # point too, and only a mismatch needs the member key decoded to say why.
        if leaf_point != signature_key:
            decode_p256_signature_key(signature_key)
            raise CredentialRejected(
                "key-mismatch",
                "§4.2",
                "certificates[0]'s public key is not the LeafNode signature key",
            )
        identity = _certificate_identity(
            facts.leaf_tnauthlist,
            display_name_of(facts.leaf_constraints),
            facts.not_before,
            facts.not_after,
            application_id,
            trust,
        )
        return Verdict(identity, *facts.bounds)

    def _native_leaf(
        self, certificates: tuple[bytes, ...], trust: TrustStore
    ) -> _NativeLeaf | None:
        """chain[0] checked by the binding under its known issuer chain, with the rules of
        the full path that need no certificate object (TNAuthList and claim constraints
        decoded, delegation scope, time window); None whenever anything is not shown, so
        that the full path decides."""
        key = (id(trust), certificates)
        hit = self._native_leaves.get(key)
        if hit is not None and hit[0] is trust:
            return hit[1]
        if len(certificates) < 2 or key in self._chains:
            return None
        issuer = self._issuers.get((id(trust), certificates[1:]))
        if issuer is None or issuer.trust is not trust or issuer.native is None:
            return None
        facts = issuer.native.check_leaf(certificates[0])
        if facts is None:
            return None
        nb = max(float(facts.not_before), issuer.not_before)
        na = min(float(facts.not_after), issuer.not_after)
        if nb > na:
            return None
        plain, enhanced = facts.jwt_claim_constraints, facts.enhanced_jwt_claim_constraints
        try:
            tnal, constraints, name = _LEAF_EXTENSIONS.get(
                (facts.tnauthlist, plain, enhanced),
                lambda: _leaf_extensions(facts.tnauthlist, plain, enhanced),
            )
        except MalformedError:
            return None
        scope = issuer.scope
        if (
            scope is not None
            and entries_within(tnal, scope, trust.spc_assignments) is not Coverage.COVERED
        ):
            return None
        bounds = _bounds(
            nb,
            na,
            (float(facts.not_before), *issuer.starts),
            (float(facts.not_after), *issuer.ends),
        )
        leaf = _NativeLeaf(facts.public_key, tnal, constraints, name, nb, na, bounds)
        self._remember(self._native_leaves, key, (trust, leaf))
        return leaf

    def _passport_verdict(
        self,
        credential: STIRPASSporTCredential,
        signature_key: bytes,
        trust: TrustStore,
        now: float,
        expected_dest: str | None,
        max_age: timedelta,
        future_skew: timedelta,
        ciphersuite: int | None,
        check_key: bool = True,
    ) -> Verdict:
        if check_key:
            _check_passport_member_key(signature_key, ciphersuite, self._native)
        try:
            token = credential.passport_text
        except MalformedError as exc:
            raise CredentialRejected("malformed", "§5.2", str(exc)) from exc
        facts = self.chain_facts(credential.certificates, trust, now)
        passport = _native_passport(token, facts) if self._native else None
        if passport is not None:
            self.native_passports += 1
        else:
            passport = verify_passport_signature(
                token, facts.signer_key, headers=self._passport_headers
            )
        tnal = facts.leaf_tnauthlist
        coverage = trust.coverage(passport.orig_tn, tnal)
        if coverage is Coverage.SPC_UNASSIGNED:
            raise CredentialRejected(
                "spc-unassigned",
                "§5.3",
                f"orig {passport.orig_tn} is not named by the signer's TNAuthList "
                f"({describe_entries(tnal.entries)}) and no SPC assignment is configured: "
                "cannot show the SPC covers the TN",
            )
        if coverage is not Coverage.COVERED:
            raise CredentialRejected(
                "tn-not-authorised",
                "§5.3",
                f"orig {passport.orig_tn} is outside the signer's scope "
                f"{describe_entries(tnal.entries)}",
            )
        if passport.mky is None:
            raise CredentialRejected("mky", "§5.4", "the PASSporT has no mky claim")
        if check_key and not passport.binds_key(signature_key):
            raise CredentialRejected(
                "mky", "§5.4", "no mky entry is the SHA-256 of the LeafNode signature key"
            )
        if expected_dest is not None and (
            passport.dest_uris != (expected_dest,) or passport.dest_tns
        ):
            raise CredentialRejected(
                "dest",
                "§5.5",
                f"dest names {list(passport.dest_uris) + list(passport.dest_tns)}, "
                f"not exactly {expected_dest}",
            )
        _check_claim_constraints(passport, facts.leaf_constraints)
        lower, upper = facts.bounds
        iat = float(passport.iat)
        skew_s, age_s, future_text, stale_text = _iat_rules(future_skew, max_age)
        lower += (TimeBound(iat - skew_s, "future-iat", "§5.6", future_text, iat),)
        upper += (TimeBound(iat + age_s, "stale", "§5.6", stale_text, iat),)
        not_after = min(facts.not_after, iat + age_s)
        if passport.exp is not None:
            # exp is exclusive: the PASSporT is no longer valid at exp.
            upper += (
                TimeBound(
                    passport.exp - 1e-6,
                    "expired",
                    "§5.6",
                    "the PASSporT expired at {when}",
                    float(passport.exp),
                ),
            )
            not_after = min(not_after, float(passport.exp))
        spc_signer = tnal.spc_only
        identity = Identity(
            kind=KIND_PASSPORT,
            tns=(passport.orig_tn,),
            display_name=passport.nam,
            name_source="rcd" if passport.nam else None,
            signer_scope=tnal.description,
            signer_entries=tnal.entries,
            assurance=Assurance.PROVIDER_ATTESTED_KEY if spc_signer else Assurance.END_TO_END,
            credential_type=CREDENTIAL_TYPE_STIR_PASSPORT,
            not_after=_utc(not_after),
            valid_from=_utc(max(facts.not_before, iat - skew_s)),
        )
        return Verdict(identity, lower, upper)

    def validate(
        self,
        credential_type: int,
        content: bytes,
        signature_key: bytes,
        *,
        group_id: bytes | None,
        ds_id: str | None = None,
        trust: TrustStore,
        now: datetime,
        strict_time: bool = True,
        application_id: bytes | None = None,
        clock_tolerance: timedelta = CLIENT_CLOCK_TOLERANCE,
        max_age: timedelta = PASSPORT_MAX_AGE,
        future_skew: timedelta = PASSPORT_FUTURE_SKEW,
        ciphersuite: int | None = None,
    ) -> Identity:
        """See :func:`validate`."""
        verdict = self.verdict(
            credential_type,
            content,
            signature_key,
            group_id=group_id,
            ds_id=ds_id,
            trust=trust,
            now=now,
            application_id=application_id,
            max_age=max_age,
            future_skew=future_skew,
            ciphersuite=ciphersuite,
        )
        return verdict.at(now.timestamp(), clock_tolerance.total_seconds(), strict_time)


@functools.lru_cache(maxsize=16)
def _iat_rules(future_skew: timedelta, max_age: timedelta) -> tuple[float, float, str, str]:
    """The PASSporT freshness rules' seconds and sentences (§5.6), made once per policy."""
    skew_s = future_skew.total_seconds()
    return (
        skew_s,
        max_age.total_seconds(),
        "iat {when} is more than " + f"{int(skew_s)} s in the future",
        "iat {when} is older than the maximum age " + str(max_age),
    )


def _chain_bounds(facts: ChainFacts) -> tuple[tuple[TimeBound, ...], tuple[TimeBound, ...]]:
    starts = facts.starts or tuple(_not_before(c) for c in facts.path)
    ends = facts.ends or tuple(_not_after(c) for c in facts.path)
    return _bounds(facts.not_before, facts.not_after, starts, ends)


# Members of a provider issued together share their validity window: the bounds (frozen)
# are made once per distinct set of instants.
@functools.lru_cache(maxsize=1024)
def _bounds(
    not_before: float, not_after: float, starts: tuple[float, ...], ends: tuple[float, ...]
) -> tuple[tuple[TimeBound, ...], tuple[TimeBound, ...]]:
    i_first, i_last = starts.index(max(starts)), ends.index(min(ends))
    return (
        (
            TimeBound(
                not_before,
                "not-yet-valid",
                "§4.1",
                f"certificates[{i_first}] is not valid before " + "{when}",
                not_before,
            ),
        ),
        (
            TimeBound(
                not_after,
                "expired",
                "§4.1",
                f"certificates[{i_last}] expired at " + "{when}",
                not_after,
            ),
        ),
    )


def _native_issuer(issuer_der: bytes, leaf_der: bytes) -> KnownIssuer | None:
    """chain[1] for the binding's leaf check, with the extension layout of ``leaf_der`` (a
    leaf the full checks accepted under it), or None when the binding cannot check leaves
    under it."""
    try:
        native = KnownIssuer(issuer_der)
    except ValueError:
        return None
    native.learn(leaf_der)
    return native


def _leaf_extensions(
    tnauthlist: bytes, plain: bytes | None, enhanced: bytes | None
) -> tuple[TNAuthList, ClaimConstraints | None, str | None]:
    """A leaf's TNAuthList and claim constraints decoded from the extension values, and
    the display name the constraints permit. Raises :class:`MalformedError`."""
    constraints = _constraints_of_values(plain, enhanced)
    return decode_tnauthlist(tnauthlist), constraints, display_name_of(constraints)


def _constraints_of_values(plain: bytes | None, enhanced: bytes | None) -> ClaimConstraints | None:
    """As :func:`~shared.stir.claim_constraints.claim_constraints_of`, from the extension
    values. Raises :class:`MalformedError`."""
    if enhanced is not None and plain is not None:
        raise MalformedError("both JWTClaimConstraints and EnhancedJWTClaimConstraints")
    if enhanced is not None:
        return EnhancedJWTClaimConstraints.decode(enhanced)
    if plain is not None:
        return JWTClaimConstraints.decode(plain)
    return None


def _native_passport(token: str, facts: ChainFacts) -> Passport | None:
    """The PASSporT when the binding verifies its ES256 signature under chain[0]'s point
    and every other check of :func:`verify_passport_signature` passes; None otherwise,
    so that the full check decides and words the rejection (accept-only)."""
    point = facts.leaf_point
    if point is None:
        return None
    head, _, encoded = token.strip().rpartition(".")
    try:
        # Lenient here (stray characters are skipped): the full parse below is strict and
        # refuses any segment this decoding would have read differently.
        signature = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        signing_input = head.encode("ascii")
    except (ValueError, binascii.Error):
        return None
    if not verify_es256(point, signing_input, signature):
        return None
    try:
        return parse_passport_unverified(token)
    except CredentialRejected:
        return None


def _certificate_identity(
    tnal: TNAuthList,
    name: str | None,
    not_before: float,
    not_after: float,
    application_id: bytes | None,
    trust: TrustStore,
) -> Identity:
    """The Identity of a 0xF001 credential whose every non-time rule held, but the
    carrier-level claim (§4.4), checked here."""
    claimed = None
    entries = tnal.entries
    if len(entries) == 1 and type(entries[0]) is OneTN:
        # A member's own number, the common case: what the general case below gives,
        # without making the TNAuthList's derived attributes (a sizeable share of a
        # known-issuer validation once the certificate check is native).
        kind, assurance = KIND_TN_CERT, Assurance.END_TO_END
        tns: tuple[str | TNRange, ...] = (entries[0].tn,)
        scope = entries[0].tn
    elif tnal.spc_only:
        kind, assurance = KIND_SPC_CERT, Assurance.CARRIER_KEY
        tns = ()
        claimed = _claimed_tn(application_id, tnal, trust)
        scope = tnal.description
    else:
        kind, assurance = KIND_TN_CERT, Assurance.END_TO_END
        tns = tuple(e.tn if isinstance(e, OneTN) else e for e in tnal.number_entries)
        scope = tnal.description
    return Identity(
        kind=kind,
        tns=tns,
        display_name=name,
        name_source="certificate" if name else None,
        signer_scope=scope,
        signer_entries=tnal.entries,
        assurance=assurance,
        credential_type=CREDENTIAL_TYPE_STIR_CERTIFICATE,
        not_after=_utc(not_after),
        valid_from=_utc(not_before),
        claimed_tn=claimed,
    )


def _claimed_tn(application_id: bytes | None, tnal: TNAuthList, trust: TrustStore) -> str | None:
    """The number a carrier-level member claims in its application_id (§4.4)."""
    if not application_id:
        return None
    try:
        tn = application_id.decode("ascii")
    except UnicodeDecodeError:
        tn = ""
    if not (tn.isdigit() and 1 <= len(tn) <= 15):
        raise CredentialRejected(
            "malformed",
            "§4.4",
            "the application_id of a carrier-level member must be its number as canonical "
            "E.164 digits",
        )
    # An SPC whose numbers are known must hold the claimed number; an SPC without an
    # assignment leaves it a claim, which is how it is shown.
    known = [s for s in tnal.spcs if s in trust.spc_assignments]
    if known and trust.coverage(tn, [SPC(s) for s in known]) is not Coverage.COVERED:
        raise CredentialRejected(
            "tn-not-authorised",
            "§4.4",
            f"the claimed number {tn} is not among the numbers assigned to SPC {', '.join(known)}",
        )
    return tn


def _check_claim_constraints(passport: Passport, constraints: ClaimConstraints | None) -> None:
    """RFC 8226 §8 / RFC 9118: the PASSporT must respect chain[0]'s claim constraints."""
    if constraints is None:
        return
    if passport.nam is not None and not nam_permitted(constraints, passport.nam):
        raise CredentialRejected(
            "nam-not-permitted",
            "§5.7",
            f"display name {passport.nam!r} is not permitted by the signer's certificate",
        )
    for claim in constraints.must_include:
        if claim not in passport.claims:
            raise CredentialRejected(
                "claim-constraints", "§5.7", f"the signer's certificate requires claim {claim!r}"
            )
    if isinstance(constraints, EnhancedJWTClaimConstraints):
        for claim in constraints.must_exclude:
            if claim in passport.claims:
                raise CredentialRejected(
                    "claim-constraints", "§5.7", f"the signer's certificate excludes {claim!r}"
                )
    for claim, permitted in constraints.permitted_values.items():
        if claim in (NAM_CLAIM, RCD_CLAIM) or claim not in passport.claims:
            continue  # display names are checked above, through nam_permitted
        value = passport.claims[claim]
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        if text not in permitted:
            raise CredentialRejected(
                "claim-constraints",
                "§5.7",
                f"claim {claim!r} = {text!r} is not among the values the signer may use",
            )


DEFAULT_VALIDATOR: Final = Validator()


def validate(
    credential_type: int,
    content: bytes,
    signature_key: bytes,
    *,
    group_id: bytes | None,
    ds_id: str | None = None,
    trust: TrustStore,
    now: datetime,
    strict_time: bool = True,
    application_id: bytes | None = None,
    clock_tolerance: timedelta = CLIENT_CLOCK_TOLERANCE,
    max_age: timedelta = PASSPORT_MAX_AGE,
    future_skew: timedelta = PASSPORT_FUTURE_SKEW,
    ciphersuite: int | None = None,
) -> Identity:
    """Validate an MLS credential as a STIR identity (PROFILE.md §4, §5, §6).

    ``credential_type``/``content``: the MLS Credential (0xF001 or 0xF002 and its content
    bytes). ``signature_key``: the LeafNode's signature key bytes. ``group_id``: the group
    the credential is being checked for (a PASSporT's dest must name it); ``ds_id``
    instead for the delivery service registration PASSporT (dest ``mls:ds:<id>``).
    ``now`` is aware; time rules pass if they hold at some instant within
    ``now ± clock_tolerance`` (clients 300 s, the delivery service 60 s). With
    ``strict_time=False`` (members already in a group), a credential whose only failure
    is time comes back with ``stale=True`` instead of a rejection.
    ``application_id``: the LeafNode's application_id, read as the number of a
    carrier-level member (§4.4). ``ciphersuite``, if given, is checked against the key.

    Raises :class:`~shared.stir.errors.CredentialRejected` (reason, rule, detail).
    Uses a module-wide :class:`Validator` (its chain caches); results are not cached
    here, see :mod:`shared.stir.validation_cache`.
    """
    return DEFAULT_VALIDATOR.validate(
        credential_type,
        content,
        signature_key,
        group_id=group_id,
        ds_id=ds_id,
        trust=trust,
        now=now,
        strict_time=strict_time,
        application_id=application_id,
        clock_tolerance=clock_tolerance,
        max_age=max_age,
        future_skew=future_skew,
        ciphersuite=ciphersuite,
    )

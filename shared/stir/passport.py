"""PASSporTs (RFC 8225) as the profile uses them: signing and verification.

A PASSporT is a JWS compact serialisation with header ``typ: "passport"``,
``alg: "ES256"`` and claims ``orig``, ``dest``, ``iat`` and, for MLS, ``mky`` binding the
member's signature key (PROFILE.md §5). Signing is the provider's job (its signer role
holds the key of the certificate that vouches for the number); verification is split
into :func:`verify_passport_signature` (everything that does not depend on the clock) and
:func:`check_passport_time` (freshness), so that the validator can report a time-only
failure of a member already in a group as "stale" rather than a rejection (§6).

pyjwt signs (JWS compact serialisation, ES256 raw ``r||s``). Its claim checks are not
used: they accept what the profile refuses (a string ``iat``, for one), so every claim is
checked here; and the signature is verified with cryptography directly (see
``_verify_signature``). The payload JSON is serialised here too, because RFC 8225
§9 wants sorted keys without whitespace and pyjwt sorts only the header.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt import api_jws

from shared.profile import PASSPORT_FUTURE_SKEW, PASSPORT_MAX_AGE
from shared.stir.errors import CredentialRejected, MalformedError

PASSPORT_TYP: Final = "passport"
PASSPORT_ALG: Final = "ES256"
# RFC 9795: the Rich Call Data extension; the only ppt the profile accepts (§5.2).
PPT_RCD: Final = "rcd"
MKY_ALG: Final = "sha-256"

# Canonical TN on the wire: E.164 digits, no '+' (PROFILE.md §3, RFC 8224 §8.3).
_CANONICAL_TN = re.compile(r"[0-9]{1,15}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_HEX = re.compile(r"[0-9A-Fa-f]{64}")
_ES256 = ec.ECDSA(hashes.SHA256())

# Header parameters whose meaning would change how the JWS is processed; the profile
# uses none of them, so a token carrying one is refused rather than half-understood.
_REFUSED_HEADERS: Final = ("crit", "b64", "jku", "jwk", "zip")


@dataclass(frozen=True)
class MkyEntry:
    """One member-key digest of the ``mky`` claim (RFC 8225 §5.2.2 form).

    ``dig`` is kept normalised: upper-case hex, colons removed.
    """

    alg: str
    dig: str


@dataclass(frozen=True)
class Passport:
    """A PASSporT whose signature verified and whose claims have the profile's shapes."""

    token: str
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    orig_tn: str
    dest_uris: tuple[str, ...]
    dest_tns: tuple[str, ...]
    iat: int
    exp: int | None
    ppt: str | None
    mky: tuple[MkyEntry, ...] | None
    nam: str | None

    @property
    def issued_at(self) -> datetime:
        """``iat`` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.iat, UTC)

    def binds_key(self, signature_key: bytes) -> bool:
        """Whether ``mky`` holds the SHA-256 digest of ``signature_key`` (§5.4)."""
        if not self.mky:
            return False
        want = mky_digest(signature_key)
        return any(e.alg.lower() == MKY_ALG and e.dig == want for e in self.mky)


def mky_digest(signature_key: bytes) -> str:
    """Upper-case hex SHA-256 of the MLS signature key bytes, no colons (PROFILE.md §5.4)."""
    return hashlib.sha256(signature_key).hexdigest().upper()


def serialise_claims(claims: Mapping[str, Any]) -> bytes:
    """Deterministic claim JSON (RFC 8225 §9): keys sorted by code point, no whitespace."""
    return json.dumps(
        claims, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


class PassportSigner:
    """The provider's signer role: holds the key of ``chain[0]`` and signs PASSporTs.

    ``chain`` (leaf first, DER) is carried alongside, for building credentials; ``x5u``
    is put in the header if given but verifiers never fetch it (§5.2).
    """

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        chain: Sequence[bytes] = (),
        *,
        x5u: str | None = None,
    ) -> None:
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise ValueError("a PASSporT signer needs a P-256 private key (ES256)")
        self.key = key
        self.chain = tuple(chain)
        self.x5u = x5u

    def sign(
        self,
        orig_tn: str,
        dest_uri: str | Sequence[str],
        mky_key: bytes,
        iat: int | datetime | None = None,
        nam: str | None = None,
        *,
        exp: int | datetime | None = None,
    ) -> str:
        """Sign a PASSporT for ``orig_tn`` to ``dest_uri`` binding ``mky_key``.

        ``orig_tn`` must already be canonical (E.164 digits); ``iat`` defaults to now.
        ``nam`` adds ``rcd: {"nam": ...}`` and ``ppt: "rcd"`` (RFC 9795). Returns the
        compact serialisation.
        """
        if not _CANONICAL_TN.fullmatch(orig_tn):
            raise ValueError(f"orig TN {orig_tn!r} is not canonical E.164 digits")
        uris = [dest_uri] if isinstance(dest_uri, str) else list(dest_uri)
        if not uris or not all(isinstance(u, str) and u for u in uris):
            raise ValueError("dest needs at least one non-empty URI")
        claims: dict[str, Any] = {
            "orig": {"tn": orig_tn},
            "dest": {"uri": uris},
            "iat": _epoch(iat) if iat is not None else int(time.time()),
            "mky": [{"alg": MKY_ALG, "dig": mky_digest(mky_key)}],
        }
        if exp is not None:
            claims["exp"] = _epoch(exp)
        headers: dict[str, Any] = {"typ": PASSPORT_TYP}
        if nam is not None:
            if not nam:
                raise ValueError("nam must not be empty")
            claims["rcd"] = {"nam": nam}
            headers["ppt"] = PPT_RCD
        if self.x5u is not None:
            headers["x5u"] = self.x5u
        return api_jws.encode(
            serialise_claims(claims),
            self.key,
            algorithm=PASSPORT_ALG,
            headers=headers,
            sort_headers=True,
        )


def _epoch(value: int | datetime) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("datetimes must be timezone-aware")
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("a NumericDate must be an integer")
    return value


def _reject(reason: str, detail: str) -> CredentialRejected:
    """A rejection under PROFILE §5.2 (JWS framing, header, signature)."""
    return CredentialRejected(reason, "§5.2", detail)


def _b64url_decode(segment: str, what: str) -> bytes:
    # Strict: the base64url alphabet only, no padding (RFC 7515 §2); base64's own
    # decoder would skip stray characters.
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise MalformedError(f"PASSporT {what} is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as exc:
        raise MalformedError(f"PASSporT {what} is not unpadded base64url") from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # dict() in C, then a length comparison: the Python loop is only for naming the
    # duplicate (this hook runs for every JSON object of every PASSporT).
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedError(f"duplicate JSON member {key!r}")
            seen.add(key)
    return out


def _refuse_constant(name: str) -> Any:
    raise MalformedError(f"JSON constant {name} is not allowed")


# Built once: json.loads with hooks builds a new decoder on every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = _DECODER.decode(raw.decode("utf-8"))
    except MalformedError as exc:
        raise MalformedError(f"PASSporT {what}: {exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedError(f"PASSporT {what} is not UTF-8 JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedError(f"PASSporT {what} is not a JSON object")
    return value


def _int_claim(claims: Mapping[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    # bool is an int in Python; a float or string date is not a NumericDate here.
    if isinstance(value, bool) or not isinstance(value, int):
        raise CredentialRejected(
            "iat" if name == "iat" else "claims",
            "§5.3",
            f"claim {name!r} must be an integer NumericDate, got {type(value).__name__} {value!r}",
        )
    return value


HeaderCache = dict[str, dict[str, Any]]
"""Headers already decoded and checked, by their base64url segment (see
:func:`verify_passport_signature`)."""

HEADER_CACHE_MAX: Final = 256


def verify_passport_signature(
    token: str,
    signer_public_key: ec.EllipticCurvePublicKey,
    *,
    headers: HeaderCache | None = None,
) -> Passport:
    """Check everything about a PASSporT that does not depend on the clock.

    Order: JWS framing, header ``typ``/``alg``, the ES256 signature under
    ``signer_public_key``, the base claims of RFC 8225 §5 (``iat`` an integer, ``orig``
    and ``dest`` objects), then the extension (``ppt`` absent or ``"rcd"``, RFC 8225
    §8.1) and the shapes of ``rcd`` and ``mky``. Whether ``mky`` and ``dest`` match a
    particular key and group is the validator's business. Raises
    :class:`CredentialRejected` (reason ``malformed``, ``typ``, ``alg``,
    ``unsupported-key``, ``signature``, ``iat``, ``claims``, ``ppt`` or ``mky``).

    ``headers``, if given, keeps the headers that passed their checks by their encoded
    segment (a signer's PASSporTs all carry the same one), so that the next token with
    that segment skips decoding and checking it again; at most ``HEADER_CACHE_MAX``.
    """
    return _check_passport(token, signer_public_key, headers)


def parse_passport_unverified(token: str) -> Passport:
    """Every check of :func:`verify_passport_signature` except the signature.

    For inspection tools only (``stirmls credential inspect`` without a signer key): the
    result says nothing about who signed it.
    """
    return _check_passport(token, None)


def _check_header(header: dict[str, Any]) -> None:
    if header.get("typ") != PASSPORT_TYP:
        raise _reject("typ", f'header typ must be "passport", got {header.get("typ")!r}')
    if header.get("alg") != PASSPORT_ALG:
        raise _reject("alg", f'header alg must be "ES256", got {header.get("alg")!r}')
    for name in _REFUSED_HEADERS:
        if name in header:
            raise _reject("malformed", f"header parameter {name!r} is not used by the profile")
    if "ppt" in header and not isinstance(header["ppt"], str):
        raise _reject("ppt", "header ppt must be a string")


def _check_passport(
    token: str,
    signer_public_key: ec.EllipticCurvePublicKey | None,
    headers: HeaderCache | None = None,
) -> Passport:
    if not isinstance(token, str):
        raise _reject("malformed", "a PASSporT is a text JWS compact serialisation")
    token = token.strip()
    parts = token.split(".")
    if len(parts) != 3:
        raise _reject("malformed", f"a JWS compact serialisation has 3 parts, not {len(parts)}")
    header = headers.get(parts[0]) if headers is not None else None
    try:
        # A cached header decoded and passed its checks before (the same checks, in the
        # same order relative to the other segments' decoding).
        fresh = header is None
        if header is None:
            header = _json_object(_b64url_decode(parts[0], "header"), "header")
        signature = _b64url_decode(parts[2], "signature")
        payload = _b64url_decode(parts[1], "payload")
    except MalformedError as exc:
        raise _reject("malformed", str(exc)) from exc
    if fresh:
        _check_header(header)
        if headers is not None:
            if len(headers) >= HEADER_CACHE_MAX:
                headers.clear()
            headers[parts[0]] = header
    if signer_public_key is not None:
        _verify_signature(token, signature, signer_public_key)

    try:
        claims = _json_object(payload, "payload")
    except MalformedError as exc:
        raise CredentialRejected("malformed", "§5.3", str(exc)) from exc
    iat = _int_claim(claims, "iat")
    if iat is None:
        raise CredentialRejected("iat", "§5.3", "the iat claim is missing")
    exp = _int_claim(claims, "exp")
    orig = claims.get("orig")
    if not isinstance(orig, dict):
        raise CredentialRejected(
            "claims", "§5.3", f"orig must be a JSON object, got {type(orig).__name__}"
        )
    orig_tn = orig.get("tn")
    if not isinstance(orig_tn, str) or not _CANONICAL_TN.fullmatch(orig_tn):
        raise CredentialRejected(
            "claims", "§5.3", f"orig.tn must be canonical E.164 digits, got {orig_tn!r}"
        )
    dest_uris, dest_tns = _dest(claims.get("dest"))
    ppt = header.get("ppt")
    if ppt is not None and ppt != PPT_RCD:
        raise CredentialRejected(
            "ppt", "§5.2", f'PASSporT type {ppt!r} is not understood (only "rcd", RFC 8225 §8.1)'
        )
    nam = _rcd_nam(claims, ppt)
    mky = _mky(claims)
    return Passport(
        token=token,
        header=header,
        claims=claims,
        orig_tn=orig_tn,
        dest_uris=dest_uris,
        dest_tns=dest_tns,
        iat=iat,
        exp=exp,
        ppt=ppt,
        mky=mky,
        nam=nam,
    )


def _verify_signature(
    token: str, signature: bytes, signer_public_key: ec.EllipticCurvePublicKey
) -> None:
    # ES256 (RFC 7518 §3.4) checked with cryptography directly: pyjwt's decoder checks
    # the base64 alphabet one character at a time in Python, which costs more than the
    # signature itself; the framing was already checked strictly above.
    if not isinstance(signer_public_key, ec.EllipticCurvePublicKey) or not isinstance(
        signer_public_key.curve, ec.SECP256R1
    ):
        raise _reject("unsupported-key", "the PASSporT signer's key is not a P-256 key (ES256)")
    if len(signature) != 64:
        raise _reject("signature", "an ES256 signature is 64 bytes (raw r||s)")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    signing_input = token[: token.rindex(".")].encode("ascii")
    try:
        signer_public_key.verify(der, signing_input, _ES256)
    except InvalidSignature as exc:
        raise _reject("signature", "the PASSporT signature does not verify") from exc


def _string_list(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise CredentialRejected("claims", "§5.5", f"{what} must be an array of strings")
    return tuple(value)


def _dest(dest: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not isinstance(dest, dict):
        raise CredentialRejected(
            "claims", "§5.5", f"dest must be a JSON object, got {type(dest).__name__}"
        )
    uris = _string_list(dest["uri"], "dest.uri") if "uri" in dest else ()
    tns = _string_list(dest["tn"], "dest.tn") if "tn" in dest else ()
    if not uris and not tns:
        raise CredentialRejected("claims", "§5.5", "dest names no uri and no tn")
    return uris, tns


def _rcd_nam(claims: Mapping[str, Any], ppt: str | None) -> str | None:
    if "rcd" not in claims:
        if ppt == PPT_RCD:
            raise CredentialRejected("ppt", "§5.7", 'ppt "rcd" without an rcd claim')
        return None
    if ppt != PPT_RCD:
        raise CredentialRejected("ppt", "§5.7", 'an rcd claim needs ppt "rcd" (RFC 9795)')
    rcd = claims["rcd"]
    if not isinstance(rcd, dict):
        raise CredentialRejected("claims", "§5.7", "rcd must be a JSON object")
    nam = rcd.get("nam")
    if nam is None and "nam" not in rcd:
        return None
    if not isinstance(nam, str) or not nam:
        raise CredentialRejected("claims", "§5.7", "rcd.nam must be a non-empty string")
    return nam


def _mky(claims: Mapping[str, Any]) -> tuple[MkyEntry, ...] | None:
    if "mky" not in claims:
        return None
    raw = claims["mky"]
    if not isinstance(raw, list) or not raw:
        raise CredentialRejected("mky", "§5.4", "mky must be a non-empty array")
    entries = []
    for item in raw:
        if not isinstance(item, dict):
            raise CredentialRejected("mky", "§5.4", "each mky entry must be an object")
        alg, dig = item.get("alg"), item.get("dig")
        if not isinstance(alg, str) or not isinstance(dig, str):
            raise CredentialRejected("mky", "§5.4", "mky entries need string alg and dig")
        dig = dig.replace(":", "")
        if alg.lower() == MKY_ALG and not _HEX.fullmatch(dig):
            raise CredentialRejected("mky", "§5.4", "a sha-256 mky dig must be 64 hex digits")
        entries.append(MkyEntry(alg=alg, dig=dig.upper()))
    return tuple(entries)


def check_passport_time(
    passport: Passport,
    *,
    now: datetime,
    max_age: timedelta = PASSPORT_MAX_AGE,
    future_skew: timedelta = PASSPORT_FUTURE_SKEW,
    clock_tolerance: timedelta = timedelta(0),
) -> None:
    """Freshness (PROFILE.md §5.6), passing if it holds at some instant within
    ``now ± clock_tolerance``: ``iat`` at most ``future_skew`` ahead, at most ``max_age``
    old, and ``exp`` (if present) not reached. Raises :class:`CredentialRejected` with
    reason ``future-iat``, ``stale`` or ``expired``.
    """
    now_s = now.timestamp()
    tol = clock_tolerance.total_seconds()
    if passport.iat > now_s + tol + future_skew.total_seconds():
        raise CredentialRejected(
            "future-iat",
            "§5.6",
            f"iat {passport.issued_at:%Y-%m-%dT%H:%M:%SZ} is more than "
            f"{int(future_skew.total_seconds())} s in the future",
        )
    if now_s - tol - passport.iat > max_age.total_seconds():
        raise CredentialRejected(
            "stale",
            "§5.6",
            f"iat {passport.issued_at:%Y-%m-%dT%H:%M:%SZ} is older than the maximum age {max_age}",
        )
    if passport.exp is not None and now_s - tol >= passport.exp:
        raise CredentialRejected(
            "expired",
            "§5.6",
            f"the PASSporT expired at {_iso(passport.exp)}",
        )


def _iso(epoch: int) -> str:
    return f"{datetime.fromtimestamp(epoch, UTC):%Y-%m-%dT%H:%M:%SZ}"


def passport_expiry(passport: Passport, max_age: timedelta = PASSPORT_MAX_AGE) -> datetime:
    """The instant after which the PASSporT no longer passes freshness (for caches/renewal)."""
    end = passport.iat + int(max_age.total_seconds())
    if passport.exp is not None:
        end = min(end, passport.exp)
    return datetime.fromtimestamp(end, UTC)


def verify_passport(
    token: str,
    signer_public_key: ec.EllipticCurvePublicKey,
    *,
    now: datetime,
    max_age: timedelta = PASSPORT_MAX_AGE,
    future_skew: timedelta = PASSPORT_FUTURE_SKEW,
    clock_tolerance: timedelta = timedelta(0),
) -> Passport:
    """Verify a PASSporT completely: :func:`verify_passport_signature` then
    :func:`check_passport_time`."""
    passport = verify_passport_signature(token, signer_public_key)
    check_passport_time(
        passport,
        now=now,
        max_age=max_age,
        future_skew=future_skew,
        clock_tolerance=clock_tolerance,
    )
    return passport

"""PASSporT signing and verification (PROFILE.md §5.2-§5.7, RFC 8225)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.stir.errors import CredentialRejected
from shared.stir.passport import (
    PassportSigner,
    check_passport_time,
    mky_digest,
    parse_passport_unverified,
    passport_expiry,
    serialise_claims,
    verify_passport,
    verify_passport_signature,
)

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "stir"
NOW = datetime(2026, 11, 1, 12, 0, 0, tzinfo=UTC)
IAT = int(NOW.timestamp())
MEMBER_KEY = b"\x04" + bytes(range(64))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def craft(key: ec.EllipticCurvePrivateKey, header: Any, claims: Any) -> str:
    """A JWS over arbitrary header and claims, signed like ES256 (raw r||s)."""
    head = _b64(json.dumps(header).encode() if not isinstance(header, bytes) else header)
    body = _b64(json.dumps(claims).encode() if not isinstance(claims, bytes) else claims)
    der = key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{head}.{body}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def good_claims(**over: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "orig": {"tn": "12025550101"},
        "dest": {"uri": ["mls:group:Z3JvdXA"]},
        "iat": IAT,
        "mky": [{"alg": "sha-256", "dig": mky_digest(MEMBER_KEY)}],
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


HEADER = {"alg": "ES256", "typ": "passport"}


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def signer(key: ec.EllipticCurvePrivateKey) -> PassportSigner:
    return PassportSigner(key)


def reason_of(token: str, public_key: Any, **kw: Any) -> str:
    with pytest.raises(CredentialRejected) as info:
        verify_passport(token, public_key, now=kw.pop("now", NOW), **kw)
    return info.value.reason


# --- the vectors -----------------------------------------------------------------


def test_rfc8225_token_signature_verifies_but_string_iat_is_rejected() -> None:
    pub = serialization.load_pem_public_key((VECTORS / "rfc8225_appA2_pub.pem").read_bytes())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    token = (VECTORS / "rfc8225_sec7_1_token.jws").read_text()
    with pytest.raises(CredentialRejected) as info:
        verify_passport_signature(token, pub)
    assert info.value.reason == "iat"
    assert "1443208345" in info.value.detail
    # The same token with one signature bit flipped fails earlier, on the signature:
    # this shows the iat verdict above came after a good signature.
    head, body, sig = token.strip().split(".")
    bad = bytearray(_unb64(sig))
    bad[5] ^= 1
    with pytest.raises(CredentialRejected) as info:
        verify_passport_signature(f"{head}.{body}.{_b64(bytes(bad))}", pub)
    assert info.value.reason == "signature"


def test_draft08_private_key_matches_rfc8225_public_key() -> None:
    priv = serialization.load_pem_private_key(
        (VECTORS / "draft08_appA1_sec1_priv.pem").read_bytes(), None
    )
    pub = serialization.load_pem_public_key((VECTORS / "rfc8225_appA2_pub.pem").read_bytes())
    assert isinstance(priv, ec.EllipticCurvePrivateKey)
    assert priv.public_key() == pub
    token = PassportSigner(priv).sign("12155551212", "sip:alice@example.com", MEMBER_KEY, IAT)
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    assert verify_passport(token, pub, now=NOW).orig_tn == "12155551212"


def _signalwire_tokens() -> list[str]:
    lines = (VECTORS / "signalwire_passport.txt").read_text().splitlines()
    return [line.split(";")[0] for line in lines if line.startswith("eyJ")]


def test_unverified_parse_skips_only_the_signature() -> None:
    token = (VECTORS / "rfc8225_sec7_1_token.jws").read_text()
    with pytest.raises(CredentialRejected) as info:
        parse_passport_unverified(token)
    assert info.value.reason == "iat"
    head, body, sig = token.strip().split(".")
    with pytest.raises(CredentialRejected) as info:
        parse_passport_unverified(f"{head}.{body}.{sig[:-4]}")
    assert info.value.reason == "iat"  # a broken signature is not looked at


def test_signalwire_passports_verify_but_string_orig_dest_are_rejected() -> None:
    pub = serialization.load_pem_public_key((VECTORS / "signalwire_sp.pub").read_bytes())
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    tokens = _signalwire_tokens()
    assert len(tokens) == 2
    for token in tokens:
        with pytest.raises(CredentialRejected) as info:
            verify_passport_signature(token, pub)
        assert info.value.reason == "claims"
        assert "orig" in info.value.detail


# --- signing -----------------------------------------------------------------------


def test_sign_produces_profile_header_and_sorted_compact_payload(
    signer: PassportSigner, key: ec.EllipticCurvePrivateKey
) -> None:
    token = signer.sign("12025550101", "mls:group:Z3JvdXA", MEMBER_KEY, IAT, nam="Åsa Ödegård")
    head, body, sig = token.split(".")
    assert json.loads(_unb64(head)) == {"alg": "ES256", "ppt": "rcd", "typ": "passport"}
    raw = _unb64(body)
    assert b" " not in raw.replace("Åsa Ödegård".encode(), b"")
    assert raw == serialise_claims(json.loads(raw))
    assert list(json.loads(raw)) == sorted(json.loads(raw))
    assert len(_unb64(sig)) == 64
    p = verify_passport(token, key.public_key(), now=NOW)
    assert p.nam == "Åsa Ödegård"
    assert p.ppt == "rcd"
    assert p.dest_uris == ("mls:group:Z3JvdXA",)
    assert p.iat == IAT
    assert p.binds_key(MEMBER_KEY)
    assert not p.binds_key(MEMBER_KEY[:-1] + b"\x00")


def test_sign_without_nam_has_no_ppt_and_optional_x5u(key: ec.EllipticCurvePrivateKey) -> None:
    token = PassportSigner(key, x5u="https://cert.example/sp.pem").sign(
        "12025550101", ["mls:ds:ds1"], MEMBER_KEY, NOW
    )
    header = json.loads(_unb64(token.split(".")[0]))
    assert header == {"alg": "ES256", "typ": "passport", "x5u": "https://cert.example/sp.pem"}
    p = verify_passport(token, key.public_key(), now=NOW)
    assert p.ppt is None and p.nam is None
    assert p.dest_uris == ("mls:ds:ds1",)


def test_mky_is_upper_hex_sha256_of_the_key_bytes() -> None:
    import hashlib

    assert mky_digest(MEMBER_KEY) == hashlib.sha256(MEMBER_KEY).hexdigest().upper()
    assert len(mky_digest(b"")) == 64


def test_signer_refuses_non_canonical_tn_and_p384(key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ValueError, match="canonical"):
        PassportSigner(key).sign("+1 202 555 0101", "mls:ds:x", MEMBER_KEY, IAT)
    with pytest.raises(ValueError, match="P-256"):
        PassportSigner(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ValueError, match="aware"):
        PassportSigner(key).sign("1", "mls:ds:x", MEMBER_KEY, datetime(2026, 1, 1))


# --- verification: header and signature -------------------------------------------


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ({"alg": "ES256", "typ": "JWT"}, "typ"),
        ({"alg": "ES256"}, "typ"),
        ({"alg": "ES384", "typ": "passport"}, "alg"),
        ({"alg": "none", "typ": "passport"}, "alg"),
        ({"alg": "ES256", "typ": "passport", "ppt": "shaken"}, "ppt"),
        ({"alg": "ES256", "typ": "passport", "ppt": "div"}, "ppt"),
        ({"alg": "ES256", "typ": "passport", "ppt": 3}, "ppt"),
        ({"alg": "ES256", "typ": "passport", "crit": ["x"]}, "malformed"),
        ({"alg": "ES256", "typ": "passport", "b64": False}, "malformed"),
    ],
)
def test_header_rules(key: ec.EllipticCurvePrivateKey, header: dict[str, Any], reason: str) -> None:
    assert reason_of(craft(key, header, good_claims()), key.public_key()) == reason


def test_hs256_token_is_refused_on_alg(key: ec.EllipticCurvePrivateKey) -> None:
    import jwt

    token = jwt.encode(good_claims(), "s" * 32, algorithm="HS256", headers={"typ": "passport"})
    assert reason_of(token, key.public_key()) == "alg"


def test_tampered_payload_and_signature_and_wrong_key(
    signer: PassportSigner, key: ec.EllipticCurvePrivateKey
) -> None:
    token = signer.sign("12025550101", "mls:ds:x", MEMBER_KEY, IAT)
    head, body, sig = token.split(".")
    claims = json.loads(_unb64(body))
    claims["orig"]["tn"] = "12025550102"
    assert reason_of(f"{head}.{_b64(serialise_claims(claims))}.{sig}", key.public_key()) == (
        "signature"
    )
    raw = bytearray(_unb64(sig))
    raw[40] ^= 0x80
    assert reason_of(f"{head}.{body}.{_b64(bytes(raw))}", key.public_key()) == "signature"
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    assert reason_of(token, other) == "signature"
    # A DER-encoded ECDSA signature is not the raw r||s JWS form.
    der = key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    assert reason_of(f"{head}.{body}.{_b64(der)}", key.public_key()) == "signature"


def test_p384_signer_key_is_unsupported(signer: PassportSigner) -> None:
    token = signer.sign("12025550101", "mls:ds:x", MEMBER_KEY, IAT)
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    assert reason_of(token, p384) == "unsupported-key"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t + ".",
        lambda t: t + ".AAAA",
        lambda t: t.rsplit(".", 1)[0],
        lambda t: t + "=",
        lambda t: t.replace(".", ".=", 1),
        lambda t: "!" + t,
        lambda t: "",
        lambda t: "a.b.c",
    ],
)
def test_framing_garbage_is_malformed(
    signer: PassportSigner, key: ec.EllipticCurvePrivateKey, mangle: Any
) -> None:
    token = signer.sign("12025550101", "mls:ds:x", MEMBER_KEY, IAT)
    assert reason_of(mangle(token), key.public_key()) == "malformed"


def test_trailing_garbage_after_signature_is_rejected(
    signer: PassportSigner, key: ec.EllipticCurvePrivateKey
) -> None:
    token = signer.sign("12025550101", "mls:ds:x", MEMBER_KEY, IAT)
    assert reason_of(token + "AA", key.public_key()) == "signature"  # 65+ byte signature
    assert reason_of(token + ".x", key.public_key()) == "malformed"


def test_duplicate_json_members_are_malformed(key: ec.EllipticCurvePrivateKey) -> None:
    body = serialise_claims(good_claims())[:-1] + b',"iat":1}'
    assert reason_of(craft(key, HEADER, body), key.public_key()) == "malformed"
    head = b'{"alg":"ES256","typ":"passport","typ":"passport"}'
    assert reason_of(craft(key, head, good_claims()), key.public_key()) == "malformed"
    assert reason_of(craft(key, HEADER, b'{"iat":NaN}'), key.public_key()) == "malformed"
    assert reason_of(craft(key, HEADER, b"[1,2]"), key.public_key()) == "malformed"
    assert reason_of(craft(key, HEADER, b"\xff\xfe"), key.public_key()) == "malformed"


# --- verification: claims -------------------------------------------------------------


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"iat": str(IAT)}, "iat"),
        ({"iat": float(IAT)}, "iat"),
        ({"iat": True}, "iat"),
        ({"iat": None}, "iat"),
        ({"orig": '{"tn":"12025550101"}'}, "claims"),
        ({"orig": {"tn": "+12025550101"}}, "claims"),
        ({"orig": {"tn": "1202555010123456"}}, "claims"),
        ({"orig": {"uri": "sip:a@b"}}, "claims"),
        ({"dest": '{"uri":["mls:ds:x"]}'}, "claims"),
        ({"dest": {"uri": "mls:ds:x"}}, "claims"),
        ({"dest": {}}, "claims"),
        ({"exp": "soon"}, "claims"),
        ({"rcd": {"nam": "Alice"}}, "ppt"),
        ({"mky": []}, "mky"),
        ({"mky": {"alg": "sha-256", "dig": "00"}}, "mky"),
        ({"mky": [{"alg": "sha-256", "dig": "XYZ"}]}, "mky"),
        ({"mky": [{"alg": "sha-256"}]}, "mky"),
    ],
)
def test_claim_rules(key: ec.EllipticCurvePrivateKey, over: dict[str, Any], reason: str) -> None:
    claims = good_claims(**over)
    if over.get("iat", 0) is None:
        claims.pop("iat", None)
    assert reason_of(craft(key, HEADER, claims), key.public_key()) == reason


def test_rcd_rules(key: ec.EllipticCurvePrivateKey) -> None:
    rcd_header = {**HEADER, "ppt": "rcd"}
    assert reason_of(craft(key, rcd_header, good_claims()), key.public_key()) == "ppt"
    bad = good_claims(rcd={"nam": 5})
    assert reason_of(craft(key, rcd_header, bad), key.public_key()) == "claims"
    bad = good_claims(rcd="Alice")
    assert reason_of(craft(key, rcd_header, bad), key.public_key()) == "claims"
    ok = verify_passport(
        craft(key, rcd_header, good_claims(rcd={"apn": "x"})), key.public_key(), now=NOW
    )
    assert ok.nam is None


def test_mky_compares_case_insensitively_ignoring_colons(key: ec.EllipticCurvePrivateKey) -> None:
    dig = mky_digest(MEMBER_KEY).lower()
    colons = ":".join(dig[i : i + 2] for i in range(0, 64, 2))
    token = craft(key, HEADER, good_claims(mky=[{"alg": "SHA-256", "dig": colons}]))
    p = verify_passport(token, key.public_key(), now=NOW)
    assert p.binds_key(MEMBER_KEY)
    other = craft(key, HEADER, good_claims(mky=[{"alg": "sha-1", "dig": "00"}]))
    assert not verify_passport(other, key.public_key(), now=NOW).binds_key(MEMBER_KEY)
    missing = craft(key, HEADER, good_claims(mky=None))
    p = verify_passport(missing, key.public_key(), now=NOW)
    assert p.mky is None and not p.binds_key(MEMBER_KEY)


# --- freshness ------------------------------------------------------------------------


def test_future_iat_window(signer: PassportSigner, key: ec.EllipticCurvePrivateKey) -> None:
    pub = key.public_key()
    ok = signer.sign("12025550101", "mls:ds:x", MEMBER_KEY, IAT + 60)
    verify_passport(ok, pub, now=NOW)
    late = signer.sign("12025550101", "mls:ds:x", MEMBER_KEY, IAT + 61)
    assert reason_of(late, pub) == "future-iat"
    # A clock tolerance widens the window by its size.
    verify_passport(late, pub, now=NOW, clock_tolerance=timedelta(seconds=1))


def test_max_age_and_exp(signer: PassportSigner, key: ec.EllipticCurvePrivateKey) -> None:
    pub = key.public_key()
    token = signer.sign("12025550101", "mls:ds:x", MEMBER_KEY, IAT)
    p = verify_passport(token, pub, now=NOW + timedelta(days=30))
    assert passport_expiry(p) == NOW + timedelta(days=30)
    assert reason_of(token, pub, now=NOW + timedelta(days=30, seconds=1)) == "stale"
    assert reason_of(token, pub, now=NOW + timedelta(hours=2), max_age=timedelta(hours=1)) == (
        "stale"
    )
    with_exp = signer.sign("12025550101", "mls:ds:x", MEMBER_KEY, IAT, exp=IAT + 10)
    p = verify_passport(with_exp, pub, now=NOW + timedelta(seconds=9))
    assert passport_expiry(p) == NOW + timedelta(seconds=10)
    assert reason_of(with_exp, pub, now=NOW + timedelta(seconds=10)) == "expired"
    with pytest.raises(CredentialRejected):
        check_passport_time(p, now=NOW + timedelta(seconds=11))
    check_passport_time(p, now=NOW + timedelta(seconds=11), clock_tolerance=timedelta(seconds=5))


# --- properties -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    tn=st.from_regex(r"[0-9]{1,15}", fullmatch=True),
    nam=st.none() | st.text(min_size=1, max_size=40),
    group=st.binary(min_size=1, max_size=40),
    mky_key=st.binary(min_size=1, max_size=100),
)
def test_sign_verify_round_trip(
    signer: PassportSigner,
    key: ec.EllipticCurvePrivateKey,
    tn: str,
    nam: str | None,
    group: bytes,
    mky_key: bytes,
) -> None:
    uri = "mls:group:" + _b64(group)
    p = verify_passport(signer.sign(tn, uri, mky_key, IAT, nam), key.public_key(), now=NOW)
    assert (p.orig_tn, p.dest_uris, p.nam, p.iat) == (tn, (uri,), nam, IAT)
    assert p.binds_key(mky_key)


@settings(max_examples=80, deadline=None)
@given(text=st.text(max_size=200) | st.from_regex(r"[A-Za-z0-9_-]{0,60}(\.[A-Za-z0-9_-]{0,90}){2}"))
def test_random_text_only_raises_credential_rejected(
    key: ec.EllipticCurvePrivateKey, text: str
) -> None:
    with pytest.raises(CredentialRejected):
        verify_passport(text, key.public_key(), now=NOW)

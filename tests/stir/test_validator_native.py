"""The binding's accept-only leaf check (``openmls.KnownIssuer``) inside the validator.

A validator that has verified a provider's issuer chain asks the binding first about each
new member certificate under it. The binding may only ever *accept*: whenever it does,
a fresh validator with the binding switched off (the full path: cryptography's verifier
and our static checks) must reach the same verdict, Identity and time rules included;
whenever it does not, the full path decides. Leaves here are the crafted defects of
test_validator_known_issuer.py and random mutations of a member certificate's TBS,
**re-signed by the issuer** so that the structural checks, not the signature, decide.
"""

from __future__ import annotations

import dataclasses
import warnings
from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyasn1.type import univ
from pyasn1_alt_modules import rfc5280

from shared.profile import CREDENTIAL_TYPE_STIR_CERTIFICATE, CREDENTIAL_TYPE_STIR_PASSPORT
from shared.stir.credential_codec import STIRCertificateCredential
from shared.stir.errors import CredentialRejected
from shared.stir.pki import DemoPKI, IssuedCert
from shared.stir.tnauthlist import OneTN, TNRange
from shared.stir.trust import TrustStore
from shared.stir.validator import Validator, Verdict

from .conftest import Provider, make_member_key, member_point
from .fixtures_validator import (
    GROUP_ID,
    craft_passport,
    now,
    passport_claims,
    passport_content,
    sign_passport,
    validate_cert,
)
from .test_validator_known_issuer import CASES, ECDSA_SHA256, Mutation, craft

ECDSA_SHA256_DER = bytes.fromhex(ECDSA_SHA256)


def _content(leaf: bytes, ca: IssuedCert) -> bytes:
    return STIRCertificateCredential((leaf, *ca.chain)).encode()


def _verdict(validator: Validator, content: bytes, key: bytes, trust: TrustStore) -> Any:
    """The verdict, or the rejection's (reason, rule, detail), or another error's repr."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return validator.verdict(
                CREDENTIAL_TYPE_STIR_CERTIFICATE,
                content,
                key,
                group_id=GROUP_ID,
                trust=trust,
                now=now(),
            )
    except CredentialRejected as exc:
        return (exc.reason, exc.rule, exc.detail)
    except Exception as exc:  # compared below, whatever it is
        return repr(exc)


class Warm:
    """A native validator that has verified the provider CA's chain (one member seen)."""

    def __init__(self, pki: DemoPKI, provider: Provider, trust: TrustStore) -> None:
        self.pki, self.ca, self.trust = pki, provider.ca, trust
        self.validator = Validator()
        first = make_member_key()
        seen = pki.issue_delegate(self.ca, [OneTN("12025550100")], first.public_key())
        validate_cert(
            _content(seen.der, self.ca), member_point(first), trust, validator=self.validator
        )
        assert len(self.validator._issuers) == 1

    def check(self, leaf: bytes, point: bytes) -> tuple[bool, Any]:
        """(whether the binding accepted, the native validator's verdict); asserts that a
        full-path validator agrees exactly whenever the binding accepted."""
        content = _content(leaf, self.ca)
        before = self.validator.native_accepts
        native = _verdict(self.validator, content, point, self.trust)
        accepted = self.validator.native_accepts > before
        full = _verdict(Validator(native=False), content, point, self.trust)
        if accepted:
            assert isinstance(native, Verdict)
        assert native == full
        return accepted, native


@pytest.fixture
def warm(pki: DemoPKI, provider: Provider, trust: TrustStore) -> Warm:
    return Warm(pki, provider, trust)


def test_ordinary_members_are_accepted_natively_with_the_full_paths_verdict(warm: Warm) -> None:
    accepted = 0
    for i in range(6):
        key = make_member_key()
        entries = [OneTN(f"1202555011{i}")] if i % 2 else [TNRange("12025550120", 10)]
        leaf = warm.pki.issue_delegate(warm.ca, entries, key.public_key())
        ok, verdict = warm.check(leaf.der, member_point(key))
        assert isinstance(verdict, Verdict)
        accepted += ok
    assert accepted == 6


def test_a_member_with_a_display_name_is_accepted_natively_once_its_layout_is_known(
    warm: Warm,
) -> None:
    # The first leaf with claim constraints has a new extension layout: the full path
    # accepts it and the binding learns it; the next one is the binding's.
    outcomes = []
    for i in range(3):
        key = make_member_key()
        leaf = warm.pki.issue_delegate(
            warm.ca,
            [OneTN(f"1202555013{i}")],
            key.public_key(),
            permitted_nam=f"Member {i}",
        )
        ok, verdict = warm.check(leaf.der, member_point(key))
        assert isinstance(verdict, Verdict)
        assert verdict.identity.display_name == f"Member {i}"
        outcomes.append(ok)
    assert outcomes == [False, True, True]


def test_a_repeated_chain_is_served_from_the_native_cache(warm: Warm) -> None:
    key = make_member_key()
    leaf = warm.pki.issue_delegate(warm.ca, [OneTN("12025550140")], key.public_key())
    first = warm.check(leaf.der, member_point(key))
    count = warm.validator.native_accepts
    second = _verdict(warm.validator, _content(leaf.der, warm.ca), member_point(key), warm.trust)
    assert first == (True, second)
    assert warm.validator.native_accepts == count + 1


def test_rejections_come_from_the_full_path(warm: Warm) -> None:
    key, other = make_member_key(), make_member_key()
    leaf = warm.pki.issue_delegate(warm.ca, [OneTN("12025550141")], key.public_key())
    # The wrong member key: the binding accepts the certificate, the key rule falls to
    # the full path, which words the rejection.
    ok, verdict = warm.check(leaf.der, member_point(other))
    assert not ok
    assert verdict[0] == "key-mismatch"
    # Outside the provider's scope (a deliberately wider delegate): the same.
    wide = warm.pki.issue_delegate(
        warm.ca, [OneTN("19995550601")], key.public_key(), check_scope=False
    )
    ok, verdict = warm.check(wide.der, member_point(key))
    assert not ok
    assert verdict[0] == "delegate-scope"


@pytest.mark.parametrize(
    ("mutate", "inner", "outer", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_crafted_leaves_native_accepts_only_what_the_full_path_accepts(
    warm: Warm, mutate: Mutation | None, inner: str, outer: str | None, expected: str
) -> None:
    key = make_member_key()
    template = warm.pki.issue_delegate(warm.ca, [OneTN("12025550150")], key.public_key())
    assert isinstance(warm.ca.key, ec.EllipticCurvePrivateKey)
    leaf = craft(template.der, warm.ca.key, mutate, inner=inner, outer=outer)
    ok, verdict = warm.check(leaf, member_point(key))
    got = verdict[0] if isinstance(verdict, tuple) else "ok"
    assert got == expected
    if ok:
        assert expected == "ok"


def _subject(value_der: bytes | None) -> Mutation:
    """The subject: one CN whose value is ``value_der`` (any DER), or empty (None)."""

    def mutate(tbs: Any) -> None:
        rdns = rfc5280.RDNSequence()
        if value_der is not None:
            atv = rfc5280.AttributeTypeAndValue()
            atv["type"] = univ.ObjectIdentifier("2.5.4.3")
            atv["value"] = rfc5280.AttributeValue(value_der)
            rdn = rfc5280.RelativeDistinguishedName()
            rdn.append(atv)
            rdns.append(rdn)
        name = rfc5280.Name()
        name["rdnSequence"] = rdns
        tbs["subject"] = name

    return mutate


def _utc(which: str, text: str) -> Mutation:
    def mutate(tbs: Any) -> None:
        tbs["validity"][which]["utcTime"] = text

    return mutate


def _subject_is_issuer(tbs: Any) -> None:
    tbs["subject"] = tbs["issuer"]


# (case, mutation, whether the binding may decide it at all)
FIELD_CASES: list[tuple[str, Mutation, bool]] = [
    ("PrintableString CN", _subject(b"\x13\x05Alice"), True),
    ("UTF8String CN", _subject("\x0c\x06Zo\u00eb".encode("latin-1")), True),
    ("IA5String CN", _subject(b"\x16\x05alice"), True),
    ("PrintableString CN with '*'", _subject(b"\x13\x05Al*ce"), False),
    ("UTF8String CN not UTF-8", _subject(b"\x0c\x02\xc3\x28"), False),
    ("BMPString CN", _subject(b"\x1e\x04\x00A\x00B"), False),
    ("BMPString CN of odd length", _subject(b"\x1e\x03\x00A\x00"), False),
    ("empty subject", _subject(None), False),
    ("subject is the issuer's", _subject_is_issuer, False),
    ("notAfter on a leap day", _utc("notAfter", "280229120000Z"), True),
    ("notAfter on 29 February of a common year", _utc("notAfter", "270229120000Z"), False),
    ("notAfter at second 60", _utc("notAfter", "271231235960Z"), False),
    ("notAfter without seconds", _utc("notAfter", "2712312359Z"), False),
    ("notBefore in 1999", _utc("notBefore", "991231235959Z"), True),
    ("notBefore after notAfter", _utc("notBefore", "280301000000Z"), True),
]


@pytest.mark.parametrize(
    ("mutate", "decidable"), [c[1:] for c in FIELD_CASES], ids=[c[0] for c in FIELD_CASES]
)
def test_names_and_times_native_accepts_only_what_the_full_path_accepts(
    warm: Warm, mutate: Mutation, decidable: bool
) -> None:
    key = make_member_key()
    template = warm.pki.issue_delegate(warm.ca, [OneTN("12025550151")], key.public_key())
    assert isinstance(warm.ca.key, ec.EllipticCurvePrivateKey)
    leaf = craft(template.der, warm.ca.key, mutate)
    warm.check(leaf, member_point(key))  # the full path may accept it: its layout is learnt
    key = make_member_key()
    template = warm.pki.issue_delegate(warm.ca, [OneTN("12025550152")], key.public_key())
    ok, verdict = warm.check(craft(template.der, warm.ca.key, mutate), member_point(key))
    if decidable:
        # Not stricter than it needs to be: what the full path accepts, it takes.
        assert ok == isinstance(verdict, Verdict)
    else:
        assert not ok


# --- random mutations of the TBS, re-signed ----------------------------------------------


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _split_tbs(der: bytes) -> bytes:
    """The TBSCertificate TLV of a certificate's DER (lengths read as encoded)."""
    i = 1
    first = der[i]
    i += 1 + (first & 0x7F if first & 0x80 else 0)
    start = i
    first = der[i + 1]
    if first & 0x80:
        n = first & 0x7F
        length = int.from_bytes(der[i + 2 : i + 2 + n], "big")
        return der[start : i + 2 + n + length]
    return der[start : i + 2 + first]


def resign(tbs: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """A certificate of ``tbs`` (any bytes) signed with ECDSA SHA-256 by ``key``."""
    signature = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return _tlv(0x30, tbs + ECDSA_SHA256_DER + _tlv(0x03, b"\x00" + signature))


def test_resigning_an_unchanged_tbs_gives_an_accepted_leaf(warm: Warm) -> None:
    key = make_member_key()
    leaf = warm.pki.issue_delegate(warm.ca, [OneTN("12025550160")], key.public_key())
    assert isinstance(warm.ca.key, ec.EllipticCurvePrivateKey)
    again = resign(_split_tbs(leaf.der), warm.ca.key)
    x509.load_der_x509_certificate(again)
    assert warm.check(again, member_point(key))[0]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_resigned_leaves_native_accepts_only_what_the_full_path_accepts(
    warm: Warm, data: st.DataObject
) -> None:
    key = make_member_key()
    leaf = warm.pki.issue_delegate(warm.ca, [OneTN("12025550170")], key.public_key())
    tbs = bytearray(_split_tbs(leaf.der))
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, 4095)) % len(tbs)
        if data.draw(st.booleans()):
            tbs[position] = data.draw(st.integers(0, 255))
        else:  # small changes: a length off by one, a bit flipped, a tag changed
            tbs[position] ^= 1 << data.draw(st.integers(0, 7))
    assert isinstance(warm.ca.key, ec.EllipticCurvePrivateKey)
    warm.check(resign(bytes(tbs), warm.ca.key), member_point(key))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_corrupted_leaves_native_accepts_only_what_the_full_path_accepts(
    warm: Warm, data: st.DataObject
) -> None:
    key = make_member_key()
    original = warm.pki.issue_delegate(warm.ca, [OneTN("12025550180")], key.public_key()).der
    leaf = bytearray(original)
    for _ in range(data.draw(st.integers(1, 3))):
        leaf[data.draw(st.integers(0, 4095)) % len(leaf)] = data.draw(st.integers(0, 255))
    ok, _ = warm.check(bytes(leaf), member_point(key))
    # Any change breaks the issuer's signature (or the structure it covers).
    assert ok == (bytes(leaf) == original)


def test_time_failures_are_applied_to_native_verdicts(warm: Warm) -> None:
    key = make_member_key()
    leaf = warm.pki.issue_delegate(warm.ca, [OneTN("12025550190")], key.public_key())
    ok, verdict = warm.check(leaf.der, member_point(key))
    assert ok
    later = now() + timedelta(days=3650)
    failed = verdict.time_failure(later.timestamp(), 0)
    assert failed is not None and failed.reason == "expired"


def test_switched_off_the_binding_is_never_asked(
    pki: DemoPKI, provider: Provider, trust: TrustStore
) -> None:
    validator = Validator(native=False)
    for i in range(3):
        key = make_member_key()
        leaf = pki.issue_delegate(provider.ca, [OneTN(f"1202555019{i + 5}")], key.public_key())
        validate_cert(
            _content(leaf.der, provider.ca), member_point(key), trust, validator=validator
        )
    assert validator.native_accepts == 0


# --- PASSporTs (0xF002): the ES256 signature and the member key checked by the binding ---


def _pp_verdict(validator: Validator, content: bytes, key: bytes, trust: TrustStore) -> Any:
    try:
        return validator.verdict(
            CREDENTIAL_TYPE_STIR_PASSPORT, content, key, group_id=GROUP_ID, trust=trust, now=now()
        )
    except CredentialRejected as exc:
        return (exc.reason, exc.rule, exc.detail)
    except Exception as exc:  # compared below, whatever it is
        return repr(exc)


class WarmSigner:
    """A native validator that has verified the provider's PASSporT signer chain."""

    def __init__(self, provider: Provider, trust: TrustStore) -> None:
        self.signer, self.trust = provider.signer, trust
        self.validator = Validator()
        key = member_point(make_member_key())
        token = sign_passport(self.signer, "12025550100", key)
        assert isinstance(
            _pp_verdict(self.validator, passport_content(self.signer, token), key, trust), Verdict
        )

    def check(self, token: str, point: bytes) -> tuple[bool, Any]:
        """(whether the binding verified the PASSporT, the native validator's verdict); the
        binding off must give the same verdict, always."""
        content = passport_content(self.signer, token)
        before = self.validator.native_passports
        native = _pp_verdict(self.validator, content, point, self.trust)
        verified = self.validator.native_passports > before
        assert native == _pp_verdict(Validator(native=False), content, point, self.trust)
        return verified, native


@pytest.fixture
def warm_signer(provider: Provider, trust: TrustStore) -> WarmSigner:
    return WarmSigner(provider, trust)


def _claims_token(signer: IssuedCert, point: bytes, **header: Any) -> str:
    head = {"alg": "ES256", "typ": "passport", **header}
    return craft_passport(signer, head, passport_claims("12025550101", point))


def _off_curve(point: bytes) -> bytes:
    return point[:-1] + bytes([point[-1] ^ 1])


P256_PRIME = 2**256 - 2**224 + 2**192 + 2**96 - 1


def test_ordinary_passports_are_verified_natively(warm_signer: WarmSigner) -> None:
    for i in range(4):
        point = member_point(make_member_key())
        token = sign_passport(warm_signer.signer, f"1202555010{i}", point, nam=f"Member {i}")
        verified, verdict = warm_signer.check(token, point)
        assert verified
        assert isinstance(verdict, Verdict)
        assert verdict.identity.display_name == f"Member {i}"


def _tokens(signer: IssuedCert, point: bytes) -> dict[str, tuple[str, bytes, bool]]:
    """(token, member key, whether the binding verifies it) by case: only sound tokens
    for a sound member key (a bad key is refused before the PASSporT is looked at)."""
    good = sign_passport(signer, "12025550102", point)
    head, body, sig = good.split(".")
    other = make_member_key()
    alien = dataclasses.replace(signer, key=other)  # the chain says signer, the key is not
    return {
        "as signed": (good, point, True),
        "spaces around": (f"  {good}\n", point, True),
        "signed by another key": (sign_passport(alien, "12025550102", point), point, False),
        "payload changed after signing": (f"{head}.{body[:-2]}AA.{sig}", point, False),
        "stray character in the signature": (f"{head}.{body}.{sig[:10]}!{sig[10:]}", point, False),
        "padding on the signature": (f"{head}.{body}.{sig}==", point, False),
        "four segments": (f"{head}.{body}.{sig}.{sig}", point, False),
        "signature one byte short": (f"{head}.{body}.{sig[:-3]}", point, False),
        "alg ES384, signed": (_claims_token(signer, point, alg="ES384"), point, False),
        "typ missing, signed": (
            craft_passport(signer, {"alg": "ES256"}, passport_claims("12025550102", point)),
            point,
            False,
        ),
        "member key off the curve": (
            sign_passport(signer, "12025550102", _off_curve(point)),
            _off_curve(point),
            False,
        ),
        "member key x = p": (
            sign_passport(
                signer, "12025550102", b"\x04" + P256_PRIME.to_bytes(32, "big") + point[33:]
            ),
            b"\x04" + P256_PRIME.to_bytes(32, "big") + point[33:],
            False,
        ),
        "member key compressed": (
            sign_passport(signer, "12025550102", b"\x02" + point[1:33]),
            b"\x02" + point[1:33],
            False,
        ),
        "member key P-384 length": (
            sign_passport(signer, "12025550102", b"\x04" + bytes(96)),
            b"\x04" + bytes(96),
            False,
        ),
    }


CASE_NAMES = [
    "as signed",
    "spaces around",
    "signed by another key",
    "payload changed after signing",
    "stray character in the signature",
    "padding on the signature",
    "four segments",
    "signature one byte short",
    "alg ES384, signed",
    "typ missing, signed",
    "member key off the curve",
    "member key x = p",
    "member key compressed",
    "member key P-384 length",
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_crafted_passports_same_verdict_with_and_without_the_binding(
    warm_signer: WarmSigner, case: str
) -> None:
    token, key, verifies = _tokens(warm_signer.signer, member_point(make_member_key()))[case]
    verified, _ = warm_signer.check(token, key)
    assert verified == verifies


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_passports_same_verdict_with_and_without_the_binding(
    warm_signer: WarmSigner, data: st.DataObject
) -> None:
    point = member_point(make_member_key())
    token = list(sign_passport(warm_signer.signer, "12025550103", point))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=! "
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, 4095)) % len(token)
        token[position] = data.draw(st.sampled_from(alphabet))
    warm_signer.check("".join(token), point)

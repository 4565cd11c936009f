"""Helpers for the validator tests: credentials made from the demo PKI, crafted PASSporTs.

The PKI fixtures themselves (``pki``, ``provider``, ``trust``, ...) live in conftest.py;
these are plain functions over them.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from shared.profile import (
    CREDENTIAL_TYPE_STIR_CERTIFICATE,
    CREDENTIAL_TYPE_STIR_PASSPORT,
    group_dest_uri,
)
from shared.stir.credential_codec import STIRCertificateCredential, STIRPASSporTCredential
from shared.stir.errors import CredentialRejected
from shared.stir.passport import PassportSigner, mky_digest
from shared.stir.pki import IssuedCert
from shared.stir.trust import TrustStore
from shared.stir.validator import Identity, Validator

GROUP_ID = b"\x01group-one\xff"
OTHER_GROUP_ID = b"\x02group-two"
DS_ID = "ds.example"


def now() -> datetime:
    """The current time (the demo PKI issues certificates valid from now - 5 min)."""
    return datetime.now(UTC)


def cert_content(issued: IssuedCert) -> bytes:
    """The 0xF001 content carrying ``issued``'s chain (leaf first, root excluded)."""
    return STIRCertificateCredential(issued.chain).encode()


def passport_content(signer: IssuedCert, token: str) -> bytes:
    """The 0xF002 content: ``signer``'s chain and the PASSporT."""
    return STIRPASSporTCredential(signer.chain, token.encode("ascii")).encode()


def sign_passport(
    signer: IssuedCert,
    orig_tn: str,
    member_key: bytes,
    *,
    dest: str | list[str] | None = None,
    iat: datetime | int | None = None,
    nam: str | None = None,
    exp: int | None = None,
) -> str:
    """A PASSporT signed by ``signer`` (which must hold its key) for the test group."""
    assert isinstance(signer.key, ec.EllipticCurvePrivateKey)
    return PassportSigner(signer.key, signer.chain).sign(
        orig_tn,
        dest if dest is not None else group_dest_uri(GROUP_ID),
        member_key,
        iat if iat is not None else now(),
        nam,
        exp=exp,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def craft_passport(signer: IssuedCert, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A JWS with arbitrary header and claims signed (ES256) by ``signer``'s key."""
    assert isinstance(signer.key, ec.EllipticCurvePrivateKey)
    head = _b64(json.dumps(header, sort_keys=True).encode())
    body = _b64(json.dumps(claims, sort_keys=True).encode())
    r, s = decode_dss_signature(
        signer.key.sign(f"{head}.{body}".encode(), ec.ECDSA(hashes.SHA256()))
    )
    return f"{head}.{body}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def passport_claims(orig_tn: str, member_key: bytes, **over: Any) -> dict[str, Any]:
    """Profile-shaped claims for :func:`craft_passport`; ``None`` values are dropped."""
    claims: dict[str, Any] = {
        "orig": {"tn": orig_tn},
        "dest": {"uri": [group_dest_uri(GROUP_ID)]},
        "iat": int(now().timestamp()),
        "mky": [{"alg": "sha-256", "dig": mky_digest(member_key)}],
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def validate_cert(
    content: bytes, key: bytes, trust: TrustStore, *, validator: Validator | None = None, **kw: Any
) -> Identity:
    """Validate a 0xF001 credential with a fresh validator (no cache carried over)."""
    kw.setdefault("now", now())
    kw.setdefault("group_id", GROUP_ID)
    return (validator or Validator()).validate(
        CREDENTIAL_TYPE_STIR_CERTIFICATE, content, key, trust=trust, **kw
    )


def validate_passport(
    content: bytes, key: bytes, trust: TrustStore, *, validator: Validator | None = None, **kw: Any
) -> Identity:
    """Validate a 0xF002 credential for GROUP_ID (unless told otherwise)."""
    kw.setdefault("now", now())
    if "ds_id" not in kw:
        kw.setdefault("group_id", GROUP_ID)
    else:
        kw.setdefault("group_id", None)
    return (validator or Validator()).validate(
        CREDENTIAL_TYPE_STIR_PASSPORT, content, key, trust=trust, **kw
    )


def rejection(call: Any, *args: Any, **kw: Any) -> CredentialRejected:
    """The CredentialRejected that ``call(*args, **kw)`` raises (fails the test if none)."""
    with pytest.raises(CredentialRejected) as info:
        call(*args, **kw)
    return info.value

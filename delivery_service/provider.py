"""The provider role: the service as a carrier's STIR authentication service (issue §6).

A subscriber proves control of its number (demo: a provisioned secret, compared in
constant time) and possession of the key to bind (a labelled signature of its own,
``PASSPORT_REQUEST_LABEL``, over the session's nonces, service id and TN); the carrier
then signs a PASSporT (PROFILE.md §5) for the number with its SPC-level certificate,
``mky`` binding that key. ``rogue_mky`` makes it bind the provider's own key instead:
the substitution attack of PROFILE.md §9, for scenarios and demos.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from delivery_service.errors import Refused
from delivery_service.session import ServerSession
from shared.profile import DS_DEST_PREFIX, GROUP_DEST_PREFIX
from shared.protocol import (
    PASSPORT_REQUEST_LABEL,
    ErrorCode,
    PassportIssued,
    RequestPassport,
)
from shared.stir.passport import PassportSigner

LabelVerifier = Callable[[int, bytes, str, bytes, bytes], None]


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A number the carrier serves, the secret that proves control of it, its name."""

    tn: str
    secret: str
    display_name: str | None = None


def load_subscribers(path: str | Path) -> dict[str, Subscriber]:
    """Read ``{"<tn>": {"secret": "...", "name": "..."}}`` (JSON); ValueError names the
    entry that is wrong."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected an object of numbers")
    out = {}
    for tn, entry in raw.items():
        if not (isinstance(tn, str) and tn.isdigit() and 1 <= len(tn) <= 15):
            raise ValueError(f"{path}: {tn!r} is not a canonical E.164 number")
        if not isinstance(entry, dict) or not isinstance(entry.get("secret"), str):
            raise ValueError(f"{path}: {tn}: needs a string 'secret'")
        name = entry.get("name")
        if name is not None and not isinstance(name, str):
            raise ValueError(f"{path}: {tn}: 'name' must be a string")
        out[tn] = Subscriber(tn, entry["secret"], name)
    return out


def load_signer(directory: str | Path) -> PassportSigner:
    """The signer of an issued-certificate directory (``key.pem``, ``chain.pem``), as the
    demo PKI writes them."""
    base = Path(directory)
    key = serialization.load_pem_private_key((base / "key.pem").read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{base / 'key.pem'} is not an EC private key")
    from cryptography import x509

    chain = tuple(
        c.public_bytes(serialization.Encoding.DER)
        for c in x509.load_pem_x509_certificates((base / "chain.pem").read_bytes())
    )
    return PassportSigner(key, chain)


def _default_verify(scheme: int, key: bytes, label: str, content: bytes, sig: bytes) -> None:
    import openmls

    openmls.verify_with_label(scheme, key, label, content, sig)


class PassportIssuer:
    """Signs PASSporTs for subscribers' numbers (CPU work: call from a worker thread)."""

    def __init__(
        self,
        signer: PassportSigner,
        subscribers: Mapping[str, Subscriber],
        *,
        rogue_mky: bool = False,
        verify_label: LabelVerifier = _default_verify,
    ) -> None:
        self.signer = signer
        self.subscribers = dict(subscribers)
        self.rogue_mky = rogue_mky
        self._verify = verify_label
        # The provider's own key, as an MLS signature key (the P-256 point of its SPC key).
        self.own_key = signer.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def issue(self, content: bytes, frame: RequestPassport) -> PassportIssued:
        """Check the request against ``content`` (the session's signed content for the
        TN) and sign."""
        sub = self.subscribers.get(frame.tn)
        # Same answer for an unknown number and a wrong secret: no subscriber probing.
        if sub is None or not hmac.compare_digest(
            sub.secret.encode("utf-8"), frame.secret.encode("utf-8")
        ):
            raise Refused(ErrorCode.PROVIDER_REFUSED, f"no subscriber {frame.tn} with that secret")
        if not frame.dest.startswith((DS_DEST_PREFIX, GROUP_DEST_PREFIX)) or frame.dest in (
            DS_DEST_PREFIX,
            GROUP_DEST_PREFIX,
        ):
            raise Refused(
                ErrorCode.PROVIDER_REFUSED,
                f"dest must be {DS_DEST_PREFIX}<id> or {GROUP_DEST_PREFIX}<group id>",
            )
        try:
            self._verify(
                frame.signature_scheme,
                frame.signature_key,
                PASSPORT_REQUEST_LABEL,
                content,
                frame.signature,
            )
        except Exception:
            raise Refused(
                ErrorCode.PROVIDER_REFUSED, "the request's signature does not verify"
            ) from None
        mky = self.own_key if self.rogue_mky else frame.signature_key
        token = self.signer.sign(frame.tn, frame.dest, mky, nam=sub.display_name)
        return PassportIssued(re=frame.id, passport=token, certificates=self.signer.chain)

    def request_content(self, session: ServerSession, frame: RequestPassport) -> bytes:
        """What the request must have signed (the session's nonces, service id, TN)."""
        return session.signed_content(frame.tn)

"""A client's profile directory: who it is, where its service is, and its state files.

Layout (all inside one directory, so a client restarted from it continues)::

    profile.json      number, service URL and id, credential kind, region
    key.pem           the member's P-256 MLS signature key (PKCS#8); 0600
    chain.pem         certificate chain, leaf first (certificate credentials only)
    trust/            trust anchors and SPC assignments (shared.stir.trust layout)
    mls.sqlite        OpenMLS state (the binding's storage)
    history.sqlite    chat history and bookkeeping (client.core.history)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from shared.profile import CREDENTIAL_TYPE_STIR_CERTIFICATE, CREDENTIAL_TYPE_STIR_PASSPORT
from shared.stir.credential_codec import STIRCertificateCredential
from shared.stir.numbers import check_e164_digits

PROFILE_FILE: Final = "profile.json"
PROFILE_VERSION: Final = 1
# Certificate credentials (PROFILE.md §4) and PASSporT credentials (§5), which the
# provider role of the delivery service signs per group on request.
KINDS: Final = ("tn-cert", "spc-cert", "passport")


class ProfileError(Exception):
    """A profile directory that is missing, incomplete or malformed; says what."""


@dataclass(frozen=True)
class ClientProfile:
    """A loaded profile."""

    directory: Path
    tn: str
    ds_url: str
    ds_id: str | None
    kind: str
    region: str | None
    private_key: ec.EllipticCurvePrivateKey
    chain: tuple[bytes, ...]
    provider_secret: str | None = None  # proves control of the number (passport kind)

    @property
    def is_passport(self) -> bool:
        """Whether this member's credentials are PASSporTs fetched per group."""
        return self.kind == "passport"

    @property
    def mls_path(self) -> Path:
        """The binding's SQLite file."""
        return self.directory / "mls.sqlite"

    @property
    def history_path(self) -> Path:
        """The chat history's SQLite file."""
        return self.directory / "history.sqlite"

    @property
    def trust_dir(self) -> Path:
        """The trust store directory."""
        return self.directory / "trust"

    @property
    def private_key_der(self) -> bytes:
        """The MLS signature key as PKCS#8 DER (what the binding imports)."""
        return self.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def credential_type(self) -> int:
        """The MLS credential type of this profile's credential."""
        return (
            CREDENTIAL_TYPE_STIR_PASSPORT if self.is_passport else CREDENTIAL_TYPE_STIR_CERTIFICATE
        )

    @property
    def credential_content(self) -> bytes:
        """The MLS credential content of a certificate credential (PROFILE.md §2)."""
        if self.is_passport:
            raise ProfileError("a PASSporT credential is made per group, not stored")
        return STIRCertificateCredential(self.chain).encode()

    @property
    def application_id(self) -> bytes | None:
        """The number a carrier-level member carries in its LeafNode (§4.4), else None."""
        return self.tn.encode("ascii") if self.kind == "spc-cert" else None


def create_profile(
    directory: str | Path,
    *,
    tn: str,
    ds_url: str,
    private_key: ec.EllipticCurvePrivateKey,
    chain: tuple[bytes, ...],
    trust_dir: str | Path,
    kind: str = "tn-cert",
    ds_id: str | None = None,
    region: str | None = None,
    provider_secret: str | None = None,
) -> ClientProfile:
    """Write a new profile; the trust store is copied so the profile stands alone."""
    base = Path(directory)
    if (base / PROFILE_FILE).exists():
        raise ProfileError(f"{base} already holds a profile")
    if kind not in KINDS:
        raise ProfileError(f"credential kind {kind!r} is not one of {', '.join(KINDS)}")
    check_e164_digits(tn)
    if (kind == "passport") != (provider_secret is not None):
        raise ProfileError("a provider secret is needed for, and only for, the passport kind")
    base.mkdir(parents=True, exist_ok=True)
    trust = base / "trust"
    trust.mkdir(exist_ok=True)
    for item in Path(trust_dir).iterdir():
        if item.suffix in (".pem", ".json"):
            (trust / item.name).write_bytes(item.read_bytes())
    key_path = base / "key.pem"
    key_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem)
    if chain:
        (base / "chain.pem").write_bytes(
            b"".join(
                x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
                for der in chain
            )
        )
    config = {
        "version": PROFILE_VERSION,
        "tn": tn,
        "ds_url": ds_url,
        "ds_id": ds_id,
        "kind": kind,
        "region": region,
        "provider_secret": provider_secret,
    }
    (base / PROFILE_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return load_profile(base)


def load_profile(directory: str | Path) -> ClientProfile:
    """Read a profile; raises ProfileError naming the missing or bad part."""
    base = Path(directory)
    try:
        config = json.loads((base / PROFILE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{base} holds no {PROFILE_FILE}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{base / PROFILE_FILE} is not JSON: {exc}") from None
    if not isinstance(config, dict) or config.get("version") != PROFILE_VERSION:
        raise ProfileError(f"{base / PROFILE_FILE}: not a version-{PROFILE_VERSION} profile")
    for name in ("tn", "ds_url", "kind"):
        if not isinstance(config.get(name), str):
            raise ProfileError(f"{base / PROFILE_FILE}: {name!r} is missing or not a string")
    if config["kind"] not in KINDS:
        raise ProfileError(f"{base / PROFILE_FILE}: unknown credential kind {config['kind']!r}")
    try:
        key = serialization.load_pem_private_key((base / "key.pem").read_bytes(), None)
    except (FileNotFoundError, ValueError) as exc:
        raise ProfileError(f"{base / 'key.pem'}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ProfileError(f"{base / 'key.pem'} is not a P-256 key (PROFILE.md §1)")
    chain: tuple[bytes, ...] = ()
    secret = config.get("provider_secret")
    if config["kind"] == "passport":
        if not isinstance(secret, str):
            raise ProfileError(f"{base / PROFILE_FILE}: the passport kind needs 'provider_secret'")
    else:
        try:
            certs = x509.load_pem_x509_certificates((base / "chain.pem").read_bytes())
        except (FileNotFoundError, ValueError) as exc:
            raise ProfileError(f"{base / 'chain.pem'}: {exc}") from None
        chain = tuple(c.public_bytes(serialization.Encoding.DER) for c in certs)
    ds_id = config.get("ds_id")
    region = config.get("region")
    return ClientProfile(
        directory=base,
        tn=config["tn"],
        ds_url=config["ds_url"],
        ds_id=ds_id if isinstance(ds_id, str) else None,
        kind=config["kind"],
        region=region if isinstance(region, str) else None,
        private_key=key,
        chain=chain,
        provider_secret=secret if isinstance(secret, str) else None,
    )

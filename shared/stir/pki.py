"""A demo STI PKI on disk: root CA, intermediate, provider (SPC) and delegate certificates.

Shapes follow ATIS-1000080 (SHAKEN end-entity: TNAuthList with the SPC, key usage
digitalSignature, a certificate policy, basicConstraints CA false) and RFC 9060
(delegate CA and end-entity certificates carrying TN or range TNAuthLists, each inside
its issuer's scope). A delegate end-entity certificate can certify a key given from
outside, e.g. a member's MLS P-256 signature key (end to end, PROFILE.md §1).

Layout of the directory the user names::

    root/cert.pem, root/key.pem                 STI root CA
    intermediate/cert.pem, intermediate/key.pem  STI intermediate CA
    certs/<name>/cert.pem, key.pem, chain.pem    issued certificates (chain: leaf first,
                                                 up to but excluding the root)
    trust-anchors.pem                            what verifiers trust (the root)
    assignments.json                             SPC -> numbers (see shared.stir.trust)

Options make deliberately bad certificates for tests (a critical TNAuthList, a delegate
wider than its issuer, validity in the past or future, a P-384 key, no TNAuthList);
a second :class:`DemoPKI` in another directory is an untrusted root.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared.profile import (
    OID_ENHANCED_JWT_CLAIM_CONSTRAINTS,
    OID_JWT_CLAIM_CONSTRAINTS,
    OID_TNAUTHLIST,
)
from shared.stir.claim_constraints import (
    RCD_CLAIM,
    EnhancedJWTClaimConstraints,
    nam_constraints,
)
from shared.stir.credential_codec import STIRCertificateCredential
from shared.stir.tnauthlist import (
    SPC,
    Coverage,
    NumberScope,
    OneTN,
    TNAuthList,
    TNEntry,
    TNRange,
    encode_tnauthlist,
    entries_within,
    tnauthlist_of,
)
from shared.stir.trust import (
    ASSIGNMENTS_FILE,
    TRUST_ANCHORS_FILE,
    TrustStore,
    dump_assignments,
    load_trust_store,
    parse_assignments,
)

# The SHAKEN certificate policy OID seen in issued SHAKEN end-entity certificates
# (ATIS-1000080 requires a certificate policies extension naming the STI CP).
SHAKEN_POLICY_OID = x509.ObjectIdentifier("2.16.840.1.114569.1.1.3")
CRL_URL = "http://crl.demo-sti.invalid/sti.crl"

KeyType = Literal["p256", "p384"]
PublicKey = ec.EllipticCurvePublicKey
PrivateKey = ec.EllipticCurvePrivateKey

ROOT_VALIDITY = timedelta(days=3650)
INTERMEDIATE_VALIDITY = timedelta(days=1825)
CA_VALIDITY = timedelta(days=730)
EE_VALIDITY = timedelta(days=365)
# Backdate notBefore a little so a freshly issued certificate is valid on a clock that
# runs slightly behind the issuer's.
BACKDATE = timedelta(minutes=5)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ScopeError(ValueError):
    """A delegate's requested scope does not lie inside its issuer's (RFC 9060)."""


@dataclass(frozen=True)
class IssuedCert:
    """A certificate of the demo PKI with its key (None when the key came from outside).

    ``chain`` is DER, leaf first, up to but excluding the root (the order of
    ``STIRCertificateCredential.certificates``).
    """

    name: str
    cert: x509.Certificate
    key: PrivateKey | None
    chain: tuple[bytes, ...]
    directory: Path

    @property
    def cert_path(self) -> Path:
        """PEM of the certificate."""
        return self.directory / "cert.pem"

    @property
    def key_path(self) -> Path | None:
        """PEM (PKCS#8, unencrypted: a demo) of the private key, when the PKI made it."""
        return self.directory / "key.pem" if self.key is not None else None

    @property
    def chain_path(self) -> Path:
        """PEM of the chain, leaf first, excluding the root."""
        return self.directory / "chain.pem"

    @property
    def der(self) -> bytes:
        """DER of the certificate."""
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def tnauthlist(self) -> TNAuthList | None:
        """The certificate's TNAuthList, if any."""
        return tnauthlist_of(self.cert)

    @property
    def is_ca(self) -> bool:
        """Whether basicConstraints says CA."""
        try:
            bc = self.cert.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:
            return False
        return bc.value.ca

    def public_key(self) -> PublicKey:
        """The certified EC public key."""
        key = self.cert.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise TypeError(f"certificate {self.name!r} does not hold an EC key")
        return key

    def public_point(self) -> bytes:
        """The certified key as an uncompressed SEC1 point (65 bytes for P-256)."""
        return point_of(self.public_key())

    def credential(self) -> STIRCertificateCredential:
        """A STIRCertificateCredential carrying this certificate's chain."""
        return STIRCertificateCredential(self.chain)


def point_of(key: PublicKey) -> bytes:
    """The SEC1 uncompressed point of an EC public key (the MLS signature_key form)."""
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def public_key_from_point(point: bytes) -> PublicKey:
    """A P-256 public key from its 65-byte uncompressed point (0x04 || X || Y)."""
    if len(point) != 65 or point[0] != 0x04:
        raise ValueError("expected a 65-byte uncompressed P-256 point (0x04 || X || Y)")
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)


def generate_key(key_type: KeyType = "p256") -> PrivateKey:
    """A new EC key (P-256 by default: ES256 and MLS ciphersuite 0x0002)."""
    curve: ec.EllipticCurve = ec.SECP256R1() if key_type == "p256" else ec.SECP384R1()
    return ec.generate_private_key(curve)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "US")]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _describe_scope(scope: Sequence[TNEntry]) -> str:
    parts = []
    for entry in scope:
        if isinstance(entry, SPC):
            parts.append(f"spc{entry.code}")
        elif isinstance(entry, OneTN):
            parts.append(entry.tn)
        else:
            parts.append(f"{entry.start}x{entry.count}")
    return "_".join(parts)[:40] or "empty"


class DemoPKI:
    """A demo STI PKI rooted in a directory (create with :meth:`init`, reopen with :meth:`open`)."""

    def __init__(self, directory: Path, root: IssuedCert, intermediate: IssuedCert) -> None:
        self.directory = directory
        self.root = root
        self.intermediate = intermediate

    # -- creation / loading -----------------------------------------------------------

    @classmethod
    def init(
        cls,
        directory: str | Path,
        *,
        name: str = "Demo STI",
        now: datetime | None = None,
        key_type: KeyType = "p256",
    ) -> DemoPKI:
        """Create a root CA and an intermediate in ``directory`` (which must hold no PKI)."""
        base = Path(directory)
        if (base / "root" / "cert.pem").exists():
            raise FileExistsError(f"{base} already holds a PKI")
        base.mkdir(parents=True, exist_ok=True)
        now = now or datetime.now(UTC)

        root_key = generate_key(key_type)
        root_name = _name(f"{name} Root CA", name)
        root_cert = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + ROOT_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
            )
            .sign(root_key, hashes.SHA256())
        )
        root = cls._store(base / "root", "root", root_cert, root_key, ())

        inter_key = generate_key(key_type)
        inter_cert = _ca_builder(
            subject=_name(f"{name} Intermediate CA", name),
            issuer_cert=root_cert,
            public_key=inter_key.public_key(),
            not_before=now - BACKDATE,
            not_after=now + INTERMEDIATE_VALIDITY,
        ).sign(root_key, hashes.SHA256())
        intermediate = cls._store(base / "intermediate", "intermediate", inter_cert, inter_key, ())
        (base / TRUST_ANCHORS_FILE).write_bytes(_cert_pem(root_cert))
        if not (base / ASSIGNMENTS_FILE).exists():
            (base / ASSIGNMENTS_FILE).write_text(dump_assignments({}), encoding="utf-8")
        return cls(base, root, intermediate)

    @classmethod
    def open(cls, directory: str | Path) -> DemoPKI:
        """Reopen a PKI made by :meth:`init`."""
        base = Path(directory)
        root = cls._load(base / "root", "root")
        intermediate = cls._load(base / "intermediate", "intermediate")
        return cls(base, root, intermediate)

    @staticmethod
    def _store(
        directory: Path,
        name: str,
        cert: x509.Certificate,
        key: PrivateKey | None,
        issuer_chain: tuple[bytes, ...],
    ) -> IssuedCert:
        directory.mkdir(parents=True, exist_ok=True)
        der = cert.public_bytes(serialization.Encoding.DER)
        chain = (der, *issuer_chain)
        (directory / "cert.pem").write_bytes(_cert_pem(cert))
        if key is not None:
            _write_private(directory / "key.pem", _key_pem(key))
        (directory / "chain.pem").write_bytes(
            b"".join(_cert_pem(x509.load_der_x509_certificate(c)) for c in chain)
        )
        return IssuedCert(name, cert, key, chain, directory)

    @staticmethod
    def _load(directory: Path, name: str) -> IssuedCert:
        cert = x509.load_pem_x509_certificate((directory / "cert.pem").read_bytes())
        key: PrivateKey | None = None
        key_path = directory / "key.pem"
        if key_path.exists():
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path} is not an EC private key")
            key = loaded
        chain_path = directory / "chain.pem"
        if chain_path.exists():
            chain = tuple(
                c.public_bytes(serialization.Encoding.DER)
                for c in x509.load_pem_x509_certificates(chain_path.read_bytes())
            )
        else:
            chain = (cert.public_bytes(serialization.Encoding.DER),)
        return IssuedCert(name, cert, key, chain, directory)

    def get(self, name: str) -> IssuedCert:
        """An issued certificate by name (``root`` and ``intermediate`` included)."""
        if name in ("root", "intermediate"):
            return self.root if name == "root" else self.intermediate
        directory = self.directory / "certs" / name
        if not (directory / "cert.pem").exists():
            raise KeyError(f"no certificate named {name!r} in {self.directory}")
        return self._load(directory, name)

    def names(self) -> list[str]:
        """Names of the issued certificates (besides root and intermediate)."""
        certs = self.directory / "certs"
        if not certs.is_dir():
            return []
        return sorted(p.name for p in certs.iterdir() if (p / "cert.pem").exists())

    def _unique_name(self, wanted: str | None, default: str) -> str:
        if wanted is not None:
            if not _NAME_RE.match(wanted):
                raise ValueError(
                    f"certificate name {wanted!r}: use letters, digits, '.', '_', '-' (max 64)"
                )
            if wanted in ("root", "intermediate") or (self.directory / "certs" / wanted).exists():
                raise FileExistsError(f"a certificate named {wanted!r} already exists")
            return wanted
        base = re.sub(r"[^A-Za-z0-9._-]", "-", default).strip("-.")[:56] or "cert"
        candidate, n = base, 1
        while (self.directory / "certs" / candidate).exists():
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    # -- assignments and trust ----------------------------------------------------------

    def assignments(self) -> dict[str, tuple[NumberScope, ...]]:
        """The SPC → numbers table on disk."""
        path = self.directory / ASSIGNMENTS_FILE
        if not path.exists():
            return {}
        return parse_assignments(path.read_text(encoding="utf-8"), str(path))

    def assign(self, spc: str, numbers: Sequence[NumberScope]) -> None:
        """Record (replace) the numbers assigned to ``spc`` in ``assignments.json``."""
        SPC(spc)
        table = self.assignments()
        table[spc] = tuple(numbers)
        (self.directory / ASSIGNMENTS_FILE).write_text(dump_assignments(table), encoding="utf-8")

    def unassign(self, spc: str) -> None:
        """Remove ``spc`` from the assignment table."""
        table = self.assignments()
        table.pop(spc, None)
        (self.directory / ASSIGNMENTS_FILE).write_text(dump_assignments(table), encoding="utf-8")

    def export_trust(self, destination: str | Path) -> Path:
        """Copy what verifiers need (anchors, assignments; no keys) to ``destination``.

        Clients and the delivery service can then load the trust store without access to
        the CA keys: ``load_trust_store(destination)``.
        """
        dest = Path(destination)
        dest.mkdir(parents=True, exist_ok=True)
        for file in (TRUST_ANCHORS_FILE, ASSIGNMENTS_FILE):
            (dest / file).write_bytes((self.directory / file).read_bytes())
        return dest

    def trust_store(self) -> TrustStore:
        """The trust store a verifier of this PKI uses (as :func:`load_trust_store` reads it)."""
        return load_trust_store(self.directory)

    # -- issuing -----------------------------------------------------------------------

    def issue_spc(
        self,
        provider_name: str,
        spc: str,
        numbers: Sequence[NumberScope] = (),
        *,
        ca: bool = False,
        public_key: PublicKey | None = None,
        name: str | None = None,
        key_type: KeyType = "p256",
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        critical_tnauthlist: bool = False,
        permitted_nam: str | None = None,
        enhanced: bool = False,
        nam_form: str = RCD_CLAIM,
        now: datetime | None = None,
    ) -> IssuedCert:
        """Issue a provider's SPC-level certificate from the intermediate.

        With ``ca=False`` (default) it is an ATIS-1000080 SHAKEN end-entity certificate
        (a PASSporT signer or carrier-held member key); with ``ca=True`` it is the
        provider's CA for issuing RFC 9060 delegate certificates. ``numbers``, when
        given, is recorded as the SPC's assignment (replacing any earlier one).
        """
        scope: tuple[TNEntry, ...] = (SPC(spc),)
        if numbers:
            self.assign(spc, numbers)
        return self._issue(
            issuer=self.intermediate,
            subject=_name(f"SHAKEN {spc}" + (" CA" if ca else ""), provider_name),
            scope=scope,
            ca=ca,
            public_key=public_key,
            name=self._unique_name(name, f"{provider_name}-{spc}" + ("-ca" if ca else "")),
            key_type=key_type,
            not_before=not_before,
            not_after=not_after,
            critical_tnauthlist=critical_tnauthlist,
            permitted_nam=permitted_nam,
            enhanced=enhanced,
            nam_form=nam_form,
            omit_tnauthlist=False,
            now=now,
        )

    def issue_delegate(
        self,
        issuer: IssuedCert,
        scope: Sequence[TNEntry],
        public_key: PublicKey | None = None,
        *,
        ca: bool = False,
        permitted_nam: str | None = None,
        enhanced: bool = False,
        nam_form: str = RCD_CLAIM,
        name: str | None = None,
        key_type: KeyType = "p256",
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        critical_tnauthlist: bool = False,
        check_scope: bool = True,
        omit_tnauthlist: bool = False,
        now: datetime | None = None,
    ) -> IssuedCert:
        """Issue an RFC 9060 delegate certificate (end entity, or CA with ``ca=True``).

        ``scope`` (TN and range entries) must lie inside the issuer's effective scope
        (checked against the issuer's TNAuthList and the SPC assignments) unless
        ``check_scope=False``, which makes a deliberately wider delegate for tests.
        ``public_key`` is the key to certify (e.g. a member's MLS P-256 key); without
        it the PKI makes a key and keeps it. ``permitted_nam`` adds a
        (Enhanced)JWTClaimConstraints permitting exactly that display name.
        ``omit_tnauthlist`` makes a scope-less certificate (a bad sub-CA, for tests).
        """
        if issuer.key is None:
            raise ValueError(f"issuer {issuer.name!r} has no private key here")
        if not scope and not omit_tnauthlist:
            raise ValueError("a delegate certificate needs a scope (TN or range entries)")
        entries = tuple(scope)
        if check_scope and not omit_tnauthlist:
            issuer_scope = issuer.tnauthlist
            if issuer_scope is None:
                raise ScopeError(f"issuer {issuer.name!r} has no TNAuthList to delegate from")
            result = entries_within(entries, issuer_scope, self.assignments())
            if result is not Coverage.COVERED:
                raise ScopeError(
                    f"scope {_describe_scope(entries)} is not inside issuer {issuer.name!r}'s "
                    f"scope ({result.value}); pass check_scope=False to make one anyway"
                )
        return self._issue(
            issuer=issuer,
            subject=_name(f"Delegate {_describe_scope(entries)}" + (" CA" if ca else "")),
            scope=entries,
            ca=ca,
            public_key=public_key,
            name=self._unique_name(name, f"{issuer.name}-{_describe_scope(entries)}"),
            key_type=key_type,
            not_before=not_before,
            not_after=not_after,
            critical_tnauthlist=critical_tnauthlist,
            permitted_nam=permitted_nam,
            enhanced=enhanced,
            nam_form=nam_form,
            omit_tnauthlist=omit_tnauthlist,
            now=now,
        )

    def _issue(
        self,
        *,
        issuer: IssuedCert,
        subject: x509.Name,
        scope: tuple[TNEntry, ...],
        ca: bool,
        public_key: PublicKey | None,
        name: str,
        key_type: KeyType,
        not_before: datetime | None,
        not_after: datetime | None,
        critical_tnauthlist: bool,
        permitted_nam: str | None,
        enhanced: bool,
        nam_form: str,
        omit_tnauthlist: bool,
        now: datetime | None,
    ) -> IssuedCert:
        if issuer.key is None:
            raise ValueError(f"issuer {issuer.name!r} has no private key here")
        now = now or datetime.now(UTC)
        key: PrivateKey | None = None
        if public_key is None:
            key = generate_key(key_type)
            public_key = key.public_key()
        start = not_before or (now - BACKDATE)
        end = not_after or (start + (CA_VALIDITY if ca else EE_VALIDITY))
        if ca:
            builder = _ca_builder(subject, issuer.cert, public_key, start, end)
        else:
            builder = _ee_builder(subject, issuer.cert, public_key, start, end)
        if not omit_tnauthlist:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(OID_TNAUTHLIST, encode_tnauthlist(scope)),
                critical=critical_tnauthlist,
            )
        if permitted_nam is not None:
            constraints = nam_constraints(permitted_nam, enhanced=enhanced, form=nam_form)
            oid = (
                OID_ENHANCED_JWT_CLAIM_CONSTRAINTS
                if isinstance(constraints, EnhancedJWTClaimConstraints)
                else OID_JWT_CLAIM_CONSTRAINTS
            )
            builder = builder.add_extension(
                x509.UnrecognizedExtension(oid, constraints.encode()), critical=False
            )
        cert = builder.sign(issuer.key, hashes.SHA256())
        issuer_chain = () if issuer.name == "root" else issuer.chain
        return self._store(self.directory / "certs" / name, name, cert, key, issuer_chain)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _base_builder(
    subject: x509.Name,
    issuer_cert: x509.Certificate,
    public_key: PublicKey,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    issuer_ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski.value),
            critical=False,
        )
    )


def _ca_builder(
    subject: x509.Name,
    issuer_cert: x509.Certificate,
    public_key: PublicKey,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    return (
        _base_builder(subject, issuer_cert, public_key, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
    )


def _ee_builder(
    subject: x509.Name,
    issuer_cert: x509.Certificate,
    public_key: PublicKey,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    return (
        _base_builder(subject, issuer_cert, public_key, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(SHAKEN_POLICY_OID, None)]),
            critical=False,
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [
                    x509.DistributionPoint(
                        full_name=[x509.UniformResourceIdentifier(CRL_URL)],
                        relative_name=None,
                        reasons=None,
                        crl_issuer=None,
                    )
                ]
            ),
            critical=False,
        )
    )


__all__ = [
    "SHAKEN_POLICY_OID",
    "DemoPKI",
    "IssuedCert",
    "KeyType",
    "OneTN",
    "ScopeError",
    "TNRange",
    "generate_key",
    "point_of",
    "public_key_from_point",
]

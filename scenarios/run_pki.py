"""The run's STI PKI and each actor's credentials, made fresh for every run.

The run's PKI issues what the file says (an actor's ``defect``, a number outside its
provider's assignment), so that verifiers, not signers, are what a scenario tests.
Credentials are MLS credential contents (PROFILE.md §2) ready for ``openmls.Credential``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from scenarios.model import Actor, Provider, Scenario
from shared.profile import (
    CREDENTIAL_TYPE_STIR_CERTIFICATE,
    CREDENTIAL_TYPE_STIR_PASSPORT,
    GROUP_DEST_PREFIX,
    ds_dest_uri,
    group_dest_uri,
)
from shared.stir.credential_codec import STIRCertificateCredential, STIRPASSporTCredential
from shared.stir.passport import PassportSigner
from shared.stir.pki import DemoPKI, IssuedCert, point_of, public_key_from_point
from shared.stir.tnauthlist import OneTN, TNRange
from shared.stir.trust import TrustStore

# A PASSporT made "expired" was issued two hours ago and expired one hour ago: past
# every clock tolerance, yet younger than max_age, so the reason is the exp claim.
_EXPIRED_IAT = timedelta(hours=2)
_EXPIRED_EXP = timedelta(hours=1)
_OTHER_GROUP = b"stirmls-scenario:another-group"


class RunPKIError(Exception):
    """The scenario asks for a credential this PKI cannot make (says which and why)."""


@dataclass(frozen=True)
class MemberKey:
    """An actor's MLS signature key (P-256): PKCS#8 for the binding, the point for MLS."""

    private_key: ec.EllipticCurvePrivateKey

    @property
    def public_point(self) -> bytes:
        """The SEC1 uncompressed point: the LeafNode signature_key (PROFILE.md §1)."""
        return point_of(self.private_key.public_key())

    @property
    def pkcs8(self) -> bytes:
        """PKCS#8 DER, as ``openmls.SignatureKeyPair.from_p256_private_key`` takes it."""
        return self.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @staticmethod
    def generate() -> MemberKey:
        """A fresh P-256 key."""
        return MemberKey(ec.generate_private_key(ec.SECP256R1()))


@dataclass(frozen=True)
class IssuedCredential:
    """An MLS credential: its type, its content, and the LeafNode application_id it needs."""

    credential_type: int
    content: bytes
    application_id: bytes | None = None


@dataclass
class _ProviderMaterial:
    signer: IssuedCert  # SPC-level end entity: signs PASSporTs
    ca: IssuedCert  # SPC-level CA: issues delegate certificates
    pki: DemoPKI


@dataclass
class RunPKI:
    """The run's demo PKI, the providers' signers and CAs, and credential issuance."""

    scenario: Scenario
    pki: DemoPKI
    untrusted: DemoPKI  # a second root, outside the trust store ("untrusted-root")
    providers: dict[str, _ProviderMaterial]
    untrusted_providers: dict[str, _ProviderMaterial]
    _certificates: dict[tuple[str, bytes, bool], IssuedCert] = field(default_factory=dict)

    @classmethod
    def create(cls, scenario: Scenario, directory: Path, *, now: datetime | None = None) -> RunPKI:
        """Make the root, the intermediate and every provider's certificates in ``directory``."""
        now = now or datetime.now(UTC)
        pki = DemoPKI.init(directory / "pki", name="Scenario STI", now=now)
        untrusted = DemoPKI.init(directory / "untrusted-pki", name="Untrusted STI", now=now)
        providers = {p.name: _provider(pki, p, now) for p in scenario.providers.values()}
        untrusted_providers = {
            p.name: _provider(untrusted, p, now) for p in scenario.providers.values()
        }
        return cls(scenario, pki, untrusted, providers, untrusted_providers)

    @property
    def trust(self) -> TrustStore:
        """The verifiers' trust store: the run's root and the SPC assignment table."""
        return self.pki.trust_store()

    def provider_signer(self, provider: str) -> PassportSigner:
        """The provider's PASSporT signer (its SPC-level certificate and key)."""
        material = self.providers[provider]
        if not isinstance(material.signer.key, ec.EllipticCurvePrivateKey):
            raise RunPKIError(f"provider {provider!r} has no signing key here")
        return PassportSigner(material.signer.key, material.signer.chain)

    def provider_key(self, provider: str) -> MemberKey:
        """A key the provider controls (the rogue provider's MLS key, PROFILE.md §9)."""
        return MemberKey.generate()

    # -- credentials --------------------------------------------------------------------

    def registration_credential(
        self, actor_name: str, key: bytes, ds_id: str, *, now: datetime | None = None
    ) -> IssuedCredential:
        """The credential an actor registers with at the delivery service (dest mls:ds:).

        Always sound: an actor's defect is in its group credentials, so the refusal a
        scenario tests is the group's.
        """
        actor = self.scenario.actors[actor_name]
        return self._credential(actor, key, ds_dest_uri(ds_id), defect=None, now=now)

    def group_credential(
        self, actor_name: str, key: bytes, group_id: bytes, *, now: datetime | None = None
    ) -> IssuedCredential:
        """The credential for the actor's KeyPackage for ``group_id``, defect included."""
        actor = self.scenario.actors[actor_name]
        return self._credential(actor, key, group_dest_uri(group_id), defect=actor.defect, now=now)

    def certificate_chain(self, actor_name: str, key: bytes) -> tuple[bytes, ...]:
        """A certificate-holding actor's chain for ``key`` (leaf first, DER), defect included.

        The client core holds one certificate credential for registration and groups,
        so a defect here shows at registration too.
        """
        actor = self.scenario.actors[actor_name]
        if actor.credential == "passport":
            raise RunPKIError(f"actor {actor_name!r} holds a PASSporT, not a certificate")
        untrusted = actor.defect == "untrusted-root"
        material = (self.untrusted_providers if untrusted else self.providers)[actor.provider]
        return self._certificate(actor, material, key, actor.defect, datetime.now(UTC)).chain

    def rogue_passport(
        self, provider: str, victim: str, rogue_key: bytes, group_id: bytes
    ) -> IssuedCredential:
        """PROFILE.md §9: a PASSporT for the victim's number whose mky is the provider's key."""
        actor = self.scenario.actors[victim]
        token = self.provider_signer(provider).sign(
            actor.tn, group_dest_uri(group_id), rogue_key, nam=actor.display_name
        )
        chain = self.providers[provider].signer.chain
        content = STIRPASSporTCredential(chain, token.encode("ascii")).encode()
        return IssuedCredential(CREDENTIAL_TYPE_STIR_PASSPORT, content)

    def _credential(
        self,
        actor: Actor,
        key: bytes,
        dest_uri: str,
        *,
        defect: str | None,
        now: datetime | None,
    ) -> IssuedCredential:
        now = now or datetime.now(UTC)
        untrusted = defect == "untrusted-root"
        material = (self.untrusted_providers if untrusted else self.providers)[actor.provider]
        if actor.credential == "passport":
            return self._passport(actor, material, key, dest_uri, defect, now)
        cert = self._certificate(actor, material, key, defect, now)
        application_id = actor.tn.encode("ascii") if actor.credential == "spc-cert" else None
        content = STIRCertificateCredential(cert.chain).encode()
        return IssuedCredential(CREDENTIAL_TYPE_STIR_CERTIFICATE, content, application_id)

    def _passport(
        self,
        actor: Actor,
        material: _ProviderMaterial,
        key: bytes,
        dest_uri: str,
        defect: str | None,
        now: datetime,
    ) -> IssuedCredential:
        token, chain = self._sign(actor, material, key, dest_uri, defect, now)
        content = STIRPASSporTCredential(chain, token.encode("ascii")).encode()
        return IssuedCredential(CREDENTIAL_TYPE_STIR_PASSPORT, content)

    def passport(
        self, actor_name: str, key: bytes, dest_uri: str, *, now: datetime | None = None
    ) -> tuple[str, tuple[bytes, ...]]:
        """The carrier's answer to a PASSporT request: (compact JWS, signer chain).

        A request for a group (dest ``mls:group:``) gets the actor's defect; one for the
        delivery service (``mls:ds:``) is always sound, as in ``registration_credential``.
        """
        actor = self.scenario.actors[actor_name]
        defect = actor.defect if dest_uri.startswith(GROUP_DEST_PREFIX) else None
        untrusted = defect == "untrusted-root"
        material = (self.untrusted_providers if untrusted else self.providers)[actor.provider]
        return self._sign(actor, material, key, dest_uri, defect, now or datetime.now(UTC))

    def _sign(
        self,
        actor: Actor,
        material: _ProviderMaterial,
        key: bytes,
        dest_uri: str,
        defect: str | None,
        now: datetime,
    ) -> tuple[str, tuple[bytes, ...]]:
        if not isinstance(material.signer.key, ec.EllipticCurvePrivateKey):
            raise RunPKIError(f"provider {actor.provider!r} has no signing key here")
        signer = PassportSigner(material.signer.key, material.signer.chain)
        iat: datetime = now
        exp: datetime | None = None
        mky_key = key
        if defect == "expired":
            iat, exp = now - _EXPIRED_IAT, now - _EXPIRED_EXP
        elif defect == "other-group":
            dest_uri = group_dest_uri(_OTHER_GROUP)
        elif defect == "mky-mismatch":
            mky_key = MemberKey.generate().public_point
        token = signer.sign(actor.tn, dest_uri, mky_key, iat, actor.display_name, exp=exp)
        return token, signer.chain

    def _certificate(
        self,
        actor: Actor,
        material: _ProviderMaterial,
        key: bytes,
        defect: str | None,
        now: datetime,
    ) -> IssuedCert:
        """tn-cert / spc-cert bound to ``key`` (one per actor and key; keys never repeat)."""
        cache_key = (actor.name, key, defect is not None)
        if cache_key in self._certificates:
            return self._certificates[cache_key]
        public_key = public_key_from_point(key)
        not_before: datetime | None = None
        not_after: datetime | None = None
        if defect == "expired":
            not_before, not_after = now - timedelta(days=10), now - timedelta(days=1)
        if actor.credential == "spc-cert":
            # PROFILE.md §4.4: one carrier-level end-entity certificate per member.
            provider = self.scenario.providers[actor.provider]
            cert = material.pki.issue_spc(
                provider.name,
                provider.spc,
                public_key=public_key,
                permitted_nam=actor.display_name,
                not_before=not_before,
                not_after=not_after,
                now=now,
            )
        else:
            issuer = material.ca
            if defect == "wider-delegate":
                issuer = self._narrow_delegate_ca(actor, material, now)
            cert = material.pki.issue_delegate(
                issuer,
                [OneTN(actor.tn)],
                public_key,
                permitted_nam=actor.display_name,
                check_scope=False,  # the file decides; the verifiers judge
                not_before=not_before,
                not_after=not_after,
                now=now,
            )
        self._certificates[cache_key] = cert
        return cert

    def _narrow_delegate_ca(
        self, actor: Actor, material: _ProviderMaterial, now: datetime
    ) -> IssuedCert:
        """A delegate CA whose range lies in the provider's numbers but misses the actor's."""
        provider = self.scenario.providers[actor.provider]
        for numbers in provider.numbers:
            for offset in range(0, max(numbers.count - 1, 0)):
                start = str(int(numbers.start) + offset).zfill(len(numbers.start))
                second = str(int(start) + 1).zfill(len(start))
                if actor.tn not in (start, second):
                    return material.pki.issue_delegate(
                        material.ca, [TNRange(start, 2)], ca=True, now=now
                    )
        raise RunPKIError(
            f"actor {actor.name!r}: a 'wider-delegate' defect needs provider "
            f"{provider.name!r} to have two numbers besides the actor's"
        )


def _provider(pki: DemoPKI, provider: Provider, now: datetime) -> _ProviderMaterial:
    numbers = [
        TNRange(r.start, r.count) if r.count >= 2 else OneTN(r.start) for r in provider.numbers
    ]
    signer = pki.issue_spc(provider.name, provider.spc, numbers, now=now)
    ca = pki.issue_spc(provider.name, provider.spc, ca=True, now=now)
    return _ProviderMaterial(signer=signer, ca=ca, pki=pki)

"""The carriers' STIR authentication service, as the run's relay plays it.

When an actor's client asks its carrier for a PASSporT (``RequestPassport``), the relay
answers for the carrier instead of passing the frame to the delivery service. The
answer goes through the real provider's checks (``delivery_service.provider``'s
``PassportIssuer``): the secret that proves control of the number, the dest, and the
request's labelled signature (``PASSPORT_REQUEST_LABEL`` over the session's nonces,
service id and TN) that proves possession of the key the PASSporT will bind. A request
that fails them gets the same ``provider_refused`` error the real provider gives, so a
client that asks for a PASSporT for a key it does not hold gets nothing.

What it then signs is what the scenario file says: an actor's group PASSporTs carry
its ``defect`` (PROFILE.md §5.5); a rogue provider's impostors get PASSporTs for their
victims' numbers binding the provider's own key (PROFILE.md §9).

The relay sees each connection's handshake (``Hello`` and the service's ``Challenge``)
and keeps it in a ``SessionNonces``, so the check signs over exactly what the real
service would (``ServerSession.signed_content``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from delivery_service.errors import Refused
from delivery_service.provider import PassportIssuer, Subscriber
from shared.profile import GROUP_DEST_PREFIX
from shared.protocol import (
    Auth,
    Challenge,
    Error,
    ErrorCode,
    Frame,
    Hello,
    PassportIssued,
    RequestPassport,
    ds_auth_content,
)

if TYPE_CHECKING:
    from scenarios.rogue import RogueProvider
    from scenarios.run_pki import RunPKI

DEFAULT_SECRET = "scenario"
"""The secret every run's client proves its number with (``ClientSpec.provider_secret``)."""


class SessionNonces:
    """One connection's handshake, as the relay saw it pass: what a ``RequestPassport``
    on it must have signed.

    It follows the service's session: ``Hello`` brings the client nonce, the
    ``Challenge`` the service's nonce and id; a refused ``Auth`` spends them (the client
    starts over with ``Hello``).
    """

    __slots__ = ("_auth_id", "client_nonce", "ds_id", "server_nonce")

    def __init__(self) -> None:
        self.client_nonce: bytes | None = None
        self.server_nonce: bytes | None = None
        self.ds_id: str | None = None
        self._auth_id: int | None = None

    def observe(self, frame: Frame) -> None:
        """A frame passed (either way) on this connection."""
        if isinstance(frame, Hello):
            self.client_nonce, self.server_nonce, self.ds_id = frame.client_nonce, None, None
        elif isinstance(frame, Challenge):
            self.server_nonce, self.ds_id = frame.server_nonce, frame.ds_id
        elif isinstance(frame, Auth):
            self._auth_id = frame.id
        elif isinstance(frame, Error) and frame.re is not None and frame.re == self._auth_id:
            self.client_nonce = self.server_nonce = self.ds_id = None

    def signed_content(self, tn: str) -> bytes:
        """What a request for ``tn`` must have signed; ``Refused`` as the service refuses
        a request on a connection with no challenge outstanding."""
        if self.client_nonce is None or self.server_nonce is None or self.ds_id is None:
            raise Refused(ErrorCode.UNEXPECTED_FRAME, "no challenge is outstanding")
        return ds_auth_content(self.server_nonce, self.client_nonce, self.ds_id, tn)


class RunCarrier:
    """Answers the run's PASSporT requests (see the module docstring).

    Called by the relay with the request's path (the actor, or a rogue impostor's
    path), the request, and the connection's ``SessionNonces``; returns the answer
    frame, or None for a path that is none of the run's clients (the frame then goes
    on to the delivery service, which refuses it unless it is a signer itself).
    """

    def __init__(
        self,
        pki: RunPKI,
        rogues: Sequence[RogueProvider] = (),
        *,
        secret: str = DEFAULT_SECRET,
    ) -> None:
        self.pki = pki
        self.rogues = rogues  # the engine adds to its list as it makes them
        self.secret = secret
        self._issuers: dict[str, PassportIssuer] = {}

    def __call__(self, path: str, request: RequestPassport, session: SessionNonces) -> Frame | None:
        actors = self.pki.scenario.actors
        subject = actors.get(path)
        rogue = None
        if subject is None:
            rogue = next((r for r in self.rogues if r.impersonated(path) is not None), None)
            if rogue is None:
                return None
            subject = actors[rogue.impersonated(path) or ""]
        provider = rogue.provider if rogue is not None else subject.provider
        try:
            if request.tn != subject.tn:
                whose = f"{path}'s carrier" if rogue is None else f"{provider} (for {path})"
                raise Refused(ErrorCode.PROVIDER_REFUSED, f"{whose} does not sign for {request.tn}")
            content = session.signed_content(request.tn)
            # The real provider's checks, whole: secret, dest, proof of possession.
            issued = self._issuer(provider).issue(content, request)
        except Refused as exc:
            return exc.to_frame(request.id)
        if (
            rogue is None
            and subject.defect is not None
            and request.dest.startswith(GROUP_DEST_PREFIX)
        ):
            # The checks passed; what is signed is the file's deliberately bad credential
            # (its signer and chain may differ: "untrusted-root").
            token, chain = self.pki.passport(path, request.signature_key, request.dest)
            return PassportIssued(re=request.id, passport=token, certificates=chain)
        return issued

    def _issuer(self, provider: str) -> PassportIssuer:
        """The provider's issuer: its SPC signer, and its subscribers: the actors it
        serves, and for a rogue provider the victims it impersonates (it signs for
        whatever its victims' numbers are; verifiers judge whether it may)."""
        issuer = self._issuers.get(provider)
        if issuer is None:
            actors = self.pki.scenario.actors.values()
            served = {a.name for a in actors if a.provider == provider}
            for rogue in self.rogues:
                if rogue.provider == provider:
                    served.update(rogue.adversary.victims)
            subscribers = {
                a.tn: Subscriber(a.tn, self.secret, a.display_name)
                for a in actors
                if a.name in served
            }
            issuer = PassportIssuer(self.pki.provider_signer(provider), subscribers)
            self._issuers[provider] = issuer
        return issuer

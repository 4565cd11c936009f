"""Who a credential says a member is, for the service: STIR validation -> one TN.

The service asks one question of a credential (at registration, on KeyPackage publish,
for every leaf entering a group): which telephone number does it prove for this key?
``StirIdentifier`` answers with the shared validator (PROFILE.md §4-§6), its own trust
store and the service's narrower clock tolerance, caching verdicts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from delivery_service.errors import Refused
from shared.profile import DS_CLOCK_TOLERANCE
from shared.protocol import ErrorCode
from shared.stir.errors import CredentialRejected
from shared.stir.trust import TrustStore
from shared.stir.validation_cache import ValidationCache


class MemberIdentifier(Protocol):
    """Validates a credential and names the one TN it proves for ``signature_key``."""

    def identify(
        self,
        credential_type: int,
        content: bytes,
        signature_key: bytes,
        *,
        group_id: bytes | None,
        ds_id: str | None = None,
        application_id: bytes | None = None,
        strict_time: bool = True,
    ) -> str:
        """The TN; raises ``Refused(credential_rejected)`` naming reason and rule."""
        ...


def utc_now() -> datetime:
    """The current time, timezone-aware (the validator requires it)."""
    return datetime.now(UTC)


class StirIdentifier:
    """``MemberIdentifier`` over shared.stir's validator (cached verdicts)."""

    def __init__(
        self,
        trust: TrustStore,
        *,
        clock: Callable[[], datetime] = utc_now,
        cache: ValidationCache | None = None,
    ) -> None:
        self.trust = trust
        self._clock = clock
        self._cache = cache if cache is not None else ValidationCache()

    def identify(
        self,
        credential_type: int,
        content: bytes,
        signature_key: bytes,
        *,
        group_id: bytes | None,
        ds_id: str | None = None,
        application_id: bytes | None = None,
        strict_time: bool = True,
    ) -> str:
        """Validate and return the member's one TN (see ``MemberIdentifier``)."""
        try:
            identity = self._cache.validate(
                credential_type,
                content,
                signature_key,
                group_id=group_id,
                ds_id=ds_id,
                trust=self.trust,
                now=self._clock(),
                strict_time=strict_time,
                application_id=application_id,
                clock_tolerance=DS_CLOCK_TOLERANCE,
            )
        except CredentialRejected as exc:
            raise Refused(
                ErrorCode.CREDENTIAL_REJECTED,
                exc.detail,
                reason=exc.reason,
                rule=exc.rule,
            ) from None
        tn = identity.primary_tn
        if tn is None:
            # A range certificate proves many numbers; the service binds one per member.
            raise Refused(
                ErrorCode.CREDENTIAL_REJECTED,
                "the credential does not name exactly one telephone number",
                reason="tn-not-authorised",
                rule="§4.4",
            )
        return tn

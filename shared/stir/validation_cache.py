"""A cache of validation verdicts, keyed by everything a verdict depends on but the time.

The same credential is validated many times: the adder checks a KeyPackage the delivery
service already checked, every joiner checks the whole tree, every commit repeats the
checks for its path leaf. :class:`ValidationCache` keeps the time-independent
:class:`~shared.stir.validator.Verdict` of each accepted credential under the key
(credential type, content bytes, signature key, group id / delivery service id,
application_id, trust store, policy parameters), and re-applies the time rules on every
lookup: an entry is never served past its certificates' expiry, its PASSporT's max-age
or exp, nor before its notBefore / iat, and a strict lookup that fails on time raises
the same rejection as a fresh validation (a lenient one returns the Identity marked
stale).

Rejections are not cached (a credential can become valid once its notBefore passes),
and entries leave in insertion order once ``maxsize`` is reached; an entry whose upper
time bound has passed is dropped when a lookup finds it so (time only moves forward).
The key holds the content itself (exact match, no digest to compute on every lookup):
about 2 KB an entry for a three-certificate chain, so the default bound is ~35 MB.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from shared.profile import CLIENT_CLOCK_TOLERANCE, PASSPORT_FUTURE_SKEW, PASSPORT_MAX_AGE
from shared.stir.errors import CredentialRejected
from shared.stir.trust import TrustStore
from shared.stir.validator import DEFAULT_VALIDATOR, Identity, Validator, Verdict


class ValidationCache:
    """Cached :func:`shared.stir.validator.validate` (same arguments, same results)."""

    def __init__(self, validator: Validator | None = None, *, maxsize: int = 16384) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.validator = validator or DEFAULT_VALIDATOR
        self.maxsize = maxsize
        # (trust store, verdict, latest lower time bound, earliest upper time bound)
        self._entries: dict[tuple[Any, ...], tuple[TrustStore, Verdict, float, float]] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget every verdict (e.g. after the trust configuration changed)."""
        self._entries.clear()

    def validate(
        self,
        credential_type: int,
        content: bytes,
        signature_key: bytes,
        *,
        group_id: bytes | None,
        ds_id: str | None = None,
        trust: TrustStore,
        now: datetime,
        strict_time: bool = True,
        application_id: bytes | None = None,
        clock_tolerance: timedelta = CLIENT_CLOCK_TOLERANCE,
        max_age: timedelta = PASSPORT_MAX_AGE,
        future_skew: timedelta = PASSPORT_FUTURE_SKEW,
        ciphersuite: int | None = None,
    ) -> Identity:
        """Validate, or serve a cached verdict with the time rules applied at ``now``.

        Raises :class:`~shared.stir.errors.CredentialRejected` exactly as
        :func:`shared.stir.validator.validate` does.
        """
        if now.tzinfo is None:
            raise ValueError("now must be a timezone-aware datetime")
        key = (
            credential_type,
            bytes(content),
            bytes(signature_key),
            group_id,
            ds_id,
            application_id,
            id(trust),
            max_age,
            future_skew,
            ciphersuite,
        )
        now_s = now.timestamp()
        tolerance = clock_tolerance.total_seconds()
        entry = self._entries.get(key)
        if entry is not None and entry[0] is trust:
            self.hits += 1
            verdict = entry[1]
            # Every time rule holds: the same test as Verdict.time_failure, on the
            # extreme bounds (the common case, so it is kept to two comparisons).
            if entry[2] <= now_s + tolerance and now_s - tolerance <= entry[3]:
                return verdict.identity
        else:
            self.misses += 1
            verdict = self.validator.verdict(
                credential_type,
                content,
                signature_key,
                group_id=group_id,
                ds_id=ds_id,
                trust=trust,
                now=now,
                application_id=application_id,
                max_age=max_age,
                future_skew=future_skew,
                ciphersuite=ciphersuite,
            )
            entries = self._entries
            entries[key] = (
                trust,
                verdict,
                max((b.at for b in verdict.lower), default=-math.inf),
                min((b.at for b in verdict.upper), default=math.inf),
            )
            if len(entries) > self.maxsize:
                del entries[next(iter(entries))]
        try:
            return verdict.at(now_s, tolerance, strict_time)
        except CredentialRejected:
            if any(now_s - tolerance > bound.at for bound in verdict.upper):
                self._entries.pop(key, None)
            raise

"""Trust configuration for validating STIR credentials: anchors and SPC assignments.

A :class:`TrustStore` holds the STI trust anchors (root certificates) and the table of
which telephone numbers each service provider code holds (PROFILE.md §4.3: an SPC
covers a TN only through such a configured assignment).

On disk (the layout :mod:`shared.stir.pki` writes), a trust directory holds:

- ``trust-anchors.pem``: one or more PEM certificates (the anchors);
- ``assignments.json``: the SPC → numbers table::

      {"version": 1,
       "assignments": {"1234": [{"start": "12025550100", "count": 100},
                                {"tn": "12025550199"}]}}

Reading files is the only I/O here, in :func:`load_trust_store`; everything else works
on values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.verification import Store

from shared.stir.errors import MalformedError
from shared.stir.tnauthlist import (
    SPC,
    Coverage,
    NumberScope,
    OneTN,
    TNAuthList,
    TNEntry,
    TNRange,
    coverage,
)

TRUST_ANCHORS_FILE = "trust-anchors.pem"
ASSIGNMENTS_FILE = "assignments.json"
ASSIGNMENTS_VERSION = 1


@dataclass(frozen=True)
class TrustStore:
    """STI trust anchors and the SPC → numbers assignment table."""

    anchors: tuple[x509.Certificate, ...]
    spc_assignments: Mapping[str, tuple[NumberScope, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.anchors:
            raise ValueError("a trust store needs at least one trust anchor")

    @cached_property
    def store(self) -> Store:
        """The anchors as a ``cryptography.x509.verification.Store`` (built once)."""
        return Store(list(self.anchors))

    def coverage(self, inner: TNEntry | str, entries: TNAuthList | Iterable[TNEntry]) -> Coverage:
        """:func:`shared.stir.tnauthlist.coverage` with this store's SPC assignments."""
        return coverage(inner, entries, self.spc_assignments)

    def tn_covered(self, tn: str, entries: TNAuthList | Iterable[TNEntry]) -> bool:
        """Whether ``tn`` is authorised by ``entries`` under this store's assignments."""
        return self.coverage(tn, entries) is Coverage.COVERED

    def with_assignments(self, assignments: Mapping[str, Sequence[NumberScope]]) -> TrustStore:
        """A copy with ``assignments`` added to (and overriding) the table."""
        merged = dict(self.spc_assignments)
        merged.update({spc: tuple(scopes) for spc, scopes in assignments.items()})
        return TrustStore(self.anchors, merged)


def _scope_to_json(scope: NumberScope) -> dict[str, Any]:
    if isinstance(scope, OneTN):
        return {"tn": scope.tn}
    return {"start": scope.start, "count": scope.count}


def _scope_from_json(item: Any, where: str) -> NumberScope:
    if isinstance(item, dict) and set(item) == {"tn"} and isinstance(item["tn"], str):
        return OneTN(item["tn"])
    if (
        isinstance(item, dict)
        and set(item) == {"start", "count"}
        and isinstance(item["start"], str)
        and type(item["count"]) is int
    ):
        return TNRange(item["start"], item["count"])
    raise MalformedError(
        f"{where}: expected {{'tn': str}} or {{'start': str, 'count': int}}, got {item!r}"
    )


def dump_assignments(assignments: Mapping[str, Sequence[NumberScope]]) -> str:
    """Serialise an SPC → numbers table as the ``assignments.json`` text."""
    doc = {
        "version": ASSIGNMENTS_VERSION,
        "assignments": {
            spc: [_scope_to_json(s) for s in scopes] for spc, scopes in sorted(assignments.items())
        },
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def parse_assignments(
    text: str, source: str = ASSIGNMENTS_FILE
) -> dict[str, tuple[NumberScope, ...]]:
    """Parse ``assignments.json`` text; :class:`MalformedError` names what is wrong."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise MalformedError(f"{source} is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("version") != ASSIGNMENTS_VERSION:
        raise MalformedError(f'{source}: expected an object with "version": {ASSIGNMENTS_VERSION}')
    table = doc.get("assignments")
    if not isinstance(table, dict):
        raise MalformedError(f'{source}: "assignments" must be an object of SPC -> list')
    out: dict[str, tuple[NumberScope, ...]] = {}
    for spc, scopes in table.items():
        SPC(spc)  # the same rules as a TNAuthList spc entry
        if not isinstance(scopes, list):
            raise MalformedError(f"{source}: assignments of SPC {spc!r} must be a list")
        out[spc] = tuple(_scope_from_json(s, f"{source} SPC {spc!r}") for s in scopes)
    return out


def load_anchors(path: Path) -> tuple[x509.Certificate, ...]:
    """Read one or more PEM certificates; :class:`MalformedError` if there are none."""
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except ValueError as exc:
        raise MalformedError(f"{path} holds no readable PEM certificate: {exc}") from exc
    return tuple(certs)


def load_trust_store(directory: str | Path) -> TrustStore:
    """Load the trust store of a PKI directory (``trust-anchors.pem``, ``assignments.json``).

    A missing ``assignments.json`` means no SPC has assigned numbers. Raises
    :class:`FileNotFoundError` without anchors, :class:`MalformedError` for bad content.
    """
    base = Path(directory)
    anchors = load_anchors(base / TRUST_ANCHORS_FILE)
    assignments_path = base / ASSIGNMENTS_FILE
    assignments: dict[str, tuple[NumberScope, ...]] = {}
    if assignments_path.exists():
        assignments = parse_assignments(
            assignments_path.read_text(encoding="utf-8"), str(assignments_path)
        )
    return TrustStore(anchors, assignments)

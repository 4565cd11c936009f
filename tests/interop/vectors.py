"""Loading the MLS working group's interoperability vectors in place (never copied)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import openmls

MLS_VECTORS = Path(__file__).resolve().parent / ".." / ".." / ".." / "shared" / "vectors" / "mls"
SUPPORTED = frozenset(openmls.Provider().supported_ciphersuites())


@cache
def load(name: str) -> list[dict[str, Any]]:
    """The vector file ``name`` (a JSON array)."""
    data: list[dict[str, Any]] = json.loads((MLS_VECTORS / name).read_text())
    return data


def h(value: str | None) -> bytes | None:
    """Hex field → bytes (``None`` stays ``None``)."""
    return None if value is None else bytes.fromhex(value)


def hx(value: str) -> bytes:
    """Hex field that is never null → bytes."""
    return bytes.fromhex(value)


def unsupported_reason(suite: int) -> str | None:
    """Why a vector of ``suite`` cannot run here, or ``None`` if it can."""
    if suite in SUPPORTED:
        return None
    return (
        f"ciphersuite {suite} is not supported by OpenMLS's RustCrypto provider "
        f"(supported: {sorted(SUPPORTED)})"
    )

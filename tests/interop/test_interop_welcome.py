"""welcome.json: decrypt a Welcome with ``init_priv``.

The vectors' GroupInfos carry no ratchet_tree extension and the vectors give no tree,
so no client can finish joining (RFC 9420 needs the tree to verify the GroupInfo's
signer and the tree hash); the binding exposes no "decrypt only" call, and the
GroupInfo signature check against ``signer_pub`` and the confirmation-tag check of the
vector are out of reach. What is checked: with the vector's ``init_priv`` the Welcome's
GroupSecrets decrypt (HPKE) and its GroupInfo decrypts (AEAD, authenticated), the only
way to reach the binding's "no ratchet tree" refusal; with any other init key it fails
earlier, at GroupSecrets decryption.
"""

from __future__ import annotations

from typing import Any

import openmls
import pytest
from openmls import interop

from .vectors import hx, load, unsupported_reason

CASES = [
    pytest.param(i, id=f"welcome-{i}-cs{v['cipher_suite']}")
    for i, v in enumerate(load("welcome.json"))
]


def _stage(v: dict[str, Any], init_priv: bytes) -> None:
    provider = openmls.Provider()
    kp = interop.import_key_package(provider, hx(v["key_package"]), init_priv, bytes(32))
    assert kp.to_bytes() == hx(v["key_package"])
    openmls.StagedWelcome.from_bytes(provider, hx(v["welcome"]))


@pytest.mark.parametrize("index", CASES)
def test_welcome_decrypts_with_init_priv(index: int) -> None:
    v = load("welcome.json")[index]
    reason = unsupported_reason(v["cipher_suite"])
    if reason:
        pytest.skip(reason)
    with pytest.raises(openmls.InvalidMessage, match="no ratchet tree"):
        _stage(v, hx(v["init_priv"]))
    wrong = bytearray(hx(v["init_priv"]))
    wrong[-1] ^= 0x01
    with pytest.raises(openmls.InvalidMessage, match="GroupSecrets"):
        _stage(v, bytes(wrong))

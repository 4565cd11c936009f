"""crypto-basics.json and deserialization.json, where the binding exposes what they need.

crypto-basics.json: only ``sign_with_label`` is reachable through the public API
(:func:`openmls.verify_with_label`, and :meth:`SignatureKeyPair.sign_with_label` on a key
imported with :func:`openmls.interop.import_signature_key`). ``ref_hash``,
``expand_with_label``, ``derive_secret``, ``derive_tree_secret`` and
``encrypt_with_label`` are internal to OpenMLS's key schedule and not exposed, so they are
not checked here.

deserialization.json: MLS variable-length vector headers. The binding has no bare varint
decoder, so they are checked through a parser that uses one: a basic Credential is
``credential_type(2) || opaque identity<V>``; the vector's header plus ``length`` bytes
must parse with exactly that identity length, and one byte fewer must not.
"""

from __future__ import annotations

import openmls
import pytest
from openmls import interop

from .vectors import hx, load, unsupported_reason

ED25519, P256 = 0x0807, 0x0403
SCHEME = {1: ED25519, 2: P256, 3: ED25519}
CRYPTO = [
    pytest.param(i, id=f"cs{v['cipher_suite']}") for i, v in enumerate(load("crypto-basics.json"))
]


@pytest.mark.parametrize("index", CRYPTO)
def test_sign_with_label(index: int) -> None:
    v = load("crypto-basics.json")[index]
    reason = unsupported_reason(v["cipher_suite"])
    if reason:
        pytest.skip(reason)
    s = v["sign_with_label"]
    scheme = SCHEME[v["cipher_suite"]]
    pub, content, sig = hx(s["pub"]), hx(s["content"]), hx(s["signature"])
    openmls.verify_with_label(scheme, pub, s["label"], content, sig)
    with pytest.raises(openmls.InvalidSignature):
        openmls.verify_with_label(scheme, pub, s["label"] + "x", content, sig)
    with pytest.raises(openmls.InvalidSignature):
        openmls.verify_with_label(scheme, pub, s["label"], content + b"\0", sig)
    signer = interop.import_signature_key(openmls.Provider(), scheme, hx(s["priv"]), pub)
    assert signer.public_key == pub
    mine = signer.sign_with_label(s["label"], content)
    openmls.verify_with_label(scheme, pub, s["label"], content, mine)
    if scheme == ED25519:  # deterministic: must be the vector's exact signature
        assert mine == sig


MAX_BUILT = 1 << 20  # larger lengths are checked for refusal only (no GiB buffers)


@pytest.mark.parametrize("case", load("deserialization.json"), ids=lambda c: c["vlbytes_header"])
def test_vlbytes_header(case: dict[str, object]) -> None:
    header = hx(str(case["vlbytes_header"]))
    length = int(str(case["length"]))
    basic = b"\x00\x01" + header
    if length <= MAX_BUILT:
        cred = openmls.Credential.from_bytes(basic + b"a" * length)
        assert cred.credential_type == 1
        assert len(cred.content) == length
        assert cred.to_bytes() == basic + b"a" * length
    if length > 0:
        with pytest.raises(openmls.MlsError):
            openmls.Credential.from_bytes(basic + b"a" * (min(length, MAX_BUILT) - 1))

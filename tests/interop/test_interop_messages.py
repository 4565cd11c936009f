"""messages.json: every MLSMessage kind parses through the binding.

What the binding's public API allows, per field of each of the 300 vectors:

* ``mls_welcome``, ``mls_group_info``, ``mls_key_package``, ``public_message_*``,
  ``private_message``: parsed whole by :func:`openmls.inspect_message` (the full
  MLSMessage, all bytes consumed) with the wire format / content type the field names.
  This is a parse test: re-serialising a parsed ``MlsMessageIn`` is test-utils-only in
  OpenMLS, so the binding has no byte-identical re-encoding of these.
* ``mls_key_package`` is also re-serialised byte-identically: imported (lifetime not
  checked, the vectors' KeyPackages are expired) with :func:`openmls.interop.import_key_package`
  and written back with ``to_bytes()`` / ``to_raw_bytes()``; its credential round-trips
  through :class:`openmls.Credential`.
* ``ratchet_tree``, ``group_secrets``, the bare proposals and ``commit`` are not
  MLSMessages and the binding exposes no parser for bare structures (the ratchet tree is
  only taken together with a GroupInfo, whose leaves' lifetimes are then validated and
  are expired here), so they are not covered.
"""

from __future__ import annotations

import openmls
import pytest
from openmls import interop

from .vectors import hx, load

VECTORS = load("messages.json")
KINDS = {
    "mls_welcome": ("welcome", None),
    "mls_group_info": ("group_info", None),
    "mls_key_package": ("key_package", None),
    "public_message_application": ("public_message", "application"),
    "public_message_proposal": ("public_message", "proposal"),
    "public_message_commit": ("public_message", "commit"),
    "private_message": ("private_message", None),
}


@pytest.mark.parametrize("field", sorted(KINDS))
def test_every_message_kind_parses(field: str) -> None:
    wire_format, content_type = KINDS[field]
    for i, v in enumerate(VECTORS):
        info = openmls.inspect_message(hx(v[field]))
        assert info.wire_format == wire_format, f"vector {i}"
        if content_type is not None:
            assert info.content_type == content_type, f"vector {i}"
        if wire_format in ("public_message", "private_message"):
            assert info.group_id is not None and info.epoch is not None, f"vector {i}"


@pytest.mark.parametrize("field", sorted(KINDS))
def test_truncated_messages_are_rejected(field: str) -> None:
    """Control: the same parser refuses every vector cut short by one byte."""
    for i, v in enumerate(VECTORS[:50]):
        with pytest.raises(openmls.InvalidMessage):
            openmls.inspect_message(hx(v[field])[:-1])
        assert i >= 0


def test_key_packages_reserialise_byte_identically() -> None:
    for i, v in enumerate(VECTORS):
        data = hx(v["mls_key_package"])
        kp = interop.import_key_package(openmls.Provider(), data, bytes(32), bytes(32))
        assert kp.to_bytes() == data, f"vector {i}"
        assert kp.to_raw_bytes() == data[4:], f"vector {i}"  # MLSMessage header: 4 bytes
        cred = kp.credential
        encoded = cred.to_bytes()
        assert encoded in data, f"vector {i}"
        assert openmls.Credential.from_bytes(encoded) == cred, f"vector {i}"
        assert openmls.Credential.from_bytes(encoded).to_bytes() == encoded, f"vector {i}"
        assert kp.signature_key in data, f"vector {i}"

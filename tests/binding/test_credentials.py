"""Custom credential types through KeyPackage -> Add -> Welcome -> members()."""

from __future__ import annotations

import openmls as m
import pytest

from .conftest import STIR_CERT, STIR_PASSPORT, Client, deliver_commit, make_client


def test_credential_values() -> None:
    c = m.Credential(STIR_PASSPORT, b"\x00\x01content")
    assert c.credential_type == STIR_PASSPORT and c.content == b"\x00\x01content"
    assert m.Credential.from_bytes(c.to_bytes()) == c
    # Wire form: credential_type || opaque content<V> (one-byte varint length here).
    assert c.to_bytes() == b"\xf0\x02\x09\x00\x01content"
    basic = m.Credential.basic(b"alice")
    assert basic.credential_type == m.CredentialType.BASIC and basic.content == b"alice"
    assert len({c, m.Credential(STIR_PASSPORT, b"\x00\x01content"), basic}) == 2


def test_custom_types_round_trip_through_add_and_welcome(alice: Client) -> None:
    cert_holder = make_client("carol", credential_type=STIR_CERT)
    passport_holder = make_client("dave", credential_type=STIR_PASSPORT)
    kp_bytes = [
        cert_holder.key_package(application_id=b"12025550101").to_bytes(),
        passport_holder.key_package().to_bytes(),
    ]
    # The adder sees what it parses: credentials intact, capabilities listing both types.
    parsed = [m.KeyPackage.parse(alice.provider, b) for b in kp_bytes]
    assert parsed[0].credential == cert_holder.credential
    assert parsed[0].application_id == b"12025550101"
    assert parsed[1].credential == passport_holder.credential
    assert parsed[1].signature_key == passport_holder.signer.public_key
    for kp in parsed:
        assert {STIR_CERT, STIR_PASSPORT} <= set(kp.capabilities.credentials)
    bundle = alice.g.add_members(parsed)
    deliver_commit(alice, bundle, [])

    staged = m.StagedWelcome.from_bytes(passport_holder.provider, bundle.welcome or b"")
    by_key = {mem.signature_key: mem for mem in staged.members}
    assert by_key[alice.signer.public_key].credential == alice.credential
    assert by_key[cert_holder.signer.public_key].credential == cert_holder.credential
    assert by_key[cert_holder.signer.public_key].application_id == b"12025550101"
    assert by_key[passport_holder.signer.public_key].credential == passport_holder.credential
    assert staged.sender.signature_key == alice.signer.public_key
    assert staged.required_credential_types == [STIR_CERT]
    group = staged.accept()
    for view in (alice.g.members, group.members):
        got = {
            mem.signature_key: (mem.credential.credential_type, mem.credential.content)
            for mem in view
        }
        assert got[cert_holder.signer.public_key] == (STIR_CERT, cert_holder.credential.content)
        assert got[passport_holder.signer.public_key] == (
            STIR_PASSPORT,
            passport_holder.credential.content,
        )


def test_required_credential_type_is_enforced(alice: Client) -> None:
    """A KeyPackage whose capabilities lack a required type cannot be added."""
    outsider = make_client("eve", credential_type=1)
    kp = outsider.key_package(capabilities=m.Capabilities(credentials=[1, STIR_PASSPORT]))
    with pytest.raises(m.InvalidCredential):
        alice.g.add_members([kp])
    assert not alice.g.has_pending_commit and alice.g.epoch == 0


def test_capabilities_must_list_own_credential_type() -> None:
    c = make_client(credential_type=0xF0AA)
    with pytest.raises(m.InvalidCredential, match="0xf0aa"):
        c.key_package(capabilities=m.Capabilities(credentials=[1]))
    kp = c.key_package(capabilities=m.Capabilities(credentials=[1, 0xF0AA]))
    assert kp.credential.credential_type == 0xF0AA


def test_key_package_accessors() -> None:
    c = make_client()
    kp = c.key_package(lifetime_seconds=3600, last_resort=True)
    not_before, not_after = kp.lifetime
    assert 3600 <= not_after - not_before <= 3600 + 3600
    assert kp.last_resort
    assert kp.ciphersuite == m.Ciphersuite.MLS_128_DHKEMP256_AES128GCM_SHA256_P256
    assert len(kp.hash_ref()) == 32
    again = m.KeyPackage.parse(c.provider, kp.to_raw_bytes())
    assert again.hash_ref() == kp.hash_ref()
    assert m.inspect_message(kp.to_bytes()).wire_format == "key_package"

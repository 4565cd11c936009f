"""Registration and session authentication (PROFILE.md §10) against the real validator,
real labelled signatures (the binding) and real certificates (the demo PKI)."""

from __future__ import annotations

from typing import Any

import openmls
import trio
import trio_websocket
from ds_constants import DS_ID, PROVIDER_RANGE
from mls_member import Member
from wire_client import WireClient

from shared.profile import CREDENTIAL_TYPE_STIR_CERTIFICATE
from shared.protocol import (
    DS_AUTH_LABEL,
    PASSPORT_REQUEST_LABEL,
    Ack,
    Auth,
    Challenge,
    Error,
    ErrorCode,
    Ok,
    Ping,
    Pong,
    Registered,
    ds_auth_content,
)
from shared.stir.pki import DemoPKI, IssuedCert

ALICE, BOB = "12025550101", "12025550102"


async def _auth_with(c: WireClient, member: Member, **overrides: Any) -> Any:
    challenge = await c.request(c.hello())
    assert isinstance(challenge, Challenge)
    content = ds_auth_content(challenge.server_nonce, c.last_nonce, DS_ID, member.tn)
    fields: dict[str, Any] = {
        "id": c.next_id(),
        "tn": member.tn,
        "signature_scheme": member.signer.signature_scheme,
        "signature_key": member.signer.public_key,
        "signature": member.signer.sign_with_label(DS_AUTH_LABEL, content),
        "credential_type": member.credential.credential_type,
        "credential": member.credential.content,
    }
    fields.update(overrides)
    return await c.request(Auth(**fields))


async def test_register_then_authenticate_without_credential(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    alice = Member.make(pki, provider_ca, ALICE)
    async with WireClient.connect(ds.url) as c:
        answer = await alice.login(c)
        assert answer == Registered(re=answer.re, tn=ALICE, ds_id=DS_ID)
    reg = ds.storage.get_registration(ALICE)
    assert reg is not None and reg.signature_key == alice.signer.public_key
    async with WireClient.connect(ds.url) as c:
        assert isinstance(await alice.login(c, with_credential=False), Registered)
        i = c.next_id()
        assert await c.request(Ping(id=i)) == Pong(re=i)


async def test_unregistered_number_without_credential(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    alice = Member.make(pki, provider_ca, ALICE)
    async with WireClient.connect(ds.url) as c:
        err = await alice.login(c, with_credential=False)
        assert isinstance(err, Error) and err.code is ErrorCode.UNKNOWN_TN


async def test_forged_and_replayed_signatures_are_refused(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    alice = Member.make(pki, provider_ca, ALICE)
    mallory = openmls.SignatureKeyPair.generate(openmls.Ciphersuite(2))
    async with WireClient.connect(ds.url) as c:
        # Signed by another key.
        challenge = await c.request(c.hello())
        content = ds_auth_content(challenge.server_nonce, c.last_nonce, DS_ID, ALICE)
        err = await c.request(
            Auth(
                id=c.next_id(),
                tn=ALICE,
                signature_scheme=0x0403,
                signature_key=alice.signer.public_key,
                signature=mallory.sign_with_label(DS_AUTH_LABEL, content),
                credential_type=CREDENTIAL_TYPE_STIR_CERTIFICATE,
                credential=alice.credential.content,
            )
        )
        assert isinstance(err, Error) and err.code is ErrorCode.AUTH_FAILED
        # Right key, wrong label (a passport request's signature is no auth).
        challenge = await c.request(c.hello())
        content = ds_auth_content(challenge.server_nonce, c.last_nonce, DS_ID, ALICE)
        err = await _auth_raw(
            c, alice, alice.signer.sign_with_label(PASSPORT_REQUEST_LABEL, content)
        )
        assert isinstance(err, Error) and err.code is ErrorCode.AUTH_FAILED
    assert ds.storage.get_registration(ALICE) is None
    async with WireClient.connect(ds.url) as c:
        # A signature from an earlier session does not verify for a new challenge.
        first = await c.request(c.hello())
        old = alice.signer.sign_with_label(
            DS_AUTH_LABEL, ds_auth_content(first.server_nonce, c.last_nonce, DS_ID, ALICE)
        )
        assert isinstance(await _auth_raw(c, alice, old), Registered)
    async with WireClient.connect(ds.url) as c:
        await c.request(c.hello())
        err = await _auth_raw(c, alice, old)
        assert isinstance(err, Error) and err.code is ErrorCode.AUTH_FAILED


async def _auth_raw(c: WireClient, member: Member, signature: bytes) -> Any:
    return await c.request(
        Auth(
            id=c.next_id(),
            tn=member.tn,
            signature_scheme=member.signer.signature_scheme,
            signature_key=member.signer.public_key,
            signature=signature,
            credential_type=member.credential.credential_type,
            credential=member.credential.content,
        )
    )


async def test_credential_for_another_number_or_untrusted_is_refused(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert, tmp_path: Any
) -> None:
    ds = await start_ds()
    alice = Member.make(pki, provider_ca, ALICE)
    rogue = DemoPKI.init(tmp_path / "rogue", name="Rogue STI")
    rogue_ca = rogue.issue_spc("Rogue", "6666", [PROVIDER_RANGE], ca=True)
    impostor = Member.make(rogue, rogue_ca, ALICE)
    async with WireClient.connect(ds.url) as c:
        # Alice's valid credential, but claiming Bob's number.
        err = await _auth_with(c, alice, tn=BOB)
        assert isinstance(err, Error) and err.code is ErrorCode.AUTH_FAILED
        assert BOB in err.detail
        err = await _auth_with(c, impostor)
        assert isinstance(err, Error) and err.code is ErrorCode.CREDENTIAL_REJECTED
        assert err.reason == "chain" and err.rule == "§4.1"
        # Third failure: the connection closes.
        err = await _auth_with(c, alice, credential=b"\x00garbage")
        assert isinstance(err, Error) and err.code is ErrorCode.CREDENTIAL_REJECTED
        with trio.fail_after(3):
            try:
                await c.ws.get_message()
                raise AssertionError("closed after three failures")
            except trio_websocket.ConnectionClosed:
                pass
    assert ds.storage.get_registration(ALICE) is None
    async with WireClient.connect(ds.url) as c:  # the service still serves
        assert isinstance(await alice.login(c), Registered)


async def test_key_must_match_registration(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    alice = Member.make(pki, provider_ca, ALICE)
    other = Member.make(pki, provider_ca, ALICE)  # same number, another key and cert
    async with WireClient.connect(ds.url) as c:
        await alice.register(c)
    async with WireClient.connect(ds.url) as c:
        err = await other.login(c, with_credential=False)
        assert isinstance(err, Error) and err.code is ErrorCode.AUTH_FAILED
    async with WireClient.connect(ds.url) as c:
        # With its own valid credential it re-registers (a new device key).
        assert isinstance(await other.login(c), Registered)
    reg = ds.storage.get_registration(ALICE)
    assert reg is not None and reg.signature_key == other.signer.public_key


async def test_newer_session_replaces_older(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    alice = Member.make(pki, provider_ca, ALICE)
    async with WireClient.connect(ds.url) as first, WireClient.connect(ds.url) as second:
        await alice.register(first)
        await alice.register(second)
        err = await first.next_error()
        assert err.code is ErrorCode.SESSION_REPLACED
        i = second.next_id()
        assert await second.request(Ping(id=i)) == Pong(re=i)


async def test_nobody_acks_anothers_mail(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    ds = await start_ds()
    alice = Member.make(pki, provider_ca, ALICE)
    bob = Member.make(pki, provider_ca, BOB)
    from delivery_service.storage import NewMessage
    from shared.protocol import DeliveryKind

    with ds.storage.transaction():
        mid = ds.storage.enqueue(NewMessage(DeliveryKind.APPLICATION, "1", b"x", b"g", 0), [BOB])
    async with WireClient.connect(ds.url) as c:
        await alice.register(c)
        err = await c.request(Ack(id=c.next_id(), mids=(mid,)))
        assert isinstance(err, Error) and err.code is ErrorCode.UNKNOWN_MESSAGE
        assert err.mids == (mid,)
        assert await c.no_push_within(0.2)
    assert ds.storage.mailbox_size(BOB) == 1
    async with WireClient.connect(ds.url) as c:
        await bob.register(c)
        d = await c.next_deliver()
        assert d.mid == mid
        assert isinstance(await c.request(Ack(id=c.next_id(), mids=(mid,))), Ok)
        # A replayed acknowledgement: named, and nothing changes.
        replay = await c.request(Ack(id=c.next_id(), mids=(mid,)))
        assert isinstance(replay, Error) and replay.code is ErrorCode.UNKNOWN_MESSAGE
        assert replay.mids == (mid,)
    assert ds.storage.mailbox_size(BOB) == 0 and ds.storage.stored_message_count() == 0


async def test_a_server_bug_changes_nothing_and_the_service_goes_on(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    from delivery_service.storage import GroupRecord
    from shared.protocol import SendMessage, Sent

    ds = await start_ds()
    alice = Member.make(pki, provider_ca, ALICE)
    with ds.storage.transaction():
        ds.storage.put_group(GroupRecord(b"g", 3, b"gi", frozenset({ALICE, BOB})))
    message = b"\x00\x01\x00\x02\x01g" + (3).to_bytes(8, "big") + b"\x01" + b"ciphertext"
    core = ds.server.core
    original = core.send

    def buggy(tn: str, frame: Any) -> Any:
        original(tn, frame)  # stores the message for Bob ...
        raise RuntimeError("bug after the write")  # ... then fails

    core.send = buggy  # type: ignore[method-assign]
    async with WireClient.connect(ds.url) as c:
        await alice.register(c)
        err = await c.request(SendMessage(id=c.next_id(), group_id=b"g", message=message))
        assert isinstance(err, Error) and err.code is ErrorCode.INTERNAL_ERROR
        assert ds.storage.mailbox_size(BOB) == 0  # the frame's writes were rolled back
        core.send = original  # type: ignore[method-assign]
        sent = await c.request(SendMessage(id=c.next_id(), group_id=b"g", message=message))
        assert isinstance(sent, Sent)
    assert ds.storage.mailbox_size(BOB) == 1


async def test_quiet_ack_answers_only_problems(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    from delivery_service.storage import NewMessage
    from shared.protocol import DeliveryKind

    ds = await start_ds()
    bob = Member.make(pki, provider_ca, BOB)
    with ds.storage.transaction():
        mid = ds.storage.enqueue(NewMessage(DeliveryKind.APPLICATION, "1", b"x", b"g", 0), [BOB])
    async with WireClient.connect(ds.url) as c:
        await bob.register(c)
        assert (await c.next_deliver()).mid == mid
        await c.send(Ack(id=c.next_id(), mids=(mid,), quiet=True))
        i = c.next_id()
        assert await c.request(Ping(id=i)) == Pong(re=i)  # no "ok" came before the pong
        assert ds.storage.mailbox_size(BOB) == 0
        await c.send(Ack(id=c.next_id(), mids=(mid,), quiet=True))  # a replay
        err = await c.next_error()
        assert err.code is ErrorCode.UNKNOWN_MESSAGE and err.mids == (mid,)


async def test_carrier_level_member_registers_under_the_vouched_number(
    start_ds: Any, pki: DemoPKI, provider_ca: IssuedCert
) -> None:
    """PROFILE.md §11: an SPC-level certificate (carrier-held key) plus the number the
    carrier vouches for in application_id."""
    from shared.stir.pki import public_key_from_point

    ds = await start_ds()
    signer = openmls.SignatureKeyPair.generate(openmls.Ciphersuite(2))
    cert = pki.issue_spc(
        "Acme Telecom", "1234", public_key=public_key_from_point(signer.public_key)
    )
    credential = cert.credential().encode()
    async with WireClient.connect(ds.url) as c:
        challenge = await c.request(c.hello())
        content = ds_auth_content(challenge.server_nonce, c.last_nonce, DS_ID, BOB)
        answer = await c.request(
            Auth(
                id=c.next_id(),
                tn=BOB,
                signature_scheme=signer.signature_scheme,
                signature_key=signer.public_key,
                signature=signer.sign_with_label(DS_AUTH_LABEL, content),
                credential_type=CREDENTIAL_TYPE_STIR_CERTIFICATE,
                credential=credential,
                application_id=BOB.encode(),
            )
        )
        assert isinstance(answer, Registered) and answer.tn == BOB
    async with WireClient.connect(ds.url) as c:
        # Outside the SPC's assigned numbers: refused.
        challenge = await c.request(c.hello())
        content = ds_auth_content(challenge.server_nonce, c.last_nonce, DS_ID, "14155550100")
        err = await c.request(
            Auth(
                id=c.next_id(),
                tn="14155550100",
                signature_scheme=signer.signature_scheme,
                signature_key=signer.public_key,
                signature=signer.sign_with_label(DS_AUTH_LABEL, content),
                credential_type=CREDENTIAL_TYPE_STIR_CERTIFICATE,
                credential=credential,
                application_id=b"14155550100",
            )
        )
        assert isinstance(err, Error) and err.code is ErrorCode.CREDENTIAL_REJECTED
        assert err.reason == "tn-not-authorised"
    reg = ds.storage.get_registration(BOB)
    assert reg is not None and reg.application_id == BOB.encode()

"""The provider role: the service signs PASSporTs for its subscribers (issue §6), and a
client registers with such a PASSporT credential (dest mls:ds:<id>, PROFILE.md §5.5)."""

from __future__ import annotations

from typing import Any

import openmls
from ds_constants import DS_ID, PROVIDER_RANGE, PROVIDER_SPC
from wire_client import WireClient

from delivery_service.provider import PassportIssuer, Subscriber
from shared.profile import CREDENTIAL_TYPE_STIR_PASSPORT, ds_dest_uri, group_dest_uri
from shared.protocol import (
    DS_AUTH_LABEL,
    PASSPORT_REQUEST_LABEL,
    Auth,
    Challenge,
    Error,
    ErrorCode,
    PassportIssued,
    Registered,
    RequestPassport,
    ds_auth_content,
)
from shared.stir.credential_codec import STIRPASSporTCredential
from shared.stir.passport import PassportSigner
from shared.stir.pki import DemoPKI

ALICE = "12025550101"


def _issuer(pki: DemoPKI, *, rogue: bool = False) -> PassportIssuer:
    signer_cert = pki.issue_spc("Acme Telecom", PROVIDER_SPC, [PROVIDER_RANGE])
    assert signer_cert.key is not None
    signer = PassportSigner(signer_cert.key, signer_cert.chain)  # type: ignore[arg-type]
    subs = {ALICE: Subscriber(ALICE, "alice-secret", "Alice")}
    return PassportIssuer(signer, subs, rogue_mky=rogue)


async def _request(
    c: WireClient, key: openmls.SignatureKeyPair, **overrides: Any
) -> tuple[Any, bytes]:
    challenge = await c.request(c.hello())
    assert isinstance(challenge, Challenge)
    tn = overrides.get("tn", ALICE)
    content = ds_auth_content(challenge.server_nonce, c.last_nonce, DS_ID, tn)
    fields: dict[str, Any] = {
        "id": c.next_id(),
        "tn": tn,
        "dest": ds_dest_uri(DS_ID),
        "signature_scheme": key.signature_scheme,
        "signature_key": key.public_key,
        "secret": "alice-secret",
        "signature": key.sign_with_label(PASSPORT_REQUEST_LABEL, content),
    }
    fields.update(overrides)
    return await c.request(RequestPassport(**fields)), content


async def test_subscriber_gets_a_passport_and_registers_with_it(
    start_ds: Any, pki: DemoPKI
) -> None:
    ds = await start_ds(passport_issuer=_issuer(pki))
    key = openmls.SignatureKeyPair.generate(openmls.Ciphersuite(2))
    async with WireClient.connect(ds.url) as c:
        issued, content = await _request(c, key)
        assert isinstance(issued, PassportIssued), issued
        credential = STIRPASSporTCredential(issued.certificates, issued.passport.encode())
        answer = await c.request(
            Auth(
                id=c.next_id(),
                tn=ALICE,
                signature_scheme=key.signature_scheme,
                signature_key=key.public_key,
                signature=key.sign_with_label(DS_AUTH_LABEL, content),
                credential_type=CREDENTIAL_TYPE_STIR_PASSPORT,
                credential=credential.encode(),
            )
        )
        assert isinstance(answer, Registered), answer
        # Once registered, it may ask for a group-bound PASSporT (invitation flow).
        gid = b"some-group"
        more, _ = await _request_ready(c, key, content, dest=group_dest_uri(gid))
        assert isinstance(more, PassportIssued)
    reg = ds.storage.get_registration(ALICE)
    assert reg is not None and reg.credential_type == CREDENTIAL_TYPE_STIR_PASSPORT


async def _request_ready(
    c: WireClient, key: openmls.SignatureKeyPair, content: bytes, **overrides: Any
) -> tuple[Any, bytes]:
    frame = RequestPassport(
        id=c.next_id(),
        tn=ALICE,
        dest=overrides.get("dest", ds_dest_uri(DS_ID)),
        signature_scheme=key.signature_scheme,
        signature_key=key.public_key,
        secret="alice-secret",
        signature=key.sign_with_label(PASSPORT_REQUEST_LABEL, content),
    )
    return await c.request(frame), content


async def test_refusals_name_the_problem(start_ds: Any, pki: DemoPKI) -> None:
    ds = await start_ds(passport_issuer=_issuer(pki))
    key = openmls.SignatureKeyPair.generate(openmls.Ciphersuite(2))
    async with WireClient.connect(ds.url) as c:
        for overrides, names in [
            ({"secret": "guess"}, "secret"),
            ({"tn": "12025550199"}, "12025550199"),
            ({"dest": "sip:alice@example.com"}, "dest"),
            ({"dest": "mls:ds:"}, "dest"),
            ({"signature": b"\x30\x06\x02\x01\x01\x02\x01\x01"}, "signature"),
        ]:
            err, _ = await _request(c, key, **overrides)
            assert isinstance(err, Error), overrides
            assert err.code is ErrorCode.PROVIDER_REFUSED
            assert names in err.detail
        # An auth signature (other label) is not a passport request.
        challenge = await c.request(c.hello())
        content = ds_auth_content(challenge.server_nonce, c.last_nonce, DS_ID, ALICE)
        err, _ = await _request_ready(c, key, content)
        assert isinstance(err, PassportIssued)  # the right label works ...
        err = await c.request(
            RequestPassport(
                id=c.next_id(),
                tn=ALICE,
                dest=ds_dest_uri(DS_ID),
                signature_scheme=key.signature_scheme,
                signature_key=key.public_key,
                secret="alice-secret",
                signature=key.sign_with_label(DS_AUTH_LABEL, content),
            )
        )
        assert isinstance(err, Error) and err.code is ErrorCode.PROVIDER_REFUSED  # ... not this


async def test_service_without_provider_role_refuses(start_ds: Any) -> None:
    ds = await start_ds()
    key = openmls.SignatureKeyPair.generate(openmls.Ciphersuite(2))
    async with WireClient.connect(ds.url) as c:
        err, _ = await _request(c, key)
        assert isinstance(err, Error) and err.code is ErrorCode.PROVIDER_REFUSED


async def test_rogue_mky_binds_the_providers_key(start_ds: Any, pki: DemoPKI) -> None:
    issuer = _issuer(pki, rogue=True)
    ds = await start_ds(passport_issuer=issuer)
    key = openmls.SignatureKeyPair.generate(openmls.Ciphersuite(2))
    async with WireClient.connect(ds.url) as c:
        issued, content = await _request(c, key)
        assert isinstance(issued, PassportIssued)
        credential = STIRPASSporTCredential(issued.certificates, issued.passport.encode())
        # The PASSporT validates, but for the provider's key, not the subscriber's.
        answer = await c.request(
            Auth(
                id=c.next_id(),
                tn=ALICE,
                signature_scheme=key.signature_scheme,
                signature_key=key.public_key,
                signature=key.sign_with_label(DS_AUTH_LABEL, content),
                credential_type=CREDENTIAL_TYPE_STIR_PASSPORT,
                credential=credential.encode(),
            )
        )
        assert isinstance(answer, Error) and answer.code is ErrorCode.CREDENTIAL_REJECTED
        assert answer.reason == "mky"
    from datetime import UTC, datetime

    from shared.stir.validator import validate

    identity = validate(
        CREDENTIAL_TYPE_STIR_PASSPORT,
        credential.encode(),
        issuer.own_key,
        group_id=None,
        ds_id=DS_ID,
        trust=pki.trust_store(),
        now=datetime.now(UTC),
    )
    assert identity.primary_tn == ALICE


async def test_invitation_with_a_group_bound_passport_key_package(
    start_ds: Any, pki: DemoPKI, provider_ca: Any
) -> None:
    """PROFILE.md §5.5: a PASSporT names one group, so the invitee makes a KeyPackage
    for that group on invitation; the service validates it for that group."""
    from contextlib import AsyncExitStack

    from mls_member import Member

    from shared.protocol import (
        AnswerInvitation,
        CommitAccepted,
        DeliveryKind,
        InvitationCreated,
        Ok,
        RequestInvitation,
    )

    ds = await start_ds(passport_issuer=_issuer(pki))
    gid = b"passport-group"
    inviter = Member.make(pki, provider_ca, "12025550102")
    key = openmls.SignatureKeyPair.generate(openmls.Ciphersuite(2))
    async with AsyncExitStack() as stack:
        await inviter.register(await stack.enter_async_context(WireClient.connect(ds.url)))
        await inviter.create_group(gid)
        c = await stack.enter_async_context(WireClient.connect(ds.url))
        issued, content = await _request(c, key)
        assert isinstance(issued, PassportIssued)
        reg_cred = STIRPASSporTCredential(issued.certificates, issued.passport.encode())
        registered = await c.request(
            Auth(
                id=c.next_id(),
                tn=ALICE,
                signature_scheme=key.signature_scheme,
                signature_key=key.public_key,
                signature=key.sign_with_label(DS_AUTH_LABEL, content),
                credential_type=CREDENTIAL_TYPE_STIR_PASSPORT,
                credential=reg_cred.encode(),
            )
        )
        assert isinstance(registered, Registered)
        created = await inviter.c.request(
            RequestInvitation(id=inviter.c.next_id(), tn=ALICE, group_id=gid)
        )
        assert isinstance(created, InvitationCreated)
        invitation = await c.next_deliver()
        assert invitation.kind is DeliveryKind.INVITATION and invitation.group_id == gid
        provider = openmls.Provider()
        # A KeyPackage with the registration PASSporT (dest mls:ds:...) is refused ...
        wrong = openmls.KeyPackage.create(
            provider, key, openmls.Credential(CREDENTIAL_TYPE_STIR_PASSPORT, reg_cred.encode())
        )
        err = await c.request(
            AnswerInvitation(
                id=c.next_id(), invitation_id=created.invitation_id, key_package=wrong.to_bytes()
            )
        )
        assert isinstance(err, Error) and err.code is ErrorCode.CREDENTIAL_REJECTED
        assert err.reason == "dest"
        # ... one with a PASSporT for this group is handed to the inviter.
        group_pp, _ = await _request_ready(c, key, content, dest=group_dest_uri(gid))
        assert isinstance(group_pp, PassportIssued)
        group_cred = openmls.Credential(
            CREDENTIAL_TYPE_STIR_PASSPORT,
            STIRPASSporTCredential(group_pp.certificates, group_pp.passport.encode()).encode(),
        )
        kp = openmls.KeyPackage.create(provider, key, group_cred)
        ok = await c.request(
            AnswerInvitation(
                id=c.next_id(), invitation_id=created.invitation_id, key_package=kp.to_bytes()
            )
        )
        assert isinstance(ok, Ok)
        (answer,) = await inviter.pump(1)
        assert answer.kind is DeliveryKind.KEY_PACKAGE and answer.sender == ALICE
        invited = openmls.KeyPackage.parse(inviter.provider, answer.data)
        added = await inviter.submit(gid, inviter.groups[gid].add_members([invited]))
        assert isinstance(added, CommitAccepted)
        welcome = await c.next_deliver()
        assert welcome.kind is DeliveryKind.WELCOME
        record = ds.storage.get_group(gid)
        assert record is not None and ALICE in record.members

"""The run's carrier (scenarios.carrier): PASSporT requests answered by the relay are
checked as the real provider checks them, proof of possession included (PROFILE.md §10)
— over real loopback sockets, in front of a real delivery service, and in real runs."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
import trio_websocket

pytest.importorskip(
    "delivery_service.server", reason="the delivery service (issue 4) has not landed yet"
)

import openmls

from delivery_service.errors import Refused
from delivery_service.provider import PassportIssuer, Subscriber
from scenarios.carrier import RunCarrier, SessionNonces
from scenarios.interception import Interceptor
from scenarios.library_files import load_library_scenario
from scenarios.relay import Relay
from scenarios.rogue import RogueProvider
from scenarios.run_pki import MemberKey, RunPKI
from scenarios.runner import run_scenario_async
from scenarios.service_host import ServiceHost
from scenarios.transcript import Recorder
from shared.profile import CREDENTIAL_TYPE_STIR_PASSPORT, group_dest_uri
from shared.protocol import (
    NONCE_SIZE,
    PASSPORT_REQUEST_LABEL,
    Challenge,
    Error,
    ErrorCode,
    Frame,
    Hello,
    PassportIssued,
    RequestPassport,
    decode_frame,
    ds_auth_content,
    encode_frame,
)
from shared.stir.credential_codec import STIRPASSporTCredential
from shared.stir.errors import CredentialRejected
from shared.stir.validator import validate

DS = "ds.scenario"
ALICE, MALLORY = "12025550101", "12025550166"  # passport_other_group's numbers
REFUSED_SIGNATURE = "the request's signature does not verify"  # the real provider's words


def signer_of(key: MemberKey) -> openmls.SignatureKeyPair:
    return openmls.SignatureKeyPair.from_p256_private_key(key.pkcs8)


@dataclass
class Wire:
    """A hand-driven client connection through the relay."""

    ws: trio_websocket.WebSocketConnection
    content: bytes | None = None  # what a request for the asked TN must sign
    next_id: int = 10

    async def ask(self, frame: Frame) -> Frame:
        await self.ws.send_message(encode_frame(frame))
        with trio.fail_after(5):
            return decode_frame(await self.ws.get_message())

    async def hello(self, tn: str) -> None:
        nonce = os.urandom(NONCE_SIZE)
        challenge = await self.ask(Hello(id=1, client_nonce=nonce))
        assert isinstance(challenge, Challenge) and challenge.ds_id == DS
        self.content = ds_auth_content(challenge.server_nonce, nonce, DS, tn)

    def request(
        self,
        tn: str,
        dest: str,
        key: MemberKey,
        *,
        signed_by: MemberKey | None = None,
        signature: bytes | None = None,
        content: bytes | None = None,
    ) -> RequestPassport:
        """A request binding ``key``; honest unless told to sign with another key, over
        other content, or to carry a given signature."""
        self.next_id += 1
        if signature is None:
            signed = content if content is not None else self.content
            assert signed is not None
            signature = signer_of(signed_by or key).sign_with_label(PASSPORT_REQUEST_LABEL, signed)
        return RequestPassport(
            self.next_id, tn, dest, 0x0403, key.public_point, "scenario", signature
        )


@asynccontextmanager
async def relayed(
    nursery: trio.Nursery, tmp_path: Path, scenario_name: str
) -> AsyncIterator[tuple[Relay, RunPKI, list[RogueProvider]]]:
    scenario = load_library_scenario(scenario_name)
    pki = RunPKI.create(scenario, tmp_path)
    host = ServiceHost(DS, tmp_path / "ds.sqlite", pki.trust)
    rogues: list[RogueProvider] = []
    relay = Relay(
        Interceptor(scenario),
        Recorder(),
        await host.start(nursery),
        carrier=RunCarrier(pki, rogues),
    )
    await nursery.start(relay.serve)
    try:
        yield relay, pki, rogues
    finally:
        await host.stop()


@asynccontextmanager
async def wire(relay: Relay, path: str) -> AsyncIterator[Wire]:
    async with trio_websocket.open_websocket_url(relay.url_for(path)) as ws:
        yield Wire(ws)


def credential(answer: Frame) -> bytes:
    assert isinstance(answer, PassportIssued)
    return STIRPASSporTCredential(answer.certificates, answer.passport.encode("ascii")).encode()


def refused(answer: Frame, request: RequestPassport, detail: str) -> None:
    assert isinstance(answer, Error), answer
    assert (answer.re, answer.code, answer.detail) == (
        request.id,
        ErrorCode.PROVIDER_REFUSED,
        detail,
    )


async def test_an_honest_request_is_served_and_a_forged_or_missing_proof_is_refused(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    async with relayed(nursery, tmp_path, "passport_other_group") as (relay, pki, _):
        key, other = MemberKey.generate(), MemberKey.generate()
        group = b"the-group"
        async with wire(relay, "alice") as alice:
            await alice.hello(ALICE)
            # Honest: signed by the key to bind, over this session: a sound PASSporT.
            answer = await alice.ask(alice.request(ALICE, group_dest_uri(group), key))
            identity = validate(
                CREDENTIAL_TYPE_STIR_PASSPORT,
                credential(answer),
                key.public_point,
                group_id=group,
                trust=pki.trust,
                now=datetime.now(UTC),
            )
            assert identity.primary_tn == ALICE

            # Forged: asks to bind `key` but signs with a key it holds (`other`).
            forged = alice.request(ALICE, group_dest_uri(group), key, signed_by=other)
            refused(await alice.ask(forged), forged, REFUSED_SIGNATURE)
            # Missing: no signature at all.
            missing = alice.request(ALICE, group_dest_uri(group), key, signature=b"")
            refused(await alice.ask(missing), missing, REFUSED_SIGNATURE)
            # Not a signature: bytes that are no ECDSA signature.
            garbage = alice.request(ALICE, group_dest_uri(group), key, signature=b"sig")
            refused(await alice.ask(garbage), garbage, REFUSED_SIGNATURE)
            # Right key, other label: an Auth-style signature is no passport request.
            assert alice.content is not None
            wrong_label = alice.request(
                ALICE,
                group_dest_uri(group),
                key,
                signature=signer_of(key).sign_with_label("stirmls ds-auth", alice.content),
            )
            refused(await alice.ask(wrong_label), wrong_label, REFUSED_SIGNATURE)
            # The session still serves an honest request afterwards.
            again = await alice.ask(alice.request(ALICE, "mls:ds:ds.scenario", key))
            assert isinstance(again, PassportIssued)

        # Replayed: a proof signed over an earlier session's nonces does not verify on a
        # new connection (fresh nonces on both sides).
        old = alice.content
        async with wire(relay, "alice") as alice2:
            await alice2.hello(ALICE)
            replay = alice2.request(ALICE, group_dest_uri(group), key, content=old)
            refused(await alice2.ask(replay), replay, REFUSED_SIGNATURE)

        # Before any challenge there is nothing to prove possession over: the service's
        # own answer to that (unexpected_frame, "no challenge is outstanding").
        async with wire(relay, "bob") as bob:
            early = bob.request("12025550102", group_dest_uri(group), key, content=b"x")
            answer = await bob.ask(early)
            assert isinstance(answer, Error)
            assert (answer.code, answer.detail) == (
                ErrorCode.UNEXPECTED_FRAME,
                "no challenge is outstanding",
            )


async def test_the_carrier_still_signs_only_the_actors_own_number_and_with_its_defect(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    async with relayed(nursery, tmp_path, "passport_other_group") as (relay, pki, _):
        key = MemberKey.generate()
        group = b"the-group"
        async with wire(relay, "alice") as alice:
            await alice.hello("12025550102")
            # Alice asks, with a valid proof, for Bob's number: not hers to have.
            theirs = alice.request("12025550102", group_dest_uri(group), key)
            refused(
                await alice.ask(theirs), theirs, "alice's carrier does not sign for 12025550102"
            )
        async with wire(relay, "mallory") as mallory:
            await mallory.hello(MALLORY)
            bad = await mallory.ask(mallory.request(MALLORY, group_dest_uri(group), key))
            with pytest.raises(CredentialRejected) as info:
                validate(
                    CREDENTIAL_TYPE_STIR_PASSPORT,
                    credential(bad),
                    key.public_point,
                    group_id=group,
                    trust=pki.trust,
                    now=datetime.now(UTC),
                )
            assert info.value.reason == "dest"  # her defect, after the checks passed
            # Her registration PASSporT is sound.
            await mallory.hello(MALLORY)  # a new hello: fresh nonces, as the service has
            sound = await mallory.ask(mallory.request(MALLORY, "mls:ds:ds.scenario", key))
            registered = validate(
                CREDENTIAL_TYPE_STIR_PASSPORT,
                credential(sound),
                key.public_point,
                group_id=None,
                ds_id=DS,
                trust=pki.trust,
                now=datetime.now(UTC),
            )
            assert registered.primary_tn == MALLORY
            # A forged proof is refused before any defect is considered.
            forged = mallory.request(
                MALLORY, group_dest_uri(group), key, signed_by=MemberKey.generate()
            )
            refused(await mallory.ask(forged), forged, REFUSED_SIGNATURE)
        # A path that is none of the run's clients is not the carrier's to answer.
        assert relay.carrier is not None
        some = RequestPassport(1, ALICE, "mls:ds:ds.scenario", 0x0403, key.public_point, "", b"")
        assert relay.carrier("somebody-else", some, SessionNonces()) is None


async def test_the_rogue_providers_impostors_prove_their_own_key_too(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    """PROFILE.md §9: the provider signs its victim's number for its own key, and only
    for a key its impostor holds."""
    async with relayed(nursery, tmp_path, "rogue_mky_detected") as (relay, pki, rogues):
        scenario = pki.scenario
        (adversary,) = scenario.adversaries
        rogue = RogueProvider(
            adversary,
            scenario,
            pki,
            relay,
            launcher=None,  # type: ignore[arg-type]
            recorder=Recorder(),
            run_dir=tmp_path,
            ds_id=DS,
        )
        rogues.append(rogue)
        provider_key = MemberKey.generate()
        group = b"alice-group"
        async with wire(relay, "rogue-real-bob") as impostor:
            await impostor.hello("12025550202")
            answer = await impostor.ask(
                impostor.request("12025550202", group_dest_uri(group), provider_key)
            )
            identity = validate(
                CREDENTIAL_TYPE_STIR_PASSPORT,
                credential(answer),
                provider_key.public_point,
                group_id=group,
                trust=pki.trust,
                now=datetime.now(UTC),
            )
            assert (identity.primary_tn, identity.display_name) == ("12025550202", "Bob Dylan")
            forged = impostor.request(
                "12025550202", group_dest_uri(group), MemberKey.generate(), signed_by=provider_key
            )
            refused(await impostor.ask(forged), forged, REFUSED_SIGNATURE)
            alices = impostor.request("12025550201", group_dest_uri(group), provider_key)
            refused(
                await impostor.ask(alices),
                alices,
                "shadytel (for rogue-real-bob) does not sign for 12025550201",
            )


def test_the_carrier_refuses_as_the_real_provider_does(tmp_path: Path) -> None:
    """Same check, same typed error: the run's carrier and a PassportIssuer built as the
    service builds it refuse a forged request with the same code and words."""
    pki = RunPKI.create(load_library_scenario("passport_other_group"), tmp_path)
    session = SessionNonces()
    session.observe(Hello(id=1, client_nonce=b"c" * NONCE_SIZE))
    session.observe(Challenge(re=1, server_nonce=b"s" * NONCE_SIZE, ds_id=DS))
    key = MemberKey.generate()
    content = session.signed_content(ALICE)
    forged_sig = signer_of(MemberKey.generate()).sign_with_label(PASSPORT_REQUEST_LABEL, content)
    forged = RequestPassport(
        3, ALICE, "mls:ds:ds.scenario", 0x0403, key.public_point, "scenario", forged_sig
    )
    ours = RunCarrier(pki)("alice", forged, session)
    real = PassportIssuer(
        pki.provider_signer("acme"), {ALICE: Subscriber(ALICE, "scenario", "Alice Liddell")}
    )
    with pytest.raises(Refused) as info:
        real.issue(content, forged)
    assert ours == info.value.to_frame(3)
    # A refused Auth spends the nonces, as the service's session does.
    from shared.protocol import Auth

    session.observe(
        Auth(id=5, tn=ALICE, signature_scheme=0x0403, signature_key=b"k", signature=b"s")
    )
    session.observe(Error(re=5, code=ErrorCode.AUTH_FAILED, detail="no"))
    with pytest.raises(Refused, match="no challenge is outstanding"):
        session.signed_content(ALICE)


async def test_a_real_run_serves_every_passport_member_with_proven_keys(tmp_path: Path) -> None:
    """The library's PASSporT members get theirs through the checked carrier: their
    clients prove possession, every registration and group credential is served."""
    scenario = load_library_scenario("passport_other_group")
    outcome = await run_scenario_async(scenario, out=tmp_path)
    assert outcome.passed, [v.explanation for v in outcome.verdicts if not v.held]
    lines = [json.loads(line) for line in outcome.transcript.read_text().splitlines()]
    served = {
        (e["actor"], e["dest"].split(":")[1])
        for e in lines
        if e["kind"] == "frame" and e.get("direction") == "carrier"
    }
    assert {("alice", "ds"), ("alice", "group"), ("mallory", "ds"), ("mallory", "group")} <= served
    refusals = [
        e for e in lines if e["kind"] == "frame" and e.get("code") == ErrorCode.PROVIDER_REFUSED
    ]
    assert refusals == []

"""The run's relay in front of a real delivery service, over real loopback sockets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio
import trio_websocket

pytest.importorskip(
    "delivery_service.server", reason="the delivery service (issue 4) has not landed yet"
)

from scenarios.carrier import SessionNonces
from scenarios.interception import Action, Interceptor, Traffic
from scenarios.library_files import load_library_scenario
from scenarios.model import Scenario
from scenarios.relay import Relay
from scenarios.run_pki import RunPKI
from scenarios.service_host import ServiceHost
from scenarios.transcript import Recorder
from shared.protocol import (
    NONCE_SIZE,
    Challenge,
    Deliver,
    Deliveries,
    DeliveryKind,
    Error,
    Frame,
    Hello,
    PassportIssued,
    RequestPassport,
    decode_frame,
    ds_auth_content,
    encode_frame,
)


async def hello(url: str) -> Challenge:
    async with trio_websocket.open_websocket_url(url) as ws:
        await ws.send_message(encode_frame(Hello(id=1, client_nonce=os.urandom(NONCE_SIZE))))
        with trio.fail_after(5):
            frame = decode_frame(await ws.get_message())
    assert isinstance(frame, Challenge)
    return frame


async def test_relay_carries_frames_both_ways_and_survives_a_restart(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    scenario = load_library_scenario("three_friends")
    pki = RunPKI.create(scenario, tmp_path)
    host = ServiceHost("ds.scenario", tmp_path / "ds.sqlite", pki.trust)
    recorder = Recorder()
    relay = Relay(Interceptor(scenario), recorder, await host.start(nursery))
    await nursery.start(relay.serve)

    challenge = await hello(relay.url_for("alice"))
    assert challenge.ds_id == "ds.scenario" and challenge.re == 1

    async with trio_websocket.open_websocket_url(relay.url_for("bob")) as ws:
        await ws.send_message("not a frame")  # garbage passes untouched to the service
        with trio.fail_after(5):
            answer = decode_frame(await ws.get_message())
        assert isinstance(answer, Error)

    relay.service_url = await host.restart(nursery)
    assert host.starts == 2
    assert (await hello(relay.url_for("alice"))).ds_id == "ds.scenario"
    await host.stop()


async def test_relay_answers_passport_requests_as_the_carrier(
    nursery: trio.Nursery, tmp_path: Path
) -> None:
    scenario = load_library_scenario("three_friends")
    pki = RunPKI.create(scenario, tmp_path)
    host = ServiceHost("ds.scenario", tmp_path / "ds.sqlite", pki.trust)
    recorder = Recorder()
    asked: list[tuple[str, str, bytes]] = []

    def carrier(actor: str, request: RequestPassport, session: SessionNonces) -> PassportIssued:
        # The relay hands over the connection's handshake, for the proof-of-possession check.
        asked.append((actor, request.dest, session.signed_content(request.tn)))
        return PassportIssued(re=request.id, passport="token", certificates=(b"cert",))

    relay = Relay(Interceptor(scenario), recorder, await host.start(nursery), carrier=carrier)
    await nursery.start(relay.serve)
    nonce = os.urandom(NONCE_SIZE)
    async with trio_websocket.open_websocket_url(relay.url_for("alice")) as ws:
        await ws.send_message(encode_frame(Hello(id=1, client_nonce=nonce)))
        challenge = decode_frame(await ws.get_message())
        assert isinstance(challenge, Challenge)
        request = RequestPassport(
            id=2,
            tn="12025550101",
            dest="mls:ds:ds.scenario",
            signature_scheme=0x0403,
            signature_key=b"\x04" + b"\x01" * 64,
            secret="s",
            signature=b"sig",
        )
        await ws.send_message(encode_frame(request))
        with trio.fail_after(5):
            answer = decode_frame(await ws.get_message())
    assert answer == PassportIssued(re=2, passport="token", certificates=(b"cert",))
    content = ds_auth_content(challenge.server_nonce, nonce, "ds.scenario", "12025550101")
    assert asked == [("alice", "mls:ds:ds.scenario", content)]
    assert [e.data.get("message") for e in recorder.events] == ["passport"]
    await host.stop()


class _SeeingInterceptor(Interceptor):
    """Records every frame the adversaries are asked about."""

    def __init__(self, scenario: Scenario) -> None:
        super().__init__(scenario)
        self.seen: list[Frame] = []

    def on_frame(self, traffic: Traffic) -> list[Action]:
        self.seen.append(traffic.frame)
        return super().on_frame(traffic)


async def test_relay_takes_a_deliveries_batch_apart_for_adversaries_and_transcript(
    nursery: trio.Nursery,
) -> None:
    # A stand-in service that answers the first frame with one batch of three messages.
    items = tuple(
        Deliver(
            mid=mid,
            kind=DeliveryKind.APPLICATION,
            sender="12025550101",
            data=bytes([mid]) * 8,
            group_id=b"g" * 16,
            epoch=3,
        )
        for mid in (7, 8, 9)
    )

    async def service(request: trio_websocket.WebSocketRequest) -> None:
        ws = await request.accept()
        await ws.get_message()
        await ws.send_message(encode_frame(Deliveries(items=items)))
        await trio.sleep_forever()

    server = await nursery.start(
        lambda task_status: trio_websocket.serve_websocket(
            service, "127.0.0.1", 0, None, handler_nursery=nursery, task_status=task_status
        )
    )
    scenario = load_library_scenario("three_friends")
    interceptor = _SeeingInterceptor(scenario)
    recorder = Recorder()
    relay = Relay(interceptor, recorder, f"ws://127.0.0.1:{server.port}")
    await nursery.start(relay.serve)

    async with trio_websocket.open_websocket_url(relay.url_for("alice")) as ws:
        await ws.send_message(encode_frame(Hello(id=1, client_nonce=os.urandom(NONCE_SIZE))))
        with trio.fail_after(5):
            received = [decode_frame(await ws.get_message()) for _ in items]

    assert received == list(items)  # one plain deliver per item, in mid order
    assert [f for f in interceptor.seen if isinstance(f, Deliver)] == list(items)
    assert not any(isinstance(f, Deliveries) for f in interceptor.seen)
    recorded = [
        e.data.get("mid") for e in recorder.events if e.data.get("message") == "application"
    ]
    assert recorded == [7, 8, 9]

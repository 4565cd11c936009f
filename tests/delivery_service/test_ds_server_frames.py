"""The server on loopback: handshake states, bad frames, limits — each refused with a typed
error to that client only, and the server keeps serving a well-behaved client."""

from __future__ import annotations

from typing import Any

import trio
import trio_websocket
from wire_client import WireClient

from delivery_service.limits import Limits
from shared.protocol import (
    Ack,
    Challenge,
    Error,
    ErrorCode,
    Hello,
    Ping,
    Pong,
    SendMessage,
)


async def _ping(c: WireClient) -> None:
    i = c.next_id()
    assert await c.request(Ping(id=i)) == Pong(re=i)


async def test_hello_gets_a_fresh_challenge(start_ds: Any) -> None:
    ds = await start_ds()
    async with WireClient.connect(ds.url) as a, WireClient.connect(ds.url) as b:
        ca = await a.request(a.hello())
        cb = await b.request(b.hello())
        assert isinstance(ca, Challenge) and isinstance(cb, Challenge)
        assert ca.server_nonce != cb.server_nonce


async def test_garbage_frames_get_typed_errors_and_the_connection_lives(start_ds: Any) -> None:
    ds = await start_ds()
    cases = [
        ("not json at all", ErrorCode.MALFORMED_FRAME, None),
        (b"\xff\xfe\x00", ErrorCode.MALFORMED_FRAME, None),
        ('{"v":1,"type":"ping"}', ErrorCode.MALFORMED_FRAME, None),
        ('{"v":9,"type":"ping","id":3}', ErrorCode.UNSUPPORTED_VERSION, 3),
        ('{"v":1,"type":"warp","id":4}', ErrorCode.UNKNOWN_TYPE, 4),
        ('{"v":1,"type":"hello","id":5,"client_nonce":"AA=="}', ErrorCode.MALFORMED_FRAME, 5),
        # A server frame sent by a client is valid JSON but not a request.
        ('{"v":1,"type":"pong","re":6}', ErrorCode.UNEXPECTED_FRAME, 6),
    ]
    async with WireClient.connect(ds.url) as c:
        for raw, code, re in cases:
            await c.send_raw(raw)
            err = await c.read()
            assert isinstance(err, Error), raw
            assert err.code is code, raw
            assert err.re == re, raw
            assert err.detail
        await _ping(c)
        # The handshake still works on the same connection.
        assert isinstance(await c.request(c.hello()), Challenge)


async def test_short_client_nonce_is_refused(start_ds: Any) -> None:
    ds = await start_ds()
    async with WireClient.connect(ds.url) as c:
        err = await c.request(Hello(id=1, client_nonce=b"short"))
        assert isinstance(err, Error) and err.code is ErrorCode.MALFORMED_FRAME
        assert "32 bytes" in err.detail
        assert isinstance(await c.request(c.hello()), Challenge)


async def test_requests_before_auth_are_unexpected(start_ds: Any) -> None:
    ds = await start_ds()
    async with WireClient.connect(ds.url) as c:
        for frame in (
            SendMessage(id=1, group_id=b"g", message=b"m"),
            Ack(id=2, mids=(1,)),
        ):
            err = await c.request(frame)
            assert isinstance(err, Error) and err.code is ErrorCode.UNEXPECTED_FRAME
        first = await c.request(c.hello())
        second = await c.request(c.hello())  # a second hello starts over
        assert isinstance(first, Challenge) and isinstance(second, Challenge)
        assert first.server_nonce != second.server_nonce
    assert ds.storage.mailbox_size("1") == 0


async def test_handshake_timeout_closes_with_an_error(start_ds: Any) -> None:
    ds = await start_ds(Limits(handshake_timeout=0.2))
    async with WireClient.connect(ds.url) as c:
        err = await c.read(timeout=3)
        assert isinstance(err, Error) and err.code is ErrorCode.TIMEOUT
        with trio.fail_after(3):
            try:
                await c.ws.get_message()
                raise AssertionError("the connection should be closed")
            except trio_websocket.ConnectionClosed:
                pass
    await _well_behaved_quick(ds.url)


async def _well_behaved_quick(url: str) -> None:
    async with WireClient.connect(url) as c:
        assert isinstance(await c.request(c.hello()), Challenge)


async def test_rate_limit_refuses_frames_over_the_burst(start_ds: Any) -> None:
    ds = await start_ds(Limits(frames_per_second=0.5, frame_burst=3))
    async with WireClient.connect(ds.url) as c:
        for i in range(1, 6):
            await c.send(Ping(id=i))
        # Dropped frames that are not requests with a readable id: the error has no re.
        await c.send_raw("not json")
        await c.send_raw('{"v":1,"type":"ping","id":true}')
        answers = [await c.read() for _ in range(7)]
        assert answers[:3] == [Pong(re=1), Pong(re=2), Pong(re=3)]
        assert all(isinstance(a, Error) and a.code is ErrorCode.RATE_LIMITED for a in answers[3:])
        # Each error names the request it dropped, so the client need not wait for it.
        assert [a.re for a in answers[3:]] == [4, 5, None, None]  # type: ignore[union-attr]
    await _well_behaved_quick(ds.url)  # other connections have their own bucket


async def test_oversized_frame_closes_that_connection_only(start_ds: Any) -> None:
    ds = await start_ds(Limits(max_frame_bytes=2048))
    async with WireClient.connect(ds.url) as other:
        await _ping(other)
        async with WireClient.connect(ds.url) as c:
            await c.send_raw("x" * 5000)
            with trio.fail_after(3):
                try:
                    await c.ws.get_message()
                    raise AssertionError("the connection should be closed")
                except trio_websocket.ConnectionClosed as exc:
                    assert exc.reason.code == 1009  # RFC 6455 Message Too Big
        await _ping(other)


async def test_mls_payload_over_the_message_limit(start_ds: Any) -> None:
    ds = await start_ds(Limits(max_mls_bytes=100))
    async with WireClient.connect(ds.url) as c:
        # Size is checked before the state: the refusal names the limit.
        err = await c.request(Hello(id=1, client_nonce=b"n" * 200))
        assert isinstance(err, Error) and err.code is ErrorCode.MESSAGE_TOO_LARGE
        await _ping(c)

"""The client's own WebSocket link (client.core.connection.WebSocketLink) on real
loopback sockets, against servers scripted here with the shared codec's server role:
bursts leave as one write and in order, a full socket buffer queues the rest for the
writer, pings are answered, closes in both directions, a broken or refusing server, bad
URLs, and wss:// over TLS."""

from __future__ import annotations

import datetime
import functools
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from client.core.connection import LinkClosed, WebSocketLink, open_websocket_link
from shared.websocket import (
    CLOSE_PROTOCOL_ERROR,
    OP_BINARY,
    OP_PING,
    OP_TEXT,
    CloseReceived,
    Event,
    ServerWebSocket,
    accept_handshake,
    client_frame,
    close_frame,
    handshake_head_end,
    server_frame,
)

Script = Callable[["Peer"], Awaitable[None]]


class Peer:
    """The server's end of one connection: raw writes, and our server reader."""

    def __init__(self, stream: trio.abc.Stream, rest: bytes) -> None:
        self.stream = stream
        self.reader = ServerWebSocket(1 << 24)
        self.events: list[Event] = list(self.reader.receive_data(rest)) if rest else []
        self.reads = 0

    async def next_event(self) -> Event:
        while not self.events:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError
            self.reads += 1
            self.events += self.reader.receive_data(data)
        return self.events.pop(0)

    async def rest(self) -> list[Event]:
        """Every event until the client's close frame (included) or the stream's end."""
        seen: list[Event] = []
        try:
            while not seen or not isinstance(seen[-1], CloseReceived):
                seen.append(await self.next_event())
        except (EOFError, trio.BrokenResourceError):
            pass
        return seen


async def _server_handshake(stream: trio.abc.Stream, answer: bytes | None) -> bytes:
    data = b""
    while (end := handshake_head_end(data)) < 0:
        data += await stream.receive_some(4096)
    await stream.send_all(answer if answer is not None else accept_handshake(data[:end]))
    return data[end:]


async def listen(
    nursery: trio.Nursery, handler: Callable[[trio.SocketStream], Awaitable[None]]
) -> int:
    """Serve ``handler`` on a free loopback port; the port."""
    serve = functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
    listeners: list[trio.SocketListener] = await nursery.start(serve)
    port: int = listeners[0].socket.getsockname()[1]
    return port


@asynccontextmanager
async def scripted_server(
    script: Script,
    *,
    answer: bytes | None = None,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[tuple[str, list[BaseException]]]:
    """A server on loopback running ``script`` on each connection after the handshake
    (``answer`` instead of the 101); yields its URL and the scripts' failures."""
    failures: list[BaseException] = []

    async def handler(stream: trio.abc.Stream) -> None:
        try:
            if tls is not None:
                stream = trio.SSLStream(stream, tls, server_side=True)
            rest = await _server_handshake(stream, answer)
            if answer is None:
                await script(Peer(stream, rest))
        except Exception as exc:  # reported to the test
            failures.append(exc)
        finally:
            await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, handler, 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        yield f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/ds", failures
        nursery.cancel_scope.cancel()


async def test_a_burst_leaves_in_order_and_the_close_handshake_completes() -> None:
    got: list[Event] = []

    async def script(peer: Peer) -> None:
        got.extend(await peer.rest())
        await peer.stream.send_all(close_frame(1000))

    async with scripted_server(script) as (url, failures):
        async with open_websocket_link(url) as link:
            assert isinstance(link, WebSocketLink)
            await link.send("one")
            await link.send_many([f"m{i}" for i in range(300)])
            await link.send("é" * 70_000)
        await trio.sleep(0.05)
    assert failures == []
    assert got == ["one", *(f"m{i}" for i in range(300)), "é" * 70_000, CloseReceived(1000, "")]


async def test_frames_queued_while_the_writer_is_busy_go_in_one_write() -> None:
    # A stream with no socket under it: every frame goes through the writer task.
    client_end, server_end = trio.testing.memory_stream_pair()
    link = WebSocketLink(client_end)
    reader = ServerWebSocket(1 << 20)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(link.write_queued)
        await link.send("a")
        await link.send_many(["b", "c"])
        await link.send("d")  # no scheduling point between these sends
        await trio.testing.wait_all_tasks_blocked()
        assert link.writes == 1
        assert reader.receive_data(await server_end.receive_some()) == ["a", "b", "c", "d"]
        nursery.cancel_scope.cancel()


async def test_what_the_kernel_does_not_take_is_written_later_in_order() -> None:
    release = trio.Event()
    got: list[Event] = []

    async def script(peer: Peer) -> None:
        await release.wait()  # not reading: the client's socket buffer fills
        got.extend(await peer.rest())

    # 16 MB: more than the kernel's buffers (a few MB on loopback while nobody reads)
    # and the link's queue (SEND_QUEUE_BYTES) hold together.
    big = [f"{i:03d}" + "x" * 100_000 for i in range(160)]
    async with scripted_server(script) as (url, failures):
        async with open_websocket_link(url) as link, trio.open_nursery() as nursery:
            assert isinstance(link, WebSocketLink)
            sent = trio.Event()

            async def sender() -> None:
                for text in big:
                    await link.send(text)
                sent.set()

            nursery.start_soon(sender)
            await trio.sleep(0.3)
            assert not sent.is_set()  # waiting for the queue to shrink
            assert link.writes == 0  # the writer's first write has not returned yet
            release.set()
            with trio.fail_after(10):
                await sent.wait()
            assert link.writes >= 1
        await trio.sleep(0.05)
    assert failures == []
    assert got == [*big, CloseReceived(1000, "")]


async def test_a_ping_is_answered_and_a_server_close_is_echoed() -> None:
    seen: list[Event] = []

    async def script(peer: Peer) -> None:
        await peer.stream.send_all(
            server_frame(OP_PING, b"hi?")
            + server_frame(OP_TEXT, b"hello")
            + server_frame(OP_BINARY, b"\x01\x02")
            + close_frame(1001, "restarting")
        )
        seen.extend(await peer.rest())

    async with scripted_server(script) as (url, failures), open_websocket_link(url) as link:
        assert await link.receive() == "hello"
        assert await link.receive() == b"\x01\x02"
        with pytest.raises(LinkClosed, match="1001 restarting"):
            await link.receive()
        with pytest.raises(LinkClosed):
            await link.send("too late")
    assert failures == []
    # The pong came back masked (our server reader requires it) before the echo.
    assert seen == [CloseReceived(1001, "")]


async def test_a_masked_server_frame_fails_the_link_with_1002_after_what_came_first() -> None:
    seen: list[Event] = []

    async def script(peer: Peer) -> None:
        await peer.stream.send_all(server_frame(OP_TEXT, b"ok") + client_frame(OP_TEXT, b"bad"))
        seen.extend(await peer.rest())

    async with scripted_server(script) as (url, failures), open_websocket_link(url) as link:
        assert await link.receive() == "ok"
        with pytest.raises(LinkClosed, match="must not be masked"):
            await link.receive()
    assert failures == []
    assert len(seen) == 1
    assert isinstance(seen[0], CloseReceived)
    assert seen[0].code == CLOSE_PROTOCOL_ERROR


async def test_a_dropped_connection_is_link_closed() -> None:
    async def script(peer: Peer) -> None:
        await peer.stream.send_all(server_frame(OP_TEXT, b"last"))

    async with scripted_server(script) as (url, _), open_websocket_link(url) as link:
        assert await link.receive() == "last"
        with pytest.raises(LinkClosed, match="without a close frame"):
            await link.receive()


async def test_close_while_another_task_reads() -> None:
    async def script(peer: Peer) -> None:
        assert await peer.rest() == [CloseReceived(4000, "bye")]
        await peer.stream.send_all(close_frame(4000))

    async with scripted_server(script) as (url, failures):
        async with open_websocket_link(url) as link, trio.open_nursery() as nursery:

            async def read() -> None:
                with pytest.raises(LinkClosed, match="4000"):
                    await link.receive()

            nursery.start_soon(read)
            await trio.testing.wait_all_tasks_blocked()
            with trio.fail_after(2):
                await link.close(4000, "bye")
        await trio.sleep(0.05)
    assert failures == []


async def test_a_cancelled_user_still_sends_the_close_frame() -> None:
    seen: list[Event] = []
    done = trio.Event()

    async def script(peer: Peer) -> None:
        seen.extend(await peer.rest())
        done.set()

    async with scripted_server(script) as (url, _):
        with trio.CancelScope() as scope:
            async with open_websocket_link(url) as link:
                await link.send("before")
                scope.cancel()
                await trio.sleep(1)
        with trio.fail_after(2):
            await done.wait()
    assert seen == ["before", CloseReceived(1000, "")]


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (
            b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 9\r\n\r\nversion 9",
            "answered 426 Upgrade Required: version 9",
        ),
        (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", "Connection"),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
            "expected",
        ),
        (b"HTTP/1.1 101 Switch", "closed the connection during the handshake"),
    ],
)
async def test_a_refusing_server_is_link_closed_naming_why(answer: bytes, detail: str) -> None:
    async def script(peer: Peer) -> None:
        raise AssertionError("not reached")

    async with scripted_server(script, answer=answer) as (url, _):
        with pytest.raises(LinkClosed, match="cannot reach") as caught:
            async with open_websocket_link(url):
                raise AssertionError("opened")
    assert detail in str(caught.value)


async def test_nobody_listening_and_a_silent_server_are_link_closed() -> None:
    with trio.socket.socket() as probe:
        await probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: refused
    with pytest.raises(LinkClosed, match="cannot reach"):
        async with open_websocket_link(f"ws://127.0.0.1:{port}/"):
            raise AssertionError("opened")

    async def silent(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, silent, 0, host="127.0.0.1")
        )
        url = f"ws://127.0.0.1:{listeners[0].socket.getsockname()[1]}/"
        with pytest.raises(LinkClosed, match="timed out"):
            async with open_websocket_link(url, connect_timeout=0.3):
                raise AssertionError("opened")
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize(
    ("url", "detail"),
    [
        ("http://127.0.0.1:1/", "not a ws:// or wss:// URL"),
        ("ws:///path", "no host"),
        ("ws://127.0.0.1:port/", "port is not a number"),
    ],
)
async def test_a_bad_url_is_link_closed_naming_why(url: str, detail: str) -> None:
    with pytest.raises(LinkClosed, match=detail):
        async with open_websocket_link(url):
            raise AssertionError("opened")


def _tls_contexts(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a fresh self-signed certificate for 127.0.0.1, and a client
    context trusting just that certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client


async def test_wss_over_tls(tmp_path: Path) -> None:
    server_tls, client_tls = _tls_contexts(tmp_path)
    got: list[Event] = []

    async def script(peer: Peer) -> None:
        await peer.stream.send_all(server_frame(OP_TEXT, b"over tls"))
        got.extend(await peer.rest())
        await peer.stream.send_all(close_frame(1000))

    async with scripted_server(script, tls=server_tls) as (url, failures):
        assert url.startswith("wss://")
        async with open_websocket_link(url, ssl_context=client_tls) as link:
            assert await link.receive() == "over tls"
            await link.send_many(["a", "b"])
            await link.send("c")
        # Without trusting the certificate: refused, named.
        with pytest.raises(LinkClosed, match="cannot reach"):
            async with open_websocket_link(url):
                raise AssertionError("opened")
        await trio.sleep(0.05)
    assert got == ["a", "b", "c", CloseReceived(1000, "")]
    assert [f for f in failures if not isinstance(f, trio.BrokenResourceError)] == []

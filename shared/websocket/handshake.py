"""The WebSocket opening handshake (RFC 6455 §4), sans-I/O, for both ends.

Server (§4.2): ``accept_handshake`` answers a GET with ``Upgrade: websocket``,
``Connection: Upgrade``, ``Sec-WebSocket-Version: 13`` and a ``Sec-WebSocket-Key`` of 16
bytes, on any path, or raises ``HandshakeRefused`` carrying the HTTP error to answer.
Client (§4.1): ``ClientHandshake`` makes the request (a fresh random key) and checks the
server's answer: status 101, ``Upgrade: websocket``, ``Connection: Upgrade``, the
``Sec-WebSocket-Accept`` derived from our key, and no extension or subprotocol (we offer
none); anything else raises ``UpgradeFailed`` naming what is wrong. Neither end offers or
accepts extensions or subprotocols: none are used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import Final

_ACCEPT_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
MAX_HANDSHAKE_BYTES: Final = 16 * 1024  # request (or response) line and headers, at most


class HandshakeRefused(Exception):
    """The opening request is not a WebSocket upgrade we accept; ``response`` is the
    HTTP answer to write before closing."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail

    @property
    def response(self) -> bytes:
        """An HTTP/1.1 error response naming what was wrong."""
        body = self.detail.encode()
        reason = {400: "Bad Request", 426: "Upgrade Required"}.get(self.status, "Error")
        extra = "Sec-WebSocket-Version: 13\r\n" if self.status == 426 else ""
        return (
            f"HTTP/1.1 {self.status} {reason}\r\n{extra}Content-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode() + body


class UpgradeFailed(Exception):
    """The server's answer to our opening request is not a WebSocket upgrade we accept.
    ``status`` is its HTTP status when it had a readable one."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


def accept_value(key: str) -> str:
    """``Sec-WebSocket-Accept`` for the request key ``key`` (§4.2.2, step 5.4)."""
    return base64.b64encode(hashlib.sha1(key.encode() + _ACCEPT_GUID).digest()).decode()


def _head_end(data: bytes | bytearray) -> int:
    """Where the head (through its blank line) ends in ``data``; -1 while incomplete;
    -2 when it is longer than ``MAX_HANDSHAKE_BYTES``."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return -2 if len(data) > MAX_HANDSHAKE_BYTES else -1
    return -2 if end + 4 > MAX_HANDSHAKE_BYTES else end + 4


def handshake_head_end(data: bytes | bytearray) -> int:
    """The length of the request head (through its blank line) in ``data``; -1 while it
    is incomplete. Raises ``HandshakeRefused`` when it is too long to be one."""
    end = _head_end(data)
    if end == -2:
        raise HandshakeRefused(400, "request head too long")
    return end


def response_head_end(data: bytes | bytearray) -> int:
    """The length of the response head (through its blank line) in ``data``; -1 while
    it is incomplete. Raises ``UpgradeFailed`` when it is too long to be one."""
    end = _head_end(data)
    if end == -2:
        raise UpgradeFailed(f"the response head is over {MAX_HANDSHAKE_BYTES} bytes")
    return end


def _parse_head(text: str) -> tuple[str, dict[str, list[str]]]:
    """The first line and the headers (lower-case names) of a head; ValueError naming a
    malformed header line."""
    lines = text.split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip() or line[0] in " \t":
            raise ValueError(f"malformed header line {line[:40]!r}")
        headers.setdefault(name.lower(), []).append(value.strip())
    return lines[0], headers


def _tokens(headers: dict[str, list[str]], name: str) -> set[str]:
    return {t.strip().lower() for v in headers.get(name, []) for t in v.split(",")}


def accept_handshake(head: bytes) -> bytes:
    """The 101 response to a WebSocket opening request ``head`` (request line and
    headers through the blank line); raises ``HandshakeRefused``."""
    try:
        text = head.decode("ascii")
    except UnicodeDecodeError:
        raise HandshakeRefused(400, "request head is not ASCII") from None
    parts = text.partition("\r\n")[0].split(" ")
    if len(parts) != 3 or parts[0] != "GET" or parts[2] != "HTTP/1.1" or not parts[1]:
        raise HandshakeRefused(400, "expected 'GET <path> HTTP/1.1'")
    try:
        _, headers = _parse_head(text)
    except ValueError as exc:
        raise HandshakeRefused(400, str(exc)) from None
    if "host" not in headers:
        raise HandshakeRefused(400, "missing Host header")
    if "websocket" not in _tokens(headers, "upgrade"):
        raise HandshakeRefused(426, "expected 'Upgrade: websocket'")
    if "upgrade" not in _tokens(headers, "connection"):
        raise HandshakeRefused(400, "expected 'Connection: Upgrade'")
    if headers.get("sec-websocket-version") != ["13"]:
        raise HandshakeRefused(426, "only WebSocket version 13 is supported")
    keys = headers.get("sec-websocket-key", [])
    try:
        if len(keys) != 1 or len(base64.b64decode(keys[0], validate=True)) != 16:
            raise ValueError
    except (ValueError, binascii.Error):
        raise HandshakeRefused(400, "Sec-WebSocket-Key must be 16 bytes in base64") from None
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_value(keys[0]).encode() + b"\r\n\r\n"
    )


class ClientHandshake:
    """A client's opening handshake: ``request`` to write, then ``check_response`` on
    the server's response head (``response_head_end`` finds its end)."""

    __slots__ = ("_accept", "key", "request")

    def __init__(self, host: str, target: str = "/", *, key: bytes | None = None) -> None:
        """``host``: the Host header (the URL's authority: host, and port when given);
        ``target``: path and query. ``key``: 16 bytes (tests); by default fresh random
        ones (§4.1: "randomly selected")."""
        if key is None:
            key = os.urandom(16)
        if len(key) != 16:
            raise ValueError("a Sec-WebSocket-Key is 16 bytes")
        for name, value in (("host", host), ("target", target)):
            # Written into the request as is: no room for a header of the caller's.
            if not value or not value.isascii() or any(c in value for c in " \r\n\t"):
                raise ValueError(f"{name} {value!r} cannot go into a request line or header")
        if not target.startswith("/"):
            raise ValueError(f"target {target!r} must start with '/'")
        self.key = base64.b64encode(key).decode()
        self._accept = accept_value(self.key)
        self.request = (
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()

    def check_response(self, head: bytes) -> None:
        """Check the server's response ``head`` (status line and headers through the
        blank line); raises ``UpgradeFailed`` naming what is wrong."""
        try:
            text = head.decode("ascii")
        except UnicodeDecodeError:
            raise UpgradeFailed("the response head is not ASCII") from None
        try:
            first, headers = _parse_head(text)
        except ValueError as exc:
            raise UpgradeFailed(f"the response has a {exc}") from None
        version, _, rest = first.partition(" ")
        status_text, _, reason = rest.partition(" ")
        if not version.startswith("HTTP/1.") or len(status_text) != 3:
            raise UpgradeFailed(f"not an HTTP/1.x status line: {first[:60]!r}")
        try:
            status = int(status_text)
        except ValueError:
            raise UpgradeFailed(f"not an HTTP/1.x status line: {first[:60]!r}") from None
        if status != 101:
            raise UpgradeFailed(
                f"the server answered {status} {reason[:60]}".rstrip(), status=status
            )
        if "websocket" not in _tokens(headers, "upgrade"):
            raise UpgradeFailed("the response lacks 'Upgrade: websocket'", status)
        if "upgrade" not in _tokens(headers, "connection"):
            raise UpgradeFailed("the response lacks 'Connection: Upgrade'", status)
        accept = headers.get("sec-websocket-accept", [])
        if accept != [self._accept]:
            raise UpgradeFailed(
                "the response's Sec-WebSocket-Accept is "
                + (repr(accept[0][:40]) if len(accept) == 1 else f"given {len(accept)} times")
                + f", expected {self._accept!r} for our key",
                status,
            )
        for name in ("sec-websocket-extensions", "sec-websocket-protocol"):
            if headers.get(name):
                # §4.1: an extension or subprotocol we did not offer fails the connection.
                raise UpgradeFailed(f"the response names a {name} we did not offer", status)

"""What clients put inside MLS application messages (client to client; the service
never reads it): a small JSON object, so that a group's title and chat text travel the
same way and a later kind can be added without confusing older clients."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Final

MAX_TEXT: Final = 16_000  # characters of one chat message
MAX_TITLE: Final = 100


class PayloadError(ValueError):
    """An application message whose content is not a payload we understand."""


@dataclass(frozen=True)
class Text:
    """A chat message."""

    body: str


@dataclass(frozen=True)
class Title:
    """The group's title, sent by its creator to each new member."""

    title: str


Payload = Text | Title


def encode_payload(payload: Payload) -> bytes:
    """JSON bytes of a payload."""
    if isinstance(payload, Text):
        if len(payload.body) > MAX_TEXT:
            raise PayloadError(f"message is longer than {MAX_TEXT} characters")
        obj = {"k": "text", "body": payload.body}
    else:
        obj = {"k": "title", "title": payload.title[:MAX_TITLE]}
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_payload(data: bytes) -> Payload:
    """Parse a payload; raises PayloadError saying what is wrong."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"application message is not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise PayloadError("application message is not a JSON object")
    kind = obj.get("k")
    if kind == "text":
        body = obj.get("body")
        if not isinstance(body, str):
            raise PayloadError("text message without a string 'body'")
        if len(body) > MAX_TEXT:
            raise PayloadError(f"text message longer than {MAX_TEXT} characters")
        return Text(body)
    if kind == "title":
        title = obj.get("title")
        if not isinstance(title, str) or not title.strip():
            raise PayloadError("title message without a non-empty string 'title'")
        return Title(title[:MAX_TITLE])
    raise PayloadError(f"unknown application message kind {kind!r}")

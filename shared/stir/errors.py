"""Exceptions raised by shared.stir: one base class, typed subclasses naming what is wrong."""

from __future__ import annotations


class StirError(Exception):
    """Base of every exception raised by shared.stir."""


class MalformedError(StirError, ValueError):
    """Bytes or text that do not parse as the structure they claim to be.

    The message names the structure and what is wrong with it.
    """


class InvalidNumber(StirError, ValueError):
    """A telephone number (human input or wire form) that is not a valid E.164 number."""


class CredentialRejected(StirError):
    """A credential failed validation under the profile.

    ``reason`` is a machine-readable code (e.g. ``chain``, ``key-mismatch``,
    ``tn-not-authorised``, ``delegate-scope``, ``spc-unassigned``,
    ``critical-extension``, ``mky``, ``dest``, ``stale``, ``expired``, ``future-iat``,
    ``ppt``, ``alg``, ``typ``, ``iat``, ``nam-not-permitted``, ``malformed``,
    ``unsupported-key``, ``no-tnauthlist``, ``credential-type``); ``rule`` is the
    section of PROFILE.md it enforces (e.g. ``"§5.4"``); ``detail`` is a sentence for people.
    """

    def __init__(self, reason: str, rule: str, detail: str) -> None:
        super().__init__(f"{reason} ({rule}): {detail}")
        self.reason = reason
        self.rule = rule
        self.detail = detail

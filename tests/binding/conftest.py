"""Shared helpers for the binding tests: members, and delivering a commit to a group."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import openmls as m
import pytest

STIR_CERT = 0xF001
STIR_PASSPORT = 0xF002

_names = itertools.count()


@dataclass
class Client:
    """One participant: its own provider, signer and credential (and group, once in one)."""

    name: str
    provider: m.Provider
    signer: m.SignatureKeyPair
    credential: m.Credential
    group: m.Group | None = None

    def key_package(self, **kwargs: object) -> m.KeyPackage:
        return m.KeyPackage.create(
            self.provider,
            self.signer,
            self.credential,
            **kwargs,  # type: ignore[arg-type]
        )

    @property
    def g(self) -> m.Group:
        assert self.group is not None, f"{self.name} is not in a group"
        return self.group


def make_client(
    name: str | None = None,
    *,
    credential_type: int = STIR_CERT,
    ciphersuite: int = 2,
    path: Path | None = None,
) -> Client:
    name = name or f"member{next(_names)}"
    provider = m.Provider(path)
    signer = m.SignatureKeyPair.generate(ciphersuite)
    credential = m.Credential(credential_type, f"cred:{name}".encode())
    return Client(name, provider, signer, credential)


def deliver_commit(committer: Client, bundle: m.CommitBundle, others: Iterable[Client]) -> None:
    """What the delivery service + clients do with an accepted commit: every other member
    processes and merges it; the committer merges its pending commit."""
    for other in others:
        staged = other.g.process_message(bundle.commit)
        assert isinstance(staged, m.StagedCommit)
        other.g.merge_staged_commit(staged)
    committer.g.merge_pending_commit()


def join(joiner: Client, welcome: bytes) -> None:
    joiner.group = m.StagedWelcome.from_bytes(joiner.provider, welcome).accept()


def assert_same_epoch(clients: Iterable[Client]) -> None:
    """All members agree on epoch, authenticator, exporter and membership."""
    clients = list(clients)
    first = clients[0].g
    for c in clients[1:]:
        assert c.g.epoch == first.epoch
        assert c.g.epoch_authenticator() == first.epoch_authenticator()
        assert c.g.export_secret("test", b"ctx", 32) == first.export_secret("test", b"ctx", 32)
        assert [x.signature_key for x in c.g.members] == [x.signature_key for x in first.members]


@pytest.fixture
def alice() -> Client:
    c = make_client("alice")
    c.group = m.Group.create(
        c.provider, c.signer, c.credential, required_credential_types=[STIR_CERT]
    )
    return c

"""Garbage into every parse entry point raises an MlsError subclass, nothing else.

A quick deterministic check; the property-based fuzzing lives in tests/binding_fuzz/.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable

import openmls as m
import pytest

from .conftest import Client, deliver_commit, join, make_client


def samples(real: bytes, rng: random.Random) -> list[bytes]:
    out = [b"", b"\x00", b"\xff" * 7, bytes(rng.randrange(256) for _ in range(300))]
    out += [real[:n] for n in (1, 2, 5, len(real) // 2, len(real) - 1)]
    out.append(real + b"\x00")
    for _ in range(30):
        b = bytearray(real)
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        out.append(bytes(b))
    return out


@pytest.fixture
def world(alice: Client) -> dict[str, object]:
    bob, carol = make_client("bob"), make_client("carol")
    bundle = alice.g.add_members([bob.key_package()])
    deliver_commit(alice, bundle, [])
    join(bob, bundle.welcome or b"")
    carol_kp = carol.key_package()
    pending = alice.g.add_members([carol_kp])
    alice.g.clear_pending_commit()
    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "key_package": carol_kp.to_bytes(),
        "welcome": pending.welcome,
        "commit": pending.commit,
        "group_info": alice.g.export_group_info(),
        "tree": alice.g.export_ratchet_tree(),
        "app": alice.g.create_message(b"hello"),
        "credential": alice.credential.to_bytes(),
    }


def test_every_parser_raises_mls_error(world: dict[str, object]) -> None:
    rng = random.Random(9420)
    alice, bob, carol = (world[k] for k in ("alice", "bob", "carol"))
    assert isinstance(alice, Client) and isinstance(bob, Client) and isinstance(carol, Client)
    pg = m.PublicGroup.from_group_info(m.Provider(), world["group_info"])  # type: ignore[arg-type]
    entry_points: list[tuple[str, Callable[[bytes], object]]] = [
        ("key_package", lambda b: m.KeyPackage.parse(alice.provider, b)),
        ("credential", m.Credential.from_bytes),
        ("welcome", lambda b: m.StagedWelcome.from_bytes(carol.provider, b)),
        ("commit", bob.g.process_message),
        ("app", bob.g.process_message),
        ("commit", pg.process_message),
        ("group_info", lambda b: m.PublicGroup.from_group_info(m.Provider(), b)),
        (
            "group_info",
            lambda b: m.Group.join_by_external_commit(
                carol.provider, carol.signer, carol.credential, b
            ),
        ),
        (
            "tree",
            lambda b: m.PublicGroup.from_group_info(
                m.Provider(), alice.g.export_group_info(with_ratchet_tree=False), ratchet_tree=b
            ),
        ),
        ("app", m.inspect_message),
        ("welcome", m.inspect_message),
    ]
    for name, parse in entry_points:
        real = world[name]
        assert isinstance(real, bytes)
        for data in samples(real, rng):
            # MlsError is the only acceptable failure; anything else fails the test.
            with contextlib.suppress(m.MlsError):
                parse(data)
    # The groups survived the barrage.
    got = bob.g.process_message(alice.g.create_message(b"still fine"))
    assert isinstance(got, m.ApplicationMessage) and got.data == b"still fine"


def test_error_messages_name_the_problem(world: dict[str, object]) -> None:
    bob = world["bob"]
    assert isinstance(bob, Client)
    with pytest.raises(m.InvalidMessage, match="process_message"):
        bob.g.process_message(b"\x00\x01\x00\x09")
    with pytest.raises(m.InvalidMessage, match="expected an MLSMessage\\(Welcome\\)"):
        m.StagedWelcome.from_bytes(bob.provider, world["app"])  # type: ignore[arg-type]
    with pytest.raises(m.InvalidKeyPackage):
        m.KeyPackage.parse(bob.provider, world["app"])  # type: ignore[arg-type]
    with pytest.raises(m.InvalidMessage, match="another group"):
        other = make_client("x")
        other.group = m.Group.create(other.provider, other.signer, other.credential)
        other.g.process_message(world["app"])  # type: ignore[arg-type]

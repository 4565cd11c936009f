"""A guard for the interop API the vector tests use (full vector runs: tests/interop/)."""

from __future__ import annotations

import json
from pathlib import Path

import openmls as m
import openmls.interop as interop

VECTORS = Path(__file__).parent / ".." / ".." / ".." / "shared" / "vectors" / "mls"


def test_passive_client_vectors_of_each_supported_suite() -> None:
    vectors = json.loads((VECTORS / "passive-client-handling-commit.json").read_text())
    h = bytes.fromhex
    seen = set()
    for v in vectors:
        suite = v["cipher_suite"]
        if suite not in (1, 2, 3) or suite in seen:
            continue
        seen.add(suite)
        group = interop.join_passive_client(
            m.Provider(),
            h(v["welcome"]),
            h(v["key_package"]),
            h(v["init_priv"]),
            h(v["encryption_priv"]),
            h(v["signature_priv"]),
            [(h(p["psk_id"]), h(p["psk"])) for p in v["external_psks"]],
            h(v["ratchet_tree"]) if v["ratchet_tree"] else None,
        )
        assert group.epoch_authenticator() == h(v["initial_epoch_authenticator"])
        for epoch in v["epochs"]:
            for proposal in epoch["proposals"]:
                assert isinstance(group.process_message(h(proposal)), m.ProposalMessage)
            staged = group.process_message(h(epoch["commit"]))
            assert isinstance(staged, m.StagedCommit)
            group.merge_staged_commit(staged)
            assert group.epoch_authenticator() == h(epoch["epoch_authenticator"])
    assert seen == {1, 2, 3}


def test_reserialize_messages_vector() -> None:
    v = json.loads((VECTORS / "messages.json").read_text())[0]
    for kind in ("mls_welcome", "mls_key_package", "private_message", "ratchet_tree"):
        data = bytes.fromhex(v[kind])
        assert interop.reserialize(kind, data) == data
    assert interop.reserialize("commit", bytes.fromhex(v["commit"])) is None

"""Passive-client vectors: join from a Welcome, follow every epoch, compare authenticators.

For each vector of passive-client-welcome.json, -handling-commit.json and -random.json
(RFC 9420 interop format, see ../shared/vectors/mls/test-vectors.md): import the
KeyPackage bundle and signature key with the vector's private keys, store its external
PSKs, join (KeyPackage lifetime not checked: the vectors' KeyPackages expired in 2024),
check the initial epoch authenticator, then for every epoch process the proposals and
the commit and check the epoch authenticator. Vectors of ciphersuites the RustCrypto
provider lacks (4-7) are skipped with that reason.
"""

from __future__ import annotations

from typing import Any

import openmls
import pytest
from openmls import interop

from .vectors import h, hx, load, unsupported_reason

FILES = (
    "passive-client-welcome.json",
    "passive-client-handling-commit.json",
    "passive-client-random.json",
)


def _cases() -> list[Any]:
    cases = []
    for name in FILES:
        short = name.removeprefix("passive-client-").removesuffix(".json")
        for i, v in enumerate(load(name)):
            suite = v["cipher_suite"]
            cases.append(pytest.param(name, i, id=f"{short}-{i:03d}-cs{suite}"))
    return cases


def _join(v: dict[str, Any]) -> openmls.Group:
    return interop.join_passive_client(
        openmls.Provider(),
        hx(v["welcome"]),
        hx(v["key_package"]),
        hx(v["init_priv"]),
        hx(v["encryption_priv"]),
        hx(v["signature_priv"]),
        [(hx(p["psk_id"]), hx(p["psk"])) for p in v["external_psks"]],
        h(v["ratchet_tree"]),
    )


@pytest.mark.parametrize(("name", "index"), _cases())
def test_passive_client_follows_every_epoch(name: str, index: int) -> None:
    v = load(name)[index]
    reason = unsupported_reason(v["cipher_suite"])
    if reason:
        pytest.skip(reason)
    group = _join(v)
    assert group.epoch_authenticator() == hx(v["initial_epoch_authenticator"])
    start = group.epoch
    for n, epoch in enumerate(v["epochs"]):
        for proposal in epoch["proposals"]:
            got = group.process_message(hx(proposal))
            assert isinstance(got, openmls.ProposalMessage), f"epoch #{n}: proposal"
        staged = group.process_message(hx(epoch["commit"]))
        assert isinstance(staged, openmls.StagedCommit), f"epoch #{n}: commit"
        assert staged.epoch_authenticator == hx(epoch["epoch_authenticator"]), f"epoch #{n}"
        group.merge_staged_commit(staged)
        assert group.epoch == start + n + 1
        assert group.epoch_authenticator() == hx(epoch["epoch_authenticator"]), f"epoch #{n}"


def test_wrong_init_key_cannot_join() -> None:
    """Control: the same set-up with a different init private key must not join."""
    v = next(x for x in load(FILES[0]) if x["cipher_suite"] == 1)
    wrong = dict(v, init_priv=bytes(32).hex())
    with pytest.raises(openmls.MlsError):
        _join(wrong)


def test_tampered_commit_is_rejected() -> None:
    """Control: a commit with one flipped byte in its signature/tag is refused and the
    group stays usable for the genuine one."""
    v = next(
        x for x in load(FILES[1]) if x["cipher_suite"] == 2 and not x["epochs"][0]["proposals"]
    )
    group = _join(v)
    commit = bytearray(hx(v["epochs"][0]["commit"]))
    commit[-5] ^= 0x01
    with pytest.raises(openmls.MlsError):
        group.process_message(bytes(commit))
    staged = group.process_message(hx(v["epochs"][0]["commit"]))
    assert isinstance(staged, openmls.StagedCommit)
    group.merge_staged_commit(staged)
    assert group.epoch_authenticator() == hx(v["epochs"][0]["epoch_authenticator"])

"""Real MLS messages made by the binding: the seeds the fuzzers mutate.

Built once per process (a few groups, some milliseconds of crypto). Every message that a
fuzzer feeds to a group is of that group's current epoch, so that mutations reach the
deep checks (signatures, tags, tree validation) and not only the epoch comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import openmls

SUITE = 2


@dataclass(frozen=True)
class World:
    """Groups in a known state plus the wire messages they produced."""

    bob: openmls.Group  # processes fuzzed group messages
    ds: openmls.PublicGroup  # processes fuzzed handshake messages
    carol_provider: openmls.Provider  # holds a KeyPackage the welcomes are for
    dave_provider: openmls.Provider  # holds a KeyPackage of a tree-less welcome
    joiner: tuple[openmls.Provider, openmls.SignatureKeyPair, openmls.Credential]
    key_packages: tuple[bytes, ...]
    welcomes: tuple[bytes, ...]
    welcome_without_tree: bytes
    ratchet_trees: tuple[bytes, ...]
    group_infos: tuple[bytes, ...]
    group_info_without_tree: bytes
    commits: tuple[bytes, ...]  # current epoch, not merged by anyone
    app_messages: tuple[bytes, ...]
    proposals: tuple[bytes, ...]
    credentials: tuple[bytes, ...]

    def all_messages(self) -> tuple[bytes, ...]:
        """Every seed that is an MLSMessage."""
        return (
            self.key_packages
            + self.welcomes
            + (self.welcome_without_tree, self.group_info_without_tree)
            + self.group_infos
            + self.commits
            + self.app_messages
            + self.proposals
        )


def _member(
    name: bytes,
) -> tuple[openmls.Provider, openmls.SignatureKeyPair, openmls.Credential]:
    provider = openmls.Provider()
    signer = openmls.SignatureKeyPair.generate(SUITE)
    signer.store(provider)
    return provider, signer, openmls.Credential.basic(name)


@cache
def world() -> World:
    """The seeds (built on first use)."""
    ap, asig, acred = _member(b"alice")
    alice = openmls.Group.create(ap, asig, acred, ciphersuite=SUITE)
    bp, bsig, bcred = _member(b"bob")
    cp, csig, _ = _member(b"carol")
    bob_kp = openmls.KeyPackage.create(bp, bsig, bcred, ciphersuite=SUITE)
    carol_cred = openmls.Credential(0xF001, b"carol's STIR credential")
    carol_kp = openmls.KeyPackage.create(cp, csig, carol_cred, ciphersuite=SUITE)

    add = alice.add_members([bob_kp])
    alice.merge_pending_commit()
    assert add.welcome is not None and add.group_info is not None
    bob = openmls.StagedWelcome.from_bytes(bp, add.welcome).accept()
    ds = openmls.PublicGroup.from_group_info(openmls.Provider(), add.group_info)

    # A Welcome for carol that she never accepts (its KeyPackage stays usable).
    add_carol = alice.add_members([carol_kp])
    alice.clear_pending_commit()
    assert add_carol.welcome is not None

    # Current-epoch messages nobody merges: the fuzz targets' next expected input.
    update = alice.self_update()
    alice.clear_pending_commit()
    app = alice.create_message(b"hello", authenticated_data=b"aad")
    remove = alice.remove_members([bob.own_index])
    alice.clear_pending_commit()

    # A group without the ratchet tree extension: its Welcome needs the tree beside it.
    dp, dsig, dcred = _member(b"dave")
    dave_kp = openmls.KeyPackage.create(dp, dsig, dcred, ciphersuite=SUITE)
    ep, esig, ecred = _member(b"erin")
    erin = openmls.Group.create(
        ep, esig, ecred, ciphersuite=SUITE, use_ratchet_tree_extension=False
    )
    add_dave = erin.add_members([dave_kp])
    erin.merge_pending_commit()
    assert add_dave.welcome is not None

    leave = bob.leave()  # last: bob now has his own pending proposal
    return World(
        bob=bob,
        ds=ds,
        carol_provider=cp,
        dave_provider=dp,
        joiner=_member(b"frank"),
        key_packages=(bob_kp.to_bytes(), carol_kp.to_bytes(), dave_kp.to_bytes()),
        welcomes=(add.welcome, add_carol.welcome),
        welcome_without_tree=add_dave.welcome,
        ratchet_trees=(alice.export_ratchet_tree(), erin.export_ratchet_tree()),
        group_infos=(alice.export_group_info(), add.group_info),
        group_info_without_tree=erin.export_group_info(with_ratchet_tree=False),
        commits=(update.commit, remove.commit),
        app_messages=(app,),
        proposals=(leave,),
        credentials=(acred.to_bytes(), carol_cred.to_bytes()),
    )

"""Garbage in: every parse entry point of the binding raises only MlsError subclasses.

Inputs are random bytes and real messages made by the binding (tests/binding_fuzz/world.py)
mutated by bit flips, truncations, insertions, deletions and byte overwrites. A call may
succeed (a mutation can be harmless) or raise an :class:`openmls.MlsError` subclass;
anything else -- another exception, or PyO3's PanicException, a BaseException that
``except Exception`` misses -- fails the test, and a native crash kills the run.
Example counts are bounded so the whole module stays well under a minute.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import openmls
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openmls import interop

from .world import SUITE, world

# STIRMLS_FUZZ_SCALE multiplies the example counts for a longer hunt by hand.
SCALE = int(os.environ.get("STIRMLS_FUZZ_SCALE", "1"))
FAST = settings(
    max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
SLOW = settings(
    max_examples=100 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
REAL_KEY = openmls.SignatureKeyPair.generate(SUITE).public_key


def only_mls_errors(fn: Callable[[], object]) -> None:
    """Run ``fn``; an MlsError is an accepted outcome, anything else propagates."""
    try:
        fn()
    except openmls.MlsError as e:
        assert str(e), "an MlsError must say what was wrong"


@st.composite
def mutated(draw: st.DrawFn, seeds: Sequence[bytes]) -> bytes:
    """A seed with 1-4 random edits."""
    data = bytearray(draw(st.sampled_from(list(seeds))))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("flip", "truncate", "insert", "delete", "set")))
        if not data:
            data += draw(st.binary(min_size=1, max_size=8))
            continue
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 16))]
        else:
            data[i] = draw(st.sampled_from((0x00, 0x3F, 0x40, 0x7F, 0x80, 0xBF, 0xFF)))
    return bytes(data)


def inputs(seeds: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Random bytes, or a mutated seed (most examples: they reach deeper checks)."""
    return st.one_of(st.binary(max_size=512), mutated(seeds), mutated(seeds))


def messages() -> st.SearchStrategy[bytes]:
    return inputs(world().all_messages())


@FAST
@given(messages())
def test_inspect_message(data: bytes) -> None:
    only_mls_errors(lambda: openmls.inspect_message(data))


@FAST
@given(inputs(world().key_packages))
def test_key_package_parse(data: bytes) -> None:
    provider = world().joiner[0]
    only_mls_errors(lambda: openmls.KeyPackage.parse(provider, data))


@FAST
@given(inputs(world().credentials))
def test_credential_from_bytes(data: bytes) -> None:
    only_mls_errors(lambda: openmls.Credential.from_bytes(data))


@SLOW
@given(inputs(world().welcomes))
def test_staged_welcome_from_bytes(data: bytes) -> None:
    provider = world().carol_provider
    only_mls_errors(lambda: openmls.StagedWelcome.from_bytes(provider, data))


@SLOW
@given(inputs(world().ratchet_trees))
def test_staged_welcome_with_fuzzed_ratchet_tree(tree: bytes) -> None:
    w = world()
    only_mls_errors(
        lambda: openmls.StagedWelcome.from_bytes(
            w.dave_provider, w.welcome_without_tree, ratchet_tree=tree
        )
    )


@FAST
@given(inputs(world().commits + world().app_messages + world().proposals))
def test_group_process_message(data: bytes) -> None:
    bob = world().bob
    epoch = bob.epoch
    only_mls_errors(lambda: bob.process_message(data))
    assert bob.epoch == epoch  # processing alone never merges


@SLOW
@given(inputs(world().group_infos))
def test_public_group_from_group_info(data: bytes) -> None:
    only_mls_errors(lambda: openmls.PublicGroup.from_group_info(world().joiner[0], data))


@SLOW
@given(inputs(world().ratchet_trees))
def test_public_group_with_fuzzed_ratchet_tree(tree: bytes) -> None:
    w = world()
    only_mls_errors(
        lambda: openmls.PublicGroup.from_group_info(
            w.joiner[0], w.group_info_without_tree, ratchet_tree=tree
        )
    )


@FAST
@given(inputs(world().commits + world().proposals + world().app_messages))
def test_public_group_process_message(data: bytes) -> None:
    ds = world().ds
    epoch = ds.epoch
    only_mls_errors(lambda: ds.process_message(data))
    assert ds.epoch == epoch


@SLOW
@given(inputs(world().group_infos))
def test_external_join_from_group_info(data: bytes) -> None:
    provider, signer, cred = world().joiner
    only_mls_errors(lambda: openmls.Group.join_by_external_commit(provider, signer, cred, data))


@FAST
@given(
    scheme=st.one_of(st.sampled_from((0x0403, 0x0807)), st.integers(0, 0xFFFF)),
    public_key=st.one_of(
        st.binary(max_size=80), st.just(openmls.SignatureKeyPair.generate(SUITE).public_key)
    ),
    label=st.one_of(st.text(max_size=40), st.binary(max_size=40)),
    content=st.binary(max_size=200),
    signature=st.binary(max_size=100),
)
def test_verify_with_label_garbage(
    scheme: int, public_key: bytes, label: str | bytes, content: bytes, signature: bytes
) -> None:
    only_mls_errors(
        lambda: openmls.verify_with_label(scheme, public_key, label, content, signature)
    )


@FAST
@given(st.binary(max_size=200))
def test_p256_private_key_import(data: bytes) -> None:
    only_mls_errors(lambda: openmls.SignatureKeyPair.from_p256_private_key(data))


@FAST
@given(st.binary(max_size=64))
def test_loading_unknown_ids(data: bytes) -> None:
    provider = world().joiner[0]
    only_mls_errors(lambda: openmls.Group.load(provider, data))
    only_mls_errors(lambda: openmls.PublicGroup.load(provider, data))
    only_mls_errors(lambda: openmls.SignatureKeyPair.load(provider, data))


# --------------------------------------------------------------------------- interop parsers


@SLOW
@given(inputs(world().key_packages), st.binary(max_size=48), st.binary(max_size=48))
def test_interop_import_key_package(data: bytes, init_priv: bytes, enc_priv: bytes) -> None:
    provider = world().joiner[0]
    only_mls_errors(lambda: interop.import_key_package(provider, data, init_priv, enc_priv))


@SLOW
@given(inputs(world().welcomes), st.one_of(st.none(), inputs(world().ratchet_trees)))
def test_interop_join_from_welcome(data: bytes, tree: bytes | None) -> None:
    provider = world().carol_provider
    only_mls_errors(lambda: interop.join_from_welcome(provider, data, ratchet_tree=tree))


@SLOW
@given(
    welcome=inputs(world().welcomes),
    key_package=inputs(world().key_packages),
    keys=st.lists(st.binary(max_size=40), min_size=3, max_size=3),
    psks=st.lists(st.tuples(st.binary(max_size=20), st.binary(max_size=40)), max_size=2),
)
def test_interop_join_passive_client(
    welcome: bytes, key_package: bytes, keys: list[bytes], psks: list[tuple[bytes, bytes]]
) -> None:
    init_priv, enc_priv, sig_priv = keys
    only_mls_errors(
        lambda: interop.join_passive_client(
            openmls.Provider(), welcome, key_package, init_priv, enc_priv, sig_priv, psks
        )
    )


@FAST
@given(st.integers(0, 0xFFFF), st.binary(max_size=80), st.binary(max_size=80))
def test_interop_import_signature_key(scheme: int, private: bytes, public: bytes) -> None:
    provider = world().joiner[0]
    only_mls_errors(lambda: interop.import_signature_key(provider, scheme, private, public))


RESERIALIZE_KINDS = (
    "ratchet_tree",
    "add_proposal",
    "update_proposal",
    "remove_proposal",
    "pre_shared_key_proposal",
    "re_init_proposal",
    "external_init_proposal",
    "group_context_extensions_proposal",
    "commit",
    "group_secrets",
    "mls_welcome",
    "mls_group_info",
    "mls_key_package",
    "public_message_commit",
    "private_message",
)


@FAST
@given(
    st.one_of(st.sampled_from(RESERIALIZE_KINDS), st.text(max_size=20)),
    st.one_of(inputs(world().ratchet_trees), messages()),
)
def test_interop_reserialize(kind: str, data: bytes) -> None:
    only_mls_errors(lambda: interop.reserialize(kind, data))

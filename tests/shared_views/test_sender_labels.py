"""Member views rendered once per identity (client.core.group_view.IdentityViews): the
labels and rows they give must stay those of the member's current verdict."""

from __future__ import annotations

from client.core.credential_checks import MemberVerdict
from client.core.group_view import IdentityViews, member_rows, sender_label
from shared.identity_view import view_identity
from shared.stir.errors import CredentialRejected
from shared.stir.validator import Assurance, Identity


def identity(tn: str, name: str | None = None, *, stale: bool = False) -> Identity:
    return Identity(
        kind="tn-cert",
        tns=(tn,),
        display_name=name,
        name_source="certificate" if name else None,
        signer_scope="1234",
        signer_entries=(),
        assurance=Assurance.END_TO_END,
        credential_type=0xF001,
        not_after=None,
        stale=stale,
    )


def accepted(index: int, who: Identity) -> MemberVerdict:
    return MemberVerdict(index, f"leaf {index}", identity=who)


class Leaf:
    def __init__(self, index: int) -> None:
        self.index = index
        self.signature_key = bytes([index]) * 32


def test_a_view_is_rendered_once_per_identity_object() -> None:
    views = IdentityViews()
    alice = identity("12025550101", "Alice")
    first = views.view(alice)
    assert views.view(alice) is first
    assert first == view_identity(alice)
    # An equal but distinct object (a member re-validated) is rendered again.
    again = identity("12025550101", "Alice")
    assert views.view(again) is not first and views.view(again) == first


def test_label_follows_the_verdict_at_the_index() -> None:
    views = IdentityViews()
    alice, bob = identity("12025550101", "Alice"), identity("12025550102")
    verdicts = {0: accepted(0, alice), 1: accepted(1, bob)}
    assert sender_label(verdicts, 0, views) == "Alice  +1 202-555-0101"
    assert sender_label(verdicts, 1, views) == "+1 202-555-0102"
    # A new epoch: leaf 1 now holds another member (Bob left, Carol took his leaf),
    # and Alice's credential changed (a renewed one with another name).
    carol = identity("12025550103", "Carol")
    alice2 = identity("12025550101", "Alice B.", stale=True)
    verdicts = {0: accepted(0, alice2), 1: accepted(1, carol)}
    assert sender_label(verdicts, 1, views) == "Carol  +1 202-555-0103"
    assert sender_label(verdicts, 0, views) == "Alice B.  +1 202-555-0101"
    # A rejected member and an unknown leaf are named as before.
    rejected = MemberVerdict(2, "+1 202-555-0109 (leaf 2, unverified claim)", rejection=None)
    verdicts[2] = rejected
    assert sender_label(verdicts, 2, views) == rejected.who
    assert sender_label(verdicts, 7, views) == "leaf 7"
    for index in (0, 1, 2, 7):
        assert sender_label(verdicts, index, views) == sender_label(verdicts, index)


def test_rows_with_views_equal_rows_without_and_retain_forgets_old_members() -> None:
    views = IdentityViews()
    alice, bob = identity("12025550101", "Alice"), identity("12025550102")
    rejection = CredentialRejected("mky", "§5.4", "the mky does not match the key")
    verdicts = {
        0: accepted(0, alice),
        1: accepted(1, bob),
        2: MemberVerdict(2, "leaf 2", rejection=rejection),
    }
    leaves = [Leaf(0), Leaf(1), Leaf(2)]
    assert member_rows(leaves, verdicts, 1, views) == member_rows(leaves, verdicts, 1)
    assert len(views) == 2
    views.retain([alice])
    assert len(views) == 1
    assert member_rows(leaves, verdicts, 0, views) == member_rows(leaves, verdicts, 0)

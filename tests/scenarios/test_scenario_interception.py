"""The delivery-service adversaries' decisions, frame by frame (pure)."""

from __future__ import annotations

from scenarios.interception import Forward, Interceptor, Note, Traffic
from scenarios.loader import parse_scenario
from shared.protocol import Ack, Deliver, DeliveryKind, KeyPackageReply, PublishKeyPackages

HEAD = """
[scenario]
name = "t"
[providers.acme]
spc = "1234"
[actors.alice]
tn = "+1 202 555 0101"
provider = "acme"
credential = "passport"
[actors.bob]
tn = "+1 202 555 0102"
provider = "acme"
credential = "passport"
[actors.mallory]
tn = "+1 202 555 0166"
provider = "acme"
credential = "passport"
[[step]]
id = "one"
actor = "alice"
action = "create_group"
group = "g1"
[[step]]
id = "two"
actor = "alice"
action = "send"
group = "g1"
text = "x"
"""
ALICE, BOB = "12025550101", "12025550102"
G1 = b"group-one"


def interceptor(adversaries: str) -> Interceptor:
    result = Interceptor(parse_scenario(HEAD + adversaries))
    result.bind_group("g1", G1)
    return result


def app(mid: int, sender: str = ALICE) -> Deliver:
    return Deliver(mid, DeliveryKind.APPLICATION, sender, b"ct%d" % mid, G1, 1)


def to_bob(frame: Deliver | KeyPackageReply, step: str | None = "two") -> Traffic:
    return Traffic("to_client", "bob", frame, step)


def forwarded(actions: list[Forward | Note]) -> list[Forward]:
    return [a for a in actions if isinstance(a, Forward)]


def test_no_adversary_forwards_unchanged() -> None:
    i = interceptor("")
    actions = i.on_frame(to_bob(app(1)))
    assert actions == [Forward(app(1), "to_client", "bob")]


def test_drop_acknowledges_on_the_recipients_behalf_and_respects_count() -> None:
    i = interceptor('[[adversary]]\nkind = "drop"\nmessage = "application"\ncount = 1\n')
    first = i.on_frame(to_bob(app(7)))
    assert forwarded(first) == [Forward(Ack(id=0, mids=(7,)), "to_service", "bob")]
    assert any(isinstance(a, Note) and "drops" in a.act for a in first)
    assert forwarded(i.on_frame(to_bob(app(8)))) == [Forward(app(8), "to_client", "bob")]


def test_selectors_sender_recipient_step_group_kind() -> None:
    i = interceptor(
        '[[adversary]]\nkind = "drop"\nmessage = "application"\nsender = "alice"\n'
        'recipient = "bob"\nstep = "two"\ngroup = "g1"\n'
    )
    assert forwarded(i.on_frame(to_bob(app(1), step="one")))[0].frame == app(1)
    from_mallory = app(2, sender="12025550166")
    assert forwarded(i.on_frame(to_bob(from_mallory)))[0].frame == from_mallory
    commit = Deliver(3, DeliveryKind.COMMIT, ALICE, b"c", G1, 1)
    assert forwarded(i.on_frame(to_bob(commit)))[0].frame == commit
    other_group = Deliver(4, DeliveryKind.APPLICATION, ALICE, b"x", b"other", 1)
    assert forwarded(i.on_frame(to_bob(other_group)))[0].frame == other_group
    to_mallory = Traffic("to_client", "mallory", app(5), "two")
    assert forwarded(i.on_frame(to_mallory))[0].frame == app(5)
    assert isinstance(forwarded(i.on_frame(to_bob(app(6))))[0].frame, Ack)


def test_delay_forwards_later() -> None:
    i = interceptor('[[adversary]]\nkind = "delay"\nseconds = 0.5\n')
    assert forwarded(i.on_frame(to_bob(app(1)))) == [Forward(app(1), "to_client", "bob", delay=0.5)]


def test_reorder_releases_the_window_reversed_and_flushes_leftovers() -> None:
    i = interceptor('[[adversary]]\nkind = "reorder"\nwindow = 3\ncount = 4\n')
    assert forwarded(i.on_frame(to_bob(app(1)))) == []
    assert forwarded(i.on_frame(to_bob(app(2)))) == []
    released = forwarded(i.on_frame(to_bob(app(3))))
    assert [f.frame for f in released] == [app(3), app(2), app(1)]
    assert forwarded(i.on_frame(to_bob(app(4)))) == []  # held: the 4th of count 4
    assert [f.frame for f in forwarded(i.flush())] == [app(4)]
    assert forwarded(i.on_frame(to_bob(app(5)))) == [Forward(app(5), "to_client", "bob")]


def test_replay_duplicates() -> None:
    i = interceptor('[[adversary]]\nkind = "replay"\ntimes = 2\ncount = 1\n')
    assert [f.frame for f in forwarded(i.on_frame(to_bob(app(1))))] == [app(1)] * 3
    assert len(forwarded(i.on_frame(to_bob(app(2))))) == 1


def test_replay_at_a_later_step() -> None:
    i = interceptor(
        '[[adversary]]\nkind = "replay"\nmessage = "application"\nstep = "one"\nat_step = "two"\n'
    )
    assert forwarded(i.on_frame(to_bob(app(1), step="one"))) == [
        Forward(app(1), "to_client", "bob")
    ]
    again = i.on_step_start("two")
    assert forwarded(again) == [Forward(app(1), "to_client", "bob")]
    assert i.on_step_start("two") == []


def test_key_package_replay_hands_out_the_old_one() -> None:
    i = interceptor(
        '[[adversary]]\nkind = "replay"\nmessage = "key_package"\nsender = "bob"\n'
        'step = "one"\nat_step = "two"\n'
    )
    old = Deliver(1, DeliveryKind.KEY_PACKAGE, BOB, b"kp-for-g1", G1)
    alice_gets = Traffic("to_client", "alice", old, "one")
    assert forwarded(i.on_frame(alice_gets))[0].frame == old
    fresh = Deliver(9, DeliveryKind.KEY_PACKAGE, BOB, b"kp-for-g2", b"g2")
    actions = i.on_frame(Traffic("to_client", "alice", fresh, "two"))
    (sent,) = forwarded(actions)
    assert isinstance(sent.frame, Deliver) and sent.frame.data == b"kp-for-g1"
    assert sent.frame.mid == 9 and sent.frame.group_id == b"g2"
    assert any(isinstance(a, Note) and "old KeyPackage of bob" in a.act for a in actions)


def test_substitute_key_package_uses_what_the_other_published() -> None:
    i = interceptor(
        '[[adversary]]\nkind = "substitute_key_package"\nvictim = "bob"\nwith = "mallory"\n'
        "count = 1\n"
    )
    reply = KeyPackageReply(re=4, tn=BOB, key_package=b"bobs-kp")
    alice_gets = Traffic("to_client", "alice", reply, "two")
    actions = i.on_frame(alice_gets)  # nothing of mallory's seen yet: unchanged, said so
    assert forwarded(actions)[0].frame == reply
    assert any(isinstance(a, Note) and "no KeyPackage of mallory" in a.act for a in actions)
    publish = PublishKeyPackages(id=1, key_packages=(b"mallorys-kp",))
    i.on_frame(Traffic("to_service", "mallory", publish, "one"))
    (sent,) = forwarded(i.on_frame(alice_gets))
    assert isinstance(sent.frame, KeyPackageReply) and sent.frame.key_package == b"mallorys-kp"
    assert sent.frame.tn == BOB
    assert forwarded(i.on_frame(alice_gets))[0].frame == reply  # count 1: done


def test_reorder_spanning_steps_holds_until_its_last_step_ends() -> None:
    i = interceptor(
        '[[adversary]]\nkind = "reorder"\nmessage = "application"\nstep = ["one", "two"]\n'
        "window = 3\n"
    )
    assert forwarded(i.on_frame(to_bob(app(1), step="one"))) == []
    assert forwarded(i.flush(frozenset({"two"}))) == []  # "two" is still to come
    assert forwarded(i.on_frame(to_bob(app(2), step="two"))) == []
    assert forwarded(i.on_frame(to_bob(app(3), step="other"))) == [
        Forward(app(3), "to_client", "bob")
    ]
    assert [f.frame for f in forwarded(i.flush(frozenset()))] == [app(2), app(1)]

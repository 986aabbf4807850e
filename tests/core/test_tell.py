"""Private messages (protocol v2): TELL."""

from __future__ import annotations

import pytest

from sansio_chat import Send
from tests.core_driver import FakeNetwork


def test_tell_reaches_the_recipient_alone(net: FakeNetwork) -> None:
    alice, bob, carol = net.join("alice", "bob", "carol")
    actions = alice.send("TELL bob  meet  me ")
    assert actions == [Send(conns=(bob.conn,), data=b"[alice -> bob] meet  me\n")]
    assert bob.lines() == ["[alice -> bob] meet  me"]
    assert alice.lines() == []
    assert carol.lines() == []


def test_tell_names_both_in_their_own_spelling(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "Bob")
    alice.send("TELL bOB hi")
    assert bob.lines() == ["[alice -> Bob] hi"]


def test_tell_to_oneself(net: FakeNetwork) -> None:
    (alice,) = net.join("alice")
    alice.send("TELL ALICE note to self")
    assert alice.lines() == ["[alice -> alice] note to self"]


def test_tell_crosses_rooms(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("JOIN #games")
    bob.lines()
    bob.send("TELL alice psst")
    assert alice.lines()[-1] == "[bob -> alice] psst"


@pytest.mark.parametrize("line", ["TELL", "tell", "TELL bob", "TELL  bob  ", "TELL\tbob\t"])
def test_tell_without_a_nickname_or_text_is_a_usage_error(net: FakeNetwork, line: str) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send(line)
    assert alice.lines() == ["[server] Error: usage: TELL <nickname> <text>"]
    assert bob.lines() == []


@pytest.mark.parametrize("typed", ["nobody", "NoBody", "server", "a.b"])
def test_tell_to_an_unknown_nickname_names_it_as_typed(net: FakeNetwork, typed: str) -> None:
    (alice,) = net.join("alice")
    alice.send(f"TELL {typed} hello")
    assert alice.lines() == [f"[server] Error: no such nickname {typed}"]


def test_tell_to_someone_who_left(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    bob.send("QUIT")
    alice.lines()
    alice.send("TELL bob still there?")
    assert alice.lines() == ["[server] Error: no such nickname bob"]


def test_tell_after_a_nick_change_uses_the_new_names(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("NICK alicia")
    bob.lines()
    bob.send("TELL alice old name")
    bob.send("TELL Alicia new name")
    assert bob.lines() == ["[server] Error: no such nickname alice"]
    assert alice.lines()[-1] == "[bob -> alicia] new name"

"""Facts: every change is decided, then applied in one place, and a fact that became stale does nothing.

On one server a fact is applied as soon as it is decided, so nothing can
come between.  A cluster will apply facts decided elsewhere, after a round
trip: meanwhile the users they name may have left, and rooms may be gone.
These tests play that part, handing the chat's ``apply`` facts decided
earlier, and check that a stale fact changes nothing and tells nobody,
while what it can still do (words of a speaker who left) is done.
"""

from __future__ import annotations

from sansio_chat import ServerConfig
from sansio_chat import _facts as facts
from sansio_chat._modes import ModeChange, RoomMode
from sansio_chat._replies import Identity, LeaveReason, Said, Told
from sansio_chat._session import TEXT_USER
from tests.core_driver import Client, FakeNetwork


def apply(net: FakeNetwork, fact: facts.Fact) -> None:
    net.apply(fact)


def identity(client: Client, nick: str) -> Identity:
    return Identity(uid=client.conn, nick=nick)


def make_net() -> FakeNetwork:
    return FakeNetwork(ServerConfig(oper_password="pw"))


def quiet(*clients: Client) -> None:
    for client in clients:
        assert client.lines() == [], client.conn


def test_words_of_a_speaker_who_left_still_reach_the_room() -> None:
    net = make_net()
    alice, bob = net.join("alice", "bob")
    said = Said(source=identity(alice, "alice"), room="#lobby", text="last words")
    alice.send("QUIT")
    bob.lines()
    apply(net, said)
    assert bob.lines() == ["[alice] last words"]


def test_words_to_a_room_that_is_gone_reach_nobody() -> None:
    net = make_net()
    alice, bob = net.join("alice", "bob")
    alice.send("JOIN #games")
    said = Said(source=identity(alice, "alice"), room="#games", text="anyone?")
    alice.send("JOIN #lobby")
    alice.lines(), bob.lines()
    apply(net, said)
    quiet(alice, bob)


def test_a_private_message_to_someone_who_left_reaches_nobody() -> None:
    net = make_net()
    alice, bob = net.join("alice", "bob")
    told = Told(source=identity(alice, "alice"), recipient="bob", text="psst")
    bob.send("QUIT")
    alice.lines()
    apply(net, facts.Whispered(recipient=bob.conn, told=told))
    quiet(alice)


def test_a_private_message_from_someone_who_left_still_arrives() -> None:
    net = make_net()
    alice, bob = net.join("alice", "bob")
    told = Told(source=identity(alice, "alice"), recipient="bob", text="psst")
    alice.send("QUIT")
    bob.lines()
    apply(net, facts.Whispered(recipient=bob.conn, told=told))
    assert bob.lines() == ["[alice -> bob] psst"]


def test_facts_about_a_user_who_left_change_nothing() -> None:
    net = make_net()
    alice, bob = net.join("alice", "bob")
    gone = alice.conn
    alice.send("QUIT")
    bob.lines()
    for fact in (
        facts.Renamed(user=gone, new="alicia"),
        facts.Joined(user=gone, name="#games", at=0.0),
        facts.BecameOperator(user=gone),
        facts.Quitted(user=gone, text="again"),
        facts.Killed(killer=identity(bob, "bob"), victim=gone, text=""),
        facts.Dropped(user=gone, reason=LeaveReason.TOO_SLOW, close=True),
        facts.Kicked(kicker=identity(bob, "bob"), room="#lobby", victim=gone, reason=""),
        facts.Registered(user=gone, nick="alice", info=TEXT_USER, lobby=True, at=0.0, peer="p"),
    ):
        apply(net, fact)
    quiet(bob)
    bob.send("ROOMS")
    assert bob.lines() == ["[server] Rooms (1): #lobby (1)"]


def test_a_registration_already_done_is_not_done_twice() -> None:
    net = make_net()
    (alice,) = net.join("alice")
    apply(net, facts.Registered(user=alice.conn, nick="guest9", info=TEXT_USER, lobby=True, at=0.0, peer="p"))
    quiet(alice)
    alice.send("WHO")
    assert alice.lines() == ["[server] Users (1): alice"]


def test_a_kick_from_a_room_the_victim_left_does_nothing() -> None:
    net = make_net()
    alice, bob = net.join("alice", "bob")
    alice.send("JOIN #games")
    bob.send("JOIN #games")
    kick = facts.Kicked(kicker=identity(alice, "alice"), room="#games", victim=bob.conn, reason="")
    bob.send("JOIN #lobby")
    alice.lines(), bob.lines()
    apply(net, kick)
    quiet(alice, bob)


def test_a_kick_in_a_room_that_is_gone_does_nothing() -> None:
    net = make_net()
    alice, bob = net.join("alice", "bob")
    apply(net, facts.Kicked(kicker=identity(alice, "alice"), room="#gone", victim=bob.conn, reason=""))
    quiet(alice, bob)


def test_a_kick_by_someone_who_left_still_happens() -> None:
    net = make_net()
    alice, bob, carol = net.join("alice", "bob", "carol")
    kick = facts.Kicked(kicker=identity(alice, "alice"), room="#lobby", victim=bob.conn, reason="bye")
    alice.send("QUIT")
    bob.lines(), carol.lines()
    apply(net, kick)
    assert bob.lines() == ["[server] You were kicked from #lobby by alice: bye"]
    assert carol.lines() == ["[server] bob was kicked from #lobby by alice: bye"]


def test_a_kill_by_an_operator_who_left_still_happens() -> None:
    net = make_net()
    alice, bob, carol = net.join("alice", "bob", "carol")
    kill = facts.Killed(killer=identity(alice, "alice"), victim=bob.conn, text="")
    alice.send("QUIT")
    bob.lines(), carol.lines()
    apply(net, kill)
    assert bob.lines() == ["[server] You have been killed by alice"]
    assert not bob.is_open
    assert carol.lines() == ["[server] bob is disconnected (killed by alice)"]


def test_a_topic_for_a_room_that_is_gone_changes_nothing() -> None:
    net = make_net()
    alice, bob = net.join("alice", "bob")
    apply(net, facts.TopicChanged(user=identity(alice, "alice"), room="#gone", topic="x", at=0.0))
    quiet(alice, bob)


def test_joining_a_room_one_is_in_already_changes_nothing() -> None:
    net = make_net()
    alice, bob = net.join("alice", "bob")
    apply(net, facts.Joined(user=alice.conn, name="#LOBBY", at=0.0))
    quiet(alice, bob)


def test_the_topic_of_someone_who_left_is_still_set() -> None:
    net = make_net()
    alice, bob = net.join("alice", "bob")
    alice.send("JOIN #games")
    bob.send("JOIN #games")
    change = facts.TopicChanged(user=identity(alice, "alice"), room="#games", topic="chess", at=0.0)
    alice.send("QUIT")
    bob.lines()
    apply(net, change)
    assert bob.lines() == ["[server] alice set the topic of #games to: chess"]


# -- facts of the rules IRC brought -----------------------------------------------------------------------


def test_facts_about_users_or_rooms_gone_change_nothing() -> None:
    net = make_net()
    alice, bob = net.join("alice", "bob")
    alice.send("JOIN #games")
    bob.send("JOIN #games")
    gone = bob.conn
    bob.send("QUIT")
    alice.lines()
    who = identity(alice, "alice")
    op = ModeChange(on=True, mode=RoomMode.OPERATOR, arg="bob", member=gone)
    for fact in (
        facts.Parted(user=gone, room="#games", reason=""),
        facts.Parted(user=alice.conn, room="#gone", reason=""),
        facts.Invited(user=who, room="#games", invitee=gone),
        facts.Invited(user=who, room="#gone", invitee=alice.conn),
        facts.AwayChanged(user=gone, message="away"),
        facts.UserModesChanged(user=gone, invisible=True),
        facts.UserModesChanged(user=gone, bot=True),
        facts.RealnameChanged(user=gone, realname="Gone"),
        facts.ModesChanged(user=who, room="#gone", changes=(op,), at=0.0),
        facts.ModesChanged(user=who, room="#games", changes=(op,), at=0.0),
    ):
        apply(net, fact)
    quiet(alice)


def test_an_invitation_from_someone_who_left_still_arrives() -> None:
    net = make_net()
    alice, bob = net.join("alice", "bob")
    alice.send("JOIN #games")
    invite = facts.Invited(user=identity(alice, "alice"), room="#games", invitee=bob.conn)
    carol = net.connect()
    carol.send("JOIN #games")
    alice.send("QUIT")
    bob.lines()
    apply(net, invite)
    assert bob.lines() == ["[server] alice invites you to #games"]


def test_a_user_mode_already_so_changes_nothing() -> None:
    net = make_net()
    (alice,) = net.join("alice")
    apply(net, facts.UserModesChanged(user=alice.conn, invisible=False, operator=False, bot=False))
    quiet(alice)

"""The chat as one server of a cluster: facts shared, applied when they come back, in one order.

Several cores run against a fake broker (``tests/fake_cluster.py``), which
plays Redis and the bridge at the level of the core's vocabulary.  These
tests read like the protocol: what users on different servers see, what a
server's users are told when its link breaks and comes back, who wins a
nickname race, and that a cluster of one server reads byte for byte like a
server alone.
"""

from __future__ import annotations

import pytest

from sansio_chat import ServerConfig
from sansio_chat._shared import (
    NODE_SHIFT,
)
from tests.core_driver import OPER_PASSWORD, Client, FakeNetwork
from tests.fake_cluster import FakeCluster, Member

LOST = "[server] Lost contact with the other servers: only users on this server can hear you"
RESTORED = "[server] Contact with the other servers restored"
MAY_HAVE_LOST = "[server] Some messages from or to other servers may have been lost"


def named(cluster: FakeCluster, member: Member, nick: str) -> Client:
    """A client of ``member``, renamed ``nick``, what it saw so far forgotten."""
    client = member.net.connect()
    cluster.settle()
    client.send(f"NICK {nick}")
    cluster.settle()
    for other in cluster.live():
        for each in other.net.clients.values():
            each.lines()
    return client


def say(cluster: FakeCluster, client: Client, *lines: str) -> None:
    for line in lines:
        client.send(line)
    cluster.settle()


# -- a cluster of one reads like a server alone --------------------------------------------

SCRIPT = [
    (0, "NICK alice"),
    (1, "NICK bob"),
    (0, "MSG hello, bob"),
    (1, "ME waves"),
    (0, "NICK Alice"),
    (1, "NICK alice"),
    (0, "TELL bob psst"),
    (1, "TELL nobody hi"),
    (0, "JOIN #Dev"),
    (1, "JOIN dev"),
    (0, "TOPIC sans-IO"),
    (1, "TOPIC no"),
    (1, "WHO"),
    (0, "ROOMS"),
    (0, "KICK bob flood"),
    (1, "JOIN #dev"),
    (0, "OPER wrong"),
    (0, f"OPER {OPER_PASSWORD}"),
    (0, "KILL nobody"),
    (0, "KILL alice"),
    (2, "NICK carol"),
    (0, "KILL carol bye"),
    (1, "PING x"),
    (1, "QUIT later"),
    (0, "MSG alone now"),
]


def run_script(net: FakeNetwork, settle: object) -> list[list[str]]:
    assert callable(settle)
    clients = []
    for _ in range(3):
        clients.append(net.connect())
        settle()
    for who, line in SCRIPT:
        clients[who].send(line)
        settle()
    return [client.lines() for client in clients]


def test_a_cluster_of_one_reads_byte_for_byte_like_a_server_alone() -> None:
    alone = FakeNetwork(ServerConfig(oper_password=OPER_PASSWORD, rate_lines=0))
    cluster = FakeCluster(1)
    cluster.settle()
    expected = run_script(alone, lambda: None)
    assert run_script(cluster.members[1].net, cluster.settle) == expected
    assert any("Goodbye, bob" in line for line in expected[1])


# -- across servers -----------------------------------------------------------------------


@pytest.fixture
def pair() -> tuple[FakeCluster, Member, Member]:
    cluster = FakeCluster(2)
    cluster.settle()
    return cluster, cluster.members[1], cluster.members[2]


def test_users_of_two_servers_talk_as_in_one_chat(pair: tuple[FakeCluster, Member, Member]) -> None:
    cluster, one, two = pair
    alice = named(cluster, one, "alice")
    bob = named(cluster, two, "bob")
    say(cluster, alice, "MSG hello", "ME waves", "TELL bob psst")
    say(cluster, bob, "WHO", "TELL alice hi")
    assert bob.lines() == [
        "[alice] hello",
        "* alice waves",
        "[alice -> bob] psst",
        "[server] Users (2): alice bob",
    ]
    assert alice.lines() == ["[bob -> alice] hi"]
    say(cluster, bob, "JOIN #dev")
    bob.lines()
    say(cluster, alice, "ROOMS", "WHO #dev", "JOIN #dev", "MSG in dev")
    assert alice.lines() == [
        "[server] bob left #lobby",
        "[server] Rooms (2): #lobby (1) #dev (1)",
        "[server] Users in #dev (1): @bob",
        "[server] You are now in #dev",
        "[server] Users in #dev (2): @bob alice",
    ]
    assert bob.lines() == ["[server] alice joined #dev", "[alice] in dev"]


def test_a_nickname_change_waits_for_the_cluster_and_the_next_lines_wait_with_it(
    pair: tuple[FakeCluster, Member, Member],
) -> None:
    cluster, one, two = pair
    alice = named(cluster, one, "alice")
    bob = named(cluster, two, "bob")
    alice.send("NICK carol")
    alice.send("MSG as carol")
    assert alice.paused  # its claim is on its way: nothing after it is read
    cluster.settle()
    assert bob.lines() == ["[server] alice is now known as carol", "[carol] as carol"]


def test_two_servers_racing_for_one_nickname_get_one_winner(pair: tuple[FakeCluster, Member, Member]) -> None:
    cluster, one, two = pair
    first = named(cluster, one, "first")
    second = named(cluster, two, "second")
    first.send("NICK dave")
    second.send("NICK Dave")  # sent before either claim came back
    cluster.settle()
    assert first.lines() == ["[server] You are now known as dave"]
    assert sorted(second.lines()) == [
        "[server] Error: nickname Dave is already in use",
        "[server] first is now known as dave",
    ]
    assert cluster.directory["dave"] == first.conn + (1 << NODE_SHIFT)


def test_guest_numbers_never_collide_and_a_taken_one_moves_on(
    pair: tuple[FakeCluster, Member, Member],
) -> None:
    cluster, one, two = pair
    squatter = named(cluster, two, "squatter")
    say(cluster, squatter, "NICK guest2")  # one's next guest number, from its lease
    newcomer = one.net.connect()
    cluster.settle()
    another = one.net.connect()
    cluster.settle()
    nicks = [newcomer.lines()[0], another.lines()[0]]
    assert nicks == [
        "[server] Welcome to the chat, guest1! Type HELP for the list of commands.",
        "[server] Welcome to the chat, guest3! Type HELP for the list of commands.",
    ]


def test_an_operator_kills_a_user_of_another_server(pair: tuple[FakeCluster, Member, Member]) -> None:
    cluster, one, two = pair
    alice = named(cluster, one, "alice")
    bob = named(cluster, two, "bob")
    say(cluster, alice, f"OPER {OPER_PASSWORD}", "KILL bob enough", "WHO")
    assert bob.lines() == ["[alice] enough", "[server] You have been killed by alice"]
    assert bob.closed
    assert alice.lines() == [
        "[server] You are now an operator",
        "[server] bob is disconnected (killed by alice)",
        "[server] Users (1): alice",
    ]
    assert "bob" not in cluster.directory


def test_a_kill_whose_victim_left_meanwhile_says_no_such_nickname(
    pair: tuple[FakeCluster, Member, Member],
) -> None:
    cluster, one, two = pair
    alice = named(cluster, one, "alice")
    bob = named(cluster, two, "bob")
    say(cluster, alice, f"OPER {OPER_PASSWORD}")
    alice.lines()
    del cluster.directory["bob"]  # bob left: his departure is on its way to alice's server
    say(cluster, alice, "KILL bob")
    assert alice.lines() == ["[server] Error: no such nickname bob"]
    assert bob.is_open


def test_a_room_is_followed_exactly_while_someone_here_is_in_it(
    pair: tuple[FakeCluster, Member, Member],
) -> None:
    cluster, one, two = pair
    alice = named(cluster, one, "alice")
    bob = named(cluster, two, "bob")
    assert one.following == {"#lobby"}
    say(cluster, alice, "JOIN #dev")
    assert one.following == {"#dev"}
    say(cluster, bob, "MSG only lobby")  # one no longer follows #lobby: it gets nothing
    assert alice.lines()[-1] != "[bob] only lobby"
    say(cluster, alice, "QUIT")
    assert one.following == set()


def test_a_departure_crosses_the_cluster_after_the_connection_ended(
    pair: tuple[FakeCluster, Member, Member],
) -> None:
    cluster, one, two = pair
    alice = named(cluster, one, "alice")
    bob = named(cluster, two, "bob")
    alice.send("MSG last words")
    alice.eof()
    cluster.settle()
    assert bob.lines() == ["[alice] last words", "[server] alice is disconnected"]
    assert "alice" not in cluster.directory


def test_a_guest_name_granted_after_its_connection_ended_is_given_back(
    pair: tuple[FakeCluster, Member, Member],
) -> None:
    cluster, one, two = pair
    bob = named(cluster, two, "bob")
    ghost = one.net.connect()
    ghost.reset()  # before its guest name came back
    cluster.settle()
    assert bob.lines() == ["[server] guest1 is connected", "[server] guest1 is disconnected"]
    assert "guest1" not in cluster.directory


# -- a node dies ------------------------------------------------------------------------------


def test_a_dead_servers_users_leave_everywhere_and_their_nicknames_are_free(
    pair: tuple[FakeCluster, Member, Member],
) -> None:
    cluster, one, two = pair
    alice = named(cluster, one, "alice")
    named(cluster, two, "bob")
    cluster.kill(two)
    cluster.settle()
    say(cluster, alice, "WHO", "NICK bob")
    assert alice.lines() == [
        "[server] bob is disconnected (server down)",
        "[server] Users (1): alice",
        "[server] You are now known as bob",
    ]


# -- the link breaks and comes back --------------------------------------------------------------


def test_a_server_cut_off_serves_its_own_users_and_says_so(pair: tuple[FakeCluster, Member, Member]) -> None:
    cluster, one, two = pair
    alice = named(cluster, one, "alice")
    carol = named(cluster, one, "carol")
    bob = named(cluster, two, "bob")
    cluster.down(one)
    say(cluster, alice, "MSG only here", "WHO", "NICK alicia")
    assert alice.lines() == [
        LOST,
        "[server] Users (2): alice carol",
        "[server] Error: nickname changes are unavailable while the cluster link is down",
    ]
    assert carol.lines() == [LOST, "[alice] only here"]
    assert bob.lines() == []
    newcomer = one.net.connect()  # a guest name from its lease, claimed when it is back
    cluster.settle()
    assert newcomer.lines()[0].startswith("[server] Welcome to the chat, guest")


def test_who_connects_to_a_server_cut_off_is_told_so_after_its_welcome(
    pair: tuple[FakeCluster, Member, Member],
) -> None:
    """Else a newcomer would talk to the few users of its server thinking the whole chat hears it."""
    cluster, one, _ = pair
    alice = named(cluster, one, "alice")
    cluster.down(one)
    assert alice.lines() == [LOST]
    newcomer = one.net.connect()
    cluster.settle()
    welcome, *rest = newcomer.lines()
    assert welcome.startswith("[server] Welcome to the chat, guest")
    assert rest == [LOST]
    cluster.restore(one)
    cluster.settle()
    assert newcomer.lines() == [RESTORED]


def test_after_the_return_everyone_agrees_and_a_nickname_taken_meanwhile_is_not_stolen_back(
    pair: tuple[FakeCluster, Member, Member],
) -> None:
    cluster, one, two = pair
    alice = named(cluster, one, "alice")
    carol = named(cluster, one, "carol")
    bob = named(cluster, two, "bob")
    cluster.down(one)
    cluster.reap(one)  # cut off for too long: the others drop its users
    cluster.settle()
    assert bob.lines() == [
        "[server] alice is disconnected (server down)",
        "[server] carol is disconnected (server down)",
    ]
    assert alice.lines() == carol.lines() == [LOST]
    thief = named(cluster, two, "alice")
    cluster.restore(one)
    cluster.settle()
    lines = alice.lines()
    assert lines[0] == "[server] Your nickname alice was taken while this server was cut off"
    assert lines[1].startswith("[server] You are now known as guest")
    assert lines[2:] == [RESTORED]
    renamed = lines[1].rsplit(" ", 1)[1]
    assert carol.lines() == [f"[server] alice is now known as {renamed}", RESTORED]
    assert (
        thief.lines() == bob.lines() == [f"[server] {renamed} joined #lobby", "[server] carol joined #lobby"]
    )
    expected = f"[server] Users (4): bob alice {renamed} carol"
    say(cluster, thief, "WHO")
    say(cluster, bob, "WHO")
    assert thief.lines() == bob.lines() == [expected]
    say(cluster, alice, "WHO")
    assert alice.lines() == [f"[server] Users (4): {renamed} carol bob alice"]  # the same users


def test_a_brief_break_tells_users_that_messages_may_have_been_lost(
    pair: tuple[FakeCluster, Member, Member],
) -> None:
    cluster, one, two = pair
    alice = named(cluster, one, "alice")
    bob = named(cluster, two, "bob")
    cluster.cut(one)
    say(cluster, bob, "MSG you miss this")
    say(cluster, alice, "JOIN #dev")  # applied here alone while cut off
    cluster.restore(one)
    cluster.settle()
    assert alice.lines() == [
        "[server] You are now in #dev",
        "[server] Users in #dev (1): @alice",
        MAY_HAVE_LOST,
    ]
    say(cluster, bob, "WHO #dev", "ROOMS")  # what alice did alone is everyone's after the return
    assert bob.lines() == [
        "[server] alice left #lobby",
        "[server] Users in #dev (1): @alice",
        "[server] Rooms (2): #lobby (1) #dev (1)",
    ]


def test_a_broker_restarted_empty_is_filled_again_by_every_server(
    pair: tuple[FakeCluster, Member, Member],
) -> None:
    cluster, one, two = pair
    alice = named(cluster, one, "alice")
    bob = named(cluster, two, "bob")
    cluster.wipe()
    cluster.settle()
    assert cluster.directory == {"alice": alice.conn + (1 << NODE_SHIFT), "bob": bob.conn + (2 << NODE_SHIFT)}
    say(cluster, alice, "MSG still here")
    assert bob.lines()[-1] == "[alice] still here"


def test_a_server_back_from_a_break_takes_a_nickname_that_changed_servers_meanwhile() -> None:
    cluster = FakeCluster(3)
    one, two, three = (cluster.members[number] for number in (1, 2, 3))
    guest = named(cluster, one, "guest")
    alice = named(cluster, two, "alice")
    carol = named(cluster, three, "carol")
    cluster.cut(three)  # it misses what follows: alice leaves, and her nickname goes to a user of one
    say(cluster, alice, "QUIT")
    say(cluster, guest, "NICK alice")
    cluster.restore(three)  # presences answer its hello: one's (alice, now its) before two's (none)
    cluster.settle()
    assert carol.lines() == [MAY_HAVE_LOST, "[server] alice is disconnected"]
    say(cluster, carol, "WHO")
    assert carol.lines() == ["[server] Users (2): alice carol"]  # the new alice, not the one who left
    say(cluster, guest, "WHO")
    assert guest.lines()[-1] == "[server] Users (2): alice carol"


def test_a_server_back_from_a_break_follows_nicknames_swapped_on_another_server(
    pair: tuple[FakeCluster, Member, Member],
) -> None:
    cluster, one, two = pair
    guest = named(cluster, one, "guest")
    alice = named(cluster, one, "alice")
    bob = named(cluster, two, "bob")
    cluster.cut(two)  # it misses that alice gives her nickname to guest
    say(cluster, alice, "NICK alicia")
    say(cluster, guest, "NICK alice")
    cluster.restore(two)  # one's presence lists guest (now alice) before alice (now alicia)
    cluster.settle()
    assert bob.lines() == [MAY_HAVE_LOST]
    say(cluster, bob, "WHO")
    assert bob.lines() == ["[server] Users (3): alice alicia bob"]

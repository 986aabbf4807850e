"""Rooms (protocol v2): JOIN, WHO, ROOMS, TOPIC, KICK, and who hears what."""

from __future__ import annotations

import pytest

from sansio_chat import Log, Send, ServerConfig
from tests.core_driver import OPER_PASSWORD, Client, FakeNetwork

NOT_IN_A_ROOM = "[server] Error: you are not in a room, use JOIN <room>"
OPERATORS_ONLY = "[server] Error: permission denied, room operators only"


def in_room(net: FakeNetwork, room: str, *nicks: str) -> list[Client]:
    """Clients named ``nicks`` who joined ``room`` in that order (the first created it); lines forgotten."""
    clients = net.join(*nicks)
    for client in clients:
        client.send(f"JOIN {room}")
    for client in net.clients.values():
        client.lines()
    return clients


# -- JOIN ----------------------------------------------------------------------


def test_join_creates_a_room_and_makes_the_joiner_its_operator(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("JOIN #games")
    assert alice.lines() == ["[server] You are now in #games", "[server] Users in #games (1): @alice"]
    assert bob.lines() == ["[server] alice left #lobby"]


def test_join_tells_both_rooms_and_lists_the_joiner_last(net: FakeNetwork) -> None:
    alice, bob, carol, dave = net.join("alice", "bob", "carol", "dave")
    alice.send("JOIN #games")
    bob.send("JOIN #games")
    for client in (alice, bob, carol, dave):
        client.lines()
    carol.send("JOIN #games")
    assert carol.lines() == [
        "[server] You are now in #games",
        "[server] Users in #games (3): @alice bob carol",
    ]
    assert alice.lines() == ["[server] carol joined #games"]
    assert bob.lines() == ["[server] carol joined #games"]
    assert dave.lines() == ["[server] carol left #lobby"]


def test_the_old_room_is_told_first(net: FakeNetwork) -> None:
    alice, bob, carol = net.join("alice", "bob", "carol")
    alice.send("JOIN #games")
    actions = [a for a in carol.send("JOIN #games") if not isinstance(a, Log)]
    assert actions == [
        Send(conns=(bob.conn,), data=b"[server] carol left #lobby\n"),
        Send(conns=(alice.conn,), data=b"[server] carol joined #games\n"),
        Send(
            conns=(carol.conn,),
            data=b"[server] You are now in #games\n[server] Users in #games (2): @alice carol\n",
        ),
    ]


def test_join_shows_the_topic_when_there_is_one(net: FakeNetwork) -> None:
    alice, bob = in_room(net, "#games", "alice", "bob")
    alice.send("TOPIC no spoilers")
    bob.send("JOIN #lobby")
    bob.send("JOIN games")
    assert bob.lines()[-3:] == [
        "[server] You are now in #games",
        "[server] Users in #games (2): @alice bob",
        "[server] Topic of #games: no spoilers",
    ]


@pytest.mark.parametrize("typed", ["games", "#games", "GAMES", "#Games"])
def test_a_room_may_be_typed_without_its_hash_and_in_any_case(net: FakeNetwork, typed: str) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("JOIN #Games")
    bob.send(f"JOIN {typed}")
    assert bob.lines()[-2:] == ["[server] You are now in #Games", "[server] Users in #Games (2): @alice bob"]


def test_room_names_compare_by_full_case_folding(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("JOIN #Straße")
    bob.send("JOIN #STRASSE")
    assert bob.lines()[-2] == "[server] You are now in #Straße"


@pytest.mark.parametrize("name", ["#2024", "#a", "#" + "x" * 32, "#Café_au-lait", "#日本語", "games٣"])
def test_valid_room_names(net: FakeNetwork, name: str) -> None:
    (alice,) = net.join("alice")
    alice.send(f"JOIN {name}")
    shown = name if name.startswith("#") else f"#{name}"
    assert alice.lines()[0] == f"[server] You are now in {shown}"


@pytest.mark.parametrize(
    "typed", ["#", "##games", "#" + "x" * 33, "a b", "a.b", "#a!", "e\u0301", "😀", "#a#b"]
)
def test_invalid_room_names_are_refused_as_typed(net: FakeNetwork, typed: str) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send(f"JOIN {typed}")
    assert alice.lines() == [f"[server] Error: invalid room name {typed}"]
    assert bob.lines() == []
    alice.send("WHO")
    assert alice.lines() == ["[server] Users (2): alice bob"]  # still in #lobby


def test_join_keeps_the_inner_spacing_of_its_argument(net: FakeNetwork) -> None:
    (alice,) = net.join("alice")
    alice.send("JOIN   a  b  ")
    assert alice.lines() == ["[server] Error: invalid room name a  b"]


@pytest.mark.parametrize("line", ["JOIN", "join", "JOIN   ", "JOIN\t"])
def test_join_without_a_room_is_a_usage_error(net: FakeNetwork, line: str) -> None:
    (alice,) = net.join("alice")
    alice.send(line)
    assert alice.lines() == ["[server] Error: usage: JOIN <room>"]


@pytest.mark.parametrize("typed", ["#lobby", "lobby", "#LOBBY"])
def test_joining_ones_own_room_is_an_error_in_its_own_spelling(net: FakeNetwork, typed: str) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send(f"JOIN {typed}")
    assert alice.lines() == ["[server] Error: you are already in #lobby"]
    assert bob.lines() == []


def test_already_in_names_the_room_as_created(net: FakeNetwork) -> None:
    (alice,) = in_room(net, "#Games", "alice")
    alice.send("JOIN #GAMES")
    assert alice.lines() == ["[server] Error: you are already in #Games"]


def test_lobby_always_exists_and_other_rooms_while_they_have_members(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("JOIN #games")
    bob.send("JOIN #games")
    for client in (alice, bob):
        client.send("JOIN #chess")
    alice.lines()
    alice.send("ROOMS")
    assert alice.lines() == ["[server] Rooms (2): #lobby (0) #chess (2)"]
    alice.send("WHO #games")
    assert alice.lines() == ["[server] Error: no such room #games"]


def test_only_the_creator_is_room_operator_and_leaving_loses_it(net: FakeNetwork) -> None:
    alice, bob, _ = in_room(net, "#games", "alice", "bob", "carol")
    alice.send("JOIN #lobby")
    alice.send("JOIN #games")  # comes back: not an operator any more, listed last
    assert alice.lines()[-1] == "[server] Users in #games (3): bob carol alice"
    bob.lines()
    bob.send("TOPIC mine now?")
    assert bob.lines() == [OPERATORS_ONLY]


def test_a_room_recreated_gets_a_new_operator_and_no_topic(net: FakeNetwork) -> None:
    alice, bob = in_room(net, "#games", "alice")[0], net.join("bob")[0]
    alice.send("TOPIC old")
    alice.send("JOIN #lobby")
    bob.lines()
    bob.send("JOIN #games")
    assert bob.lines() == ["[server] You are now in #games", "[server] Users in #games (1): @bob"]


def test_server_operators_have_room_rights_but_no_mark(net: FakeNetwork) -> None:
    _, bob = in_room(net, "#games", "alice", "bob")
    bob.send(f"OPER {OPER_PASSWORD}")
    bob.send("TOPIC set by an operator")
    bob.send("WHO")
    assert bob.lines()[-2:] == [
        "[server] bob set the topic of #games to: set by an operator",
        "[server] Users (2): @alice bob",
    ]


def test_a_server_operator_is_marked_where_it_created_the_room(net: FakeNetwork) -> None:
    (alice,) = net.join("alice")
    alice.send(f"OPER {OPER_PASSWORD}")
    alice.send("JOIN #ops")
    assert alice.lines()[-1] == "[server] Users in #ops (1): @alice"


def test_the_lobby_has_no_room_operator(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("TOPIC hello")
    assert alice.lines() == [OPERATORS_ONLY]
    bob.send(f"OPER {OPER_PASSWORD}")
    bob.send("TOPIC hello")
    assert alice.lines() == ["[server] bob set the topic of #lobby to: hello"]


# -- talking in a room -------------------------------------------------------------


def test_msg_and_me_reach_only_the_others_of_the_room(net: FakeNetwork) -> None:
    alice, bob, carol = in_room(net, "#games", "alice", "bob")[0:2] + net.join("carol")
    alice.send("MSG hi  there")
    alice.send("ME waves  back")
    assert bob.lines() == ["[alice] hi  there", "* alice waves  back"]
    assert alice.lines() == []
    assert carol.lines() == []


@pytest.mark.parametrize("line", ["ME", "me", "ME  \t"])
def test_me_without_text_is_a_usage_error(net: FakeNetwork, line: str) -> None:
    (alice,) = net.join("alice")
    alice.send(line)
    assert alice.lines() == ["[server] Error: usage: ME <text>"]


def test_a_message_to_a_room_is_one_send_and_its_tuple_is_reused(net: FakeNetwork) -> None:
    alice, bob, carol = in_room(net, "#games", "alice", "bob", "carol")
    first = alice.send("MSG one")
    second = alice.send("MSG two")
    assert first == [Send(conns=(bob.conn, carol.conn), data=b"[alice] one\n")]
    assert second[0].conns is first[0].conns  # type: ignore[union-attr]


# -- out of every room ---------------------------------------------------------------


@pytest.fixture
def kicked(net: FakeNetwork) -> tuple[Client, Client]:
    """alice created #games and kicked bob out of it: bob is in no room."""
    alice, bob = in_room(net, "#games", "alice", "bob")
    alice.send("KICK bob")
    alice.lines()
    bob.lines()
    return alice, bob


@pytest.mark.parametrize("line", ["MSG hello", "ME waves", "WHO", "TOPIC", "TOPIC new", "KICK alice"])
def test_in_no_room_room_commands_are_refused(kicked: tuple[Client, Client], line: str) -> None:
    alice, bob = kicked
    bob.send(line)
    assert bob.lines() == [NOT_IN_A_ROOM]
    assert alice.lines() == []


@pytest.mark.parametrize(
    ("line", "usage"), [("MSG", "MSG <text>"), ("ME", "ME <text>"), ("KICK", "KICK <nickname> [<reason>]")]
)
def test_usage_errors_come_before_not_in_a_room(kicked: tuple[Client, Client], line: str, usage: str) -> None:
    _, bob = kicked
    bob.send(line)
    assert bob.lines() == [f"[server] Error: usage: {usage}"]


def test_in_no_room_the_other_commands_still_work(kicked: tuple[Client, Client]) -> None:
    alice, bob = kicked
    bob.send("WHO #games")
    bob.send("ROOMS")
    bob.send("TELL alice still here")
    bob.send("NICK robert")
    assert bob.lines() == [
        "[server] Users in #games (1): @alice",
        "[server] Rooms (2): #lobby (0) #games (1)",
        "[server] You are now known as robert",
    ]
    assert alice.lines() == ["[bob -> alice] still here"]  # and no nick notice: they share no room
    bob.send("JOIN #games")
    assert alice.lines() == ["[server] robert joined #games"]


# -- WHO and ROOMS ---------------------------------------------------------------------


def test_who_lists_the_askers_room_in_join_order(net: FakeNetwork) -> None:
    alice, _, carol = net.join("alice", "bob", "carol")
    alice.send("JOIN #a")
    alice.send("JOIN #lobby")  # back in the lobby: listed last
    carol.send("WHO")
    assert carol.lines()[-1] == "[server] Users (3): bob carol alice"


def test_who_of_a_named_room(net: FakeNetwork) -> None:
    alice, _, carol = in_room(net, "#games", "alice", "bob")[0:2] + net.join("carol")
    carol.send("WHO #games")
    carol.send("who GAMES")
    carol.send("WHO #lobby")
    assert carol.lines() == [
        "[server] Users in #games (2): @alice bob",
        "[server] Users in #games (2): @alice bob",
        "[server] Users in #lobby (1): carol",
    ]
    assert alice.lines() == []


@pytest.mark.parametrize("typed", ["nowhere", "#nowhere", "a b", "#", "😀"])
def test_who_of_an_unknown_room(net: FakeNetwork, typed: str) -> None:
    (alice,) = net.join("alice")
    alice.send(f"WHO {typed}")
    assert alice.lines() == [f"[server] Error: no such room {typed}"]


def test_rooms_lists_the_lobby_first_then_in_order_of_creation(net: FakeNetwork) -> None:
    alice, bob, carol, _ = net.join("alice", "bob", "carol", "dave")
    alice.send("JOIN #zeta")
    bob.send("JOIN #alpha")
    carol.send("JOIN #zeta")
    alice.send("JOIN #mid")
    alice.lines()
    alice.send("rooms")
    assert alice.lines() == ["[server] Rooms (4): #lobby (1) #zeta (1) #alpha (1) #mid (1)"]
    bob.send("JOIN #zeta")  # #alpha goes; created again, it comes last
    bob.send("JOIN #alpha")
    alice.send("ROOMS extra words are ignored")
    assert alice.lines() == ["[server] Rooms (4): #lobby (1) #zeta (1) #mid (1) #alpha (1)"]


def test_rooms_with_only_the_lobby(net: FakeNetwork) -> None:
    (alice,) = net.join("alice")
    alice.send("ROOMS")
    assert alice.lines() == ["[server] Rooms (1): #lobby (1)"]


# -- TOPIC -----------------------------------------------------------------------------


def test_topic_of_a_room_without_one(net: FakeNetwork) -> None:
    (alice,) = in_room(net, "#games", "alice")
    alice.send("TOPIC")
    assert alice.lines() == ["[server] #games has no topic"]


def test_topic_set_by_the_room_operator_reaches_every_member(net: FakeNetwork) -> None:
    alice, bob, carol = in_room(net, "#games", "alice", "bob") + net.join("carol")
    alice.send("TOPIC  Friday:  chess ")
    expected = "[server] alice set the topic of #games to: Friday:  chess"
    assert alice.lines() == [expected]
    assert bob.lines() == [expected]
    assert carol.lines() == []
    bob.send("TOPIC")
    assert bob.lines() == ["[server] Topic of #games: Friday:  chess"]


def test_topic_is_refused_to_other_members(net: FakeNetwork) -> None:
    alice, bob = in_room(net, "#games", "alice", "bob")
    bob.send("TOPIC mine")
    assert bob.lines() == [OPERATORS_ONLY]
    assert alice.lines() == []


def test_topic_of_300_characters_and_not_more(net: FakeNetwork) -> None:
    (alice,) = in_room(net, "#games", "alice")
    alice.send("TOPIC " + "é" * 301)
    assert alice.lines() == ["[server] Error: topic too long (max 300 characters)"]
    alice.send("TOPIC " + "é" * 300)
    assert alice.lines() == ["[server] alice set the topic of #games to: " + "é" * 300]


def test_permission_is_checked_before_length(net: FakeNetwork) -> None:
    _, bob = in_room(net, "#games", "alice", "bob")
    bob.send("TOPIC " + "x" * 400)
    assert bob.lines() == [OPERATORS_ONLY]


def test_a_topic_stays_with_the_lobby(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send(f"OPER {OPER_PASSWORD}")
    alice.send("TOPIC welcome")
    alice.send("JOIN #x")
    bob.send("JOIN #x")
    bob.send("JOIN #lobby")
    assert bob.lines()[-1] == "[server] Topic of #lobby: welcome"


# -- KICK ----------------------------------------------------------------------------------


def test_kick_tells_the_victim_and_every_other_member(net: FakeNetwork) -> None:
    alice, bob, carol, dave = in_room(net, "#games", "alice", "bob", "carol") + net.join("dave")
    actions = [a for a in alice.send("KICK bob") if not isinstance(a, Log)]
    assert actions == [
        Send(conns=(bob.conn,), data=b"[server] You were kicked from #games by alice\n"),
        Send(conns=(alice.conn, carol.conn), data=b"[server] bob was kicked from #games by alice\n"),
    ]
    assert dave.lines() == []
    bob.send("WHO")
    assert bob.lines() == ["[server] You were kicked from #games by alice", NOT_IN_A_ROOM]
    carol.send("WHO")
    assert carol.lines()[-1] == "[server] Users (2): @alice carol"


def test_kick_with_a_reason(net: FakeNetwork) -> None:
    alice, bob, carol = in_room(net, "#games", "alice", "bob", "carol")
    alice.send("KICK BOB  too  loud ")
    assert bob.lines() == ["[server] You were kicked from #games by alice: too  loud"]
    assert carol.lines() == ["[server] bob was kicked from #games by alice: too  loud"]


@pytest.mark.parametrize("line", ["KICK", "kick", "KICK  \t "])
def test_kick_without_a_nickname_is_a_usage_error(net: FakeNetwork, line: str) -> None:
    (alice,) = in_room(net, "#games", "alice")
    alice.send(line)
    assert alice.lines() == ["[server] Error: usage: KICK <nickname> [<reason>]"]


def test_kick_is_refused_to_other_members(net: FakeNetwork) -> None:
    alice, bob = in_room(net, "#games", "alice", "bob")
    bob.send("KICK alice")
    bob.send("KICK nobody")  # permission comes before the nickname
    assert bob.lines() == [OPERATORS_ONLY, OPERATORS_ONLY]
    assert alice.lines() == []


@pytest.mark.parametrize("typed", ["carol", "CAROL", "nobody", "server"])
def test_kick_of_someone_not_in_the_room_names_them_as_typed(net: FakeNetwork, typed: str) -> None:
    alice, _ = in_room(net, "#games", "alice", "bob")
    net.join("carol")
    alice.send(f"KICK {typed} bye")
    assert alice.lines() == [f"[server] Error: {typed} is not in #games"]


def test_kick_by_a_server_operator_in_any_room(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    bob.send(f"OPER {OPER_PASSWORD}")
    bob.send("KICK alice")
    assert alice.lines() == ["[server] You were kicked from #lobby by bob"]
    assert bob.lines()[-1] == "[server] alice was kicked from #lobby by bob"


def test_a_room_operator_may_kick_itself_and_the_room_goes(net: FakeNetwork) -> None:
    (alice,) = in_room(net, "#solo", "alice")
    alice.send("KICK alice")
    alice.send("ROOMS")
    assert alice.lines() == ["[server] You were kicked from #solo by alice", "[server] Rooms (1): #lobby (0)"]


def test_a_kicked_room_operator_loses_the_status(net: FakeNetwork) -> None:
    alice, bob = in_room(net, "#games", "alice", "bob")
    carol = net.join("carol")[0]
    carol.send(f"OPER {OPER_PASSWORD}")
    carol.send("JOIN #games")
    carol.send("KICK alice")
    alice.send("JOIN #games")
    alice.send("KICK bob")
    assert alice.lines()[-1] == OPERATORS_ONLY
    assert bob.is_open


# -- notices about a user go to those who share a room with it ---------------------------


def test_a_nick_change_is_told_to_the_room_only(net: FakeNetwork) -> None:
    alice, bob, carol = in_room(net, "#games", "alice", "bob") + net.join("carol")
    alice.send("NICK alicia")
    assert bob.lines() == ["[server] alice is now known as alicia"]
    assert carol.lines() == []


def test_a_departure_is_told_to_the_room_only(net: FakeNetwork) -> None:
    alice, bob, carol = in_room(net, "#games", "alice", "bob") + net.join("carol")
    alice.send("QUIT see you")
    assert bob.lines() == ["[alice] see you", "[server] alice is disconnected"]
    assert carol.lines() == []
    bob.eof()
    assert carol.lines() == []


def test_a_kill_is_told_to_the_room_and_to_the_killer(net: FakeNetwork) -> None:
    alice, _, carol = in_room(net, "#games", "alice", "bob") + net.join("carol")
    carol.send(f"OPER {OPER_PASSWORD}")
    carol.lines()
    actions = [a for a in carol.send("KILL bob") if isinstance(a, Send)]
    assert actions[1:] == [
        Send(conns=(alice.conn, carol.conn), data=b"[server] bob is disconnected (killed by carol)\n")
    ]
    assert alice.lines() == ["[server] bob is disconnected (killed by carol)"]


def test_a_kill_of_a_user_in_no_room_is_told_to_the_killer_only(kicked: tuple[Client, Client]) -> None:
    alice, bob = kicked
    carol = alice.net.join("carol")[0]
    carol.send(f"OPER {OPER_PASSWORD}")
    carol.lines()
    carol.send("KILL bob")
    assert carol.lines() == ["[server] bob is disconnected (killed by carol)"]
    assert alice.lines() == []
    assert bob.closed


def test_a_newcomer_is_announced_in_the_lobby_only(net: FakeNetwork) -> None:
    (alice,) = in_room(net, "#games", "alice")
    (bob,) = net.join("bob")
    net.connect()
    assert alice.lines() == []
    assert bob.lines() == ["[server] guest3 is connected"]


def test_shutdown_reaches_everyone_in_every_room(net: FakeNetwork) -> None:
    alice, _ = in_room(net, "#games", "alice", "bob")
    bob2, carol = net.join("bob2", "carol")
    carol.send("JOIN #other")
    net.shutdown()
    for client in net.clients.values():
        assert client.lines()[-1] == "[server] Server is shutting down"
        assert client.closed
    assert alice.closed and bob2.closed


def test_rooms_need_no_wakeup() -> None:
    net = FakeNetwork(ServerConfig(rate_lines=0))
    alice, bob = net.join("alice", "bob")
    alice.send("JOIN #a")
    assert net.state.next_wakeup is None
    assert bob.lines() == ["[server] alice left #lobby"]

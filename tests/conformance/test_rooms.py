"""Rooms and private messages (protocol v2) over real sockets, on every backend."""

from __future__ import annotations

from .client import Client
from .server import OPER_PASSWORD, ServerProcess

NOT_IN_A_ROOM = "[server] Error: you are not in a room, use JOIN <room>"
OPERATORS_ONLY = "[server] Error: permission denied, room operators only"


def named(server: ServerProcess, *nicks: str) -> list[Client]:
    """Clients renamed to ``nicks``, everything they were told so far read.

    A barrier only tells that the server handled *that* client's lines, so
    each step waits for its own barrier before the next client acts.
    """
    clients = [server.join() for _ in nicks]
    for client, nick in zip(clients, nicks, strict=True):
        one_by_one(client, f"NICK {nick}")
        client.name = nick
    for client in clients:
        client.ping_barrier()
    return clients


def one_by_one(client: Client, *lines: str) -> list[str]:
    """Send ``lines`` and wait until the server has handled them; what came back before."""
    for line in lines:
        client.send_line(line)
    return client.ping_barrier()


def test_join_moves_a_client_and_tells_both_rooms(server: ServerProcess) -> None:
    alice, bob, carol = named(server, "alice", "bob", "carol")
    alice.send_line("JOIN #Games")
    assert alice.ping_barrier() == ["[server] You are now in #Games", "[server] Users in #Games (1): @alice"]
    alice.send_line("TOPIC Friday:  chess")
    assert alice.ping_barrier() == ["[server] alice set the topic of #Games to: Friday:  chess"]
    bob.send_line("join GAMES")
    assert bob.ping_barrier() == [
        "[server] alice left #lobby",
        "[server] You are now in #Games",
        "[server] Users in #Games (2): @alice bob",
        "[server] Topic of #Games: Friday:  chess",
    ]
    assert alice.ping_barrier() == ["[server] bob joined #Games"]
    assert carol.ping_barrier() == ["[server] alice left #lobby", "[server] bob left #lobby"]
    carol.send_line("ROOMS")
    carol.send_line("WHO #games")
    carol.send_line("JOIN #lobby")
    carol.send_line("JOIN a b")
    assert carol.ping_barrier() == [
        "[server] Rooms (2): #lobby (1) #Games (2)",
        "[server] Users in #Games (2): @alice bob",
        "[server] Error: you are already in #lobby",
        "[server] Error: invalid room name a b",
    ]


def test_words_stay_in_their_room_and_private_messages_cross_rooms(server: ServerProcess) -> None:
    alice, bob, carol = named(server, "alice", "bob", "carol")
    one_by_one(alice, "JOIN #games")
    one_by_one(bob, "JOIN #games")
    carol.ping_barrier()
    assert one_by_one(alice, "MSG hi  there", "ME waves") == ["[server] bob joined #games"]
    assert one_by_one(carol, "MSG lobby only", "TELL ALICE psst") == []
    assert alice.ping_barrier() == ["[carol -> alice] psst"]
    assert bob.ping_barrier() == ["[alice] hi  there", "* alice waves"]
    carol.send_line("TELL nobody hello")
    carol.send_line("TELL alice")
    assert carol.ping_barrier() == [
        "[server] Error: no such nickname nobody",
        "[server] Error: usage: TELL <nickname> <text>",
    ]


def test_kick_topic_and_the_room_operator(server: ServerProcess) -> None:
    alice, bob, carol = named(server, "alice", "bob", "carol")
    for client in (alice, bob, carol):
        one_by_one(client, "JOIN #games")
    for client in (alice, bob, carol):
        client.ping_barrier()
    bob.send_line("KICK carol")
    bob.send_line("TOPIC mine")
    assert bob.ping_barrier() == [OPERATORS_ONLY, OPERATORS_ONLY]
    alice.send_line("TOPIC " + "x" * 301)
    alice.send_line("KICK nobody")
    alice.send_line("KICK carol  too  loud")
    assert alice.ping_barrier() == [
        "[server] Error: topic too long (max 300 characters)",
        "[server] Error: nobody is not in #games",
        "[server] carol was kicked from #games by alice: too  loud",
    ]
    assert bob.ping_barrier() == ["[server] carol was kicked from #games by alice: too  loud"]
    carol.send_line("MSG anyone?")
    carol.send_line("WHO")
    assert carol.ping_barrier() == [
        "[server] You were kicked from #games by alice: too  loud",
        NOT_IN_A_ROOM,
        NOT_IN_A_ROOM,
    ]


def test_notices_about_a_user_reach_those_who_share_a_room(server: ServerProcess) -> None:
    alice, bob, carol = named(server, "alice", "bob", "carol")
    one_by_one(alice, "JOIN #games")
    one_by_one(bob, "JOIN #games")
    one_by_one(carol, f"OPER {OPER_PASSWORD}")
    for client in (alice, bob, carol):
        client.ping_barrier()
    alice.send_line("NICK alicia")
    assert alice.ping_barrier() == ["[server] You are now known as alicia"]
    assert bob.ping_barrier() == ["[server] alice is now known as alicia"]
    carol.send_line("KILL bob bye")
    assert carol.ping_barrier() == ["[server] bob is disconnected (killed by carol)"]
    assert bob.lines_until_closed() == ["[carol] bye", "[server] You have been killed by carol"]
    assert alice.ping_barrier() == ["[server] bob is disconnected (killed by carol)"]
    alice.send_line("QUIT see you")
    assert alice.lines_until_closed() == ["[server] Goodbye, alicia."]
    carol.send_line("ROOMS")
    assert carol.ping_barrier() == ["[server] Rooms (1): #lobby (1)"]

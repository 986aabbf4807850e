"""Commands: MSG, NICK, WHO, QUIT, KILL, OPER, MODE, WALLOPS, HELP, PING, and their errors."""

from __future__ import annotations

import pytest

from sansio_chat import Close, Log, Send, ServerConfig
from tests.core_driver import OPER_PASSWORD, Client, FakeNetwork
from tests.expected import HELP

# -- MSG ---------------------------------------------------------------------


def test_msg_reaches_every_other_client_and_not_the_sender(net: FakeNetwork) -> None:
    alice, bob, carol = net.join("alice", "bob", "carol")
    alice.send("MSG hello, world")
    assert bob.lines() == ["[alice] hello, world"]
    assert carol.lines() == ["[alice] hello, world"]
    assert alice.lines() == []


def test_msg_alone_sends_nothing(net: FakeNetwork) -> None:
    (alice,) = net.join("alice")
    assert alice.send("MSG anyone?") == []
    assert alice.lines() == []


@pytest.mark.parametrize("line", ["MSG", "msg", "MSG   ", "MSG\t"])
def test_msg_without_text_is_a_usage_error(net: FakeNetwork, line: str) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send(line)
    assert alice.lines() == ["[server] Error: usage: MSG <text>"]
    assert bob.lines() == []


def test_msg_is_one_send_naming_every_recipient(net: FakeNetwork) -> None:
    alice, bob, carol, dave = net.join("alice", "bob", "carol", "dave")
    actions = carol.send("MSG hi")
    assert actions == [Send(conns=(alice.conn, bob.conn, dave.conn), data=b"[carol] hi\n")]


def test_msg_keeps_unicode_text(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("MSG Grüße 👋 — ok")
    assert bob.lines() == ["[alice] Grüße 👋 — ok"]


def test_msg_text_that_looks_like_a_server_line_is_still_tagged(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("MSG [server] Error: fake")
    assert bob.lines() == ["[alice] [server] Error: fake"]


# -- NICK --------------------------------------------------------------------


def test_nick_tells_the_sender_and_everyone_else(net: FakeNetwork) -> None:
    first, second = net.connect_many(2)
    first.lines()
    second.lines()
    first.send("NICK alice")
    assert first.lines() == ["[server] You are now known as alice"]
    assert second.lines() == ["[server] guest1 is now known as alice"]


def test_new_nick_is_used_in_messages(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("NICK alicia")
    alice.send("MSG hi")
    assert bob.lines() == ["[server] alice is now known as alicia", "[alicia] hi"]


@pytest.mark.parametrize("line", ["NICK", "nick", "NICK  \t "])
def test_nick_without_argument_is_a_usage_error(net: FakeNetwork, line: str) -> None:
    (alice,) = net.join("alice")
    alice.send(line)
    assert alice.lines() == ["[server] Error: usage: NICK <nickname>"]


@pytest.mark.parametrize(
    "nick",
    [
        "Séverine",
        "Ødegaard",
        "Дмитрий",
        "李小龙",
        "a",
        "a" * 24,
        "x1",
        "a_b-c",
        "z9_-",
        "\u017ferve",  # a long s, but not "server" once casefolded
        "servers",
        "serve",
        "a٣",  # ARABIC-INDIC DIGIT THREE is a digit
    ],
)
def test_valid_nicknames_are_accepted(net: FakeNetwork, nick: str) -> None:
    (alice,) = net.join("alice")
    alice.send(f"NICK {nick}")
    assert alice.lines() == [f"[server] You are now known as {nick}"]


@pytest.mark.parametrize(
    "nick",
    [
        "a" * 25,
        "1abc",
        "_abc",
        "-abc",
        "٣a",  # a digit first
        "a.b",
        "a!",
        "a/b",
        "[a]",
        "a b",  # the rest of the line is the nickname
        "a\tb",
        "a\u00a0b",
        "e\u0301",  # e + COMBINING ACUTE ACCENT: the mark is not a letter
        "Se\u0301verine",
        "\u0301",
        "server",
        "SERVER",
        "Server",
        "sErVeR",
        "\u017ferver",  # casefolds to "server"
        "😀",
        "a😀",
    ],
)
def test_invalid_nicknames_are_refused(net: FakeNetwork, nick: str) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send(f"NICK {nick}")
    assert alice.lines() == [f"[server] Error: invalid nickname {nick}"]
    assert bob.lines() == []


def test_24_characters_are_counted_as_characters_not_bytes(net: FakeNetwork) -> None:
    (alice,) = net.join("alice")
    alice.send("NICK " + "é" * 24)
    alice.send("NICK " + "é" * 25)
    assert alice.lines() == [
        "[server] You are now known as " + "é" * 24,
        "[server] Error: invalid nickname " + "é" * 25,
    ]


def test_precomposed_form_passes_where_the_combining_one_fails(net: FakeNetwork) -> None:
    (alice,) = net.join("alice")
    alice.send("NICK S\u00e9verine")
    assert alice.lines() == ["[server] You are now known as Séverine"]


def test_nickname_in_use_is_refused(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    bob.send("NICK alice")
    assert bob.lines() == ["[server] Error: nickname alice is already in use"]
    assert alice.lines() == []


@pytest.mark.parametrize("nick", ["ALICE", "Alice", "aLiCe"])
def test_nicknames_are_unique_case_insensitively(net: FakeNetwork, nick: str) -> None:
    _, bob = net.join("alice", "bob")
    bob.send(f"NICK {nick}")
    assert bob.lines() == [f"[server] Error: nickname {nick} is already in use"]


def test_uniqueness_uses_casefold(net: FakeNetwork) -> None:
    _, bob = net.join("Straße", "bob")
    bob.send("NICK STRASSE")
    assert bob.lines() == ["[server] Error: nickname STRASSE is already in use"]


def test_a_guest_nickname_in_use_is_refused(net: FakeNetwork) -> None:
    first, second = net.connect_many(2)
    first.lines()
    second.send("NICK Guest1")
    assert second.lines()[-1] == "[server] Error: nickname Guest1 is already in use"


def test_the_owner_may_change_the_case_of_its_nickname(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("NICK ALICE")
    assert alice.lines() == ["[server] You are now known as ALICE"]
    assert bob.lines() == ["[server] alice is now known as ALICE"]


def test_unchanged_nickname_is_confirmed_without_broadcast(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("NICK alice")
    assert alice.lines() == ["[server] You are now known as alice"]
    assert bob.lines() == []


def test_an_old_nickname_is_free_once_changed(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("NICK alicia")
    bob.send("NICK ALICE")
    assert bob.lines()[-1] == "[server] You are now known as ALICE"


def test_a_nickname_is_free_once_its_owner_left(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("QUIT")
    bob.send("NICK alice")
    assert bob.lines()[-1] == "[server] You are now known as alice"


# -- WHO ---------------------------------------------------------------------


def test_who_lists_users_in_connection_order_asker_included(net: FakeNetwork) -> None:
    net.join("zed", "alice", "mike")
    carol = net.connect()
    carol.lines()
    carol.send("WHO")
    assert carol.lines() == ["[server] Users (4): zed alice mike guest4"]


def test_who_keeps_connection_order_after_nick_changes(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("NICK zoe")
    bob.lines()
    bob.send("who")
    assert bob.lines() == ["[server] Users (2): zoe bob"]


def test_who_alone(net: FakeNetwork) -> None:
    alice = net.connect()
    alice.lines()
    alice.send("WHO")
    assert alice.lines() == ["[server] Users (1): guest1"]


def test_who_with_an_argument_asks_for_that_room(net: FakeNetwork) -> None:
    # Protocol v1 ignored what followed WHO; v2 reads it as a room name.
    (alice,) = net.join("alice")
    alice.send("WHO is there")
    alice.send("WHO lobby")
    assert alice.lines() == ["[server] Error: no such room is there", "[server] Users in #lobby (1): alice"]


def test_who_forgets_users_who_left(net: FakeNetwork) -> None:
    alice, bob, carol = net.join("alice", "bob", "carol")
    bob.send("QUIT")
    alice.lines()
    alice.send("WHO")
    assert alice.lines() == ["[server] Users (2): alice carol"]
    assert carol.is_open


# -- QUIT --------------------------------------------------------------------


def test_quit_without_text(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("QUIT")
    assert alice.lines() == ["[server] Goodbye, alice."]
    assert bob.lines() == ["[server] alice is disconnected"]
    assert alice.closed and not alice.aborted


def test_quit_with_text_sends_it_before_the_notice(net: FakeNetwork) -> None:
    alice, bob, carol = net.join("alice", "bob", "carol")
    alice.send("QUIT  see  you ")
    assert alice.lines() == ["[server] Goodbye, alice."]
    assert bob.lines() == ["[alice] see  you", "[server] alice is disconnected"]
    assert carol.lines() == ["[alice] see  you", "[server] alice is disconnected"]


def test_quit_actions_are_in_protocol_order(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    actions = [a for a in alice.send("quit bye") if not isinstance(a, Log)]
    assert actions == [
        Send(conns=(bob.conn,), data=b"[alice] bye\n"),
        Send(conns=(alice.conn,), data=b"[server] Goodbye, alice.\n"),
        Send(conns=(bob.conn,), data=b"[server] alice is disconnected\n"),
        Close(conn=alice.conn),
    ]


def test_quit_alone(net: FakeNetwork) -> None:
    (alice,) = net.join("alice")
    alice.send("QUIT bye")
    assert alice.lines() == ["[server] Goodbye, alice."]
    assert alice.closed


def test_lines_after_quit_are_not_handled(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send_bytes(b"QUIT\nMSG ghost\n")
    assert bob.lines() == ["[server] alice is disconnected"]


# -- OPER --------------------------------------------------------------------


def test_oper_with_the_right_password(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send(f"OPER {OPER_PASSWORD}")
    assert alice.lines() == ["[server] You are now an operator"]
    assert bob.lines() == []


def test_oper_with_a_wrong_password(net: FakeNetwork) -> None:
    (alice,) = net.join("alice")
    alice.send("OPER guess")
    assert alice.lines() == ["[server] Error: wrong password"]


@pytest.mark.parametrize("attempt", [OPER_PASSWORD.upper(), OPER_PASSWORD + "x", OPER_PASSWORD[:-1]])
def test_oper_password_must_match_exactly(net: FakeNetwork, attempt: str) -> None:
    (alice,) = net.join("alice")
    alice.send(f"OPER {attempt}")
    assert alice.lines() == ["[server] Error: wrong password"]


def test_oper_password_is_the_rest_of_the_line() -> None:
    net = FakeNetwork(ServerConfig(oper_password="open  sesame"))
    (alice,) = net.join("alice")
    alice.send("OPER open sesame")
    alice.send("OPER   open  sesame  ")
    assert alice.lines() == ["[server] Error: wrong password", "[server] You are now an operator"]


def test_oper_password_may_be_unicode() -> None:
    net = FakeNetwork(ServerConfig(oper_password="mot-de-passe-é"))
    (alice,) = net.join("alice")
    alice.send("OPER mot-de-passe-é")
    assert alice.lines() == ["[server] You are now an operator"]


def test_oper_without_password_is_a_usage_error_not_a_failure(net: FakeNetwork) -> None:
    (alice,) = net.join("alice")
    for _ in range(5):
        alice.send("OPER")
    alice.send("OPER wrong")
    alice.send("OPER wrong")
    assert (
        alice.lines()
        == ["[server] Error: usage: OPER <password>"] * 5 + ["[server] Error: wrong password"] * 2
    )
    assert alice.is_open


def test_the_third_failure_closes_the_connection(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("OPER one")
    alice.send("OPER two")
    bob.lines()
    alice.send("OPER three")
    assert alice.lines() == [
        "[server] Error: wrong password",
        "[server] Error: wrong password",
        "[server] Error: too many failed OPER attempts",
    ]
    assert alice.closed and not alice.aborted
    assert bob.lines() == ["[server] alice is disconnected (too many failed OPER attempts)"]


def test_oper_failures_are_counted_per_connection(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    for client in (alice, bob, alice, bob):
        client.send("OPER nope")
    assert alice.is_open and bob.is_open


def test_a_success_does_not_need_a_clean_record(net: FakeNetwork) -> None:
    (alice,) = net.join("alice")
    alice.send("OPER one")
    alice.send("OPER two")
    alice.send(f"OPER {OPER_PASSWORD}")
    assert alice.lines()[-1] == "[server] You are now an operator"


@pytest.mark.parametrize("attempt", ["x", "''", '""'])
def test_an_empty_configured_password_never_matches(attempt: str) -> None:
    net = FakeNetwork(ServerConfig(oper_password=""))
    (alice,) = net.join("alice")
    alice.send(f"OPER {attempt}")
    assert alice.lines() == ["[server] Error: wrong password"]
    alice.send("OPER")
    assert alice.lines() == ["[server] Error: usage: OPER <password>"]


# -- KILL --------------------------------------------------------------------


@pytest.fixture
def room(net: FakeNetwork) -> tuple[Client, Client, Client]:
    """alice is an operator; bob and carol are not."""
    alice, bob, carol = net.join("alice", "bob", "carol")
    alice.send(f"OPER {OPER_PASSWORD}")
    alice.lines()
    return alice, bob, carol


def test_kill_without_text(room: tuple[Client, Client, Client]) -> None:
    alice, bob, carol = room
    alice.send("KILL bob")
    assert bob.lines() == ["[server] You have been killed by alice"]
    assert bob.closed and not bob.aborted
    assert alice.lines() == ["[server] bob is disconnected (killed by alice)"]
    assert carol.lines() == ["[server] bob is disconnected (killed by alice)"]


def test_kill_with_text_tells_it_to_the_victim_only(room: tuple[Client, Client, Client]) -> None:
    alice, bob, carol = room
    alice.send("KILL bob  go  away ")
    assert bob.lines() == ["[alice] go  away", "[server] You have been killed by alice"]
    assert alice.lines() == ["[server] bob is disconnected (killed by alice)"]
    assert carol.lines() == ["[server] bob is disconnected (killed by alice)"]


def test_kill_actions_are_in_protocol_order(room: tuple[Client, Client, Client]) -> None:
    alice, bob, carol = room
    actions = [a for a in alice.send("KILL bob bye") if not isinstance(a, Log)]
    assert actions == [
        Send(conns=(bob.conn,), data=b"[alice] bye\n[server] You have been killed by alice\n"),
        Send(conns=(alice.conn, carol.conn), data=b"[server] bob is disconnected (killed by alice)\n"),
        Close(conn=bob.conn),
    ]


def test_kill_finds_the_victim_case_insensitively(room: tuple[Client, Client, Client]) -> None:
    alice, bob, _ = room
    alice.send("KILL BOB")
    assert bob.closed
    assert alice.lines() == ["[server] bob is disconnected (killed by alice)"]


@pytest.mark.parametrize("line", ["KILL", "kill", "KILL   "])
def test_kill_without_nickname_is_a_usage_error(room: tuple[Client, Client, Client], line: str) -> None:
    alice, _, _ = room
    alice.send(line)
    assert alice.lines() == ["[server] Error: usage: KILL <nickname> [<text>]"]


def test_kill_usage_is_checked_before_permission(net: FakeNetwork) -> None:
    _, bob = net.join("alice", "bob")
    bob.send("KILL")
    assert bob.lines() == ["[server] Error: usage: KILL <nickname> [<text>]"]


def test_kill_needs_oper(room: tuple[Client, Client, Client]) -> None:
    alice, bob, _ = room
    bob.send("KILL alice")
    assert bob.lines() == ["[server] Error: permission denied, use OPER first"]
    assert alice.is_open and alice.lines() == []


def test_kill_permission_is_checked_before_the_nickname(room: tuple[Client, Client, Client]) -> None:
    _, bob, _ = room
    bob.send("KILL nobody")
    bob.send("KILL bob")
    assert bob.lines() == ["[server] Error: permission denied, use OPER first"] * 2


def test_kill_of_an_unknown_nickname(room: tuple[Client, Client, Client]) -> None:
    alice, _, _ = room
    alice.send("KILL Nobody some text")
    alice.send("KILL server")
    assert alice.lines() == [
        "[server] Error: no such nickname Nobody",
        "[server] Error: no such nickname server",
    ]


def test_kill_of_a_departed_user(room: tuple[Client, Client, Client]) -> None:
    alice, bob, _ = room
    bob.send("QUIT")
    alice.lines()
    alice.send("KILL bob")
    assert alice.lines() == ["[server] Error: no such nickname bob"]


def test_kill_of_self_says_to_use_quit(room: tuple[Client, Client, Client]) -> None:
    alice, bob, _ = room
    alice.send("KILL alice")
    alice.send("KILL ALICE bye")
    assert alice.lines() == ["[server] Error: use QUIT to leave"] * 2
    assert alice.is_open and bob.lines() == []


def test_an_operator_can_kill_another_operator(room: tuple[Client, Client, Client]) -> None:
    alice, bob, _ = room
    bob.send(f"OPER {OPER_PASSWORD}")
    bob.send("KILL alice")
    assert alice.closed
    assert alice.lines() == ["[server] You have been killed by bob"]


def test_kill_uses_the_killers_current_nickname(room: tuple[Client, Client, Client]) -> None:
    alice, bob, carol = room
    alice.send("NICK boss")
    carol.lines()
    alice.send("KILL bob")
    assert bob.lines()[-1] == "[server] You have been killed by boss"
    assert carol.lines() == ["[server] bob is disconnected (killed by boss)"]


def test_operator_status_survives_a_nick_change(room: tuple[Client, Client, Client]) -> None:
    alice, bob, _ = room
    alice.send("NICK alicia")
    alice.send("KILL bob")
    assert bob.closed


# -- MODE and WALLOPS --------------------------------------------------------


def test_mode_w_lets_a_user_hear_operators_wallops(net: FakeNetwork) -> None:
    alice, bob, carol = net.join("alice", "bob", "carol")
    for line in ("MODE", "MODE +w", "MODE +w", "MODE"):
        bob.send(line)
    assert bob.lines() == [
        "[server] Your modes: +",
        "[server] Your modes changed: +w",
        "[server] Your modes: +w",
    ]
    alice.send(f"OPER {OPER_PASSWORD}")
    alice.send("WALLOPS restart at noon")
    assert alice.lines() == ["[server] You are now an operator"]  # not +w itself
    assert bob.lines() == ["[wallops] alice: restart at noon"]
    assert carol.lines() == []
    bob.send("MODE -w")
    alice.send("WALLOPS again")
    assert bob.lines() == ["[server] Your modes changed: -w"]


def test_mode_b_marks_a_text_user_as_a_bot_in_who(net: FakeNetwork) -> None:
    alice, robo = net.join("alice", "robo")
    for line in ("MODE +B", "MODE +B", "MODE +w", "MODE"):
        robo.send(line)
    assert robo.lines() == [
        "[server] Your modes changed: +B",
        "[server] Your modes changed: +w",
        "[server] Your modes: +wB",
    ]
    alice.send("WHO")
    robo.send("MSG beep")  # a bot's words look as anyone's to text users
    assert alice.lines() == ["[server] Users (2): alice robo(bot)", "[robo] beep"]
    robo.send("MODE -B")
    alice.send("WHO")
    assert robo.lines() == ["[server] Your modes changed: -B"]
    assert alice.lines() == ["[server] Users (2): alice robo"]


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("WALLOPS", "[server] Error: usage: WALLOPS <text>"),
        ("WALLOPS hi", "[server] Error: permission denied, use OPER first"),
        ("MODE +i", "[server] Error: usage: MODE [+w|-w|+B|-B]"),
        ("MODE w", "[server] Error: no such room w"),  # MODE <room>: the modes of a room
        ("MODE +b", "[server] Error: usage: MODE [+w|-w|+B|-B]"),
    ],
)
def test_wallops_and_mode_errors(net: FakeNetwork, line: str, reply: str) -> None:
    alice, bob = net.join("alice", "bob")
    bob.send("MODE +w")
    bob.lines()
    alice.send(line)
    assert alice.lines() == [reply]
    assert bob.lines() == []


# -- HELP and PING -----------------------------------------------------------


def test_help_lists_every_command_with_its_syntax(net: FakeNetwork) -> None:
    (alice,) = net.join("alice")
    alice.send("HELP")
    assert alice.lines() == HELP


def test_help_names_every_usage_of_the_spec(net: FakeNetwork) -> None:
    (alice,) = net.join("alice")
    alice.send("help me")
    text = "\n".join(alice.lines())
    for usage in (
        "MSG <text>",
        "NICK <nickname>",
        "WHO",
        "QUIT [<text>]",
        "KILL <nickname> [<text>]",
        "OPER <password>",
        "HELP",
        "PING [<token>]",
    ):
        assert usage in text


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("PING", "[server] PONG"),
        ("PING   ", "[server] PONG"),
        ("PING 123", "[server] PONG 123"),
        ("ping a  b", "[server] PONG a  b"),
        ("PING é", "[server] PONG é"),
    ],
)
def test_ping(net: FakeNetwork, line: str, reply: str) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send(line)
    assert alice.lines() == [reply]
    assert bob.lines() == []

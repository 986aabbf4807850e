"""IRC words: PRIVMSG, NOTICE, TAGMSG, CTCP, tags, line limits, and how text clients see them."""

from __future__ import annotations

import pytest

from sansio_chat import Tick
from tests.core_driver import Client, FakeNetwork

from .irc import IRC, SERVER, irc_net, mask, register

ALICE, BOB = mask("alice"), mask("bob")


@pytest.fixture
def net() -> FakeNetwork:
    return irc_net()


def in_chan(net: FakeNetwork, *nicks: str, caps: str = "") -> list[IRC]:
    """IRC clients in ``#chan`` (the first created it), everything read."""
    clients = [register(net, nick, caps=caps) for nick in nicks]
    for client in clients:
        client.send("JOIN #chan")
    for each in net.clients.values():
        each.lines()
    return clients


def text_in(net: FakeNetwork, room: str = "#chan") -> Client:
    text = net.connect()
    text.send(f"JOIN {room}")
    for client in net.clients.values():
        client.lines()
    return text


# -- to rooms and users ----------------------------------------------------------------------------------


def test_words_to_a_channel_reach_the_others_and_text_clients(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    text = text_in(net)
    alice.send("PRIVMSG #chan :hello there")
    assert alice.lines() == []
    assert bob.lines() == [f":{ALICE} PRIVMSG #chan :hello there"]
    assert text.lines() == ["[alice] hello there"]
    text.send("MSG hi all")
    assert alice.lines() == bob.lines() == [":guest3!text@text.invalid PRIVMSG #chan :hi all"]


def test_words_to_a_nick_and_to_a_text_user(net: FakeNetwork) -> None:
    alice, bob = register(net, "alice"), register(net, "bob")
    text = net.connect()
    text.lines()
    alice.send("PRIVMSG bob :hey there!", "PRIVMSG guest3 :psst", "NOTICE guest3 :fyi")
    assert bob.lines() == [f":{ALICE} PRIVMSG bob :hey there!"]
    assert text.lines() == ["[alice -> guest3] psst", "[alice -> guest3] fyi"]
    text.send("TELL ALICE hi back")
    assert alice.lines() == [":guest3!text@text.invalid PRIVMSG alice :hi back"]


def test_several_targets_each_get_the_words(net: FakeNetwork) -> None:
    alice, bob, carol = in_chan(net, "alice", "bob", "carol")
    alice.send("PRIVMSG bob,#chan :both")
    assert bob.lines() == [f":{ALICE} PRIVMSG bob :both", f":{ALICE} PRIVMSG #chan :both"]
    assert carol.lines() == [f":{ALICE} PRIVMSG #chan :both"]


def test_a_target_named_twice_gets_the_words_once(net: FakeNetwork) -> None:
    # A list that names a channel or a user twice, in any case, is one delivery each:
    # nobody (IRC, text or web) reads the same words twice.
    alice, bob = in_chan(net, "alice", "bob")
    text = text_in(net)
    alice.send("PRIVMSG #chan,#CHAN,bob,BOB,guest3,GUEST3 :once", "TAGMSG bob,Bob")
    assert bob.lines() == [f":{ALICE} PRIVMSG #chan :once", f":{ALICE} PRIVMSG bob :once"]
    assert text.lines() == ["[alice] once", "[alice -> guest3] once"]
    alice.send("NOTICE @#chan,@#Chan,#chan :ops then all")
    assert bob.lines() == [f":{ALICE} NOTICE #chan :ops then all"]
    assert alice.lines() == []


def test_errors_about_words(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send("PRIVMSG nobody :hi", "PRIVMSG #nowhere :hi", "PRIVMSG", "PRIVMSG #chan", "PRIVMSG #chan :")
    assert alice.lines() == [
        f":{SERVER} 401 alice nobody :No such nick/channel",
        f":{SERVER} 403 alice #nowhere :No such channel",
        f":{SERVER} 411 alice :No recipient given (PRIVMSG)",
        f":{SERVER} 412 alice :No text to send",
        f":{SERVER} 412 alice :No text to send",
    ]


def test_a_notice_is_never_answered_with_an_error(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    register(net, "bob").send("JOIN #quiet", "MODE #quiet +m")
    alice.send("NOTICE nobody :hi", "NOTICE #nowhere :hi", "NOTICE", "NOTICE bob", "NOTICE #quiet :hi")
    alice.send("NOTICE #quiet :\x01VERSION reply\x01")
    assert alice.lines() == []


def test_words_from_outside_a_channel_depend_on_no_external(net: FakeNetwork) -> None:
    (alice,) = in_chan(net, "alice")
    outsider = register(net, "outsider")
    outsider.send("PRIVMSG #chan :knock knock")
    assert outsider.lines() == [f":{SERVER} 404 outsider #chan :Cannot send to channel (+n)"]
    alice.send("MODE #chan -n")
    alice.lines()
    outsider.send("PRIVMSG #chan :knock knock")
    assert alice.lines() == [f":{mask('outsider')} PRIVMSG #chan :knock knock"]
    assert outsider.lines() == []


def test_words_to_an_away_user_get_its_away_message(net: FakeNetwork) -> None:
    alice, bob = register(net, "alice"), register(net, "bob")
    text = net.connect()
    text.lines()
    bob.send("AWAY :out to lunch")
    bob.lines()
    alice.send("PRIVMSG bob :there?", "NOTICE bob :fyi")
    assert alice.lines() == [f":{SERVER} 301 alice bob :out to lunch"]
    text.send("TELL bob there?")
    assert text.lines() == ["[server] bob is away: out to lunch"]


# -- actions and other CTCP ------------------------------------------------------------------------------


def test_actions_cross_dialects(net: FakeNetwork) -> None:
    (alice,) = in_chan(net, "alice")
    text = text_in(net)
    alice.send("PRIVMSG #chan :\x01ACTION waves\x01")
    assert text.lines() == ["* alice waves"]
    text.send("ME dances")
    assert alice.lines() == [":guest2!text@text.invalid PRIVMSG #chan :\x01ACTION dances\x01"]
    alice.send("PRIVMSG guest2 :\x01ACTION winks\x01", "PRIVMSG #chan :\x01ACTION\x01")
    assert text.lines() == ["[alice -> guest2] * alice winks", "* alice "]


def test_other_ctcp_reaches_irc_clients_only(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    text = text_in(net)
    alice.send("PRIVMSG #chan :\x01VERSION\x01", "PRIVMSG guest3 :\x01PING 123\x01")
    assert bob.lines() == [f":{ALICE} PRIVMSG #chan :\x01VERSION\x01"]
    assert text.lines() == []
    bob.send("NOTICE alice :\x01VERSION irssi\x01")
    assert alice.lines() == [f":{BOB} NOTICE alice :\x01VERSION irssi\x01"]


def test_formatting_never_reaches_a_text_client(net: FakeNetwork) -> None:
    (alice,) = in_chan(net, "alice")
    text = text_in(net)
    alice.send("PRIVMSG #chan :\x02bold\x02 \x0304red\x03 \x1ditalic\x1d", "NOTICE #chan :\x1fnote\x1f")
    assert text.lines() == ["[alice] bold red italic", "[alice] note"]


# -- capabilities: echo, tags, time ----------------------------------------------------------------------


def test_echo_message_gives_the_sender_its_words_with_the_same_msgid(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob", caps="echo-message message-tags")
    alice.send("PRIVMSG #chan :hello everyone", "NOTICE bob :and you")
    echo, relay = alice.lines(), bob.lines()
    assert echo == relay
    assert echo[0].startswith("@msgid=") and echo[0].endswith(f" :{ALICE} PRIVMSG #chan :hello everyone")
    assert echo[1].endswith(f" :{ALICE} NOTICE bob :and you")
    assert echo[0].split()[0] != echo[1].split()[0]  # each message its own id


def test_client_tags_reach_message_tags_clients_only(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob", caps="message-tags echo-message")
    carol = register(net, "carol")
    dave = register(net, "dave", caps="server-time")
    for other in (carol, dave):
        other.send("JOIN #chan")
    text = text_in(net)
    net.receive(Tick(now=1.0, wall=1_700_000_000.0))
    alice.send("@+baz=bat;fizz=buzz PRIVMSG #chan hi")
    (got,) = bob.lines()
    assert alice.lines() == [got]
    tags, _, rest = got.partition(" ")
    assert rest == f":{ALICE} PRIVMSG #chan :hi"
    assert tags.startswith("@msgid=") and tags.endswith(";+baz=bat") and "fizz" not in tags
    assert carol.lines() == [f":{ALICE} PRIVMSG #chan :hi"]
    assert dave.lines() == [f"@time=2023-11-14T22:13:20.000Z :{ALICE} PRIVMSG #chan :hi"]
    assert text.lines() == ["[alice] hi"]
    alice.send(r"@+buzz=fizz\:buzz;cat=dog;+steel=wootz TAGMSG #chan")
    (echo,) = alice.lines()
    assert bob.lines() == [echo]
    assert echo.endswith(rf";+buzz=fizz\:buzz;+steel=wootz :{ALICE} TAGMSG #chan")
    assert carol.lines() == dave.lines() == text.lines() == []
    alice.send("TAGMSG")
    assert alice.lines() == [f":{SERVER} 461 alice TAGMSG :Not enough parameters"]


def test_server_time_is_on_every_event_for_clients_that_asked(net: FakeNetwork) -> None:
    net.receive(Tick(now=1.0, wall=946_728_000.001))
    alice = register(net, "alice", caps="server-time")
    alice.send("JOIN #chan")
    assert alice.lines()[0] == f"@time=2000-01-01T12:00:00.001Z :{ALICE} JOIN #chan"


# -- lines too long to relay, too long to read -----------------------------------------------------------


def test_a_long_text_line_reaches_irc_clients_split_at_character_boundaries(net: FakeNetwork) -> None:
    (alice,) = in_chan(net, "alice")
    text = text_in(net)
    words = "word " * 60 + "😃" * 200  # 300 + 800 bytes
    text.send(f"MSG {words}")
    lines = alice.lines()
    assert len(lines) == 3
    head = ":guest2!text@text.invalid PRIVMSG #chan :"
    assert all(line.startswith(head) and len(line.encode()) <= 510 for line in lines)
    assert "".join(line[len(head) :] for line in lines) == words
    text.send(f"ME {words}")
    actions = alice.lines()
    assert all(line.startswith(head + "\x01ACTION ") and line.endswith("\x01") for line in actions)
    assert "".join(line[len(head) + 8 : -1] for line in actions) == words


def test_a_long_irc_line_is_cut_at_a_character_boundary_not_split(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    payload = "b" * (512 - len("PRIVMSG #chan :") - 2 - 4) + "😃"  # fits as sent, not with the prefix
    alice.send(f"PRIVMSG #chan :{payload}")
    (line,) = bob.lines()
    assert len(line.encode()) <= 510
    relayed = line.partition(" :")[2]
    assert payload.startswith(relayed) and len(relayed) < len(payload)


@pytest.mark.parametrize("shift", range(3))
def test_a_long_irc_line_is_cut_between_user_perceived_characters(net: FakeNetwork, shift: int) -> None:
    # What is cut off is lost, but what is kept does not end in a letter without its accent.
    alice, bob = in_chan(net, "alice", "bob")
    room = 512 - len("PRIVMSG #chan :") - 2
    payload = "b" * shift + "e\u0301" * ((room - shift) // 3)  # fits as sent, not with the prefix
    alice.send(f"PRIVMSG #chan :{payload}")
    (line,) = bob.lines()
    relayed = line.partition(" :")[2]
    assert payload.startswith(relayed) and len(relayed) < len(payload)
    assert relayed.endswith("\u0301")


def test_over_long_lines_get_417_and_nothing_is_relayed(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob", caps="message-tags")
    alice.send("PRIVMSG #chan :" + "a" * 500)
    alice.send("@+tag=" + "x" * 4096 + " PRIVMSG #chan :hi")
    alice.send("@+tag=" + "x" * 8000 + " PRIVMSG #chan :hi")
    assert alice.lines() == [f":{SERVER} 417 alice :Input line was too long"] * 3
    assert bob.lines() == []
    alice.send("@+tag=" + "x" * 4087 + " TAGMSG #chan")  # 4094 bytes of tags: accepted
    assert len(bob.lines()) == 1


def test_bad_bytes_get_a_reply_never_a_crash(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    alice.send_bytes(b"PRIVMSG #chan :hi\xaa\r\nPRIVMSG #chan :nul\x00here\r\n\r\n   \r\n:src\r\n123x\r\n")
    assert alice.lines() == [
        f":{SERVER} FAIL PRIVMSG INVALID_UTF8 :Message is not valid UTF-8",
        f":{SERVER} 400 alice PRIVMSG :Message contains a forbidden character (NUL or CR)",
        f":{SERVER} 421 alice * :Unknown command",
        f":{SERVER} 421 alice 123x :Unknown command",
    ]
    assert bob.lines() == []
    alice.send("FROB", "KNOCK :#chan")
    assert alice.lines() == [
        f":{SERVER} 421 alice FROB :Unknown command",
        f":{SERVER} 421 alice KNOCK :Unknown command",
    ]


def test_lines_may_end_with_lf_alone(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    alice.send_bytes(b"PRIVMSG #chan :plain\nPRIVMSG bob :private\n")
    assert bob.lines() == [f":{ALICE} PRIVMSG #chan :plain", f":{ALICE} PRIVMSG bob :private"]

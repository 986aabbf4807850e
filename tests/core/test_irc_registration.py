"""IRC registration: CAP negotiation, PASS, NICK, USER, the welcome, timeouts and pings."""

from __future__ import annotations

import pytest

from sansio_chat import Tick
from tests.core_driver import FakeNetwork

from .irc import SERVER, connect, irc_net, mask, register


@pytest.fixture
def net() -> FakeNetwork:
    return irc_net()


def numeric(code: str, nick: str, rest: str) -> str:
    return f":{SERVER} {code} {nick} {rest}"


# -- the welcome -----------------------------------------------------------------------------------------


def test_nick_and_user_register_with_the_whole_welcome(net: FakeNetwork) -> None:
    irc = connect(net)
    irc.send("NICK foo", "USER foo 0 * :Foo Bar")
    lines = irc.lines()
    assert lines[:4] == [
        numeric("001", "foo", ":Welcome to the sansio-chat IRC network, foo"),
        numeric("002", "foo", ":Your host is My.Little.Server, running version sansio-chat"),
        numeric("003", "foo", ":This server was created Thursday January 1 1970 -- 00:00:00 +00:00"),
        numeric("004", "foo", "My.Little.Server sansio-chat Biow biklmnostv bklov"),
    ]
    assert lines[4:6] == [
        numeric(
            "005",
            "foo",
            "AWAYLEN=300 BOT=B CASEMAPPING=ascii CHANLIMIT=#:50 CHANMODES=b,k,l,imnst CHANNELLEN=33"
            " CHANTYPES=# ELIST=CMNTU KEYLEN=32 KICKLEN=300 MAXLIST=b:100 MODES=4"
            " :are supported by this server",
        ),
        numeric(
            "005",
            "foo",
            "NETWORK=sansio-chat NICKLEN=24 PREFIX=(ov)@+ STATUSMSG=@+"
            " TARGMAX=JOIN:,KICK:1,NAMES:1,NOTICE:4,PART:,PRIVMSG:4,TAGMSG:4,WHOIS:1"
            " TOPICLEN=300 UTF8ONLY WHOX :are supported by this server",
        ),
    ]
    assert lines[6:] == [
        numeric("251", "foo", ":There are 1 users and 0 invisible on 1 servers"),
        numeric("255", "foo", ":I have 1 clients and 0 servers"),
        numeric("265", "foo", "1 1 :Current local users 1, max 1"),
        numeric("266", "foo", "1 1 :Current global users 1, max 1"),
        numeric("422", "foo", ":MOTD File is missing"),
    ]


def test_the_motd_is_shown_when_there_is_one() -> None:
    net = irc_net(motd=("Be kind.", "", "Have fun."))
    irc = connect(net)
    irc.send("NICK foo", "USER foo 0 * :Foo")
    assert irc.lines()[-5:] == [
        numeric("375", "foo", ":- My.Little.Server Message of the day - "),
        numeric("372", "foo", ":- Be kind."),
        numeric("372", "foo", ":- "),
        numeric("372", "foo", ":- Have fun."),
        numeric("376", "foo", ":End of /MOTD command."),
    ]
    irc.send("MOTD")
    assert irc.codes() == ["375", "372", "372", "372", "376"]


def test_user_before_nick_and_lower_case_commands_register_too(net: FakeNetwork) -> None:
    irc = connect(net)
    irc.send("user myusername 0 * :My UniqueReal Name", "nick coolNick")
    assert irc.codes()[0] == "001"
    irc.send("WHOIS coolNick")
    assert irc.lines()[0] == numeric(
        "311", "coolNick", "coolNick ~myusernam irc.invalid * :My UniqueReal Name"
    )


def test_a_username_keeps_what_can_be_shown(net: FakeNetwork) -> None:
    irc = connect(net)
    irc.send("NICK foo", "USER 😊😊😊 * * :realname")
    irc.lines()
    irc.send("USERHOST foo")
    assert irc.lines() == [numeric("302", "foo", "foo=+~user@irc.invalid")]


@pytest.mark.parametrize("line", ["USER foo * *", "USER foo * * :", "USER"])
def test_user_needs_four_parameters_and_a_realname(net: FakeNetwork, line: str) -> None:
    irc = connect(net)
    irc.send("NICK foo", line)
    assert irc.lines() == [numeric("461", "foo", "USER :Not enough parameters")]


def test_commands_before_registration_get_451_and_unknown_ones_421(net: FakeNetwork) -> None:
    irc = connect(net)
    irc.send("JOIN #chan", "PRIVMSG #chan :hi", "MOTD", "FOO bar")
    assert irc.lines() == [
        numeric("451", "*", ":You have not registered"),
        numeric("451", "*", ":You have not registered"),
        numeric("451", "*", ":You have not registered"),
        numeric("421", "*", "FOO :Unknown command"),
    ]


def test_ping_is_answered_before_registration_in_order(net: FakeNetwork) -> None:
    irc = connect(net)
    irc.send("CAP NOTACOMMAND", "PING test123", "PING", "PONG whatever")
    assert irc.lines() == [
        numeric("410", "*", "NOTACOMMAND :Invalid CAP command"),
        f":{SERVER} PONG {SERVER} test123",
        numeric("409", "*", ":No origin specified"),
    ]


def test_quit_before_registration_closes_and_frees_the_nick(net: FakeNetwork) -> None:
    irc = connect(net)
    irc.send("NICK alice", "QUIT")
    assert irc.lines() == ["ERROR :Closing link: (Client Quit)"]
    assert not irc.is_open
    other = register(net, "alice")
    assert other.is_open


def test_after_registration_user_and_pass_get_462(net: FakeNetwork) -> None:
    irc = register(net, "foo")
    irc.send("USER a b c :d", "PASS secret")
    assert irc.lines() == [numeric("462", "foo", ":You may not reregister")] * 2


# -- nicknames -------------------------------------------------------------------------------------------


def test_a_nick_in_use_gets_433_and_the_client_may_retry(net: FakeNetwork) -> None:
    register(net, "foo")
    irc = connect(net)
    irc.send("NICK foo", "USER foo 0 * :Foo")
    assert irc.lines() == [numeric("433", "*", "foo :Nickname is already in use")]
    irc.send("NICK FOO")
    assert irc.lines() == [numeric("433", "*", "FOO :Nickname is already in use")]
    irc.send("NICK foo_")
    assert irc.codes()[0] == "001"


def test_a_nick_is_held_from_nick_on_so_only_one_of_two_registers(net: FakeNetwork) -> None:
    first, second = connect(net), connect(net)
    first.send("NICK foo")
    second.send("NICK foo")
    first.send("USER foo 0 * :Foo")
    second.send("USER foo 0 * :Foo")
    assert first.codes()[0] == "001"
    assert second.lines() == [numeric("433", "*", "foo :Nickname is already in use")]


def test_a_text_guest_name_skips_a_nick_held_by_a_registering_client(net: FakeNetwork) -> None:
    irc = connect(net)  # connection 1
    irc.send("NICK guest2")
    text = net.connect()  # connection 2 would be guest2
    assert text.lines()[0] == "[server] Welcome to the chat, guest3! Type HELP for the list of commands."


@pytest.mark.parametrize(
    ("line", "reply"), [("NICK *", "* :Erroneous nickname"), ("NICK 9x", "9x :Erroneous nickname")]
)
def test_an_invalid_nick_gets_432_and_no_welcome(net: FakeNetwork, line: str, reply: str) -> None:
    irc = connect(net)
    irc.send(line, "USER u s e r")
    assert irc.lines() == [numeric("432", "*", reply)]
    irc.send("NICK valid")
    assert irc.codes()[0] == "001"


def test_an_empty_nick_gets_431(net: FakeNetwork) -> None:
    irc = connect(net)
    irc.send("NICK :", "NICK")
    assert irc.lines() == [numeric("431", "*", ":No nickname given")] * 2


def test_a_second_nick_before_registration_replaces_the_first(net: FakeNetwork) -> None:
    irc = connect(net)
    irc.send("NICK alice", "NICK Alice", "NICK bob", "USER bob 0 * :Bob")
    assert irc.lines()[0] == numeric("001", "bob", ":Welcome to the sansio-chat IRC network, bob")
    register(net, "alice")  # free again


def test_nick_after_registration_is_told_to_everyone_who_shares_a_room(net: FakeNetwork) -> None:
    alice, bob = register(net, "alice"), register(net, "bob")
    alice.send("JOIN #chan")
    bob.send("JOIN #chan")
    alice.lines(), bob.lines()
    alice.send("NICK malice")
    assert alice.lines() == [f":{mask('alice')} NICK malice"]
    assert bob.lines() == [f":{mask('alice')} NICK malice"]
    alice.send("NICK malice")  # the very same: nothing
    assert alice.lines() == []
    alice.send("NICK Malice")  # a change of case is a change
    assert bob.lines() == [":malice!~alice@irc.invalid NICK Malice"]
    register(net, "alice")  # the old nick is free


# -- capabilities ----------------------------------------------------------------------------------------


def test_registration_waits_for_cap_end(net: FakeNetwork) -> None:
    irc = connect(net)
    irc.send("CAP LS 302", "USER u s e r", "NICK foo")
    assert irc.lines() == [
        f":{SERVER} CAP * LS :message-tags server-time echo-message multi-prefix userhost-in-names"
        " away-notify cap-notify setname"
    ]
    irc.send("CAP LS 302")
    assert irc.codes() == ["CAP"]
    irc.send("CAP END")
    assert irc.codes()[0] == "001"


def test_cap_ls_302_implies_cap_notify_and_list_shows_what_is_on(net: FakeNetwork) -> None:
    irc = connect(net)
    irc.send("CAP LIST")
    assert irc.lines() == [f":{SERVER} CAP * LIST :"]
    irc.send("CAP LS 302", "CAP LIST")
    assert irc.lines()[1] == f":{SERVER} CAP * LIST cap-notify"


def test_cap_req_is_all_or_nothing_and_echoed_as_written(net: FakeNetwork) -> None:
    irc = connect(net)
    irc.send(
        "CAP LS",
        "CAP REQ :foo qux bar baz qux quux",
        "CAP REQ :foo multi-prefix bar",
        "CAP REQ :multi-prefix userhost-in-names",
        "CAP LIST",
    )
    assert irc.lines()[1:] == [
        f":{SERVER} CAP * NAK :foo qux bar baz qux quux",
        f":{SERVER} CAP * NAK :foo multi-prefix bar",
        f":{SERVER} CAP * ACK :multi-prefix userhost-in-names",
        f":{SERVER} CAP * LIST :multi-prefix userhost-in-names",
    ]
    irc.send("NICK foo", "USER u s e r", "CAP END")
    assert irc.codes()[0] == "001"


def test_caps_may_change_after_registration(net: FakeNetwork) -> None:
    irc = register(net, "bar", caps="echo-message server-time")
    other = register(net, "foo")
    irc.send("CAP LIST")
    assert irc.lines() == [f":{SERVER} CAP bar LIST :server-time echo-message cap-notify"]
    net.receive(Tick(now=1.0, wall=1_700_000_000.25))
    other.send("PRIVMSG bar :hi")
    assert irc.lines() == ["@time=2023-11-14T22:13:20.250Z :foo!~foo@irc.invalid PRIVMSG bar :hi"]
    irc.send("CAP REQ :-server-time", "CAP LIST")
    assert irc.lines() == [
        f":{SERVER} CAP bar ACK -server-time",
        f":{SERVER} CAP bar LIST :echo-message cap-notify",
    ]
    other.send("PRIVMSG bar :hi again")
    assert irc.lines() == [":foo!~foo@irc.invalid PRIVMSG bar :hi again"]


def test_cap_without_a_subcommand_needs_more_and_end_after_registration_is_ignored(net: FakeNetwork) -> None:
    irc = register(net, "foo")
    irc.send("CAP", "CAP END", "CAP REQ :multi-prefix")
    assert irc.lines() == [
        numeric("461", "foo", "CAP :Not enough parameters"),
        f":{SERVER} CAP foo ACK multi-prefix",
    ]


# -- PASS ------------------------------------------------------------------------------------------------


@pytest.fixture
def locked() -> FakeNetwork:
    return irc_net(password="testpassword")


def test_the_right_password_registers(locked: FakeNetwork) -> None:
    irc = connect(locked)
    irc.send("PASS testpassword", "NICK foo", "USER u s e r")
    assert irc.codes()[0] == "001"


@pytest.mark.parametrize(
    "lines",
    [
        ("NICK foo", "USER u s e r"),
        ("PASS wrong", "NICK foo", "USER u s e r"),
        ("NICK foo", "USER u s e r", "PASS testpassword"),
    ],
    ids=["none", "wrong", "too late"],
)
def test_no_or_a_wrong_password_gets_464_and_is_closed(locked: FakeNetwork, lines: tuple[str, ...]) -> None:
    irc = connect(locked)
    irc.send(*lines)
    assert irc.lines() == [
        numeric("464", "foo", ":Password incorrect"),
        "ERROR :Closing link: (Bad password)",
    ]
    assert not irc.is_open


def test_pass_without_a_password_needs_more(locked: FakeNetwork) -> None:
    irc = connect(locked)
    irc.send("PASS")
    assert irc.lines() == [numeric("461", "*", "PASS :Not enough parameters")]


# -- time ------------------------------------------------------------------------------------------------


def test_a_client_that_does_not_register_in_time_is_closed() -> None:
    net = irc_net(registration_seconds=10.0)
    irc = connect(net)
    irc.send("NICK alice")
    net.tick(9.5)
    assert irc.is_open and net.state.next_wakeup == 10.0
    net.tick(10.0)
    assert irc.lines() == ["ERROR :Closing link: (Registration timed out)"]
    assert not irc.is_open
    register(net, "alice")  # its nick is free again


def test_a_silent_client_is_pinged_and_dropped_if_it_never_answers() -> None:
    net = irc_net(ping_seconds=60.0, ping_timeout_seconds=30.0)
    text = net.connect()
    irc = register(net, "alice")
    irc.send("JOIN #lobby")
    text.lines(), irc.lines()
    net.tick(59.0)
    assert irc.lines() == []
    net.tick(60.0)
    assert irc.lines() == [f":{SERVER} PING {SERVER}"]
    net.tick(89.0)
    assert irc.is_open
    net.tick(90.0)
    assert irc.lines() == ["ERROR :Closing link: (Ping timeout: 90 seconds)"]
    assert not irc.is_open
    assert text.lines() == ["[server] alice is disconnected (timed out)"]


def test_an_answered_ping_or_any_line_keeps_a_client() -> None:
    net = irc_net(ping_seconds=60.0, ping_timeout_seconds=30.0)
    irc = register(net, "alice")
    net.tick(30.0)
    irc.send("PONG :nothing asked")  # any line counts: the next ping waits 60 s from here
    net.tick(60.0)
    assert irc.lines() == []
    net.tick(90.0)
    assert irc.lines() == [f":{SERVER} PING {SERVER}"]
    net.tick(100.0)
    irc.send(f"PONG :{SERVER}")
    net.tick(120.0)
    assert irc.is_open and irc.lines() == []
    assert net.state.next_wakeup == 160.0
    net.tick(160.0)
    assert irc.lines() == [f":{SERVER} PING {SERVER}"]


def test_a_client_gone_before_its_check_is_forgotten() -> None:
    net = irc_net(ping_seconds=60.0)
    irc = register(net, "alice")
    irc.client.eof()
    assert net.state.next_wakeup is None


# -- the others' view ------------------------------------------------------------------------------------


def test_an_irc_client_is_in_no_room_until_it_joins(net: FakeNetwork) -> None:
    text = net.connect()
    text.lines()
    irc = register(net, "alice")
    assert text.lines() == []
    text.send("WHO")
    assert text.lines() == ["[server] Users (1): guest1"]
    irc.send("JOIN #lobby")
    assert text.lines() == ["[server] alice joined #lobby"]


def test_irc_and_text_clients_count_alike_in_lusers(net: FakeNetwork) -> None:
    net.connect()
    pending = connect(net)
    pending.send("NICK waiting")
    irc = register(net, "alice")
    irc.send("MODE alice +i", "LUSERS")
    assert irc.lines()[1:] == [
        numeric("251", "alice", ":There are 1 users and 1 invisible on 1 servers"),
        numeric("253", "alice", "1 :unknown connection(s)"),
        numeric("254", "alice", "1 :channels formed"),
        numeric("255", "alice", ":I have 2 clients and 0 servers"),
        numeric("265", "alice", "2 2 :Current local users 2, max 2"),
        numeric("266", "alice", "2 2 :Current global users 2, max 2"),
    ]


def test_a_full_server_refuses_an_irc_client_with_error() -> None:
    net = irc_net(max_clients=1)
    net.connect()
    irc = connect(net)
    assert irc.lines() == ["ERROR :Closing link: server full"]
    assert not irc.is_open

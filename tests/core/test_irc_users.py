"""IRC user commands: WHO, WHOX, WHOIS, WHOWAS, ISON, USERHOST, AWAY, user modes, OPER, KILL, WALLOPS."""

from __future__ import annotations

import pytest

from sansio_chat import DialectName, Tick
from sansio_chat._irc_dialect import CHAT_COMMANDS
from sansio_chat._irc_render import _COMMAND_HELP, _HELP_INDEX
from sansio_chat._irc_session import _SESSION_COMMANDS
from tests.core_driver import FakeNetwork

from .irc import IRC, SERVER, irc_net, mask, register


@pytest.fixture
def net() -> FakeNetwork:
    return irc_net()


def n(code: str, nick: str, rest: str) -> str:
    return f":{SERVER} {code} {nick} {rest}"


Pair = tuple[IRC, IRC]


@pytest.fixture
def pair(net: FakeNetwork) -> Pair:
    """coolNick (an operator of #chan) and otherNick, both in #chan, as irctest sets them up."""
    cool = register(net, "coolNick", username="myusername", realname="My UniqueReal Name")
    other = register(net, "otherNick")
    cool.send("JOIN #chan")
    other.send("JOIN #chan")
    cool.lines(), other.lines()
    return cool, other


# -- WHO -------------------------------------------------------------------------------------------------


COOL = "~myusernam irc.invalid My.Little.Server coolNick"
REAL = "My UniqueReal Name"


def test_who_a_nick_a_mask_everyone_and_a_channel(net: FakeNetwork, pair: Pair) -> None:
    _, other = pair
    for asked in ("coolNick", "coolnick", "coolni*"):
        other.send(f"WHO {asked}")
        assert other.lines() == [
            n(
                "352",
                "otherNick",
                "* ~myusernam irc.invalid My.Little.Server coolNick H :0 My UniqueReal Name",
            ),
            n("315", "otherNick", f"{asked} :End of /WHO list"),
        ]
    other.send("WHO *")
    assert other.codes() == ["352", "352", "315"]
    other.send("WHO #CHAN")
    assert other.lines() == [
        n(
            "352",
            "otherNick",
            "#chan ~myusernam irc.invalid My.Little.Server coolNick H@ :0 My UniqueReal Name",
        ),
        n("352", "otherNick", "#chan ~otherNick irc.invalid My.Little.Server otherNick H :0 Othernick"),
        n("315", "otherNick", "#CHAN :End of /WHO list"),
    ]
    other.send("WHO idontexist", "WHO *!~myuser*@*")
    assert other.codes() == ["315", "352", "315"]


def test_who_shows_away_and_operators(net: FakeNetwork, pair: Pair) -> None:
    cool, other = pair
    cool.send("AWAY :out", "OPER operuser operpassword")
    other.send("WHO coolNick", "WHO * o", "WHO #chan")
    lines = other.lines()
    assert lines[0] == n(
        "352", "otherNick", "* ~myusernam irc.invalid My.Little.Server coolNick G* :0 My UniqueReal Name"
    )
    assert lines[2].startswith(n("352", "otherNick", "* ~myusernam")) and lines[3].endswith(
        "* :End of /WHO list"
    )
    assert " G*@ " in lines[4]


def test_whox_fields_come_in_their_canonical_order(net: FakeNetwork, pair: Pair) -> None:
    _, other = pair
    net.receive(Tick(now=15.0, wall=0.0))
    for fields in ("%tcuihsnfdlaor,123", "%roalfdnshiuct,123"):
        other.send(f"WHO coolNick {fields}")
        assert other.lines() == [
            n(
                "354",
                "otherNick",
                "123 * ~myusernam 255.255.255.255 irc.invalid My.Little.Server coolNick H 0 0 0 n/a"
                " :My UniqueReal Name",
            ),
            n("315", "otherNick", "coolNick :End of /WHO list"),
        ]
    other.send("WHO coolNick %tn,321", "WHO coolNick %na", "WHO coolNick %", "WHO coolNick %t,abc")
    assert other.lines() == [
        n("354", "otherNick", "321 coolNick"),
        n("315", "otherNick", "coolNick :End of /WHO list"),
        n("354", "otherNick", "coolNick 0"),
        n("315", "otherNick", "coolNick :End of /WHO list"),
        n("354", "otherNick", "coolNick"),
        n("315", "otherNick", "coolNick :End of /WHO list"),
        n("354", "otherNick", "0"),
        n("315", "otherNick", "coolNick :End of /WHO list"),
    ]


def test_an_invisible_user_is_found_by_its_exact_nick_or_by_those_who_share_a_room(net: FakeNetwork) -> None:
    evan, stranger = register(net, "evan"), register(net, "stranger")
    evan.send("MODE evan +i")
    assert evan.lines() == [":evan MODE evan :+i"]
    stranger.send("WHO eva*", "WHO evan")
    assert stranger.codes() == ["315", "352", "315"]
    evan.send("JOIN #x")
    stranger.send("JOIN #x")
    stranger.lines()
    stranger.send("WHO eva*")
    assert stranger.codes() == ["352", "315"]


# -- WHOIS, WHOWAS, ISON, USERHOST -----------------------------------------------------------------------


def test_whois(net: FakeNetwork, pair: Pair) -> None:
    cool, other = pair
    net.receive(Tick(now=20.0, wall=1_000.0))
    cool.send("JOIN #two", "AWAY :I'm on a break", "PRIVMSG #chan :hi")
    net.receive(Tick(now=25.0, wall=1_042.0))
    other.lines()
    for asked in ("WHOIS coolNick", "WHOIS My.Little.Server coolNick", "WHOIS coolNick,otherNick"):
        other.send(asked)
        assert other.lines() == [
            n("311", "otherNick", "coolNick ~myusernam irc.invalid * :My UniqueReal Name"),
            n("319", "otherNick", "coolNick :@#chan @#two"),
            n("312", "otherNick", "coolNick My.Little.Server sansio-chat"),
            n("301", "otherNick", "coolNick :I'm on a break"),
            n("317", "otherNick", "coolNick 42 0 :seconds idle, signon time"),
            n("318", "otherNick", "coolNick :End of /WHOIS list"),
        ]
    other.send("WHOIS nobody", "WHOIS")
    assert other.lines() == [
        n("401", "otherNick", "nobody :No such nick/channel"),
        n("318", "otherNick", "nobody :End of /WHOIS list"),
        n("431", "otherNick", ":No nickname given"),
    ]


def test_whois_shows_an_operator_and_hides_secret_rooms(net: FakeNetwork, pair: Pair) -> None:
    cool, _ = pair
    cool.send("JOIN #hidden", "MODE #hidden +s", "OPER operuser operpassword")
    outsider = register(net, "outsider")
    outsider.send("WHOIS coolNick")
    lines = outsider.lines()
    assert lines[1] == n("319", "outsider", "coolNick @#chan")
    assert n("313", "outsider", "coolNick :is an IRC operator") in lines


def test_whois_says_who_is_connected_over_tls(net: FakeNetwork) -> None:
    asker = register(net, "asker")
    secure = IRC(net.connect(dialect=DialectName.IRC, secure=True))
    secure.send("NICK safe", "USER safe 0 * :Safe")
    secure.lines()
    net.connect(secure=True).send("NICK textnick")
    asker.send("WHOIS safe", "WHOIS asker", "WHOIS textnick")
    secure_line = n("671", "asker", "safe :is using a secure connection")
    text_line = n("671", "asker", "textnick :is using a secure connection")
    lines = asker.lines()
    assert secure_line in lines and text_line in lines
    assert not any(" 671 asker asker " in line for line in lines)


def test_whowas_remembers_who_left_newest_first(net: FakeNetwork) -> None:
    asker = register(net, "asker")
    first = register(net, "nick2", realname="First")
    first.send("QUIT")
    second = register(net, "nick2", realname="Second")
    second.send("NICK other")
    asker.send("WHOWAS nick2")
    assert asker.lines() == [
        n("314", "asker", "nick2 ~nick2 irc.invalid * Second"),
        n("314", "asker", "nick2 ~nick2 irc.invalid * First"),
        n("369", "asker", "nick2 :End of WHOWAS"),
    ]
    asker.send("WHOWAS NICK2 1", "WHOWAS nick2 -1", "WHOWAS nobody", "WHOWAS")
    assert asker.codes() == ["314", "369", "314", "314", "369", "406", "369", "431"]


def test_ison_and_userhost(net: FakeNetwork) -> None:
    asker = register(net, "asker")
    bob = register(net, "bob")
    bob.send("AWAY :gone", "OPER operuser operpassword")
    asker.send("ISON BOB nobody asker", "ISON :bob asker", "USERHOST bob asker nobody", "ISON", "USERHOST")
    assert asker.lines() == [
        n("303", "asker", ":bob asker"),
        n("303", "asker", ":bob asker"),
        n("302", "asker", ":bob*=-~bob@irc.invalid asker=+~asker@irc.invalid"),
        n("461", "asker", "ISON :Not enough parameters"),
        n("461", "asker", "USERHOST :Not enough parameters"),
    ]


# -- AWAY ------------------------------------------------------------------------------------------------


def test_away_and_back_are_acknowledged_and_told_to_those_who_asked(net: FakeNetwork) -> None:
    bar = register(net, "bar")
    watcher = register(net, "watcher", caps="away-notify")
    plain = register(net, "plain")
    for client in (bar, watcher, plain):
        client.send("JOIN #chan")
    text = net.connect()
    text.send("JOIN #chan")
    for each in net.clients.values():
        each.lines()
    bar.send("AWAY :i'm going away")
    assert bar.lines() == [n("306", "bar", ":You have been marked as being away")]
    assert watcher.lines() == [f":{mask('bar')} AWAY :i'm going away"]
    assert plain.lines() == []
    assert text.lines() == ["[server] bar is away: i'm going away"]
    bar.send("AWAY")
    assert bar.lines() == [n("305", "bar", ":You are no longer marked as being away")]
    assert watcher.lines() == [f":{mask('bar')} AWAY"]
    assert text.lines() == ["[server] bar is back"]
    bar.send("AWAY :")  # not away already: acknowledged, nobody told
    assert bar.lines() == [n("305", "bar", ":You are no longer marked as being away")]
    assert watcher.lines() == []


def test_an_away_user_joining_is_told_once_after_the_join(net: FakeNetwork) -> None:
    watcher = register(net, "watcher", caps="away-notify")
    watcher.send("JOIN #chan")
    bar = register(net, "bar")
    bar.send("AWAY :" + "z" * 400, "JOIN #chan")
    assert watcher.lines() == [f":{mask('bar')} JOIN #chan", f":{mask('bar')} AWAY :{'z' * 300}"]


# -- user modes, OPER, KILL ------------------------------------------------------------------------------


def test_user_modes(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    register(net, "bob")
    alice.send("MODE alice", "MODE alice +i", "MODE alice +i", "MODE alice", "MODE alice -i+x", "MODE bob +i")
    alice.send("MODE nobody", "MODE alice +o")
    assert alice.lines() == [
        n("221", "alice", "+"),
        ":alice MODE alice :+i",
        n("221", "alice", "+i"),
        n("501", "alice", ":Unknown MODE flag"),
        ":alice MODE alice :-i",
        n("502", "alice", ":Can't change mode for other users"),
        n("401", "alice", "nobody :No such nick/channel"),
    ]


def test_oper_with_a_named_account_and_giving_it_up(net: FakeNetwork) -> None:
    baz = register(net, "baz")
    baz.send("OPER operuser", "OPER operuser wrong", "OPER nobody operpassword", "OPER operuser operpassword")
    assert baz.lines() == [
        n("461", "baz", "OPER :Not enough parameters"),
        n("464", "baz", ":Password incorrect"),
        n("464", "baz", ":Password incorrect"),
        n("381", "baz", ":You are now an IRC operator"),
        f":{SERVER} MODE baz +o",
    ]
    baz.send("MODE baz", "MODE baz -o", "MODE baz -o", "LUSERS")
    lines = baz.lines()
    assert lines[:2] == [n("221", "baz", "+o"), ":baz MODE baz :-o"]
    assert not any(" 252 " in line for line in lines)


def test_user_mode_w_is_set_shown_and_dropped(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send("MODE alice +w", "MODE alice +w", "MODE alice")
    alice.send("MODE alice +i-w", "MODE alice", "MODE alice -w")
    assert alice.lines() == [
        ":alice MODE alice :+w",
        n("221", "alice", "+w"),
        ":alice MODE alice :+i-w",
        n("221", "alice", "+i"),
    ]
    alice.send("OPER operuser operpassword", "MODE alice +w", "MODE alice")
    assert alice.lines()[-2:] == [":alice MODE alice :+w", n("221", "alice", "+iow")]


# -- WALLOPS -----------------------------------------------------------------------------------------------


def test_wallops_reaches_the_users_with_mode_w_and_no_one_else(net: FakeNetwork) -> None:
    oper, hears, deaf = register(net, "oper"), register(net, "hears"), register(net, "deaf")
    hears.send("MODE hears +w")
    deaf.send("MODE deaf +w", "MODE deaf -w")
    oper.send("OPER operuser operpassword")
    oper.lines(), hears.lines(), deaf.lines()
    oper.send("WALLOPS :hi everyone", "PING barrier")
    assert oper.lines() == [f":{SERVER} PONG {SERVER} barrier"]  # not +w: no copy of its own
    assert hears.lines() == [f":{mask('oper')} WALLOPS :hi everyone"]
    assert deaf.lines() == []
    oper.send("MODE oper +w", "WALLOPS one")
    assert oper.lines() == [":oper MODE oper :+w", f":{mask('oper')} WALLOPS :one"]
    assert hears.lines() == [f":{mask('oper')} WALLOPS :one"]


def test_wallops_needs_an_operator_and_a_text(net: FakeNetwork) -> None:
    alice, bob = register(net, "alice"), register(net, "bob")
    bob.send("MODE bob +w")
    bob.lines()
    alice.send("WALLOPS :hi everyone", "WALLOPS", "WALLOPS :")
    assert alice.lines() == [
        n("481", "alice", ":Permission Denied- You're not an IRC operator"),
        n("461", "alice", "WALLOPS :Not enough parameters"),
        n("461", "alice", "WALLOPS :Not enough parameters"),
    ]
    assert bob.lines() == []


def test_three_wrong_oper_attempts_close_the_connection(net: FakeNetwork) -> None:
    baz = register(net, "baz")
    baz.send("OPER a b", "OPER a b", "OPER a b", "PING after")
    assert baz.lines()[-2:] == [
        n("464", "baz", ":Password incorrect (too many failed attempts)"),
        "ERROR :Closing link: too many failed OPER attempts",
    ]
    assert not baz.is_open


def test_kill_needs_an_operator_even_for_oneself(net: FakeNetwork) -> None:
    alice, bob = register(net, "alice"), register(net, "bob")
    alice.send("KILL bob :reason", "KILL alice :myself", "KILL")
    assert alice.lines() == [
        n("481", "alice", ":Permission Denied- You're not an IRC operator"),
        n("481", "alice", ":Permission Denied- You're not an IRC operator"),
        n("461", "alice", "KILL :Not enough parameters"),
    ]
    alice.send("OPER operuser operpassword")
    alice.lines()
    alice.send("KILL alice", "KILL nobody", "KILL bob :enough")
    assert alice.lines() == [
        n("400", "alice", "KILL :Use QUIT to leave"),
        n("401", "alice", "nobody :No such nick/channel"),
        f":{mask('bob')} QUIT :Killed (alice (enough))",
    ]
    assert bob.lines() == [
        f":{mask('alice')} KILL bob :enough",
        "ERROR :Closing link: bob (Killed (alice (enough)))",
    ]
    assert not bob.is_open


def test_a_killed_text_user_is_seen_quitting(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send("OPER operuser operpassword", "JOIN #lobby")
    net.connect()
    victim = net.connect()
    alice.lines()
    alice.send("KILL guest3")
    assert alice.lines() == [":guest3!text@text.invalid QUIT :Killed (alice)"]
    assert victim.lines()[-1] == "[server] You have been killed by alice"


def test_quit_tells_channels_and_ends_with_error(net: FakeNetwork) -> None:
    alice, qux = register(net, "alice"), register(net, "qux")
    for client in (alice, qux):
        client.send("JOIN #chan")
    alice.lines(), qux.lines()
    qux.send("QUIT :qux out")
    assert qux.lines() == ["ERROR :Closing link: qux (Quit: qux out)"]
    assert alice.lines() == [f":{mask('qux')} QUIT :Quit: qux out"]
    other = register(net, "other")
    other.send("JOIN #chan")
    alice.lines()
    other.client.eof()
    assert alice.lines() == [f":{mask('other')} QUIT :Client Quit"]


# -- the server itself -----------------------------------------------------------------------------------


def test_version_time_info_links_help(net: FakeNetwork) -> None:
    net.receive(Tick(now=1.0, wall=1_700_000_000.0))
    alice = register(net, "alice")
    alice.send("VERSION", "TIME", "INFO", "LINKS", "HELP", "HELP privmsg")
    lines = alice.lines()
    assert lines[0] == n("351", "alice", "sansio-chat My.Little.Server sansio-chat")
    assert lines[1].startswith(n("005", "alice", "AWAYLEN=300 "))
    assert lines[3] == n("391", "alice", "My.Little.Server :Tuesday November 14 2023 -- 22:13:20 +00:00")
    codes = [line.split()[1] for line in lines[4:]]
    assert codes == [
        "371",
        "371",
        "374",
        "365",
        "704",
        "705",
        "705",
        "705",
        "705",
        "706",
        "704",
        "705",
        "706",
    ]
    assert lines[7] == n("365", "alice", "* :End of /LINKS list")
    assert lines[8].startswith(n("704", "alice", "index :Commands:"))
    assert lines[14:] == [
        n("704", "alice", "privmsg :PRIVMSG <target>[,<target>...] :<text>"),
        n("705", "alice", "privmsg :Sends a message to channels or nicknames."),
        n("706", "alice", "privmsg :End of /HELP"),
    ]


def test_helpop_is_help_and_a_subject_without_help_is_524(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send("HELP", "HELPOP")
    lines = alice.lines()
    assert lines[: len(lines) // 2] == lines[len(lines) // 2 :]
    alice.send("HELPOP mode", "HELP nosuchthing")
    lines = alice.lines()
    assert [line.split()[1] for line in lines] == ["704", "705", "705", "706", "524"]
    assert lines[-1] == n("524", "alice", "nosuchthing :No help available on this topic")


def test_every_command_a_client_may_send_has_help() -> None:
    answered = set(CHAT_COMMANDS) | _SESSION_COMMANDS | {"HELPOP"}
    assert answered - {"HELPOP"} == set(_COMMAND_HELP)
    index = " ".join(_HELP_INDEX)
    assert all(command in index for command in _COMMAND_HELP)


def test_ping_after_registration_is_answered_in_order(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send("WHOIS nobody", "PING abcdef", "PING :", "PING")
    assert alice.lines() == [
        n("401", "alice", "nobody :No such nick/channel"),
        n("318", "alice", "nobody :End of /WHOIS list"),
        f":{SERVER} PONG {SERVER} abcdef",
        f":{SERVER} PONG {SERVER} :",
        n("409", "alice", ":No origin specified"),
    ]

"""IRC paths off the beaten track: nicknames a shared registry answers later, odd commands, limits."""

from __future__ import annotations

import pytest

from sansio_chat import ChatServerState, DialectName, Mode, ServerConfig
from sansio_chat._lab import RelayServerState
from sansio_chat._rooms import MAX_INVITES
from tests.core_driver import FakeNetwork

from .irc import IRC, SERVER, connect, irc_net, mask, register
from .test_claims import DeferringRegistry


def n(code: str, nick: str, rest: str) -> str:
    return f":{SERVER} {code} {nick} {rest}"


@pytest.fixture
def net() -> FakeNetwork:
    return irc_net()


# -- a registry that answers later ------------------------------------------------------------------------


def deferring_irc_net() -> tuple[FakeNetwork, DeferringRegistry]:
    registry = DeferringRegistry(defer_guests=False)
    config = ServerConfig(server_name=SERVER)
    return FakeNetwork(config, state=ChatServerState(config, registry=registry)), registry


def test_registration_waits_for_the_nickname_and_the_lines_after_it_wait_too() -> None:
    net, registry = deferring_irc_net()
    irc = connect(net)
    irc.send("NICK alice", "USER alice 0 * :Alice", "PING early")
    assert irc.lines() == [] and irc.client.paused
    registry.answer(net, "alice")
    codes = irc.codes()
    assert codes[0] == "001" and codes[-1] == "PONG"


def test_a_refused_nickname_gets_433_later() -> None:
    net, registry = deferring_irc_net()
    irc = connect(net)
    irc.send("NICK alice")
    registry.answer(net, "alice", granted=False)
    assert irc.lines() == [n("433", "*", "alice :Nickname is already in use")]


def test_a_registry_that_refuses_at_once() -> None:
    class Refusing(DeferringRegistry):
        def claim(self, claim: int, key: str) -> bool | None:
            return False

    config = ServerConfig(server_name=SERVER)
    net = FakeNetwork(config, state=ChatServerState(config, registry=Refusing()))
    irc = IRC(net.connect(dialect=DialectName.IRC))
    irc.send("NICK alice")
    assert irc.lines() == [n("433", "*", "alice :Nickname is already in use")]


# -- odd commands -------------------------------------------------------------------------------------------


def test_odd_channel_commands(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send(
        "JOIN", "JOIN #chan", "MODE #nowhere", "MODE #nowhere +b", "MODE #chan +b a,b", "MODE #chan +o alice"
    )
    alice.send("MODE #chan +vvvvv alice alice alice alice alice", "MODE #chan +b ~x@text.invalid")
    assert [line.split(" ", 3)[1:3] for line in alice.lines()] == [
        ["461", "alice"],
        ["JOIN", "#chan"],
        ["353", "alice"],
        ["366", "alice"],
        ["403", "alice"],
        ["403", "alice"],
        ["696", "alice"],
        ["MODE", "#chan"],  # +v alice (once: the other four change nothing, the fifth is over the limit)
        ["MODE", "#chan"],
    ]
    alice.send("MODE #chan +b")
    assert alice.lines()[0].endswith("#chan *!~x@text.invalid alice 0")


def test_odd_user_commands(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send("NICK", "NICK :", "MODE alice +Z", "CAP LS", "CAP LS 302")
    assert alice.lines() == [
        n("431", "alice", ":No nickname given"),
        n("431", "alice", ":No nickname given"),
        n("501", "alice", ":Unknown MODE flag"),
        f":{SERVER} CAP alice LS :message-tags server-time echo-message multi-prefix userhost-in-names"
        " away-notify cap-notify setname",
        f":{SERVER} CAP alice LS :message-tags server-time echo-message multi-prefix userhost-in-names"
        " away-notify cap-notify setname",
    ]


def test_the_topic_of_a_channel_is_told_with_who_set_it(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send("JOIN #chan", "TOPIC #chan :chess", "TOPIC #chan")
    assert alice.lines()[-2:] == [n("332", "alice", "#chan chess"), n("333", "alice", "#chan alice 0")]


def test_new_capabilities_reach_a_client_in_its_channels(net: FakeNetwork) -> None:
    alice, bob = register(net, "alice"), register(net, "bob")
    alice.send("JOIN #chan")
    bob.send("JOIN #chan", "CAP REQ :message-tags")
    alice.lines(), bob.lines()
    alice.send("PRIVMSG #chan :tagged now")
    (line,) = bob.lines()
    assert line.startswith("@msgid=") and line.endswith(f":{mask('alice')} PRIVMSG #chan :tagged now")


def test_an_invisible_user_leaving_is_no_longer_counted(net: FakeNetwork) -> None:
    asker, ghost = register(net, "asker"), register(net, "ghost")
    ghost.send("MODE ghost +i", "OPER operuser operpassword", "QUIT")
    asker.send("LUSERS")
    assert asker.lines()[0] == n("251", "asker", ":There are 1 users and 0 invisible on 1 servers")


def test_a_room_forgets_its_oldest_invitations() -> None:
    net = irc_net(rate_lines=0)
    alice = register(net, "alice")
    alice.send("JOIN #chan", "MODE #chan +i")
    guests = [net.connect() for _ in range(MAX_INVITES + 1)]
    for guest in guests:
        alice.send(f"INVITE {guest.lines()[0].split()[5].rstrip('!')} #chan")
    for guest in guests:
        guest.lines()
    guests[0].send("JOIN #chan")
    assert guests[0].lines() == ["[server] Error: cannot join #chan: it is invite only (+i)"]
    guests[1].send("JOIN #chan")
    assert guests[1].lines()[0] == "[server] You are now in #chan"


def test_shutdown_says_so_to_irc_clients(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    net.shutdown()
    assert alice.lines() == ["ERROR :Server is shutting down"]
    assert not alice.is_open


# -- settings ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"server_name": "bad name"}, "server_name"),
        ({"server_name": ""}, "server_name"),
        ({"network": "two words"}, "network"),
        ({"ping_seconds": 0.0}, "ping_seconds"),
        ({"opers": (("name", ""),)}, "operator account"),
        ({"opers": (("two words", "pw"),)}, "operator account"),
    ],
)
def test_settings_are_checked(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerConfig(**settings)  # type: ignore[arg-type]


def test_only_the_relay_depends_on_flood_control_for_time() -> None:
    assert RelayServerState(ServerConfig(mode=Mode.RELAY)).uses_clock
    assert not RelayServerState(ServerConfig(mode=Mode.RELAY, rate_lines=0)).uses_clock


# -- names a client typed, echoed back ----------------------------------------------------------------------


def test_a_name_that_cannot_be_a_middle_parameter_is_shown_as_a_star(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send("WHOIS :a b", "NICK ::x", "NAMES ,", "HELP :a b", "WHOWAS :a b", "KICK #chan :a b")
    assert alice.lines() == [
        n("401", "alice", "* :No such nick/channel"),
        n("318", "alice", "* :End of /WHOIS list"),
        n("432", "alice", "* :Erroneous nickname"),
        n("366", "alice", "* :End of /NAMES list"),
        n("524", "alice", "* :No help available on this topic"),
        n("406", "alice", "* :There was no such nickname"),
        n("369", "alice", "* :End of WHOWAS"),
        n("403", "alice", "#chan :No such channel"),
    ]


def test_a_long_name_echoed_back_is_cut_to_keep_the_line_to_512_bytes(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send("WHOIS " + "€" * 160, "WHOWAS " + "x" * 490)
    lines = alice.lines()
    assert [line.split(" ")[1] for line in lines] == ["401", "318", "406", "369"]
    for line in lines:
        assert len(line.encode()) <= 510, line
    assert lines[0].endswith("€ :No such nick/channel") and lines[2].endswith("x :There was no such nickname")


def test_a_list_of_no_targets_is_not_enough_parameters(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send("JOIN ,", "PART ,", "KICK #chan ,", "TAGMSG ,", "PRIVMSG , :hi", "NOTICE ,, :hi", "NAMES ,#x")
    assert alice.lines() == [
        n("461", "alice", "JOIN :Not enough parameters"),
        n("461", "alice", "PART :Not enough parameters"),
        n("461", "alice", "KICK :Not enough parameters"),
        n("461", "alice", "TAGMSG :Not enough parameters"),
        n("411", "alice", ":No recipient given (PRIVMSG)"),
        n("366", "alice", "#x :End of /NAMES list"),
    ]


def test_a_key_or_a_ban_starting_with_a_colon_is_refused(net: FakeNetwork) -> None:
    """No IRC client could send it back as a middle parameter (``324``, ``367``, ``JOIN #a,#b key,key``)."""
    alice = register(net, "alice")
    alice.send("JOIN #chan")
    alice.lines()
    alice.send("MODE #chan +k ::x", "MODE #chan +b ::x", "MODE #chan +b a!:b@c")
    assert alice.lines() == [
        n("696", "alice", "#chan k * :Invalid mode parameter"),
        n("696", "alice", "#chan b * :Invalid mode parameter"),
        f":{mask('alice')} MODE #chan +b a!:b@c",
    ]


def test_an_empty_ban_mask_bans_nobody(net: FakeNetwork) -> None:
    """``MODE #chan +b :`` is no mask (not ``*!*@*``, which would ban everyone)."""
    alice = register(net, "alice")
    alice.send("JOIN #chan")
    alice.lines()
    alice.send("MODE #chan +b :", "MODE #chan +b")
    assert alice.lines() == [
        n("696", "alice", "#chan b * :Invalid mode parameter"),
        n("368", "alice", "#chan :End of channel ban list"),
    ]


def test_a_privmsg_whose_only_parameter_is_trailing_has_no_text(net: FakeNetwork) -> None:
    """``PRIVMSG :#chan :hi`` is one parameter, ``#chan :hi``: the fast reading of PRIVMSG agrees."""
    alice = register(net, "alice")
    alice.send("JOIN #chan", "PRIVMSG :#chan :hi", "PRIVMSG :alice :hi")
    assert alice.lines()[-2:] == [n("412", "alice", ":No text to send")] * 2


def test_a_ban_removed_in_another_case_is_shown_as_it_was_set(net: FakeNetwork) -> None:
    """Clients keep the ban list as 367 and MODE showed it: the removal names the mask they have."""
    alice = register(net, "alice")
    alice.send("JOIN #chan", "MODE #chan +b Bob!*@*")
    alice.lines()
    alice.send("MODE #chan -b BOB", "MODE #chan +b")
    assert alice.lines() == [
        f":{mask('alice')} MODE #chan -b Bob!*@*",
        n("368", "alice", "#chan :End of channel ban list"),
    ]


def test_a_whois_of_a_user_in_many_channels_lists_each_whole_over_several_lines(net: FakeNetwork) -> None:
    alice, bob = register(net, "alice"), register(net, "bob")
    rooms = [f"#{number:02d}" + "c" * 29 for number in range(50)]
    alice.send(*(f"JOIN {room}" for room in rooms))
    bob.send("WHOIS alice")
    lines = bob.lines()
    assert all(len(line.encode()) <= 510 for line in lines)
    listed = [line.partition(" :")[2] or line.split(" ")[-1] for line in lines if " 319 " in line]
    assert len(listed) > 1
    assert " ".join(listed).split(" ") == ["@" + room for room in rooms]


def test_ison_answers_with_whole_nicknames_on_one_line(net: FakeNetwork) -> None:
    """Clients count one 303 per ISON: a reply too long for a line leaves nicknames out, never cuts one."""
    nicks = [f"n{number:02d}" + "x" * 21 for number in range(20)]
    for nick in nicks:
        register(net, nick)
    alice = register(net, "alice")
    alice.send("ISON " + " ".join(nicks))
    (line,) = alice.lines()
    assert len(line.encode()) <= 510
    shown = line.partition(" :")[2].split(" ")
    assert shown == nicks[: len(shown)] and len(shown) >= 18


def test_mode_changes_too_long_for_one_line_are_shown_in_several(net: FakeNetwork) -> None:
    """Each ban mask whole (it is how clients keep the list), each MODE line within 512 bytes."""
    alice = register(net, "alice")
    alice.send("JOIN #chan")
    alice.lines()
    masks = [f"{letter}" * 115 for letter in "wxyz"]
    alice.send("MODE #chan +bbbb " + " ".join(masks))
    lines = alice.lines()
    assert all(len(line.encode()) <= 510 for line in lines)
    assert lines == [
        f":{mask('alice')} MODE #chan +bbb " + " ".join(f"{m}!*@*" for m in masks[:3]),
        f":{mask('alice')} MODE #chan +b {masks[3]}!*@*",
    ]

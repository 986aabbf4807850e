"""IRC channels: JOIN, PART, TOPIC, NAMES, LIST, KICK, INVITE and MODE, and what text clients see of them."""

from __future__ import annotations

import pytest

from sansio_chat import Tick
from tests.core_driver import FakeNetwork

from .irc import IRC, SERVER, irc_net, mask, register

ALICE, BOB, CAROL = mask("alice"), mask("bob"), mask("carol")


@pytest.fixture
def net() -> FakeNetwork:
    return irc_net()


def n(code: str, nick: str, rest: str) -> str:
    return f":{SERVER} {code} {nick} {rest}"


def in_chan(net: FakeNetwork, *nicks: str, caps: str = "") -> list[IRC]:
    clients = [register(net, nick, caps=caps) for nick in nicks]
    for client in clients:
        client.send("JOIN #chan")
    for each in net.clients.values():
        each.lines()
    return clients


# -- JOIN, PART ------------------------------------------------------------------------------------------


def test_join_creates_a_channel_with_its_creator_as_operator(net: FakeNetwork) -> None:
    alice, bob = register(net, "alice"), register(net, "bob")
    alice.send("JOIN #chan")
    assert alice.lines() == [
        f":{ALICE} JOIN #chan",
        n("353", "alice", "= #chan @alice"),
        n("366", "alice", "#chan :End of /NAMES list"),
    ]
    bob.send("JOIN #CHAN")
    assert alice.lines() == [f":{BOB} JOIN #chan"]
    assert bob.lines() == [
        f":{BOB} JOIN #chan",
        n("353", "bob", "= #chan :@alice bob"),
        n("366", "bob", "#chan :End of /NAMES list"),
    ]
    bob.send("JOIN #chan")  # again: nothing
    assert bob.lines() == []


def test_join_shows_the_topic_first_with_who_set_it(net: FakeNetwork) -> None:
    (alice,) = in_chan(net, "alice")
    net.receive(Tick(now=1.0, wall=1_000_000.0))
    alice.send("TOPIC #chan :no spoilers")
    bob = register(net, "bob")
    bob.send("JOIN #chan")
    assert bob.lines() == [
        f":{BOB} JOIN #chan",
        n("332", "bob", "#chan :no spoilers"),
        n("333", "bob", "#chan alice 1000000"),
        n("353", "bob", "= #chan :@alice bob"),
        n("366", "bob", "#chan :End of /NAMES list"),
    ]


def test_join_several_channels_with_keys_and_bad_names(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send("JOIN #a,inv@lid,#" + "b" * 33)
    # Modern IRC: an illegal channel name is 403 ERR_NOSUCHCHANNEL (479 is not standard).
    assert alice.lines()[3:] == [
        n("403", "alice", "inv@lid :No such channel (illegal name)"),
        n("403", "alice", "#" + "b" * 33 + " :No such channel (illegal name)"),
    ]
    (keeper,) = in_chan(net, "keeper")
    keeper.send("MODE #chan +k sesame")
    bob = register(net, "bob")
    bob.send("JOIN #chan,#other wrong", "JOIN #other,#chan x,sesame")
    assert bob.codes() == ["475", "JOIN", "353", "366", "JOIN", "353", "366"]


def test_join_zero_leaves_every_channel(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    alice.send("JOIN #other", "JOIN 0")
    assert alice.lines()[-2:] == [f":{ALICE} PART #chan", f":{ALICE} PART #other"]
    assert bob.lines() == [f":{ALICE} PART #chan"]


def test_a_user_may_be_in_fifty_channels(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send(*(f"JOIN #c{number}" for number in range(51)))
    assert alice.lines()[-1] == n("405", "alice", "#c50 :You have joined too many channels")


def test_part_tells_the_channel_the_parter_and_text_clients(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    text = net.connect()
    text.send("JOIN #chan")
    alice.lines(), bob.lines(), text.lines()
    bob.send("PART #chan :bye everyone")
    assert alice.lines() == bob.lines() == [f":{BOB} PART #chan :bye everyone"]
    assert text.lines() == ["[server] bob left #chan: bye everyone"]
    alice.send("PART #chan")
    assert text.lines() == ["[server] alice left #chan"]


def test_part_errors(net: FakeNetwork) -> None:
    in_chan(net, "alice")
    bob = register(net, "bob")
    bob.send("PART #chan", "PART #nowhere", "PART")
    assert bob.lines() == [
        n("442", "bob", "#chan :You're not on that channel"),
        n("403", "bob", "#nowhere :No such channel"),
        n("461", "bob", "PART :Not enough parameters"),
    ]


# -- TOPIC -----------------------------------------------------------------------------------------------


def test_topic_set_asked_unchanged_and_cleared(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    text = net.connect()
    text.send("JOIN #chan")
    alice.lines(), bob.lines(), text.lines()
    bob.send("TOPIC #chan")
    assert bob.lines() == [n("331", "bob", "#chan :No topic is set")]
    alice.send("TOPIC #chan :T0P1C")
    assert alice.lines() == bob.lines() == [f":{ALICE} TOPIC #chan :T0P1C"]
    assert text.lines() == ["[server] alice set the topic of #chan to: T0P1C"]
    alice.send("TOPIC #chan :T0P1C")  # the same: IRC clients get nothing, text clients the line
    assert alice.lines() == bob.lines() == []
    assert text.lines() == ["[server] alice set the topic of #chan to: T0P1C"]
    alice.send("TOPIC #chan :")
    assert bob.lines() == [f":{ALICE} TOPIC #chan :"]
    assert text.lines() == ["[server] alice cleared the topic of #chan"]


def test_topic_lock_is_a_mode(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    bob.send("TOPIC #chan :mine")
    assert bob.lines() == [n("482", "bob", "#chan :You're not channel operator")]
    alice.send("MODE #chan -t")
    alice.lines(), bob.lines()
    bob.send("TOPIC #chan :mine")
    assert alice.lines() == [f":{BOB} TOPIC #chan :mine"]


def test_topic_errors(net: FakeNetwork) -> None:
    (alice,) = in_chan(net, "alice")
    bob = register(net, "bob")
    bob.send("TOPIC #nowhere", "TOPIC #chan :x", "TOPIC", "TOPIC #chan")
    assert bob.lines() == [
        n("403", "bob", "#nowhere :No such channel"),
        n("442", "bob", "#chan :You're not on that channel"),
        n("461", "bob", "TOPIC :Not enough parameters"),
        n("331", "bob", "#chan :No topic is set"),
    ]
    alice.send("TOPIC #chan :" + "t" * 301)
    assert alice.lines() == [f":{SERVER} FAIL TOPIC TOO_LONG :Topic too long (max 300 characters)"]


# -- NAMES, LIST -----------------------------------------------------------------------------------------


def test_names_with_and_without_capabilities(net: FakeNetwork) -> None:
    (alice,) = in_chan(net, "alice")
    bob = register(net, "bob", caps="multi-prefix userhost-in-names")
    bob.send("JOIN #chan")
    alice.send("MODE #chan +v alice")
    bob.lines()
    bob.send("NAMES #chan")
    assert bob.lines() == [
        n("353", "bob", f"= #chan :@+{ALICE} {BOB}"),
        n("366", "bob", "#chan :End of /NAMES list"),
    ]
    alice.lines()
    alice.send("NAMES #chan,#nowhere", "NAMES #nowhere", "NAMES invalid", "NAMES")
    assert alice.lines() == [
        n("353", "alice", "= #chan :@alice bob"),
        n("366", "alice", "#chan :End of /NAMES list"),
        n("366", "alice", "#nowhere :End of /NAMES list"),
        n("366", "alice", "invalid :End of /NAMES list"),
        n("366", "alice", "* :End of /NAMES list"),
    ]


def test_names_of_a_big_channel_take_several_lines(net: FakeNetwork) -> None:
    for number in range(60):
        text = net.connect()
        text.send(f"NICK member{number:02d}_{'x' * 15}")
    alice = register(net, "alice")
    alice.send("JOIN #lobby")
    lines = alice.lines()
    assert [line.split()[1] for line in lines] == ["JOIN", "353", "353", "353", "353", "366"]
    assert all(len(line.encode()) <= 510 for line in lines)
    names = " ".join(line.partition(" :")[2] for line in lines[1:-1]).split()
    assert len(names) == 61 and names[-1] == "alice"


def test_secret_channels_and_invisible_users_are_hidden_from_outsiders(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    carol = register(net, "carol")
    bob.send("MODE bob +i")
    carol.send("NAMES #chan", "WHO #chan")
    assert carol.lines() == [
        n("353", "carol", "= #chan @alice"),
        n("366", "carol", "#chan :End of /NAMES list"),
        n("352", "carol", "#chan ~alice irc.invalid My.Little.Server alice H@ :0 Alice"),
        n("315", "carol", "#chan :End of /WHO list"),
    ]
    alice.send("MODE #chan +s")
    alice.send("NAMES #chan")
    assert alice.lines()[-2] == n("353", "alice", "@ #chan :@alice bob")
    carol.send("NAMES #chan", "LIST", "TOPIC #chan", "WHO #chan")
    assert carol.lines() == [
        n("366", "carol", "#chan :End of /NAMES list"),
        n("321", "carol", "Channel :Users  Name"),
        n("323", "carol", ":End of /LIST"),
        n("403", "carol", "#chan :No such channel"),
        n("315", "carol", "#chan :End of /WHO list"),
    ]
    text = net.connect()
    text.send("ROOMS")
    text.send("WHO #chan")
    assert text.lines()[1:] == ["[server] Rooms (1): #lobby (1)", "[server] Error: no such room #chan"]


def test_list_leaves_out_an_empty_lobby_but_rooms_lists_it(net: FakeNetwork) -> None:
    alice = register(net, "alice")
    alice.send("LIST")
    assert alice.lines() == [n("321", "alice", "Channel :Users  Name"), n("323", "alice", ":End of /LIST")]
    alice.send("JOIN #chan", "TOPIC #chan :all about it")
    alice.lines()
    text = net.connect()
    text.lines()
    alice.send("LIST", "LIST #lobby")
    assert alice.lines() == [
        n("321", "alice", "Channel :Users  Name"),
        n("322", "alice", "#lobby 1 :"),
        n("322", "alice", "#chan 1 :all about it"),
        n("323", "alice", ":End of /LIST"),
        n("321", "alice", "Channel :Users  Name"),
        n("322", "alice", "#lobby 1 :"),
        n("323", "alice", ":End of /LIST"),
    ]


# -- KICK ------------------------------------------------------------------------------------------------


def test_kick_with_and_without_a_reason(net: FakeNetwork) -> None:
    alice, bob, carol = in_chan(net, "alice", "bob", "carol")
    text = net.connect()
    text.send("JOIN #chan")
    for client in net.clients.values():
        client.lines()
    alice.send("KICK #chan bob :bye")
    assert alice.lines() == bob.lines() == carol.lines() == [f":{ALICE} KICK #chan bob :bye"]
    assert text.lines() == ["[server] bob was kicked from #chan by alice: bye"]
    alice.send("KICK #chan carol")
    assert carol.lines() == [f":{ALICE} KICK #chan carol :alice"]
    alice.send("KICK #chan guest4")
    assert text.lines() == [
        "[server] carol was kicked from #chan by alice",
        "[server] You were kicked from #chan by alice",
    ]


def test_a_kick_reason_is_cut_to_kicklen_as_isupport_says(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    alice.send("KICK #chan bob :" + "k" * 299 + "éé")
    assert alice.lines() == bob.lines() == [f":{ALICE} KICK #chan bob :" + "k" * 299 + "é"]


def test_kick_errors_and_an_operator_made_by_mode(net: FakeNetwork) -> None:
    alice, bob, _ = in_chan(net, "alice", "bob", "carol")
    outsider = register(net, "outsider")
    outsider.send("KICK #chan bob", "KICK #nowhere bob", "KICK #chan")
    bob.send("KICK #chan carol", "KICK #chan nobody")
    assert outsider.lines() == [
        n("442", "outsider", "#chan :You're not on that channel"),
        n("403", "outsider", "#nowhere :No such channel"),
        n("461", "outsider", "KICK :Not enough parameters"),
    ]
    assert bob.lines() == [n("482", "bob", "#chan :You're not channel operator")] * 2
    alice.send("MODE #chan +o bob")
    bob.lines()
    bob.send("KICK #chan nobody", "KICK #chan alice")
    assert bob.lines() == [
        n("441", "bob", "nobody #chan :They aren't on that channel"),
        f":{BOB} KICK #chan alice :bob",
    ]
    assert alice.lines()[-1] == f":{BOB} KICK #chan alice :bob"


# -- INVITE ----------------------------------------------------------------------------------------------


def test_invite_opens_an_invite_only_channel(net: FakeNetwork) -> None:
    (alice,) = in_chan(net, "alice")
    alice.send("MODE #chan +i")
    alice.lines()
    alice.send("INVITE bob #chan")
    assert alice.lines() == [n("401", "alice", "bob :No such nick/channel")]
    bob = register(net, "bob")
    bob.send("JOIN #chan")
    assert bob.lines() == [n("473", "bob", "#chan :Cannot join channel (+i)")]
    alice.send("INVITE bob #chan")
    assert alice.lines() == [n("341", "alice", "bob #chan")]
    assert bob.lines() == [f":{ALICE} INVITE bob #chan"]
    bob.send("JOIN #chan")
    assert bob.codes() == ["JOIN", "353", "366"]
    bob.send("PART #chan", "JOIN #chan")  # an invitation serves once
    assert bob.codes() == ["PART", "473"]


def test_invite_errors(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    carol, away = register(net, "carol"), register(net, "away")
    away.send("AWAY :gone")
    carol.send("INVITE bob #chan", "INVITE bob", "INVITE bob #nowhere")
    alice.send("INVITE bob #chan", "INVITE away #chan", "MODE #chan +i")
    alice.lines(), bob.lines()
    bob.send("INVITE carol #chan")
    assert carol.lines() == [
        n("442", "carol", "#chan :You're not on that channel"),
        n("461", "carol", "INVITE :Not enough parameters"),
        n("403", "carol", "#nowhere :No such channel"),
    ]
    assert bob.lines() == [n("482", "bob", "#chan :You're not channel operator")]


def test_invite_output_for_the_inviter_when_the_invitee_is_away(net: FakeNetwork) -> None:
    (alice,) = in_chan(net, "alice")
    bob = register(net, "bob")
    bob.send("AWAY :gone", "JOIN #x")
    bob.lines()
    alice.send("INVITE bob #chan", "INVITE alice #chan")
    assert alice.lines() == [
        n("341", "alice", "bob #chan"),
        n("301", "alice", "bob gone"),
        n("443", "alice", "alice #chan :is already on channel"),
    ]


def test_a_text_client_sees_an_invitation_and_may_use_it(net: FakeNetwork) -> None:
    (alice,) = in_chan(net, "alice")
    alice.send("MODE #chan +i")
    text = net.connect()
    text.send("JOIN #chan")
    assert text.lines()[-1] == "[server] Error: cannot join #chan: it is invite only (+i)"
    alice.send("INVITE guest2 #chan")
    assert text.lines() == ["[server] alice invites you to #chan"]
    text.send("JOIN chan")
    assert text.lines() == ["[server] You are now in #chan", "[server] Users in #chan (2): @alice guest2"]


# -- MODE ------------------------------------------------------------------------------------------------


def test_mode_shows_and_changes_a_channels_modes(net: FakeNetwork) -> None:
    net.receive(Tick(now=1.0, wall=1234.5))
    (alice,) = in_chan(net, "alice")
    alice.send("MODE #chan", "MODE #chan +int", "MODE #chan", "MODE #chan -int", "MODE #chan")
    assert alice.lines() == [
        n("324", "alice", "#chan +nt"),
        n("329", "alice", "#chan 1234"),
        f":{ALICE} MODE #chan +i",  # n and t were set already
        n("324", "alice", "#chan +int"),
        n("329", "alice", "#chan 1234"),
        f":{ALICE} MODE #chan -int",
        n("324", "alice", "#chan +"),
        n("329", "alice", "#chan 1234"),
    ]


def test_mode_errors(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    bob.send("MODE #chan +o bob", "MODE #nowhere +o bob", "MODE #chan +xz", "MODE", "MODE #chan +l")
    assert bob.lines() == [
        n("482", "bob", "#chan :You're not channel operator"),
        n("403", "bob", "#nowhere :No such channel"),
        n("472", "bob", "x :is an unknown mode char to me"),
        n("472", "bob", "z :is an unknown mode char to me"),
        n("461", "bob", "MODE :Not enough parameters"),
        n("696", "bob", "#chan l * :You must give a parameter"),
    ]
    register(net, "carol")
    alice.send("MODE #chan +o nobody", "MODE #chan +v dave", "MODE #chan +v carol")
    assert alice.lines() == [
        n("401", "alice", "nobody :No such nick/channel"),
        n("401", "alice", "dave :No such nick/channel"),
        n("441", "alice", "carol #chan :They aren't on that channel"),
    ]


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1000001"])
def test_a_bad_limit_or_key_gets_696_and_changes_nothing(net: FakeNetwork, value: str) -> None:
    (alice,) = in_chan(net, "alice")
    alice.send(f"MODE #chan +l {value}", "MODE #chan +k " + "k" * 33, "MODE #chan +k a,b")
    assert alice.lines() == [
        n("696", "alice", "#chan l * :Invalid mode parameter"),
        n("696", "alice", "#chan k * :Invalid mode parameter"),
        n("696", "alice", "#chan k * :Invalid mode parameter"),
    ]
    register(net, "bob").send("JOIN #chan")


def test_limit_and_key(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    alice.send("MODE #chan +l 2", "MODE #chan +k beer")
    assert bob.lines() == [f":{ALICE} MODE #chan +l 2", f":{ALICE} MODE #chan +k beer"]
    carol = register(net, "carol")
    carol.send("JOIN #chan beer")
    assert carol.lines() == [n("471", "carol", "#chan :Cannot join channel (+l)")]
    text = net.connect()
    text.send("JOIN #chan")
    assert text.lines()[-1] == "[server] Error: cannot join #chan: it needs a key (+k)"
    alice.send("MODE #chan -k", "MODE #chan +l 2")
    text.send("JOIN #chan")
    assert text.lines()[-1] == "[server] Error: cannot join #chan: it is full (+l)"
    alice.send("MODE #chan +k beer", "MODE #chan -l", "MODE #chan +l 10")
    carol.send("JOIN #chan", "JOIN #chan BEER")
    assert carol.codes() == ["475", "475"]
    text.send("JOIN #chan")
    assert text.lines()[-1] == "[server] Error: cannot join #chan: it needs a key (+k)"
    bob.lines()
    alice.send("MODE #chan -k")
    assert bob.lines() == [f":{ALICE} MODE #chan -k"]
    alice.send("MODE #chan -k")  # no key any more: no change
    assert bob.lines() == []
    alice.send("MODE #chan +k key", "MODE #chan -k whatever", "MODE #chan")
    assert alice.lines()[-2] == n("324", "alice", "#chan +ntl 10")
    bob.send("MODE #chan")
    assert bob.lines()[-2] == n("324", "bob", "#chan +ntl 10")


def test_the_key_is_shown_to_members_only(net: FakeNetwork) -> None:
    (alice,) = in_chan(net, "alice")
    alice.send("MODE #chan +k sesame")
    bob = register(net, "bob")
    bob.send("MODE #chan")
    assert bob.lines()[0] == n("324", "bob", "#chan +ntk *")
    alice.lines()
    alice.send("MODE #chan")
    assert alice.lines()[0] == n("324", "alice", "#chan +ntk sesame")


def test_bans_match_masks_without_regard_to_case(net: FakeNetwork) -> None:
    net.receive(Tick(now=1.0, wall=99.0))
    (alice,) = in_chan(net, "alice")
    alice.send("MODE #chan +b bar", "MODE #chan +b", "MODE #chan b")
    assert alice.lines() == [
        f":{ALICE} MODE #chan +b bar!*@*",
        n("367", "alice", "#chan bar!*@* alice 99"),
        n("368", "alice", "#chan :End of channel ban list"),
        n("367", "alice", "#chan bar!*@* alice 99"),
        n("368", "alice", "#chan :End of channel ban list"),
    ]
    bar = register(net, "Bar")
    bar.send("JOIN #chan")
    assert bar.lines() == [n("474", "Bar", "#chan :Cannot join channel (+b)")]
    alice.send("MODE #chan -b BAR!*@*")
    bar.send("JOIN #chan")
    assert bar.codes() == ["JOIN", "353", "366"]
    alice.send("MODE #chan +b *!*@text.invalid")
    text = net.connect()
    text.send("JOIN #chan")
    assert text.lines()[-1] == "[server] Error: cannot join #chan: you are banned (+b)"


def test_a_member_banned_after_joining_cannot_speak(net: FakeNetwork) -> None:
    alice, bar = in_chan(net, "alice", "bar")
    text = net.connect()
    text.send("JOIN #chan")
    alice.send("MODE #chan +b bar!*@*", "MODE #chan +b *!*@text.invalid")
    alice.lines(), bar.lines(), text.lines()
    bar.send("PRIVMSG #chan :hi")
    text.send("MSG hi")
    assert bar.lines() == [n("404", "bar", "#chan :Cannot send to channel (+b)")]
    assert text.lines() == ["[server] Error: cannot speak in #chan: you are banned (+b)"]
    assert alice.lines() == []
    alice.send("MODE #chan +v bar")
    bar.send("PRIVMSG #chan :hi")  # voice speaks over a ban
    assert alice.lines()[-1] == f":{mask('bar')} PRIVMSG #chan :hi"


def test_the_ban_list_has_a_limit(net: FakeNetwork) -> None:
    (alice,) = in_chan(net, "alice")
    alice.send(*(f"MODE #chan +bbbb a{i} b{i} c{i} d{i}" for i in range(25)))
    alice.lines()
    alice.send("MODE #chan +b one-too-many", "MODE #chan +b a0")
    assert alice.lines() == [n("478", "alice", "#chan b :Channel ban list is full")]


def test_moderation_and_voice(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob", caps="multi-prefix")
    text = net.connect()
    text.send("JOIN #chan")
    alice.send("MODE #chan +m")
    for client in net.clients.values():
        client.lines()
    bob.send("PRIVMSG #chan :hi")
    text.send("MSG hi")
    assert bob.lines() == [n("404", "bob", "#chan :Cannot send to channel (+m)")]
    assert text.lines() == ["[server] Error: cannot speak in #chan: it is moderated (+m)"]
    alice.send("MODE #chan +vv bob guest3")
    assert text.lines() == ["[server] alice set mode +vv bob guest3 on #chan"]
    text.send("MSG hi")
    text.send("WHO")
    assert bob.lines() == [
        f":{ALICE} MODE #chan +vv bob guest3",
        ":guest3!text@text.invalid PRIVMSG #chan :hi",
    ]
    assert text.lines() == ["[server] Users (3): @alice +bob +guest3"]
    alice.send("MODE #chan +o bob", "WHO #chan")
    assert alice.lines()[-3] == n("352", "alice", "#chan ~bob irc.invalid My.Little.Server bob H@+ :0 Bob")


def test_operator_status_is_a_set_anyone_in_it_may_change(net: FakeNetwork) -> None:
    alice, bob = in_chan(net, "alice", "bob")
    text = net.connect()
    text.send("JOIN #chan")
    alice.send("MODE #chan +o bob", "MODE #chan -o alice")
    for client in net.clients.values():
        client.lines()
    text.send("WHO")
    assert text.lines() == ["[server] Users (3): alice @bob guest3"]
    alice.send("MODE #chan +o alice")
    assert alice.lines() == [n("482", "alice", "#chan :You're not channel operator")]
    bob.send("MODE #chan +o-o+o alice bob guest3 extra")
    assert text.lines() == ["[server] bob set mode +o-o+o alice bob guest3 on #chan"]


def test_a_server_operator_may_run_any_channel_from_outside(net: FakeNetwork) -> None:
    alice, _ = in_chan(net, "alice", "bob")
    oper = register(net, "oper")
    oper.send("OPER operuser operpassword")
    oper.lines()
    oper.send("MODE #chan +m", "TOPIC #chan :ruled", "KICK #chan bob :out", "MODE #chan +m")
    assert oper.lines() == [
        f":{mask('oper')} MODE #chan +m",
        f":{mask('oper')} TOPIC #chan :ruled",
        f":{mask('oper')} KICK #chan bob :out",
    ]
    assert alice.codes() == ["MODE", "TOPIC", "KICK"]
    alice.send("MODE #chan +i")
    oper.send("JOIN #chan")
    assert oper.codes()[0] == "JOIN"


def test_mode_changes_past_the_isupport_modes_limit_are_ignored_without_a_reply(net: FakeNetwork) -> None:
    """``MODES=4``: a client sends at most four changes with an argument in one ``MODE``.

    Modern IRC defines no reply for more; as classic servers do, the changes
    whose argument comes after the fourth are ignored (their arguments used
    up), and the rest of the line is made.  Changes without an argument are
    not counted.
    """
    alice, *others = in_chan(net, "alice", "b1", "b2", "b3", "b4", "b5")
    alice.send("MODE #chan +vvvvvmi b1 b2 b3 b4 b5")
    assert alice.lines() == [f":{ALICE} MODE #chan +vvvvmi b1 b2 b3 b4"]
    assert others[4].lines() == [f":{ALICE} MODE #chan +vvvvmi b1 b2 b3 b4"]
    alice.send("NAMES #chan")
    assert alice.lines()[0] == n("353", "alice", "= #chan :@alice +b1 +b2 +b3 +b4 b5")

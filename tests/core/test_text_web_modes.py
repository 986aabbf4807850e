"""Room modes, invitations and away states set by text and web users, through the one core.

The rules are those IRC users already had (tests/core/test_irc_rooms.py):
the text protocol spells them ``MODE <room> +o bob``, ``INVITE bob``,
``AWAY lunch``; the web protocol ``{"cmd": "mode", ...}``, ``invite``,
``away``.  Every dialect sees what the others do.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.core_driver import OPER_PASSWORD, Client, FakeNetwork

from .irc import irc_net, register
from .test_web import error, web

ROOM_MODE_USAGE = "[server] Error: usage: MODE <room> [+|-]<letters> [<arguments>]"
OPERATORS_ONLY = "[server] Error: permission denied, room operators only"


@pytest.fixture
def net() -> FakeNetwork:
    return irc_net()


def say(client: Client, *lines: str) -> None:
    """A text client's lines, in order."""
    for line in lines:
        client.send(line)


def web_user(net: FakeNetwork, nick: str) -> Client:
    """A web client named ``nick``, and everyone else's lines read (its arrival, its rename)."""
    client = web(net, nick)
    for other in net.clients.values():
        if other is not client:
            other.lines()
    return client


def den(net: FakeNetwork, *nicks: str) -> list[Client]:
    """Text users who join #den in order (the first is its operator), everything so far read."""
    clients = net.join(*nicks)
    for client in clients:
        client.send("JOIN den")
    for client in net.clients.values():
        client.lines()
    return clients


# -- operators ------------------------------------------------------------------------------------------


def test_a_text_room_operator_ops_a_member_who_can_then_kick_and_set_the_topic(net: FakeNetwork) -> None:
    alice, bob, carol = den(net, "alice", "bob", "carol")
    say(bob, "KICK carol")
    assert bob.lines() == [OPERATORS_ONLY]

    say(alice, "MODE den +o bob")
    notice = "[server] alice set mode +o bob on #den"
    assert alice.lines() == bob.lines() == carol.lines() == [notice]
    say(bob, "WHO", "TOPIC bob's den", "KICK carol out")
    assert bob.lines() == [
        "[server] Users (3): @alice @bob carol",
        "[server] bob set the topic of #den to: bob's den",
        "[server] carol was kicked from #den by bob: out",
    ]
    assert carol.lines() == [
        "[server] bob set the topic of #den to: bob's den",
        "[server] You were kicked from #den by bob: out",
    ]

    say(alice, "MODE #den -o+v bob bob")
    assert bob.lines() == ["[server] alice set mode -o+v bob bob on #den"]
    say(bob, "KICK alice")
    assert bob.lines() == [OPERATORS_ONLY]


def test_a_text_user_who_is_not_a_room_operator_is_refused(net: FakeNetwork) -> None:
    alice, bob = den(net, "alice", "bob")
    for line in ("MODE den +o bob", "MODE den -t", "MODE den +b alice"):
        say(bob, line)
        assert bob.lines() == [OPERATORS_ONLY]
    assert alice.lines() == []
    say(bob, "MODE den", "MODE den +b")  # asking is for everyone
    assert bob.lines() == ["[server] Modes of #den: +nt", "[server] #den bans nobody"]


def test_an_irc_user_sees_a_text_operators_mode_change_and_a_web_user_too(net: FakeNetwork) -> None:
    (alice,) = den(net, "alice")
    ann = register(net, "ann")
    ann.send("JOIN #den")
    browser = web_user(net, "wes")
    browser.send_json({"cmd": "join", "room": "den"})
    alice.lines(), ann.lines(), browser.events()

    say(alice, "MODE den +v-t ann")
    assert ann.lines() == [":alice!text@text.invalid MODE #den +v-t ann"]
    assert browser.events() == [
        {"type": "mode", "target": "#den", "modes": "+v-t", "args": ["ann"], "by": "alice"}
    ]


# -- the topic lock ----------------------------------------------------------------------------------------


def test_minus_t_lets_every_text_member_set_the_topic_and_plus_t_locks_it_again(net: FakeNetwork) -> None:
    alice, bob = den(net, "alice", "bob")
    say(bob, "TOPIC mine")
    assert bob.lines() == [OPERATORS_ONLY]

    say(alice, "MODE den -t")
    say(bob, "TOPIC mine")
    assert bob.lines() == [
        "[server] alice set mode -t on #den",
        "[server] bob set the topic of #den to: mine",
    ]

    say(alice, "MODE den +t")
    say(bob, "TOPIC mine again")
    assert bob.lines() == ["[server] alice set mode +t on #den", OPERATORS_ONLY]
    assert alice.lines()[-1] == "[server] alice set mode +t on #den"


# -- moderation --------------------------------------------------------------------------------------------


def test_plus_m_silences_unvoiced_text_and_web_users_with_the_existing_error(net: FakeNetwork) -> None:
    alice, bob = den(net, "alice", "bob")
    browser = web_user(net, "wes")
    browser.send_json({"cmd": "join", "room": "den"})
    browser.events(), alice.lines(), bob.lines()

    say(alice, "MODE den +m")
    say(bob, "MSG hello?")
    browser.send_json({"cmd": "msg", "text": "anyone?"})
    assert bob.lines() == [
        "[server] alice set mode +m on #den",
        "[server] Error: cannot speak in #den: it is moderated (+m)",
    ]
    assert browser.events() == [
        {"type": "mode", "target": "#den", "modes": "+m", "args": [], "by": "alice"},
        error("cannot-speak", "cannot speak in #den: it is moderated (+m)"),
    ]
    assert alice.lines() == ["[server] alice set mode +m on #den"]

    say(alice, "MODE den +vv bob wes", "MSG operators may")
    say(bob, "MSG voiced now")
    browser.send_json({"cmd": "msg", "text": "me too"})
    assert alice.lines() == [
        "[server] alice set mode +vv bob wes on #den",
        "[bob] voiced now",
        "[wes] me too",
    ]


# -- invitations -------------------------------------------------------------------------------------------


def test_plus_i_then_invite_lets_a_text_user_in(net: FakeNetwork) -> None:
    alice, bob = den(net, "alice", "bob")
    carol = net.join("carol")[0]
    say(alice, "MODE den +i")
    say(carol, "JOIN den")
    assert carol.lines() == ["[server] Error: cannot join #den: it is invite only (+i)"]

    say(bob, "INVITE carol")
    assert bob.lines() == ["[server] alice set mode +i on #den", OPERATORS_ONLY]
    say(alice, "INVITE carol")
    assert alice.lines() == ["[server] alice set mode +i on #den", "[server] You invited carol to #den"]
    assert carol.lines() == ["[server] alice invites you to #den"]
    say(carol, "JOIN den")
    assert carol.lines() == ["[server] You are now in #den", "[server] Users in #den (3): @alice bob carol"]


def test_a_web_operator_invites_a_text_user_by_room_and_an_irc_user_sees_the_text_invitation(
    net: FakeNetwork,
) -> None:
    browser = web_user(net, "wes")
    browser.send_json({"cmd": "join", "room": "den"})
    browser.send_json({"cmd": "mode", "modes": "+i"})
    browser.events()
    tina = net.join("tina")[0]
    browser.send_json({"cmd": "invite", "nick": "tina", "room": "#den"})
    assert browser.events() == [{"type": "invited", "nick": "tina", "room": "#den"}]
    assert tina.lines() == ["[server] wes invites you to #den"]

    ann = register(net, "ann")
    say(tina, "JOIN den")
    browser.send_json({"cmd": "mode", "modes": "-i"})
    say(tina, "INVITE ann")  # without +i, any member may invite
    assert ann.lines() == [":tina!text@text.invalid INVITE ann #den"]


def test_a_text_user_invites_to_a_room_it_names_if_it_is_in_it(net: FakeNetwork) -> None:
    (alice,) = den(net, "alice")
    carol, dave = net.join("carol", "dave")
    say(carol, "INVITE dave den")
    assert carol.lines() == ["[server] Error: you are not in #den"]
    say(alice, "INVITE carol #den")
    assert alice.lines() == ["[server] You invited carol to #den"]
    assert carol.lines() == ["[server] alice invites you to #den"]
    assert dave.lines() == []


# -- keys ----------------------------------------------------------------------------------------------------


def test_plus_k_refuses_text_users_who_cannot_give_a_key_and_an_invitation_lets_them_in(
    net: FakeNetwork,
) -> None:
    (alice,) = den(net, "alice")
    bob = net.join("bob")[0]
    say(alice, "MODE den +k sesame", "MODE den")
    assert alice.lines() == [
        "[server] alice set mode +k sesame on #den",
        "[server] Modes of #den: +ntk sesame",
    ]
    say(bob, "MODE den", "JOIN den")
    assert bob.lines() == [
        "[server] Modes of #den: +ntk *",  # the key is for the members' eyes
        "[server] Error: cannot join #den: it needs a key (+k)",
    ]
    say(alice, "INVITE bob")
    bob.lines()
    say(bob, "JOIN den")
    assert bob.lines() == ["[server] You are now in #den", "[server] Users in #den (2): @alice bob"]


def test_plus_k_lets_in_a_web_user_who_gives_the_key(net: FakeNetwork) -> None:
    (alice,) = den(net, "alice")
    say(alice, "MODE den +k sesame")
    browser = web_user(net, "wes")
    browser.send_json({"cmd": "join", "room": "den", "key": "open"})
    browser.send_json({"cmd": "join", "room": "den"})
    browser.send_json({"cmd": "join", "room": "den", "key": "sesame"})
    assert browser.events() == [
        error("bad-key", "cannot join #den: it needs a key (+k)"),
        error("bad-key", "cannot join #den: it needs a key (+k)"),
        {"type": "joined", "room": "#den"},
        {
            "type": "users",
            "room": "#den",
            "users": [{"nick": "alice", "op": True}, {"nick": "wes", "op": False}],
        },
    ]


# -- away ----------------------------------------------------------------------------------------------------


def test_away_from_a_text_user_shows_to_irc_users_and_to_web_users(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    watcher = register(net, "watcher", caps="away-notify")
    watcher.send("JOIN #lobby")
    browser = web_user(net, "wes")
    watcher.lines(), alice.lines()

    say(alice, "AWAY gone to lunch")
    assert alice.lines() == ["[server] You are away: gone to lunch"]
    assert bob.lines() == ["[server] alice is away: gone to lunch"]
    assert watcher.lines() == [":alice!text@text.invalid AWAY :gone to lunch"]
    assert browser.events() == [{"type": "away", "nick": "alice", "text": "gone to lunch"}]
    watcher.send("WHOIS alice")
    assert ":My.Little.Server 301 watcher alice :gone to lunch" in watcher.lines()

    say(alice, "AWAY")
    assert alice.lines() == ["[server] You are back"]
    assert bob.lines() == ["[server] alice is back"]
    assert watcher.lines() == [":alice!text@text.invalid AWAY"]
    assert browser.events() == [{"type": "away", "nick": "alice", "text": None}]


def test_away_from_a_web_user_shows_to_text_and_irc_users(net: FakeNetwork) -> None:
    (tina,) = net.join("tina")
    ann = register(net, "ann")
    browser = web_user(net, "wes")
    browser.send_json({"cmd": "away", "text": "brb"})
    assert browser.events() == [{"type": "away", "nick": "wes", "text": "brb"}]
    assert tina.lines() == ["[server] wes is away: brb"]
    ann.send("PRIVMSG wes :there?")
    assert ann.lines() == [":My.Little.Server 301 ann wes brb"]
    browser.events()
    browser.send_json({"cmd": "away", "text": None})
    assert browser.events() == [{"type": "away", "nick": "wes", "text": None}]
    assert tina.lines() == ["[server] wes is back"]


def test_a_blank_away_message_means_back_in_every_dialect(net: FakeNetwork) -> None:
    (tina,) = net.join("tina")
    ann = register(net, "ann")
    ann.send("JOIN #lobby")
    browser = web_user(net, "wes")
    ann.send("AWAY :lunch")
    browser.send_json({"cmd": "away", "text": "brb"})
    ann.lines(), browser.events(), tina.lines()
    ann.send("AWAY :   ")
    assert ann.lines() == [":My.Little.Server 305 ann :You are no longer marked as being away"]
    browser.send_json({"cmd": "away", "text": " \t "})
    assert browser.events() == [
        {"type": "away", "nick": "ann", "text": None},
        {"type": "away", "nick": "wes", "text": None},
    ]
    assert tina.lines() == ["[server] ann is back", "[server] wes is back"]


# -- showing modes and bans -------------------------------------------------------------------------------


def test_mode_room_shows_its_modes_and_its_ban_list_to_text_and_web_users(net: FakeNetwork) -> None:
    (alice,) = den(net, "alice")
    browser = web_user(net, "wes")
    say(alice, "MODE den -nt", "MODE den")
    assert alice.lines() == ["[server] alice set mode -nt on #den", "[server] #den has no modes"]
    say(alice, "MODE den +l 10", "MODE den +b troll", "MODE den +b", "MODE den")
    assert alice.lines() == [
        "[server] alice set mode +l 10 on #den",
        "[server] alice set mode +b troll!*@* on #den",
        "[server] Bans of #den (1): troll!*@* (by alice)",
        "[server] Modes of #den: +l 10",
    ]
    browser.send_json({"cmd": "mode", "room": "#den"})
    browser.send_json({"cmd": "mode", "room": "den", "modes": "-b"})
    browser.send_json({"cmd": "mode"})  # its own room
    assert browser.events() == [
        {"type": "modes", "room": "#den", "modes": "+l", "args": ["10"]},
        {"type": "bans", "room": "#den", "bans": [{"mask": "troll!*@*", "by": "alice"}]},
        {"type": "modes", "room": "#lobby", "modes": "+nt", "args": []},
    ]


def test_a_web_operator_changes_the_modes_of_its_own_room(net: FakeNetwork) -> None:
    (tina,) = net.join("tina")
    browser = web_user(net, "wes")
    browser.send_json({"cmd": "join", "room": "den"})
    say(tina, "JOIN den")
    browser.events()
    browser.send_json({"cmd": "mode", "modes": "+o-t", "args": ["tina"]})
    assert tina.lines()[-1] == "[server] wes set mode +o-t tina on #den"
    assert browser.events() == [
        {"type": "mode", "target": "#den", "modes": "+o-t", "args": ["tina"], "by": "wes"}
    ]
    browser.send_json({"cmd": "mode", "modes": "+l", "args": ["x"]})
    assert browser.events() == [error("invalid-mode", "invalid LIMIT for #den")]


# -- errors --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        ("MODE den +x", ROOM_MODE_USAGE),  # no such mode letter
        ("MODE den +k", ROOM_MODE_USAGE),  # a key without its argument
        ("MODE den +t bob", ROOM_MODE_USAGE),  # an argument left over
        ("MODE den t", ROOM_MODE_USAGE),  # no sign
        ("MODE den +-", ROOM_MODE_USAGE),  # signs alone
        ("MODE den +tb", ROOM_MODE_USAGE),  # a ban list asked for among changes
        ("MODE +t", "[server] Error: usage: MODE [+w|-w|+B|-B]"),  # no room
        ("MODE nowhere", "[server] Error: no such room nowhere"),
        ("MODE nowhere +t", "[server] Error: no such room nowhere"),
        ("MODE den +o nobody", "[server] Error: no such nickname nobody"),
        ("MODE den +v carol", "[server] Error: carol is not in #den"),
        ("MODE den +l many", "[server] Error: invalid LIMIT for #den"),
        ("MODE den +k a,b", "[server] Error: invalid KEY for #den"),
        ("MODE den +k :a", "[server] Error: invalid KEY for #den"),  # IRC could not show it in 324
        ("MODE den +b :a", "[server] Error: invalid BAN for #den"),
        ("MODE den +b a b", ROOM_MODE_USAGE),
        ("MODE den +b " + "x" * 201, "[server] Error: invalid BAN for #den"),
        ("INVITE", "[server] Error: usage: INVITE <nickname> [<room>]"),
        ("INVITE carol den more", "[server] Error: usage: INVITE <nickname> [<room>]"),
        ("INVITE nobody", "[server] Error: no such nickname nobody"),
        ("INVITE bob", "[server] Error: bob is already in #den"),
        ("INVITE carol nowhere", "[server] Error: no such room nowhere"),
    ],
)
def test_text_mode_and_invite_errors(net: FakeNetwork, line: str, reply: str) -> None:
    alice, bob = den(net, "alice", "bob")
    net.join("carol")
    say(alice, line)
    assert alice.lines() == [reply]
    assert bob.lines() == []


def test_invite_and_mode_of_ones_own_room_while_in_none(net: FakeNetwork) -> None:
    alice, bob = den(net, "alice", "bob")
    say(alice, "KICK bob")
    bob.lines()
    say(bob, "INVITE alice")
    assert bob.lines() == ["[server] Error: you are not in a room, use JOIN <room>"]
    browser = web_user(net, "wes")
    browser.send_json({"cmd": "kick", "nick": "wes"})  # not an operator of #lobby: stays
    browser.events()
    say(alice, "MODE den +i", "INVITE wes")
    browser.send_json({"cmd": "join", "room": "den"})
    say(alice, "KICK wes")
    browser.events()
    browser.send_json({"cmd": "mode", "modes": "+t"})
    browser.send_json({"cmd": "mode"})
    browser.send_json({"cmd": "invite", "nick": "alice"})
    not_in_a_room = error("not-in-room", "you are not in a room, use JOIN <room>")
    assert browser.events() == [not_in_a_room] * 3


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        ({"cmd": "mode", "modes": "+x"}, error("invalid-field", "invalid field modes", field="modes")),
        ({"cmd": "mode", "modes": "t"}, error("invalid-field", "invalid field modes", field="modes")),
        ({"cmd": "mode", "modes": "+-"}, error("invalid-field", "invalid field modes", field="modes")),
        ({"cmd": "mode", "modes": 5}, error("invalid-field", "invalid field modes", field="modes")),
        ({"cmd": "mode", "modes": "+o"}, error("missing-field", "missing field args", field="args")),
        ({"cmd": "mode", "modes": "+tb"}, error("missing-field", "missing field args", field="args")),
        (
            {"cmd": "mode", "modes": "+o", "args": [""]},
            error("missing-field", "missing field args", field="args"),
        ),
        (
            {"cmd": "mode", "modes": "+t", "args": ["x"]},
            error("invalid-field", "invalid field args", field="args"),
        ),
        (
            {"cmd": "mode", "modes": "+o", "args": "x"},
            error("invalid-field", "invalid field args", field="args"),
        ),
        (
            {"cmd": "mode", "modes": "+o", "args": [3]},
            error("invalid-field", "invalid field args", field="args"),
        ),
        (
            {"cmd": "mode", "modes": "+o", "args": ["a\x07"]},
            error("control-character", "control characters are not allowed"),
        ),
        ({"cmd": "mode", "room": 5}, error("invalid-field", "invalid field room", field="room")),
        ({"cmd": "mode", "room": "nowhere"}, error("no-such-room", "no such room nowhere")),
        (
            {"cmd": "mode", "modes": "+t"},
            error("permission-denied", "permission denied, room operators only"),
        ),
        ({"cmd": "invite"}, error("missing-field", "missing field nick", field="nick")),
        (
            {"cmd": "invite", "nick": "tina\n"},
            error("control-character", "control characters are not allowed"),
        ),
        (
            {"cmd": "invite", "nick": "tina", "room": []},
            error("invalid-field", "invalid field room", field="room"),
        ),
        ({"cmd": "invite", "nick": "nobody"}, error("no-such-nick", "no such nickname nobody")),
        ({"cmd": "invite", "nick": "tina", "room": "den"}, error("no-such-room", "no such room den")),
        ({"cmd": "invite", "nick": "tina"}, error("user-in-room", "tina is already in #lobby")),
        ({"cmd": "away", "text": 3}, error("invalid-field", "invalid field text", field="text")),
        ({"cmd": "away", "text": "a\x1b"}, error("control-character", "control characters are not allowed")),
        ({"cmd": "join", "room": "den", "key": 3}, error("invalid-field", "invalid field key", field="key")),
    ],
)
def test_web_mode_invite_and_away_errors(
    net: FakeNetwork, message: dict[str, Any], reply: dict[str, Any]
) -> None:
    (tina,) = net.join("tina")
    browser = web_user(net, "wes")
    browser.send_json(message)
    assert browser.events() == [reply]
    assert tina.lines() == []


# -- a web user's own modes ------------------------------------------------------------------------------


def test_a_web_user_shows_its_modes_and_hears_wallops_after_usermode_plus_w(net: FakeNetwork) -> None:
    (boss,) = net.join("boss")
    browser = web_user(net, "wes")
    browser.send_json({"cmd": "usermode"})
    browser.send_json({"cmd": "usermode", "modes": None})  # null: absent
    assert browser.events() == [{"type": "usermodes", "modes": ""}] * 2

    say(boss, f"OPER {OPER_PASSWORD}", "WALLOPS before")
    assert browser.events() == []  # not asked for yet
    browser.send_json({"cmd": "usermode", "modes": "+w"})
    browser.send_json({"cmd": "usermode", "modes": "+w"})  # no change: no event
    browser.send_json({"cmd": "usermode"})
    assert browser.events() == [
        {"type": "usermode", "nick": "wes", "modes": "+w"},
        {"type": "usermodes", "modes": "+w"},
    ]
    boss.lines()
    say(boss, "WALLOPS restart at noon")
    assert browser.events() == [{"type": "wallops", "from": "boss", "text": "restart at noon"}]
    assert boss.lines() == []  # an operator is not +w by being one

    browser.send_json({"cmd": "usermode", "modes": "-w"})
    say(boss, "WALLOPS again")
    assert browser.events() == [{"type": "usermode", "nick": "wes", "modes": "-w"}]


def test_a_web_user_says_it_is_a_bot_and_text_and_web_lists_mark_it(net: FakeNetwork) -> None:
    (tina,) = net.join("tina")
    robo = web_user(net, "robo")
    watcher = web_user(net, "wes")
    robo.events()
    robo.send_json({"cmd": "usermode", "modes": "+B"})
    robo.send_json({"cmd": "usermode"})
    assert robo.events() == [
        {"type": "usermode", "nick": "robo", "modes": "+B"},
        {"type": "usermodes", "modes": "+B"},
    ]
    assert tina.lines() == []  # a user's own modes are its own news
    assert watcher.events() == []

    say(tina, "WHO")
    assert tina.lines() == ["[server] Users (3): tina robo(bot) wes"]
    watcher.send_json({"cmd": "who"})
    assert watcher.events() == [
        {
            "type": "users",
            "room": "#lobby",
            "users": [
                {"nick": "tina", "op": False},
                {"nick": "robo", "op": False, "bot": True},
                {"nick": "wes", "op": False},
            ],
        }
    ]

    robo.send_json({"cmd": "usermode", "modes": "+w-B"})  # several at once, signs where they change
    assert robo.events() == [{"type": "usermode", "nick": "robo", "modes": "+w-B"}]
    robo.send_json({"cmd": "usermode", "modes": "+B-B+B"})  # a letter repeated counts as its last
    assert robo.events() == [{"type": "usermode", "nick": "robo", "modes": "+B"}]
    say(tina, "WHO")
    assert tina.lines() == ["[server] Users (3): tina robo(bot) wes"]


def test_a_web_operators_usermodes_show_o(net: FakeNetwork) -> None:
    browser = web_user(net, "wes")
    browser.send_json({"cmd": "oper", "password": OPER_PASSWORD})
    browser.send_json({"cmd": "usermode", "modes": "+wB"})
    browser.send_json({"cmd": "usermode"})
    assert browser.events() == [
        {"type": "oper"},
        {"type": "usermode", "nick": "wes", "modes": "+wB"},
        {"type": "usermodes", "modes": "+owB"},
    ]


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        ({"cmd": "usermode", "modes": "w"}, error("invalid-field", "invalid field modes", field="modes")),
        ({"cmd": "usermode", "modes": " "}, error("invalid-field", "invalid field modes", field="modes")),
        ({"cmd": "usermode", "modes": "+"}, error("invalid-field", "invalid field modes", field="modes")),
        ({"cmd": "usermode", "modes": "+-"}, error("invalid-field", "invalid field modes", field="modes")),
        ({"cmd": "usermode", "modes": "+i"}, error("invalid-field", "invalid field modes", field="modes")),
        ({"cmd": "usermode", "modes": "-o"}, error("invalid-field", "invalid field modes", field="modes")),
        ({"cmd": "usermode", "modes": "+wx"}, error("invalid-field", "invalid field modes", field="modes")),
        ({"cmd": "usermode", "modes": "+W"}, error("invalid-field", "invalid field modes", field="modes")),
        ({"cmd": "usermode", "modes": 1}, error("invalid-field", "invalid field modes", field="modes")),
        ({"cmd": "usermode", "modes": ["+w"]}, error("invalid-field", "invalid field modes", field="modes")),
        (
            {"cmd": "usermode", "modes": "+w\x00"},
            error("control-character", "control characters are not allowed"),
        ),
        (
            {"cmd": "usermode", "modes": "+\ud800"},  # not text
            error("invalid-field", "invalid field modes", field="modes"),
        ),
        ({"cmd": "Usermode"}, error("unknown-command", "invalid command Usermode", cmd="Usermode")),
        ({"cmd": "umode"}, error("unknown-command", "invalid command umode", cmd="umode")),
    ],
)
def test_web_usermode_errors_change_nothing(
    net: FakeNetwork, message: dict[str, Any], reply: dict[str, Any]
) -> None:
    (tina,) = net.join("tina")
    browser = web_user(net, "wes")
    browser.send_json(message)
    browser.send_json({"cmd": "usermode"})
    assert browser.events() == [reply, {"type": "usermodes", "modes": ""}]
    assert tina.lines() == []

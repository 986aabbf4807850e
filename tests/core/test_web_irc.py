"""What a web client sees of IRC clients: modes, voice, notices, actions, CTCP, away, invitations, parts."""

from __future__ import annotations

from typing import Any

from tests.core_driver import FakeNetwork

from .irc import irc_net, register
from .test_web import web


def test_a_web_client_sees_what_an_irc_client_does_as_events() -> None:
    net: FakeNetwork = irc_net()
    ann = register(net, "ann")
    ann.send("JOIN #den")
    browser, carol = web(net, "wes"), web(net, "carol")
    browser.send_json({"cmd": "join", "room": "den"})
    browser.events(), carol.events(), ann.lines()

    ann.send("MODE #den +v wes", "NOTICE #den :heads up", "PRIVMSG #den :\x01VERSION\x01")
    ann.send("PRIVMSG wes :\x01ACTION waves\x01")
    browser.send_json({"cmd": "who"})
    assert browser.events() == [
        {"type": "mode", "target": "#den", "modes": "+v", "args": ["wes"], "by": "ann"},
        {"type": "message", "room": "#den", "from": "ann", "text": "heads up", "kind": "notice"},
        {"type": "private", "from": "ann", "to": "wes", "text": "waves", "kind": "action"},
        {
            "type": "users",
            "room": "#den",
            "users": [{"nick": "ann", "op": True}, {"nick": "wes", "op": False, "voice": True}],
        },
    ]

    ann.send("AWAY :lunch")
    browser.send_json({"cmd": "tell", "nick": "ann", "text": "there?"})
    ann.send("AWAY")
    away: list[dict[str, Any]] = [
        {"type": "away", "nick": "ann", "text": "lunch"},  # whoever shares a room with ann
        {"type": "away", "nick": "ann", "text": "lunch"},  # the answer to a private message
        {"type": "away", "nick": "ann", "text": None},
    ]
    assert browser.events() == away

    ann.send("MODE #den +i", "INVITE carol #den", "PART #den :gone fishing")
    assert carol.events() == [{"type": "invite", "from": "ann", "room": "#den"}]
    assert browser.events() == [
        {"type": "mode", "target": "#den", "modes": "+i", "args": [], "by": "ann"},
        {"type": "part", "room": "#den", "nick": "ann", "reason": "gone fishing"},
    ]


def test_a_web_client_sees_which_users_are_bots() -> None:
    net: FakeNetwork = irc_net()
    robo = register(net, "robo")
    robo.send("JOIN #lobby", "MODE robo +B", "SETNAME :Robo")  # (a real name a web client never sees)
    browser = web(net, "wes")
    browser.send_json({"cmd": "who"})
    assert browser.events() == [
        {
            "type": "users",
            "room": "#lobby",
            "users": [{"nick": "robo", "op": False, "bot": True}, {"nick": "wes", "op": False}],
        }
    ]


def test_a_topic_an_irc_client_clears_is_null_for_a_web_client() -> None:
    """``topic``'s ``null`` means none, whether asked for or just cleared (``TOPIC #den :``)."""
    net: FakeNetwork = irc_net()
    ann = register(net, "ann")
    ann.send("JOIN #den", "TOPIC #den :games tonight")
    browser = web(net, "wes")
    browser.send_json({"cmd": "join", "room": "den"})
    browser.events(), ann.lines()

    ann.send("TOPIC #den :")
    browser.send_json({"cmd": "topic"})
    assert browser.events() == [
        {"type": "topic", "room": "#den", "topic": None, "by": "ann"},
        {"type": "topic", "room": "#den", "topic": None},
    ]

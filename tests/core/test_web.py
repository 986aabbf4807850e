"""The web dialect (docs/web.md): JSON commands in whole messages, JSON events out, the same chat."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from sansio_chat import (
    Close,
    CloseReason,
    ConnectionOpened,
    ConnectionReset,
    DataReceived,
    DialectName,
    MessagesReceived,
    Mode,
    PauseReading,
    ResumeReading,
    Send,
    ServerConfig,
    Tick,
    new_server_state,
)
from sansio_chat._replies import ErrorKind
from sansio_chat._web_dialect import error_code
from tests.core_driver import OPER_PASSWORD, Client, FakeNetwork
from tests.expected import WELCOME

from .irc import irc_net, register

DOC = (Path(__file__).resolve().parents[2] / "docs" / "web.md").read_text()


def web(net: FakeNetwork, nick: str | None = None) -> Client:
    """A web client past its welcome (and renamed to ``nick``, the rename's events read)."""
    client = net.connect_web()
    [welcome] = client.events()
    assert welcome["type"] == "welcome"
    if nick is not None:
        client.send_json({"cmd": "nick", "nick": nick})
        client.events()
    return client


def error(code: str, message: str, **extra: str) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


# -- connecting ---------------------------------------------------------------------


def test_a_web_user_lands_in_the_lobby_under_a_guest_name_like_a_text_user(net: FakeNetwork) -> None:
    text = net.connect()
    browser = net.connect_web()
    assert browser.events() == [
        {"type": "welcome", "nick": "guest2", "room": "#lobby", "max_message_bytes": 4096}
    ]
    assert text.lines() == [WELCOME.format("guest1"), "[server] guest2 is connected"]
    net.connect()
    assert browser.events() == [{"type": "join", "room": "#lobby", "nick": "guest3", "connected": True}]


def test_every_event_is_one_line_of_ascii_json(net: FakeNetwork) -> None:
    alice, browser = net.connect(), web(net)
    alice.send("MSG héllo 世界 \x1b no")  # a control character: refused, nothing relayed
    alice.send("MSG héllo 世界")
    data = bytes(browser.received[browser._read :])
    assert data.isascii() and data.count(b"\n") == 1 and data.endswith(b"\n")
    assert browser.events() == [
        {"type": "message", "room": "#lobby", "from": "guest1", "text": "héllo 世界", "kind": "msg"}
    ]


def test_the_messages_of_one_read_are_answered_with_joined_sends(net: FakeNetwork) -> None:
    alice, bob = web(net, "alice"), web(net, "bob")
    alice.events()
    actions = bob.send_messages(
        b'{"cmd":"ping","token":"a"}', b'{"cmd":"msg","text":"one"}', b'{"cmd":"msg","text":"two"}'
    )
    [pong, words] = [a for a in actions if isinstance(a, Send)]
    assert pong.conns == (bob.conn,) and words.conns == (alice.conn,)
    assert words.data.count(b"\n") == 2  # one send, two events, each on its line
    assert [e["text"] for e in alice.events()] == ["one", "two"]
    assert bob.events() == [{"type": "pong", "token": "a"}]


# -- commands -------------------------------------------------------------------------


def test_words_reach_text_and_web_users_alike_but_never_their_sender(net: FakeNetwork) -> None:
    alice, bob = web(net, "alice"), web(net, "bob")
    carol = net.connect()
    alice.events(), bob.events(), carol.lines()
    alice.send_json({"cmd": "msg", "text": "hello  <b>all</b>"})
    alice.send_json({"cmd": "me", "text": "waves"})
    carol.send("MSG hi")
    message = {
        "type": "message",
        "room": "#lobby",
        "from": "alice",
        "text": "hello  <b>all</b>",
        "kind": "msg",
    }
    action = {"type": "message", "room": "#lobby", "from": "alice", "text": "waves", "kind": "action"}
    from_carol = {"type": "message", "room": "#lobby", "from": "guest3", "text": "hi", "kind": "msg"}
    assert bob.events() == [message, action, from_carol]
    assert carol.lines() == ["[alice] hello  <b>all</b>", "* alice waves"]
    assert alice.events() == [from_carol]


def test_private_messages_between_web_and_text_users(net: FakeNetwork) -> None:
    alice, carol = web(net, "alice"), net.connect()
    carol.send("NICK carol")
    alice.events(), carol.lines()
    alice.send_json({"cmd": "tell", "nick": "CAROL", "text": "psst"})
    carol.send("TELL alice back")
    assert carol.lines() == ["[alice -> carol] psst"]
    assert alice.events() == [
        {"type": "private", "from": "carol", "to": "alice", "text": "back", "kind": "msg"}
    ]
    alice.send_json({"cmd": "tell", "nick": "nobody", "text": "x"})
    assert alice.events() == [error("no-such-nick", "no such nickname nobody")]


def test_nick_changes_are_seen_by_everyone_who_shares_a_room(net: FakeNetwork) -> None:
    alice, bob = net.connect_web(), net.connect_web()
    alice.events(), bob.events()
    alice.send_json({"cmd": "nick", "nick": "alice"})
    assert alice.events() == [{"type": "nick", "old": "guest1", "new": "alice"}]
    assert bob.events() == [{"type": "nick", "old": "guest1", "new": "alice"}]
    alice.send_json({"cmd": "nick", "nick": "alice"})
    assert alice.events() == [{"type": "nick", "old": "alice", "new": "alice"}]
    bob.send_json({"cmd": "nick", "nick": "ALICE"})
    bob.send_json({"cmd": "nick", "nick": "9lives"})
    assert bob.events() == [
        error("nick-in-use", "nickname ALICE is already in use"),
        error("invalid-nick", "invalid nickname 9lives"),
    ]


def test_rooms_join_who_and_topic(net: FakeNetwork) -> None:
    alice, bob = web(net, "alice"), web(net, "bob")
    alice.events()
    alice.send_json({"cmd": "join", "room": "games"})
    assert alice.events() == [
        {"type": "joined", "room": "#games"},
        {"type": "users", "room": "#games", "users": [{"nick": "alice", "op": True}]},
    ]
    assert bob.events() == [{"type": "part", "room": "#lobby", "nick": "alice"}]
    alice.send_json({"cmd": "topic", "text": "chess"})
    bob.send_json({"cmd": "join", "room": "#Games"})
    assert bob.events() == [
        {"type": "joined", "room": "#games"},
        {
            "type": "users",
            "room": "#games",
            "users": [{"nick": "alice", "op": True}, {"nick": "bob", "op": False}],
        },
        {"type": "topic", "room": "#games", "topic": "chess"},
    ]
    assert alice.events() == [
        {"type": "topic", "room": "#games", "topic": "chess", "by": "alice"},
        {"type": "join", "room": "#games", "nick": "bob", "connected": False},
    ]
    bob.send_json({"cmd": "who"})
    bob.send_json({"cmd": "who", "room": "lobby"})
    bob.send_json({"cmd": "who", "room": "#nowhere"})
    bob.send_json({"cmd": "topic"})
    bob.send_json({"cmd": "topic", "text": "mine"})
    bob.send_json({"cmd": "rooms"})
    bob.send_json({"cmd": "join", "room": "games"})
    bob.send_json({"cmd": "join", "room": "a b"})
    assert bob.events() == [
        {
            "type": "users",
            "room": "#games",
            "users": [{"nick": "alice", "op": True}, {"nick": "bob", "op": False}],
        },
        {"type": "users", "room": "#lobby", "users": []},
        error("no-such-room", "no such room #nowhere"),
        {"type": "topic", "room": "#games", "topic": "chess"},
        error("permission-denied", "permission denied, room operators only"),
        {"type": "rooms", "rooms": [{"room": "#lobby", "users": 0}, {"room": "#games", "users": 2}]},
        error("already-in-room", "you are already in #games"),
        error("invalid-room", "invalid room name a b"),
    ]
    alice.send_json({"cmd": "topic", "text": "x" * 301})
    alice.send_json({"cmd": "join", "room": "lobby"})
    alice.send_json({"cmd": "topic"})
    alice.events()
    alice.send_json({"cmd": "topic"})
    assert alice.events() == [{"type": "topic", "room": "#lobby", "topic": None}]


def test_kicks_are_seen_by_the_room_and_the_victim(net: FakeNetwork) -> None:
    alice, bob = web(net, "alice"), web(net, "bob")
    carol = net.connect()
    carol.send("NICK carol")
    alice.send_json({"cmd": "join", "room": "den"})
    bob.send_json({"cmd": "join", "room": "den"})
    carol.send("JOIN den")
    alice.events(), bob.events(), carol.lines()
    bob.send_json({"cmd": "kick", "nick": "carol"})
    assert bob.events() == [error("permission-denied", "permission denied, room operators only")]
    alice.send_json({"cmd": "kick", "nick": "bob", "reason": "spam"})
    alice.send_json({"cmd": "kick", "nick": "Carol"})
    kick_bob = {"type": "kick", "room": "#den", "nick": "bob", "by": "alice", "reason": "spam"}
    kick_carol = {"type": "kick", "room": "#den", "nick": "carol", "by": "alice", "reason": None}
    assert bob.events() == [kick_bob]
    assert alice.events() == [kick_bob, kick_carol]
    assert carol.lines() == [
        "[server] bob was kicked from #den by alice: spam",
        "[server] You were kicked from #den by alice",
    ]
    bob.send_json({"cmd": "msg", "text": "anyone?"})
    bob.send_json({"cmd": "kick", "nick": "alice"})
    alice.send_json({"cmd": "kick", "nick": "bob"})
    assert bob.events() == [
        error("not-in-room", "you are not in a room, use JOIN <room>"),
        error("not-in-room", "you are not in a room, use JOIN <room>"),
    ]
    assert alice.events() == [error("user-not-in-room", "bob is not in #den")]


def test_operators_kill_and_the_victim_hears_why(net: FakeNetwork) -> None:
    alice, bob, carol = web(net, "alice"), web(net, "bob"), net.connect()
    alice.events(), bob.events(), carol.lines()
    alice.send_json({"cmd": "kill", "nick": "bob"})
    alice.send_json({"cmd": "oper", "password": "wrong"})
    alice.send_json({"cmd": "oper", "password": OPER_PASSWORD})
    alice.send_json({"cmd": "kill", "nick": "alice"})
    alice.send_json({"cmd": "kill", "nick": "bob", "reason": "enough"})
    assert alice.events() == [
        error("permission-denied", "permission denied, use OPER first"),
        error("wrong-password", "wrong password"),
        {"type": "oper"},
        error("kill-self", "use QUIT to leave"),
        {"type": "quit", "nick": "bob", "reason": "killed", "text": "enough", "by": "alice"},
    ]
    assert bob.events() == [{"type": "killed", "by": "alice", "text": "enough"}]
    assert not bob.is_open
    assert carol.lines() == ["[server] bob is disconnected (killed by alice)"]


def test_three_failed_opers_close_the_connection(net: FakeNetwork) -> None:
    alice, bob = web(net, "alice"), web(net)
    alice.events()
    for password in ("a", "b", "c"):
        bob.send_json({"cmd": "oper", "password": password})
    assert bob.events()[-1] == error("too-many-oper-failures", "too many failed OPER attempts")
    assert not bob.is_open
    assert alice.events() == [{"type": "quit", "nick": "guest2", "reason": "oper-failures", "text": None}]


def test_quit_with_and_without_last_words(net: FakeNetwork) -> None:
    alice, bob, carol = web(net, "alice"), web(net, "bob"), net.connect()
    alice.events(), bob.events(), carol.lines()
    bob.send_json({"cmd": "quit", "reason": "see you"})
    assert bob.events() == [{"type": "goodbye", "nick": "bob"}]
    assert alice.events() == [{"type": "quit", "nick": "bob", "reason": "left", "text": "see you"}]
    assert carol.lines() == ["[bob] see you", "[server] bob is disconnected"]
    assert net.closes == [bob.conn]
    alice.send_json({"cmd": "quit"})
    assert carol.lines() == ["[server] alice is disconnected"]


def test_ping_help_and_an_end_of_stream(net: FakeNetwork) -> None:
    alice, bob = web(net, "alice"), web(net, "bob")
    alice.events()
    bob.send_json({"cmd": "ping"})
    bob.send_json({"cmd": "help"})
    pong, help_event = bob.events()
    assert pong == {"type": "pong", "token": None}
    assert help_event["type"] == "help" and set(help_event["commands"]) == set(_documented("Commands"))
    bob.eof()
    assert alice.events() == [{"type": "quit", "nick": "bob", "reason": "left", "text": None}]
    assert not bob.is_open


def test_a_client_too_slow_to_read_is_dropped_and_the_others_told() -> None:
    net = FakeNetwork(ServerConfig(max_pending_bytes=300))
    alice, bob = web(net, "alice"), web(net, "bob")
    alice.events()
    bob.auto_flush = False  # it reads nothing from now on
    for _ in range(3):
        alice.send_json({"cmd": "msg", "text": "x" * 100})
    assert bob.aborted
    assert alice.events() == [{"type": "quit", "nick": "bob", "reason": "too-slow", "text": None}]


# -- what cannot be read ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (b"hello", error("invalid-json", "malformed message")),
        (b"", error("invalid-json", "malformed message")),
        (b'["msg", "hi"]', error("invalid-json", "malformed message")),
        (b'{"cmd": "ping"} {"cmd": "ping"}', error("invalid-json", "malformed message")),  # two: not one
        (b'{"cmd": "ping"}x', error("invalid-json", "malformed message")),
        (b"[" * 3000, error("invalid-json", "malformed message")),  # too deep for the parser
        (b"\xff{}", error("invalid-json", "invalid UTF-8")),
        (b"{}", error("missing-field", "missing field cmd", field="cmd")),
        (b'{"cmd": 7}', error("missing-field", "missing field cmd", field="cmd")),
        (b'{"cmd": ""}', error("missing-field", "missing field cmd", field="cmd")),
        (b'{"cmd": "shout"}', error("unknown-command", "invalid command shout", cmd="shout")),
        (b'{"cmd": "MSG", "text": "hi"}', error("unknown-command", "invalid command MSG", cmd="MSG")),
        (b'{"cmd": "msg"}', error("missing-field", "missing field text", field="text")),
        (b'{"cmd": "msg", "text": null}', error("missing-field", "missing field text", field="text")),
        (b'{"cmd": "msg", "text": " \\t "}', error("missing-field", "missing field text", field="text")),
        (b'{"cmd": "msg", "text": 5}', error("invalid-field", "invalid field text", field="text")),
        (b'{"cmd": "msg", "text": ["a"]}', error("invalid-field", "invalid field text", field="text")),
        (b'{"cmd": "tell", "nick": "bob"}', error("missing-field", "missing field text", field="text")),
        (b'{"cmd": "tell", "text": "hi"}', error("missing-field", "missing field nick", field="nick")),
        (
            b'{"cmd": "kick", "nick": "bob", "reason": 1}',
            error("invalid-field", "invalid field reason", field="reason"),
        ),
        (
            b'{"cmd": "msg", "text": "a\\nb"}',
            error("control-character", "control characters are not allowed"),
        ),
        (
            b'{"cmd": "nick", "nick": "a\\u0085"}',
            error("control-character", "control characters are not allowed"),
        ),
        (b'{"cmd": "msg", "text": "\\ud800"}', error("invalid-field", "invalid field text", field="text")),
        (b'{"cmd": "msg", "text": "\\t\\ud800"}', error("invalid-field", "invalid field text", field="text")),
    ],
)
def test_what_cannot_be_read_gets_an_error_and_the_connection_stays(
    net: FakeNetwork, message: bytes, expected: dict[str, Any]
) -> None:
    alice, bob = web(net, "alice"), web(net, "bob")
    alice.events()
    bob.send_message(message)
    assert bob.events() == [expected]
    assert alice.events() == []
    bob.send_json({"cmd": "ping", "token": "still here"})
    assert bob.events() == [{"type": "pong", "token": "still here"}]


def test_fields_hold_any_printable_text_tabs_and_unknown_fields_are_ignored(net: FakeNetwork) -> None:
    alice, bob = web(net, "alice"), web(net, "bob")
    alice.events()
    bob.send_message(b'{"cmd": "msg", "text": "a\\tb \\u200b c\xc3\xa9", "color": "red", "v": 2}')
    assert alice.events() == [
        {"type": "message", "room": "#lobby", "from": "bob", "text": "a\tb \u200b cé", "kind": "msg"}
    ]


def test_a_message_over_the_line_limit_is_refused_as_a_line_is() -> None:
    net = FakeNetwork(ServerConfig(max_line_bytes=64))
    bob = web(net)
    bob.send_json({"cmd": "msg", "text": "x" * 64})
    assert bob.events() == [error("message-too-long", "line too long (max 64 bytes)")]


def test_the_welcome_tells_the_limit_on_a_whole_message_as_the_server_enforces_it() -> None:
    """``max_message_bytes`` is ``max_line_bytes``, on the whole JSON message: at it, taken; over, refused."""
    net = FakeNetwork(ServerConfig(max_line_bytes=100))
    text = net.connect()
    browser = net.connect_web()
    [welcome] = browser.events()
    assert welcome == {"type": "welcome", "nick": "guest2", "room": "#lobby", "max_message_bytes": 100}
    text.lines()
    room = 100 - len(b'{"cmd":"msg","text":""}')  # what the JSON around the words leaves
    words = '"\u00e9' * (room // 4) + "x" * (room % 4)  # a quote (escaped, 2 bytes) and an e acute (2 bytes)
    message = json.dumps({"cmd": "msg", "text": words}, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(message) == 100
    browser.send_message(message)
    assert text.lines() == [f"[guest2] {words}"]
    browser.send_message(message[:-2] + b'x"}')  # one byte more
    assert browser.events() == [error("message-too-long", "line too long (max 100 bytes)")]
    assert text.lines() == []


def test_each_server_tells_its_own_limit() -> None:
    small, default = FakeNetwork(ServerConfig(max_line_bytes=512)), FakeNetwork()
    assert small.connect_web().events()[0]["max_message_bytes"] == 512
    assert default.connect_web().events()[0]["max_message_bytes"] == 4096
    refused = FakeNetwork(ServerConfig(max_clients=1, max_line_bytes=512))
    refused.connect()
    assert refused.connect_web().events()[0]["code"] == "server-full"


def test_the_server_full_error_is_an_event_then_a_close_saying_so() -> None:
    net = FakeNetwork(ServerConfig(max_clients=1))
    net.connect()
    actions = net.receive(ConnectionOpened(conn=9, peer="p", dialect=DialectName.WEB))
    error_event = error("server-full", "server full")
    assert [a for a in actions if isinstance(a, Send | Close)] == [
        Send(conns=(9,), data=json.dumps(error_event, separators=(",", ":")).encode() + b"\n"),
        Close(conn=9, reason=CloseReason.SERVER_FULL),
    ]


def test_shutdown_is_told_then_every_connection_closed_saying_so(net: FakeNetwork) -> None:
    browser = web(net)
    actions = net.shutdown()
    assert browser.events() == [{"type": "shutdown"}]
    assert Close(conn=browser.conn, reason=CloseReason.SHUTDOWN) in actions


def test_flood_control_holds_messages_in_order_and_pauses_reading() -> None:
    net = FakeNetwork(ServerConfig(rate_lines=1.0, rate_burst=3))  # the NICK takes one
    alice, bob = web(net, "alice"), web(net, "bob")
    alice.events()
    actions: list[object] = []
    for n in range(4):
        actions += bob.send_json({"cmd": "msg", "text": str(n)})
    assert PauseReading(conn=bob.conn) in actions
    assert [e["text"] for e in alice.events()] == ["0", "1"]
    assert ResumeReading(conn=bob.conn) in net.run_timers()
    assert [e["text"] for e in alice.events()] == ["2", "3"]


# -- dropped for breaking the WebSocket protocol -------------------------------------------


def test_a_client_closed_for_a_protocol_error_is_told_as_dropped_for_it_in_every_dialect() -> None:
    net = irc_net()
    ann = register(net, "ann")
    ann.send("JOIN #lobby")
    carol, alice, bob = *net.join("carol"), web(net, "alice"), web(net, "bob")
    ann.lines(), carol.lines(), alice.events()
    bob.reset(protocol_error=True)  # its transport closed it (1002, 1003, 1007 or 1009)
    assert alice.events() == [{"type": "quit", "nick": "bob", "reason": "protocol-error", "text": None}]
    assert carol.lines() == ["[server] bob is disconnected (protocol error)"]
    assert ann.lines() == [":bob!web@web.invalid QUIT :Protocol error"]
    assert bob.closed and not bob.aborted and bob.events() == []


def test_what_a_client_closed_for_a_protocol_error_still_held_is_dropped() -> None:
    net = FakeNetwork(ServerConfig(rate_lines=1.0, rate_burst=3))  # the NICK takes one
    alice, bob = web(net, "alice"), web(net, "bob")
    alice.events()
    for n in range(4):
        bob.send_json({"cmd": "msg", "text": str(n)})
    assert [e["text"] for e in alice.events()] == ["0", "1"]
    bob.reset(protocol_error=True)
    assert alice.events() == [{"type": "quit", "nick": "bob", "reason": "protocol-error", "text": None}]
    assert net.run_timers() == []


@pytest.mark.parametrize("mode", [Mode.ECHO, Mode.RELAY])
def test_the_lab_modes_take_a_protocol_error_as_a_reset(mode: Mode) -> None:
    def reset(protocol_error: bool) -> list[object]:
        state = new_server_state(ServerConfig(mode=mode))
        state.receive(ConnectionOpened(conn=1, peer="p", dialect=DialectName.WEB))
        return [*state.receive(ConnectionReset(conn=1, protocol_error=protocol_error))]

    assert reset(protocol_error=True) == reset(protocol_error=False)
    assert Close(conn=1, reason=CloseReason.DONE) in reset(protocol_error=True)


def test_input_of_the_other_framing_is_ignored(net: FakeNetwork) -> None:
    text, browser = net.connect(), web(net)
    text.lines()
    assert net.receive(MessagesReceived(conn=text.conn, messages=(b'{"cmd":"msg","text":"x"}',))) == []
    assert net.receive(DataReceived(conn=browser.conn, data=b'{"cmd":"msg","text":"x"}\n')) == []
    browser.eof()
    assert text.lines() == ["[server] guest2 is disconnected"]


@pytest.mark.parametrize("mode", [Mode.ECHO, Mode.RELAY])
def test_the_lab_modes_take_no_messages(mode: Mode) -> None:
    state = new_server_state(ServerConfig(mode=mode))
    state.receive(ConnectionOpened(conn=1, peer="p", dialect=DialectName.WEB))
    state.receive(ConnectionOpened(conn=2, peer="q"))
    assert state.receive(MessagesReceived(conn=1, messages=(b"hello",))) == []


# -- the documentation ---------------------------------------------------------------------


def _documented(section: str) -> list[str]:
    table = DOC.split(f"## {section}", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    return re.findall(r"^\| `([a-z-]+)` \|", table, re.MULTILINE)


def test_every_error_has_a_documented_code() -> None:
    codes = DOC.split("### Error codes", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^\| `([a-z-]+)` \| ", codes, re.MULTILINE)) - {"code"}
    assert {error_code(kind) for kind in ErrorKind} == documented


def test_a_message_that_comes_after_the_pause_waits_its_turn() -> None:
    state = new_server_state(ServerConfig(rate_lines=1.0, rate_burst=1))
    state.receive(ConnectionOpened(conn=1, peer="p", dialect=DialectName.WEB))
    state.receive(ConnectionOpened(conn=2, peer="q", dialect=DialectName.WEB))
    state.receive(MessagesReceived(conn=1, messages=(b'{"cmd":"msg","text":"1"}',)))
    paused = state.receive(MessagesReceived(conn=1, messages=(b'{"cmd":"msg","text":"2"}',)))
    assert paused == [PauseReading(conn=1)]
    # A backend may hand over one more read after the pause: it waits behind the held one.
    assert state.receive(MessagesReceived(conn=1, messages=(b'{"cmd":"msg","text":"3"}',))) == []
    heard = []
    for now in (1.0, 2.0):
        heard += [json.loads(a.data) for a in state.receive(Tick(now=now)) if isinstance(a, Send)]
    assert [event["text"] for event in heard] == ["2", "3"]


def test_whitespace_around_the_json_object_is_allowed(net: FakeNetwork) -> None:
    bob = web(net, "bob")
    bob.events()
    bob.send_message(b' \t{"cmd": "ping", "token": "a"}')
    bob.send_message(b'{"cmd": "ping", "token": "b"}\r\n ')
    assert bob.events() == [{"type": "pong", "token": "a"}, {"type": "pong", "token": "b"}]

"""The public face: names, events and actions, configuration, shared bytes, logs."""

from __future__ import annotations

import dataclasses
import logging

import pytest

import sansio_chat
from sansio_chat import (
    Abort,
    Action,
    ChatServerState,
    Close,
    ConnectionOpened,
    ConnectionReset,
    ConnId,
    DataReceived,
    EchoServerState,
    EofReceived,
    Log,
    LogLevel,
    Mode,
    OutputBacklog,
    PauseReading,
    ResumeReading,
    Send,
    ServerConfig,
    ShutdownRequested,
    Tick,
    _roster,
)
from tests.core_driver import OPER_PASSWORD, FakeNetwork

EVENTS = [
    ConnectionOpened(conn=1, peer="p"),
    DataReceived(conn=1, data=b"x"),
    EofReceived(conn=1),
    ConnectionReset(conn=1),
    OutputBacklog(conn=1, unsent=1),
    Tick(now=1.0),
    ShutdownRequested(),
]
ACTIONS = [
    Send(conns=(1,), data=b"x"),
    Close(conn=1),
    Abort(conn=1),
    PauseReading(conn=1),
    ResumeReading(conn=1),
    Log(level=LogLevel.INFO, message="m"),
]


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(sansio_chat) if not name.startswith("_")}
    assert set(sansio_chat.__all__) == public


@pytest.mark.parametrize("value", [*EVENTS, *ACTIONS, ServerConfig()], ids=lambda v: type(v).__name__)
def test_events_actions_and_config_are_frozen_and_slotted(value: object) -> None:
    assert dataclasses.is_dataclass(value)
    assert not hasattr(value, "__dict__")
    fields = dataclasses.fields(value)
    if fields:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, fields[0].name, None)
    assert value == dataclasses.replace(value)  # type: ignore[type-var]
    hash(value)


def test_events_and_actions_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Send((1,), b"x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        DataReceived(1, b"x")  # type: ignore[call-arg]


def test_anything_but_an_event_is_refused_loudly(net: FakeNetwork) -> None:
    with pytest.raises(AssertionError):
        net.state.receive(Send(conns=(1,), data=b"x"))  # type: ignore[arg-type]


def test_log_levels_are_those_of_logging() -> None:
    assert (LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARNING) == (logging.DEBUG, logging.INFO, logging.WARNING)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_clients": 0}, "max_clients must be at least 1"),
        ({"max_line_bytes": 0}, "max_line_bytes must be at least 1"),
        ({"max_pending_bytes": 0}, "max_pending_bytes must be at least 1"),
        ({"rate_lines": -1}, "rate_lines must not be negative"),
        ({"rate_lines": 5, "rate_burst": 0}, "rate_burst must be at least 1 when rate_lines is set"),
    ],
)
def test_config_refuses_unsafe_limits(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerConfig(**kwargs)  # type: ignore[arg-type]


def test_config_accepts_the_smallest_limits() -> None:
    config = ServerConfig(max_clients=1, max_line_bytes=1, max_pending_bytes=1, rate_lines=0, rate_burst=0)
    assert config.rate_burst == 0


# -- one broadcast, one bytes object ---------------------------------------------


def test_a_broadcast_is_rendered_once_and_shared(net: FakeNetwork) -> None:
    alice, bob, carol = net.join("alice", "bob", "carol")
    actions = alice.send("MSG hi")
    assert len(actions) == 1
    assert isinstance(actions[0], Send)
    assert actions[0].conns == (bob.conn, carol.conn)


def _recipients(actions: list[Action]) -> tuple[ConnId, ...]:
    (send,) = actions
    assert isinstance(send, Send)
    return send.conns


@pytest.mark.parametrize("mode", [Mode.CHAT, Mode.RELAY])
def test_a_sender_names_the_same_recipient_tuple_until_membership_changes(mode: Mode) -> None:
    net = FakeNetwork(ServerConfig(mode=mode))
    alice, bob, carol = net.connect_many(3)
    for client in (alice, bob, carol):
        client.lines()
    first = _recipients(alice.send("MSG one"))
    assert first == (bob.conn, carol.conn)
    assert _recipients(bob.send("MSG two")) == (alice.conn, carol.conn)
    assert _recipients(alice.send("MSG three")) is first  # a backend may reuse its lookup
    dave = net.connect()
    dave.lines()
    after_join = _recipients(alice.send("MSG four"))
    assert after_join == (bob.conn, carol.conn, dave.conn)
    carol.eof()
    assert _recipients(alice.send("MSG five")) == (bob.conn, dave.conn)


def test_recipient_tuples_stay_within_their_budget_and_stay_right(
    net: FakeNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_roster, "OTHERS_BUDGET", 5)  # room for two tuples of 2 (and a third alone)
    clients = net.connect_many(3)
    for client in clients:
        client.lines()
    for round_ in range(3):
        for sender in clients:
            expected = tuple(c.conn for c in clients if c is not sender)
            assert _recipients(sender.send(f"MSG {round_}")) == expected
    for client in clients:
        assert len(client.lines()) == 6  # two from each of the others, three rounds


def test_every_room_shares_one_budget_of_recipient_tuples(
    net: FakeNetwork, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_roster, "OTHERS_BUDGET", 5)
    rooms = {
        "#a": net.join("a1", "a2", "a3"),
        "#b": net.join("b1", "b2", "b3"),
        "#c": net.join("c1", "c2", "c3", "c4"),
    }
    big = net.join(*(f"z{i}" for i in range(8)))  # stays in #lobby: a tuple of 7 is over the budget alone
    for room, clients in rooms.items():
        for client in clients:
            client.send(f"JOIN {room}")
    for client in net.clients.values():
        client.lines()
    # Senders take turns: every tuple is right, whoever the budget made room for.
    first: dict[int, tuple[int, ...]] = {}
    for round_ in range(2):
        for clients in (*rooms.values(), big):
            for sender in clients:
                expected = tuple(c.conn for c in clients if c is not sender)
                conns = _recipients(sender.send(f"MSG {round_}"))
                assert conns == expected
                assert conns is not first.get(sender.conn)  # long gone: the budget holds a few at most
                first[sender.conn] = conns
    for clients in (*rooms.values(), big):
        for client in clients:
            assert len(client.lines()) == 2 * (len(clients) - 1)


def test_a_burst_of_lines_to_the_same_recipients_is_one_send_in_order(net: FakeNetwork) -> None:
    alice, bob, carol = net.join("alice", "bob", "carol")
    actions = alice.send_bytes(b"MSG one\nMSG two\nMSG three\n")
    assert actions == [Send(conns=(bob.conn, carol.conn), data=b"[alice] one\n[alice] two\n[alice] three\n")]
    replies = alice.send_bytes(b"PING a\nPING b\n")
    assert replies == [Send(conns=(alice.conn,), data=b"[server] PONG a\n[server] PONG b\n")]


def test_a_burst_keeps_its_order_across_recipients_and_other_actions(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    actions = alice.send_bytes(b"MSG one\nPING x\nMSG two\nNICK ally\nMSG three\n")
    assert actions == [
        Send(conns=(bob.conn,), data=b"[alice] one\n"),
        Send(conns=(alice.conn,), data=b"[server] PONG x\n"),
        Send(conns=(bob.conn,), data=b"[alice] two\n"),
        Send(conns=(alice.conn,), data=b"[server] You are now known as ally\n"),
        Send(conns=(bob.conn,), data=b"[server] alice is now known as ally\n"),
        Log(level=LogLevel.INFO, message="alice is now known as ally"),
        Send(conns=(bob.conn,), data=b"[ally] three\n"),
    ]


def test_every_notice_to_several_clients_is_a_single_send(net: FakeNetwork) -> None:
    alice, _, carol, dave = net.join("alice", "bob", "carol", "dave")
    alice.send(f"OPER {OPER_PASSWORD}")
    start = len(net.actions)
    net.connect()
    alice.send("NICK ally")
    alice.send("KILL bob")
    carol.send("QUIT bye")
    dave.eof()
    net.shutdown()
    seen: dict[bytes, list[Send]] = {}
    for action in net.actions[start:]:
        if isinstance(action, Send):
            seen.setdefault(action.data, []).append(action)
    for data, sends in seen.items():
        assert len(sends) == 1, data  # each distinct line was rendered and queued once


# -- logs ----------------------------------------------------------------------


def test_the_operator_log_tells_what_happened(net: FakeNetwork) -> None:
    alice, _ = net.join("alice", "bob")
    alice.send("OPER nope")
    alice.send(f"OPER {OPER_PASSWORD}")
    alice.send("KILL bob")
    assert net.logs() == [
        "guest1 connected from 192.0.2.1:40001",
        "guest2 connected from 192.0.2.1:40002",
        "guest1 is now known as alice",
        "guest2 is now known as bob",
        "alice failed OPER (1/3)",
        "alice is now an operator",
        "bob disconnected (killed by alice)",
    ]


def test_log_levels_of_refusals_and_failures() -> None:
    net = FakeNetwork(ServerConfig(max_clients=1))
    alice = net.connect()
    net.connect(peer="203.0.113.9:5555")
    alice.send("OPER x")
    warnings = [a.message for a in net.actions if isinstance(a, Log) and a.level is LogLevel.WARNING]
    assert warnings == ["refused 203.0.113.9:5555: server full", "guest1 failed OPER (1/3)"]


def test_logs_of_departures_name_the_reason(net: FakeNetwork) -> None:
    alice, bob, _ = net.join("alice", "bob", "carol")
    alice.send("QUIT")
    bob.send("OPER a")
    bob.send("OPER b")
    bob.send("OPER c")
    net.shutdown()
    assert [line for line in net.logs() if "disconnected" in line or "shutting" in line] == [
        "alice disconnected (left)",
        "bob disconnected (too many failed OPER attempts)",
        "shutting down, closing 1 connection",
    ]


def test_time_matters_to_the_chat_not_to_the_lab() -> None:
    # Flood control, and IRC clients' server-time and pings, whatever the rate.
    assert ChatServerState(ServerConfig()).uses_clock
    assert ChatServerState(ServerConfig(rate_lines=0)).uses_clock
    assert not EchoServerState(ServerConfig()).uses_clock

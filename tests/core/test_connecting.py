"""Connecting: welcome, join notices, guest nicknames, server full."""

from __future__ import annotations

import pytest

from sansio_chat import (
    Close,
    CloseReason,
    ConnectionOpened,
    ConnectionReset,
    DataReceived,
    DialectName,
    EofReceived,
    Log,
    Mode,
    OutputBacklog,
    Refusal,
    Send,
    ServerConfig,
    Tick,
    new_server_state,
    refusal,
)
from tests.core_driver import FakeNetwork
from tests.expected import WELCOME


def test_first_line_is_the_welcome_with_the_guest_nickname(net: FakeNetwork) -> None:
    alice = net.connect()
    assert alice.lines() == [WELCOME.format("guest1")]


def test_every_other_client_is_told_who_connected(net: FakeNetwork) -> None:
    first, second = net.connect_many(2)
    first.lines()
    third = net.connect()
    assert first.lines() == ["[server] guest3 is connected"]
    assert second.lines() == [WELCOME.format("guest2"), "[server] guest3 is connected"]
    assert third.lines() == [WELCOME.format("guest3")]


def test_welcome_and_join_notice_are_one_step(net: FakeNetwork) -> None:
    first = net.connect()
    actions = net.receive(ConnectionOpened(conn=2, peer="peer"))
    sends = [a for a in actions if isinstance(a, Send)]
    assert sends == [
        Send(conns=(2,), data=(WELCOME.format("guest2") + "\n").encode()),
        Send(conns=(first.conn,), data=b"[server] guest2 is connected\n"),
    ]


def test_guest_number_is_the_connection_sequence_number(net: FakeNetwork) -> None:
    first, second = net.connect_many(2)
    first.send("QUIT")
    third = net.connect()
    assert third.lines() == [WELCOME.format("guest3")]
    second.send("WHO")
    assert second.lines()[-1] == "[server] Users (2): guest2 guest3"


def test_guest_number_taken_by_a_nickname_moves_to_the_next_free_one(net: FakeNetwork) -> None:
    (alice,) = net.join("guest2")
    bob = net.connect()  # connection 2 would be guest2
    assert bob.lines() == [WELCOME.format("guest3")]
    net.join("GUEST4")  # connection 3, guest3 at first; casefold: guest4 is taken too
    dave = net.connect()  # connection 4
    assert dave.lines() == [WELCOME.format("guest5")]
    alice.lines()
    alice.send("WHO")
    assert alice.lines() == ["[server] Users (4): guest2 guest3 GUEST4 guest5"]


def test_next_free_number_skips_several_taken_numbers(net: FakeNetwork) -> None:
    net.join("guest2", "guest3")  # connections 1 and 2
    third = net.connect()
    assert third.lines() == [WELCOME.format("guest4")]


def test_server_full_refuses_with_an_error_and_tells_nobody() -> None:
    net = FakeNetwork(ServerConfig(max_clients=2))
    first, second = net.connect_many(2)
    first.lines()
    second.lines()
    third = net.connect()
    assert third.lines() == ["[server] Error: server full"]
    assert third.closed and not third.aborted
    assert first.lines() == [] and second.lines() == []
    assert net.state.connection_count == 2


def test_server_full_sends_the_error_then_closes() -> None:
    net = FakeNetwork(ServerConfig(max_clients=1))
    net.connect()
    actions = net.receive(ConnectionOpened(conn=99, peer="peer"))
    assert [a for a in actions if isinstance(a, Send | Close)] == [
        Send(conns=(99,), data=b"[server] Error: server full\n"),
        Close(conn=99, reason=CloseReason.SERVER_FULL),
    ]


def test_events_for_a_refused_connection_are_ignored() -> None:
    net = FakeNetwork(ServerConfig(max_clients=1))
    first = net.connect()
    refused = net.connect()
    first.lines()
    for event in (
        DataReceived(conn=refused.conn, data=b"MSG hi\n"),
        OutputBacklog(conn=refused.conn, unsent=1 << 30),
        EofReceived(conn=refused.conn),
        ConnectionReset(conn=refused.conn),
    ):
        assert net.state.receive(event) == []
    assert first.lines() == []


def test_room_freed_by_a_departure_can_be_taken_again() -> None:
    net = FakeNetwork(ServerConfig(max_clients=1))
    first = net.connect()
    first.send("QUIT")
    second = net.connect()
    assert second.lines() == [WELCOME.format("guest2")]
    assert not second.closed


def test_connection_count_counts_open_connections(net: FakeNetwork) -> None:
    assert net.state.connection_count == 0
    first, _ = net.connect_many(2)
    assert net.state.connection_count == 2
    first.send("QUIT")
    assert net.state.connection_count == 1


# -- refusals are logged at most once a second, with a count (issue #9) -----------------


def refusal_logs(net: FakeNetwork) -> list[str]:
    return [line for line in net.logs() if line.startswith("refused")]


def test_a_storm_of_refusals_is_one_log_line_a_second_with_a_count() -> None:
    net = FakeNetwork(ServerConfig(max_clients=1, rate_lines=0))
    net.tick(100.0)
    net.connect()
    for number in range(5):
        net.tick(100.0 + number * 0.1)
        assert net.connect().lines() == ["[server] Error: server full"]
    assert refusal_logs(net) == ["refused 192.0.2.1:40002: server full"]
    assert net.state.next_wakeup == pytest.approx(101.0)
    assert net.tick(100.9) == []
    net.tick(101.0)
    assert refusal_logs(net)[1:] == ["refused 4 more connections: server full"]
    assert net.state.next_wakeup is None
    net.tick(101.5)
    net.connect()  # within a second of the last report: counted
    net.tick(102.5)
    assert refusal_logs(net)[2:] == ["refused 1 more connection: server full"]


def test_after_a_quiet_second_a_refusal_is_logged_with_its_peer_again() -> None:
    state = new_server_state(ServerConfig(max_clients=1))
    state.receive(ConnectionOpened(conn=1, peer="a"))
    state.receive(ConnectionOpened(conn=2, peer="b"))
    assert state.next_wakeup is None  # nothing left to report
    state.receive(Tick(now=1.0))
    actions = state.receive(ConnectionOpened(conn=3, peer="198.51.100.7:2"))
    assert [a.message for a in actions if isinstance(a, Log)] == ["refused 198.51.100.7:2: server full"]


@pytest.mark.parametrize("mode", list(Mode))
def test_a_count_of_refusals_not_yet_due_is_logged_before_the_shutdown_not_after(mode: Mode) -> None:
    net = FakeNetwork(ServerConfig(mode=mode, max_clients=1))
    net.tick(10.0)
    net.connect()
    for _ in range(3):
        net.connect()
    net.tick(10.5)  # the count is due at 11.0: the shutdown comes first
    net.shutdown()
    logs = [line for line in net.logs() if line.startswith(("refused", "shutting down"))]
    assert logs[:3] == [
        "refused 192.0.2.1:40002: server full",
        "refused 2 more connections: server full",
        *(["shutting down, closing 1 connection"] if mode is Mode.CHAT else []),
    ]
    assert net.state.next_wakeup is None  # nothing is left to tell after the shutdown line
    net.tick(11.0)
    assert len(refusal_logs(net)) == 2


@pytest.mark.parametrize("mode", [Mode.ECHO, Mode.RELAY])
def test_refusals_are_counted_in_every_mode(mode: Mode) -> None:
    net = FakeNetwork(ServerConfig(mode=mode, max_clients=1))
    net.connect()
    net.connect()
    net.connect()
    assert net.state.next_wakeup == pytest.approx(1.0)
    net.tick(1.0)
    assert refusal_logs(net) == [
        "refused 192.0.2.1:40002: server full",
        "refused 1 more connection: server full",
    ]


@pytest.mark.parametrize(
    ("dialect", "why", "words"),
    [
        (DialectName.TEXT, Refusal.SERVER_FULL, b"[server] Error: server full\n"),
        (DialectName.IRC, Refusal.SERVER_FULL, b"ERROR :Closing link: server full\r\n"),
        (
            DialectName.WEB,
            Refusal.SERVER_FULL,
            b'{"type":"error","code":"server-full","message":"server full"}\n',
        ),
        (
            DialectName.TEXT,
            Refusal.TLS_REQUIRED,
            b"[server] Error: this port speaks TLS: connect with TLS (openssl s_client, ncat --ssl)\n",
        ),
        (
            DialectName.IRC,
            Refusal.TLS_REQUIRED,
            b"ERROR :Closing link: this port speaks TLS, turn TLS (SSL) on in your client\r\n",
        ),
        (
            DialectName.WEB,
            Refusal.TLS_REQUIRED,
            b'{"type":"error","code":"tls-required",'
            b'"message":"this port speaks TLS: connect with TLS (openssl s_client, ncat --ssl)"}\n',
        ),
    ],
)
def test_a_connection_turned_away_is_told_why_in_its_own_dialect(
    dialect: DialectName, why: Refusal, words: bytes
) -> None:
    """What the core says for a server full, and what a TLS listener's transport sends to plain text."""
    assert refusal(dialect, why) == words

"""Leaving: EOF, reset, the slow-consumer rule and shutdown."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sansio_chat import (
    DEFAULT_MAX_PENDING_BYTES,
    Abort,
    ChatServerState,
    Close,
    CloseReason,
    ConnectionOpened,
    ConnectionReset,
    DataReceived,
    EofReceived,
    Log,
    OutputBacklog,
    Send,
    ServerConfig,
    ShutdownRequested,
)
from tests.core_driver import Client, FakeNetwork

Leave = Callable[[Client], object]

# -- EOF and reset -------------------------------------------------------------


@pytest.mark.parametrize("leave", [Client.eof, Client.reset])
def test_eof_or_reset_tells_the_others(net: FakeNetwork, leave: Leave) -> None:
    alice, bob = net.join("alice", "bob")
    leave(alice)
    assert bob.lines() == ["[server] alice is disconnected"]
    assert alice.closed and not alice.aborted
    assert alice.lines() == []


@pytest.mark.parametrize("leave", [Client.eof, Client.reset])
def test_complete_lines_before_eof_are_handled_first(net: FakeNetwork, leave: Leave) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send_bytes(b"MSG one\nMSG two\nMSG thr")
    leave(alice)
    assert bob.lines() == ["[alice] one", "[alice] two", "[alice] thr", "[server] alice is disconnected"]


def test_the_unterminated_last_line_is_a_command_like_any_other(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send_bytes(b"NICK alicia")
    alice.eof()
    assert alice.lines() == ["[server] You are now known as alicia"]
    assert bob.lines() == ["[server] alice is now known as alicia", "[server] alicia is disconnected"]


def test_an_unterminated_quit_at_eof_leaves_once(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send_bytes(b"QUIT bye")
    alice.eof()
    assert alice.lines() == ["[server] Goodbye, alice."]
    assert bob.lines() == ["[alice] bye", "[server] alice is disconnected"]
    assert net.closes == [alice.conn]


def test_an_unterminated_last_line_with_cr(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send_bytes(b"MSG last\r")
    alice.eof()
    assert bob.lines() == ["[alice] last", "[server] alice is disconnected"]


def test_an_unterminated_bad_last_line_is_reported(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send_bytes(b"MSG \xff")
    alice.eof()
    assert alice.lines() == ["[server] Error: invalid UTF-8"]
    assert bob.lines() == ["[server] alice is disconnected"]


def test_an_unterminated_too_long_line_is_reported_once(net: FakeNetwork) -> None:
    alice, _ = net.join("alice", "bob")
    alice.send_bytes(b"x" * 5000)
    alice.eof()
    assert alice.lines() == ["[server] Error: line too long (max 4096 bytes)"]


def test_eof_right_after_lf_adds_no_line(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send_bytes(b"MSG one\n")
    actions = alice.eof()
    assert [a for a in actions if isinstance(a, Send)] == [
        Send(conns=(bob.conn,), data=b"[server] alice is disconnected\n")
    ]


def test_eof_of_a_sole_client_sends_nothing(net: FakeNetwork) -> None:
    alice = net.connect()
    alice.lines()
    actions = alice.eof()
    assert [a for a in actions if not isinstance(a, Log)] == [Close(conn=alice.conn)]


def test_events_after_close_are_ignored(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send("QUIT")
    bob.lines()
    for event in (
        DataReceived(conn=alice.conn, data=b"MSG ghost\n"),
        EofReceived(conn=alice.conn),
        ConnectionReset(conn=alice.conn),
    ):
        assert net.receive(event) == []
    assert bob.lines() == []
    assert net.closes == [alice.conn]


# -- the slow-consumer rule ----------------------------------------------------


def test_default_pending_limit_is_one_mebibyte() -> None:
    assert DEFAULT_MAX_PENDING_BYTES == ServerConfig().max_pending_bytes == 1024 * 1024


def slow_room(limit: int) -> tuple[FakeNetwork, Client, Client, Client]:
    """alice and carol read everything at once; bob reads only when told to."""
    net = FakeNetwork(ServerConfig(max_pending_bytes=limit))
    alice, bob, carol = net.join("alice", "bob", "carol")
    bob.auto_flush = False
    return net, alice, bob, carol


def msg_for(size: int) -> str:
    """A MSG from alice that queues ``size`` bytes for each receiver."""
    return "MSG " + "x" * (size - len("[alice] \n"))


def test_a_client_over_the_pending_limit_is_aborted() -> None:
    net, alice, bob, carol = slow_room(1000)
    for _ in range(10):
        alice.send(msg_for(100))
    assert len(bob.queued) == 1000
    assert bob.is_open
    alice.send(msg_for(100))
    assert bob.aborted
    assert [a for a in net.actions if not isinstance(a, Log)][-2:] == [
        Send(conns=(alice.conn, carol.conn), data=b"[server] bob is disconnected (too slow)\n"),
        Abort(conn=bob.conn),
    ]
    assert alice.lines() == ["[server] bob is disconnected (too slow)"]
    assert carol.lines()[-1] == "[server] bob is disconnected (too slow)"


def test_a_client_over_the_limit_several_times_in_one_step_is_dropped_once() -> None:
    net, alice, bob, carol = slow_room(200)
    alice.send(msg_for(150))
    alice.send_bytes((msg_for(20) + "\n").encode() * 4)  # bob: 170, 190, 210, 230
    assert bob.aborted
    assert net.closes == [bob.conn]
    assert carol.lines().count("[server] bob is disconnected (too slow)") == 1


def test_a_client_that_leaves_while_over_the_limit_is_not_dropped_again() -> None:
    net, _, bob, carol = slow_room(100)
    bob.send_bytes(b"PING " + b"x" * 200 + b"\nQUIT\n")
    assert bob.closed and not bob.aborted
    assert carol.lines() == ["[server] bob is disconnected"]
    assert net.closes == [bob.conn]


def test_a_prompt_reader_handed_one_batch_over_the_limit_stays() -> None:
    _, alice, bob, carol = slow_room(100)
    bob.auto_flush = True  # the kernel takes whatever is written
    alice.send_bytes((msg_for(60) + "\n").encode() * 5)  # 300 bytes for each, in one step
    assert bob.is_open and carol.is_open
    assert len(bob.lines()) == 5


def test_the_limit_is_judged_on_the_backlog_a_backend_reports() -> None:
    # Straight to the state machine: queued output alone never drops anyone.
    state = ChatServerState(ServerConfig(max_pending_bytes=100))
    state.receive(ConnectionOpened(conn=1, peer="alice"))
    state.receive(ConnectionOpened(conn=2, peer="bob"))
    line = b"MSG " + b"x" * 500 + b"\n"
    assert state.receive(DataReceived(conn=1, data=line)) == [
        Send(conns=(2,), data=b"[guest1] " + b"x" * 500 + b"\n")
    ]
    assert state.receive(OutputBacklog(conn=2, unsent=100)) == []  # at the limit: kept
    assert state.connection_count == 2
    actions = state.receive(OutputBacklog(conn=2, unsent=101))
    assert [a for a in actions if not isinstance(a, Log)] == [
        Send(conns=(1,), data=b"[server] guest2 is disconnected (too slow)\n"),
        Abort(conn=2),
    ]
    assert state.connection_count == 1


def test_an_aborted_client_gets_nothing_more() -> None:
    _, alice, bob, _ = slow_room(1000)
    before = len(bob.received)
    alice.send(msg_for(600))
    bob.flush(100)
    alice.send(msg_for(600))
    assert bob.aborted
    assert len(bob.received) == before + 100  # the rest of its queue was discarded, not delivered
    assert bob.queued == b""


def test_flushed_bytes_no_longer_count() -> None:
    _, alice, bob, _ = slow_room(1000)
    for _ in range(50):
        alice.send(msg_for(100))
        bob.flush(100)
    assert bob.is_open
    assert len(bob.lines()) == 50


def test_partial_flushes_are_counted() -> None:
    _, alice, bob, _ = slow_room(300)
    alice.send(msg_for(200))
    bob.flush(150)
    alice.send(msg_for(250))
    assert len(bob.queued) == 300
    assert bob.is_open
    alice.send(msg_for(10))
    assert bob.aborted


def test_a_single_reply_over_the_limit_drops_its_receiver() -> None:
    net = FakeNetwork(ServerConfig(max_pending_bytes=200), auto_flush=False)
    alice = net.connect()
    alice.flush()
    alice.send("HELP")
    assert alice.aborted


def test_the_too_slow_notice_can_drop_another_slow_client() -> None:
    limit = 100
    net, alice, bob, carol = slow_room(limit)
    carol.auto_flush = False
    notice = len(b"[server] bob is disconnected (too slow)\n")
    alice.send(msg_for(50))
    carol.flush()  # bob holds 50, carol nothing
    alice.send(msg_for(limit - notice + 1))  # bob goes over; carol only once told about bob
    assert bob.aborted and carol.aborted
    assert alice.is_open
    assert alice.lines() == [
        "[server] bob is disconnected (too slow)",
        "[server] carol is disconnected (too slow)",
    ]
    assert net.closes == [bob.conn, carol.conn]


# -- shutdown ----------------------------------------------------------------


def test_shutdown_tells_everyone_then_closes_everyone(net: FakeNetwork) -> None:
    alice, bob, carol = net.join("alice", "bob", "carol")
    actions = [a for a in net.shutdown() if not isinstance(a, Log)]
    assert actions == [
        Send(conns=(alice.conn, bob.conn, carol.conn), data=b"[server] Server is shutting down\n"),
        Close(conn=alice.conn, reason=CloseReason.SHUTDOWN),
        Close(conn=bob.conn, reason=CloseReason.SHUTDOWN),
        Close(conn=carol.conn, reason=CloseReason.SHUTDOWN),
    ]
    for client in (alice, bob, carol):
        assert client.lines() == ["[server] Server is shutting down"]
        assert client.closed and not client.aborted


def test_shutting_down_is_the_last_line_after_everything_queued() -> None:
    net = FakeNetwork(auto_flush=False)
    alice, bob = net.join("alice", "bob")
    alice.send("MSG before")
    net.shutdown()
    assert bob.lines()[-2:] == ["[alice] before", "[server] Server is shutting down"]
    assert bob.received.endswith(b"[server] Server is shutting down\n")


def test_shutdown_with_nobody_connected(net: FakeNetwork) -> None:
    actions = net.shutdown()
    assert not [a for a in actions if not isinstance(a, Log)]


def test_new_connections_after_shutdown_are_closed_silently(net: FakeNetwork) -> None:
    net.shutdown()
    late = net.connect()
    assert late.closed and late.received == b""
    assert net.state.connection_count == 0


def test_shutdown_twice_does_nothing_more(net: FakeNetwork) -> None:
    net.join("alice", "bob")
    net.shutdown()
    assert net.state.receive(ShutdownRequested()) == []


def test_nothing_is_handled_after_shutdown(net: FakeNetwork) -> None:
    alice, _ = net.join("alice", "bob")
    alice.send_bytes(b"MSG unterminated")
    net.shutdown()
    assert net.state.receive(EofReceived(conn=alice.conn)) == []
    assert net.state.receive(ConnectionOpened(conn=50, peer="p")) == [
        Close(conn=50, reason=CloseReason.SHUTDOWN)
    ]


def test_shutdown_of_a_paused_connection() -> None:
    net = FakeNetwork(ServerConfig(rate_lines=1, rate_burst=2))
    alice, bob = net.join("alice", "bob")  # NICK takes one token
    alice.send_bytes(b"MSG 1\nMSG 2\n")
    assert alice.paused
    net.shutdown()
    assert bob.lines() == ["[alice] 1", "[server] Server is shutting down"]
    assert net.state.next_wakeup is None


# -- each close happens once -----------------------------------------------------


def test_every_connection_is_closed_exactly_once(net: FakeNetwork) -> None:
    alice, bob, carol, dave, erin = net.join("alice", "bob", "carol", "dave", "erin")
    alice.send("OPER s3cret")
    alice.send("KILL bob")
    carol.send("QUIT")
    dave.eof()
    net.shutdown()
    assert sorted(net.closes) == sorted(c.conn for c in (alice, bob, carol, dave, erin))

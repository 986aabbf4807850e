"""Flood control: excess lines are delayed, never dropped (issue #3)."""

from __future__ import annotations

import tracemalloc

import pytest

from sansio_chat import (
    DEFAULT_RATE_BURST,
    DEFAULT_RATE_LINES,
    ConnectionOpened,
    ConnectionReset,
    DataReceived,
    EofReceived,
    Log,
    Mode,
    PauseReading,
    ResumeReading,
    Send,
    ServerConfig,
    Tick,
    new_server_state,
)
from tests.core_driver import OPER_PASSWORD, Client, FakeNetwork


def lines(*texts: str) -> bytes:
    return b"".join(f"{t}\n".encode() for t in texts)


def msgs(first: int, last: int) -> list[str]:
    return [f"MSG {i}" for i in range(first, last + 1)]


def flood_room(rate: float = 2.0, burst: int = 3, start: float = 0.0) -> tuple[FakeNetwork, Client, Client]:
    """alice may send ``rate`` lines/s with a ``burst``; bob listens.  NICKs are not counted."""
    net = FakeNetwork(ServerConfig(rate_lines=rate, rate_burst=burst, oper_password=OPER_PASSWORD))
    net.tick(start)
    alice, bob = net.connect_many(2)
    alice.lines()
    bob.lines()
    return net, alice, bob


def test_defaults_are_50_lines_per_second_with_a_burst_of_100() -> None:
    assert (DEFAULT_RATE_LINES, DEFAULT_RATE_BURST) == (50, 100)
    config = ServerConfig()
    assert (config.rate_lines, config.rate_burst) == (50, 100)


def test_a_burst_goes_through_at_once() -> None:
    net = FakeNetwork()
    alice, bob = net.connect_many(2)
    bob.lines()
    alice.send_bytes(lines(*msgs(1, 100)))
    assert not alice.paused
    assert bob.lines() == [f"[guest1] {i}" for i in range(1, 101)]


def test_excess_lines_pause_reading_and_wait() -> None:
    _, alice, bob = flood_room()
    actions = alice.send_bytes(lines(*msgs(1, 5)))
    assert bob.lines() == ["[guest1] 1", "[guest1] 2", "[guest1] 3"]
    assert actions[-1] == PauseReading(conn=alice.conn)
    assert alice.paused


def test_a_tick_lets_waiting_lines_through_and_resumes_reading() -> None:
    net, alice, bob = flood_room(rate=2.0, burst=3)
    alice.send_bytes(lines(*msgs(1, 5)))
    bob.lines()
    assert net.state.next_wakeup == pytest.approx(0.5)
    assert net.tick(0.25) == []
    assert [a for a in net.tick(0.5) if not isinstance(a, Log)] == [
        Send(conns=(bob.conn,), data=b"[guest1] 4\n")
    ]
    assert alice.paused
    actions = net.tick(1.0)
    assert actions == [Send(conns=(bob.conn,), data=b"[guest1] 5\n"), ResumeReading(conn=alice.conn)]
    assert bob.lines() == ["[guest1] 4", "[guest1] 5"]
    assert not alice.paused
    assert net.state.next_wakeup is None


def test_nothing_is_dropped_and_order_is_kept() -> None:
    net, alice, bob = flood_room(rate=10.0, burst=5)
    alice.send_bytes(lines(*msgs(1, 200)))
    net.run_timers()  # ticks at each next_wakeup, and fails if that never ends
    assert bob.lines() == [f"[guest1] {i}" for i in range(1, 201)]
    assert net.now == pytest.approx(19.5)


def test_a_late_tick_lets_a_whole_burst_through() -> None:
    net, alice, bob = flood_room(rate=2.0, burst=3)
    alice.send_bytes(lines(*msgs(1, 10)))
    bob.lines()
    net.tick(100.0)
    assert bob.lines() == ["[guest1] 4", "[guest1] 5", "[guest1] 6"]
    assert alice.paused


def test_tokens_build_up_no_further_than_the_burst() -> None:
    net, alice, bob = flood_room(rate=2.0, burst=3)
    net.tick(1000.0)
    alice.send_bytes(lines(*msgs(1, 4)))
    assert len(bob.lines()) == 3
    assert alice.paused


def test_a_tick_at_next_wakeup_always_lets_a_line_through() -> None:
    # With a monotonic clock far from zero, rounding once left next_wakeup == now forever.
    net, alice, bob = flood_room(rate=7.0, burst=1, start=102267.897709449)
    alice.send_bytes(lines(*msgs(1, 3)))
    bob.lines()
    for expected in ("[guest1] 2", "[guest1] 3"):
        wakeup = net.state.next_wakeup
        assert wakeup is not None and wakeup > net.now
        net.tick(wakeup)
        assert bob.lines() == [expected]
    assert not alice.paused


def test_lines_arriving_while_paused_queue_behind_the_waiting_ones() -> None:
    # A backend may still deliver data it read before it saw PauseReading.
    net, alice, bob = flood_room(rate=1.0, burst=1)
    alice.send_bytes(lines("MSG 1", "MSG 2"))
    assert alice.paused
    assert net.receive(DataReceived(conn=alice.conn, data=lines("MSG 3"))) == []
    net.run_timers()
    assert bob.lines() == ["[guest1] 1", "[guest1] 2", "[guest1] 3"]


def test_too_long_line_counts_as_one_line_and_keeps_its_place() -> None:
    net, alice, bob = flood_room(rate=1.0, burst=1)
    alice.send_bytes(b"MSG 1\n" + b"x" * 5000 + b"\nMSG 2\n")
    assert alice.lines() == []
    net.tick(1.0)
    assert alice.lines() == ["[server] Error: line too long (max 4096 bytes)"]
    assert bob.lines() == ["[guest1] 1"]
    net.tick(2.0)
    assert bob.lines() == ["[guest1] 2"]


def test_blank_lines_are_lines_for_the_bucket() -> None:
    net, alice, bob = flood_room(rate=1.0, burst=2)
    alice.send_bytes(b"\n\nMSG 1\n")
    assert alice.paused
    assert bob.lines() == []
    net.run_timers()
    assert bob.lines() == ["[guest1] 1"]


def test_eof_while_paused_handles_every_line_before_leaving() -> None:
    net, alice, bob = flood_room(rate=1.0, burst=1)
    alice.send_bytes(lines("MSG 1", "MSG 2") + b"MSG 3")
    net.receive(EofReceived(conn=alice.conn))
    assert alice.is_open
    assert bob.lines() == ["[guest1] 1"]
    net.tick(1.0)
    assert bob.lines() == ["[guest1] 2"]
    net.tick(2.0)
    assert bob.lines() == ["[guest1] 3", "[server] guest1 is disconnected"]
    assert alice.closed
    assert net.state.next_wakeup is None


def test_a_paused_client_that_quits_is_forgotten() -> None:
    net, alice, bob = flood_room(rate=1.0, burst=1)
    alice.send_bytes(lines("MSG 1", "QUIT", "MSG never"))
    net.run_timers()
    assert bob.lines() == ["[guest1] 1", "[server] guest1 is disconnected"]
    assert net.state.next_wakeup is None


def test_a_paused_client_that_is_killed_is_forgotten() -> None:
    net, alice, bob = flood_room(rate=1.0, burst=2)
    bob.send(f"OPER {OPER_PASSWORD}")
    alice.send_bytes(lines(*msgs(1, 5)))
    assert alice.paused
    bob.send("KILL guest1")
    assert alice.closed
    assert net.state.next_wakeup is None
    assert net.tick(10.0) == []


def test_a_tick_handles_every_ready_client_and_waits_for_the_others() -> None:
    net = FakeNetwork(ServerConfig(rate_lines=1.0, rate_burst=1))
    alice, bob, carol = net.connect_many(3)
    carol.lines()
    alice.send_bytes(lines("MSG a1", "MSG a2"))
    net.tick(0.5)
    bob.send_bytes(lines("MSG b1", "MSG b2"))
    assert net.state.next_wakeup == pytest.approx(1.0)
    net.tick(1.0)
    assert net.state.next_wakeup == pytest.approx(1.5)
    assert alice.is_open and not alice.paused and bob.paused
    net.tick(1.5)
    assert carol.lines() == ["[guest1] a1", "[guest2] b1", "[guest1] a2", "[guest2] b2"]


def test_clients_have_separate_buckets() -> None:
    _, alice, bob = flood_room(rate=1.0, burst=1)
    alice.send_bytes(lines("MSG 1", "MSG 2"))
    bob.send_bytes(lines("MSG x"))
    assert alice.paused and not bob.paused
    assert alice.lines() == ["[guest2] x"]


def test_a_new_connection_starts_with_a_full_bucket_at_the_current_time() -> None:
    net = FakeNetwork(ServerConfig(rate_lines=1.0, rate_burst=2))
    net.tick(50.0)
    alice, bob = net.connect_many(2)
    bob.lines()
    alice.send_bytes(lines(*msgs(1, 3)))
    assert len(bob.lines()) == 2
    assert net.state.next_wakeup == pytest.approx(51.0)


def test_rate_zero_turns_flood_control_off() -> None:
    net = FakeNetwork(ServerConfig(rate_lines=0, rate_burst=0))
    alice, bob = net.connect_many(2)
    bob.lines()
    actions = alice.send_bytes(lines(*msgs(1, 5000)))
    assert not any(isinstance(a, PauseReading) for a in actions)
    assert len(bob.lines()) == 5000
    assert net.state.next_wakeup is None


def test_flood_control_applies_in_relay_mode() -> None:
    net = FakeNetwork(ServerConfig(mode=Mode.RELAY, rate_lines=1.0, rate_burst=1))
    alice, bob = net.connect_many(2)
    alice.send_bytes(b"a\nb\n")
    assert bob.received == b"a\n" and alice.paused
    net.tick(1.0)
    assert bob.received == b"a\nb\n" and not alice.paused


def test_echo_mode_has_no_flood_control() -> None:
    net = FakeNetwork(ServerConfig(mode=Mode.ECHO, rate_lines=1.0, rate_burst=1))
    alice = net.connect()
    alice.send_bytes(b"a\n" * 1000)
    assert not alice.paused
    assert net.state.next_wakeup is None
    assert net.receive(Tick(now=5.0)) == []


def test_a_line_before_the_next_token_waits_for_it() -> None:
    net, alice, bob = flood_room(rate=1.0, burst=2)
    alice.send_bytes(lines("MSG 1", "MSG 2"))  # the bucket is empty, nothing waits
    assert not alice.paused
    net.advance(0.5)
    alice.send_bytes(lines("MSG 3"))  # half a token so far
    assert alice.paused and net.state.next_wakeup == pytest.approx(1.0)
    net.advance(0.5)
    assert bob.lines() == ["[guest1] 1", "[guest1] 2", "[guest1] 3"]


def test_an_early_tick_changes_nothing() -> None:
    net, alice, bob = flood_room(rate=1.0, burst=1)
    alice.send_bytes(lines(*msgs(1, 2)))
    bob.lines()
    assert net.tick(0.999) == []
    assert alice.paused and net.state.next_wakeup == pytest.approx(1.0)


def test_a_tick_with_nothing_paused_does_nothing(net: FakeNetwork) -> None:
    net.join("alice", "bob")
    assert net.tick(10.0) == []


def test_auto_tick_driver_delivers_a_flood_in_virtual_time() -> None:
    net = FakeNetwork(ServerConfig(rate_lines=100.0, rate_burst=10), auto_tick=True)
    alice, bob = net.connect_many(2)
    bob.lines()
    alice.send_bytes(lines(*msgs(1, 1000)))
    assert bob.lines() == [f"[guest1] {i}" for i in range(1, 1001)]
    assert net.now == pytest.approx(9.9)
    assert not alice.paused


# -- a reset drops what is held; an EOF does not (issue #9) -----------------------


def test_a_reset_drops_the_lines_held_for_a_flooder() -> None:
    net, alice, bob = flood_room(rate=1.0, burst=2)
    net.receive(DataReceived(conn=alice.conn, data=lines(*msgs(1, 5)) + b"MSG tail"))
    assert alice.paused
    alice.reset()
    assert bob.lines() == ["[guest1] 1", "[guest1] 2", "[server] guest1 is disconnected"]
    assert alice.closed and net.state.next_wakeup is None
    assert net.tick(10.0) == []


def test_eof_keeps_the_held_lines_at_the_flood_rate() -> None:
    net, alice, bob = flood_room(rate=1.0, burst=2)
    net.receive(DataReceived(conn=alice.conn, data=lines(*msgs(1, 3)) + b"MSG tail"))
    net.receive(EofReceived(conn=alice.conn))
    assert bob.lines() == ["[guest1] 1", "[guest1] 2"]
    net.run_timers()
    assert bob.lines() == ["[guest1] 3", "[guest1] tail", "[server] guest1 is disconnected"]


def test_a_reset_with_nothing_held_still_handles_the_last_line(net: FakeNetwork) -> None:
    alice, bob = net.join("alice", "bob")
    alice.send_bytes(b"MSG one\nMSG unterminated")
    alice.reset()
    assert bob.lines() == ["[alice] one", "[alice] unterminated", "[server] alice is disconnected"]


# -- wake-ups come from a heap ------------------------------------------------------


def test_next_wakeup_is_the_earliest_of_many_paused_clients() -> None:
    net = FakeNetwork(ServerConfig(rate_lines=1.0, rate_burst=1, max_clients=200))
    clients = net.connect_many(101)
    for number, client in enumerate(clients[:100]):
        net.tick(number * 0.01)
        client.send_bytes(lines("MSG a", "MSG b"))
    assert all(client.paused for client in clients[:100])
    assert net.state.next_wakeup == pytest.approx(1.0)
    clients[0].reset()
    clients[1].send("QUIT")  # waits behind its held line; the reset of the first makes it next
    assert net.state.next_wakeup == pytest.approx(1.01)
    net.tick(1.5)
    assert net.state.next_wakeup == pytest.approx(1.51)
    net.run_timers()
    assert net.state.next_wakeup is None
    assert not any(client.paused for client in clients if client.is_open)
    assert clients[-1].lines().count("[guest3] b") == 1


# -- a paused flooder costs about the bytes it sent ----------------------------------


def test_held_lines_cost_about_their_bytes() -> None:
    net, alice, _ = flood_room(rate=1.0, burst=1)
    chunk = b"  \n" * (64 * 1024 // 3)  # short lines that do nothing (blank), as many as fit in a read
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        net.receive(DataReceived(conn=alice.conn, data=chunk))
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert alice.paused
    assert held < len(chunk) * 1.25, f"{held} bytes held for {len(chunk)} bytes of lines"


def test_a_tick_after_a_held_client_left_does_nothing() -> None:
    # Straight to the state machine: nobody asked next_wakeup between the reset and the tick.
    state = new_server_state(ServerConfig(rate_lines=1.0, rate_burst=1))
    state.receive(ConnectionOpened(conn=1, peer="a"))
    state.receive(ConnectionOpened(conn=2, peer="b"))
    assert state.receive(DataReceived(conn=1, data=lines("MSG 1", "MSG 2")))[-1] == PauseReading(conn=1)
    state.receive(ConnectionReset(conn=1))
    assert state.receive(Tick(now=5.0)) == []
    assert state.next_wakeup is None


def test_tokens_left_in_the_bucket_grow_with_time() -> None:
    net, alice, bob = flood_room(rate=1.0, burst=3)
    alice.send_bytes(lines("MSG 1"))  # two tokens left
    net.advance(0.5)
    alice.send_bytes(lines(*msgs(2, 4)))  # two and a half: the fourth waits half a second
    assert bob.lines() == ["[guest1] 1", "[guest1] 2", "[guest1] 3"]
    assert alice.paused and net.state.next_wakeup == pytest.approx(1.0)

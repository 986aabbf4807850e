"""The shared driver, with no socket: a fake backend (``Port``) and a clock the test moves."""

from __future__ import annotations

import logging

import pytest

from adapters import _driver
from adapters._lifecycle import CLOSE_FLUSH_SECONDS, LINGER_SECONDS, SHUTDOWN_FLUSH_SECONDS, Phase, Stop
from adapters._timers import TRIM_AFTER_IDLE_SECONDS
from sansio_chat import (
    ConnectionOpened,
    ConnectionReset,
    DataReceived,
    Mode,
    ServerConfig,
    ShutdownRequested,
    Tick,
)
from tests.expected import WELCOME

from .fake_backend import TEXT, World, lines, log, phase


def test_a_connection_is_in_the_table_before_the_core_welcomes_it() -> None:
    world = World()
    a = world.connect()
    assert world.driver.conns.get(a.id) is a
    opened = [e for e in world.core.events if isinstance(e, ConnectionOpened)]
    assert opened == [ConnectionOpened(conn=a.id, peer="127.0.0.1:5001", dialect=TEXT.dialect, secure=False)]
    assert isinstance(world.core.events[0], Tick)  # the time first, always
    assert world.driver.dirty == [a]
    assert lines(world.flush()[a.id]) == [WELCOME.format("guest1")]
    assert ("wake", 0) in world.port.calls


def test_reads_within_a_millisecond_share_a_tick_with_both_clocks() -> None:
    world = World()
    a = world.connect()
    world.driver.wall = lambda: 1_700_000_000.5
    world.clock.now += 0.0005
    world.driver.received(a, b"PING 1\n")
    world.clock.now += _driver.TICK_RESOLUTION
    world.driver.received(a, b"PING 2\n")
    ticks = [event for event in world.core.events if isinstance(event, Tick)]
    assert len(ticks) == 2  # the opening's, then one more a millisecond later
    assert ticks[-1] == Tick(now=world.clock.now, wall=1_700_000_000.5)


def test_a_broadcast_is_queued_on_each_recipient_and_each_is_dirty_once() -> None:
    world = World()
    a, b, c = world.connect(), world.connect(), world.connect()
    world.flush()
    world.driver.received(a, b"MSG one\nMSG two\n")
    assert world.driver.dirty == [b, c]
    assert b.pending[0] is c.pending[0]  # the very same bytes object for every recipient
    written = world.flush()
    assert lines(written[b.id]) == lines(written[c.id]) == ["[guest1] one", "[guest1] two"]
    assert a.id not in written


def test_a_backlog_over_the_limit_drops_the_slow_consumer_and_the_others_hear_of_it() -> None:
    world = World(ServerConfig(oper_password="pw", max_pending_bytes=100))
    a, b = world.connect(), world.connect()
    world.flush()
    world.port.take()
    world.driver.written(b, 100)  # at the limit: kept
    assert b.life.open
    world.driver.written(b, 101)
    assert b.life.closed
    assert world.port.take() == [("drop", b.id)]
    assert world.driver.conns.get(b.id) is None
    assert "guest2 is disconnected" in world.flush()[a.id].decode()


def test_quit_flushes_then_fin_then_closes_on_the_peers_fin() -> None:
    world = World()
    a, b = world.connect(), world.connect()
    world.flush()
    world.port.take()
    world.driver.received(b, b"QUIT\n")
    assert b.life.phase is Phase.CLOSING
    assert b.life.deadline == world.clock.now + CLOSE_FLUSH_SECONDS
    world.clock.now += 1
    assert lines(world.flush()[b.id]) == ["[server] Goodbye, guest2."]
    assert world.port.take() == [("send_fin", b.id)]
    assert phase(b) is Phase.LINGERING
    world.driver.received(b, b"ignored, read only so as not to reset\n")
    assert world.driver.dirty == []
    world.driver.eof(b)
    assert world.port.take() == [("close", b.id)]
    assert world.driver.conns.get(b.id) is None
    assert a.life.open


def test_a_close_with_nothing_queued_still_reaches_the_fin() -> None:
    world = World(ServerConfig(mode=Mode.ECHO))
    a = world.connect()
    world.driver.eof(a)  # echo: EOF closes at once, with nothing to say
    assert world.port.take() == [("reading_changed", a.id)]
    assert a.life.phase is Phase.CLOSING
    assert world.driver.closing == [a]
    assert world.flush() == {}
    assert world.port.take() == [("close", a.id)]  # the peer already sent its FIN: no FIN, no linger


def test_output_queued_after_a_write_goes_before_the_fin() -> None:
    world = World()
    a = world.connect()
    world.flush()
    world.port.take()
    world.driver.received(a, b"QUIT\n")
    world.driver.written(a, 0)  # an earlier write completes while the goodbye is still pending
    assert world.port.take() == []
    assert lines(world.flush()[a.id]) == ["[server] Goodbye, guest1."]
    assert world.port.take() == [("send_fin", a.id)]


def test_a_client_that_never_takes_its_last_bytes_is_dropped_at_the_deadline() -> None:
    world = World()
    a = world.connect()
    world.flush()
    world.driver.received(a, b"QUIT\n")
    world.driver.take_dirty()
    world.driver.written(a, 50)  # the kernel will not take the goodbye
    world.port.take()
    assert world.driver.next_deadline() == a.life.deadline
    world.clock.now += CLOSE_FLUSH_SECONDS - 0.01
    world.driver.run_timers(worked=False)
    assert world.port.take() == []
    world.clock.now += 0.01
    world.driver.run_timers(worked=False)
    assert world.port.take() == [("drop", a.id)]


def test_a_client_that_never_sends_its_fin_is_closed_after_the_linger() -> None:
    world = World()
    a = world.connect()
    world.flush()
    world.driver.received(a, b"QUIT\n")
    world.flush()
    world.port.take()
    world.clock.now += LINGER_SECONDS
    world.driver.run_timers(worked=False)
    assert world.port.take() == [("close", a.id)]


def test_a_failed_fin_drops_the_connection() -> None:
    world = World()
    a = world.connect()
    world.flush()
    world.port.fin_fails = True
    world.driver.received(a, b"QUIT\n")
    world.flush()
    assert world.port.take() == [("send_fin", a.id), ("drop", a.id)]
    assert a.life.closed


def test_flood_control_pauses_reading_and_the_timer_resumes_it() -> None:
    world = World(ServerConfig(oper_password="pw", rate_lines=1, rate_burst=1))
    a, b = world.connect(), world.connect()
    world.flush()
    world.port.take()
    world.driver.received(a, b"MSG 1\nMSG 2\n")
    assert a.life.paused and not a.life.reading
    assert world.port.take() == [("reading_changed", a.id)]
    assert lines(world.flush()[b.id]) == ["[guest1] 1"]
    due = world.driver.next_deadline()
    assert due is not None and due > world.clock.now
    world.clock.now = due
    world.driver.run_timers(worked=False)
    assert a.life.reading
    assert world.port.take() == [("socket_error", a.id), ("reading_changed", a.id)]  # probed, then resumed
    assert lines(world.flush()[b.id]) == ["[guest1] 2"]


def test_a_paused_connection_is_checked_for_a_reset_and_its_held_lines_are_dropped() -> None:
    world = World(ServerConfig(oper_password="pw", rate_lines=1, rate_burst=1))
    a, b = world.connect(), world.connect()
    world.flush()
    world.driver.received(a, b"MSG 1\n" + b"MSG held\n" * 5)
    assert a.life.paused
    world.flush()
    world.port.take()
    probe_at = world.clock.now + _driver.PAUSED_PROBE_SECONDS
    assert world.driver.next_deadline() == pytest.approx(min(probe_at, world.clock.now + 1))
    world.clock.now = probe_at - 0.5  # the core's own tick, before the probe: nothing asked yet
    world.driver.run_timers(worked=False)
    assert ("socket_error", a.id) not in world.port.take()
    world.clock.now = probe_at  # the probe: the socket is fine, it stays paused (or resumed by the tick)
    world.driver.run_timers(worked=False)
    assert ("socket_error", a.id) in world.port.take()
    world.flush()
    world.port.errors[a.id] = ConnectionResetError(104, "reset by peer")
    world.clock.now = probe_at + _driver.PAUSED_PROBE_SECONDS
    world.driver.run_timers(worked=False)
    assert world.port.take()[-1] == ("drop", a.id)
    assert ConnectionReset(conn=a.id) in world.core.events
    assert lines(world.flush()[b.id]) == ["[server] guest1 is disconnected"]  # no held line after it
    assert world.driver.next_deadline() is None  # nobody left paused: no more probes


def test_closing_a_paused_connection_reads_it_again() -> None:
    world = World(ServerConfig(oper_password="pw", rate_lines=1, rate_burst=1))
    a = world.connect()
    world.flush()
    world.driver.received(a, b"PING\n" + b"MSG x\n" * 5)
    assert a.life.paused
    world.port.take()
    world.driver.shutdown()
    assert a.life.phase is Phase.CLOSING and a.life.reading
    assert ("reading_changed", a.id) in world.port.take()


def test_a_reset_drops_the_connection_and_the_others_hear_of_it() -> None:
    world = World()
    a, b = world.connect(), world.connect()
    world.flush()
    world.port.take()
    world.driver.lost(b, ConnectionResetError("reset by peer"))
    assert world.port.take() == [("drop", b.id)]
    assert ConnectionReset(conn=b.id) in world.core.events
    assert "guest2 is disconnected" in world.flush()[a.id].decode()
    world.driver.lost(b)  # again: nothing more
    world.driver.eof(b)
    assert world.port.take() == []


def test_what_a_closing_connection_sends_is_discarded_and_a_reset_is_not_reported() -> None:
    world = World()
    a = world.connect()
    world.flush()
    world.driver.received(a, b"QUIT\n")
    events = len(world.core.events)
    world.driver.received(a, b"MSG too late\n")
    world.driver.lost(a)
    assert len(world.core.events) == events


def test_the_core_failing_on_one_connection_costs_that_connection_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World(fails=lambda event: isinstance(event, DataReceived) and b"boom" in event.data)
    a, b, c = world.connect(), world.connect(), world.connect()
    world.flush()
    world.port.take()
    with caplog.at_level(logging.ERROR, logger=log.name):
        world.driver.received(b, b"boom\n")
    assert world.port.take() == [("drop", b.id)]
    assert ConnectionReset(conn=b.id) in world.core.events
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage() == "connection 2: the core failed on DataReceived; dropping the connection"
    assert record.exc_info is not None
    written = world.flush()
    assert "guest2 is disconnected" in written[a.id].decode()
    assert written[a.id] == written[c.id]
    world.driver.received(a, b"PING still here\n")
    assert lines(world.flush()[a.id]) == ["[server] PONG still here"]


def test_the_core_failing_on_opening_drops_the_new_connection() -> None:
    world = World(fails=lambda event: isinstance(event, ConnectionOpened) and event.conn == 2)
    a = world.connect()
    b = world.connect()
    assert b.life.closed
    assert world.driver.conns.get(b.id) is None
    assert world.driver.conns.get(a.id) is a


def test_the_core_failing_on_a_tick_or_the_shutdown_is_logged_and_the_server_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = World(
        ServerConfig(oper_password="pw", rate_lines=10),  # the time goes to the core before every read
        fails=lambda event: isinstance(event, Tick | ShutdownRequested) and world.clock.now >= 2000,
    )
    a, b = world.connect(), world.connect()
    world.flush()
    world.port.take()
    world.clock.now = 2000.0
    with caplog.at_level(logging.ERROR, logger=log.name):
        world.driver.received(a, b"MSG after a failed tick\n")
        world.driver.shutdown()
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "the core failed on Tick; going on",
        "the core failed on Tick; going on",
        "the core failed on ShutdownRequested; going on",
    ]
    assert lines(world.flush()[b.id]) == ["[guest1] after a failed tick"]
    assert a.life.open and b.life.open  # nobody was told to go: the drain's end will drop them
    world.driver.end(cut_short=False)
    assert sorted(world.port.take()) == [("drop", a.id), ("drop", b.id)]


def test_shutdown_closes_everyone_and_the_end_drops_who_is_left(caplog: pytest.LogCaptureFixture) -> None:
    world = World()
    a, b = world.connect(), world.connect()
    world.flush()
    world.driver.shutdown()
    assert a.life.phase is b.life.phase is Phase.CLOSING
    written = world.flush()
    assert lines(written[a.id])[-1] == "[server] Server is shutting down"
    world.driver.eof(a)
    world.port.take()
    with caplog.at_level(logging.INFO, logger=log.name):
        world.driver.end(cut_short=True)
    assert world.port.take() == [("drop", b.id)]
    assert "shutdown: a second signal, closing 1 connection now" in caplog.messages
    world.driver.end(cut_short=False)  # nobody left: nothing to say
    assert caplog.messages.count("shutdown: a second signal, closing 1 connection now") == 1


def test_memory_is_handed_back_after_a_quiet_moment_following_work(monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[float] = []
    world = World()
    monkeypatch.setattr(_driver, "release_free_memory", lambda: trims.append(world.clock.now))
    world.driver.run_timers(worked=True)
    started = world.clock.now
    assert world.driver.next_deadline() == started + TRIM_AFTER_IDLE_SECONDS
    assert world.driver.seconds_to_deadline() == TRIM_AFTER_IDLE_SECONDS
    world.clock.now += TRIM_AFTER_IDLE_SECONDS
    world.driver.run_timers(worked=False)
    world.clock.now += 10
    world.driver.run_timers(worked=False)
    assert trims == [started + TRIM_AFTER_IDLE_SECONDS]
    assert world.driver.next_deadline() is None
    assert world.driver.seconds_to_deadline() is None


def test_the_drain_waits_for_the_closes_within_the_bound_and_drops_the_rest() -> None:
    world = World()
    a, b = world.connect(), world.connect()
    world.flush()
    stop = Stop()
    stop.signal()
    waits = []
    for left in world.driver.drain(stop):
        waits.append(left)
        if len(waits) == 1:  # a takes its goodbye and closes; b never reads
            world.flush()
            world.driver.eof(a)
            world.port.take()
        else:
            world.clock.now += left  # the bound passes
    assert waits == [SHUTDOWN_FLUSH_SECONDS, SHUTDOWN_FLUSH_SECONDS]
    assert world.port.take() == [("drop", b.id)]
    assert len(world.driver.conns) == 0


def test_a_second_signal_ends_the_drain_at_once() -> None:
    world = World()
    world.connect()
    stop = Stop()
    stop.signal()
    waits = 0
    for _ in world.driver.drain(stop):
        waits += 1
        stop.signal()
    assert waits == 1
    assert len(world.driver.conns) == 0


def test_with_nobody_connected_the_drain_is_over_at_once() -> None:
    world = World()
    stop = Stop()
    stop.signal()
    assert list(world.driver.drain(stop)) == []

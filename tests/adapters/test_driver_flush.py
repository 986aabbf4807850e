"""The flush policy in the driver, with a fake backend and a clock the test moves.

A backend asks ``flush_now()`` once per pass with output waiting; a held
flush makes the hold's deadline the driver's next one (the backend sleeps
until then, or until input comes), and what was held goes out in order.
"""

from __future__ import annotations

import pytest

from adapters._flush_policy import MANY_WAITING, TIMER_RESOLUTION, FlushConfig
from adapters._table import Route

from .fake_backend import World, lines

BOUND = 0.05


def _busy_world(delay: float = BOUND, many: int = 1) -> World:
    """Two clients, welcomed, and a flush only just over; a flush is held from ``many`` waiting."""
    world = World(flush=FlushConfig(delay=delay, many=many))
    world.connect()
    world.connect()
    assert world.driver.flush_now()
    world.flush()
    world.port.calls.clear()
    return world


def test_a_lone_line_on_an_idle_server_goes_out_at_once() -> None:
    world = _busy_world()
    a, b = world.driver.conns
    world.clock.now += 10.0  # quiet
    world.driver.received(a, b"MSG hello\n")
    assert world.driver.flush_now()
    assert lines(world.flush()[b.id]) == ["[guest1] hello"]


def test_a_busy_server_holds_until_a_bound_after_its_last_flush_and_the_backend_may_sleep() -> None:
    world = _busy_world()
    a, b = world.driver.conns
    flushed_at = world.clock.now
    world.clock.now += 0.0001
    world.driver.received(a, b"MSG one\n")
    assert not world.driver.flush_now()  # output right after a flush: held
    assert world.driver.flush_due and world.driver.flush_held
    deadline = flushed_at + BOUND - TIMER_RESOLUTION
    assert world.driver.next_deadline() == pytest.approx(deadline)  # sleep until then
    world.clock.now += 0.01
    world.driver.received(a, b"MSG two\n")
    assert not world.driver.flush_now()  # more came: still held, joined
    world.clock.now = deadline
    assert world.driver.flush_now()  # the deadline: out, in order, in one write
    assert lines(world.flush()[b.id]) == ["[guest1] one", "[guest1] two"]
    assert not world.driver.flush_held
    assert world.driver.next_deadline() != pytest.approx(deadline)


def test_output_for_fewer_connections_than_many_is_not_held() -> None:
    world = _busy_world(many=MANY_WAITING)
    a, b = world.driver.conns
    world.clock.now += 0.0001
    world.driver.received(a, b"MSG one\n")
    assert world.driver.flush_now()  # one connection waits: at once
    assert lines(world.flush()[b.id]) == ["[guest1] one"]


def test_a_held_flush_goes_by_the_bound_however_much_keeps_coming() -> None:
    world = _busy_world()
    a, b = world.driver.conns
    sent = []
    step = BOUND / 100
    start = world.clock.now + step  # the first line's pass
    for i in range(200):
        world.clock.now += step
        world.driver.received(a, b"MSG %d\n" % i)
        sent.append(f"[guest1] {i}")
        if world.driver.flush_now():
            break
    held = world.clock.now - start
    assert BOUND - TIMER_RESOLUTION - step <= held < BOUND  # within the bound, less a timer's lateness
    assert lines(world.flush()[b.id]) == sent


def test_with_a_zero_bound_every_pass_flushes() -> None:
    world = _busy_world(delay=0.0)
    a, b = world.driver.conns
    for i in range(3):
        world.driver.received(a, b"MSG %d\n" % i)
        assert world.driver.flush_now()
        assert lines(world.flush()[b.id]) == [f"[guest1] {i}"]
    assert not world.driver.flush_now()  # nothing to do


def test_a_close_waits_for_the_held_flush_and_its_goodbye_still_comes_before_the_fin() -> None:
    world = _busy_world()
    a, _ = world.driver.conns
    world.clock.now += 0.0001
    world.driver.received(a, b"QUIT\n")
    assert not world.driver.flush_now()
    assert a.route is Route.PLAIN
    world.port.take()
    world.clock.now += BOUND
    assert world.driver.flush_now()
    assert lines(world.flush()[a.id]) == ["[server] Goodbye, guest1."]
    assert world.port.take() == [("send_fin", a.id)]

"""The flush policy in the driver, with a fake backend and a clock the test moves.

A backend asks ``flush_now()`` once per pass with output waiting; a held
flush makes the driver's next deadline "now" (the backend polls, it does not
sleep) and wakes the backend, and what was held goes out in order.
"""

from __future__ import annotations

from adapters._flush_policy import FlushConfig
from adapters._table import Route

from .fake_backend import World, lines

BOUND = 0.05


def _busy_world(delay: float = BOUND) -> World:
    """Two clients, welcomed, and a flush only just over."""
    world = World(flush=FlushConfig(delay=delay))
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


def test_a_busy_pass_holds_the_flush_and_the_backend_polls_until_nothing_new_comes() -> None:
    world = _busy_world()
    a, b = world.driver.conns
    world.clock.now += 0.0001
    world.driver.received(a, b"MSG one\n")
    assert not world.driver.flush_now()  # new work right after a flush: held
    assert world.driver.flush_due  # (something is to do, all the same)
    assert ("wake", 0) in world.port.calls  # another pass must come...
    assert world.driver.next_deadline() == world.clock.now  # ...without sleeping
    world.clock.now += 0.0001
    world.driver.received(a, b"MSG two\n")
    assert not world.driver.flush_now()  # more came: still held
    world.clock.now += 0.0001
    assert world.driver.flush_now()  # a pass with nothing new: out, in order, in one write
    assert lines(world.flush()[b.id]) == ["[guest1] one", "[guest1] two"]
    assert world.driver.next_deadline() != world.clock.now


def test_a_held_flush_goes_at_the_bound_however_much_keeps_coming() -> None:
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
    assert BOUND <= held < BOUND + step * 1.5  # until the bound had passed, not a pass longer
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

"""The flush policy, with time as an argument: at once when idle or small, once per delay when busy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters._flush_policy import (
    DEFAULT_FLUSH_DELAY,
    MANY_WAITING,
    MAX_FLUSH_DELAY,
    TIMER_RESOLUTION,
    FlushConfig,
    FlushPolicy,
    FlushState,
)

DELAY = 0.003
MANY = MANY_WAITING


def test_the_default_is_off_and_a_delay_within_the_timer_resolution_holds_nothing() -> None:
    assert DEFAULT_FLUSH_DELAY == 0.0
    assert not FlushPolicy(FlushConfig()).enabled
    assert not FlushPolicy(FlushConfig(delay=TIMER_RESOLUTION)).enabled
    assert FlushPolicy(FlushConfig(delay=0.002)).enabled


@pytest.mark.parametrize("delay", [-0.1, float("nan"), float("inf"), MAX_FLUSH_DELAY * 2])
def test_a_bound_out_of_range_is_refused(delay: float) -> None:
    with pytest.raises(ValueError, match="a flush delay is between 0 and"):
        FlushConfig(delay=delay)


def test_a_threshold_below_one_connection_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1 waiting connection"):
        FlushConfig(delay=DELAY, many=0)


def test_the_first_output_goes_at_once() -> None:
    policy = FlushPolicy(FlushConfig(delay=DELAY))
    assert policy.due(10.0, waiting=MANY)
    assert policy.state is FlushState.READY


def test_output_after_a_quiet_moment_goes_at_once() -> None:
    policy = FlushPolicy(FlushConfig(delay=DELAY))
    policy.flushed(10.0)
    assert policy.due(10.0 + DELAY, waiting=MANY)  # the last flush is a bound ago: idle


def test_output_for_few_connections_goes_at_once_even_right_after_a_flush() -> None:
    policy = FlushPolicy(FlushConfig(delay=DELAY))
    policy.flushed(10.0)
    assert policy.due(10.0001, waiting=MANY - 1)
    assert policy.state is FlushState.READY


def test_a_busy_server_flushes_a_bound_after_its_last_flush_less_the_timer_resolution() -> None:
    policy = FlushPolicy(FlushConfig(delay=DELAY))
    policy.flushed(10.0)
    assert not policy.due(10.0001, waiting=MANY)  # many waiting, a flush only just over: hold
    assert policy.state is FlushState.HOLDING
    deadline = 10.0 + DELAY - TIMER_RESOLUTION  # a wait may end a resolution late: still in the bound
    assert policy.deadline == pytest.approx(deadline)
    assert not policy.due(10.0015, waiting=1)  # while held, more or fewer waiting: still held
    assert policy.due(deadline, waiting=MANY)
    policy.flushed(deadline)
    assert _state(policy) is FlushState.READY
    assert policy.deadline is None


def _state(policy: FlushPolicy) -> FlushState:
    """Read through a call: mypy keeps no narrowing across it."""
    return policy.state


def test_a_zero_bound_flushes_every_time() -> None:
    policy = FlushPolicy(FlushConfig(delay=0.0))
    assert not policy.enabled
    policy.flushed(10.0)
    assert policy.due(10.0, waiting=10 * MANY)
    assert policy.state is FlushState.READY


# A loop pass: how long after the previous one it comes, and how many connections it left waiting
# for output (0: none, the backend does not ask).
passes = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=0.004), st.integers(min_value=0, max_value=2 * MANY)),
    min_size=1,
    max_size=60,
)


@given(delay=st.sampled_from([0.0, 0.001, 0.002, 0.005]), steps=passes)
def test_output_is_never_held_past_the_bound_and_never_when_idle_small_or_off(
    delay: float, steps: list[tuple[float, int]]
) -> None:
    """A backend's passes: output waits from the pass that queued it until a flush.

    A backend asks at the latest at the deadline, and may ask up to a timer
    resolution later: the flush must still come before the bound.
    """
    policy = FlushPolicy(FlushConfig(delay=delay))
    now = 100.0
    last_flush: float | None = None
    waiting_since: float | None = None
    for gap, waiting in steps:
        now = min(now + gap, policy.deadline + TIMER_RESOLUTION) if policy.deadline is not None else now + gap
        if waiting_since is None:
            if not waiting:
                continue  # nothing waits: the backend does not ask
            waiting_since = now
        idle = last_flush is None or now - last_flush >= delay - TIMER_RESOLUTION
        held_before = policy.state is FlushState.HOLDING
        due = policy.due(now, waiting=max(waiting, 1))
        if delay <= TIMER_RESOLUTION or (not held_before and (idle or waiting < MANY)):
            assert due  # off, idle, or few waiting: at once
        if not due:
            assert policy.state is FlushState.HOLDING
            assert policy.deadline is not None
            assert now < policy.deadline
            assert policy.deadline + TIMER_RESOLUTION <= waiting_since + delay  # asked late, still in time
            continue
        assert now - waiting_since <= delay  # out within the bound
        policy.flushed(now)
        last_flush, waiting_since = now, None

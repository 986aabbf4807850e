"""The flush policy, with time as an argument: at once when idle, held within the bound when busy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters._flush_policy import DEFAULT_FLUSH_DELAY, MAX_FLUSH_DELAY, FlushConfig, FlushPolicy, FlushState

DELAY = 0.001


def test_the_default_is_off_as_the_benchmark_found_best_so_far() -> None:
    assert DEFAULT_FLUSH_DELAY == 0.0
    assert not FlushPolicy(FlushConfig()).enabled
    assert FlushPolicy(FlushConfig(delay=0.0002)).enabled


@pytest.mark.parametrize("delay", [-0.1, float("nan"), float("inf"), MAX_FLUSH_DELAY * 2])
def test_a_bound_out_of_range_is_refused(delay: float) -> None:
    with pytest.raises(ValueError, match="a flush delay is between 0 and"):
        FlushConfig(delay=delay)


def test_the_first_output_goes_at_once() -> None:
    policy = FlushPolicy(FlushConfig(delay=DELAY))
    assert policy.due(10.0, fresh=True)
    assert policy.state is FlushState.READY


def test_output_after_a_quiet_moment_goes_at_once() -> None:
    policy = FlushPolicy(FlushConfig(delay=DELAY))
    policy.flushed(10.0)
    assert policy.due(10.0 + 1.5 * DELAY, fresh=True)  # the last flush is over a bound ago: idle


def test_a_busy_pass_holds_until_a_pass_brings_nothing_new() -> None:
    policy = FlushPolicy(FlushConfig(delay=DELAY))
    policy.flushed(10.0)
    assert not policy.due(10.0001, fresh=True)  # new work, a flush only just over: hold
    assert policy.state is FlushState.HOLDING
    assert policy.deadline == pytest.approx(10.0001 + DELAY)
    assert not policy.due(10.0002, fresh=True)  # more came: still held
    assert policy.due(10.0003, fresh=False)  # nothing more: out
    policy.flushed(10.0003)
    assert _state(policy) is FlushState.READY
    assert policy.deadline is None


def _state(policy: FlushPolicy) -> FlushState:
    """Read through a call: mypy keeps no narrowing across it."""
    return policy.state


def test_a_hold_ends_at_its_deadline_however_much_keeps_coming() -> None:
    policy = FlushPolicy(FlushConfig(delay=DELAY))
    policy.flushed(10.0)
    assert not policy.due(10.0001, fresh=True)
    assert not policy.due(10.0001 + DELAY / 2, fresh=True)
    assert policy.due(10.0001 + DELAY, fresh=True)


def test_a_pass_that_found_nothing_new_flushes_even_right_after_a_flush() -> None:
    policy = FlushPolicy(FlushConfig(delay=DELAY))
    policy.flushed(10.0)
    assert policy.due(10.0, fresh=False)


def test_a_zero_bound_flushes_every_time() -> None:
    policy = FlushPolicy(FlushConfig(delay=0.0))
    assert not policy.enabled
    policy.flushed(10.0)
    assert policy.due(10.0, fresh=True)
    assert policy.state is FlushState.READY


# A loop pass: how long after the previous one it comes, and whether it brought new work.
passes = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=0.002), st.booleans()), min_size=1, max_size=60
)


@given(delay=st.sampled_from([0.0, 0.00005, 0.0002, 0.001]), steps=passes)
def test_output_is_never_held_past_the_bound_and_never_when_idle_or_off(
    delay: float, steps: list[tuple[float, bool]]
) -> None:
    """A backend's passes: output waits from the first pass that found it until a flush."""
    policy = FlushPolicy(FlushConfig(delay=delay))
    now = 100.0
    last_flush: float | None = None
    waiting_since: float | None = None
    for gap, fresh in steps:
        now += gap
        if waiting_since is None:
            if not fresh:
                continue  # nothing waits: the backend does not ask
            waiting_since = now
        idle = last_flush is None or now - last_flush >= delay
        due = policy.due(now, fresh=fresh)
        if delay == 0.0 or (idle and policy.state is FlushState.READY) or not fresh:
            assert due  # off, idle, or nothing more coming: at once
        if now >= waiting_since + delay:
            assert due  # never held past the bound
        if not due:
            assert policy.state is FlushState.HOLDING
            assert policy.deadline is not None
            assert policy.deadline <= waiting_since + delay  # the bound, from the first pass with output
            assert now < policy.deadline
            continue
        policy.flushed(now)
        last_flush, waiting_since = now, None

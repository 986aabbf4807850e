"""A connection's closing lifecycle and the server's stop, with no socket: time is an argument."""

from __future__ import annotations

import pytest

from adapters._lifecycle import (
    CLOSE_FLUSH_SECONDS,
    LINGER_SECONDS,
    SHUTDOWN_FLUSH_SECONDS,
    Lifecycle,
    Phase,
    Step,
    Stop,
    StopPhase,
)


def state(life: Lifecycle) -> tuple[Phase, bool, float | None]:
    """Phase, read interest and deadline (read through a call: mypy keeps no narrowing across it)."""
    return life.phase, life.reading, life.deadline


def test_an_open_connection_is_read_unless_flood_control_paused_it() -> None:
    life = Lifecycle()
    assert (life.phase, life.open, life.reading, life.deadline) == (Phase.OPEN, True, True, None)
    assert life.pause(True)
    assert not life.reading
    assert not life.pause(True)  # no change
    assert life.pause(False)
    assert life.reading


def test_the_orderly_close_flush_fin_linger_peer_fin() -> None:
    life = Lifecycle()
    life.close(now=100.0)
    assert (life.phase, life.open, life.reading) == (Phase.CLOSING, False, True)  # read, to discard
    assert life.deadline == 100.0 + CLOSE_FLUSH_SECONDS
    assert life.flushed(now=101.0) is Step.SEND_FIN
    assert state(life) == (Phase.LINGERING, True, 101.0 + LINGER_SECONDS)
    assert life.eof_received() is Step.CLOSE
    assert state(life) == (Phase.CLOSED, False, None)
    assert life.closed


def test_closing_a_paused_connection_reads_it_again_to_discard() -> None:
    life = Lifecycle()
    life.pause(True)
    life.close(now=0.0)
    assert life.reading
    assert not life.pause(True)  # flood control has nothing more to say about it


def test_after_the_peers_fin_the_close_needs_no_fin_nor_linger() -> None:
    life = Lifecycle()
    assert life.eof_received() is Step.NOTHING  # half-closed: the replies still go out
    assert (life.phase, life.reading) == (Phase.OPEN, False)  # nothing more to read
    life.close(now=5.0)
    assert not life.reading
    assert life.flushed(now=6.0) is Step.CLOSE
    assert life.closed


def test_the_peers_fin_while_flushing_is_remembered() -> None:
    life = Lifecycle()
    life.close(now=0.0)
    assert life.eof_received() is Step.NOTHING
    assert life.phase is Phase.CLOSING
    assert life.flushed(now=1.0) is Step.CLOSE


def test_a_client_that_never_takes_its_last_bytes_is_dropped_at_the_close_deadline() -> None:
    life = Lifecycle()
    life.close(now=10.0)
    assert life.expire(now=10.0 + CLOSE_FLUSH_SECONDS - 0.001) is Step.NOTHING
    assert life.expire(now=10.0 + CLOSE_FLUSH_SECONDS) is Step.DROP
    assert life.closed
    assert life.flushed(now=30.0) is Step.NOTHING  # too late: nothing more happens


def test_a_client_that_never_sends_its_fin_is_closed_after_the_linger() -> None:
    life = Lifecycle()
    life.close(now=0.0)
    life.flushed(now=3.0)
    assert life.expire(now=3.0 + LINGER_SECONDS - 0.001) is Step.NOTHING
    assert life.expire(now=3.0 + LINGER_SECONDS) is Step.CLOSE
    assert life.closed


def test_the_linger_starts_when_the_fin_goes_not_when_the_core_closed() -> None:
    life = Lifecycle()
    life.close(now=0.0)
    life.flushed(now=9.0)  # a slow reader took its last bytes just in time
    assert life.expire(now=CLOSE_FLUSH_SECONDS) is Step.NOTHING  # the close deadline no longer applies
    assert life.deadline == 9.0 + LINGER_SECONDS


@pytest.mark.parametrize("phase_before", ["open", "closing", "lingering"])
def test_abort_closes_at_once_and_says_whether_the_core_knew_it(phase_before: str) -> None:
    life = Lifecycle()
    if phase_before != "open":
        life.close(now=0.0)
    if phase_before == "lingering":
        life.flushed(now=0.0)
    assert life.abort() is (phase_before == "open")
    assert (life.closed, life.reading, life.deadline) == (True, False, None)
    assert life.abort() is False
    assert life.eof_received() is Step.NOTHING
    assert life.expire(now=1e9) is Step.NOTHING


def test_what_does_not_apply_changes_nothing() -> None:
    life = Lifecycle()
    assert life.flushed(now=0.0) is Step.NOTHING  # open: flushing is not closing
    assert life.expire(now=1e9) is Step.NOTHING  # no deadline while open
    life.close(now=0.0)
    deadline = life.deadline
    life.close(now=5.0)  # the core closes once
    assert life.deadline == deadline
    assert "closing" in repr(life)


def test_stop_drains_within_the_bound() -> None:
    stop = Stop()
    assert not stop.requested
    assert stop.phase(now=0.0) is StopPhase.SERVING
    stop.signal()
    assert stop.requested and not stop.cut_short
    assert stop.phase(now=0.0) is StopPhase.SERVING  # until the server starts draining
    deadline = stop.drain(now=50.0)
    assert deadline == 50.0 + SHUTDOWN_FLUSH_SECONDS
    assert stop.drain(now=51.0) == deadline
    assert stop.phase(now=deadline - 0.001) is StopPhase.DRAINING
    assert stop.phase(now=deadline) is StopPhase.ENDING


def test_a_second_signal_ends_the_drain() -> None:
    stop = Stop()
    stop.signal()
    stop.drain(now=0.0)
    stop.signal()
    assert stop.cut_short
    assert stop.phase(now=0.0) is StopPhase.ENDING


def test_a_pending_connection_is_read_by_its_layers_and_opens_when_they_are_ready() -> None:
    life = Lifecycle(pending=True)
    assert (life.phase, life.open, life.reading, life.deadline) == (Phase.PENDING, False, True, None)
    assert life.pause(True)  # its answers wait to be read
    assert not life.reading
    assert life.opened()  # it was paused: the core knows nothing of that, so it is not any more
    assert (life.phase, life.open, life.reading) == (Phase.OPEN, True, True)
    assert not life.opened()


def test_a_pending_connection_closes_as_an_open_one_and_its_abort_concerns_no_core() -> None:
    life = Lifecycle(pending=True)
    assert life.eof_received() is Step.NOTHING  # its layers say what the FIN means
    life.close(now=3.0)
    assert (life.phase, life.deadline) == (Phase.CLOSING, 3.0 + CLOSE_FLUSH_SECONDS)
    other = Lifecycle(pending=True)
    other.pause(True)
    assert not other.abort()
    assert (other.closed, other.paused) == (True, False)

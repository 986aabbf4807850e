"""The backends' timers and accept policy, with time as an argument."""

from __future__ import annotations

import errno

from adapters._accept import ACCEPT_BACKOFF_SECONDS, WARN_EVERY_SECONDS, AcceptThrottle
from adapters._timers import TRIM_AFTER_IDLE_SECONDS, Deadlines, IdleTrim


def test_deadlines_come_out_earliest_first_and_ties_in_push_order() -> None:
    deadlines: Deadlines[str] = Deadlines()
    assert deadlines.next_at is None
    assert deadlines.pop_due(now=1e9) == []
    for when, item in [(5.0, "e"), (1.0, "a"), (3.0, "c1"), (3.0, "c2"), (9.0, "z")]:
        deadlines.push(when, item)
    assert len(deadlines) == 5
    assert deadlines.next_at == 1.0
    assert deadlines.pop_due(now=0.5) == []
    assert deadlines.pop_due(now=3.0) == ["a", "c1", "c2"]
    assert deadlines.next_at == 5.0
    assert deadlines.pop_due(now=100.0) == ["e", "z"]
    assert len(deadlines) == 0


def test_idle_trim_waits_for_a_quiet_moment_after_work_and_trims_once() -> None:
    trim = IdleTrim()
    assert trim.due_at is None
    assert not trim.due(now=100.0)  # no work yet: nothing to hand back
    trim.worked(now=1.0)
    trim.worked(now=2.0)  # more work moves it on
    assert trim.due_at == 2.0 + TRIM_AFTER_IDLE_SECONDS
    assert not trim.due(now=2.0 + TRIM_AFTER_IDLE_SECONDS / 2)
    assert trim.due(now=2.0 + TRIM_AFTER_IDLE_SECONDS)
    assert trim.due_at is None
    assert not trim.due(now=1000.0)  # once: until more work


def _error(code: int) -> OSError:
    return OSError(code, "No such thing")


def test_a_failure_that_concerns_one_peer_changes_nothing() -> None:
    throttle = AcceptThrottle()
    assert throttle.failed(_error(errno.ECONNABORTED), now=0.0) is None
    assert throttle.paused_until is None
    assert not throttle.resume(now=1.0)


def test_running_out_of_descriptors_pauses_accepting_and_warns_with_a_count() -> None:
    throttle = AcceptThrottle()
    warning = throttle.failed(OSError(errno.EMFILE, "Too many open files"), now=10.0)
    assert warning == "cannot accept: Too many open files; pausing accepts briefly"
    assert throttle.paused_until == 10.0 + ACCEPT_BACKOFF_SECONDS
    assert not throttle.resume(now=10.0 + ACCEPT_BACKOFF_SECONDS / 2)
    assert throttle.resume(now=10.0 + ACCEPT_BACKOFF_SECONDS)
    assert throttle.paused_until is None
    assert not throttle.resume(now=11.0)  # once
    # The table is still full: paused again each time, but quiet until the interval is over.
    for i in range(5):
        assert throttle.failed(_error(errno.ENFILE), now=11.0 + i) is None
        assert throttle.paused_until == 11.0 + i + ACCEPT_BACKOFF_SECONDS
    warning = throttle.failed(_error(errno.ENOBUFS), now=10.0 + WARN_EVERY_SECONDS)
    assert warning is not None
    assert warning.endswith("(6 times since the last warning)")

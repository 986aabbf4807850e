"""Flood control: a token bucket whose clock is an input."""

from __future__ import annotations

import math


class TokenBucket:
    """Allows ``rate`` lines per second on average, ``burst`` at once.

    Time only ever comes in as an argument, so a test can replay any arrival
    pattern exactly.
    """

    __slots__ = ("_burst", "_rate", "_tokens", "_updated")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._updated = now

    def try_take(self, now: float) -> bool:
        """Take one token if one is available at ``now``; always so from ``ready_at()`` on."""
        if now > self._updated:
            tokens = self._tokens + (now - self._updated) * self._rate
            if now >= self.ready_at():
                tokens = max(tokens, 1.0)  # rounding must not break ready_at's promise
            self._tokens = min(self._burst, tokens)
            self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def ready_at(self) -> float:
        """The earliest time at which ``try_take`` will succeed: later than now when it fails now.

        However little is missing, the answer is after the last update, so a
        caller that waits for it always makes progress.
        """
        if self._tokens >= 1.0:
            return self._updated
        return max(self._updated + (1.0 - self._tokens) / self._rate, math.nextafter(self._updated, math.inf))

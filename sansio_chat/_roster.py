"""Who is in the room, and the "everyone but the sender" tuples broadcasts go to.

A broadcast names its recipients as a tuple.  Building "everyone but X"
costs O(n) every time, and a chat's traffic comes mostly from a few busy
senders, so the tuples of recent senders are kept until membership changes.
A sender broadcasting again then names the very same tuple object, and a
backend can reuse its own lookup of that tuple by identity (the contract is
in ``Send``'s docstring).
"""

from __future__ import annotations

from ._events import ConnId

#: Recipient slots kept in cached tuples at most (pointers: 1 MiB on 64 bits).
#: With 100 members that is over a thousand senders; with 10,000, thirteen.
OTHERS_BUDGET = 1 << 17


class Roster:
    """Members in arrival order, with cached recipient tuples.

    Membership is kept as the ``everyone`` tuple itself (8 bytes a member):
    joining and leaving rebuild it, which costs O(n) as the notice to
    everyone does anyway.
    """

    __slots__ = ("_cached_slots", "_everyone", "_others")

    def __init__(self) -> None:
        self._everyone: tuple[ConnId, ...] = ()
        self._others: dict[ConnId, tuple[ConnId, ...]] = {}  # oldest first
        self._cached_slots = 0

    @property
    def everyone(self) -> tuple[ConnId, ...]:
        """Every member, in arrival order (the same tuple until membership changes)."""
        return self._everyone

    def add(self, conn: ConnId) -> None:
        """A new member (not one already in), last in arrival order."""
        self._changed((*self._everyone, conn))

    def remove(self, conn: ConnId) -> None:
        """Take out a member."""
        self._changed(self._without(conn))

    def others(self, conn: ConnId) -> tuple[ConnId, ...]:
        """Every member but ``conn`` (a member), in arrival order."""
        cached = self._others.get(conn)
        if cached is not None:
            return cached
        others = self._without(conn)
        self._cached_slots += len(others)
        while self._cached_slots > OTHERS_BUDGET and self._others:
            self._cached_slots -= len(self._others.pop(next(iter(self._others))))
        self._others[conn] = others
        return others

    def _without(self, conn: ConnId) -> tuple[ConnId, ...]:
        everyone = self._everyone
        at = everyone.index(conn)
        return everyone[:at] + everyone[at + 1 :]

    def _changed(self, everyone: tuple[ConnId, ...]) -> None:
        self._everyone = everyone
        self._others.clear()
        self._cached_slots = 0

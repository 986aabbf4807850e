"""Recipient tuples: a group's members, and "everyone but X", reused until membership changes.

A broadcast names its recipients as a tuple.  Building "everyone but X"
costs O(n) every time, and a chat's traffic comes mostly from a few busy
senders, so the tuples of recent senders are kept until membership changes.
A sender broadcasting again then names the very same tuple object, and a
backend can reuse its own lookup of that tuple by identity (the contract is
in ``Send``'s docstring).
"""

from __future__ import annotations

from ._events import ConnId

#: Recipient slots kept in cached tuples at most, over every roster sharing a
#: cache (pointers: 1 MiB on 64 bits).  With 100 members that is over a
#: thousand senders; with 10,000, thirteen.
OTHERS_BUDGET = 1 << 17


class RecipientCache:
    """The "everyone but X" tuples of several rosters, within one budget, oldest dropped first.

    An entry is keyed by its roster's generation, a number no other roster
    state ever had: a roster whose membership changes takes a new one, and
    its old entries are never looked up again (they leave as the budget
    needs room, and count against it until then).
    """

    __slots__ = ("_entries", "_last_generation", "_slots", "get")

    def __init__(self) -> None:
        self._entries: dict[tuple[int, ConnId], tuple[ConnId, ...]] = {}  # oldest first
        self._slots = 0
        self._last_generation = 0
        self.get = self._entries.get  # the C-level lookup itself: the hot path

    def new_generation(self) -> int:
        self._last_generation += 1
        return self._last_generation

    def put(self, key: tuple[int, ConnId], others: tuple[ConnId, ...]) -> None:
        """Keep ``others``, dropping the oldest entries while over the budget (never this one)."""
        entries = self._entries
        self._slots += len(others)
        while self._slots > OTHERS_BUDGET and entries:
            self._slots -= len(entries.pop(next(iter(entries))))
        entries[key] = others


class Roster:
    """Members in arrival order, with cached "everyone but X" tuples.

    Membership is kept as the ``everyone`` tuple itself (8 bytes a member):
    joining and leaving rebuild it, which costs O(n) as the notice to
    everyone does anyway.
    """

    __slots__ = ("_cache", "_cached", "_everyone", "_generation")

    def __init__(self, cache: RecipientCache | None = None) -> None:
        self._cache = cache if cache is not None else RecipientCache()
        self._cached = self._cache.get
        self._everyone: tuple[ConnId, ...] = ()
        self._generation = self._cache.new_generation()

    def __len__(self) -> int:
        return len(self._everyone)

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
        key = (self._generation, conn)
        cached = self._cached(key)
        if cached is not None:
            return cached
        others = self._without(conn)
        self._cache.put(key, others)
        return others

    def _without(self, conn: ConnId) -> tuple[ConnId, ...]:
        everyone = self._everyone
        at = everyone.index(conn)
        return everyone[:at] + everyone[at + 1 :]

    def _changed(self, everyone: tuple[ConnId, ...]) -> None:
        self._everyone = everyone
        self._generation = self._cache.new_generation()

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
    """Keeps the "everyone but X" tuples of several rosters within one budget.

    Each roster keeps its own tuples (looked up by connection, the hot
    path); the cache counts them all, and when a new tuple would pass the
    budget it drops the oldest tuples of that roster, then, if need be,
    everything other rosters hold, oldest roster first.
    """

    __slots__ = ("_holders", "_slots")

    def __init__(self) -> None:
        self._slots = 0
        self._holders: dict[Roster, None] = {}  # rosters holding tuples, oldest first

    def kept(self, roster: Roster, size: int) -> None:
        """``roster`` keeps a new tuple of ``size``: make room for it (it stays, even alone over budget)."""
        self._slots += size
        self._holders[roster] = None
        while self._slots > OTHERS_BUDGET and roster.drop_oldest():
            pass
        for holder in list(self._holders):
            if self._slots <= OTHERS_BUDGET:
                break
            if holder is not roster:
                holder.forget_all()

    def dropped(self, roster: Roster, size: int, *, all_of_it: bool) -> None:
        """``roster`` let go of ``size`` slots (of everything it held, with ``all_of_it``)."""
        self._slots -= size
        if all_of_it:
            self._holders.pop(roster, None)


class Roster:
    """Members in arrival order, with cached "everyone but X" tuples.

    Membership is kept as the ``everyone`` tuple itself (8 bytes a member):
    joining and leaving rebuild it, which costs O(n) as the notice to
    everyone does anyway.
    """

    __slots__ = ("_cache", "_everyone", "_others", "_slots")

    def __init__(self, cache: RecipientCache | None = None) -> None:
        self._cache = cache if cache is not None else RecipientCache()
        self._everyone: tuple[ConnId, ...] = ()
        self._others: dict[ConnId, tuple[ConnId, ...]] = {}  # oldest first
        self._slots = 0

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
        cached = self._others.get(conn)
        if cached is not None:
            return cached
        others = self._without(conn)
        self._others[conn] = others
        self._slots += len(others)
        self._cache.kept(self, len(others))
        return others

    def drop_oldest(self) -> bool:
        """Let go of the oldest tuple kept but the newest; False if there is none."""
        if len(self._others) < 2:
            return False
        size = len(self._others.pop(next(iter(self._others))))
        self._slots -= size
        self._cache.dropped(self, size, all_of_it=False)
        return True

    def forget_all(self) -> None:
        """Let go of every tuple kept."""
        self._others.clear()
        size, self._slots = self._slots, 0
        self._cache.dropped(self, size, all_of_it=True)

    def _without(self, conn: ConnId) -> tuple[ConnId, ...]:
        everyone = self._everyone
        at = everyone.index(conn)
        return everyone[:at] + everyone[at + 1 :]

    def _changed(self, everyone: tuple[ConnId, ...]) -> None:
        self._everyone = everyone
        if self._others:
            self.forget_all()

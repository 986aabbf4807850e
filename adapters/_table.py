"""A backend's connections by id, and the lists of them that broadcasts go to."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from sansio_chat import ConnId

C = TypeVar("C")

#: Connection references kept in cached recipient lists at most (as the core's budget).
RECIPIENTS_BUDGET = 1 << 17
#: Recipient tuples shorter than this are looked up afresh: replies name one
#: connection in a new tuple each time, so caching them would only churn.
CACHE_FROM = 4


class ConnectionTable(Generic[C]):
    """Every connection a backend holds, by the id the core knows it by.

    A ``Send`` names its recipients by id, and turning N ids into connections
    is N dictionary lookups per message, more than the floor relay spends on
    the whole fan-out.  The core names a sender's broadcasts with the same
    tuple object until membership changes, so ``recipients`` keeps the list it
    made for a tuple, keyed by the tuple's identity; the entry holds the tuple,
    so that identity cannot be reused while the entry lives.  Any change to the
    table drops every cached list, so a list never names a connection that has
    left (nor misses one that the tuple names).
    """

    __slots__ = ("_by_id", "_cached", "_cached_slots", "get")

    def __init__(self) -> None:
        self._by_id: dict[ConnId, C] = {}
        self._cached: dict[int, tuple[tuple[ConnId, ...], list[C]]] = {}  # id(tuple): oldest first
        self._cached_slots = 0
        self.get: Callable[[ConnId], C | None] = self._by_id.get  # the C-level lookup itself

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[C]:
        """The connections (not their ids), as a snapshot: safe to close them while iterating."""
        return iter(list(self._by_id.values()))

    def add(self, conn_id: ConnId, conn: C) -> None:
        self._by_id[conn_id] = conn
        self._forget_lists()

    def pop(self, conn_id: ConnId) -> C | None:
        """Remove a connection; None if it was not there."""
        conn = self._by_id.pop(conn_id, None)
        if conn is not None:
            self._forget_lists()
        return conn

    def recipients(self, conn_ids: tuple[ConnId, ...]) -> list[C]:
        """The connections named, in order, skipping ids no longer in the table."""
        if len(conn_ids) < CACHE_FROM:
            get = self._by_id.get
            return [conn for conn in map(get, conn_ids) if conn is not None]
        entry = self._cached.get(id(conn_ids))
        if entry is not None and entry[0] is conn_ids:
            return entry[1]
        get = self._by_id.get
        conns = [conn for conn in map(get, conn_ids) if conn is not None]
        self._cached_slots += len(conns)
        cached = self._cached
        while self._cached_slots > RECIPIENTS_BUDGET and cached:
            self._cached_slots -= len(cached.pop(next(iter(cached)))[1])
        cached[id(conn_ids)] = (conn_ids, conns)
        return conns

    def _forget_lists(self) -> None:
        if self._cached:
            self._cached.clear()
            self._cached_slots = 0

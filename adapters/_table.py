"""A backend's connections by id, and the lists of them that broadcasts go to."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from typing import Generic, NamedTuple, TypeVar

from sansio_chat import ConnId

C = TypeVar("C")

#: Connection references kept in cached recipient lists at most (as the core's budget).
RECIPIENTS_BUDGET = 1 << 17
#: Recipient tuples shorter than this are looked up afresh: replies name one
#: connection in a new tuple each time, so caching them would only churn.
CACHE_FROM = 4


class Route(enum.IntEnum):
    """How the bytes of a ``Send`` become a connection's bytes, decided by its listener."""

    PLAIN = 0  # as the core made them (text, IRC)
    FRAMED = 1  # one WebSocket frame per message, built once per Send and shared
    SEALED = 2  # through the connection's TLS at the flush (frames first, for a web client)


class Recipients(NamedTuple, Generic[C]):
    """The connections a ``Send`` names, split by route, each list in the order named."""

    plain: list[C]
    framed: list[C]
    sealed: list[C]


def _all_plain(conn: object) -> Route:
    return Route.PLAIN


class ConnectionTable(Generic[C]):
    """Every connection a backend holds, by the id the core knows it by.

    A ``Send`` names its recipients by id, and turning N ids into connections
    is N dictionary lookups per message, more than the floor relay spends on
    the whole fan-out.  The core names a sender's broadcasts with the same
    tuple object until membership changes, so ``recipients`` keeps the lists it
    made for a tuple, keyed by the tuple's identity; the entry holds the tuple,
    so that identity cannot be reused while the entry lives.  Any change to the
    table drops every cached list, so a list never names a connection that has
    left (nor misses one that the tuple names).

    The lists are split by ``route`` (a connection's listener decides it, so
    it never changes while the connection is in the table): a fan-out to
    plain connections costs nothing for the others' existence, and a frame
    is built once for all the framed ones.  The table counts the connections
    that are not plain, so that while there are none (no TLS, no web client)
    a list is known to be plain without asking each connection: a join
    announced to everyone comes with a new list each time, since the table
    changed.
    """

    __slots__ = ("_by_id", "_cached", "_cached_slots", "_layered", "_route", "get")

    def __init__(self, route: Callable[[C], Route] = _all_plain) -> None:
        self._by_id: dict[ConnId, C] = {}
        self._cached: dict[int, tuple[tuple[ConnId, ...], Recipients[C]]] = {}  # id(tuple): oldest first
        self._cached_slots = 0
        self._layered = 0  # connections whose route is not PLAIN
        self._route = route
        self.get: Callable[[ConnId], C | None] = self._by_id.get  # the C-level lookup itself

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[C]:
        """The connections (not their ids), as a snapshot: safe to close them while iterating."""
        return iter(list(self._by_id.values()))

    def add(self, conn_id: ConnId, conn: C) -> None:
        self.pop(conn_id)  # (an id is not reused; if it were, the count would stay true)
        self._by_id[conn_id] = conn
        if self._route(conn) is not Route.PLAIN:
            self._layered += 1
        self._forget_lists()

    def pop(self, conn_id: ConnId) -> C | None:
        """Remove a connection; None if it was not there."""
        conn = self._by_id.pop(conn_id, None)
        if conn is not None:
            if self._route(conn) is not Route.PLAIN:
                self._layered -= 1
            self._forget_lists()
        return conn

    def recipients(self, conn_ids: tuple[ConnId, ...]) -> Recipients[C]:
        """The connections named, in order, split by route, skipping ids no longer in the table."""
        if len(conn_ids) < CACHE_FROM:
            get = self._by_id.get
            return self._split([conn for conn in map(get, conn_ids) if conn is not None])
        entry = self._cached.get(id(conn_ids))
        if entry is not None and entry[0] is conn_ids:
            return entry[1]
        get = self._by_id.get
        found = self._split([conn for conn in map(get, conn_ids) if conn is not None])
        self._cached_slots += len(conn_ids)
        cached = self._cached
        while self._cached_slots > RECIPIENTS_BUDGET and cached:
            self._cached_slots -= len(cached.pop(next(iter(cached)))[0])
        cached[id(conn_ids)] = (conn_ids, found)
        return found

    def _split(self, conns: list[C]) -> Recipients[C]:
        if not self._layered:  # the usual case: nothing to split
            return Recipients(conns, [], [])
        route = self._route
        if all(route(conn) is Route.PLAIN for conn in conns):  # a plain fan-out among layered others
            return Recipients(conns, [], [])
        framed = [conn for conn in conns if route(conn) is Route.FRAMED]
        sealed = [conn for conn in conns if route(conn) is Route.SEALED]
        return Recipients([conn for conn in conns if route(conn) is Route.PLAIN], framed, sealed)

    def _forget_lists(self) -> None:
        if self._cached:
            self._cached.clear()
            self._cached_slots = 0

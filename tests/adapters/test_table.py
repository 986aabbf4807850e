"""The backends' connection table: broadcasts resolved to connections, reused safely."""

from __future__ import annotations

import pytest

from adapters import _table
from adapters._table import CACHE_FROM, ConnectionTable, Route


class Conn:
    """A stand-in for a backend's connection object."""

    def __init__(self, conn_id: int) -> None:
        self.conn_id = conn_id

    def __repr__(self) -> str:
        return f"Conn({self.conn_id})"


def table_of(count: int) -> tuple[ConnectionTable[Conn], list[Conn]]:
    table: ConnectionTable[Conn] = ConnectionTable()
    conns = [Conn(i) for i in range(1, count + 1)]
    for conn in conns:
        table.add(conn.conn_id, conn)
    return table, conns


def test_recipients_come_in_the_order_named_and_unknown_ids_are_skipped() -> None:
    table, conns = table_of(6)
    assert table.recipients((5, 99, 1, 3, 2)).plain == [conns[4], conns[0], conns[2], conns[1]]
    assert table.recipients((99,)) == ([], [], [])


def test_the_same_tuple_object_reuses_its_list_and_an_equal_one_is_looked_up_anew() -> None:
    table, conns = table_of(6)
    broadcast = (1, 2, 3, 4, 5)
    first = table.recipients(broadcast)
    assert first.plain == conns[:5]
    assert table.recipients(broadcast) is first
    equal = tuple(list(broadcast))
    assert equal is not broadcast
    again = table.recipients(equal)
    assert again == first and again is not first


def test_short_tuples_are_not_kept() -> None:
    table, _ = table_of(6)
    reply = tuple(range(1, CACHE_FROM))
    assert table.recipients(reply) is not table.recipients(reply)


@pytest.mark.parametrize("change", ["add", "pop"])
def test_any_change_to_the_table_drops_every_kept_list(change: str) -> None:
    table, conns = table_of(6)
    broadcast = (1, 2, 3, 4, 5, 6)
    kept = table.recipients(broadcast)
    if change == "add":
        table.add(7, Conn(7))
    else:
        assert table.pop(3) is conns[2]
        assert table.pop(3) is None
    fresh = table.recipients(broadcast)
    assert fresh is not kept
    assert fresh.plain == ([c for c in conns if c.conn_id != 3] if change == "pop" else conns)


def test_kept_lists_stay_within_their_budget_and_stay_right(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_table, "RECIPIENTS_BUDGET", 10)  # two lists of 5, not three
    table, conns = table_of(6)
    senders = [tuple(i for i in range(1, 7) if i != sender) for sender in range(1, 7)]
    lists = [table.recipients(others) for others in senders]
    assert table.recipients(senders[-1]) is lists[-1]  # the newest is kept
    assert table.recipients(senders[0]) is not lists[0]  # the oldest made room
    for sender, others in enumerate(senders, start=1):
        assert table.recipients(others).plain == [c for c in conns if c.conn_id != sender]


def test_iterating_gives_the_connections_and_survives_removing_them() -> None:
    table, conns = table_of(3)
    for conn in table:
        table.pop(conn.conn_id)
    assert len(table) == 0
    assert list(table) == []
    assert [c for c in conns if table.get(c.conn_id)] == []


def test_recipients_are_split_by_route_each_in_the_order_named() -> None:
    routes = {
        1: Route.PLAIN,
        2: Route.SEALED,
        3: Route.FRAMED,
        4: Route.PLAIN,
        5: Route.FRAMED,
        6: Route.SEALED,
    }
    table: ConnectionTable[Conn] = ConnectionTable(route=lambda conn: routes[conn.conn_id])
    conns = {i: Conn(i) for i in routes}
    for conn_id, conn in conns.items():
        table.add(conn_id, conn)
    broadcast = (6, 5, 4, 3, 2, 1)
    split = table.recipients(broadcast)
    assert split == ([conns[4], conns[1]], [conns[5], conns[3]], [conns[6], conns[2]])
    assert table.recipients(broadcast) is split
    assert table.recipients((3,)) == ([], [conns[3]], [])


def test_the_split_follows_the_connections_in_the_table_as_they_come_and_go() -> None:
    routes = {1: Route.PLAIN, 2: Route.SEALED, 3: Route.PLAIN, 4: Route.FRAMED}
    asked: list[int] = []

    def route(conn: Conn) -> Route:
        asked.append(conn.conn_id)
        return routes[conn.conn_id]

    table: ConnectionTable[Conn] = ConnectionTable(route=route)
    conns = {i: Conn(i) for i in routes}
    for conn_id in (1, 3):
        table.add(conn_id, conns[conn_id])
    asked.clear()
    assert table.recipients((3, 1, 9)) == ([conns[3], conns[1]], [], [])
    assert asked == []  # with no layered connection in the table, none is asked its route
    table.add(2, conns[2])
    table.add(4, conns[4])
    assert table.recipients((1, 2, 3, 4)) == ([conns[1], conns[3]], [conns[4]], [conns[2]])
    assert table.recipients((1, 3)) == ([conns[1], conns[3]], [], [])  # plain among layered others
    table.add(4, conns[4])  # the same id again: counted once
    assert table.pop(2) is conns[2]
    assert table.recipients((4, 1)) == ([conns[1]], [conns[4]], [])
    assert table.pop(4) is conns[4]
    asked.clear()
    assert table.recipients((1, 2, 3, 4)) == ([conns[1], conns[3]], [], [])
    assert asked == []  # the last layered one left

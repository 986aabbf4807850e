"""The core alone: lines per second through ``ChatServerState``, no sockets, no backend.

Workloads on a server with 101 users: ``MSG`` to the 100 others, a
``NICK`` that alternates between two names (a reply plus a broadcast),
``WHO``, and the same message from IRC clients (``PRIVMSG #bench``) to 100
IRC clients.  Each is timed over a fixed number of lines, several times;
the median is reported.  It also checks that a broadcast is rendered once:
one ``Send`` naming all 100 recipients, with a single ``bytes`` object.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from sansio_chat import (
    ChatServerState,
    ConnectionOpened,
    DataReceived,
    DialectName,
    Send,
    ServerConfig,
)

#: Recipients of each broadcast: the sender plus this many others are connected.
RECIPIENTS = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class CoreResult:
    workload: str
    lines: int
    us_per_line: float
    lines_per_s: float


def _server(dialect: DialectName = DialectName.TEXT) -> ChatServerState:
    # Flood control off and no slow-consumer limit in reach: nothing is ever flushed here.
    state = ChatServerState(ServerConfig(rate_lines=0, max_pending_bytes=1 << 60))
    for conn in range(1, RECIPIENTS + 2):
        state.receive(ConnectionOpened(conn=conn, peer=f"127.0.0.1:{40000 + conn}", dialect=dialect))
        if dialect is DialectName.IRC:  # registered as clients do it, in #bench
            hello = b"CAP LS 302\r\nNICK b%d\r\nUSER b 0 * :bench\r\nCAP END\r\nJOIN #bench\r\n" % conn
            state.receive(DataReceived(conn=conn, data=hello))
    return state


def check_rendered_once() -> str:
    """'' if one MSG becomes a single Send to all recipients with one bytes object, else what is wrong."""
    state = _server()
    actions = state.receive(DataReceived(conn=1, data=b"MSG hello, everyone\n"))
    sends = [a for a in actions if isinstance(a, Send)]
    if len(sends) != 1:
        return f"one MSG gave {len(sends)} Send actions, not 1"
    send = sends[0]
    if len(send.conns) != RECIPIENTS or 1 in send.conns:
        return f"the Send names {len(send.conns)} connections, not the {RECIPIENTS} others"
    if type(send.data) is not bytes or send.data != b"[guest1] hello, everyone\n":
        return f"the Send carries {send.data!r}"
    return ""


def _time(workload: str, lines: int, feed: Callable[[], None], repeats: int) -> CoreResult:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        feed()
        times.append(time.perf_counter() - started)
    best = statistics.median(times)
    return CoreResult(
        workload=workload, lines=lines, us_per_line=best * 1e6 / lines, lines_per_s=lines / best
    )


def run(lines: int = 20_000, repeats: int = 5) -> list[CoreResult]:
    """Time each workload over ``lines`` lines, one line per ``DataReceived`` (as a backend reads them)."""
    state = _server()
    msg = [
        DataReceived(conn=1 + i % 10, data=b"MSG %d hello there, a line of chat\n" % i) for i in range(lines)
    ]
    nick = [DataReceived(conn=1, data=b"NICK alice%d\n" % (i % 2)) for i in range(lines)]
    who = [DataReceived(conn=1 + i % 10, data=b"WHO\n") for i in range(lines)]
    irc = _server(DialectName.IRC)
    privmsg = [
        DataReceived(conn=1 + i % 10, data=b"PRIVMSG #bench :%d hello there, a line of chat\r\n" % i)
        for i in range(lines)
    ]

    def feed(events: list[DataReceived], into: ChatServerState = state) -> Callable[[], None]:
        def go() -> None:
            take = into.receive
            for event in events:
                take(event)

        return go

    return [
        _time(f"MSG to {RECIPIENTS} recipients", lines, feed(msg), repeats),
        _time(f"NICK churn ({RECIPIENTS} others told)", lines, feed(nick), repeats),
        _time(f"WHO ({RECIPIENTS + 1} users)", lines // 4, feed(who[: lines // 4]), repeats),
        _time(f"PRIVMSG to {RECIPIENTS} IRC recipients", lines, feed(privmsg, irc), repeats),
    ]

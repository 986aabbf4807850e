"""The kernel's own ways of writing fewer packets, against the one the backends use.

``python -m bench.kernel_writes`` opens ``--connections`` loopback TCP
connections with ``TCP_NODELAY`` set, as the backends set it, and flushes
them pass after pass as a busy server does: in each pass every connection
has ``--lines`` pending chat lines (shared ``bytes`` of ``--line-bytes``
each, as a fan-out leaves them) and gets them written by one strategy:

``join``
    what the backends do: the pending lines joined, one ``send``.
``sendmsg``
    one ``sendmsg`` of the pending lines as separate buffers (no join).
``each``
    one ``send`` per line (what a naive server does; with ``TCP_NODELAY``
    every line is a packet).
``cork``
    ``TCP_CORK`` set, one ``send`` per line, ``TCP_CORK`` cleared (the
    kernel coalesces; two more system calls per connection and pass).
``msg_more``
    one ``send`` per line with ``MSG_MORE`` on all but the last.
``nodelay_toggle``
    ``TCP_NODELAY`` cleared, one ``send`` per line, set again (setting it
    pushes what is queued).
``nagle``
    one ``send`` per line with ``TCP_NODELAY`` off for the whole run:
    Nagle's algorithm coalesces (miniircd's way; it costs latency, which
    this benchmark does not measure).

A child process drains every connection, so the reading is not measured.
It reports, per strategy, the writing thread's CPU time per line (user and
system, ``time.thread_time``) and the TCP segments the machine sent per
line (``/proc/net/snmp``'s ``OutSegs``, machine-wide, so only a rough
guide on a busy host).  Strategies alternate over ``--reps`` repetitions;
medians are printed.  Linux only (``TCP_CORK``, ``MSG_MORE``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import selectors
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HOST = "127.0.0.1"

#: One way of writing a connection's pending lines.
Strategy = Callable[[socket.socket, list[bytes]], None]


def write_joined(sock: socket.socket, lines: list[bytes]) -> None:
    sock.send(b"".join(lines))


def write_vector(sock: socket.socket, lines: list[bytes]) -> None:
    sock.sendmsg(lines)


def write_each(sock: socket.socket, lines: list[bytes]) -> None:
    for line in lines:
        sock.send(line)


def write_corked(sock: socket.socket, lines: list[bytes]) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    for line in lines:
        sock.send(line)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)


def write_with_more(sock: socket.socket, lines: list[bytes]) -> None:
    last = len(lines) - 1
    for index, line in enumerate(lines):
        sock.send(line, socket.MSG_MORE if index < last else 0)


def write_nodelay_toggled(sock: socket.socket, lines: list[bytes]) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
    for line in lines:
        sock.send(line)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


STRATEGIES: dict[str, Strategy] = {
    "join": write_joined,
    "sendmsg": write_vector,
    "each": write_each,
    "cork": write_corked,
    "msg_more": write_with_more,
    "nodelay_toggle": write_nodelay_toggled,
    "nagle": write_each,
}

#: The strategies that run with Nagle's algorithm on (``TCP_NODELAY`` cleared for the run).
WITH_NAGLE = frozenset({"nagle"})


def _drain(listener: socket.socket, connections: int) -> None:
    """The reading side (a child process): accept every connection, read until each one ends."""
    selector = selectors.DefaultSelector()
    for _ in range(connections):
        conn, _ = listener.accept()
        conn.setblocking(False)
        selector.register(conn, selectors.EVENT_READ)
    listener.close()
    open_count = connections
    while open_count:
        for key, _ in selector.select():
            ready = key.fileobj
            assert isinstance(ready, socket.socket)
            if not ready.recv(1 << 18):
                selector.unregister(ready)
                ready.close()
                open_count -= 1


def _out_segments() -> int:
    """TCP segments this machine has sent (all of them: a rough guide)."""
    rows = [
        line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Tcp:")
    ]
    return int(rows[1][rows[0].index("OutSegs")])


def _one_run(name: str, socks: list[socket.socket], lines: list[bytes], passes: int) -> tuple[float, float]:
    """CPU microseconds and segments per line for ``passes`` flushes of every connection."""
    strategy, nagle = STRATEGIES[name], name in WITH_NAGLE
    for sock in socks if nagle else ():
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
    segments = _out_segments()
    started = time.thread_time()
    for _ in range(passes):
        for sock in socks:
            strategy(sock, lines)
    cpu = time.thread_time() - started
    for sock in socks if nagle else ():
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    total = passes * len(socks) * len(lines)
    return cpu * 1e6 / total, (_out_segments() - segments) / total


def run(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    listener = socket.create_server((HOST, 0), backlog=args.connections)
    port = listener.getsockname()[1]
    drainer = multiprocessing.get_context("fork").Process(target=_drain, args=(listener, args.connections))
    drainer.start()
    listener.close()
    socks = []
    for _ in range(args.connections):
        sock = socket.create_connection((HOST, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(sock)
    line = b"<guest12> " + b"x" * max(0, args.line_bytes - 11) + b"\n"
    lines = [line] * args.lines
    measured: dict[str, list[tuple[float, float]]] = {name: [] for name in args.strategies}
    deadline = time.monotonic() + args.max_seconds
    try:
        for _ in range(args.reps):
            for name in args.strategies:
                measured[name].append(_one_run(name, socks, lines, args.passes))
            if time.monotonic() > deadline:
                break
    finally:
        for sock in socks:
            sock.close()
        drainer.join(30)
    return {
        name: {
            "cpu_us_per_line": statistics.median(cpu for cpu, _ in runs),
            "segments_per_line": statistics.median(segs for _, segs in runs),
        }
        for name, runs in measured.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kernel_writes", description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--lines", type=int, default=4, help="pending lines per connection and pass")
    parser.add_argument("--line-bytes", type=int, default=60)
    parser.add_argument("--passes", type=int, default=200, help="flushes of every connection per run")
    parser.add_argument("--reps", type=int, default=5, help="alternating repetitions (medians are printed)")
    parser.add_argument("--max-seconds", type=float, default=120.0, help="no new repetition after this")
    parser.add_argument("--strategies", type=lambda text: text.split(","), default=list(STRATEGIES))
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout instead of a table")
    args = parser.parse_args(argv)
    unknown = [name for name in args.strategies if name not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategies: {', '.join(unknown)} (known: {', '.join(STRATEGIES)})")
    results = run(args)
    if args.json:
        print(json.dumps(results))
        return 0
    base = results.get("join", {}).get("cpu_us_per_line")
    print(
        f"{args.connections} connections, {args.lines} lines of {args.line_bytes} bytes"
        f" per connection and pass, medians of {args.reps}"
    )
    for name, result in results.items():
        ratio = f"  {result['cpu_us_per_line'] / base:5.2f}x join" if base else ""
        print(
            f"{name:15} {result['cpu_us_per_line']:7.3f} µs CPU/line"
            f"  {result['segments_per_line']:5.2f} segments/line{ratio}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

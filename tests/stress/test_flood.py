"""Floods: lines past the token bucket are delayed, never dropped; only the flooder is slowed.

The bucket (--rate-lines per second, --rate-burst at once) is checked from
the outside: message ``i`` of a flood sent at ``t0`` can reach another client
no sooner than ``t0 + (i + 1 - burst) / rate`` (the bucket starts full at
most), and, the server being otherwise idle, not much later either.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.conformance.conftest import StartServer
from tests.conformance.server import OPER_PASSWORD

from .checks import assert_quiet_log, assert_same_order
from .conftest import Figures, MakeSwarm
from .procfs import PeakOwnMemory, needs_procfs
from .swarm import Peer, Swarm

#: How long another client's PING may take to be answered while someone floods.
PROMPT = 0.5
#: Lateness allowed on a 2-core machine shared with the test itself and other jobs.
SLACK = 1.0
#: Rounding between the test's clock and the server's.
EPSILON = 0.01


class _Pinger:
    """Sends a PING every ``every`` seconds and measures how long each PONG takes.

    The test's own loop can be held up too (two shared cores): the longest gap
    between two of its passes while a PING was out is subtracted, so that only
    a delay the server must have caused fails the check.
    """

    def __init__(self, swarm: Swarm, peer: Peer, every: float = 0.1) -> None:
        self.swarm = swarm
        self.peer = peer
        self.every = every
        self.count = 0
        self.sent_at: float | None = None
        self.next_at = time.monotonic()
        self.last_poll = self.next_at
        self.stall = 0.0  # the longest gap between polls while the PING is out
        self.latencies: list[tuple[float, float]] = []  # (measured, of which the test's own stall)
        self.other: list[str] = []  # what else arrived (the flood)

    def poll(self, now: float) -> None:
        if self.sent_at is not None:
            self.stall = max(self.stall, now - self.last_poll)
        self.last_poll = now
        for line in self.peer.take():
            if self.sent_at is not None and line == f"[server] PONG p{self.count}":
                self.latencies.append((now - self.sent_at, self.stall))
                self.sent_at = None
            else:
                self.other.append(line)
        if self.sent_at is None and now >= self.next_at:
            self.count += 1
            self.sent_at = now
            self.stall = 0.0
            self.next_at = now + self.every
            self.swarm.send_lines(self.peer, [f"PING p{self.count}"])

    def finish(self) -> list[str]:
        """Wait for the PONG in flight; everything else that arrived, in order."""
        self.next_at = float("inf")

        def answered() -> bool:
            self.poll(time.monotonic())
            return self.sent_at is None

        self.swarm.pump(answered, what="the last PONG")
        return self.other + self.swarm.barrier([self.peer])[0]

    def check(self) -> None:
        assert self.latencies, "no PING answered"
        worst, stall = max(self.latencies, key=lambda pair: pair[0] - pair[1])
        assert worst - stall <= PROMPT, (
            f"a PING took {worst:.3f} s during the flood, the test itself stalled {stall:.3f} s of it "
            f"(all: {[f'{a:.3f}/{b:.3f}' for a, b in self.latencies]})"
        )


def _check_envelope(arrivals: list[float], t0: float, rate: float, burst: int) -> None:
    """Message ``i`` arrived neither before the bucket allows it nor much after."""
    for i, at in enumerate(arrivals):
        earliest = (i + 1 - burst) / rate
        assert at - t0 >= earliest - EPSILON, (
            f"message {i} after {at - t0:.3f} s, bucket allows {earliest:.3f} s"
        )
        assert at - t0 <= max(earliest, 0.0) + SLACK, (
            f"message {i} after {at - t0:.3f} s, due at {earliest:.3f} s"
        )


def test_default_rate_delays_never_drops(start_server: StartServer, make_swarm: MakeSwarm) -> None:
    """250 lines at once with the defaults (50/s, burst 100): 100 at once, then 50 a second, all of them."""
    server = start_server()
    swarm = make_swarm(server)
    observers = swarm.open(20)
    pinger_peer, flooder = swarm.open(2)
    swarm.barrier([*observers, pinger_peer, flooder])
    pinger = _Pinger(swarm, pinger_peer)
    count, rate, burst = 250, 50.0, 100
    expected = [f"[{flooder.name}] {seq}" for seq in range(count)]
    watcher = observers[0]
    arrivals: list[float] = []
    t0 = time.monotonic()
    swarm.send_lines(flooder, (f"MSG {seq}" for seq in range(count)))
    while len(arrivals) < count:
        now = time.monotonic()
        assert now - t0 < (count - burst) / rate + 2 * SLACK + 5, f"{len(arrivals)} of {count} arrived"
        swarm.step(0.01)
        now = time.monotonic()
        new = watcher.take()
        assert new == expected[len(arrivals) : len(arrivals) + len(new)], f"lost or reordered: {new[:3]}"
        arrivals += [now] * len(new)
        pinger.poll(now)
    _check_envelope(arrivals, t0, rate, burst)
    pinger.check()
    assert swarm.barrier([flooder]) == [[]]
    for peer, lines in zip(observers[1:], swarm.barrier(observers[1:]), strict=True):
        assert lines == expected, f"{peer}: the flood, in full and in order"
    assert pinger.finish() == expected
    assert_quiet_log(server)


def test_many_flooders_share_nothing(start_server: StartServer, make_swarm: MakeSwarm) -> None:
    """Twenty flooders at once: each is paced on its own bucket, all lines arrive in one global order."""
    rate, burst, count = 100.0, 10, 150
    server = start_server("--rate-lines", str(rate), "--rate-burst", str(burst))
    swarm = make_swarm(server)
    observers = swarm.open(50)
    flooders = swarm.open(20)
    (pinger_peer,) = swarm.open(1)
    swarm.barrier([*observers, *flooders, pinger_peer])
    pinger = _Pinger(swarm, pinger_peer)
    watcher = observers[0]
    last: dict[str, float] = {}
    total = count * len(flooders)
    received = 0
    next_seq = {f.name: 0 for f in flooders}
    t0 = time.monotonic()
    for flooder in flooders:
        swarm.send_lines(flooder, (f"MSG {seq}" for seq in range(count)))
    order: list[str] = []
    while received < total:
        assert time.monotonic() - t0 < (count - burst) / rate + 2 * SLACK + 10, (
            f"{received} of {total} arrived"
        )
        swarm.step(0.01)
        now = time.monotonic()
        for line in watcher.take():
            name, seq = line[1:].split("] ")
            assert int(seq) == next_seq[name], f"{line!r}: expected {next_seq[name]}"
            next_seq[name] += 1
            last[name] = now
            order.append(line)
            received += 1
        pinger.poll(now)
    pinger.check()
    due = (count - burst) / rate
    for name, at in last.items():
        assert due - EPSILON <= at - t0 <= due + SLACK + 1.0, (
            f"{name}'s flood ended after {at - t0:.2f} s, due {due}"
        )
    got = {p.name: lines for p, lines in zip(observers[1:], swarm.barrier(observers[1:]), strict=True)}
    got[watcher.name] = order + swarm.barrier([watcher])[0]
    assert assert_same_order(got) == order
    for flooder, lines in zip(flooders, swarm.barrier(flooders), strict=True):
        assert lines == [line for line in order if not line.startswith(f"[{flooder.name}] ")], flooder
    assert_quiet_log(server)


def _buffer_max(name: str) -> int:
    try:
        return int(Path(f"/proc/sys/net/ipv4/{name}").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 32 * 1024 * 1024


@needs_procfs
def test_flooder_is_held_back_by_tcp(
    start_server: StartServer, make_swarm: MakeSwarm, figures: Figures
) -> None:
    """A client that writes as fast as TCP lets it: the server stops reading it, the kernel stops it."""
    server = start_server()
    swarm = make_swarm(server)
    observers = swarm.open(10)
    pinger_peer, flooder = swarm.open(2)
    swarm.barrier([*observers, pinger_peer, flooder])
    pinger = _Pinger(swarm, pinger_peer)
    rate, burst = 50.0, 100
    padding = "f" * 1000
    seq = 0
    cap = 64 * 1024 * 1024  # what the test would queue at most: the server must stop it far sooner
    queued = 0
    window = 2.0
    t0 = time.monotonic()
    watcher = observers[0]
    arrivals: list[float] = []
    with PeakOwnMemory(server.pid) as memory:
        while time.monotonic() - t0 < window:
            if flooder.unsent < 256 * 1024 and queued < cap:
                chunk = "".join(f"MSG {seq + i} {padding}\n" for i in range(256)).encode()
                swarm.send(flooder, chunk)
                seq += 256
                queued += len(chunk)
            swarm.step(0.01)
            now = time.monotonic()
            new = watcher.take()
            assert new == [
                f"[{flooder.name}] {i} {padding}" for i in range(len(arrivals), len(arrivals) + len(new))
            ]
            arrivals += [now] * len(new)
            pinger.poll(now)
        accepted = flooder.sent
    grown = memory.grown
    _check_envelope(arrivals, t0, rate, burst)
    pinger.check()
    # The kernel took no more than the two sockets' buffers can hold (and the little the server read).
    kernel = _buffer_max("tcp_rmem") + _buffer_max("tcp_wmem")
    read = (len(arrivals) + 64 + 64) * (len(padding) + 12)  # delivered, plus one 64 KiB read in the core
    figures(
        f"flooder: {queued / 2**20:.1f} MiB queued, "
        f"{accepted / 2**20:.2f} MiB taken by the kernel in {window} s, "
        f"{len(arrivals)} lines delivered; server memory +{grown} KiB at most"
    )
    assert accepted <= kernel + read, (
        f"the kernel took {accepted} bytes from the flooder: the server kept reading"
    )
    assert accepted < queued, "the flooder was never held back"
    assert grown <= 8 * 1024, f"the server grew by {grown} KiB while a client flooded it"
    # Lines the server has read are handled at the flood rate, whatever happens to the client: an
    # operator KILLs the flooder, and the server discards the rest unread.
    swarm.send_lines(pinger_peer, [f"OPER {OPER_PASSWORD}", f"KILL {flooder.name}"])
    notice = f"[server] {flooder.name} is disconnected (killed by {pinger_peer.name})"
    swarm.pump(lambda: notice in watcher.lines, what="the flooder's departure")
    rest = watcher.take()
    assert rest[-1] == notice
    first = len(arrivals)
    assert rest[:-1] == [f"[{flooder.name}] {i} {padding}" for i in range(first, first + len(rest) - 1)]
    swarm.pump(lambda: flooder.done, what="the flooder closed")
    assert flooder.take()[-1:] == [f"[server] You have been killed by {pinger_peer.name}"] or flooder.reset
    assert_quiet_log(server)

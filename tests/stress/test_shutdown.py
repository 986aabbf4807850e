"""Shutdown under load: SIGTERM while clients talk, flood and refuse to read.

Every client that reads gets ``[server] Server is shutting down`` as its last
line, after everything broadcast before it (in the one global order), then
EOF; the server exits with status 0 within its flush bound
(``SHUTDOWN_FLUSH_SECONDS``) plus the lingering close (``LINGER_SECONDS``),
even though some clients never read what it holds for them.
"""

from __future__ import annotations

import signal
import time

from adapters._lifecycle import LINGER_SECONDS, SHUTDOWN_FLUSH_SECONDS
from tests.conformance.conftest import StartServer

from .checks import assert_quiet_log, assert_same_order
from .conftest import Figures, MakeSwarm
from .swarm import Peer, Swarm

SHUTTING_DOWN = "[server] Server is shutting down"
#: Time to start the interpreter's exit, on a loaded 2-core machine.
EXIT_SLACK = 3.0
#: The bucket for this test: high, so that a never-reading client can pile up replies quickly.
RATE, BURST = 2000, 500
#: Never-reading clients stay connected (their backlog is far below this), however much is queued.
MAX_PENDING = 64 * 1024 * 1024


class _Load:
    """Drives the clients: paced talkers, PING flooders that never stop, clients that never read."""

    def __init__(self, swarm: Swarm, talkers: list[Peer], flooders: list[Peer]) -> None:
        self.swarm = swarm
        self.talkers = talkers
        self.flooders = flooders
        self.said = dict.fromkeys(talkers, 0)
        self.pinged = dict.fromkeys(flooders, 0)
        self.started = time.monotonic()

    def step(self, talk_rate: float) -> None:
        """Talkers send up to ``talk_rate`` lines a second each until told of the shutdown."""
        due = int((time.monotonic() - self.started) * talk_rate)
        for peer in self.talkers:
            if peer.done or SHUTTING_DOWN in peer.lines[-1:]:
                continue
            lines = [f"MSG {seq}" for seq in range(self.said[peer], due)]
            self.said[peer] = max(due, self.said[peer])
            self.swarm.send_lines(peer, lines)
        for peer in self.flooders:  # stubborn: they go on even after the shutdown line, until it fails
            if peer.unsent < 16 * 1024 and not peer.reset:
                first = self.pinged[peer]
                self.pinged[peer] += 1000
                self.swarm.send_lines(peer, (f"PING f{seq}" for seq in range(first, first + 1000)))
        self.swarm.step(0.005)


def test_sigterm_under_load(start_server: StartServer, make_swarm: MakeSwarm, figures: Figures) -> None:
    server = start_server(
        "--rate-lines", str(RATE), "--rate-burst", str(BURST), "--max-pending-bytes", str(MAX_PENDING)
    )
    swarm = make_swarm(server)
    readers = swarm.open(200)
    talkers = swarm.open(10)
    flooders = swarm.open(5)
    blocked = swarm.open(10, rcvbuf=4096, keep_raw=True)
    swarm.barrier([*readers, *talkers, *flooders, *blocked])
    word = "X" * 4000
    for peer in blocked:  # 6 MB of replies each, never read: more than the kernel buffers take
        swarm.stop_reading(peer)
        assert peer.raw is not None
        peer.raw.clear()
        swarm.send_lines(peer, [word] * 1500)
    load = _Load(swarm, talkers, flooders)
    load_end = time.monotonic() + 1.5
    while time.monotonic() < load_end:
        load.step(talk_rate=20)

    server.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    reading = [*readers, *talkers, *flooders]
    pending = list(reading)

    def everyone_closed() -> bool:
        while pending and pending[-1].done:
            pending.pop()
        return not pending

    while not everyone_closed():
        assert time.monotonic() - signalled < SHUTDOWN_FLUSH_SECONDS + LINGER_SECONDS + EXIT_SLACK, (
            f"{len(pending)} clients still open, e.g. {pending[-1]}: {pending[-1].lines[-2:]}"
        )
        load.step(talk_rate=20)
    all_closed = time.monotonic() - signalled
    assert server.wait() == 0
    exited = time.monotonic() - signalled
    bound = SHUTDOWN_FLUSH_SECONDS + LINGER_SECONDS
    figures(
        f"every reader closed {all_closed:.2f} s after SIGTERM; exit after {exited:.2f} s (bound {bound} s)"
    )
    assert exited <= bound + EXIT_SLACK, f"exit {exited:.2f} s after SIGTERM"

    for peer in reading:
        assert peer.eof and not peer.reset, f"{peer}: {peer.failed}; last lines {peer.lines[-2:]}"
        assert not peer.tail, f"{peer}: the stream ended inside a line: {bytes(peer.tail)!r}"
        assert peer.lines[-1:] == [SHUTTING_DOWN], f"{peer}: last lines {peer.lines[-3:]}"
    order = assert_same_order({p.name: p.take() for p in readers})
    messages = order[:-1]
    assert SHUTTING_DOWN not in messages
    for talker in talkers:
        own = [line for line in messages if line.startswith(f"[{talker.name}] ")]
        assert own == [f"[{talker.name}] {seq}" for seq in range(len(own))], f"{talker}: its messages"
        assert own, f"{talker} said nothing before the shutdown"
        assert talker.take() == [line for line in order if line not in own], f"{talker}: what it was told"
    for flooder in flooders:
        lines = flooder.take()
        pongs = [line for line in lines if line.startswith("[server] PONG ")]
        assert pongs == [f"[server] PONG f{seq}" for seq in range(len(pongs))], f"{flooder}: its PONGs"
        assert [line for line in lines if not line.startswith("[server] PONG ")] == order, f"{flooder}: told"

    reply = f"[server] Error: invalid command {word}"
    for peer in blocked:  # whatever reached it is the head of its stream: replies and broadcasts
        swarm.start_reading(peer)
    swarm.pump(lambda: all(p.done for p in blocked), what="blocked clients read to the end")
    for peer in blocked:
        lines = peer.take()
        others = [line for line in lines if line != reply]
        assert others == order[: len(others)], f"{peer}: broadcasts out of order"
        assert len(lines) - len(others) <= 1500
    assert_quiet_log(server, allowed=[r"connections still closing after"])


def test_sigterm_right_after_startup(start_server: StartServer) -> None:
    """The startup line promises that signals are handled: a SIGTERM right after it is a clean stop."""
    statuses = []
    for _ in range(8):  # the window is short: a few tries catch a backend that announces too early
        server = start_server()
        statuses.append(server.terminate())
    assert statuses == [0] * len(statuses), f"exit statuses after an immediate SIGTERM: {statuses}"

"""Bounded input: a client held back by flood control costs the server about the bytes it sent.

A thousand clients each send 64 KiB of short lines at once and go quiet.
The server handles a burst of each (``--rate-burst``), then holds the rest
for later, at the flood rate; what it holds must cost about the raw bytes
(one buffer per client, lines cut out only when their turn comes), not a
line object per line.

The bound is asserted on the server's own memory, read from ``/proc``:
anonymous memory, resident or swapped out (``RssAnon`` + ``VmSwap``), which
moves only when the server allocates or frees, whatever other processes on
the machine do to the page cache or swap.  It is sampled all along the
flood, so the peak is what is judged.
"""

from __future__ import annotations

from tests.conformance.conftest import StartServer

from .checks import assert_quiet_log
from .conftest import Figures, MakeSwarm
from .procfs import PeakOwnMemory, needs_procfs, own_memory_kib, settled_kib

pytestmark = needs_procfs

CLIENTS = 1000
#: Bytes of lines each client sends.
SENT_PER_CLIENT = 64 * 1024
#: A short line with a short answer: the answers to the burst prove the server read the client.
LINE = b"PING\n"
BURST = 100  # the default --rate-burst


def test_a_thousand_paused_flooders_cost_about_their_bytes(
    start_server: StartServer, make_swarm: MakeSwarm, figures: Figures
) -> None:
    # Not under coverage: its tracer's own memory would be counted, and it slows the flood down.
    server = start_server(measure=False)
    swarm = make_swarm(server)
    peers = swarm.open(CLIENTS, count_only=True)
    swarm.barrier(peers)  # every join notice read: only the floods are left to measure
    counted = {peer: peer.line_count for peer in peers}
    base = settled_kib(server.pid, own_memory_kib, quiet=1.0)

    flood = LINE * (SENT_PER_CLIENT // len(LINE))
    for peer in peers:
        swarm.send(peer, flood)

    def read_and_held() -> bool:
        """Each client's burst answered (the server read it), all its bytes sent: the rest is held."""
        return all(peer.line_count >= counted[peer] + BURST and not peer.unsent for peer in peers)

    with PeakOwnMemory(server.pid) as memory:
        memory.base = base
        swarm.pump(read_and_held, what="every client's burst answered and its bytes taken")
        held = settled_kib(server.pid, own_memory_kib, quiet=1.0)
    grown = memory.grown
    sent_kib = CLIENTS * len(flood) // 1024
    figures(
        f"{CLIENTS} clients sent {sent_kib / 1024:.1f} MiB of {len(LINE)}-byte lines; the server's own "
        f"memory grew {grown / 1024:.1f} MiB at the peak ({grown / sent_kib:.2f}x), "
        f"{(held - base) / 1024:.1f} MiB settled"
    )
    assert grown <= 2 * sent_kib, f"the server grew by {grown} KiB holding {sent_kib} KiB of lines"

    # Nobody else waits: a newcomer is welcomed and answered at once.
    (newcomer,) = swarm.open(1)
    assert swarm.barrier([newcomer]) == [[]]
    assert_quiet_log(server)

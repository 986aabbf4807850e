"""Slow consumers: a client that stops reading is dropped past --max-pending-bytes; nobody else loses a line.

The server judges the backlog it still holds after a write the kernel did
not take in full.  What the kernel takes first (the server's send buffer,
autotuned up to ``net.ipv4.tcp_wmem``'s maximum, and the client's receive
buffer) does not count, so a client is dropped somewhere between
``--max-pending-bytes`` and that plus the kernel's buffers; the tests check
both bounds.
"""

from __future__ import annotations

from pathlib import Path

from tests.conformance.conftest import StartServer

from .checks import assert_quiet_log
from .conftest import Figures, MakeSwarm
from .swarm import Peer, Swarm

LIMIT = 256 * 1024
#: Receive buffer of the clients that stop reading: as small as the kernel allows.
SMALL_RCVBUF = 4096
#: A message body, so that each relayed line is about 1 KB.
PADDING = "p" * 1000


def _tcp_wmem_max() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return 4 * 1024 * 1024


class _Follower:
    """Checks, as lines arrive, that a reader gets one sender's numbered messages with nothing lost.

    Other lines (drop notices) are noted with their position, so that readers
    can be compared without keeping every line.
    """

    def __init__(self, peer: Peer, sender: Peer, suffix: str, notices: set[str]) -> None:
        self.peer = peer
        self.prefix = f"[{sender.name}] "
        self.suffix = suffix
        self.notices = notices
        self.next_seq = 0
        self.seen: list[tuple[int, str]] = []  # (messages before it, notice)
        self.start = peer.line_count

    def expected(self, seq: int) -> str:
        return f"{self.prefix}{seq}{self.suffix}"

    def consume(self, lines: list[str] | None = None) -> None:
        for line in self.peer.take() if lines is None else lines:
            if line in self.notices:
                self.seen.append((self.next_seq, line))
                continue
            assert line == self.expected(self.next_seq), (
                f"{self.peer}: expected message {self.next_seq}, got {line[:60]!r}"
            )
            self.next_seq += 1

    def order(self) -> list[str]:
        """Everything this reader got, rebuilt."""
        lines: list[str] = []
        seq = 0
        for before, notice in [*self.seen, (self.next_seq, "")]:
            lines += [self.expected(i) for i in range(seq, before)]
            seq = before
            if notice:
                lines.append(notice)
        return lines


def _catch_up(swarm: Swarm, followers: list[_Follower], count: int) -> None:
    """Pump until every reader has received ``count`` lines since it started following, check them."""
    pending = list(followers)

    def caught_up() -> bool:
        while pending and pending[-1].peer.line_count - pending[-1].start >= count:
            pending.pop()
        return not pending

    swarm.pump(caught_up, what=f"readers at {count} lines", watch=[f.peer for f in followers])
    for follower in followers:
        follower.consume()


def _check_dropped_peer(swarm: Swarm, peer: Peer, expected: list[str]) -> list[str]:
    """A dropped client reads what the kernel still held: a prefix of ``expected``, then the end."""
    swarm.start_reading(peer)
    swarm.pump(lambda: peer.done, what=f"{peer} closed after its drop")
    lines = peer.take()
    assert lines == expected[: len(lines)], f"{peer}: not a prefix of what the others saw"
    if peer.eof and len(lines) < len(expected):  # a clean end may stop inside a line, never elsewhere
        assert (expected[len(lines)] + "\n").encode().startswith(bytes(peer.tail)), f"{peer}: {peer.tail!r}"
    return lines


def _finish(swarm: Swarm, sender: Peer, followers: list[_Follower], seq: int) -> list[str]:
    """Barriers, then: every reader got all ``seq`` messages and the same notices at the same places.

    The sender, which gets no copy of its own messages, must have seen just the notices, in that order.
    """
    (told,) = swarm.barrier([sender])
    for follower, lines in zip(followers, swarm.barrier([f.peer for f in followers]), strict=True):
        follower.consume(lines)
        assert follower.next_seq == seq, f"{follower.peer}: {follower.next_seq} of {seq} messages"
    reference = followers[0]
    for follower in followers[1:]:
        assert follower.seen == reference.seen, f"{follower.peer} and {reference.peer} disagree on the order"
    assert told == [notice for _, notice in reference.seen], f"{sender}: {told[:5]!r}"
    return reference.order()


def test_slow_consumers_dropped_readers_lose_nothing(
    start_server: StartServer, make_swarm: MakeSwarm, figures: Figures
) -> None:
    """Three clients stop reading while one talks to twenty readers; each reader gets every line."""
    server = start_server("--rate-lines", "0", "--max-pending-bytes", str(LIMIT))
    swarm = make_swarm(server)
    readers = swarm.open(20)
    (sender,) = swarm.open(1)
    slow = swarm.open(3, rcvbuf=SMALL_RCVBUF)
    swarm.barrier([*readers, sender, *slow])
    for peer in slow:
        swarm.stop_reading(peer)
    notices = {f"[server] {p.name} is disconnected (too slow)": p for p in slow}
    followers = [_Follower(p, sender, f" {PADDING}", set(notices)) for p in readers]
    batch, max_lines = 32, 12_000  # about 12 MB per reader at most: far beyond any kernel's buffers
    seq = 0
    while len(followers[0].seen) < len(slow):
        assert seq < max_lines, f"slow clients still connected after {seq} lines of 1 KB"
        swarm.send_lines(sender, (f"MSG {seq + i} {PADDING}" for i in range(batch)))
        seq += batch
        _catch_up(swarm, followers, seq)
    for _ in range(2):  # and after the last drop, the readers are still served
        swarm.send_lines(sender, (f"MSG {seq + i} {PADDING}" for i in range(batch)))
        seq += batch
    order = _finish(swarm, sender, followers, seq)
    assert sorted(n for _, n in followers[0].seen) == sorted(notices), "each slow client dropped once"

    wmem = _tcp_wmem_max()
    line_bytes = len(order[0]) + 1
    drops = []
    for before, notice in followers[0].seen:
        peer = notices[notice]
        addressed = before * line_bytes
        assert addressed > LIMIT, f"{peer} dropped with only {addressed} bytes addressed to it"
        bound = LIMIT + wmem + 4 * SMALL_RCVBUF + 2 * batch * line_bytes + 256 * 1024
        assert addressed <= bound, f"{peer} dropped only after {addressed} bytes (bound {bound})"
        lines = _check_dropped_peer(swarm, peer, [line for line in order if line != notice])
        assert len(lines) <= order.index(notice), f"{peer} got lines sent after its drop"
        drops.append(f"{addressed / 1024:.0f} KiB addressed, {len(lines) * line_bytes / 1024:.0f} KiB read")
    figures(f"limit {LIMIT // 1024} KiB: slow clients dropped after " + "; ".join(drops))
    swarm.send_lines(sender, ["WHO"])
    names = " ".join(p.name for p in [*readers, sender])
    assert swarm.barrier([sender]) == [[f"[server] Users ({len(readers) + 1}): {names}"]]
    assert_quiet_log(server)


def test_slow_consumers_among_hundreds(start_server: StartServer, make_swarm: MakeSwarm) -> None:
    """Five clients flood themselves with replies they never read while 400 others chat on."""
    server = start_server("--rate-lines", "0", "--max-pending-bytes", str(LIMIT))
    swarm = make_swarm(server)
    readers = swarm.open(400)
    (sender,) = swarm.open(1)
    slow = swarm.open(5, rcvbuf=SMALL_RCVBUF)
    swarm.barrier([*readers, sender, *slow])
    for peer in slow:
        swarm.stop_reading(peer)
    notices = {f"[server] {p.name} is disconnected (too slow)": p for p in slow}
    followers = [_Follower(p, sender, "", set(notices)) for p in readers]
    word = "X" * 4000
    reply = f"[server] Error: invalid command {word}"  # about 4 KB for every line sent
    fill_per_step, fill_max = 16, 3000  # 12 MB of replies each at most
    filled = 0
    seq = 0
    while len(followers[0].seen) < len(slow):
        assert filled < fill_max, f"not all dropped after {filled} replies of 4 KB"
        for peer in slow:
            if not peer.done:
                swarm.send_lines(peer, [word] * fill_per_step)
        filled += fill_per_step
        swarm.send_lines(sender, [f"MSG {seq}", f"MSG {seq + 1}"])
        seq += 2
        _catch_up(swarm, followers, seq)
    for _ in range(5):
        swarm.send_lines(sender, [f"MSG {seq}"])
        seq += 1
    order = _finish(swarm, sender, followers, seq)
    assert sorted(n for _, n in followers[0].seen) == sorted(notices), "each slow client dropped once"
    for peer in slow:
        swarm.start_reading(peer)
    swarm.pump(lambda: all(p.done for p in slow), what="dropped clients closed")
    for notice, peer in notices.items():
        lines = peer.take()
        assert len([line for line in lines if line == reply]) <= filled
        others = [line for line in lines if line != reply]
        expected = [line for line in order if line != notice]
        assert others == expected[: len(others)], f"{peer}: broadcasts not a prefix of the others' order"
    swarm.send_lines(sender, ["WHO"])
    names = " ".join(p.name for p in [*readers, sender])
    assert swarm.barrier([sender])[0][-1] == f"[server] Users ({len(readers) + 1}): {names}"
    assert_quiet_log(server)

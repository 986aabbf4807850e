"""Many lines at once: global ordering, the slow-consumer rule, flood control."""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable

import pytest

from adapters._flush_policy import MANY_WAITING

from .client import Client
from .conftest import StartServer
from .server import ServerProcess

_MESSAGE = re.compile(r"\[(\S+)\] (\d+)(?: .*)?")


def _run_all(tasks: list[Callable[[], None]], timeout: float = 30.0) -> None:
    """Run ``tasks`` in threads started together; re-raise the first failure."""
    start = threading.Barrier(len(tasks))
    errors: list[BaseException] = []

    def run(task: Callable[[], None]) -> None:
        try:
            start.wait(timeout)
            task()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(task,), daemon=True) for task in tasks]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "threads still running"
    if errors:
        raise errors[0]


def _join_all(server: ServerProcess, count: int) -> list[Client]:
    clients = [server.join() for _ in range(count)]
    for client in clients:
        client.ping_barrier()  # take the join notices
    return clients


@pytest.mark.parametrize("flush", [(), ("--flush-delay", "0.05")], ids=["default-flush", "held-flush"])
def test_concurrent_senders_one_global_order(start_server: StartServer, flush: tuple[str, ...]) -> None:
    """A burst from several senders: every line, in one order for all, also with flushes held long.

    Listeners make the room large enough (more than MANY_WAITING waiting
    for output) for a busy server to hold its flushes.
    """
    server = start_server("--rate-lines", "0", *flush)
    count, per_sender, listening = 4, 300, MANY_WAITING
    clients = _join_all(server, count)
    listeners = _join_all(server, listening)
    for client in clients:
        client.ping_barrier()  # the listeners' join notices
    received: dict[str, list[tuple[str, int]]] = {}

    def sender(client: Client) -> Callable[[], None]:
        def send() -> None:
            for seq in range(per_sender):
                client.send_line(f"MSG {seq} from {client.name}")  # one send() per line

        return send

    def receiver(client: Client, senders: int = count - 1) -> Callable[[], None]:
        def receive() -> None:
            got: list[tuple[str, int]] = []
            for _ in range(senders * per_sender):
                match = _MESSAGE.fullmatch(client.read_line(timeout=20))
                assert match, "not a chat line"
                got.append((match[1], int(match[2])))
            received[client.name] = got

        return receive

    readers = [receiver(c) for c in clients] + [receiver(c, count) for c in listeners]
    _run_all([sender(c) for c in clients] + readers)
    names = [c.name for c in clients]
    for name, got in received.items():
        for other in names:
            seqs = [seq for sender_name, seq in got if sender_name == other]
            assert seqs == ([] if other == name else list(range(per_sender))), (name, other)
    for first, second in itertools.combinations([*names, *(c.name for c in listeners)], 2):
        common = set(names) - {first, second}
        one = [m for m in received[first] if m[0] in common]
        two = [m for m in received[second] if m[0] in common]
        assert one == two, f"{first} and {second} saw different interleavings"
    for client in clients + listeners:
        client.expect_quiet()


def test_slow_consumer_is_dropped(start_server: StartServer) -> None:
    limit = 65536
    server = start_server("--rate-lines", "0", "--max-pending-bytes", str(limit))
    sender, reader = server.join(), server.join()
    slow = server.join(rcvbuf=4096)  # never reads again
    sender.ping_barrier()
    reader.ping_barrier()
    notice = f"[server] {slow.name} is disconnected (too slow)"
    padding = "p" * 4000
    batch = 8  # about 32 KB relayed: the reader takes each batch before the next is sent,
    # so it never has more than half the limit pending, while the slow client's grows
    max_lines = 40 * 1024 * 1024 // len(padding)  # far beyond any kernel buffering
    seq = 0
    notice_after: int | None = None
    while seq < max_lines and (notice_after is None or seq < notice_after + 4 * batch):
        sender.send_raw("".join(f"MSG {seq + i} {padding}\n" for i in range(batch)).encode())
        for expected in range(seq, seq + batch):
            line = reader.read_line()
            if line == notice:
                assert notice_after is None, "second notice"
                notice_after = expected
                line = reader.read_line()
            assert line == f"[{sender.name}] {expected} {padding}", line[:80]
        seq += batch
    assert notice_after is not None, f"no {notice!r} after {seq} lines of 4 KB"
    assert sender.ping_barrier() == [notice]
    assert reader.ping_barrier() == []
    sender.send_line("WHO")
    sender.expect(f"[server] Users (2): {sender.name} {reader.name}")


def test_flood_control_delays_without_dropping(start_server: StartServer) -> None:
    server = start_server("--rate-lines", "20", "--rate-burst", "5")
    a, b = _join_all(server, 2)
    started = time.monotonic()
    a.send_raw(b"".join(f"MSG {seq}\n".encode() for seq in range(30)))
    early = b.ping_barrier()  # b is not held up by a's flood
    assert len(early) < 30, early
    rest = [b.read_line(timeout=10) for _ in range(30 - len(early))]
    elapsed = time.monotonic() - started
    assert early + rest == [f"[{a.name}] {seq}" for seq in range(30)]
    assert elapsed >= 1.0, f"30 lines at 20/s with a burst of 5 took only {elapsed:.2f} s"
    assert a.ping_barrier() == []
    assert b.ping_barrier() == []


def test_flood_control_many_pauses(start_server: StartServer) -> None:
    server = start_server("--rate-lines", "2000", "--rate-burst", "3")
    a, b = _join_all(server, 2)
    a.send_raw(b"".join(f"MSG {seq}\n".encode() for seq in range(600)) + b"MSG last")
    a.shutdown_write()
    a.expect_closed()
    lines = b.ping_barrier()
    assert lines == [f"[{a.name}] {seq}" for seq in range(600)] + [
        f"[{a.name}] last",
        f"[server] {a.name} is disconnected",
    ]

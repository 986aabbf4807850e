"""A web client's message against a text client's, in process: driver, core and layers, no socket.

``python -m bench.web_bench`` opens 100 clients of one kind on a ``Driver``
(a recording port, no socket), all in ``#lobby`` as the load generator's
100x10 shape has them, and times messages from 10 senders through the whole
server path but the system calls: ``Driver.received`` with what one read
would bring (``--per-read`` messages of one sender, 4 as the generator's
window makes them), the core, the fan-out, and the flush (``take_dirty``,
each recipient's output joined).  The web clients' frames are built and
masked beforehand by wsproto's client, as a browser would send them; the
text clients send the same payloads as ``MSG`` lines.

It prints microseconds per message for each kind and their ratio; the
socket benchmark's target (``python -m bench run``, "web / plain <= 1.3"
per delivery) is about the difference, which is per message, against a
text message's whole cost, system calls included.  ``--profile`` prints
cProfile's view of the web workload instead.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import logging
import pstats
import time
from collections.abc import Callable

from wsproto import ConnectionType, WSConnection
from wsproto.events import Request, TextMessage

from adapters._connection import Connection
from adapters._driver import Driver
from adapters._listeners import LISTENER_KINDS, ListenerKind
from adapters.transport import TransportConfig
from adapters.web import load_site
from sansio_chat import ServerConfig

#: Clients in the room, and how many of them send.
CLIENTS = 100
SENDERS = 10
#: The load generator's payload: its mark, a header and 32 bytes of padding.
PAYLOAD = "@@M %d %d 1234567890123456789 " + "x" * 32

TEXT, HTTP = LISTENER_KINDS["text"], LISTENER_KINDS["http"]


class _Port:
    """A backend that never waits and whose kernel takes everything."""

    def __init__(self) -> None:
        self.driver: Driver[Connection] | None = None

    def wake(self) -> None:
        pass

    def reading_changed(self, conn: Connection) -> None:
        pass

    def send_fin(self, conn: Connection) -> bool:
        return True

    def close(self, conn: Connection) -> None:
        self._forget(conn)

    def drop(self, conn: Connection) -> None:
        self._forget(conn)

    def socket_error(self, conn: Connection) -> OSError | None:
        return None

    def _forget(self, conn: Connection) -> None:
        assert self.driver is not None
        if self.driver.conns.get(conn.id) is conn:
            self.driver.forget(conn)


class Room:
    """``CLIENTS`` clients of one listener kind on a driver, and what their senders' reads carry."""

    def __init__(self, kind: ListenerKind) -> None:
        port = _Port()
        transports = {HTTP: TransportConfig(site=load_site())}
        self.driver: Driver[Connection] = Driver(
            ServerConfig(rate_lines=0, oper_password="bench"),
            port,
            logging.getLogger("bench.web"),
            transports=transports,
        )
        port.driver = self.driver
        self.kind = kind
        self.conns: list[Connection] = []
        self.peers: list[WSConnection] = []
        for _ in range(CLIENTS):
            conn = Connection(self.driver.new_id(), kind)
            self.driver.open(conn, f"127.0.0.1:{40000 + conn.id}")
            self.conns.append(conn)
            if kind.web:
                peer = WSConnection(ConnectionType.CLIENT)
                self.driver.received(conn, peer.send(Request(host="127.0.0.1:8080", target="/ws")))
                self.peers.append(peer)
        welcomed = {conn.id: conn.take_output() for conn in self.driver.take_dirty()}
        for conn, peer in zip(self.conns, self.peers, strict=False):  # the 101 and the first events
            peer.receive_data(welcomed.get(conn.id, b""))
            list(peer.events())
            assert conn.life.open, "a web client of the bench did not get through its handshake"

    def reads(self, messages: int, per_read: int) -> list[tuple[Connection, bytes]]:
        """What the senders' reads bring, in turn: ``per_read`` messages of one sender each."""
        reads = []
        for start in range(0, messages, per_read):
            sender = (start // per_read) % SENDERS
            payloads = [PAYLOAD % (sender, seq) for seq in range(start, start + per_read)]
            if self.kind.web:
                peer = self.peers[sender]
                commands = (json.dumps({"cmd": "msg", "text": p}) for p in payloads)  # as the generator's
                data = b"".join(peer.send(TextMessage(data=command)) for command in commands)
            else:
                data = b"".join(b"MSG %s\n" % p.encode() for p in payloads)
            reads.append((self.conns[sender], data))
        return reads

    def flush(self) -> int:
        """A backend's flush: each dirty connection's output joined, all of it taken; the bytes written."""
        driver = self.driver
        written = 0
        for conn in driver.take_dirty():
            written += len(conn.take_output())
        for conn in driver.take_closing():
            driver.written(conn, 0)
        return written

    def play(self, reads: list[tuple[Connection, bytes]]) -> None:
        received, flush = self.driver.received, self.flush
        for conn, data in reads:
            received(conn, data)
            flush()


def _time(kind: ListenerKind, messages: int, per_read: int) -> float:
    """CPU microseconds per message on a fresh room (this process's CPU: other work counts less)."""
    room = Room(kind)
    reads = room.reads(messages, per_read)
    started = time.process_time()
    room.play(reads)
    return (time.process_time() - started) * 1e6 / messages


def _profile(play: Callable[[], None], top: int) -> None:
    profile = cProfile.Profile()
    profile.runcall(play)
    pstats.Stats(profile).sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.web_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--per-read", type=int, default=4, help="messages of one sender per read")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile the web workload")
    parser.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    args = parser.parse_args(argv)
    if args.profile:
        room = Room(HTTP)
        reads = room.reads(args.messages, args.per_read)
        _profile(lambda: room.play(reads), args.top)
        return
    print(f"{CLIENTS} clients, {SENDERS} senders, {args.per_read} per read, best of {args.runs} runs")
    text, web = [], []
    for _ in range(args.runs):  # alternating, and the best of each: the machine may be busy with other work
        text.append(_time(TEXT, args.messages, args.per_read))
        web.append(_time(HTTP, args.messages, args.per_read))
    print(f"text  {min(text):7.2f} us/message")
    print(f"web   {min(web):7.2f} us/message  (+{min(web) - min(text):.2f} us, {min(web) / min(text):.2f}x)")


if __name__ == "__main__":
    main()

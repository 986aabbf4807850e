"""The selectors floor: one thread, a selector loop, each connection written once per pass.

With ``--flush-delay``, a busy pass holds its flush as the chat server does (the same policy):
the loop sleeps until the hold's deadline or more input, and the flush goes at the deadline.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import time

from adapters._flush_policy import FlushPolicy

from . import RECV_SIZE, announce, flush_policy, listen, parse_args, relayed


class _Conn:
    __slots__ = ("inbuf", "out", "sock", "tag", "writing")

    def __init__(self, sock: socket.socket, number: int) -> None:
        self.sock = sock
        self.tag = b"[guest%d] " % number
        self.inbuf = b""
        self.out = bytearray()
        self.writing = False


def serve(listener: socket.socket, policy: FlushPolicy) -> None:
    selector = selectors.DefaultSelector()
    listener.setblocking(False)
    selector.register(listener, selectors.EVENT_READ, None)
    conns: dict[socket.socket, _Conn] = {}
    dirty: list[_Conn] = []
    joined = 0

    def drop(conn: _Conn) -> None:
        if conns.pop(conn.sock, None) is not None:
            selector.unregister(conn.sock)
            conn.sock.close()

    while True:
        held = policy.deadline
        for key, mask in selector.select(None if held is None else max(0.0, held - time.monotonic())):
            conn = key.data
            if conn is None:
                for _ in range(256):
                    try:
                        sock, _ = listener.accept()
                    except BlockingIOError:
                        break
                    sock.setblocking(False)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    joined += 1
                    conns[sock] = new = _Conn(sock, joined)
                    selector.register(sock, selectors.EVENT_READ, new)
                continue
            if mask & selectors.EVENT_WRITE:
                dirty.append(conn)
            if not mask & selectors.EVENT_READ:
                continue
            try:
                data = conn.sock.recv(RECV_SIZE)
            except OSError:
                data = b""
            if not data:
                drop(conn)
                continue
            lines = (conn.inbuf + data).split(b"\n")
            conn.inbuf = lines.pop()
            for line in lines:
                out = relayed(conn.tag, line)
                if out is None:
                    continue
                for other in conns.values():
                    if other is not conn:
                        if not other.out:
                            dirty.append(other)
                        other.out += out
        if policy.enabled and dirty and not policy.due(time.monotonic(), waiting=len(dirty)):
            continue  # until the hold's deadline (or more input)
        for conn in dirty:
            if not conn.out or conn.sock not in conns:
                continue
            try:
                sent = conn.sock.send(conn.out)
            except BlockingIOError:
                sent = 0
            except OSError:
                drop(conn)
                continue
            del conn.out[:sent]
            if bool(conn.out) != conn.writing:  # a partial write: wait until writable, and back
                conn.writing = not conn.writing
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.writing else 0)
                selector.modify(conn.sock, events, conn)
        dirty.clear()
        if policy.enabled:
            policy.flushed(time.monotonic())


def main() -> None:
    args = parse_args("selectors_floor", flush=True)
    listener = listen(args.host, args.port)
    announce(listener, "select")
    with contextlib.suppress(KeyboardInterrupt):
        serve(listener, flush_policy(args.flush_delay))


if __name__ == "__main__":
    main()

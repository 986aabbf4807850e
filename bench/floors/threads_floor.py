"""The threads floor: a reader thread per client, one lock, a writer thread per client.

A reader appends each relayed line to every other client's list under the
lock and wakes that client's writer if it was idle; a writer takes
everything queued at once and sends it with one ``sendall``.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading

from . import RECV_SIZE, announce, listen, parse_args, relayed

#: Stack size of each thread, as the threads backend sets it (the default 8 MiB is address space only).
STACK_SIZE = 256 * 1024


class _Conn:
    __slots__ = ("closed", "out", "sock", "tag", "wake")

    def __init__(self, sock: socket.socket, number: int, lock: threading.Lock) -> None:
        self.sock = sock
        self.tag = b"[guest%d] " % number
        self.out: list[bytes] = []
        self.wake = threading.Condition(lock)
        self.closed = False


class _Hub:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.conns: dict[_Conn, None] = {}

    def read_loop(self, conn: _Conn) -> None:
        inbuf = b""
        lock, conns = self.lock, self.conns
        try:
            while data := conn.sock.recv(RECV_SIZE):
                lines = (inbuf + data).split(b"\n")
                inbuf = lines.pop()
                with lock:
                    for line in lines:
                        out = relayed(conn.tag, line)
                        if out is None:
                            continue
                        for other in conns:
                            if other is not conn:
                                if not other.out:
                                    other.wake.notify()
                                other.out.append(out)
        except OSError:
            pass
        with lock:
            conns.pop(conn, None)
            conn.closed = True
            conn.wake.notify()

    def write_loop(self, conn: _Conn) -> None:
        try:
            while True:
                with conn.wake:
                    while not conn.out and not conn.closed:
                        conn.wake.wait()
                    if conn.closed:
                        return
                    data = b"".join(conn.out)
                    conn.out.clear()
                conn.sock.sendall(data)
        except OSError:
            pass
        finally:
            conn.sock.close()


def main() -> None:
    args = parse_args("threads_floor")
    listener = listen(args.host, args.port)
    announce(listener, "threads")
    hub = _Hub()
    joined = 0
    threading.stack_size(STACK_SIZE)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            sock, _ = listener.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            joined += 1
            conn = _Conn(sock, joined, hub.lock)
            try:
                threading.Thread(target=hub.write_loop, args=(conn,), daemon=True).start()
            except RuntimeError as exc:  # out of threads: refuse this client, keep serving the others
                print(f"floor: refusing a client: {exc}", file=sys.stderr, flush=True)
                sock.close()
                continue
            with hub.lock:
                hub.conns[conn] = None
            try:
                threading.Thread(target=hub.read_loop, args=(conn,), daemon=True).start()
            except RuntimeError as exc:
                print(f"floor: refusing a client: {exc}", file=sys.stderr, flush=True)
                with hub.lock:
                    hub.conns.pop(conn, None)
                    conn.closed = True
                    conn.wake.notify()


if __name__ == "__main__":
    main()

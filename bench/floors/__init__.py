"""Floors: the smallest relay per I/O style, to measure what the I/O alone costs.

Each floor speaks just enough of the chat dialect for the load generator: a
line ``MSG <text>`` from a client reaches every other client as
``[guestN] <text>``; anything else is ignored.  There are no commands, no
validation and no limits beyond splitting lines; writes are coalesced per
loop pass (or per writer wake-up), sockets have TCP_NODELAY.  Loopback-only
benchmark tools, not servers.
"""

from __future__ import annotations

import argparse
import socket
import sys

from adapters._flush_policy import FlushConfig, FlushPolicy

from .._proc import raise_open_files_limit

RECV_SIZE = 64 * 1024
BACKLOG = 4096


def parse_args(name: str, *, tls: bool = False, flush: bool = False) -> argparse.Namespace:
    """The floor's options; ``tls``: it can serve TLS (``--tls-cert``, ``--tls-key``); ``flush``: it
    can hold its flushes while busy, by the chat server's own policy (``--flush-delay``)."""
    parser = argparse.ArgumentParser(prog=f"python -m bench.floors.{name}")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    if flush:
        parser.add_argument(
            "--flush-delay",
            type=float,
            default=0.0,
            help="hold a flush while busy, as sansio-chat serve --flush-delay (default 0: every pass writes)",
        )
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio", help="asyncio floor only")
    if tls:
        parser.add_argument("--tls-cert", default=None, help="serve TLS with this certificate chain (PEM)")
        parser.add_argument("--tls-key", default=None, help="and this key (PEM)")
    return parser.parse_args()


def listen(host: str, port: int) -> socket.socket:
    raise_open_files_limit()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    return sock


def announce(sock: socket.socket, style: str) -> None:
    host, port = sock.getsockname()[:2]
    print(f"floor listening on {host}:{port} (floor {style})", file=sys.stderr, flush=True)


def relayed(tag: bytes, line: bytes) -> bytes | None:
    """What a client's line becomes for the others: ``MSG x`` -> ``[guestN] x``; else None."""
    if line[:4] == b"MSG ":
        return tag + line[4:] + b"\n"
    return None


def flush_policy(delay: float) -> FlushPolicy:
    """The chat server's flush policy (the same module), with this bound."""
    return FlushPolicy(FlushConfig(delay=delay))

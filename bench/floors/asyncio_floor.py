"""The asyncio floor: a ``Protocol`` per client, one ``transport.write`` per client per loop pass.

With ``--tls-cert``, the same relay over asyncio's own TLS transport (the
standard library's ``sslproto``, or uvloop's): the TLS floor that the
backends' TLS layer is compared with.  With ``--flush-delay``, a busy pass
holds its flush as the chat server does (the same policy): the flush is
tried again at the hold's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from typing import cast

from adapters._flush_policy import FlushPolicy

from . import BACKLOG, announce, flush_policy, listen, parse_args, relayed


class _Relay(asyncio.Protocol):
    """One client; ``out`` collects what it gets during a loop pass."""

    def __init__(self, hub: _Hub, number: int) -> None:
        self.hub = hub
        self.tag = b"[guest%d] " % number
        self.inbuf = b""
        self.out: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.hub.relays[self] = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.relays.pop(self, None)

    def data_received(self, data: bytes) -> None:
        lines = (self.inbuf + data).split(b"\n")
        self.inbuf = lines.pop()
        hub = self.hub
        for line in lines:
            out = relayed(self.tag, line)
            if out is None:
                continue
            for other in hub.relays:
                if other is not self:
                    if not other.out:
                        hub.dirty.append(other)
                    other.out.append(out)
        if hub.dirty and not hub.flush_scheduled:
            hub.flush_scheduled = True
            hub.loop.call_soon(hub.flush)


class _Hub:
    def __init__(self, loop: asyncio.AbstractEventLoop, policy: FlushPolicy) -> None:
        self.loop = loop
        self.policy = policy
        self.relays: dict[_Relay, None] = {}  # insertion-ordered set
        self.dirty: list[_Relay] = []
        self.flush_scheduled = False
        self.joined = 0

    def new_relay(self) -> _Relay:
        self.joined += 1
        return _Relay(self, self.joined)

    def flush(self) -> None:
        """Once per loop pass: each client that got lines gets them in one write."""
        self.flush_scheduled = False
        policy = self.policy
        if policy.enabled and self.dirty and not policy.due(time.monotonic(), waiting=len(self.dirty)):
            assert policy.deadline is not None  # held: again at its deadline
            self.flush_scheduled = True
            self.loop.call_later(max(0.0, policy.deadline - time.monotonic()), self.flush)
            return
        dirty, self.dirty = self.dirty, []
        for relay in dirty:
            out = relay.out
            if relay.transport is not None and out:
                relay.transport.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()
        if policy.enabled:
            policy.flushed(time.monotonic())


async def serve(host: str, port: int, policy: FlushPolicy, tls: ssl.SSLContext | None = None) -> None:
    loop = asyncio.get_running_loop()
    hub = _Hub(loop, policy)
    listener = listen(host, port)
    server = await loop.create_server(hub.new_relay, sock=listener, backlog=BACKLOG, ssl=tls)
    announce(listener, "asyncio+tls" if tls else "asyncio")
    async with server:
        await server.serve_forever()


def _tls_context(cert: str | None, key: str | None) -> ssl.SSLContext | None:
    """The server's defaults, as the chat server's TLS layer has them (TLS 1.2 at least)."""
    if cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def main() -> None:
    args = parse_args("asyncio_floor", tls=True, flush=True)
    tls = _tls_context(args.tls_cert, args.tls_key)
    policy = flush_policy(args.flush_delay)
    with contextlib.suppress(KeyboardInterrupt):
        if args.loop == "uvloop":
            import uvloop  # noqa: PLC0415 - optional

            uvloop.run(serve(args.host, args.port, policy, tls))
        else:
            asyncio.run(serve(args.host, args.port, policy, tls))


if __name__ == "__main__":
    main()

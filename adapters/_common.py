"""What every backend shares: sockets set up the same way, the core driver, limits.

The backends differ in how they wait for readiness (a selector loop, one
thread per client, an asyncio event loop); everything else lives here once.
"""

from __future__ import annotations

import errno
import logging
import resource
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Protocol

from sansio_chat import (
    Abort,
    Close,
    ConnectionOpened,
    ConnectionReset,
    ConnId,
    DataReceived,
    EofReceived,
    Event,
    Log,
    OutputBacklog,
    PauseReading,
    ResumeReading,
    Send,
    ServerConfig,
    ServerState,
    ShutdownRequested,
    Tick,
    new_server_state,
)

log = logging.getLogger("sansio_chat")

#: Idle seconds after some work before freed memory is handed back to the OS.
TRIM_AFTER_IDLE_SECONDS = 0.25
#: Bytes asked of the kernel per read.
RECV_SIZE = 64 * 1024
#: How long shutdown waits for clients to take their last bytes before closing anyway.
SHUTDOWN_FLUSH_SECONDS = 5.0
#: Idle seconds before TCP keepalive probes start, interval between probes, probes.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 60, 15, 4
#: Backlog for the listening socket: large, since scanners and bursts of joins happen.
LISTEN_BACKLOG = 4096
#: Connections accepted in one go at most, so a storm of joins cannot starve the rest.
ACCEPTS_PER_PASS = 256
#: How long to stop accepting after running out of descriptors or memory.
ACCEPT_BACKOFF_SECONDS = 0.1
#: ``accept`` errors that mean "out of resources, try again shortly", not "bad peer".
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """Everything a backend needs to run: where to listen and the core's settings."""

    host: str | None = None  # None: dual-stack "::", or IPv4 where there is no IPv6
    port: int = 7777
    config: ServerConfig = field(default_factory=ServerConfig)
    selector: str = "default"  # selectors backend only: "default" (epoll) or "select"


class ActionSink(Protocol):
    """The four things a backend knows how to do to its connections."""

    def send(self, conns: tuple[ConnId, ...], data: bytes) -> None: ...
    def close(self, conn: ConnId) -> None: ...
    def abort(self, conn: ConnId) -> None: ...
    def pause_reading(self, conn: ConnId) -> None: ...
    def resume_reading(self, conn: ConnId) -> None: ...


class CoreDriver:
    """Feeds a server state with events and carries out its actions on a sink.

    It is the only place that builds events and interprets actions, so the
    backends cannot drift apart.  It is not thread-safe: the threads backend
    holds its lock around every call.
    """

    def __init__(
        self,
        options: ServeOptions,
        sink: ActionSink,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.state: ServerState = new_server_state(options.config)
        self._sink = sink
        self._clock = clock
        self._timed = self.state.uses_clock
        self._ids = _counter()

    def new_conn_id(self) -> ConnId:
        return next(self._ids)

    def opened(self, conn: ConnId, peer: str) -> None:
        self._run(Tick(now=self._clock()))
        self._run(ConnectionOpened(conn=conn, peer=peer))

    def received(self, conn: ConnId, data: bytes) -> None:
        if self._timed:
            self._run(Tick(now=self._clock()))
        self._run(DataReceived(conn=conn, data=data))

    def eof(self, conn: ConnId) -> None:
        self._run(EofReceived(conn=conn))

    def reset(self, conn: ConnId) -> None:
        self._run(ConnectionReset(conn=conn))

    def backlog(self, conn: ConnId, unsent: int) -> None:
        """After a write attempt the kernel did not take in full: ``unsent`` bytes are still held."""
        self._run(OutputBacklog(conn=conn, unsent=unsent))

    def tick(self) -> None:
        self._run(Tick(now=self._clock()))

    def shutdown(self) -> None:
        self._run(Tick(now=self._clock()))
        self._run(ShutdownRequested())

    def seconds_to_wakeup(self) -> float | None:
        """How long until the core wants a ``tick`` (flood control), or None."""
        wakeup = self.state.next_wakeup
        if wakeup is None:
            return None
        return max(0.0, wakeup - self._clock())

    def _run(self, event: Event) -> None:
        sink = self._sink
        for action in self.state.receive(event):
            if isinstance(action, Send):
                sink.send(action.conns, action.data)
            elif isinstance(action, Close):
                sink.close(action.conn)
            elif isinstance(action, Log):
                log.log(action.level, "%s", action.message)
            elif isinstance(action, Abort):
                sink.abort(action.conn)
            elif isinstance(action, PauseReading):
                sink.pause_reading(action.conn)
            elif isinstance(action, ResumeReading):
                sink.resume_reading(action.conn)


def _counter() -> Iterator[int]:
    n = 0
    while True:
        n += 1
        yield n


def open_listener(host: str | None, port: int) -> socket.socket:
    """A listening socket: dual-stack ``::`` by default, IPv4 where IPv6 is missing."""
    if host is None:
        if socket.has_ipv6:
            try:
                return _bind(socket.AF_INET6, ("::", port), dual_stack=True)
            except OSError as exc:
                log.debug("no IPv6 listener (%s), falling back to IPv4", exc)
        return _bind(socket.AF_INET, ("0.0.0.0", port), dual_stack=False)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    # An explicit "::" (IPv6 any) takes IPv4 too, like the default; other addresses are v6-only.
    return _bind(family, address, dual_stack=family == socket.AF_INET6 and address[0] == "::")


def _bind(family: int, address: tuple[object, ...] | tuple[str, int], *, dual_stack: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if dual_stack else 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def configure_client(sock: socket.socket) -> None:
    """No Nagle delay (replies are small and latency matters) and TCP keepalive."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", KEEPALIVE_COUNT),
    ):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


def format_address(address: object) -> str:
    """``host:port`` for IPv4, ``[host]:port`` for IPv6; IPv4-mapped shown as IPv4."""
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = str(address[0]), address[1]
        if host.startswith("::ffff:") and "." in host:
            host = host[len("::ffff:") :]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address)


def raise_open_files_limit(config: ServerConfig) -> ServerConfig:
    """Raise the soft open-files limit to the hard one; cap ``max_clients`` if still short.

    Each client costs one descriptor (the listener and a few spares are kept
    aside); when the limit cannot cover ``max_clients``, say so and lower it,
    so that the server refuses politely instead of failing to accept.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.debug("could not raise the open-files limit: %s", exc)
    spare = 32
    room = soft - spare
    if soft != resource.RLIM_INFINITY and room < config.max_clients:
        log.warning(
            "open-files limit %d caps max-clients at %d (asked for %d)",
            soft,
            max(room, 1),
            config.max_clients,
        )
        return replace(config, max_clients=max(room, 1))
    return config


#: Most bytes joined for one ``send`` call; more is left for the next one.
WRITE_CHUNK = 256 * 1024


class OutputQueue:
    """Bytes queued for one connection, handed out joined, one buffer per ``send``.

    Coalescing many queued lines into one ``send`` is what keeps fan-out
    cheap; a partly sent buffer is resumed from an offset, never copied again.
    The hot path appends to ``chunks`` directly (a list append, no Python
    call); ``size`` is computed only when a backlog has to be reported.
    """

    __slots__ = ("_offset", "chunks")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []  # queued, oldest first
        self._offset = 0  # bytes of chunks[0] already sent

    def __bool__(self) -> bool:
        return bool(self.chunks)

    @property
    def size(self) -> int:
        """Bytes queued and not yet sent."""
        return sum(map(len, self.chunks)) - self._offset

    def append(self, data: bytes) -> None:
        self.chunks.append(data)

    def next_write(self) -> memoryview:
        """The bytes for the next ``send`` call: the queue head, joined up to ``WRITE_CHUNK``."""
        chunks = self.chunks
        offset = self._offset
        if len(chunks) > 1 and len(chunks[0]) - offset < WRITE_CHUNK:
            head = chunks[0][offset:] if offset else chunks[0]
            taken, total = 1, len(head)
            while taken < len(chunks) and total < WRITE_CHUNK:
                total += len(chunks[taken])
                taken += 1
            chunks[:taken] = [b"".join([head, *chunks[1:taken]])]
            self._offset = offset = 0
        return memoryview(chunks[0])[offset:]

    def consume(self, count: int) -> None:
        """Drop ``count`` bytes that the kernel took, from the front."""
        chunks = self.chunks
        while count:
            left = len(chunks[0]) - self._offset
            if count < left:
                self._offset += count
                return
            count -= left
            del chunks[0]
            self._offset = 0

    def take_all(self) -> bytes:
        """Everything queued as one ``bytes`` (for a blocking ``sendall``), emptying the queue."""
        data = b"".join(self.chunks)
        if self._offset:
            data = data[self._offset :]
        self.clear()
        return data

    def clear(self) -> None:
        self.chunks.clear()
        self._offset = 0


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        import ctypes  # noqa: PLC0415 - only where the C library has malloc_trim

        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, ImportError):
        return None
    return trim


_malloc_trim = _find_malloc_trim()


def release_free_memory() -> None:
    """Hand memory freed after a burst (joins announced to everyone) back to the OS.

    glibc keeps freed heap memory for reuse; after a burst of joins each
    client's output buffer briefly held hundreds of notices, and without a
    trim that high-water mark would stay in the server's RSS for good.  Called
    when the server goes idle; a no-op where the C library has no
    ``malloc_trim``.
    """
    if _malloc_trim is not None:
        _malloc_trim(0)


def announce(listener: socket.socket, backend: str, config: ServerConfig) -> None:
    """The startup log line: the real listening address, the backend and the mode."""
    address = format_address(listener.getsockname())
    log.info("listening on %s (backend %s, mode %s)", address, backend, config.mode.value)


#: How long a connection the core has closed may take to take its last bytes;
#: after that it is dropped, so a client that never reads cannot hold it forever.
CLOSE_FLUSH_SECONDS = 10.0
#: After the last byte is flushed and a FIN sent, how long a closing connection is
#: still read (and the bytes discarded) so that its unread input cannot turn the
#: close into a reset that destroys the last lines in flight to the client.
LINGER_SECONDS = 2.0

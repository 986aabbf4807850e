"""A server's link to its cluster, for every backend: the bridge, its two Redis sockets, the driver.

``ClusterNode`` is the one place where the cluster meets I/O.  It owns the
node's ``ClusterBridge`` (sans-IO, ``adapters/cluster/``) and implements the
link's transport with two non-blocking sockets; it hands the core's cluster
actions to the bridge and the bridge's events to the core, through the
driver.  A backend only says when a socket is ready: it implements
``LinkWatcher`` (register a socket with its selector, its event loop's
readers and writers, or its writer thread's selector) and calls the callback
it was given.  So the three backends drive Redis identically.

What the link writes during a pass of the backend's loop waits for the
driver's flush at the end of that pass (``flush``), as clients' output
does: the commands of every line read in one pass (a ``PUBLISH`` each) go
to Redis in one ``send``, and Redis reads them in one read and writes their
messages to each subscriber at once, where a ``send`` per command would cost
a system call here, a read there, and a write per message to every node.

Not thread-safe, like the driver: the threads backend calls it under its lock.
"""

from __future__ import annotations

import errno
import logging
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from sansio_chat import ClusterAction, Event, LogLevel

from ._options import ClusterOptions
from ._watch import LinkWatcher, Ready
from .cluster import Role, carry_out
from .cluster.bridge import ClusterBridge

#: Bytes read from Redis at a time: a node far behind catches up in few reads.  They are read
#: into one buffer kept for the node's life: a ``recv`` of this size would allocate it anew
#: each time (from the system, at this size: a mapping made and dropped on every read).
REDIS_RECV_SIZE = 256 * 1024
#: Rounds of actions and events in one pump before it is a bug.
MAX_PUMP_ROUNDS = 10_000


@dataclass(eq=False)
class _RedisSocket:
    role: Role
    sock: socket.socket
    connecting: bool = True
    out: bytearray = field(default_factory=bytearray)
    watched: tuple[bool, bool] = (False, False)  # (read, write) asked of the backend
    ready: Ready | None = None


class ClusterNode:
    """The bridge, its link's sockets, and the way between them and the core (see the module)."""

    def __init__(
        self,
        options: ClusterOptions,
        *,
        tell: Callable[[list[Event]], None],
        clock: Callable[[], float],
        watcher: LinkWatcher,
        wake: Callable[[], None],
        log: logging.Logger,
    ) -> None:
        self._tell = tell
        self._wake = wake  # a flush must come soon: the backend's next pass
        self._clock = clock
        self._watcher = watcher
        self._log = log
        self.bridge = ClusterBridge(
            options.address,
            node_id=options.node_id,
            node_number=options.node_number,
            now=clock(),
            jitter=random.Random().random,
        )
        self._link = self.bridge.link
        self._sockets: dict[Role, _RedisSocket] = {}
        self._later: list[Callable[[], None]] = []  # reports to the link, out of carry_out
        self._unflushed: list[_RedisSocket] = []  # sockets with output for the next flush
        self._acted = False  # the core acted since the last pump: the flush pumps first
        self._pumping = False
        self._buffer = memoryview(bytearray(REDIS_RECV_SIZE))

    # -- the driver's side ---------------------------------------------------------------

    def start(self) -> None:
        """Connect (the backend's loop is ready to watch sockets)."""
        self._log.info("cluster: node %s joins %s", self.bridge.node_id, self._link.address)
        self.pump()

    def act(self, action: ClusterAction) -> None:
        """One of the core's cluster actions: to the bridge now, carried out at the pass's flush.

        The core hears about a share later anyway (its answer comes from
        Redis); pumping once for every line of a pass, rather than once per
        line, is the point.
        """
        self.bridge.act(action)
        if not self._acted:
            self._acted = True
            self._wake()

    @property
    def next_wakeup(self) -> float | None:
        return self.bridge.next_wakeup

    def tick(self, now: float) -> None:
        self._handle(self.bridge.tick(now))
        self.pump()

    def stop(self) -> None:
        """The server stops: release this node's users in Redis (now: no pass may come soon), then close."""
        self.bridge.stop(self._clock())
        self.pump()
        self.flush()

    @property
    def stopped(self) -> bool:
        return self.bridge.stopped

    def flush(self) -> None:
        """Carry out the core's actions of the pass; write what the link asked for: once per socket."""
        if self._acted:
            self.pump()
        for _ in range(MAX_PUMP_ROUNDS):
            if not self._unflushed:
                return
            unflushed, self._unflushed = self._unflushed, []
            for entry in unflushed:
                if self._sockets.get(entry.role) is entry:
                    self._flush(entry)
            self.pump()  # a socket error reaches the link; what the core answers may write again
        raise RuntimeError("the cluster link never stopped writing")

    def end(self) -> None:
        """The end: whatever is still open closes now (what is written goes first, if it can)."""
        self.flush()
        self._link.stop()
        self.pump()
        for entry in list(self._sockets.values()):
            self._forget(entry)

    def pump(self) -> None:
        """Carry out the link's actions and hand the bridge's news to the core, until quiet."""
        if self._pumping:
            return  # the outer pump goes round again
        self._pumping = True
        try:
            for _ in range(MAX_PUMP_ROUNDS):
                actions = self._link.take_actions()
                carry_out(actions, self)
                later, self._later = self._later, []
                for call in later:
                    call()
                events = self.bridge.poll(self._clock())
                self._handle(events)
                if not actions and not events and not later:
                    return
            raise RuntimeError("the cluster link never went quiet")
        finally:
            self._pumping = False
            self._acted = False  # (what the core did meanwhile, this pump carried out)

    def _handle(self, events: list[Event]) -> None:
        for level, message in self.bridge.logs:
            self._log.log(level, "%s", message)
        self.bridge.logs.clear()
        if events:
            self._tell(events)

    # -- the link's transport --------------------------------------------------------------

    def connect(self, role: Role, host: str, port: int) -> None:
        try:
            family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self._later.append(lambda: self._link.connect_failed(role, reason, now=self._clock()))
            return
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        entry = _RedisSocket(role, sock)
        entry.ready = lambda readable, writable: self._ready(entry, readable, writable)
        self._sockets[role] = entry
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS):
            self._forget(entry)
            reason = errno.errorcode.get(code, str(code))
            self._later.append(lambda: self._link.connect_failed(role, reason, now=self._clock()))
            return
        self._watch(entry, read=False, write=True)

    def write(self, role: Role, data: bytes) -> None:
        entry = self._sockets[role]
        if not entry.out and not entry.connecting:
            self._unflushed.append(entry)
            self._wake()
        entry.out += data

    def close(self, role: Role) -> None:
        entry = self._sockets.get(role)
        if entry is not None:
            self._forget(entry)

    def log(self, level: LogLevel, message: str) -> None:
        self._log.log(level, "%s", message)

    # -- the sockets ------------------------------------------------------------------------

    def _ready(self, entry: _RedisSocket, readable: bool, writable: bool) -> None:
        if self._sockets.get(entry.role) is not entry:
            return  # closed meanwhile
        if entry.connecting:
            if writable or readable:
                self._finish_connect(entry)
        else:
            if readable:
                self._read(entry)
            if writable and self._sockets.get(entry.role) is entry:
                self._flush(entry)
        self.pump()

    def _finish_connect(self, entry: _RedisSocket) -> None:
        code = entry.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._forget(entry)
            self._link.connect_failed(entry.role, errno.errorcode.get(code, str(code)), now=self._clock())
            return
        entry.connecting = False
        self._watch(entry, read=True, write=bool(entry.out))
        self._link.connected(entry.role, now=self._clock())
        if entry.out:
            self._flush(entry)

    def _read(self, entry: _RedisSocket) -> None:
        try:
            size = entry.sock.recv_into(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._forget(entry)
            self._link.connection_lost(entry.role, exc.strerror or str(exc), now=self._clock())
            return
        if not size:
            self._forget(entry)
            self._link.connection_lost(entry.role, "connection closed by Redis", now=self._clock())
            return
        self._link.data_received(entry.role, self._buffer[:size].tobytes(), now=self._clock())

    def _flush(self, entry: _RedisSocket) -> None:
        """Write what the socket takes; watch for room for the rest."""
        if entry.out:
            try:
                sent = entry.sock.send(entry.out)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._forget(entry)
                reason = exc.strerror or str(exc)
                self._later.append(lambda: self._link.connection_lost(entry.role, reason, now=self._clock()))
                return
            del entry.out[:sent]
        self._watch(entry, read=True, write=bool(entry.out))

    def _watch(self, entry: _RedisSocket, *, read: bool, write: bool) -> None:
        if entry.watched != (read, write):
            entry.watched = (read, write)
            assert entry.ready is not None
            self._watcher.watch(entry.sock, read=read, write=write, ready=entry.ready)

    def _forget(self, entry: _RedisSocket) -> None:
        if self._sockets.get(entry.role) is entry:
            del self._sockets[entry.role]
        self._watcher.unwatch(entry.sock)
        entry.sock.close()

"""The reference driver: links run over real sockets by one blocking selectors loop.

It implements the link's transport (``connect``, ``write``, ``close``,
``log``) and its timer (``tick`` at ``next_wakeup``) as a backend will, in
the smallest way: non-blocking sockets, one output buffer per connection,
reads of 64 KiB.  Tests run the loop until a condition holds, with a
deadline; several links (nodes) can share one loop.
"""

from __future__ import annotations

import contextlib
import errno
import random
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from adapters.cluster import (
    LinkConfig,
    LinkEvent,
    RedisAddress,
    RedisLink,
    Role,
    Script,
    carry_out,
)
from sansio_chat import LogLevel

E = TypeVar("E", bound=LinkEvent)
N = TypeVar("N", bound="Node")

RECV_SIZE = 64 * 1024
#: The longest a test waits for something the link should do.
DEFAULT_TIMEOUT = 10.0


@dataclass(eq=False)
class _Socket:
    """One of a link's connections: the socket and what is still to be written."""

    node: Node
    role: Role
    sock: socket.socket
    connecting: bool = True
    output: bytearray = field(default_factory=bytearray)


class Node:
    """A link driven by a ``SelectorsDriver``, with everything it reported."""

    def __init__(self, driver: SelectorsDriver, link: RedisLink) -> None:
        self.driver = driver
        self.link = link
        self.events: list[LinkEvent] = []
        self.logs: list[tuple[LogLevel, str]] = []
        self.sockets: dict[Role, _Socket] = {}

    # -- the transport ----------------------------------------------------------

    def connect(self, role: Role, host: str, port: int) -> None:
        assert role not in self.sockets, f"{role} is already open"
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        entry = _Socket(self, role, sock)
        self.sockets[role] = entry
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS):
            self._forget(entry)
            reason = errno.errorcode.get(code, str(code))
            self.driver.later(lambda: self.link.connect_failed(role, reason, now=self.driver.now()))
            return
        self.driver.selector.register(sock, selectors.EVENT_WRITE, entry)

    def write(self, role: Role, data: bytes) -> None:
        entry = self.sockets[role]
        entry.output += data
        if not entry.connecting:
            self.driver.flush(entry)

    def close(self, role: Role) -> None:
        self._forget(self.sockets[role])

    def log(self, level: LogLevel, message: str) -> None:
        self.logs.append((level, message))

    def _forget(self, entry: _Socket) -> None:
        if self.sockets.get(entry.role) is entry:
            del self.sockets[entry.role]
        with contextlib.suppress(KeyError, ValueError):
            self.driver.selector.unregister(entry.sock)
        entry.sock.close()

    # -- the loop's view -------------------------------------------------------

    @property
    def next_wakeup(self) -> float | None:
        return self.link.next_wakeup

    def tick(self, now: float) -> None:
        self.link.tick(now=now)

    # -- for tests -------------------------------------------------------------

    def sync(self) -> None:
        """Carry out the link's actions and collect its events (after calling into it)."""
        carry_out(self.link.take_actions(), self)
        self.events += self.link.take_events()

    def events_of(self, kind: type[E]) -> list[E]:
        """The events of one kind, in order."""
        return [event for event in self.events if isinstance(event, kind)]


class SelectorsDriver:
    """One selectors loop for any number of links; time is ``time.monotonic``."""

    def __init__(self) -> None:
        self.selector = selectors.DefaultSelector()
        self.nodes: list[Node] = []
        self._later: list[Callable[[], None]] = []

    def now(self) -> float:
        return time.monotonic()

    def add(
        self,
        address: RedisAddress,
        name: str,
        *,
        scripts: Sequence[Script] = (),
        config: LinkConfig | None = None,
        seed: int = 0,
    ) -> Node:
        link = RedisLink(
            address,
            client_name=name,
            echo_channel=f"test:link:{name}".encode(),
            jitter=random.Random(seed).random,
            now=self.now(),
            scripts=scripts,
            config=config,
        )
        return self.attach(Node(self, link))

    def attach(self, node: N) -> N:
        """Run ``node`` (its link, or whatever drives one) in this loop too."""
        self.nodes.append(node)
        node.sync()
        return node

    def freeze(self, node: Node) -> None:
        """Stop running ``node``, its sockets left open and unread (as SIGSTOP would)."""
        self.nodes.remove(node)
        for entry in node.sockets.values():
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(entry.sock)

    def thaw(self, node: Node) -> None:
        """Run a frozen ``node`` again (SIGCONT): it finds out what happened meanwhile."""
        for entry in node.sockets.values():
            events = selectors.EVENT_WRITE if entry.connecting or entry.output else 0
            self.selector.register(entry.sock, selectors.EVENT_READ | events, entry)
        self.nodes.append(node)

    def kill(self, node: Node) -> None:
        """``node`` dies (``kill -9``): its sockets close, nothing more is said to Redis."""
        self.freeze(node)
        for entry in list(node.sockets.values()):
            node._forget(entry)

    def later(self, call: Callable[[], None]) -> None:
        """Report something to a link from the loop, not from inside ``carry_out``."""
        self._later.append(call)

    def close(self) -> None:
        for node in self.nodes:
            node.link.stop()
            node.sync()
        self.selector.close()

    # -- the loop ----------------------------------------------------------------

    def run_until(self, condition: Callable[[], bool], timeout: float = DEFAULT_TIMEOUT) -> None:
        """Run the loop until ``condition()`` holds; fail after ``timeout`` seconds."""
        deadline = self.now() + timeout
        while not condition():
            if self.now() >= deadline:
                raise AssertionError(f"condition not met within {timeout} s")
            self.run_once(min(0.05, deadline - self.now()))

    def run_for(self, seconds: float) -> None:
        """Run the loop for ``seconds`` (to check that something does *not* happen)."""
        deadline = self.now() + seconds
        while (left := deadline - self.now()) > 0:
            self.run_once(left)

    def run_once(self, longest: float) -> None:
        timeout = longest
        for node in self.nodes:
            wakeup = node.next_wakeup
            if wakeup is not None:
                timeout = min(timeout, max(0.0, wakeup - self.now()))
        if self._later:
            timeout = 0.0
        for key, mask in self.selector.select(timeout):
            entry: _Socket = key.data
            if entry.node.sockets.get(entry.role) is not entry:
                continue  # closed earlier in this pass
            if entry.connecting:
                self._finish_connect(entry)
            else:
                if mask & selectors.EVENT_READ:
                    self._read(entry)
                if mask & selectors.EVENT_WRITE and entry.node.sockets.get(entry.role) is entry:
                    self.flush(entry)
        calls, self._later = self._later, []
        for call in calls:
            call()
        now = self.now()
        for node in self.nodes:
            wakeup = node.next_wakeup
            if wakeup is not None and now >= wakeup:
                node.tick(now)
            node.sync()

    def _finish_connect(self, entry: _Socket) -> None:
        node, role = entry.node, entry.role
        code = entry.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            node._forget(entry)
            node.link.connect_failed(role, errno.errorcode.get(code, str(code)), now=self.now())
        else:
            entry.connecting = False
            self.selector.modify(entry.sock, selectors.EVENT_READ, entry)
            node.link.connected(role, now=self.now())
        node.sync()

    def _read(self, entry: _Socket) -> None:
        node, role = entry.node, entry.role
        try:
            data = entry.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            node._forget(entry)
            node.link.connection_lost(role, exc.strerror or str(exc), now=self.now())
        else:
            if data:
                node.link.data_received(role, data, now=self.now())
            else:
                node._forget(entry)
                node.link.connection_lost(role, "connection closed by Redis", now=self.now())
        node.sync()

    def flush(self, entry: _Socket) -> None:
        """Write what the socket takes; wait for writability for the rest."""
        node = entry.node
        try:
            sent = entry.sock.send(entry.output) if entry.output else 0
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            node._forget(entry)
            reason = exc.strerror or str(exc)
            self.later(lambda: node.link.connection_lost(entry.role, reason, now=self.now()))
            return
        del entry.output[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if entry.output else 0)
        self.selector.modify(entry.sock, events, entry)

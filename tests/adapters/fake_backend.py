"""A fake backend for the driver: a recording ``Port``, a clock the test moves, a core that may fail."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from adapters._connection import Connection
from adapters._driver import Driver
from adapters._flush_policy import FlushConfig
from adapters._lifecycle import Phase
from adapters._listeners import LISTENER_KINDS, ListenerKind
from adapters.transport import TransportConfig
from sansio_chat import (
    Action,
    Event,
    ServerConfig,
    ServerState,
)

TEXT = LISTENER_KINDS["text"]
log = logging.getLogger("sansio_chat.test")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Port:
    """Records what the driver asks; closes and drops forget the connection at once, as select does."""

    def __init__(self) -> None:
        self.driver: Driver[Connection] | None = None
        self.calls: list[tuple[str, int]] = []
        self.fin_fails = False
        self.errors: dict[int, OSError] = {}  # what a socket holds: a reset the peer sent

    def wake(self) -> None:
        self.calls.append(("wake", 0))

    def reading_changed(self, conn: Connection) -> None:
        self.calls.append(("reading_changed", conn.id))

    def send_fin(self, conn: Connection) -> bool:
        self.calls.append(("send_fin", conn.id))
        return not self.fin_fails

    def close(self, conn: Connection) -> None:
        self.calls.append(("close", conn.id))
        self._forget(conn)

    def drop(self, conn: Connection) -> None:
        self.calls.append(("drop", conn.id))
        self._forget(conn)

    def socket_error(self, conn: Connection) -> OSError | None:
        self.calls.append(("socket_error", conn.id))
        return self.errors.pop(conn.id, None)

    def _forget(self, conn: Connection) -> None:
        assert self.driver is not None
        if self.driver.conns.get(conn.id) is conn:
            self.driver.forget(conn)

    def take(self) -> list[tuple[str, int]]:
        calls, self.calls = self.calls, []
        return [call for call in calls if call[0] != "wake"]


class Recorder:
    """The core, wrapped: records every event, and raises on the events ``fails`` picks."""

    def __init__(self, inner: ServerState, fails: Callable[[Event], bool] = lambda event: False) -> None:
        self.inner = inner
        self.events: list[Event] = []
        self.fails = fails

    def receive(self, event: Event) -> list[Action]:
        self.events.append(event)
        if self.fails(event):
            raise RuntimeError(f"failing on purpose on {type(event).__name__}")
        return self.inner.receive(event)

    @property
    def next_wakeup(self) -> float | None:
        return self.inner.next_wakeup

    @property
    def config(self) -> ServerConfig:
        return self.inner.config


class World:
    def __init__(
        self,
        config: ServerConfig | None = None,
        fails: Callable[[Event], bool] | None = None,
        transports: Mapping[ListenerKind, TransportConfig] | None = None,
        flush: FlushConfig | None = None,
    ) -> None:
        self.clock = Clock()
        self.port = Port()
        self.driver: Driver[Connection] = Driver(
            config or ServerConfig(oper_password="pw"),
            self.port,
            log,
            clock=self.clock,
            transports=transports,
            flush=flush,
        )
        self.port.driver = self.driver
        self.core = Recorder(self.driver.state, fails or (lambda event: False))
        self.driver.state = self.core  # type: ignore[assignment]

    def connect(self, kind: ListenerKind = TEXT) -> Connection:
        conn = Connection(self.driver.new_id(), kind)
        self.driver.open(conn, f"127.0.0.1:{5000 + conn.id}")
        return conn

    def flush(self) -> dict[int, bytes]:
        """What a backend's flush would write, per connection; everything is taken by the kernel."""
        written = {}
        for conn in self.driver.take_dirty():
            data = conn.take_output()
            if not conn.life.closed:
                written[conn.id] = data
                self.driver.written(conn, 0)
        for conn in self.driver.take_closing():
            self.driver.written(conn, 0)
        return written


def phase(conn: Connection) -> Phase:
    """Read through a call: mypy keeps no narrowing across it."""
    return conn.life.phase


def lines(data: bytes) -> list[str]:
    return data.decode().splitlines()

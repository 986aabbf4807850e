"""A tiny in-memory network for driving the sans-IO core in tests.

``FakeNetwork`` holds one server state and plays the backend: it opens
connections with fresh ids, turns what a test client types into events, and
carries out the actions the core returns on per-connection transcripts.  It
also checks the backend contract as it goes, so every test checks it for free:

* nothing is sent to, paused on or closed on a connection that is closed;
* each connection is closed (``Close`` or ``Abort``) at most once;
* ``PauseReading`` and ``ResumeReading`` alternate, starting with a pause.

Output is queued per connection, as in a real backend.  With ``auto_flush``
(the default, also settable per client) everything queued is reported
flushed after each event, so the slow-consumer limit never triggers.  Without
it the client models a peer that has stopped reading: after each event that
gave it output, the driver reports a write attempt the kernel refused
(``OutputBacklog`` with all of its queue), as a backend would; a test lets bytes through
by hand with ``Client.flush``.  ``Close`` delivers the
queue, ``Abort`` discards it.

While a connection's reading is paused, what its client types waits in the
driver (as it would in the kernel) and is delivered on ``ResumeReading``; a
reset is reported at once, and what waited is lost with the connection.
Time is a fake clock moved by ``advance``/``tick``; with ``auto_tick`` the
driver ticks to ``next_wakeup`` after each event until nothing waits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, assert_never

from sansio_chat import (
    Abort,
    Action,
    ChatServerState,
    Close,
    ConnectionOpened,
    ConnectionReset,
    ConnId,
    DataReceived,
    DialectName,
    EofReceived,
    Event,
    Log,
    MessagesReceived,
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
from sansio_chat._facts import Fact
from sansio_chat._shared import Burst, ClusterAction, FollowRoom, LeaseGuests, Share, UnfollowRoom

#: The operator password the tests' chat servers are configured with.
OPER_PASSWORD = "s3cret"

#: More ticks (or settling steps) than this without the core going quiet is a livelock.
MAX_TICKS = 10_000


class ContractError(AssertionError):
    """The core asked for something no backend can do (e.g. send after close)."""


class Client:
    """One end of a fake connection, as its user sees it."""

    def __init__(self, net: FakeNetwork, conn: ConnId) -> None:
        self.net = net
        self.conn = conn
        self.auto_flush = net.auto_flush  # does this client read everything at once?
        self.received = bytearray()  # delivered to the client, in order
        self.queued = bytearray()  # sent by the core, not yet flushed
        self.unattempted = False  # output queued since the last write attempt
        self.closed = False  # by Close or Abort
        self.aborted = False
        self.paused = False
        self.typed_while_paused: list[Event] = []
        self._read = 0  # how much of ``received`` lines() has returned

    # -- what the user does ---------------------------------------------

    def send(self, text: str) -> list[Action]:
        """Type one line: ``text`` and a LF, UTF-8 encoded."""
        return self.send_bytes(text.encode() + b"\n")

    def send_bytes(self, data: bytes) -> list[Action]:
        return self._deliver(DataReceived(conn=self.conn, data=data))

    def send_messages(self, *messages: bytes) -> list[Action]:
        """Whole messages that one read brought, as a web client's transport delivers them."""
        return self._deliver(MessagesReceived(conn=self.conn, messages=messages))

    def send_message(self, data: bytes) -> list[Action]:
        """One whole message, as a web client's transport delivers it."""
        return self._deliver(MessagesReceived(conn=self.conn, messages=(data,)))

    def send_json(self, value: object) -> list[Action]:
        """One web command: ``value`` as a JSON message."""
        return self.send_message(json.dumps(value).encode())

    def eof(self) -> list[Action]:
        return self._deliver(EofReceived(conn=self.conn))

    def reset(self, *, protocol_error: bool = False) -> list[Action]:
        """The connection fails: reported even while reading is paused (an RST is not data).

        What the client typed and the core has not read yet is lost with it.
        ``protocol_error``: its transport closed it for breaking the transport's
        protocol (a WebSocket's 1002, 1003, 1007, 1009).
        """
        self.typed_while_paused.clear()
        return self.net.receive(ConnectionReset(conn=self.conn, protocol_error=protocol_error))

    def flush(self, count: int | None = None) -> list[Action]:
        """Let the kernel take ``count`` queued bytes (all by default); report what is left."""
        size = len(self.queued) if count is None else count
        self.unattempted = False
        self.received += self.queued[:size]
        del self.queued[:size]
        if not self.queued:
            return []  # a write taken in full needs no report
        return self.net.receive(OutputBacklog(conn=self.conn, unsent=len(self.queued)))

    # -- what the user sees ---------------------------------------------

    def lines(self) -> list[str]:
        """The complete lines received since the last call, decoded, without LF."""
        end = self.received.rfind(b"\n") + 1
        new = bytes(self.received[self._read : end])
        self._read = max(self._read, end)
        return new.decode().split("\n")[:-1]

    def events(self) -> list[dict[str, Any]]:
        """A web client's events received since the last call: one JSON object per line."""
        return [json.loads(line) for line in self.lines()]

    @property
    def is_open(self) -> bool:
        return not self.closed

    # -- internals --------------------------------------------------------

    def _deliver(self, event: Event) -> list[Action]:
        if self.paused:
            self.typed_while_paused.append(event)
            return []
        return self.net.receive(event)


class FakeNetwork:
    """A server state plus the backend that runs it in memory."""

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        state: ServerState | None = None,
        auto_flush: bool = True,
        auto_tick: bool = False,
        on_cluster: Callable[[ClusterAction], None] | None = None,
    ) -> None:
        self.config = config if config is not None else ServerConfig()
        self.on_cluster = on_cluster  # where a cluster's actions go (a fake broker)
        self.state = state if state is not None else new_server_state(self.config)
        self.auto_flush = auto_flush
        self.auto_tick = auto_tick
        self.now = 0.0
        self.clients: dict[ConnId, Client] = {}
        self.actions: list[Action] = []  # every action, in order
        self.timeline: list[tuple[float, Action]] = []  # every action, with the clock's time
        self.closes: list[ConnId] = []  # Close and Abort, in order
        self._next_conn = 1
        self._settling = False

    # -- events -----------------------------------------------------------

    def connect(
        self, peer: str | None = None, *, dialect: DialectName = DialectName.TEXT, secure: bool = False
    ) -> Client:
        conn = self._next_conn
        peer = peer or f"192.0.2.1:{40000 + conn}"
        self.receive(ConnectionOpened(conn=conn, peer=peer, dialect=dialect, secure=secure))
        return self.clients[conn]

    def connect_web(self) -> Client:
        """A web client (its transport's handshakes done), past nothing: its welcome is unread."""
        return self.connect(dialect=DialectName.WEB)

    def connect_many(self, count: int) -> list[Client]:
        return [self.connect() for _ in range(count)]

    def join(self, *nicks: str) -> list[Client]:
        """Connect one client per nickname, name them, and forget what everyone received so far."""
        clients = self.connect_many(len(nicks))
        for client, nick in zip(clients, nicks, strict=True):
            client.send(f"NICK {nick}")
        for client in self.clients.values():
            client.lines()
        return clients

    def receive(self, event: Event) -> list[Action]:
        """Give the core one event and carry out its actions; return them.

        Then, as a backend loop would: flush (with ``auto_flush``), deliver
        what resumed clients typed while paused, and tick (with ``auto_tick``)
        until nothing more happens.
        """
        actions = self._step(event)
        if not self._settling:
            self._settling = True
            try:
                self._settle()
            finally:
                self._settling = False
        return actions

    def apply(self, fact: Fact) -> list[Action]:
        """Hand the chat a fact decided elsewhere (as a cluster will) and carry out its actions."""
        assert isinstance(self.state, ChatServerState)
        actions = self.state.apply(fact)
        self._carry_out(actions)
        self._settle()
        return actions

    def tick(self, now: float) -> list[Action]:
        return self.receive(Tick(now=now))

    def advance(self, seconds: float) -> list[Action]:
        return self.tick(self.now + seconds)

    def run_timers(self) -> list[Action]:
        """Tick at each ``next_wakeup`` until the core waits for nothing."""
        done: list[Action] = []
        for _ in range(MAX_TICKS):
            wakeup = self.state.next_wakeup
            if wakeup is None:
                return done
            done += self.tick(max(self.now, wakeup))
        raise ContractError(f"still waiting after {MAX_TICKS} ticks: next_wakeup={wakeup}")

    def shutdown(self) -> list[Action]:
        return self.receive(ShutdownRequested())

    # -- what happened ----------------------------------------------------

    @property
    def open_clients(self) -> list[Client]:
        return [c for c in self.clients.values() if c.is_open]

    def logs(self) -> list[str]:
        return [a.message for a in self.actions if isinstance(a, Log)]

    # -- carrying out actions --------------------------------------------

    def _client(self, conn: ConnId, action: Action) -> Client:
        client = self.clients.get(conn)
        if client is None:
            raise ContractError(f"{action!r} names a connection that was never opened")
        if client.closed:
            raise ContractError(f"{action!r} names a closed connection")
        return client

    def _apply(self, action: Action) -> None:
        match action:
            case Send(conns=conns, data=data):
                if len(set(conns)) != len(conns):
                    raise ContractError(f"{action!r} names a connection twice")
                for conn in conns:
                    client = self._client(conn, action)
                    client.queued += data
                    client.unattempted = True
            case Close(conn=conn):
                client = self._client(conn, action)
                client.received += client.queued
                client.queued.clear()
                client.closed = True
                self.closes.append(conn)
            case Abort(conn=conn):
                client = self._client(conn, action)
                client.queued.clear()
                client.closed = client.aborted = True
                self.closes.append(conn)
            case PauseReading(conn=conn):
                client = self._client(conn, action)
                if client.paused:
                    raise ContractError(f"{action!r}: already paused")
                client.paused = True
            case ResumeReading(conn=conn):
                client = self._client(conn, action)
                if not client.paused:
                    raise ContractError(f"{action!r}: not paused")
                client.paused = False
            case Log():
                pass
            case Share() | FollowRoom() | UnfollowRoom() | LeaseGuests() | Burst():
                if self.on_cluster is None:
                    raise ContractError(f"{action!r} from a server that is not in a cluster")
                self.on_cluster(action)
            case _:
                assert_never(action)

    def _step(self, event: Event) -> list[Action]:
        if isinstance(event, Tick):
            self.now = event.now
        elif isinstance(event, ConnectionOpened):
            if event.conn in self.clients:
                raise ContractError(f"{event!r} reuses a connection id")
            self.clients[event.conn] = Client(self, event.conn)
            self._next_conn = max(self._next_conn, event.conn + 1)
        actions = self.state.receive(event)
        self._carry_out(actions)
        return actions

    def _carry_out(self, actions: list[Action]) -> None:
        self.actions += actions
        self.timeline += [(self.now, action) for action in actions]
        for action in actions:
            self._apply(action)

    def _settle(self) -> None:
        for _ in range(MAX_TICKS):
            progressed = False
            for client in list(self.clients.values()):
                if client.closed:
                    continue
                if client.auto_flush and client.queued:
                    client.flush()
                    progressed = True
                elif client.unattempted:
                    client.flush(0)
                    progressed = True
                # What a resumed client typed while paused reaches the core now, in order.
                if client.typed_while_paused and not client.paused:
                    self._step(client.typed_while_paused.pop(0))
                    progressed = True
            wakeup = self.state.next_wakeup
            if not progressed and self.auto_tick and wakeup is not None:
                self._step(Tick(now=max(self.now, wakeup)))
                progressed = True
            if not progressed:
                return
        raise ContractError(f"no quiet state after {MAX_TICKS} steps: next_wakeup={wakeup}")

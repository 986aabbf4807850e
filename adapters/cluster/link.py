"""The Redis link: a node's two connections to Redis, as one sans-IO state machine.

The link owns everything about talking to Redis except the sockets: what to
send, how replies match requests, subscriptions, heartbeats, timeouts and
reconnecting.  It imports no socket, selector, thread, event loop, clock or
random generator: time is an argument of every call, and the jitter of
reconnect delays comes from a function it is given.  So it can be tested
without Redis, and every backend drives it the same way.

Two connections per node
    ``Role.CMD`` carries commands and scripts, pipelined: their replies come
    back in order and are matched with a FIFO of pending requests.  It is set
    up with ``SELECT`` (when the URL names a database), ``CLIENT SETNAME``,
    ``INFO server`` (Redis' ``run_id``, to notice a restart) and a
    ``SCRIPT LOAD`` of every script the link was given.
    ``Role.SUB`` carries pub/sub: ``CLIENT SETNAME``, then ``SUBSCRIBE`` to
    every channel wanted.  Pub/sub channels belong to the whole Redis server,
    not to a database, so no ``SELECT`` is needed there.

Health
    Every ``heartbeat_interval`` the link publishes a numbered heartbeat on
    its own ``echo_channel`` through ``CMD`` and pings ``SUB``.  The heartbeat
    comes back on ``SUB``: its round trip is ``lag``, and one that does not
    come back within ``reply_timeout`` means the subscription is deaf, even
    if the socket looks fine.  A command unanswered for ``reply_timeout``, or
    a connection not made within ``connect_timeout``, is declared dead: the
    link drops it and reconnects after a delay that doubles from
    ``reconnect_min`` to ``reconnect_max``, with jitter.  Bytes that are not
    RESP, or a reply nobody asked for, also drop the connection: nothing that
    Redis (or anything else) sends can raise out of the link.

Up and down
    The link is *up* when both connections are set up and every subscription
    is confirmed (``LinkUp``).  When a connection breaks, ``LinkInterrupted``
    says at once that messages and requests in flight may be lost; if the
    link is not up again within ``grace`` seconds, ``LinkDown`` follows (also
    when it never came up at start).  ``LinkUp`` tells whether Redis was
    restarted meanwhile, by its ``run_id``.

The driver
    A backend drives the link with a tiny interface, the same on every
    backend (``LinkTransport`` below).  It carries out the link's actions:

    * ``Connect(role, host, port)``: open a non-blocking TCP connection, then
      call ``connected(role)`` or ``connect_failed(role, reason)``;
    * ``Write(role, data)``: append ``data`` to that connection's output and
      write it as the socket allows, in order;
    * ``Disconnect(role)``: close the socket at once, dropping its output;
    * ``Log(level, message)``: a line for the operator's log.

    and reports what happened on the sockets: ``data_received(role, data)``
    for every chunk read, ``connection_lost(role, reason)`` on EOF or a socket
    error (after which it closes that socket itself).  After ``Disconnect``,
    or after reporting a failure or a loss, it says nothing more about that
    socket.  It calls ``tick`` once ``now`` reaches ``next_wakeup``.  After
    constructing the link and after every call into it, it carries out
    ``take_actions()`` in order (``carry_out`` does), and hands
    ``take_events()`` to the application.  The link is not thread-safe: a
    backend with threads calls it under the same lock as the core.  Each report and
    ``tick`` takes ``now``, on the same monotonic clock as the core's
    ``Tick``; the application's requests are stamped with the last ``now``
    the link was given.

The application
    ``call`` and ``run_script`` return a ``RequestId``; its ``Reply`` (or
    ``RequestFailed``) comes later, in request order.  A request made while
    the command connection is not ready fails at once: the link never queues
    work for a Redis it cannot reach, so nothing stale is sent after an
    outage.  ``publish`` sends without reporting the reply.
    ``subscribe``/``unsubscribe`` are kept across reconnects.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, assert_never

from sansio_chat import Log, LogLevel

from ._actions import Connect, Disconnect, LinkAction, Role, Write
from ._conn import Connection, ConnState, Expect, Outcome, Pending, reconnect_delay
from ._events import (
    LinkDown,
    LinkEvent,
    LinkInterrupted,
    LinkUp,
    Message,
    Reply,
    RequestFailed,
    RequestId,
    Subscribed,
    Unsubscribed,
)
from ._resp import Arg, ErrorReply, ReplyError, ReplyReader, RespValue, encode_command, encode_publish
from ._script import Script
from ._url import RedisAddress

#: Channels per SUBSCRIBE command when resubscribing, to keep each command small.
SUBSCRIBE_BATCH = 1000

#: Commands that would break the one-reply-per-command pipeline of ``CMD``,
#: or change its database; the link sends what it needs of them itself.
_NOT_FOR_CALL = frozenset(
    {
        b"SUBSCRIBE",
        b"PSUBSCRIBE",
        b"SSUBSCRIBE",
        b"UNSUBSCRIBE",
        b"PUNSUBSCRIBE",
        b"SUNSUBSCRIBE",
        b"MONITOR",
        b"SELECT",
        b"HELLO",
        b"RESET",
        b"QUIT",
        b"SYNC",
        b"PSYNC",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkConfig:
    """Timers and limits of a link, in seconds and counts."""

    heartbeat_interval: float = 1.0
    reply_timeout: float = 3.0
    connect_timeout: float = 2.0
    grace: float = 2.0
    reconnect_min: float = 0.1
    reconnect_max: float = 2.0
    #: Requests awaiting replies on ``CMD``; more are refused (memory stays bounded).
    max_pending: int = 100_000
    #: The largest reply the link will buffer.
    max_reply_bytes: int = 64 * 1024 * 1024
    #: A heartbeat round trip longer than this is logged (once, until it recovers).
    lag_warning: float = 0.5

    def __post_init__(self) -> None:
        for name in ("heartbeat_interval", "reply_timeout", "connect_timeout", "reconnect_min"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.grace < 0:
            raise ValueError("grace must not be negative")
        if self.reconnect_max < self.reconnect_min:
            raise ValueError("reconnect_max must be at least reconnect_min")
        if self.max_pending < 1 or self.max_reply_bytes < 1:
            raise ValueError("max_pending and max_reply_bytes must be at least 1")


class LinkState(enum.Enum):
    """The link as the application sees it."""

    STARTING = "starting"  # never up yet
    UP = "up"
    INTERRUPTED = "interrupted"  # was up, a connection broke, within the grace period
    DOWN = "down"  # LinkDown reported
    STOPPED = "stopped"


class LinkTransport(Protocol):
    """What a backend provides to drive a link: its two sockets and its log."""

    def connect(self, role: Role, host: str, port: int) -> None: ...
    def write(self, role: Role, data: bytes) -> None: ...
    def close(self, role: Role) -> None: ...
    def log(self, level: LogLevel, message: str) -> None: ...


def carry_out(actions: Iterable[LinkAction], transport: LinkTransport) -> None:
    """Carry out the link's actions on a backend's transport, in order (the only interpreter)."""
    for action in actions:
        match action:
            case Write(role=role, data=data):
                transport.write(role, data)
            case Connect(role=role, host=host, port=port):
                transport.connect(role, host, port)
            case Disconnect(role=role):
                transport.close(role)
            case Log(level=level, message=message):
                transport.log(level, message)
            case _:
                assert_never(action)


#: The replies to PING: outside and inside subscribed mode.
_PONGS = (b"PONG", [b"pong", b""])


class _BrokenError(Exception):
    """Something on a connection makes it unusable; the message says what."""


class RedisLink:
    """A node's link to Redis: feed it what the sockets did, carry out what it asks.

    ``client_name`` names the connections in ``CLIENT LIST`` (``NAME:cmd``,
    ``NAME:sub``); ``echo_channel`` must be this node's alone; ``jitter``
    returns a number in [0, 1) for each reconnect delay (``random.random``
    of a generator the caller owns); ``scripts`` are loaded on every new
    command connection, before the link reports up.
    """

    def __init__(
        self,
        address: RedisAddress,
        *,
        client_name: str,
        echo_channel: bytes,
        jitter: Callable[[], float],
        now: float,
        scripts: Sequence[Script] = (),
        config: LinkConfig | None = None,
    ) -> None:
        if not client_name or not all("!" <= ch <= "~" for ch in client_name):
            raise ValueError("client_name must be printable ASCII without spaces")
        self.address = address
        self.config = config if config is not None else LinkConfig()
        self._client_name = client_name
        self._echo_channel = echo_channel
        self._jitter = jitter
        self._scripts = tuple(scripts)
        self._now = now
        self._state = LinkState.STARTING
        self._down_at = now + self.config.grace
        self._why = "not connected yet"  # the last reason the link is not up
        self._cmd = Connection(Role.CMD)
        self._sub = Connection(Role.SUB)
        self._actions: list[LinkAction] = []
        self._events: list[LinkEvent] = []
        self._outcomes: deque[Outcome] = deque()
        self._next_request = 1
        self._publishing = Pending(expect=Expect.PUBLISH, sent_at=now)
        # Subscriptions: wanted by the application (plus the echo channel), and
        # the (UN)SUBSCRIBE commands not yet confirmed, per channel.
        self._channels: set[bytes] = {echo_channel}
        self._in_flight: dict[bytes, int] = {}
        self._unconfirmed: set[bytes] = {echo_channel}  # wanted, not (yet) in effect
        self._owed_subscribed: set[bytes] = set()
        # Heartbeats: when the next is due, and those on their way back (number, sent at).
        self._next_beat: float | None = None
        self._beats = 0
        self._echoes: deque[tuple[int, float]] = deque()
        self._lag: float | None = None
        self._slow = False
        self._run_id = ""  # of the Redis the command connection talks to
        self._up_run_id: str | None = None  # at the last LinkUp
        self._start(self._cmd)
        self._start(self._sub)

    # -- what the application sees ----------------------------------------

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def lag(self) -> float | None:
        """The last heartbeat's round trip through Redis, in seconds (None before the first)."""
        return self._lag

    @property
    def next_wakeup(self) -> float | None:
        """When the link next needs a ``tick``: a retry, a deadline or a heartbeat is due."""
        if self._state is LinkState.STOPPED:
            return None
        times = [self._deadline(self._cmd), self._deadline(self._sub)]
        if self._echoes:
            times.append(self._echoes[0][1] + self.config.reply_timeout)
        if self._next_beat is not None:
            times.append(self._next_beat)
        if self._waiting_to_be_up():
            times.append(self._down_at)
        return min((time for time in times if time is not None), default=None)

    def take_actions(self) -> list[LinkAction]:
        """What the driver must do, in order; each connection's output comes as one ``Write``."""
        actions = self._actions
        self._actions = []
        for conn in (self._cmd, self._sub):
            if conn.has_output:
                actions.append(Write(role=conn.role, data=conn.take_output()))
        return actions

    def take_events(self) -> list[LinkEvent]:
        """What happened for the application since the last call, in order."""
        events = self._events
        self._events = []
        return events

    # -- what the application asks ------------------------------------------

    def call(self, *args: Arg) -> RequestId:
        """Send one command on ``CMD``; its ``Reply`` or ``RequestFailed`` comes later."""
        _check_callable(args)
        outcome = self._new_outcome()
        if self._refuse(outcome):
            return outcome.request
        self._cmd.send(Pending(expect=Expect.CALL, sent_at=self._now, outcome=outcome), args)
        return outcome.request

    def run_script(self, script: Script, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> RequestId:
        """Run ``script`` by its digest; if Redis lost it (``NOSCRIPT``), load it and run it again.

        The retry runs after commands sent in between, but its reply is
        still reported in request order.
        """
        outcome = self._new_outcome()
        if self._refuse(outcome):
            return outcome.request
        command = encode_command((b"EVALSHA", script.sha, len(keys), *keys, *args))
        pending = Pending(
            expect=Expect.SCRIPT, sent_at=self._now, outcome=outcome, script=script, command=command
        )
        self._cmd.send(pending, command=command)
        return outcome.request

    def publish(self, channel: bytes, data: bytes) -> bool:
        """Publish ``data`` on ``channel``; False if the link cannot send it now (it is not queued).

        An error reply is logged; a message lost with its connection is
        covered by ``LinkInterrupted``.
        """
        entry = self._publish_entry()
        if entry is None:
            return False
        self._cmd.send(entry, command=encode_publish(channel, data))
        return True

    def publish_line(self, channel: bytes, line: bytes) -> bool:
        """``publish`` for a ``line`` without ``\n``: lines published one after the other to one
        channel, with nothing else sent between them, may arrive as one message, joined by ``\n``.
        """
        if b"\n" in line:
            raise ValueError("a line holds no line break")
        entry = self._publish_entry()
        if entry is None:
            return False
        self._cmd.publish_line(entry, channel, line)
        return True

    def _publish_entry(self) -> Pending | None:
        """What a publish's reply answers (None: it cannot be sent now)."""
        cmd = self._cmd
        if cmd.state is not ConnState.READY or len(cmd.pending) >= self.config.max_pending:
            return None
        entry = self._publishing
        if entry.sent_at != self._now:  # one entry serves every publish made at the same time
            entry = self._publishing = Pending(expect=Expect.PUBLISH, sent_at=self._now)
        return entry

    def subscribe(self, channel: bytes) -> None:
        """Subscribe to ``channel`` now and after every reconnect; ``Subscribed`` confirms it."""
        self._check_channel(channel)
        if self._state is LinkState.STOPPED:
            return
        if channel in self._channels:
            if channel in self._unconfirmed:
                self._owed_subscribed.add(channel)
            else:
                self._events.append(Subscribed(channel=channel))
            return
        self._channels.add(channel)
        self._unconfirmed.add(channel)
        self._owed_subscribed.add(channel)
        if self._sub.usable:
            self._send_subscriptions(Expect.SUBSCRIBE, [channel])

    def unsubscribe(self, channel: bytes) -> None:
        """Stop delivering ``channel`` at once; ``Unsubscribed`` says when Redis has dropped it."""
        self._check_channel(channel)
        if channel not in self._channels or self._state is LinkState.STOPPED:
            return
        self._channels.discard(channel)
        self._unconfirmed.discard(channel)
        self._owed_subscribed.discard(channel)
        if self._sub.usable:
            self._send_subscriptions(Expect.UNSUBSCRIBE, [channel])
        else:
            self._events.append(Unsubscribed(channel=channel))
        self._check_up()

    def stop(self) -> None:
        """Close both connections for good; requests still pending fail.

        Whatever was not yet answered is dropped: wait for the replies that
        matter (a last release script) before stopping.
        """
        if self._state is LinkState.STOPPED:
            return
        self._state = LinkState.STOPPED
        self._next_beat = None
        self._echoes.clear()
        for conn in (self._cmd, self._sub):
            if conn.usable or conn.state is ConnState.CONNECTING:
                self._actions.append(Disconnect(role=conn.role))
            self._fail_pending(conn.reset(ConnState.STOPPED), "the link was stopped")
        self._flush_outcomes()

    # -- what the driver reports -------------------------------------------

    def connected(self, role: Role, *, now: float) -> None:
        """``role``'s connection is open: set it up."""
        self._now = now
        conn = self._conn(role)
        if conn.state is not ConnState.CONNECTING:
            return
        conn.reset(ConnState.SETUP, self._new_reader())
        name = f"{self._client_name}:{role.value}"
        if role is Role.CMD:
            if self.address.db:
                conn.send(self._setup(Expect.SELECT), (b"SELECT", self.address.db))
            conn.send(self._setup(Expect.SETNAME), (b"CLIENT", b"SETNAME", name))
            conn.send(self._setup(Expect.INFO), (b"INFO", b"server"))
            for script in self._scripts:
                load = self._setup(Expect.LOAD, subject=script.sha, script=script)
                conn.send(load, (b"SCRIPT", b"LOAD", script.source))
        else:
            conn.send(self._setup(Expect.SETNAME), (b"CLIENT", b"SETNAME", name))
            self._send_subscriptions(Expect.SUBSCRIBE, sorted(self._channels))

    def connect_failed(self, role: Role, reason: str, *, now: float) -> None:
        """``role``'s connection could not be made."""
        self._now = now
        conn = self._conn(role)
        if conn.state is ConnState.CONNECTING:
            self._lose(conn, f"cannot connect to {self.address}: {reason}")

    def connection_lost(self, role: Role, reason: str, *, now: float) -> None:
        """``role``'s connection ended (EOF from Redis or a socket error); the driver closed it."""
        self._now = now
        conn = self._conn(role)
        if conn.usable or conn.state is ConnState.CONNECTING:
            self._lose(conn, reason)

    def data_received(self, role: Role, data: bytes, *, now: float) -> None:
        """Bytes arrived on ``role``'s connection, split however TCP split them."""
        self._now = now
        conn = self._conn(role)
        reader = conn.reader
        if reader is None or not conn.usable:
            return
        handle = self._on_cmd_reply if role is Role.CMD else self._on_sub_reply
        try:
            for reply in reader.feed(data):
                handle(conn, reply)
        except (ReplyError, _BrokenError) as exc:
            self._lose(conn, str(exc), tell_driver=True)
        self._flush_outcomes()

    def tick(self, *, now: float) -> None:
        """Time moved on: retries, deadlines, heartbeats and the grace period."""
        self._now = now
        if self._state is LinkState.STOPPED:
            return
        timeout = self.config.reply_timeout
        for conn in (self._cmd, self._sub):
            if conn.state is ConnState.WAITING and now >= conn.due:
                self._start(conn)
            elif conn.state is ConnState.CONNECTING and now >= conn.due:
                self._lose(conn, f"cannot connect to {self.address}: timed out", tell_driver=True)
            elif conn.usable and conn.pending and now >= conn.pending[0].sent_at + timeout:
                what = conn.pending[0].expect.value
                self._lose(conn, f"no reply to {what} within {timeout:g} s", tell_driver=True)
        if self._echoes and now >= self._echoes[0][1] + timeout:
            self._lose(self._sub, f"heartbeat not received within {timeout:g} s", tell_driver=True)
        if self._next_beat is not None and now >= self._next_beat:
            self._beat()
        if self._waiting_to_be_up() and now >= self._down_at:
            self._state = LinkState.DOWN
            self._events.append(LinkDown(reason=self._why))
            self._log(LogLevel.WARNING, f"link to Redis down: {self._why}")
        self._flush_outcomes()

    # -- replies ------------------------------------------------------------

    def _on_cmd_reply(self, conn: Connection, reply: RespValue) -> None:
        if not conn.pending:
            raise _BrokenError("a reply to no command")
        entry = conn.pending.popleft()
        expect = entry.expect
        if expect is Expect.PUBLISH and type(reply) is int:
            return  # the number of receivers: nothing to report
        if expect is Expect.CALL or expect is Expect.SCRIPT:
            outcome = entry.outcome
            assert outcome is not None
            if outcome.event is not None:
                return  # already answered by the error of the script's reload
            if expect is Expect.SCRIPT and _lost_script(reply) and not entry.retried:
                self._retry_script(conn, entry)
                return
            outcome.event = Reply(request=outcome.request, value=reply)
            return
        if isinstance(reply, ErrorReply):
            self._on_error_reply(entry, reply)
        elif expect is Expect.INFO:
            self._run_id = _run_id(reply)
        elif expect is Expect.LOAD and reply != entry.subject:
            raise _BrokenError(f"SCRIPT LOAD gave {reply!r}, not the digest {entry.subject!r}")
        if entry.setup:
            self._setup_done(conn)

    def _on_sub_reply(self, conn: Connection, reply: RespValue) -> None:
        if type(reply) is list and len(reply) == 3 and reply[0] == b"message":
            channel, data = reply[1], reply[2]
            if type(channel) is not bytes or type(data) is not bytes:
                raise _BrokenError("a message that is not two strings")
            if channel not in self._channels:
                return  # unsubscribed meanwhile
            if channel == self._echo_channel:
                self._echo_back(data)
            else:
                self._events.append(Message(channel=channel, data=data))
            return
        if not conn.pending:
            raise _BrokenError("a reply to no command")
        entry = conn.pending.popleft()
        expect = entry.expect
        if isinstance(reply, ErrorReply):
            self._on_error_reply(entry, reply)
        elif expect is Expect.SUBSCRIBE or expect is Expect.UNSUBSCRIBE:
            kind = expect.value.lower().encode()
            if not (type(reply) is list and len(reply) == 3 and reply[:2] == [kind, entry.subject]):
                raise _BrokenError(
                    f"expected the confirmation of {expect.value} {entry.subject!r}, got {reply!r}"
                )
            self._settle(entry.subject)
        elif expect is Expect.PING and reply not in _PONGS:
            raise _BrokenError(f"expected PONG, got {reply!r}")
        if entry.setup:
            self._setup_done(conn)

    def _on_error_reply(self, entry: Pending, reply: ErrorReply) -> None:
        """An error reply to one of the link's own commands."""
        if entry.expect is Expect.PUBLISH or entry.expect is Expect.ECHO:
            self._log(LogLevel.WARNING, f"Redis refused PUBLISH: {reply.message}")
            return
        if entry.expect is Expect.LOAD and entry.script is not None:
            # A script that does not compile: whoever runs it gets the error.
            self._log(LogLevel.WARNING, f"Redis refused script {entry.script.name}: {reply.message}")
            outcome = entry.outcome
            if outcome is not None and outcome.event is None:
                outcome.event = Reply(request=outcome.request, value=reply)
            return
        raise _BrokenError(f"Redis refused {entry.expect.value}: {reply.message}")

    def _setup_done(self, conn: Connection) -> None:
        conn.setup_left -= 1
        if conn.setup_left:
            return
        conn.state = ConnState.READY
        conn.attempts = 0
        if self._next_beat is None:
            self._next_beat = self._now + self.config.heartbeat_interval
        self._check_up()

    def _retry_script(self, conn: Connection, entry: Pending) -> None:
        """Redis lost the script (restart, ``SCRIPT FLUSH``): load it, run it again."""
        script = entry.script
        assert script is not None
        self._log(LogLevel.INFO, f"Redis had lost script {script.name}: loading it again")
        load = Pending(
            expect=Expect.LOAD, sent_at=self._now, subject=script.sha, script=script, outcome=entry.outcome
        )
        conn.send(load, (b"SCRIPT", b"LOAD", script.source))
        again = Pending(
            expect=Expect.SCRIPT,
            sent_at=self._now,
            outcome=entry.outcome,
            script=script,
            command=entry.command,
            retried=True,
        )
        conn.send(again, command=entry.command)

    # -- subscriptions ------------------------------------------------------

    def _send_subscriptions(self, expect: Expect, channels: list[bytes]) -> None:
        sub = self._sub
        verb = expect.value.encode()
        in_flight = self._in_flight
        for start in range(0, len(channels), SUBSCRIBE_BATCH):
            batch = channels[start : start + SUBSCRIBE_BATCH]
            sub.out.append(encode_command((verb, *batch)))
            for channel in batch:
                sub.pending.append(Pending(expect=expect, sent_at=self._now, subject=channel))
                in_flight[channel] = in_flight.get(channel, 0) + 1

    def _settle(self, channel: bytes) -> None:
        """A (un)subscription was confirmed.

        Every change the application asks for is sent at once while the
        connection is up, so once the last command in flight for a channel
        is confirmed, Redis does what the application wants for it.
        """
        left = self._in_flight[channel] - 1
        if left:
            self._in_flight[channel] = left
            return
        del self._in_flight[channel]
        if channel in self._channels:
            self._unconfirmed.discard(channel)
            if channel in self._owed_subscribed:
                self._owed_subscribed.discard(channel)
                self._events.append(Subscribed(channel=channel))
            self._check_up()
        else:
            self._events.append(Unsubscribed(channel=channel))

    def _check_channel(self, channel: bytes) -> None:
        if channel == self._echo_channel:
            raise ValueError("the echo channel is the link's own")

    # -- health ---------------------------------------------------------------

    def _beat(self) -> None:
        self._next_beat = self._now + self.config.heartbeat_interval
        cmd, sub = self._cmd, self._sub
        if cmd.state is ConnState.READY and len(cmd.pending) < self.config.max_pending:
            self._beats += 1
            number = self._beats
            cmd.send(Pending(expect=Expect.ECHO, sent_at=self._now), (b"PUBLISH", self._echo_channel, number))
            if sub.state is ConnState.READY and self._echo_channel not in self._unconfirmed:
                self._echoes.append((number, self._now))
        if sub.state is ConnState.READY:
            sub.send(Pending(expect=Expect.PING, sent_at=self._now), (b"PING",))

    def _echo_back(self, data: bytes) -> None:
        """Our heartbeat came back through Redis: the subscription hears, and this is the lag."""
        try:
            number = int(data)
        except ValueError:
            return
        echoes = self._echoes
        while echoes and echoes[0][0] <= number:
            sent_number, sent_at = echoes.popleft()
            if sent_number == number:
                self._measured(self._now - sent_at)

    def _measured(self, lag: float) -> None:
        self._lag = lag
        if lag > self.config.lag_warning and not self._slow:
            self._slow = True
            self._log(LogLevel.WARNING, f"Redis round trip is slow: {lag * 1000:.0f} ms")
        elif lag <= self.config.lag_warning and self._slow:
            self._slow = False
            self._log(LogLevel.INFO, f"Redis round trip is back to {lag * 1000:.0f} ms")

    # -- connections ------------------------------------------------------------

    def _conn(self, role: Role) -> Connection:
        return self._cmd if role is Role.CMD else self._sub

    def _new_reader(self) -> ReplyReader:
        return ReplyReader(self.config.max_reply_bytes)

    def _setup(self, expect: Expect, *, subject: bytes = b"", script: Script | None = None) -> Pending:
        return Pending(expect=expect, sent_at=self._now, setup=True, subject=subject, script=script)

    def _deadline(self, conn: Connection) -> float | None:
        if conn.state is ConnState.WAITING or conn.state is ConnState.CONNECTING:
            return conn.due
        if conn.usable and conn.pending:
            return conn.pending[0].sent_at + self.config.reply_timeout
        return None

    def _start(self, conn: Connection) -> None:
        conn.reset(ConnState.CONNECTING)
        conn.due = self._now + self.config.connect_timeout
        self._actions.append(Connect(role=conn.role, host=self.address.host, port=self.address.port))

    def _lose(self, conn: Connection, reason: str, *, tell_driver: bool = False) -> None:
        """``conn`` is gone: fail what it carried, retry later, tell the application."""
        was_connected = conn.usable
        if tell_driver:
            self._actions.append(Disconnect(role=conn.role))
        pending = conn.reset(ConnState.WAITING)
        config = self.config
        conn.due = self._now + reconnect_delay(
            conn.attempts, self._jitter(), config.reconnect_min, config.reconnect_max
        )
        conn.attempts += 1
        self._why = reason
        self._echoes.clear()  # a heartbeat on its way may be lost with either connection
        if conn.role is Role.CMD:
            self._fail_pending(pending, f"the connection to Redis broke: {reason}")
            self._flush_outcomes()
        else:
            # No subscription outlives its connection: unsubscriptions in flight are done.
            for channel in sorted(self._in_flight.keys() - self._channels):
                self._events.append(Unsubscribed(channel=channel))
            self._in_flight.clear()
            self._unconfirmed = set(self._channels)
        if self._cmd.state is not ConnState.READY and self._sub.state is not ConnState.READY:
            self._next_beat = None
        level = LogLevel.WARNING if was_connected else LogLevel.DEBUG
        self._log(level, f"Redis {conn.role.value} connection: {reason}")
        if self._state is LinkState.UP:
            self._state = LinkState.INTERRUPTED
            self._down_at = self._now + config.grace
            self._events.append(LinkInterrupted(role=conn.role, reason=reason))

    def _waiting_to_be_up(self) -> bool:
        """Not up, and ``LinkDown`` not yet reported: the grace period runs."""
        return self._state is LinkState.STARTING or self._state is LinkState.INTERRUPTED

    def _check_up(self) -> None:
        if (
            self._state is LinkState.UP
            or self._state is LinkState.STOPPED
            or self._cmd.state is not ConnState.READY
            or self._sub.state is not ConnState.READY
            or self._unconfirmed
        ):
            return
        restarted = self._up_run_id is not None and self._up_run_id != self._run_id
        was_down = self._state is LinkState.DOWN
        self._state = LinkState.UP
        self._up_run_id = self._run_id
        self._events.append(LinkUp(run_id=self._run_id, redis_restarted=restarted, was_down=was_down))
        restart = ", Redis was restarted" if restarted else ""
        self._log(LogLevel.INFO, f"link to Redis up ({self.address}, run_id {self._run_id}{restart})")

    # -- requests -------------------------------------------------------------

    def _new_outcome(self) -> Outcome:
        outcome = Outcome(self._next_request)
        self._next_request += 1
        self._outcomes.append(outcome)
        return outcome

    def _refuse(self, outcome: Outcome) -> bool:
        """Fail ``outcome`` at once if the command connection cannot take it now."""
        cmd = self._cmd
        if self._state is LinkState.STOPPED:
            reason = "the link was stopped"
        elif cmd.state is not ConnState.READY:
            reason = f"Redis is not reachable: {self._why}"
        elif len(cmd.pending) >= self.config.max_pending:
            reason = f"too many requests waiting for Redis ({self.config.max_pending})"
        else:
            return False
        outcome.event = RequestFailed(request=outcome.request, reason=reason, sent=False)
        self._flush_outcomes()
        return True

    def _fail_pending(self, pending: Iterable[Pending], reason: str) -> None:
        for entry in pending:
            outcome = entry.outcome
            if outcome is not None and outcome.event is None:
                outcome.event = RequestFailed(request=outcome.request, reason=reason, sent=True)

    def _flush_outcomes(self) -> None:
        """Report answered requests from the head, so that replies keep request order."""
        outcomes = self._outcomes
        while outcomes:
            event = outcomes[0].event
            if event is None:
                return
            outcomes.popleft()
            self._events.append(event)

    def _log(self, level: LogLevel, message: str) -> None:
        self._actions.append(Log(level=level, message=message))


def _check_callable(args: tuple[Arg, ...]) -> None:
    """Refuse commands that would break ``CMD``'s pipeline: the link sends those itself."""
    if not args:
        raise ValueError("a command needs a name")
    name = _word(args[0])
    if name in _NOT_FOR_CALL or (name == b"CLIENT" and len(args) > 1 and _word(args[1]) == b"REPLY"):
        raise ValueError(f"the link does not send {name.decode(errors='replace')} for callers")


def _word(arg: Arg) -> bytes:
    return (arg if isinstance(arg, bytes) else str(arg).encode()).upper()


def _lost_script(reply: RespValue) -> bool:
    return isinstance(reply, ErrorReply) and reply.code == "NOSCRIPT"


def _run_id(info: RespValue) -> str:
    """The ``run_id`` line of ``INFO server`` ('' if absent)."""
    if isinstance(info, bytes):
        for line in info.splitlines():
            if line.startswith(b"run_id:"):
                return line[7:].strip().decode("ascii", "replace")
    return ""

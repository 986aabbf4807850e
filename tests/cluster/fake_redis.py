"""A small in-memory Redis for driving the link without sockets, and a harness around both.

``FakeRedis`` answers the commands the link sends (connection set-up, PING,
PUBLISH/SUBSCRIBE, scripts by digest, a few key commands) the way Redis 7
does over RESP2.  It reads commands with hiredis' ``Reader`` (a command is an
array of bulk strings, which is also a reply) and writes replies with the
encoder below.  Scripts are not run: a script's "result" is its name and
arguments, which is all the link's tests need.  Faults are switches: refuse
or hang connections, stall one, restart with a new ``run_id``, forget
the scripts.

``LinkHarness`` plays the driver: it carries out the link's actions on the
fake, hands the fake's replies back (split as a test asks), moves a fake
clock, and records the events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import hiredis

from adapters.cluster import (
    Connect,
    Disconnect,
    LinkAction,
    LinkEvent,
    RedisLink,
    Role,
    Write,
)
from sansio_chat import Log

#: More pumping rounds than this without quiet is a livelock.
MAX_ROUNDS = 10_000


# -- replies as bytes ---------------------------------------------------------------


@dataclass(frozen=True)
class Simple:
    """A simple string reply (``+OK``), as opposed to a bulk string."""

    text: bytes


@dataclass(frozen=True)
class Error:
    """An error reply (``-ERR ...``)."""

    text: bytes


Value = bytes | int | Simple | Error | list["Value"] | None


def encode_reply(value: Value) -> bytes:
    """One reply in RESP2."""
    if isinstance(value, Simple):
        return b"+" + value.text + b"\r\n"
    if isinstance(value, Error):
        return b"-" + value.text + b"\r\n"
    if isinstance(value, bytes):
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if isinstance(value, int):
        return b":%d\r\n" % value
    if value is None:
        return b"$-1\r\n"
    return b"*%d\r\n" % len(value) + b"".join(encode_reply(item) for item in value)


OK = Simple(b"OK")


def sha(source: bytes) -> bytes:
    return hashlib.sha1(source, usedforsecurity=False).hexdigest().encode()


# -- the fake server -------------------------------------------------------------------


@dataclass
class FakeClient:
    """One connection to the fake: its commands' parser, its state, what it has to read."""

    server: FakeRedis
    reader: hiredis.Reader = field(default_factory=hiredis.Reader)
    name: bytes = b""
    db: int = 0
    channels: set[bytes] = field(default_factory=set)
    output: bytearray = field(default_factory=bytearray)
    commands: list[list[bytes]] = field(default_factory=list)
    stalled: bool = False  # what it is sent waits in ``output`` (Redis or the network stalls)

    def feed(self, data: bytes) -> None:
        self.reader.feed(data)
        while (command := self.reader.gets()) is not False:
            assert isinstance(command, list), command
            self.commands.append(command)
            self.server.log.append(command)
            reply = self.server.execute(self, command)
            self.send(reply)

    def send(self, reply: Value | Multi) -> None:
        if isinstance(reply, Multi):
            for item in reply.replies:
                self.output += encode_reply(item)
        else:
            self.output += encode_reply(reply)


@dataclass(frozen=True)
class Multi:
    """Several replies to one command (SUBSCRIBE a b gives one per channel)."""

    replies: list[Value]


class FakeRedis:
    """Enough of Redis 7 (RESP2) for the link."""

    def __init__(self) -> None:
        self.run_id = b"a" * 40
        self.generation = 0
        self.accepting: bool | None = True  # None: connections hang
        self.scripts: dict[bytes, bytes] = {}
        self.keys: dict[bytes, bytes] = {}
        self.clients: list[FakeClient] = []
        self.log: list[list[bytes]] = []  # every command, in execution order
        self.databases = 16
        self.keeps_scripts = True  # False: every script is forgotten as soon as loaded

    def connect(self) -> FakeClient:
        client = FakeClient(self)
        self.clients.append(client)
        return client

    def drop(self, client: FakeClient) -> None:
        if client in self.clients:
            self.clients.remove(client)

    def restart(self) -> None:
        """A new process: new run_id, no clients, no scripts, no keys."""
        self.generation += 1
        self.run_id = b"%040d" % self.generation
        self.clients.clear()
        self.scripts.clear()
        self.keys.clear()

    def publish(self, channel: bytes, data: bytes) -> int:
        receivers = [client for client in self.clients if channel in client.channels]
        for client in receivers:
            client.send([b"message", channel, data])
        return len(receivers)

    def execute(self, client: FakeClient, command: list[bytes]) -> Value | Multi:
        name, *args = command
        name = name.upper()
        if client.channels and name not in (b"SUBSCRIBE", b"UNSUBSCRIBE", b"PING"):
            return Error(b"ERR Can't execute '%s': only (P|S)SUBSCRIBE / ... are allowed" % name.lower())
        if name == b"PING":
            return [b"pong", b""] if client.channels else Simple(b"PONG")
        if name == b"SELECT":
            if int(args[0]) >= self.databases:
                return Error(b"ERR DB index is out of range")
            client.db = int(args[0])
            return OK
        if name == b"CLIENT" and args[0].upper() == b"SETNAME":
            client.name = args[1]
            return OK
        if name == b"INFO":
            return b"# Server\r\nredis_version:7.0.15\r\nrun_id:" + self.run_id + b"\r\ntcp_port:6379\r\n"
        if name == b"SCRIPT" and args[0].upper() == b"LOAD":
            if b"syntax error" in args[1]:
                return Error(b"ERR Error compiling script (new function): user_script:1: syntax error")
            digest = sha(args[1])
            if self.keeps_scripts:
                self.scripts[digest] = args[1]
            return digest
        if name == b"SCRIPT" and args[0].upper() == b"FLUSH":
            self.scripts.clear()
            return OK
        if name == b"EVALSHA":
            digest, _nkeys, *rest = args
            if digest not in self.scripts:
                return Error(b"NOSCRIPT No matching script. Please use EVAL.")
            return [b"ran", self.scripts[digest], *rest]
        if name == b"PUBLISH":
            return self.publish(args[0], args[1])
        if name in (b"SUBSCRIBE", b"UNSUBSCRIBE"):
            replies: list[Value] = []
            for channel in args:
                if name == b"SUBSCRIBE":
                    client.channels.add(channel)
                else:
                    client.channels.discard(channel)
                replies.append([name.lower(), channel, len(client.channels)])
            return Multi(replies)
        if name == b"SET":
            self.keys[args[0]] = args[1]
            return OK
        if name == b"GET":
            return self.keys.get(args[0])
        return Error(b"ERR unknown command '%s'" % name)

    def commands_named(self, name: bytes) -> list[list[bytes]]:
        return [command for command in self.log if command[0].upper() == name]


# -- the harness --------------------------------------------------------------------

#: Splits a chunk of bytes from Redis into the pieces the link is fed.
Chunker = Callable[[bytes], Iterator[bytes]]


def whole(data: bytes) -> Iterator[bytes]:
    yield data


class LinkHarness:
    """Drives a link against a ``FakeRedis`` with a fake clock, checking the driver contract."""

    def __init__(
        self, link: RedisLink, redis: FakeRedis, *, now: float = 0.0, chunker: Chunker = whole
    ) -> None:
        self.link = link
        self.redis = redis
        self.now = now
        self.chunker = chunker
        self.sockets: dict[Role, FakeClient | None] = {Role.CMD: None, Role.SUB: None}
        self.connecting: set[Role] = set()
        self.events: list[LinkEvent] = []
        self.actions: list[LinkAction] = []  # every action, in order
        self.logs: list[str] = []
        self.connect_times: dict[Role, list[float]] = {Role.CMD: [], Role.SUB: []}

    # -- what a test does -------------------------------------------------

    def pump(self) -> list[LinkEvent]:
        """Carry out actions and deliver replies until nothing moves; return the new events."""
        start = len(self.events)
        for _ in range(MAX_ROUNDS):
            moved = self._carry_out(self.link.take_actions())
            for role, client in self.sockets.items():
                if client is not None and client.output and not client.stalled:
                    data = bytes(client.output)
                    client.output.clear()
                    for piece in self.chunker(data):
                        if self.sockets[role] is client:
                            self.link.data_received(role, piece, now=self.now)
                    moved = True
            self.events += self.link.take_events()
            if not moved:
                return self.events[start:]
        raise AssertionError("the link never went quiet")

    def advance(self, seconds: float) -> list[LinkEvent]:
        """Move the clock by ``seconds``, ticking at every wake-up on the way; return the new events."""
        start = len(self.events)
        target = self.now + seconds
        self.pump()
        for _ in range(MAX_ROUNDS):
            wakeup = self.link.next_wakeup
            if wakeup is None or wakeup > target:
                break
            self.now = max(self.now, wakeup)
            self.link.tick(now=self.now)
            self.pump()
        else:
            raise AssertionError("the link kept asking for ticks")
        self.now = target
        self.link.tick(now=self.now)
        self.pump()
        return self.events[start:]

    def feed(self, role: Role, data: bytes) -> list[LinkEvent]:
        """Bytes from 'Redis' that Redis did not send (garbage, or a crafted reply)."""
        start = len(self.events)
        self.link.data_received(role, data, now=self.now)
        self.pump()
        return self.events[start:]

    def drop(self, role: Role, reason: str = "connection reset by peer") -> list[LinkEvent]:
        """The socket of ``role`` breaks."""
        start = len(self.events)
        client = self.sockets[role]
        assert client is not None, f"{role} is not connected"
        self.redis.drop(client)
        self.sockets[role] = None
        self.link.connection_lost(role, reason, now=self.now)
        self.pump()
        return self.events[start:]

    def restart_redis(self) -> list[LinkEvent]:
        """Redis restarts: every socket breaks, the scripts and keys are gone."""
        start = len(self.events)
        self.redis.restart()
        for role, client in self.sockets.items():
            if client is not None:
                self.sockets[role] = None
                self.link.connection_lost(role, "connection closed by Redis", now=self.now)
        self.pump()
        return self.events[start:]

    def client(self, role: Role) -> FakeClient:
        client = self.sockets[role]
        assert client is not None, f"{role} is not connected"
        return client

    def connects(self) -> list[Connect]:
        return [action for action in self.actions if isinstance(action, Connect)]

    # -- the driver -----------------------------------------------------------

    def _carry_out(self, actions: list[LinkAction]) -> bool:
        self.actions += actions
        for action in actions:
            match action:
                case Connect(role=role):
                    self.connect_times[role].append(self.now)
                    assert self.sockets[role] is None and role not in self.connecting, f"{role} is open"
                    if self.redis.accepting is None:
                        self.connecting.add(role)
                    elif self.redis.accepting:
                        self.sockets[role] = self.redis.connect()
                        self.link.connected(role, now=self.now)
                    else:
                        self.link.connect_failed(role, "Connection refused", now=self.now)
                case Write(role=role, data=data):
                    self.client(role).feed(data)
                case Disconnect(role=role):
                    assert self.sockets[role] is not None or role in self.connecting, f"{role} is closed"
                    client = self.sockets[role]
                    if client is not None:
                        self.redis.drop(client)
                    self.sockets[role] = None
                    self.connecting.discard(role)
                case Log(message=message):
                    self.logs.append(message)
        return bool(actions)

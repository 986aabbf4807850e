"""The load generator: N clients, K senders, a closed-loop window or a fixed rate, every delivery checked.

Run as its own process (``python -m bench.loadgen ...``) next to the server
under test.  It

1. opens N connections (a bounded number at a time, under TLS with
   ``--tls-ca``) and waits until each is registered: the chat welcome (for the
   web dialect, a WebSocket to ``/ws`` and its ``welcome`` event; each message
   a JSON command in a frame, read back with wsproto); for IRC, registration as real clients do it
   (``CAP LS 302``, ``NICK``, ``USER``, ``CAP END`` once the capabilities are
   listed, ``JOIN`` after the 001 welcome) up to the end of the channel's
   NAMES, so any RFC 1459/2812 server will do; or simply connected for a
   floor relay; with R rooms, client i joins room i mod R (chat ``JOIN``,
   IRC channel) and is registered once it is in;
2. proves that every client is in its broadcast set: in each room the last
   client sends a probe message, repeated until one probe has reached all
   the others of that room;
3. lets K senders send M messages each, a sender never having more than W
   messages not yet read by every receiver (so nothing piles up in buffers);
   each line carries its sender, its sequence number and the send time;
   or, with ``--rate R`` (an open loop), sends them on a clock instead:
   message q of sender s is due at ``t0 + (q * K + s) / R``, whatever the
   answers, and carries that scheduled time, so a delivery's latency counts
   the time it waited in any queue, the generator's included (a closed loop,
   and an open loop stamped with the actual send time, would hide it:
   coordinated omission);
4. checks at every receiver that each message of its room arrived exactly
   once and in per-sender order, and none of another room, and measures the
   server's CPU time (``/proc/PID/stat``) over the measured phase only.
   With several ``--ports`` (the nodes of a cluster) it also reports the
   latency of the deliveries to a client on another node than the sender's.

With no senders it measures the server's RSS before and after opening the
connections instead.  The result is one JSON line on stdout; the process
then waits for its standard input to close (the runner stops the server
first, so that closing N connections does not cost the server anything that
is measured), bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import socket
import ssl
import sys
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal, cast

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, RejectConnection, Request, TextMessage

from ._proc import CpuWait, cpu_seconds, cpu_wait, raise_open_files_limit, rss_kib

Dialect = Literal["chat", "irc", "floor", "web", "mixed"]
#: What one connection speaks ("mixed" is a run of both: odd clients over IRC, even ones text).
ClientDialect = Literal["chat", "irc", "floor", "web"]

#: Marks a benchmark payload inside a relayed line, whatever the server put before it.
MARK = b"@@"
#: The channel the IRC dialect joins (with several rooms, followed by the room's number).
CHANNEL = b"#bench"
#: The rooms the chat dialect joins, with several rooms (one room: everyone stays in #lobby).
ROOM = b"#room"
#: How long one probe waits for all receivers before a new probe is sent.
PROBE_RETRY_SECONDS = 1.0


@dataclass(slots=True, kw_only=True)
class LoadResult:
    """What one generator run found; ``ok`` is false with an ``error`` when it did not finish."""

    ok: bool = False
    error: str = ""
    dialect: str = ""
    clients: int = 0
    senders: int = 0
    messages: int = 0
    window: int = 0
    rooms: int = 1
    connected: int = 0
    connect_s: float = 0.0
    probes: int = 0
    deliveries: int = 0
    elapsed_s: float = 0.0
    deliveries_per_s: float = 0.0
    messages_per_s: float = 0.0
    p50_us: float = 0.0
    p99_us: float = 0.0
    max_us: float = 0.0
    rate: float = 0.0  # messages per second offered (0: closed loop)
    cross_deliveries: int = 0  # to a client on another node than the sender's (several --ports)
    cross_p50_us: float = 0.0
    cross_p99_us: float = 0.0
    send_lag_p99_us: float = 0.0  # open loop: how late the generator sent, against its schedule
    send_lag_max_us: float = 0.0
    server_cpu_s: float = 0.0
    server_cpu_us_per_delivery: float = 0.0
    server_cpu_each_s: list[float] = field(default_factory=list)  # per --server-pid, in their order
    loadgen_cpu_s: float = 0.0
    # While sending: how long the servers' and the generator's threads waited for a CPU, and how
    # many times they were put on one (a latency the machine adds, not the server: see CpuWait).
    server_wait_s: float = 0.0
    server_slices: int = 0
    loadgen_wait_s: float = 0.0
    loadgen_slices: int = 0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    rss_per_conn_bytes: float = 0.0
    open_server_cpu_s: float = 0.0
    server_errors: int = 0
    loop: str = ""  # the event loop it ran on: uvloop, or asyncio when uvloop is not installed


class LoadError(Exception):
    """The run cannot go on: a lost connection, a missing, duplicated or reordered message."""


class Run:
    """State shared by every client of one run."""

    def __init__(
        self,
        dialect: Dialect,
        *,
        clients: int,
        senders: int,
        messages: int,
        window: int,
        rooms: int = 1,
        nodes: int = 1,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.dialect: Dialect = dialect
        self.tls = tls  # connect under TLS, trusting this context's CA
        #: IRC clients of a mixed run share the text clients' rooms (#lobby, or #room<n>).
        self.irc_channel = CHANNEL if dialect == "irc" else ROOM
        self.n = clients
        self.k = senders
        self.m = messages
        self.window = window
        self.rooms = rooms
        # Client i is in room i mod R; a message of sender s is for the others of its room.
        self.room_of = [i % rooms for i in range(clients)]
        # Client i talks to node i mod the number of ports.
        self.node_of = [i % nodes for i in range(clients)]
        self.room_sizes = [len(range(r, clients, rooms)) for r in range(rooms)]
        self.need = [self.room_sizes[self.room_of[s]] - 1 for s in range(senders)]
        self.loop = asyncio.get_running_loop()
        # acks[s][q]: receivers that have read message q of sender s; done[s]: messages read by all.
        self.acks = [array("i", bytes(4 * messages)) for _ in range(senders)]
        self.done = [0] * senders
        self.waiters: list[asyncio.Future[None] | None] = [None] * senders
        self.total_done = 0
        self.all_done: asyncio.Future[None] = self.loop.create_future()
        self.latencies_ns = array("q")
        self.cross_latencies_ns = array("q")  # the deliveries that crossed from node to node
        self.send_lags_ns = array("q")
        self.probe_id = 0
        self.probe_seen = 0
        self.probe_need = clients - 1
        self.probe_reached: asyncio.Future[None] | None = None
        self.server_errors = 0
        self.failed: asyncio.Future[None] = self.loop.create_future()
        self.measuring = False

    def dialect_of(self, index: int) -> ClientDialect:
        if self.dialect == "mixed":
            return "irc" if index % 2 else "chat"
        return self.dialect

    def fail(self, message: str) -> None:
        if not self.failed.done():
            self.failed.set_exception(LoadError(message))
            self.failed.exception()  # retrieved: no "never retrieved" warning if nobody waits

    def completed(self, sender: int, seq: int) -> None:
        """Message ``seq`` of ``sender`` has been read by every receiver."""
        if seq != self.done[sender]:
            self.fail(f"message {seq} of sender {sender} completed before message {self.done[sender]}")
            return
        self.done[sender] = seq + 1
        waiter = self.waiters[sender]
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        self.total_done += 1
        if self.total_done == self.k * self.m and not self.all_done.done():
            self.all_done.set_result(None)

    def probe_arrived(self, probe: int) -> None:
        if probe == self.probe_id:
            self.probe_seen += 1
            reached = self.probe_reached
            if self.probe_seen == self.probe_need and reached is not None and not reached.done():
                reached.set_result(None)


class Client(asyncio.Protocol):
    """One connection of the generator: registers, reads, checks, and (for senders) writes."""

    def __init__(self, run: Run, index: int) -> None:
        self.run = run
        self.index = index
        self.transport: asyncio.Transport | None = None
        self.tail = b""
        self.room = run.room_of[index]
        self.dialect = run.dialect_of(index)
        #: The IRC channel of its room.
        if run.rooms > 1:
            self.channel = b"%s%d" % (run.irc_channel, self.room)
        else:
            self.channel = b"#lobby" if run.dialect == "mixed" else CHANNEL
        self.registered: asyncio.Future[None] = run.loop.create_future()
        # next_seq[s]: the sequence number expected next from sender s.
        self.next_seq = [0] * run.k
        #: cross[s]: whether sender s is on another node than this client.
        self.cross = [run.node_of[s] != run.node_of[index] for s in range(run.k)]
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.dialect == "irc":
            # Registration as clients do it: CAP negotiation (ended once the server has listed its
            # capabilities; a server without CAP just welcomes us), then JOIN after the welcome.
            nick = b"b%d" % self.index
            transport.write(b"CAP LS 302\r\nNICK %s\r\nUSER %s 0 * :bench\r\n" % (nick, nick))
        elif self.dialect == "floor":
            self.registered.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.registered.done():
            self.registered.set_exception(LoadError(f"client {self.index} closed before registering: {exc}"))
        self.run.fail(f"client {self.index} lost its connection: {exc or 'EOF'}")

    def data_received(self, data: bytes) -> None:
        buf = self.tail + data if self.tail else data
        if MARK not in buf and self.registered.done():
            # Only server chatter (join notices and the like): skip it without splitting lines.
            if (self.dialect == "irc" and _IRC_ATTENTION.search(buf)) or b"[server] Error" in buf:
                self._control_lines(buf)
            end = buf.rfind(b"\n") + 1
            self.tail = buf[end:] if end else buf
            return
        now = time.perf_counter_ns()
        end = buf.rfind(b"\n") + 1
        if end > _BULK_BYTES and self.registered.done():
            # Many lines, each of them a delivery (else the line-by-line path below): check them in
            # bulk.  A few lines are cheaper line by line.
            heads = _DELIVERY.findall(buf, 0, end)
            if len(heads) == buf.count(b"\n", 0, end):
                self.tail = buf[end:]
                self._deliveries(heads, now)
                return
        lines = buf.split(b"\n")
        self.tail = lines.pop()
        for line in lines:
            at = line.find(MARK)
            if at < 0:
                self._control(line)
            elif not self._payload(line[at + 2 :], now):
                return

    def _deliveries(self, heads: list[bytes], now: int) -> bool:
        """Check a chunk's deliveries (each ``b"sender seq time"``) as ``_payload`` does, in one loop.

        The numbers are split and converted for the whole chunk at once, at C
        speed; only the checks and the counting run per delivery.  False once
        the run has failed.
        """
        run = self.run
        numbers = list(map(int, b" ".join(heads).split()))
        next_seq, cross, room_of, room, index = self.next_seq, self.cross, run.room_of, self.room, self.index
        acks, need, add_latency, add_cross = (
            run.acks,
            run.need,
            run.latencies_ns.append,
            run.cross_latencies_ns.append,
        )
        it = iter(numbers)
        for sender, seq, at in zip(it, it, it, strict=True):
            if seq != next_seq[sender] or sender == index or room_of[sender] != room:
                run.fail(f"client {index} got message {seq} of sender {sender}, expected {next_seq[sender]}")
                return False
            next_seq[sender] = seq + 1
            latency = now - at
            add_latency(latency)
            if cross[sender]:
                add_cross(latency)
            counts = acks[sender]
            count = counts[seq] + 1
            counts[seq] = count
            if count == need[sender]:
                run.completed(sender, seq)
        return True

    def _payload(self, payload: bytes, now: int) -> bool:
        """A benchmark payload arrived (a message or a probe); False once the run has failed."""
        run = self.run
        if payload[:1] == b"M":
            _, s_text, q_text, t_text, _ = payload.split(b" ", 4)
            sender, seq = int(s_text), int(q_text)
            next_seq = self.next_seq
            if seq != next_seq[sender] or sender == self.index or run.room_of[sender] != self.room:
                run.fail(
                    f"client {self.index} got message {seq} of sender {sender}, expected {next_seq[sender]}"
                )
                return False
            next_seq[sender] = seq + 1
            latency = now - int(t_text)
            run.latencies_ns.append(latency)
            if self.cross[sender]:
                run.cross_latencies_ns.append(latency)
            counts = run.acks[sender]
            count = counts[seq] + 1
            counts[seq] = count
            if count == run.need[sender]:
                run.completed(sender, seq)
        elif payload[:1] == b"P":
            run.probe_arrived(int(payload.split(b" ", 2)[1]))
        return True

    def _control_lines(self, buf: bytes) -> None:
        for line in buf.split(b"\n")[:-1]:
            self._control(line)

    def join_room(self) -> None:
        assert self.transport is not None
        self.transport.write(b"JOIN %s%d\n" % (ROOM, self.room))

    def _control(self, line: bytes) -> None:
        """A line that is not a benchmark payload: registration, PING, errors."""
        if self.dialect == "chat":
            if line.startswith(b"[server] Welcome"):
                if self.run.rooms > 1:  # registered once in its room
                    self.join_room()
                elif not self.registered.done():
                    self.registered.set_result(None)
            elif line.startswith(b"[server] You are now in"):
                if not self.registered.done():
                    self.registered.set_result(None)
            elif line.startswith(b"[server] Error"):
                self.run.server_errors += 1
        elif self.dialect == "irc":
            self._irc_control(*irc_command(line))

    def _irc_control(self, command: bytes, params: list[bytes]) -> None:
        """Registration (CAP, welcome, JOIN, end of NAMES), PING, and the server's errors."""
        assert self.transport is not None
        if command == b"PING":
            self.transport.write(b"PONG :%s\r\n" % (params[-1] if params else b""))
        elif command == b"CAP" and params[1:2] == [b"LS"] and params[2:3] != [b"*"]:
            self.transport.write(b"CAP END\r\n")  # the last line of the list: no "*" before it
        elif command == b"001":
            self.transport.write(b"JOIN %s\r\n" % self.channel)
        elif command == b"366" and params[1:2] == [self.channel]:  # end of NAMES: the JOIN is done
            if not self.registered.done():
                self.registered.set_result(None)
        elif command == b"ERROR" or (command[:1] in b"45" and command.isdigit() and command != b"422"):
            if self.registered.done():  # (422 is only "no MOTD")
                self.run.server_errors += 1
            elif not (command == b"421" and params[1:2] == [b"CAP"]):  # a server without CAP is fine
                words = b" ".join([command, *params]).decode(errors="replace")
                self.registered.set_exception(LoadError(f"client {self.index} not registered: {words}"))

    def send_payload(self, payload: bytes) -> None:
        assert self.transport is not None
        if self.dialect == "irc":
            self.transport.write(b"PRIVMSG %s :%s\r\n" % (self.channel, payload))
        else:
            self.transport.write(b"MSG %s\n" % payload)


#: What a web client looks for in the frames it receives, once its WebSocket is open: a payload (up to
#: the end of its JSON string; payloads need no escaping), or an event type it acts on (until it is
#: registered; after that only payloads are looked for, and errors counted apart).
_SKIM = re.compile(rb'@@([MP] [^"]*)"|"type":"(welcome|joined|error)"')
_PAYLOADS = re.compile(rb'@@([MP] [^"]*)"')
_ERROR = b'"type":"error"'
#: One delivery in a frame, as ``_DELIVERY`` for lines: its sender, number and time.
_WEB_DELIVERY = re.compile(rb'@@M ([0-9]+ [0-9]+ [0-9]+) [^"]*"')
#: Bytes kept from one read to the next, where a mark may have been cut.
_SKIM_TAIL = 256


class WebClient(Client):
    """A web client: a WebSocket to ``/ws``, JSON commands out (framed and masked by wsproto).

    wsproto checks the handshake; after it, the client reads the server's
    frames by their marks (payloads, and the few event types it acts on)
    rather than frame by frame, so that reading costs about what reading
    lines does and the generator, not the server, does not become the
    bottleneck.  Every delivery is still checked; the framing itself is the
    test suite's business.
    """

    def __init__(self, run: Run, index: int, authority: str) -> None:
        super().__init__(run, index)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.authority = authority
        self.open = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.write(self.ws.send(Request(host=self.authority, target="/ws")))

    def data_received(self, data: bytes) -> None:
        if self.open:
            self._skim(data)
            return
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.open = True
            elif isinstance(event, TextMessage):
                self._skim(event.data.encode() + b"\n")
            elif isinstance(event, RejectConnection | CloseConnection):
                reason = f"refused ({event.status_code})" if isinstance(event, RejectConnection) else "closed"
                if not self.registered.done():
                    self.registered.set_exception(LoadError(f"client {self.index}: WebSocket {reason}"))
                self.run.fail(f"client {self.index}: WebSocket {reason}")

    def _skim(self, data: bytes) -> None:
        buf = self.tail + data if self.tail else data
        now = time.perf_counter_ns()
        end = 0
        registered = self.registered.done()
        if registered:
            # Each error once, in the read that brings its last byte: one cut across two reads
            # ends in this one, one wholly in the tail was counted with the read before.
            self.run.server_errors += buf.count(_ERROR, max(0, len(buf) - len(data) - len(_ERROR) + 1))
        if registered and len(buf) > _BULK_BYTES:
            # Many marks, each up to the last quote a delivery (else the path below): in bulk.
            end = buf.rfind(b'"') + 1
            heads = _WEB_DELIVERY.findall(buf, 0, end)
            if len(heads) == buf.count(MARK, 0, end):
                self.tail = buf[max(end, len(buf) - _SKIM_TAIL) :]
                if heads:
                    self._deliveries(heads, now)
                return
            end = 0
        for match in (_PAYLOADS if registered else _SKIM).finditer(buf):
            end = match.end()
            if match.lastindex == 1:  # a payload
                if not self._payload(match[1], now):
                    return
                continue
            kind = match[2]
            if kind == b"error":
                self.run.server_errors += 1
            elif kind == b"welcome" and self.run.rooms > 1:
                self.join_room()  # registered once in its room
            elif not self.registered.done():
                self.registered.set_result(None)
        self.tail = buf[max(end, len(buf) - _SKIM_TAIL) :]

    def join_room(self) -> None:
        assert self.transport is not None
        room = (b"%s%d" % (ROOM, self.room)).decode()
        self.transport.write(self.ws.send(TextMessage(data=json.dumps({"cmd": "join", "room": room}))))

    def send_payload(self, payload: bytes) -> None:
        assert self.transport is not None
        command = json.dumps({"cmd": "msg", "text": payload.decode()})
        self.transport.write(self.ws.send(TextMessage(data=command)))


async def _open(
    run: Run,
    clients: list[Client],
    *,
    host: str,
    ports: Sequence[int],
    irc_port: int,
    count: int,
    concurrency: int,
) -> None:
    """Open ``count`` connections into ``clients``, ``concurrency`` at a time, each until registered.

    With several ``ports`` (the nodes of a cluster), client i connects to
    port i mod their number.
    """
    gate = asyncio.Semaphore(concurrency)
    loop = run.loop

    async def connect(index: int) -> None:
        async with gate:
            port = ports[index % len(ports)]
            authority = f"{host}:{port}"
            client = WebClient(run, index, authority) if run.dialect == "web" else Client(run, index)
            clients.append(client)
            where = irc_port if run.dialect == "mixed" and client.dialect == "irc" else port
            await loop.create_connection(
                lambda: client, host, where, ssl=run.tls, server_hostname="localhost" if run.tls else None
            )
            await client.registered

    tasks = [asyncio.ensure_future(connect(i)) for i in range(count)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    clients.sort(key=lambda c: c.index)


async def _prove_ready(run: Run, clients: Sequence[Client], deadline: float) -> None:
    """In each room, probe from its last client until one probe has reached every other member."""
    for room in range(run.rooms):
        members = [c for c in clients if c.room == room]
        run.probe_need = len(members) - 1
        if run.probe_need > 0:
            await _probe(run, members[-1], deadline)


async def _probe(run: Run, prober: Client, deadline: float) -> None:
    while True:
        run.probe_id += 1
        run.probe_seen = 0
        run.probe_reached = run.loop.create_future()
        prober.send_payload(b"%sP %d ." % (MARK, run.probe_id))
        wait = min(PROBE_RETRY_SECONDS, deadline - time.monotonic())
        if wait <= 0:
            raise LoadError(f"probe {run.probe_id} reached {run.probe_seen} of {run.probe_need} clients")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(run.probe_reached), wait)
            return


def _sender(run: Run, client: Client, padding: bytes) -> tuple[Callable[[bytes], object], bytes]:
    """How ``client`` sends a message: a write, and a template for (sender, seq, time in ns)."""
    assert client.transport is not None
    write: Callable[[bytes], object] = client.transport.write
    channel = client.channel
    prefix = b"PRIVMSG %s :" % channel if client.dialect == "irc" else b"MSG "
    end = b"\r\n" if client.dialect == "irc" else b"\n"
    template = prefix + MARK + b"M %d %d %d " + padding + end
    if run.dialect == "web":  # a JSON command in a frame: the client frames each one itself
        write, template = client.send_payload, MARK + b"M %d %d %d " + padding
    return write, template


async def _send_all(run: Run, client: Client, sender: int, padding: bytes) -> None:
    """Closed loop: send the next message once fewer than W of this sender's are unread."""
    write, template = _sender(run, client, padding)
    done = run.done
    window = run.window
    loop = run.loop
    clock = time.perf_counter_ns
    for seq in range(run.m):
        while seq - done[sender] >= window:
            waiter: asyncio.Future[None] = loop.create_future()
            run.waiters[sender] = waiter
            await waiter
        write(template % (sender, seq, clock()))


async def _send_paced(run: Run, clients: Sequence[Client], padding: bytes, rate: float) -> None:
    """Open loop: message i of the run (sender i mod K, its number i // K) is due at t0 + i / rate.

    Each sender keeps its own schedule (rate / K, shifted by its place)
    whatever the answers; one task sends every message that is due, then
    sleeps until the next one.  A message carries its scheduled time, and
    how late it actually left is recorded apart (the event loop wakes at
    best to the millisecond), so the report can tell the generator's lag
    from the server's.
    """
    senders = [_sender(run, clients[s], padding) for s in range(run.k)]
    k, total = run.k, run.k * run.m
    interval = 1e9 / rate
    lags = run.send_lags_ns
    clock = time.perf_counter_ns
    start = clock()
    sent = 0
    while sent < total:
        now = clock()
        due = min(total, int((now - start) / interval) + 1)
        while sent < due:
            sender = sent % k
            at = start + int(sent * interval)
            write, template = senders[sender]
            write(template % (sender, sent // k, at))
            lags.append(now - at)
            sent += 1
        if sent < total:
            await asyncio.sleep(max(0.0, (start + sent * interval - clock()) / 1e9))


#: Below this many bytes a chunk holds a few deliveries, cheaper to check one by one than in bulk
#: (the bulk path's fixed cost is that of about 8 lines checked one by one).
_BULK_BYTES = 512
#: One delivery on a line of its own (any dialect's prefix before the mark): its sender, number and time.
_DELIVERY = re.compile(rb"@@M ([0-9]+ [0-9]+ [0-9]+) [^\n]*\n")
#: Lines the fast path must not skip: a PING to answer, an error, a 4xx or 5xx numeric.
_IRC_ATTENTION = re.compile(rb"PING|ERROR| [45][0-9][0-9] ")


def irc_command(line: bytes) -> tuple[bytes, list[bytes]]:
    """The command and parameters of one IRC line (tags and source skipped), for control lines."""
    line = line.rstrip(b"\r")
    if line[:1] == b"@":
        line = line.partition(b" ")[2].lstrip(b" ")
    if line[:1] == b":":
        line = line.partition(b" ")[2].lstrip(b" ")
    head, colon, trailing = line.partition(b" :")
    words = head.split()
    if not words:
        return b"", []
    params = words[1:]
    if colon:
        params.append(trailing)
    return words[0].upper(), params


def _percentile(sorted_values: Sequence[int], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    at = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return float(sorted_values[at])


async def _race(run: Run, awaitable: asyncio.Future[None], timeout: float, what: str) -> None:
    """Wait for ``awaitable``, failing early if the run fails, and at ``timeout``."""
    done, _ = await asyncio.wait({awaitable, run.failed}, timeout=timeout, return_when="FIRST_COMPLETED")
    if run.failed in done:
        run.failed.result()
    if awaitable not in done:
        raise LoadError(f"timed out after {timeout:.0f}s while {what}")
    awaitable.result()


def _cpu(pids: Sequence[int]) -> float:
    """The CPU time of every process that serves (the nodes of a cluster and its Redis: all of them)."""
    return sum(map(cpu_seconds, pids))


def _waits(pids: Sequence[int]) -> CpuWait:
    return sum(map(cpu_wait, pids), CpuWait(0.0, 0))


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_load(args: argparse.Namespace, result: LoadResult, clients: list[Client]) -> None:
    tls = None if args.tls_ca is None else ssl.create_default_context(cafile=args.tls_ca)
    run = Run(
        args.dialect,
        clients=args.clients,
        senders=args.senders,
        messages=args.messages,
        window=args.window,
        rooms=args.rooms,
        nodes=len(args.ports or [args.port]),
        tls=tls,
    )
    result.dialect, result.clients, result.senders = args.dialect, args.clients, args.senders
    result.messages, result.window, result.rooms = args.messages, args.window, args.rooms
    result.rate = args.rate
    result.loop = args.loop
    pids: list[int] = args.server_pid
    if args.senders == 0:
        result.rss_before_kib = sum(map(rss_kib, pids))
    cpu_before_open = _cpu(pids)
    started = time.monotonic()
    opening = asyncio.ensure_future(
        _open(
            run,
            clients,
            host=args.host,
            ports=args.ports or [args.port],
            irc_port=args.irc_port,
            count=args.clients,
            concurrency=args.concurrency,
        )
    )
    try:
        await _race(run, opening, args.connect_timeout, f"opening {args.clients} connections")
    except (LoadError, OSError) as exc:
        opening.cancel()
        result.connected = sum(1 for c in clients if c.registered.done() and c.transport and not c.lost)
        raise LoadError(f"{exc} ({result.connected} of {args.clients} registered)") from exc
    result.connected = len(clients)
    await _prove_ready(run, clients, started + args.connect_timeout)
    result.connect_s = time.monotonic() - started
    result.probes = run.probe_id
    if args.senders == 0:
        result.open_server_cpu_s = _cpu(pids) - cpu_before_open
        await asyncio.sleep(args.settle)
        result.rss_after_kib = sum(map(rss_kib, pids))
        result.rss_per_conn_bytes = (result.rss_after_kib - result.rss_before_kib) * 1024 / args.clients
        result.ok = True
        return

    padding = b"x" * max(1, args.payload_bytes)
    each_before = [cpu_seconds(pid) for pid in pids]
    cpu_before, self_before = sum(each_before), _self_cpu()
    waits_before, self_waits_before = _waits(pids), cpu_wait(os.getpid())
    t0 = time.perf_counter()
    if args.rate:
        senders = [asyncio.ensure_future(_send_paced(run, clients, padding, args.rate))]
        timeout = args.senders * args.messages / args.rate + args.timeout
    else:
        senders = [asyncio.ensure_future(_send_all(run, clients[s], s, padding)) for s in range(args.senders)]
        timeout = args.timeout
    try:
        await _race(run, run.all_done, timeout, "sending")
    finally:
        for task in senders:
            task.cancel()
        result.deliveries = sum(sum(c.next_seq) for c in clients)
    elapsed = time.perf_counter() - t0
    result.server_cpu_s = _cpu(pids) - cpu_before
    result.server_cpu_each_s = [
        cpu_seconds(pid) - before for pid, before in zip(pids, each_before, strict=True)
    ]
    result.loadgen_cpu_s = _self_cpu() - self_before
    server_waits, self_waits = _waits(pids) - waits_before, cpu_wait(os.getpid()) - self_waits_before
    result.server_wait_s, result.server_slices = server_waits.waited_s, server_waits.slices
    result.loadgen_wait_s, result.loadgen_slices = self_waits.waited_s, self_waits.slices
    for client in clients:
        for sender in range(args.senders):
            want = 0 if sender == client.index or run.room_of[sender] != client.room else args.messages
            if client.next_seq[sender] != want:
                raise LoadError(f"client {client.index} read {client.next_seq[sender]} of sender {sender}")
    result.server_errors = run.server_errors
    result.elapsed_s = elapsed
    result.deliveries_per_s = result.deliveries / elapsed
    result.messages_per_s = args.senders * args.messages / elapsed
    result.server_cpu_us_per_delivery = result.server_cpu_s * 1e6 / result.deliveries
    latencies = sorted(run.latencies_ns)
    result.p50_us = _percentile(latencies, 0.50) / 1000
    result.p99_us = _percentile(latencies, 0.99) / 1000
    result.max_us = latencies[-1] / 1000 if latencies else 0.0
    cross = sorted(run.cross_latencies_ns)
    result.cross_deliveries = len(cross)
    result.cross_p50_us = _percentile(cross, 0.50) / 1000
    result.cross_p99_us = _percentile(cross, 0.99) / 1000
    lags = sorted(run.send_lags_ns)
    result.send_lag_p99_us = _percentile(lags, 0.99) / 1000
    result.send_lag_max_us = lags[-1] / 1000 if lags else 0.0
    result.ok = True


async def _main(args: argparse.Namespace) -> int:
    result = LoadResult()
    clients: list[Client] = []
    try:
        await run_load(args, result, clients)
    except (LoadError, OSError) as exc:
        result.error = str(exc) or type(exc).__name__
    sys.stdout.write(json.dumps(asdict(result)) + "\n")
    sys.stdout.flush()
    # Keep the connections open until the runner has stopped the server (stdin closes), bounded.
    loop = asyncio.get_running_loop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.buffer.read), args.linger)
    for client in clients:
        if client.transport is not None:
            client.transport.abort()
    return 0 if result.ok else 1


def _ports(text: str) -> list[int]:
    try:
        ports = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of ports: {text!r}") from None
    if not ports or not all(0 < port < 65536 for port in ports):
        raise argparse.ArgumentTypeError(f"not a list of ports: {text!r}")
    return ports


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--ports",
        type=_ports,
        default=None,
        metavar="P1,P2,...",
        help="instead of --port: the nodes of a cluster; client i connects to port i mod their number",
    )
    parser.add_argument(
        "--server-pid",
        type=int,
        action="append",
        required=True,
        help="whose CPU time and RSS to read; repeat it for every node of a cluster and its Redis (summed)",
    )
    parser.add_argument(
        "--dialect",
        choices=["chat", "irc", "floor", "web", "mixed"],
        default="chat",
        help="what the clients speak; mixed: even clients text (--port), odd ones IRC (--irc-port)",
    )
    parser.add_argument("--irc-port", type=int, default=0, help="mixed runs: the IRC listener's port")
    parser.add_argument("--tls-ca", default=None, metavar="FILE", help="connect under TLS, trusting this CA")
    parser.add_argument("--clients", type=int, default=10, help="N: connections")
    parser.add_argument("--senders", type=int, default=10, help="K: senders among them (0: idle RSS run)")
    parser.add_argument("--messages", type=int, default=1000, help="M: messages per sender")
    parser.add_argument("--window", type=int, default=4, help="W: unread messages a sender may have")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        metavar="MSGS_PER_SECOND",
        help="open loop instead of the window: messages per second, over all senders, sent on a clock",
    )
    parser.add_argument("--rooms", type=int, default=1, help="R: client i joins room i mod R (1: no JOIN)")
    parser.add_argument("--payload-bytes", type=int, default=32, help="padding after the header")
    parser.add_argument("--concurrency", type=int, default=100, help="connections being opened at once")
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="limit for the measured phase (with --rate: past the last message's scheduled time)",
    )
    parser.add_argument("--settle", type=float, default=1.0, help="idle run: seconds before reading RSS")
    parser.add_argument("--linger", type=float, default=60.0, help="most seconds to wait for stdin to close")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.senders > args.clients or (args.senders == 0 and args.clients < 2) or args.clients < 2:
        raise SystemExit("need at least 2 clients and no more senders than clients")
    if not args.port and not args.ports:
        raise SystemExit("need --port or --ports")
    if args.rate < 0 or (args.rate and args.senders == 0):
        raise SystemExit("--rate needs senders and a positive number of messages per second")
    if args.dialect == "mixed" and not args.irc_port:
        raise SystemExit("a mixed run needs --irc-port")
    if not 1 <= args.rooms <= args.clients // 2 or (args.rooms > 1 and args.dialect == "floor"):
        raise SystemExit("need 1 to N/2 rooms, and a chat or IRC dialect for more than one")
    raise_open_files_limit()
    if args.loop == "uvloop":
        try:
            import uvloop  # noqa: PLC0415 - optional
        except ImportError:
            args.loop = "asyncio"
        else:
            return int(uvloop.run(_main(args)))
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())

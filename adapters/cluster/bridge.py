"""The bridge: the core's cluster actions done with Redis, and Redis' news told to the core.

The core speaks of sharing facts, following rooms, leasing guest numbers
(``sansio_chat``'s cluster vocabulary) and knows nothing of Redis.  The link
(``link.py``) speaks Redis and knows nothing of the chat.  The bridge
between them is sans-IO too, and owns every Redis specific of the chat:

* which script or channel carries each share: a change of the nickname
  directory is one script (``claim``, ``release``, ``kill``) that also
  announces the fact; any other fact for everyone is the ``share`` script
  (numbered with the directory's events, fenced); words to a room are a
  plain ``PUBLISH`` on the room's channel, private words on the channels
  of the two users' nodes (``publish_line``: words one after the other to
  one channel may share one message, a line each);
* the node's registration, its epoch, the heartbeat and the reaper, and
  what ``FENCED`` means (register again, the core rejoins);
* the order of the ``all`` channel: events are numbered; a gap, or a
  connection that broke, means something may have been missed: rejoin;
* the epochs of the other nodes, to drop plain messages of a node fenced
  since (the scripts refuse its other changes);
* shares in flight: the core hears exactly one answer for each, the item
  back (``FactsArrived``) or ``ShareFailed``.

A node's life: ``LinkUp`` → ``register`` → ``snapshot`` (every node's
epoch, and the number of the last event it includes; the ``all`` events
that came meanwhile wait) → ``ClusterChanged(JOINING)`` → the core asks
for a ``burst`` of its users, then shares its hello.  A link that breaks
is ``ClusterChanged(INTERRUPTED)``, one that stays down ``DOWN``.

The driver calls ``act`` with each cluster action of the core, ``poll``
after the link reported anything (it returns the core's events), ``tick``
at ``next_wakeup``, and carries out ``link.take_actions()`` after each.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import assert_never

from sansio_chat import (
    Burst,
    BurstAnswered,
    ClusterAction,
    ClusterChanged,
    ClusterStatus,
    Event,
    FactsArrived,
    FollowRoom,
    GuestsLeased,
    LeaseGuests,
    LogLevel,
    NodeDown,
    Share,
    Shared,
    ShareFailed,
    ShareRefusal,
    UnfollowRoom,
    node_of,
)

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
from ._resp import RespValue
from ._url import RedisAddress
from .codec import Codec, CodecError
from .link import LinkConfig, RedisLink
from .names import ClusterNames, check_node_id
from .scripts import (
    BEAT,
    BURST,
    CLAIM,
    KILL,
    LEASE,
    REAP,
    REGISTER,
    RELEASE,
    RELEASE_ALL,
    SCRIPTS,
    SHARE,
    SNAPSHOT,
    ClusterScript,
)

#: A node whose heartbeat is older than this (by Redis' clock) is dropped with its users.
DEAD_AFTER = 4.0
#: How often a node beats, and how often it looks for dead nodes.
BEAT_EVERY = 1.0
REAP_EVERY = 0.5
#: Dead nodes dropped per reap at most (the next reap takes the rest).
REAP_LIMIT = 100
#: How long a stopping node waits for Redis to drop its users.
STOP_WAIT = 1.0
#: How long a node whose joining Redis refused (full, say) waits before it registers again.
REJOIN_AFTER = 1.0


class Phase(enum.Enum):
    """Where the node stands with the cluster."""

    WAITING = "waiting for the link"
    REGISTERING = "registering"  # register sent: a new epoch
    SYNCING = "syncing"  # snapshot sent: the all channel's events wait for it
    JOINED = "joined"  # the core shares; its hello is its own business
    STOPPING = "stopping"  # release_all sent
    STOPPED = "stopped"


class _Purpose(enum.Enum):
    REGISTER = "register"
    SNAPSHOT = "snapshot"
    BURST = "burst"
    LEASE = "lease"
    BEAT = "beat"
    REAP = "reap"
    SHARE = "share"
    CLAIM = "claim"
    RELEASE = "release"
    STOP = "release_all"


#: The steps of joining, and the phase each answers in: refused, they are tried again.
_JOINING = {
    _Purpose.REGISTER: Phase.REGISTERING,
    _Purpose.SNAPSHOT: Phase.SYNCING,
    _Purpose.BURST: Phase.JOINED,
    _Purpose.LEASE: Phase.JOINED,
}


@dataclass(frozen=True, slots=True)
class _Request:
    purpose: _Purpose
    ticket: int = 0


class ClusterBridge:
    """One node's bridge between its core and its link to Redis (see the module's docstring)."""

    def __init__(
        self,
        address: RedisAddress,
        *,
        node_id: str,
        node_number: int,
        now: float,
        jitter: Callable[[], float],
        link_config: LinkConfig | None = None,
    ) -> None:
        self.node_id = check_node_id(node_id)
        self.node_number = node_number
        self.names = ClusterNames.for_address(address)
        self.codec = Codec()
        self.link = RedisLink(
            address,
            client_name=f"sansio-chat:{node_id}",
            echo_channel=self.names.link_channel(node_id),
            jitter=jitter,
            now=now,
            scripts=[cluster_script.script for cluster_script in SCRIPTS],
            config=link_config,
        )
        self.phase = Phase.WAITING
        self.epoch = 0
        self._fresh = True  # until registered once: an earlier process under this id is dropped then
        self._all = self.names.all_channel
        self._own_channel = self._node_channel(node_number)
        self.link.subscribe(self._all)
        self.link.subscribe(self._own_channel)
        self._now = now
        self._events: list[Event] = []
        self._arrivals: list[tuple[Shared, int]] = []
        self.logs: list[tuple[LogLevel, str]] = []
        self._requests: dict[RequestId, _Request] = {}
        self._in_flight: dict[int, Shared] = {}  # own tickets not answered yet, and their items
        self._own_head = self.codec.head(self.node_id)  # how this node's messages begin
        self._waiting: dict[bytes, list[Share]] = {}  # shares waiting for their room's subscription
        self._heard: set[bytes] = set()  # room channels confirmed (and kept by the link across breaks)
        self._buffer: list[bytes] = []  # all-channel events while syncing
        self._seq = 0  # the last all-channel event applied
        self._epochs: dict[str, int] = {}
        self._next_beat: float | None = None
        self._next_reap: float | None = None
        self._stop_by: float | None = None
        self._rejoin_at: float | None = None  # a step of joining was refused: register again then
        # Since when Redis has refused every join (the link up all along): past the link's grace,
        # the users hear of it as of a lost link (once), until a join goes through.
        self._refused_since: float | None = None
        self._told_down = False
        self._bad = 0  # messages that could not be read

    # -- what the driver asks --------------------------------------------------------------

    @property
    def next_wakeup(self) -> float | None:
        times = [
            self.link.next_wakeup,
            self._next_beat,
            self._next_reap,
            self._stop_by,
            self._rejoin_at,
            self._tell_down_at,
        ]
        return min((time for time in times if time is not None), default=None)

    @property
    def stopped(self) -> bool:
        return self.phase is Phase.STOPPED

    def act(self, action: ClusterAction) -> None:
        """Carry out one of the core's cluster actions."""
        match action:
            case Share():
                self._share(action)
            case FollowRoom(room=room):
                self.link.subscribe(self.names.room_channel(room))
            case UnfollowRoom(room=room):
                channel = self.names.room_channel(room)
                self._heard.discard(channel)
                for waiting in self._waiting.pop(channel, []):
                    self._fail(waiting.ticket, ShareRefusal.NOT_SENT)
                self.link.unsubscribe(channel)
            case LeaseGuests(count=count):
                if self.phase is Phase.JOINED:
                    self._run(LEASE, _Purpose.LEASE, node=self.node_id, epoch=self.epoch, count=count)
            case Burst(users=users):
                if self.phase is Phase.JOINED:
                    rest = [part for uid, key, nick in users for part in (uid, key, nick)]
                    self._run(BURST, _Purpose.BURST, *rest, node=self.node_id, epoch=self.epoch)
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(action)

    def poll(self, now: float) -> list[Event]:
        """Take the link's news and turn them into the core's events, in order."""
        self._now = now
        for event in self.link.take_events():
            self._on_link(event)
        return self._take()

    def tick(self, now: float) -> list[Event]:
        """Time moved on: the link's timers, the heartbeat, the reaper, a stop that took too long."""
        self._now = now
        self.link.tick(now=now)
        if self._next_beat is not None and now >= self._next_beat:
            self._next_beat = now + BEAT_EVERY
            self._run(BEAT, _Purpose.BEAT, node=self.node_id, epoch=self.epoch)
        if self._next_reap is not None and now >= self._next_reap:
            self._next_reap = now + REAP_EVERY
            self._run(REAP, _Purpose.REAP, dead_after_ms=int(DEAD_AFTER * 1000), limit=REAP_LIMIT)
        if self._stop_by is not None and now >= self._stop_by:
            self._log(LogLevel.WARNING, "Redis did not confirm the release of this node's users")
            self._stopped()
        if self._rejoin_at is not None and now >= self._rejoin_at:
            self._register()
        tell_down_at = self._tell_down_at
        if tell_down_at is not None and now >= tell_down_at:
            self._told_down = True  # cut off as surely as by a broken link: the users are told so
            self._emit(ClusterChanged(status=ClusterStatus.DOWN))
        return self.poll(now)

    @property
    def _tell_down_at(self) -> float | None:
        """When the users hear that this node is cut off, Redis refusing its joins (None: not due)."""
        if self._refused_since is None or self._told_down:
            return None
        return self._refused_since + self.link.config.grace

    def stop(self, now: float) -> None:
        """The node stops: its users leave the directory at once (``release_all``), then the link stops."""
        self._now = now
        if self.phase is Phase.STOPPING or self.phase is Phase.STOPPED:
            return
        self._next_beat = self._next_reap = self._rejoin_at = None
        if self.phase is Phase.JOINED:
            self._run(RELEASE_ALL, _Purpose.STOP, node=self.node_id, epoch=self.epoch, reason="shutdown")
            self.phase = Phase.STOPPING
            self._stop_by = now + STOP_WAIT
        else:
            self._stopped()

    # -- shares ------------------------------------------------------------------------------

    def _share(self, share: Share) -> None:
        if self.phase is not Phase.JOINED:
            self._fail(share.ticket, ShareRefusal.NOT_SENT)
            return
        if share.follow:
            channel = self.names.room_channel(share.follow)
            if channel not in self._heard:
                self._waiting.setdefault(channel, []).append(share)
                return
        self._send(share)

    def _send(self, share: Share) -> None:
        ticket = share.ticket
        self._in_flight[ticket] = share.item
        node, epoch = self.node_id, self.epoch
        payload = self.codec.message(node, epoch, ticket, share.item)
        if share.room:
            if not self.link.publish_line(self.names.room_channel(share.room), payload):
                self._fail(ticket, ShareRefusal.NOT_SENT)
        elif share.users:
            channels = dict.fromkeys(self._node_channel(node_of(uid)) for uid in share.users)
            for channel in channels:
                if not self.link.publish_line(channel, payload):
                    self._fail(ticket, ShareRefusal.NOT_SENT)
                    return
        elif share.take:
            owner = share.owner
            self._run(
                CLAIM,
                _Purpose.CLAIM,
                ticket=ticket,
                node=node,
                epoch=epoch,
                conn=owner,
                fold=share.take,
                nick=share.take,
                old=share.free,
                payload=payload,
            )
        elif share.free:
            self._run(
                RELEASE,
                _Purpose.RELEASE,
                ticket=ticket,
                node=node,
                epoch=epoch,
                conn=share.owner,
                fold=share.free,
                reason=payload,
            )
        elif share.evict:
            self._run(
                KILL,
                _Purpose.CLAIM,
                ticket=ticket,
                node=node,
                epoch=epoch,
                fold=share.evict,
                killer="",
                reason=payload,
            )
        else:
            self._run(SHARE, _Purpose.SHARE, ticket=ticket, node=node, epoch=epoch, payload=payload)

    def _fail(self, ticket: int, why: ShareRefusal) -> None:
        self._in_flight.pop(ticket, None)
        self._emit(ShareFailed(ticket=ticket, why=why))

    def _run(
        self,
        script: ClusterScript,
        purpose: _Purpose,
        *rest: str | int | bytes,
        ticket: int = 0,
        **values: str | int | bytes,
    ) -> None:
        request = self.link.run_script(script.script, args=script.args(self.names, *rest, **values))
        self._requests[request] = _Request(purpose, ticket)

    # -- the link's news -----------------------------------------------------------------------

    def _on_link(self, event: LinkEvent) -> None:
        match event:
            case Message(channel=channel, data=data):
                if channel == self._all:
                    self._on_all(data)
                elif b"\n" in data:  # several lines published one after the other (publish_line)
                    for line in data.split(b"\n"):
                        self._on_message(line)
                else:
                    self._on_message(data)
            case Reply(request=request, value=value):  # (every request is the bridge's, answered once)
                self._on_reply(self._requests.pop(request), value)
            case RequestFailed(request=request, sent=sent):
                self._on_request_failed(self._requests.pop(request), sent=sent)
            case Subscribed(channel=channel):
                if channel not in (self._all, self._own_channel):
                    self._heard.add(channel)
                    for share in self._waiting.pop(channel, []):
                        self._share(share)
            case Unsubscribed():
                pass
            case LinkUp():
                self._register()
            case LinkInterrupted(role=role, reason=reason):
                self._lost(f"the {role.value} connection broke: {reason}")
            case LinkDown():
                self._emit(ClusterChanged(status=ClusterStatus.DOWN))
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(event)

    def _register(self) -> None:
        """(Re)join: a new epoch first; every answer of the old one is void."""
        if self.phase is Phase.STOPPING or self.phase is Phase.STOPPED:
            return
        self.phase = Phase.REGISTERING
        self._next_beat = self._next_reap = self._rejoin_at = None
        self._run(REGISTER, _Purpose.REGISTER, node=self.node_id, fresh=int(self._fresh))

    def _lost(self, why: str, *, then: str = "when the link is back") -> None:
        """The link broke (or missed something): whatever is on its way may be lost; rejoin ``then``."""
        if self.phase is Phase.STOPPING or self.phase is Phase.STOPPED:
            return
        if self.phase is not Phase.WAITING:
            self._log(LogLevel.WARNING, f"cluster: {why}; this node rejoins {then}")
        self.phase = Phase.WAITING
        self._next_beat = self._next_reap = self._rejoin_at = None
        self._buffer.clear()
        # (``_heard`` stays: the link subscribes again to every channel it keeps before it is up
        # again, and confirms nothing twice; a share waits for nothing but ``JOINED`` then.)
        for ticket in list(self._in_flight):
            self._fail(ticket, ShareRefusal.MAYBE_SENT)
        for shares in self._waiting.values():
            for share in shares:
                self._fail(share.ticket, ShareRefusal.NOT_SENT)
        self._waiting.clear()
        self._emit(ClusterChanged(status=ClusterStatus.INTERRUPTED))

    def _on_reply(self, asked: _Request, value: RespValue) -> None:
        if asked.purpose is _Purpose.STOP:  # done, refused, or fenced (nothing left to release): the end
            self._stopped()
            return
        status = value[0] if isinstance(value, list) and value else None
        if status == b"FENCED":
            self._refuse(asked.ticket, ShareRefusal.NOT_SENT)
            self._fenced()
            return
        if status != b"OK":
            self._refused(asked, status, value)
            return
        assert isinstance(value, list)
        match asked.purpose:
            case _Purpose.REGISTER:
                self._fresh = False
                if self.phase is Phase.REGISTERING:
                    self.epoch = _int(value[1])
                    self.phase = Phase.SYNCING
                    self._run(SNAPSHOT, _Purpose.SNAPSHOT)
            case _Purpose.SNAPSHOT:
                if self.phase is Phase.SYNCING:
                    self._synced(value)
            case _Purpose.BURST:
                rest = value[2:]
                killed = rest.pop() if rest and isinstance(rest[-1], list) else []
                assert isinstance(killed, list)
                for payload in killed:  # users killed while this node did not listen: the kills
                    if isinstance(payload, bytes):
                        self._on_message(payload)
                refused = tuple(_int(conn) for conn in rest)
                self._refused_since, self._told_down = None, False  # joined: a new refusal counts anew
                self._emit(BurstAnswered(refused=refused))
            case _Purpose.LEASE:
                self._emit(GuestsLeased(first=_int(value[1]), last=_int(value[2])))
            case _Purpose.BEAT | _Purpose.REAP | _Purpose.SHARE | _Purpose.CLAIM | _Purpose.RELEASE:
                pass  # a share's item comes back on the all channel
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(asked.purpose)

    def _refused(self, asked: _Request, status: object, value: RespValue) -> None:
        """A script said no (or failed): its share is told why."""
        if _JOINING.get(asked.purpose) is self.phase:
            # A step of joining (Redis is full, say: it refuses every script that writes).  The
            # core would wait for its answer for ever: it hears of a break, and the node tries again.
            self._lost(f"Redis refused {asked.purpose.value}: {value!r}", then=f"in {REJOIN_AFTER:g} s")
            self._rejoin_at = self._now + REJOIN_AFTER
            if self._refused_since is None:
                self._refused_since = self._now
            return
        if not asked.ticket:
            self._log(LogLevel.WARNING, f"cluster: Redis refused {asked.purpose.value}: {value!r}")
            return
        if status == b"TAKEN" or (status == b"GONE" and asked.purpose is _Purpose.CLAIM):
            self._refuse(asked.ticket, ShareRefusal.TAKEN)
        elif status == b"NO_SUCH":
            self._refuse(asked.ticket, ShareRefusal.NO_SUCH)
        else:  # GONE for a release (gone already), or an error reply
            if status != b"GONE":
                self._log(LogLevel.WARNING, f"cluster: Redis refused {asked.purpose.value}: {value!r}")
            self._refuse(asked.ticket, ShareRefusal.NOT_SENT)

    def _refuse(self, ticket: int, why: ShareRefusal) -> None:
        """A script's refusal of a share, unless the share was answered meanwhile (failed when the
        subscription broke while its script was on its way: the core hears one answer for each)."""
        if ticket in self._in_flight:
            self._fail(ticket, why)

    def _on_request_failed(self, asked: _Request, *, sent: bool) -> None:
        if asked.purpose is _Purpose.STOP:
            self._stopped()
        elif asked.ticket and asked.ticket in self._in_flight:
            self._fail(asked.ticket, ShareRefusal.MAYBE_SENT if sent else ShareRefusal.NOT_SENT)

    def _fenced(self) -> None:
        """This node's epoch is no longer current (it was declared dead): register again."""
        if self.phase is Phase.JOINED or self.phase is Phase.SYNCING:
            self._log(LogLevel.WARNING, "cluster: this node was declared dead meanwhile; it rejoins")
            self._emit(ClusterChanged(status=ClusterStatus.INTERRUPTED))
            self._register()

    def _synced(self, value: list[RespValue]) -> None:
        """The snapshot: every node's epoch, and the last event it includes; then the core joins."""
        self._seq = _int(value[1])
        flat = value[3]
        self._epochs = {}
        if isinstance(flat, list):
            for node, epoch in zip(flat[::2], flat[1::2], strict=True):
                if isinstance(node, bytes):
                    self._epochs[node.decode(errors="replace")] = _int(epoch)
        self.phase = Phase.JOINED
        self._log(LogLevel.INFO, f"cluster: node {self.node_id} joined (epoch {self.epoch})")
        self._next_beat = self._now + BEAT_EVERY
        self._next_reap = self._now + REAP_EVERY
        buffered, self._buffer = self._buffer, []
        self._emit(ClusterChanged(status=ClusterStatus.JOINING))
        for data in buffered:  # (those the snapshot includes too: a hello in them wants an answer)
            self._on_all(data)

    # -- what other nodes share ------------------------------------------------------------

    def _on_all(self, data: bytes) -> None:
        """A directory event: numbered, in Redis' order; a gap means something was missed.

        Events that came while the node was syncing are handled too, even
        those the snapshot includes (a hello among them wants an answer),
        but the epochs they change are the snapshot's already.
        """
        if self.phase is Phase.SYNCING or self.phase is Phase.REGISTERING:
            self._buffer.append(data)
            return
        if self.phase is not Phase.JOINED:
            return
        parts = data.split(b"\t", 2)
        if len(parts) < 3 or not parts[0].isdigit():
            self._bad_message("an all-channel event that is not <seq> <kind> <fields>")
            return
        seq = int(parts[0])
        if seq > self._seq + 1:
            self._lost(f"directory events {self._seq + 1} to {seq - 1} were missed")
            self._register()
            return
        included = seq <= self._seq
        if not included:
            self._seq = seq
        kind, rest = parts[1], parts[2]
        if kind == b"UP":
            node, _, epoch = rest.partition(b"\t")
            if not included:
                self._epochs[node.decode(errors="replace")] = _int(epoch)
        elif kind == b"DOWN":
            name, _, reason_and_folds = rest.partition(b"\t")
            gone = name.decode(errors="replace")
            if gone == self.node_id:
                if not included:
                    self._fenced()
                return
            if not included:
                self._epochs.pop(gone, None)
            folds = reason_and_folds.split(b"\t")[1:]
            self._emit(NodeDown(keys=tuple(fold.decode(errors="replace") for fold in folds)))
        elif kind == b"NICK":
            self._on_message(rest.split(b"\t", 5)[-1])
        elif kind == b"QUIT":
            self._on_message(rest.split(b"\t", 3)[-1])
        elif kind == b"KILL":
            self._on_message(rest.split(b"\t", 4)[-1])
        elif kind == b"FACT":
            self._on_message(rest.split(b"\t", 1)[-1])

    def _on_message(self, data: bytes) -> None:
        """A shared item: to the core, unless its node was fenced since (a plain message)."""
        if not data:
            return
        ticket = self.codec.ticket_after(data, self._own_head)
        if ticket is not None:  # one of this node's own: its item is in hand, no need to decode it
            item = self._in_flight.pop(ticket, None)
            if item is not None:  # (else answered already, lost with the link, say: applied then)
                self._arrivals.append((item, ticket))
            return
        try:
            node, epoch, ticket, item = self.codec.read(data)
        except CodecError as exc:
            self._bad_message(str(exc))
            return
        if node == self.node_id:
            if ticket not in self._in_flight:
                return  # answered already (lost with the link, say): the core applied it then
            del self._in_flight[ticket]
        else:
            ticket = 0
            if self._epochs.get(node) != epoch:
                return  # its node was fenced since: every node drops it alike
        self._arrivals.append((item, ticket))

    def _bad_message(self, why: str) -> None:
        self._bad += 1
        if self._bad == 1 or self._bad % 1000 == 0:
            self._log(LogLevel.WARNING, f"cluster: a message that cannot be read ({self._bad} so far): {why}")

    # -- helpers -----------------------------------------------------------------------------

    def _node_channel(self, number: int) -> bytes:
        return self.names.node_channel(str(number))

    def _stopped(self) -> None:
        self.phase = Phase.STOPPED
        self._stop_by = None
        self.link.stop()

    def _emit(self, event: Event) -> None:
        if self._arrivals:
            self._events.append(FactsArrived(arrivals=tuple(self._arrivals)))
            self._arrivals.clear()
        self._events.append(event)

    def _take(self) -> list[Event]:
        if self._arrivals:
            self._events.append(FactsArrived(arrivals=tuple(self._arrivals)))
            self._arrivals.clear()
        events, self._events = self._events, []
        return events

    def _log(self, level: LogLevel, message: str) -> None:
        self.logs.append((level, message))


def _int(value: RespValue) -> int:
    """A number in a script's reply (an integer, or digits)."""
    if isinstance(value, int):
        return value
    if isinstance(value, bytes):
        return int(value)
    raise ValueError(f"not a number: {value!r}")

"""The chat rules: users, nicknames, operators, rooms, and who is told what.

The chat takes command objects from registered users and addresses reply
objects to audiences (``Deliveries``).  It never sees bytes, dialects or
connections: how a reply is spelled is a renderer's business, and which
connections receive it is the fan-out's.  What it needs of the server
running it (a user registered, a connection to close, input to hold while a
nickname claim waits) goes through ``Connections``.

A user may be in several rooms; "a text client is in at most one room" is
how text commands use the chat (``JOIN`` leaves the other rooms), and the
room a text command acts in is the room joined last.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Callable
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Protocol, assert_never

from . import _facts as facts
from ._actions import LogLevel
from ._cluster import ClusterSeat, Link, Round
from ._commands import (
    BadLine,
    BadUsage,
    ChangeNick,
    Command,
    Help,
    JoinRoom,
    Kick,
    Kill,
    LineFault,
    ListRooms,
    ListUsers,
    Oper,
    Ping,
    Quit,
    Say,
    Tell,
    Topic,
    UnknownCommand,
)
from ._config import MAX_OPER_FAILURES, ServerConfig
from ._facts import Fact
from ._nicknames import LocalNickRegistry, NickRegistry, is_valid_nickname, nick_key
from ._replies import (
    ClusterNews,
    ClusterNotice,
    Connected,
    Disconnected,
    EnteredRoom,
    Error,
    ErrorKind,
    Goodbye,
    HelpText,
    Identity,
    JoinedRoom,
    Kicked,
    KickedYou,
    KilledBy,
    LastWords,
    LeaveReason,
    LeftRoom,
    NickChanged,
    NickSet,
    OperGranted,
    Pong,
    Reply,
    RoomList,
    Said,
    Told,
    TopicIs,
    TopicSet,
    UserId,
    UserList,
    Welcome,
)
from ._rooms import LOBBY, MAX_TOPIC_CHARS, Room, is_valid_room_name, room_key
from ._shared import (
    Burst,
    ClusterStatus,
    Hello,
    Present,
    PresentUser,
    Share,
    Shared,
    ShareRefusal,
    node_of,
)
from ._users import User

_nick_of = attrgetter("nick")

_FAULT_ERRORS = {
    LineFault.INVALID_UTF8: Error(kind=ErrorKind.INVALID_UTF8),
    LineFault.CONTROL_CHARACTER: Error(kind=ErrorKind.CONTROL_CHARACTER),
}
_NOT_IN_A_ROOM = Error(kind=ErrorKind.NOT_IN_A_ROOM)
_ROOM_OPERATORS_ONLY = Error(kind=ErrorKind.ROOM_OPERATORS_ONLY)


class Deliveries(Protocol):
    """Where the chat sends replies, by audience, and tells of membership changes.

    A user without a connection here (of another server of a cluster, or
    one whose connection ended while its departure crosses the cluster) is
    passed by: only users connected here receive anything.
    """

    def entered(self, room: Room, user: User) -> None: ...
    def left(self, room: Room, user: User) -> None: ...
    def detach(self, user: User) -> None: ...
    def to_user(self, user: User, reply: Reply) -> None: ...
    def echo(self, user: User, reply: Said | Told) -> None: ...
    def to_room(self, room: Room, reply: Reply, but: User | None = None) -> None: ...
    def to_rooms(
        self, rooms: tuple[Room, ...], reply: Reply, but: User | None = None, also: User | None = None
    ) -> None: ...
    def to_everyone(self, reply: Reply) -> None: ...


class Connections(Protocol):
    """What the chat needs of the server about its users' connections."""

    def registered(self, user: User) -> None:
        """``user`` got its first nickname: it is in the chat."""
        ...

    def claim_pending(self, user: User) -> None:
        """Something of ``user``'s waits (a claim, a shared fact): its next lines must wait too."""
        ...

    def claim_settled(self, user: User) -> None:
        """Nothing of ``user``'s waits any more: its lines may go on (it may leave meanwhile)."""
        ...

    def close(self, user: User) -> None:
        """Close ``user``'s connection here, if it has one, once what is queued for it is sent."""
        ...


class _Purpose(enum.Enum):
    """What a nickname claim, or a shared fact, is for."""

    GUEST = "a guest name at registration"
    RENAME = "a change of nickname"
    SAVE = "a guest name for a user whose nickname was taken while cut off"
    OTHER = "any other change"


@dataclass(slots=True, kw_only=True)
class _Claim:
    """A claim waiting for its answer; ``user`` is None once the claimant has gone."""

    user: User | None
    key: str
    nick: str
    purpose: _Purpose
    number: int = 0  # of a guest name
    peer: str = ""  # of a registration, for the log


@dataclass(slots=True, kw_only=True)
class _Sharing:
    """A shared item on its way; ``user`` (held until it is back) is None once it has gone, or for none."""

    user: User | None
    item: Shared
    purpose: _Purpose
    key: str = ""  # the nickname key it takes
    detail: str = ""  # what an error about it names (the nickname typed)
    follow: str = ""  # a room followed for it until it is back


class Chat:
    """The chat of docs/protocol.md, for every dialect.

    Every command is decided first (``handle``: checked against the state,
    errors back to the asker at once), then what it changes is a fact.  A
    lone server gives it to ``apply`` at once, the one place where the state
    changes and deliveries are addressed.  A server of a cluster (with a
    ``seat``) shares it instead, holds the user's next lines, and applies it
    when it comes back (``arrived``), in the cluster's order, as every other
    server does; while its link is down it applies its users' facts at once.
    """

    def __init__(
        self,
        config: ServerConfig,
        deliveries: Deliveries,
        connections: Connections,
        log: Callable[[LogLevel, str], None],
        registry: NickRegistry | None = None,
        *,
        seat: ClusterSeat | None = None,
    ) -> None:
        self._config = config
        self._out = deliveries
        self._connections = connections
        self._log = log
        self._registry: NickRegistry = registry if registry is not None else LocalNickRegistry()
        self._seat = seat
        self._users: dict[str, User] = {}  # by nickname key: every user with a nickname
        self._by_id: dict[UserId, User] = {}  # every user who arrived, named or not yet
        lobby = Room(LOBBY)
        self._lobby = lobby
        self._rooms: dict[str, Room] = {lobby.key: lobby}  # by key: #lobby, then in order of creation
        self._claims: dict[int, _Claim] = {}  # waiting for an answer, by claim number
        self._last_claim = 0
        self._shares: dict[int, _Sharing] = {}  # on their way through the cluster, by ticket
        self._held: dict[User, int] = {}  # claims and shares each user waits for
        self._saving = 0  # users renamed after a burst, before this server says hello
        self._pongs: list[tuple[int, User, str]] = []  # (last share before it, asker, token)
        self._oper_failures: dict[User, int] = {}  # only users who failed

    # -- arriving -----------------------------------------------------------------------

    def arrive(self, user: User, number: int, peer: str) -> None:
        """A client that joins at once: named ``guest<number>`` (or the next free number), in ``#lobby``.

        In a cluster the number comes from the server's lease instead.
        """
        self._by_id[user.uid] = user
        self._arrive(user, number if self._seat is None else self._seat.next_guest(), peer)

    def _arrive(self, user: User, number: int, peer: str) -> None:
        seat = self._seat
        while True:
            nick = f"guest{number}"  # already case-folded: its own key
            if nick not in self._users:
                if seat is not None and seat.sharing:
                    fact = facts.Registered(user=user.uid, nick=nick, peer=peer)
                    self._share(fact, user, _Purpose.GUEST, take=nick, follow=self._lobby.key, key=nick)
                    return
                answer = self._claim(user, nick, nick, _Purpose.GUEST, number=number, peer=peer)
                if answer is None:
                    return
                if answer:
                    self.apply(facts.Registered(user=user.uid, nick=nick, peer=peer))
                    return
            number = number + 1 if seat is None else seat.next_guest()

    # -- nickname claims ------------------------------------------------------------------

    def _claim(
        self, user: User, key: str, nick: str, purpose: _Purpose, *, number: int = 0, peer: str = ""
    ) -> bool | None:
        """Ask the registry for ``key``: its answer, or None when it comes later."""
        self._last_claim += 1
        claim = self._last_claim
        answer = self._registry.claim(claim, key)
        if answer is None:
            self._claims[claim] = _Claim(
                user=user, key=key, nick=nick, purpose=purpose, number=number, peer=peer
            )
            self._hold(user)
        return answer

    def claim_answered(self, claim: int, granted: bool) -> None:
        """The registry's late answer to ``claim``; unknown or repeated answers are ignored."""
        waiting = self._claims.pop(claim, None)
        if waiting is None:
            return
        user = waiting.user
        if user is None:  # the claimant left meanwhile
            if granted:
                self._registry.release(waiting.key)
            return
        if granted and waiting.key in self._users:  # a registry that granted one name twice
            granted = False
        match waiting.purpose:
            case _Purpose.GUEST:
                if granted:
                    fact = facts.Registered(user=user.uid, nick=waiting.nick, peer=waiting.peer)
                    self.apply(fact)
                else:
                    self._arrive(user, waiting.number + 1, waiting.peer)
            case _Purpose.RENAME:
                if granted:
                    self.apply(facts.Renamed(user=user.uid, new=waiting.nick))
                else:
                    self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=waiting.nick))
            case _Purpose.SAVE | _Purpose.OTHER:  # pragma: no cover - only shares are for these
                raise AssertionError(waiting.purpose)
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(waiting.purpose)
        self._unhold(user)

    def _hold(self, user: User) -> None:
        """One more thing of ``user``'s waits: its lines wait from the first."""
        count = self._held.get(user, 0)
        self._held[user] = count + 1
        if not count:
            self._connections.claim_pending(user)

    def _unhold(self, user: User) -> None:
        """One thing fewer waits; after the last, its lines go on."""
        count = self._held[user] - 1
        if count:
            self._held[user] = count
        else:
            del self._held[user]
            self._connections.claim_settled(user)

    # -- commands: deciding ----------------------------------------------------------------

    def handle(self, user: User, command: Command) -> None:
        """Carry out one command of a registered user: errors at once, changes as facts."""
        match command:
            case Say():  # the hot path: a plain class pattern is the cheapest
                self._say(user, command)
            case ChangeNick(nick=nick):
                self._change_nick(user, nick)
            case Tell(nick=nick, text=text):
                self._tell(user, nick, text)
            case JoinRoom(room=name, typed=typed, alone=alone):
                self._join(user, name, typed, alone=alone)
            case ListUsers(room=name, typed=typed):
                self._who(user, name, typed)
            case ListRooms():
                rooms = tuple((room.name, len(room.members)) for room in self._rooms.values())
                self._reply(user, RoomList(rooms=rooms))
            case Topic(text=text):
                self._topic(user, text)
            case Kick(nick=nick, reason=reason):
                self._kick(user, nick, reason)
            case Quit(text=text):
                self._commit(facts.Quitted(user=user.uid, text=text), user, free=user.key)
            case Kill(nick=nick, text=text):
                self._kill(user, nick, text)
            case Oper(password=password):
                self._oper(user, password)
            case Help():
                self._reply(user, HelpText())
            case Ping(token=token):
                self._ping(user, token)
            case BadUsage(command=name):
                self._reply(user, Error(kind=ErrorKind.USAGE, detail=name.value))
            case UnknownCommand(word=word):
                self._reply(user, Error(kind=ErrorKind.INVALID_COMMAND, detail=word))
            case BadLine(fault=fault):
                self._reply(user, _FAULT_ERRORS[fault])
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(command)

    def _commit(
        self,
        fact: Fact,
        user: User | None,
        *,
        follow: str = "",
        users: tuple[UserId, ...] = (),
        free: str = "",
    ) -> None:
        """A decided fact: applied at once by a lone server (or one cut off), else shared.

        ``user``: whose next lines wait until it is back; the rest: where it
        goes and what it changes in the directory (see ``Share``).
        """
        seat = self._seat
        if seat is None or not seat.sharing:
            self.apply(fact)
        else:
            self._share(fact, user, _Purpose.OTHER, follow=follow, users=users, free=free)

    def _share(
        self,
        item: Shared,
        user: User | None,
        purpose: _Purpose,
        *,
        key: str = "",
        detail: str = "",
        follow: str = "",
        room: str = "",
        users: tuple[UserId, ...] = (),
        take: str = "",
        free: str = "",
        evict: str = "",
    ) -> None:
        seat = self._seat
        assert seat is not None
        ticket = seat.ticket()
        owner = 0
        if take or free:
            owner = user.uid if user is not None else _owner(item)
        if follow:
            seat.follow(follow)
        self._shares[ticket] = _Sharing(
            user=user, item=item, purpose=purpose, key=key, detail=detail, follow=follow
        )
        if user is not None:
            self._hold(user)
        seat.emit(
            Share(
                ticket=ticket,
                item=item,
                room=room,
                users=users,
                owner=owner,
                take=take,
                free=free,
                evict=evict,
                follow=follow,
            )
        )

    def _ping(self, user: User, token: str) -> None:
        """``PONG``, the barrier of the protocol: after everything this server shared before it is back.

        On a lone server that is at once.  In a cluster, words and facts of
        this server's users may still be crossing it: the answer waits for
        them (and the asker's next lines with it), so that a client that
        waits for its ``PONG`` has seen what was decided before, as on a
        lone server.
        """
        shares = self._shares
        if not shares:
            self._reply(user, Pong(token=token))
            return
        self._pongs.append((next(reversed(shares)), user, token))
        self._hold(user)

    def _answer_pongs(self) -> None:
        """The ``PONG``s whose shares before them are all back (or failed)."""
        pongs = self._pongs
        oldest = next(iter(self._shares), None)
        while pongs and (oldest is None or pongs[0][0] < oldest):
            _, user, token = pongs.pop(0)
            if user in self._held:  # (not if it left meanwhile)
                self._reply(user, Pong(token=token))
                self._unhold(user)

    def _say(self, user: User, command: Say) -> None:
        rooms = user.rooms
        if not rooms:
            self._reply(user, _NOT_IN_A_ROOM)
            return
        room = rooms[-1]  # user.room, inline: this is the hot path
        said = Said(source=user.identity, room=room.name, text=command.text, action=command.action)
        seat = self._seat
        if seat is None or not seat.sharing:
            self.apply(said)
        else:  # words wait for nothing: the speaker's next lines go on
            self._share(said, None, _Purpose.OTHER, room=room.key)

    def _tell(self, user: User, nick: str, text: str) -> None:
        recipient = self._users.get(nick_key(nick))
        if recipient is None:
            self._reply(user, Error(kind=ErrorKind.NO_SUCH_NICK, detail=nick))
            return
        told = Told(source=user.identity, recipient=recipient.nick, text=text)
        self._commit(
            facts.Whispered(recipient=recipient.uid, told=told), None, users=(recipient.uid, user.uid)
        )

    def _who(self, user: User, name: str | None, typed: str) -> None:
        if name is None:
            room = user.room
            if room is None:
                self._reply(user, _NOT_IN_A_ROOM)
            else:
                self._reply(user, _user_list(room, named=False))
            return
        named = self._rooms.get(room_key(name))
        if named is None:
            self._reply(user, Error(kind=ErrorKind.NO_SUCH_ROOM, detail=typed))
        else:
            self._reply(user, _user_list(named, named=True))

    def _change_nick(self, user: User, new: str) -> None:
        if not is_valid_nickname(new):
            self._reply(user, Error(kind=ErrorKind.INVALID_NICK, detail=new))
            return
        key = nick_key(new)
        if key != user.key and key in self._users:
            self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=new))
            return
        seat = self._seat
        if seat is not None:  # the cluster's directory decides, in one step with the others
            if not seat.sharing:
                self._reply(user, Error(kind=ErrorKind.CLUSTER_UNAVAILABLE))
                return
            fact = facts.Renamed(user=user.uid, new=new)
            self._share(fact, user, _Purpose.RENAME, key=key, detail=new, take=key, free=user.key)
            return
        if key != user.key:
            answer = self._claim(user, key, new, _Purpose.RENAME)
            if answer is None:
                return
            if not answer:
                self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=new))
                return
        self.apply(facts.Renamed(user=user.uid, new=new))

    def _join(self, user: User, name: str, typed: str, *, alone: bool) -> None:
        if not is_valid_room_name(name):
            self._reply(user, Error(kind=ErrorKind.INVALID_ROOM, detail=typed))
            return
        key = room_key(name)
        room = self._rooms.get(key)
        if room is not None and room in user.rooms:
            self._reply(user, Error(kind=ErrorKind.ALREADY_IN_ROOM, detail=room.name))
            return
        leaving = tuple(old.key for old in user.rooms) if alone else ()
        self._commit(facts.Joined(user=user.uid, name=name, leaving=leaving), user, follow=key)

    def _may_run(self, user: User, room: Room) -> bool:
        """Room operators, and server operators everywhere."""
        return user.is_operator or user in room.operators

    def _topic(self, user: User, text: str) -> None:
        room = user.room
        if room is None:
            self._reply(user, _NOT_IN_A_ROOM)
        elif not text:
            self._reply(user, TopicIs(room=room.name, topic=room.topic))
        elif not self._may_run(user, room):
            self._reply(user, _ROOM_OPERATORS_ONLY)
        elif len(text) > MAX_TOPIC_CHARS:
            self._reply(user, Error(kind=ErrorKind.TOPIC_TOO_LONG, detail=str(MAX_TOPIC_CHARS)))
        else:
            self._commit(facts.TopicChanged(user=user.identity, room=room.key, topic=text), user)

    def _kick(self, user: User, nick: str, reason: str) -> None:
        room = user.room
        if room is None:
            self._reply(user, _NOT_IN_A_ROOM)
            return
        if not self._may_run(user, room):
            self._reply(user, _ROOM_OPERATORS_ONLY)
            return
        victim = self._users.get(nick_key(nick))
        if victim is None or room not in victim.rooms:
            self._reply(user, Error(kind=ErrorKind.NOT_IN_ROOM, detail=nick, room=room.name))
            return
        fact = facts.Kicked(kicker=user.identity, room=room.key, victim=victim.uid, reason=reason)
        self._commit(fact, user)

    def _kill(self, killer: User, nick: str, text: str) -> None:
        if not killer.is_operator:
            self._reply(killer, Error(kind=ErrorKind.PERMISSION_DENIED))
            return
        victim = self._users.get(nick_key(nick))
        if victim is None:
            self._reply(killer, Error(kind=ErrorKind.NO_SUCH_NICK, detail=nick))
            return
        if victim is killer:
            self._reply(killer, Error(kind=ErrorKind.KILL_SELF))
            return
        fact = facts.Killed(killer=killer.identity, victim=victim.uid, text=text)
        seat = self._seat
        if seat is None or not seat.sharing:
            self.apply(fact)
        else:
            self._share(fact, killer, _Purpose.OTHER, detail=nick, evict=victim.key)

    def _oper(self, user: User, password: str) -> None:
        expected = self._config.oper_password
        if expected and hmac.compare_digest(password.encode(), expected.encode()):
            self._commit(facts.BecameOperator(user=user.uid), user)
            return
        failures = self._oper_failures[user] = self._oper_failures.get(user, 0) + 1
        self._log(LogLevel.WARNING, f"{user.nick} failed OPER ({failures}/{MAX_OPER_FAILURES})")
        if failures < MAX_OPER_FAILURES:
            self._reply(user, Error(kind=ErrorKind.WRONG_PASSWORD))
            return
        self._reply(user, Error(kind=ErrorKind.TOO_MANY_OPER_FAILURES))
        fact = facts.Dropped(user=user.uid, reason=LeaveReason.OPER_FAILURES, close=True)
        self._commit(fact, user, free=user.key)

    def leave(self, user: User, reason: LeaveReason, *, aborted: bool = False) -> bool:
        """A registered user's connection ended (EOF, reset, too slow): tell the others.

        In a cluster its departure crosses the others first.  True: the
        chat closes the connection when it is back (it is the last thing
        its client gets, as on a lone server); an ``aborted`` connection
        is gone at once, and the user stays in the chat without one
        meanwhile.
        """
        seat = self._seat
        if seat is None or not seat.sharing:
            self.apply(facts.Dropped(user=user.uid, reason=reason))
            return False
        if aborted:
            self._forget_claims(user)
            self._out.detach(user)
        fact = facts.Dropped(user=user.uid, reason=reason, close=not aborted)
        self._share(fact, None, _Purpose.OTHER, free=user.key)
        return not aborted

    def abandon(self, user: User) -> None:
        """A connection that never got its first nickname ended: forget it and its claims."""
        self._by_id.pop(user.uid, None)
        self._forget_claims(user)

    # -- the cluster: what comes back, and the link -----------------------------------------

    def arrived(self, arrivals: tuple[tuple[Shared, int], ...], now: float) -> None:
        """Shared items back from the cluster, in its order: each applied, this server's own settled.

        An item of this server's own whose share already failed (it was
        applied here then) is not applied twice.
        """
        seat = self._seat
        assert seat is not None
        for item, ticket in arrivals:
            sharing = None
            if ticket:
                sharing = self._shares.pop(ticket, None)
                if sharing is None:
                    continue
            match item:
                case Said() | facts.Whispered():  # words change nothing: no round keeps them
                    self.apply(item)
                case Hello():
                    self._hello(item, now)
                case Present():
                    self._present(item)
                case _:
                    seat.keep(item, item.user if isinstance(item, facts.Registered) else None)
                    self.apply(item)
            if sharing is not None:
                self._settle(sharing, back=True)

    def _settle(self, sharing: _Sharing, *, back: bool) -> None:
        """A share of this server's came ``back``, or failed: whoever waited for it goes on."""
        user = sharing.user
        if user is not None:
            if user in self._held:  # (not if the fact itself was its departure)
                self._unhold(user)
        elif back and sharing.purpose is _Purpose.GUEST:  # granted to a connection gone meanwhile
            item = sharing.item
            assert isinstance(item, facts.Registered)
            fact = facts.Dropped(user=item.user, reason=LeaveReason.LEFT)
            self._share(fact, None, _Purpose.OTHER, free=sharing.key)
        if sharing.follow:
            seat = self._seat
            assert seat is not None
            seat.unfollow(sharing.follow)
        if sharing.purpose is _Purpose.SAVE:
            self._saving -= 1
            if not self._saving:
                self._say_hello()
        if self._pongs:
            self._answer_pongs()

    def share_failed(self, ticket: int, why: ShareRefusal) -> None:
        """The share ``ticket`` did not go through: its asker is told, or it applies here alone."""
        sharing = self._shares.pop(ticket, None)
        if sharing is None:
            return
        user, item, purpose = sharing.user, sharing.item, sharing.purpose
        seat = self._seat
        assert seat is not None
        if why is ShareRefusal.TAKEN and purpose is _Purpose.GUEST:
            if user is not None:
                assert isinstance(item, facts.Registered)
                self._arrive(user, seat.next_guest(), item.peer)
        elif why is ShareRefusal.TAKEN and purpose is _Purpose.SAVE:
            if user is not None:
                self._save(user)
        elif purpose is _Purpose.RENAME:
            if user is not None:
                kind = ErrorKind.NICK_IN_USE if why is ShareRefusal.TAKEN else ErrorKind.CLUSTER_UNAVAILABLE
                self._reply(user, Error(kind=kind, detail=sharing.detail))
        elif why is ShareRefusal.NO_SUCH:  # a kill whose victim left meanwhile
            if user is not None:
                self._reply(user, Error(kind=ErrorKind.NO_SUCH_NICK, detail=sharing.detail))
        elif isinstance(item, Hello | Present):
            pass  # the link broke: this server says hello again when it is back
        elif user is not None or purpose is not _Purpose.GUEST:
            self.apply(item)  # cut off: it happens here alone, as while the link is down
        self._settle(sharing, back=False)

    def cluster_changed(self, status: ClusterStatus) -> None:
        """The link with the other servers broke, stayed broken, or is back."""
        seat = self._seat
        assert seat is not None
        match status:
            case ClusterStatus.INTERRUPTED:
                seat.relinked(Link.OFFLINE)
                seat.missed = True
            case ClusterStatus.DOWN:
                seat.relinked(Link.OFFLINE)
                if not seat.down:
                    seat.down = True
                    for user in [user for user in self._by_id.values() if not self._is_local(user)]:
                        self._vanish(user)
                    self._out.to_everyone(ClusterNotice(news=ClusterNews.LOST_CONTACT))
                    self._log(
                        LogLevel.WARNING,
                        "lost contact with the other servers: serving this one's users alone",
                    )
            case ClusterStatus.JOINING:
                seat.relinked(Link.JOINING)
                seat.lease()
                mine = tuple(
                    (user.uid, user.key, user.nick)
                    for user in self._by_id.values()
                    if user.nick and self._is_local(user) and self._users.get(user.key) is user
                )
                seat.emit(Burst(users=mine))
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(status)

    def burst_answered(self, refused: tuple[UserId, ...]) -> None:
        """The directory holds this server's users again, but ``refused``: their nicknames were taken."""
        for uid in refused:
            user = self._users_by_id(uid)
            if user is None or self._users.get(user.key) is not user:
                continue
            del self._users[user.key]  # someone else's now: this user waits for a guest name
            self._reply(user, ClusterNotice(news=ClusterNews.NICK_TAKEN, detail=user.nick))
            self._log(LogLevel.INFO, f"{user.nick} was taken while this server was cut off")
            self._save(user)
        if not self._saving:
            self._say_hello()

    def _save(self, user: User) -> None:
        """A guest name for ``user``, whose nickname someone else took while this server was cut off."""
        seat = self._seat
        assert seat is not None
        number = seat.next_guest()
        while f"guest{number}" in self._users:
            number = seat.next_guest()
        nick = f"guest{number}"
        self._saving += 1
        self._share(facts.Renamed(user=user.uid, new=nick), user, _Purpose.SAVE, key=nick, take=nick)

    def _say_hello(self) -> None:
        """Every user of this server holds its nickname again: ask every server for its users."""
        seat = self._seat
        assert seat is not None
        if seat.link is Link.JOINING:
            seat.hellos += 1
            self._share(Hello(node=seat.node, round=seat.hellos), None, _Purpose.OTHER)

    def _hello(self, hello: Hello, now: float) -> None:
        """A server (this one, or another) said hello: keep what follows a moment, and answer."""
        seat = self._seat
        assert seat is not None
        seat.start_round(hello.node, hello.round, now)
        if hello.node == seat.node:
            if seat.link is not Link.JOINING or hello.round != seat.hellos:
                return  # an older hello of this server's, or it was cut off again since
            seat.relinked(Link.LINKED)
            if seat.down:
                self._out.to_everyone(ClusterNotice(news=ClusterNews.RESTORED))
                self._log(LogLevel.INFO, "contact with the other servers restored")
            elif seat.missed:
                self._out.to_everyone(ClusterNotice(news=ClusterNews.MAY_HAVE_LOST))
            seat.down = seat.missed = False
        if seat.sharing:
            self._share(self._present_users(hello), None, _Purpose.OTHER)

    def _present_users(self, hello: Hello) -> Present:
        """This server's users as they are now, for the server that said ``hello``."""
        seat = self._seat
        assert seat is not None
        users = []
        topics: dict[str, str] = {}
        for user in self._by_id.values():
            if user.nick and self._is_local(user) and self._users.get(user.key) is user:
                rooms = tuple((room.name, user in room.operators) for room in user.rooms)
                users.append(
                    PresentUser(uid=user.uid, nick=user.nick, operator=user.is_operator, rooms=rooms)
                )
                topics.update((room.name, room.topic) for room in user.rooms if room.topic)
        return Present(
            node=seat.node, to=hello.node, round=hello.round, users=tuple(users), topics=tuple(topics.items())
        )

    def _present(self, present: Present) -> None:
        """Another server's users as they were at a hello: take them as they are, then what followed."""
        seat = self._seat
        assert seat is not None
        node = present.node
        if node == seat.node:
            return  # this server's own users are the truth here
        for open_round in seat.rounds.values():  # (an answer to a later hello counts as one)
            open_round.answered.add(node)
        round_ = seat.rounds.get((present.to, present.round))
        born = round_.born if round_ is not None else set()
        quiet = present.to == seat.node  # this server's own return: its users were told in one line
        listed = {user.uid for user in present.users}
        for user in [user for user in self._by_id.values() if node_of(user.uid) == node and user.nick]:
            if user.uid not in listed and user.uid not in born:
                self._depart(user, Disconnected(nick=user.nick, reason=LeaveReason.LEFT))
        topics = dict(present.topics)
        for listed_user in present.users:
            self._place(listed_user, topics, quiet=quiet)
        if round_ is not None:
            for fact in round_.facts:  # what followed the hello, over the state it describes
                if _concerns(fact, node):
                    self.apply(fact)

    def _place(self, listed: PresentUser, topics: dict[str, str], *, quiet: bool) -> None:
        """Make a user of another server as its server says it is (telling the members who see a change)."""
        key = nick_key(listed.nick)
        holder = self._users.get(key)
        user = self._by_id.get(listed.uid)
        if user is None:
            if holder is not None:
                return  # someone here holds its nickname: it is renamed soon, the other or this one
            user = self._by_id[listed.uid] = User(listed.uid, None)
            user.nick = listed.nick
            self._users[key] = user
        elif user.nick != listed.nick:
            if holder is not None and holder is not user:
                return
            old = user.nick
            del self._users[user.key]  # a user of another server always holds its key here
            user.nick = listed.nick
            self._users[key] = user
            if not quiet:
                self._out.to_rooms(user.rooms, NickChanged(old=old, new=user.nick))
        user.is_operator = listed.operator
        wanted = {room_key(name) for name, _ in listed.rooms}
        for room in tuple(user.rooms):
            if room.key not in wanted:
                self._leave_room(user, room)
                if not quiet:
                    self._out.to_room(room, LeftRoom(nick=user.nick, room=room.name))
        for name, operator in listed.rooms:
            found = self._rooms.get(room_key(name))
            if found is None:
                found = self._rooms[room_key(name)] = Room(name)
                found.topic = topics.get(name, "")
            if found not in user.rooms:
                if not quiet:
                    self._out.to_room(found, JoinedRoom(nick=user.nick, room=found.name))
                self._enter(user, found)
            if operator:
                found.operators.add(user)
            else:
                found.operators.discard(user)

    def node_down(self, keys: tuple[str, ...]) -> None:
        """Another server stopped or died: its users (by nickname key) leave the chat."""
        for key in keys:
            user = self._users.get(key)
            if user is not None and not self._is_local(user):
                self._depart(user, Disconnected(nick=user.nick, reason=LeaveReason.SERVER_DOWN))

    def guests_leased(self, first: int, last: int) -> None:
        seat = self._seat
        assert seat is not None
        seat.leased(first, last)

    def tick(self, now: float) -> None:
        """Rounds over: after this server's last, the users of servers that never answered it go."""
        seat = self._seat
        if seat is None:
            return
        for ended in seat.ended_rounds(now):
            if ended.node == seat.node and ended.number == seat.hellos:
                self._forget_silent(ended)

    def _forget_silent(self, ended: Round) -> None:
        for user in [user for user in self._by_id.values() if user.nick and not self._is_local(user)]:
            if node_of(user.uid) not in ended.answered:
                self._depart(user, Disconnected(nick=user.nick, reason=LeaveReason.SERVER_DOWN))

    def _is_local(self, user: User) -> bool:
        """Whether ``user`` is (or was, its departure on its way) connected to this server."""
        seat = self._seat
        return seat is None or node_of(user.uid) == seat.node

    def _vanish(self, user: User) -> None:
        """Forget a user of another server without a word (this server's users are told in one line)."""
        for room in user.rooms:
            self._leave_room(user, room)
        del self._users[user.key]  # a user of another server always holds its key here
        del self._by_id[user.uid]

    # -- facts: applying --------------------------------------------------------------------

    def apply(self, fact: Fact) -> None:
        """Change the state for ``fact`` and address what it tells whom; a stale fact does nothing.

        Deterministic: the same facts in the same order leave the same
        state and make the same deliveries, wherever they are applied.
        """
        match fact:
            case Said():  # the hot path first: a plain class pattern is the cheapest
                room = self._rooms.get(fact.room.casefold())  # room_key, inline
                if room is None:
                    return
                speaker = self._by_id.get(fact.source.uid)
                if speaker is not None and room in speaker.rooms:
                    self._out.to_room(room, fact, speaker)
                    self._out.echo(speaker, fact)
                else:  # the speaker left meanwhile: its words still reach the room
                    self._out.to_room(room, fact)
            case facts.Whispered(recipient=recipient_id, told=told):
                recipient = self._users_by_id(recipient_id)
                if recipient is not None:
                    self._out.to_user(recipient, told)
                    sender = self._users_by_id(told.source.uid)
                    if sender is not None:
                        self._out.echo(sender, told)
            case facts.Registered():
                self._apply_registered(fact)
            case facts.Renamed(user=uid, new=new):
                user = self._users_by_id(uid)
                if user is not None:
                    self._apply_renamed(user, new)
            case facts.Joined():
                self._apply_joined(fact)
            case facts.TopicChanged(user=setter, room=key, topic=topic):
                room = self._rooms.get(key)
                if room is not None:
                    room.topic = topic
                    self._out.to_room(room, TopicSet(nick=setter.nick, room=room.name, topic=topic))
                    self._log(LogLevel.INFO, f"{setter.nick} set the topic of {room.name}")
            case facts.Kicked():
                self._apply_kicked(fact)
            case facts.BecameOperator(user=uid):
                user = self._users_by_id(uid)
                if user is not None:
                    user.is_operator = True
                    self._reply(user, OperGranted())
                    self._log(LogLevel.INFO, f"{user.nick} is now an operator")
            case facts.Quitted(user=uid, text=text):
                user = self._users_by_id(uid)
                if user is not None:
                    if text:
                        self._out.to_rooms(user.rooms, LastWords(nick=user.nick, text=text), but=user)
                    self._reply(user, Goodbye(nick=user.nick))
                    self._depart(user, Disconnected(nick=user.nick, reason=LeaveReason.LEFT, text=text))
                    self._connections.close(user)
            case facts.Killed(killer=killer, victim=victim_id, text=text):
                victim = self._users_by_id(victim_id)
                if victim is not None:
                    self._out.to_user(victim, KilledBy(killer=killer.nick, text=text))
                    notice = Disconnected(nick=victim.nick, reason=LeaveReason.KILLED, killer=killer.nick)
                    self._depart(victim, notice, also=self._users_by_id(killer.uid))
                    self._connections.close(victim)
            case facts.Dropped(user=uid, reason=reason, close=close):
                user = self._users_by_id(uid)
                if user is not None:
                    self._depart(user, Disconnected(nick=user.nick, reason=reason))
                    if close:
                        self._connections.close(user)
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(fact)

    def _users_by_id(self, uid: UserId) -> User | None:
        """The registered user with id ``uid``, if it is still there."""
        user = self._by_id.get(uid)
        return user if user is not None and user.nick else None

    def _apply_registered(self, fact: facts.Registered) -> None:
        nick = fact.nick
        key = nick_key(nick)
        if key in self._users:  # registered already, or (in a cluster cut off a moment) a clash
            return
        user = self._by_id.get(fact.user)
        if user is None:
            seat = self._seat
            if seat is None or node_of(fact.user) == seat.node:
                return  # gone
            user = self._by_id[fact.user] = User(fact.user, None)  # a user of another server
        elif user.nick:
            return
        user.nick = nick
        self._users[key] = user
        self._connections.registered(user)
        self._out.to_user(user, Welcome(nick=nick))
        lobby = self._lobby
        self._out.to_room(lobby, Connected(nick=nick, room=lobby.name))  # before it enters: the others
        self._enter(user, lobby)
        self._log(LogLevel.INFO, f"{nick} connected from {fact.peer}")

    def _apply_renamed(self, user: User, new: str) -> None:
        """``user`` holds the key of ``new``: tell it, and everyone who shares a room with it."""
        old = user.nick
        self._reply(user, NickSet(nick=new))
        if new == old:
            return
        old_key = user.key
        key = nick_key(new)
        holder = self._users.get(key)
        if holder is not None and holder is not user:  # a clash, in a cluster cut off a moment
            return
        if self._users.get(old_key) is user:  # not after its nickname was taken while cut off
            del self._users[old_key]
        user.nick = new
        self._users[key] = user
        if key != old_key:
            self._registry.release(old_key)
        self._out.to_rooms(user.rooms, NickChanged(old=old, new=new), but=user)
        self._log(LogLevel.INFO, f"{old} is now known as {new}")

    def _apply_joined(self, fact: facts.Joined) -> None:
        user = self._users_by_id(fact.user)
        if user is None:
            return
        key = room_key(fact.name)
        for old in tuple(user.rooms):
            if old.key in fact.leaving and old.key != key:
                self._leave_room(user, old)
                self._out.to_room(old, LeftRoom(nick=user.nick, room=old.name))
        room = self._rooms.get(key)
        if room is not None and room in user.rooms:
            return
        if room is None:
            room = self._rooms[key] = Room(fact.name)
            room.operators.add(user)  # its creator
        self._out.to_room(room, JoinedRoom(nick=user.nick, room=room.name))  # before it enters: the others
        self._enter(user, room)
        self._reply(user, EnteredRoom(nick=user.nick, room=room.name))
        self._reply(user, _user_list(room, named=True))
        if room.topic:
            self._reply(user, TopicIs(room=room.name, topic=room.topic))

    def _apply_kicked(self, fact: facts.Kicked) -> None:
        victim = self._users_by_id(fact.victim)
        room = self._rooms.get(fact.room)
        if victim is None or room is None or room not in victim.rooms:
            return
        kicker, reason = fact.kicker.nick, fact.reason
        self._out.to_user(victim, KickedYou(room=room.name, victim=victim.nick, kicker=kicker, reason=reason))
        self._leave_room(victim, room)
        self._out.to_room(room, Kicked(room=room.name, victim=victim.nick, kicker=kicker, reason=reason))
        self._log(LogLevel.INFO, f"{victim.nick} was kicked from {room.name} by {kicker}")

    def _enter(self, user: User, room: Room) -> None:
        room.add(user)
        user.rooms = (*user.rooms, room) if user.rooms else room.alone
        self._out.entered(room, user)

    def _leave_room(self, user: User, room: Room) -> None:
        """Take ``user`` out of ``room``, which goes if it is left empty (but ``#lobby``)."""
        room.remove(user)
        rooms = tuple(other for other in user.rooms if other is not room)
        user.rooms = rooms[0].alone if len(rooms) == 1 else rooms
        self._out.left(room, user)
        if not room.members and room is not self._lobby:
            del self._rooms[room.key]

    def _depart(self, user: User, notice: Disconnected, also: User | None = None) -> None:
        """``user`` leaves the chat: out of its rooms, its nickname free, everyone who shared a room told."""
        rooms = user.rooms
        for room in rooms:
            self._leave_room(user, room)
        key = user.key
        if self._users.get(key) is user:
            del self._users[key]
        del self._by_id[user.uid]
        self._registry.release(key)
        self._oper_failures.pop(user, None)
        self._forget_claims(user)
        self._out.to_rooms(rooms, notice, also=also)
        reason = (
            notice.reason.value if notice.reason is not LeaveReason.KILLED else f"killed by {notice.killer}"
        )
        self._log(LogLevel.INFO, f"{user.nick} disconnected ({reason})")

    def _forget_claims(self, user: User) -> None:
        """``user``'s connection has gone: nothing it waited for holds anything any more."""
        for waiting in self._claims.values():
            if waiting.user is user:
                waiting.user = None
        if self._held.pop(user, None) is not None:
            for sharing in self._shares.values():
                if sharing.user is user:
                    sharing.user = None

    # -- replies ------------------------------------------------------------------------------

    def _reply(self, user: User, reply: Reply) -> None:
        self._out.to_user(user, reply)


def _owner(item: Shared) -> UserId:
    """The user whose nickname a share takes or frees when the user has gone (a departure)."""
    assert isinstance(item, facts.Registered | facts.Dropped)
    return item.user


def _concerns(fact: Fact, node: int) -> bool:
    """Whether ``fact`` names a user of server ``node`` (in a field of type ``UserId`` or ``Identity``)."""
    for field in fields(fact):
        if field.type in ("UserId", "Identity"):
            value = getattr(fact, field.name)
            uid = value.uid if isinstance(value, Identity) else value
            if node_of(uid) == node:
                return True
    return False


def _user_list(room: Room, *, named: bool) -> UserList:
    return UserList(
        room=room.name,
        nicks=tuple(map(_nick_of, room.members)),
        operators=frozenset(map(_nick_of, room.operators)),
        named=named,
    )

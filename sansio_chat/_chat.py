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
from dataclasses import dataclass
from operator import attrgetter
from typing import Protocol, assert_never

from ._actions import LogLevel
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
from ._nicknames import LocalNickRegistry, NickRegistry, is_valid_nickname, nick_key
from ._replies import (
    Connected,
    Disconnected,
    EnteredRoom,
    Error,
    ErrorKind,
    Goodbye,
    HelpText,
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
    UserList,
    Welcome,
)
from ._rooms import LOBBY, MAX_TOPIC_CHARS, Room, is_valid_room_name, room_key
from ._users import User

_nick_of = attrgetter("nick")

_FAULT_ERRORS = {
    LineFault.INVALID_UTF8: Error(kind=ErrorKind.INVALID_UTF8),
    LineFault.CONTROL_CHARACTER: Error(kind=ErrorKind.CONTROL_CHARACTER),
}
_NOT_IN_A_ROOM = Error(kind=ErrorKind.NOT_IN_A_ROOM)
_ROOM_OPERATORS_ONLY = Error(kind=ErrorKind.ROOM_OPERATORS_ONLY)


class Deliveries(Protocol):
    """Where the chat sends replies, by audience, and tells of membership changes."""

    def entered(self, room: Room, user: User) -> None: ...
    def left(self, room: Room, user: User) -> None: ...
    def to_user(self, user: User, reply: Reply) -> None: ...
    def echo(self, user: User, reply: Said | Told) -> None: ...
    def to_room(self, room: Room, reply: Reply, but: User | None = None) -> None: ...
    def to_rooms(
        self, rooms: tuple[Room, ...], reply: Reply, but: User | None = None, also: User | None = None
    ) -> None: ...


class Connections(Protocol):
    """What the chat needs of the server about its users' connections."""

    def registered(self, user: User) -> None:
        """``user`` got its first nickname: it is in the chat."""
        ...

    def claim_pending(self, user: User) -> None:
        """A claim of ``user`` waits for an answer: its next lines must wait too."""
        ...

    def claim_settled(self, user: User) -> None:
        """No claim of ``user`` waits any more: its lines may go on (it may leave meanwhile)."""
        ...

    def close(self, user: User) -> None:
        """Close ``user``'s connection once what is queued for it is sent (it has left the chat)."""
        ...


class _Purpose(enum.Enum):
    """What a nickname claim is for."""

    GUEST = "a guest name at registration"
    RENAME = "a change of nickname"


@dataclass(slots=True, kw_only=True)
class _Claim:
    """A claim waiting for its answer; ``user`` is None once the claimant has gone."""

    user: User | None
    key: str
    nick: str
    purpose: _Purpose
    number: int = 0  # of a guest name
    peer: str = ""  # of a registration, for the log


class Chat:
    """The chat of docs/protocol.md, for every dialect."""

    def __init__(
        self,
        config: ServerConfig,
        deliveries: Deliveries,
        connections: Connections,
        log: Callable[[LogLevel, str], None],
        registry: NickRegistry | None = None,
    ) -> None:
        self._config = config
        self._out = deliveries
        self._connections = connections
        self._log = log
        self._registry: NickRegistry = registry if registry is not None else LocalNickRegistry()
        self._users: dict[str, User] = {}  # by nickname key: every user with a nickname
        lobby = Room(LOBBY)
        self._lobby = lobby
        self._rooms: dict[str, Room] = {lobby.key: lobby}  # by key: #lobby, then in order of creation
        self._claims: dict[int, _Claim] = {}  # waiting for an answer, by claim number
        self._last_claim = 0
        self._oper_failures: dict[User, int] = {}  # only users who failed

    # -- arriving -----------------------------------------------------------------------

    def arrive(self, user: User, number: int, peer: str) -> None:
        """A client that joins at once: named ``guest<number>`` (or the next free number), in ``#lobby``."""
        while True:
            nick = f"guest{number}"  # already case-folded: its own key
            if nick not in self._users:
                answer = self._claim(user, nick, nick, _Purpose.GUEST, number=number, peer=peer)
                if answer is None:
                    return
                if answer:
                    self._register(user, nick, peer)
                    return
            number += 1

    def _register(self, user: User, nick: str, peer: str) -> None:
        user.nick = nick
        self._users[nick_key(nick)] = user
        self._connections.registered(user)
        lobby = self._lobby
        self._out.to_user(user, Welcome(nick=nick, room=lobby.name))
        self._out.to_room(lobby, Connected(nick=nick, room=lobby.name))  # before it enters: the others
        self._enter(user, lobby)
        self._log(LogLevel.INFO, f"{nick} connected from {peer}")

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
            self._connections.claim_pending(user)
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
                    self._register(user, waiting.nick, waiting.peer)
                else:
                    self.arrive(user, waiting.number + 1, waiting.peer)
            case _Purpose.RENAME:
                if granted:
                    self._renamed(user, waiting.nick, waiting.key)
                else:
                    self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=waiting.nick))
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(waiting.purpose)
        if not any(other.user is user for other in self._claims.values()):
            self._connections.claim_settled(user)

    # -- commands ---------------------------------------------------------------------------

    def handle(self, user: User, command: Command) -> None:
        """Carry out one command of a registered user."""
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
                self._quit(user, text)
            case Kill(nick=nick, text=text):
                self._kill(user, nick, text)
            case Oper(password=password):
                self._oper(user, password)
            case Help():
                self._reply(user, HelpText())
            case Ping(token=token):
                self._reply(user, Pong(token=token))
            case BadUsage(command=name):
                self._reply(user, Error(kind=ErrorKind.USAGE, detail=name.value))
            case UnknownCommand(word=word):
                self._reply(user, Error(kind=ErrorKind.INVALID_COMMAND, detail=word))
            case BadLine(fault=fault):
                self._reply(user, _FAULT_ERRORS[fault])
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(command)

    def _say(self, user: User, command: Say) -> None:
        rooms = user.rooms
        if not rooms:
            self._reply(user, _NOT_IN_A_ROOM)
            return
        room = rooms[-1]  # user.room, inline: this is the hot path
        said = Said(nick=user.nick, room=room.name, text=command.text, action=command.action)
        self._out.to_room(room, said, user)
        self._out.echo(user, said)

    def _tell(self, user: User, nick: str, text: str) -> None:
        recipient = self._users.get(nick_key(nick))
        if recipient is None:
            self._reply(user, Error(kind=ErrorKind.NO_SUCH_NICK, detail=nick))
            return
        told = Told(sender=user.nick, recipient=recipient.nick, text=text)
        self._out.to_user(recipient, told)
        self._out.echo(user, told)

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
        if key != user.key:
            if key in self._users:
                self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=new))
                return
            answer = self._claim(user, key, new, _Purpose.RENAME)
            if answer is None:
                return
            if not answer:
                self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=new))
                return
        self._renamed(user, new, key)

    def _renamed(self, user: User, new: str, key: str) -> None:
        """``user`` holds the key of ``new``: tell it, and everyone who shares a room with it."""
        old = user.nick
        self._reply(user, NickSet(nick=new, old=old))
        if new == old:
            return
        old_key = user.key
        del self._users[old_key]
        user.nick = new
        self._users[key] = user
        if key != old_key:
            self._registry.release(old_key)
        self._out.to_rooms(user.rooms, NickChanged(old=old, new=new), but=user)
        self._log(LogLevel.INFO, f"{old} is now known as {new}")

    # -- rooms --------------------------------------------------------------------------------

    def _join(self, user: User, name: str, typed: str, *, alone: bool) -> None:
        if not is_valid_room_name(name):
            self._reply(user, Error(kind=ErrorKind.INVALID_ROOM, detail=typed))
            return
        key = room_key(name)
        room = self._rooms.get(key)
        if room is not None and room in user.rooms:
            self._reply(user, Error(kind=ErrorKind.ALREADY_IN_ROOM, detail=room.name))
            return
        for old in user.rooms if alone else ():
            self._leave_room(user, old)
            self._out.to_room(old, LeftRoom(nick=user.nick, room=old.name))
        if room is None:
            room = self._rooms[key] = Room(name)
            room.operators.add(user)  # its creator
        self._out.to_room(room, JoinedRoom(nick=user.nick, room=room.name))  # before it enters: the others
        self._enter(user, room)
        self._reply(user, EnteredRoom(nick=user.nick, room=room.name))
        self._reply(user, _user_list(room, named=True))
        if room.topic:
            self._reply(user, TopicIs(room=room.name, topic=room.topic))

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
            room.topic = text
            self._out.to_room(room, TopicSet(nick=user.nick, room=room.name, topic=text))
            self._log(LogLevel.INFO, f"{user.nick} set the topic of {room.name}")

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
        self._out.to_user(
            victim, KickedYou(room=room.name, victim=victim.nick, kicker=user.nick, reason=reason)
        )
        self._leave_room(victim, room)
        self._out.to_room(room, Kicked(room=room.name, victim=victim.nick, kicker=user.nick, reason=reason))
        self._log(LogLevel.INFO, f"{victim.nick} was kicked from {room.name} by {user.nick}")

    # -- leaving -------------------------------------------------------------------------------

    def _quit(self, user: User, text: str) -> None:
        if text:
            self._out.to_rooms(user.rooms, LastWords(nick=user.nick, text=text), but=user)
        self._reply(user, Goodbye(nick=user.nick))
        self._depart(user, Disconnected(nick=user.nick, reason=LeaveReason.LEFT, text=text))
        self._connections.close(user)

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
        self._out.to_user(victim, KilledBy(killer=killer.nick, text=text))
        notice = Disconnected(nick=victim.nick, reason=LeaveReason.KILLED, killer=killer.nick)
        self._depart(victim, notice, also=killer)
        self._connections.close(victim)

    def _oper(self, user: User, password: str) -> None:
        expected = self._config.oper_password
        if expected and hmac.compare_digest(password.encode(), expected.encode()):
            user.is_operator = True
            self._reply(user, OperGranted())
            self._log(LogLevel.INFO, f"{user.nick} is now an operator")
            return
        failures = self._oper_failures[user] = self._oper_failures.get(user, 0) + 1
        self._log(LogLevel.WARNING, f"{user.nick} failed OPER ({failures}/{MAX_OPER_FAILURES})")
        if failures < MAX_OPER_FAILURES:
            self._reply(user, Error(kind=ErrorKind.WRONG_PASSWORD))
            return
        self._reply(user, Error(kind=ErrorKind.TOO_MANY_OPER_FAILURES))
        self._depart(user, Disconnected(nick=user.nick, reason=LeaveReason.OPER_FAILURES))
        self._connections.close(user)

    def leave(self, user: User, reason: LeaveReason) -> None:
        """A registered user's connection ended (EOF, reset, too slow): tell the others."""
        self._depart(user, Disconnected(nick=user.nick, reason=reason))

    def abandon(self, user: User) -> None:
        """A connection that never got its first nickname ended: forget its claims."""
        self._forget_claims(user)

    def _depart(self, user: User, notice: Disconnected, also: User | None = None) -> None:
        """``user`` leaves the chat: out of its rooms, its nickname free, everyone who shared a room told."""
        rooms = user.rooms
        for room in rooms:
            self._leave_room(user, room)
        key = user.key
        del self._users[key]
        self._registry.release(key)
        self._oper_failures.pop(user, None)
        self._forget_claims(user)
        self._out.to_rooms(rooms, notice, also=also)
        reason = (
            notice.reason.value if notice.reason is not LeaveReason.KILLED else f"killed by {notice.killer}"
        )
        self._log(LogLevel.INFO, f"{user.nick} disconnected ({reason})")

    def _forget_claims(self, user: User) -> None:
        for waiting in self._claims.values():
            if waiting.user is user:
                waiting.user = None

    # -- replies ------------------------------------------------------------------------------

    def _reply(self, user: User, reply: Reply) -> None:
        self._out.to_user(user, reply)


def _user_list(room: Room, *, named: bool) -> UserList:
    return UserList(
        room=room.name,
        nicks=tuple(map(_nick_of, room.members)),
        operators=frozenset(map(_nick_of, room.operators)),
        named=named,
    )

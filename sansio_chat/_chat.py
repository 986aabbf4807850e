"""The chat rules: users, nicknames, operators, rooms and their modes, and who is told what.

The chat takes command objects from registered users and addresses reply
objects to audiences (``Deliveries``).  It never sees bytes, dialects or
connections: how a reply is spelled is a renderer's business, and which
connections receive it is the fan-out's.  What it needs of the server
running it (a user registered, a connection to close, input to hold while a
nickname claim waits) goes through ``Connections``.

Every command is decided first (``handle``: checked against the state, an
error back to the asker at once), then what it changes is a fact
(``_facts.py``) given to ``apply``, the one place where the state changes and
deliveries are addressed.  Questions (who is here, which rooms) change
nothing and are answered from the ``Directory`` (``_queries.py``).

A user may be in several rooms; "a text client is in at most one room" is
how text commands use the chat (``JOIN`` leaves the other rooms), and the
room a text command acts in is the room joined last.  Users come in two
ways: a text client at once, under a guest name, in ``#lobby``
(``arrive``); an IRC client once it has chosen a nickname and said who it
is (``reserve``, then ``register``), in no room.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, assert_never

from . import _facts as facts
from . import _queries as queries
from ._actions import LogLevel
from ._base import Clock
from ._commands import (
    Away,
    BadLine,
    BadUsage,
    ChangeNick,
    ChangeRoomModes,
    Command,
    Help,
    Invite,
    Ison,
    JoinRoom,
    Kick,
    Kill,
    LineFault,
    ListRooms,
    ListUsers,
    Lusers,
    Oper,
    PartRoom,
    Ping,
    Quit,
    Say,
    SayTo,
    ShowBans,
    ShowRoomModes,
    Tell,
    Topic,
    UnknownCommand,
    Userhost,
    UserModes,
    Who,
    Whois,
    Whowas,
)
from ._config import MAX_OPER_FAILURES, MAX_ROOMS_PER_USER, ServerConfig
from ._directory import Directory
from ._facts import Fact
from ._modes import (
    FLAG_OF,
    MAX_BANS,
    MAX_KEY_CHARS,
    MAX_LIMIT,
    Ban,
    ModeChange,
    RoomFlag,
    RoomMode,
    is_valid_mask,
    mask_matches,
    normal_mask,
)
from ._nicknames import LocalNickRegistry, NickRegistry, is_valid_nickname, nick_key
from ._replies import (
    AwayNotice,
    AwaySet,
    BanList,
    Connected,
    Disconnected,
    EnteredRoom,
    Error,
    ErrorKind,
    Goodbye,
    HelpText,
    Invitation,
    InviteSent,
    IsAway,
    JoinedRoom,
    Kicked,
    KickedYou,
    KilledBy,
    LastWords,
    LeaveReason,
    LeftRoom,
    ModesChanged,
    NickChanged,
    NickSet,
    OperGranted,
    Pong,
    Reply,
    Said,
    Speech,
    Told,
    TopicIs,
    TopicSet,
    UserId,
    UserList,
    UserModesAre,
    UserModesChanged,
    Welcome,
)
from ._rooms import MAX_TOPIC_CHARS, Room, is_valid_room_name, room_key
from ._users import User

#: Characters of an away message, at most (longer ones are cut).
MAX_AWAY_CHARS = 300

_FAULT_ERRORS = {
    LineFault.INVALID_UTF8: Error(kind=ErrorKind.INVALID_UTF8),
    LineFault.CONTROL_CHARACTER: Error(kind=ErrorKind.CONTROL_CHARACTER),
}
_NOT_IN_A_ROOM = Error(kind=ErrorKind.NOT_IN_A_ROOM)
#: Speech never answered with an error (an automatic reply must not start a loop of them).
_UNANSWERED = frozenset({Speech.NOTICE, Speech.CTCP_REPLY})


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

    def reserved(self, user: User, nick: str) -> None:
        """``user``, not registered yet, holds ``nick`` now (an IRC client's ``NICK``)."""
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
    RESERVE = "a nickname chosen before registering"


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
    """The chat of docs/protocol.md (and docs/irc.md), for every dialect."""

    def __init__(
        self,
        config: ServerConfig,
        deliveries: Deliveries,
        connections: Connections,
        log: Callable[[LogLevel, str], None],
        *,
        registry: NickRegistry | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._config = config
        self._out = deliveries
        self._connections = connections
        self._log = log
        self._registry: NickRegistry = registry if registry is not None else LocalNickRegistry()
        self._clock = clock if clock is not None else Clock()
        self._dir = Directory()
        self._claims: dict[int, _Claim] = {}  # waiting for an answer, by claim number
        self._last_claim = 0
        self._oper_failures: dict[User, int] = {}  # only users who failed
        self._reservations: dict[UserId, str] = {}  # the nickname each unregistered user holds
        self._opers = dict(config.opers)  # named operator accounts
        self._msgid_base = ""  # made from the time of the first message
        self._msgids = 0

    # -- arriving -----------------------------------------------------------------------

    def arrive(self, user: User, number: int, peer: str) -> None:
        """A client that joins at once: named ``guest<number>`` (or the next free number), in ``#lobby``."""
        self._dir.by_id[user.uid] = user
        self._arrive(user, number, peer)

    def _arrive(self, user: User, number: int, peer: str) -> None:
        while True:
            nick = f"guest{number}"  # already case-folded: its own key
            if not self._dir.nick_taken(nick):
                answer = self._claim(user, nick, nick, _Purpose.GUEST, number=number, peer=peer)
                if answer is None:
                    return
                if answer:
                    self._registered(user, nick, lobby=True, peer=peer)
                    return
            number += 1

    def _registered(self, user: User, nick: str, *, lobby: bool, peer: str) -> None:
        fact = facts.Registered(
            user=user.uid, nick=nick, info=user.info, lobby=lobby, at=self._clock.wall, peer=peer
        )
        self.apply(fact)

    def reserve(self, user: User, nick: str) -> None:
        """A client not registered yet asks for ``nick``; ``Connections.reserved`` says when it holds it."""
        self._dir.by_id[user.uid] = user
        if not is_valid_nickname(nick):
            self._reply(user, Error(kind=ErrorKind.INVALID_NICK, detail=nick))
            return
        key = nick_key(nick)
        if self._dir.reserved.get(key) is user:  # the same, maybe spelled otherwise
            self._reservations[user.uid] = nick
            self._connections.reserved(user, nick)
            return
        if self._dir.nick_taken(key, user):
            self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=nick))
            return
        answer = self._claim(user, key, nick, _Purpose.RESERVE)
        if answer is None:
            return
        if answer:
            self._reserved(user, key, nick)
        else:
            self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=nick))

    def _reserved(self, user: User, key: str, nick: str) -> None:
        self._unreserve(user)
        self._dir.reserved[key] = user
        self._reservations[user.uid] = nick
        self._connections.reserved(user, nick)

    def _unreserve(self, user: User) -> None:
        """Release what ``user`` reserved, if anything."""
        nick = self._reservations.pop(user.uid, None)
        if nick is not None:
            key = nick_key(nick)
            del self._dir.reserved[key]
            self._registry.release(key)

    def register(self, user: User, peer: str) -> None:
        """A client that reserved its nickname and said who it is (``user.info``) enters the chat."""
        nick = self._reservations.pop(user.uid)
        del self._dir.reserved[nick_key(nick)]
        self._registered(user, nick, lobby=False, peer=peer)

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
        if granted and self._dir.nick_taken(waiting.key, user):  # a registry that granted one name twice
            granted = False
        match waiting.purpose:
            case _Purpose.GUEST:
                if granted:
                    self._registered(user, waiting.nick, lobby=True, peer=waiting.peer)
                else:
                    self._arrive(user, waiting.number + 1, waiting.peer)
            case _Purpose.RENAME:
                if granted:
                    self.apply(facts.Renamed(user=user.uid, new=waiting.nick))
                else:
                    self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=waiting.nick))
            case _Purpose.RESERVE:
                if granted:
                    self._reserved(user, waiting.key, waiting.nick)
                else:
                    self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=waiting.nick))
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(waiting.purpose)
        if not any(other.user is user for other in self._claims.values()):
            self._connections.claim_settled(user)

    # -- commands: deciding ----------------------------------------------------------------

    def handle(self, user: User, command: Command) -> None:
        """Carry out one command of a registered user: errors at once, changes as facts."""
        match command:
            case Say():  # the hot path: a plain class pattern is the cheapest
                self._say(user, command)
            case SayTo():
                self._say_to(user, command)
            case ChangeNick(nick=nick):
                self._change_nick(user, nick)
            case Tell():
                self._tell(user, command)
            case JoinRoom():
                self._join(user, command)
            case PartRoom(room=name, typed=typed, reason=reason):
                room = self._member_room(user, name, typed)
                if room is not None:
                    self.apply(facts.Parted(user=user.uid, room=room.key, reason=reason))
            case ListUsers():
                self._list_users(user, command)
            case ListRooms():
                self._reply(user, queries.room_list(self._dir, user, command))
            case Topic():
                self._topic(user, command)
            case Kick():
                self._kick(user, command)
            case ChangeRoomModes():
                self._change_modes(user, command)
            case ShowRoomModes(room=name, typed=typed):
                room = self._seen_room(user, name, typed)
                if room is not None:
                    self._reply(user, queries.room_modes(user, room))
            case ShowBans(room=name, typed=typed):
                room = self._seen_room(user, name, typed)
                if room is not None:
                    self._reply(user, BanList(room=room.name, bans=tuple(room.bans)))
            case UserModes():
                self._user_modes(user, command)
            case Invite():
                self._invite(user, command)
            case Away(message=message):
                if message or user.away:
                    self.apply(facts.AwayChanged(user=user.uid, message=message[:MAX_AWAY_CHARS]))
                else:
                    self._reply(user, AwaySet(away=False))
            case Who():
                self._reply(user, queries.who(self._dir, user, command, self._clock.wall))
            case Whois(nick=nick):
                self._reply(user, queries.whois(self._dir, user, nick, self._clock.wall))
            case Whowas():
                self._reply(user, queries.whowas(self._dir, command))
            case Ison(nicks=nicks):
                self._reply(user, queries.ison(self._dir, nicks))
            case Userhost(nicks=nicks):
                self._reply(user, queries.userhost(self._dir, nicks, self._clock.wall))
            case Lusers():
                self._reply(user, queries.stats(self._dir))
            case Quit(text=text):
                self.apply(facts.Quitted(user=user.uid, text=text))
            case Kill(nick=nick, text=text):
                self._kill(user, nick, text)
            case Oper(password=password, name=name):
                self._oper(user, password, name)
            case Help(subject=subject):
                self._reply(user, HelpText(subject=subject))
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
        """Words to the speaker's own room: the hot path."""
        rooms = user.rooms
        if not rooms:
            self._reply(user, _NOT_IN_A_ROOM)
            return
        room = rooms[-1]  # user.room, inline
        kind = Speech.ACTION if command.action else Speech.WORDS
        if room.speech_limited and not self._may_speak(user, room, kind):
            return
        self.apply(
            Said(source=user.identity, room=room.name, text=command.text, kind=kind, msgid=self._new_msgid())
        )

    def _say_to(self, user: User, command: SayTo) -> None:
        """Words to a room named: from inside it (the usual case), or from outside where it allows it."""
        kind = command.kind
        room = self._dir.rooms.get(command.room.casefold())  # room_key, inline
        if room is None or (room not in user.rooms and not self._dir.sees_room(user, room)):
            self._refuse(user, kind, Error(kind=ErrorKind.NO_SUCH_ROOM, detail=command.room))
            return
        if (room.speech_limited or room not in user.rooms) and not self._may_speak(user, room, kind):
            return
        said = Said(
            source=user.identity,
            room=room.name,
            text=command.text,
            kind=kind,
            msgid=self._new_msgid(),
            tags=command.tags,
        )
        self.apply(said)

    def _may_speak(self, user: User, room: Room, kind: Speech) -> bool:
        """Whether ``user`` may speak in ``room`` (words from outside, moderation, bans); if not, why."""
        if self._may_run(user, room) or user in room.voiced:
            return True
        why: ErrorKind | None = None
        if room not in user.rooms and room.has(RoomFlag.NO_OUTSIDE):
            why = ErrorKind.CANNOT_SPEAK_OUTSIDE
        elif room.has(RoomFlag.MODERATED):
            why = ErrorKind.CANNOT_SPEAK_MODERATED
        elif self._banned(user, room):
            why = ErrorKind.CANNOT_SPEAK_BANNED
        if why is None:
            return True
        self._refuse(user, kind, Error(kind=why, room=room.name))
        return False

    def _refuse(self, user: User, kind: Speech, error: Error) -> None:
        """An error about words: never for a notice (an automatic reply must not start a loop)."""
        if kind not in _UNANSWERED:
            self._reply(user, error)

    def _new_msgid(self) -> str:
        self._msgids += 1
        return f"{self._msgid_base}{self._msgids}"

    def _tell(self, user: User, command: Tell) -> None:
        recipient = self._dir.user(command.nick)
        kind = command.kind
        if recipient is None:
            self._refuse(user, kind, Error(kind=ErrorKind.NO_SUCH_NICK, detail=command.nick))
            return
        told = Told(
            source=user.identity,
            recipient=recipient.nick,
            text=command.text,
            kind=kind,
            msgid=self._new_msgid(),
            tags=command.tags,
        )
        self.apply(facts.Whispered(recipient=recipient.uid, told=told))
        if recipient.away and kind not in _UNANSWERED and kind is not Speech.TAGS:
            self._reply(user, IsAway(nick=recipient.nick, message=recipient.away))

    def _list_users(self, user: User, command: ListUsers) -> None:
        if command.room is None:
            room = user.room
            if room is None:
                self._reply(user, _NOT_IN_A_ROOM)
            else:
                self._reply(user, queries.user_list(self._dir, user, room, named=False))
            return
        named = self._dir.room(command.room)
        if named is not None and self._dir.sees_room(user, named):
            self._reply(user, queries.user_list(self._dir, user, named, named=True))
        elif command.quiet:
            self._reply(user, UserList(room=command.typed, nicks=(), named=True))
        else:
            self._reply(user, Error(kind=ErrorKind.NO_SUCH_ROOM, detail=command.typed))

    def _change_nick(self, user: User, new: str) -> None:
        if not is_valid_nickname(new):
            self._reply(user, Error(kind=ErrorKind.INVALID_NICK, detail=new))
            return
        key = nick_key(new)
        if key != user.key:
            if self._dir.nick_taken(key):
                self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=new))
                return
            answer = self._claim(user, key, new, _Purpose.RENAME)
            if answer is None:
                return
            if not answer:
                self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=new))
                return
        self.apply(facts.Renamed(user=user.uid, new=new))

    # -- rooms: deciding --------------------------------------------------------------------

    def _join(self, user: User, command: JoinRoom) -> None:
        name = command.room
        if not is_valid_room_name(name):
            self._reply(user, Error(kind=ErrorKind.INVALID_ROOM, detail=command.typed))
            return
        room = self._dir.rooms.get(room_key(name))
        if room is not None and room in user.rooms:
            self._reply(user, Error(kind=ErrorKind.ALREADY_IN_ROOM, detail=room.name))
            return
        if not command.alone and len(user.rooms) >= MAX_ROOMS_PER_USER:
            error = Error(kind=ErrorKind.TOO_MANY_ROOMS, detail=str(MAX_ROOMS_PER_USER), room=name)
            self._reply(user, error)
            return
        if room is not None:
            refusal = self._join_refusal(user, room, command.key)
            if refusal is not None:
                self._reply(user, Error(kind=refusal, room=room.name))
                return
        leaving = tuple(old.key for old in user.rooms) if command.alone else ()
        self.apply(facts.Joined(user=user.uid, name=name, at=self._clock.wall, leaving=leaving))

    def _join_refusal(self, user: User, room: Room, key: str) -> ErrorKind | None:
        """Why ``user`` may not join ``room`` (an invitation opens it but for bans), or None."""
        if user.is_operator:  # a room operator's rights everywhere
            return None
        invited = user.uid in room.invited
        if self._banned(user, room):
            return ErrorKind.BANNED
        if invited:
            return None
        if room.has(RoomFlag.INVITE_ONLY):
            return ErrorKind.INVITE_ONLY
        if room.passkey and key != room.passkey:
            return ErrorKind.NEEDS_KEY
        if room.limit and len(room.members) >= room.limit:
            return ErrorKind.ROOM_FULL
        return None

    @staticmethod
    def _banned(user: User, room: Room) -> bool:
        if not room.bans:
            return False
        mask = user.mask
        return any(mask_matches(ban.mask, mask) for ban in room.bans)

    def _may_run(self, user: User, room: Room) -> bool:
        """Room operators, and server operators everywhere."""
        return user.is_operator or user in room.operators

    def _seen_room(self, user: User, name: str, typed: str) -> Room | None:
        """The room ``name`` if ``user`` may see it; else an error to it, and None."""
        room = self._dir.room(name)
        if room is None or not self._dir.sees_room(user, room):
            self._reply(user, Error(kind=ErrorKind.NO_SUCH_ROOM, detail=typed))
            return None
        return room

    def _member_room(self, user: User, name: str, typed: str) -> Room | None:
        """The room ``name`` if ``user`` is in it; else an error to it, and None."""
        room = self._seen_room(user, name, typed)
        if room is not None and room not in user.rooms:
            self._reply(user, Error(kind=ErrorKind.NOT_A_MEMBER, room=room.name))
            return None
        return room

    def _acting_room(self, user: User, name: str | None, typed: str) -> Room | None:
        """The room a command acts in: the user's own (``name`` None), else one it is in (or may run)."""
        if name is None:
            room = user.room
            if room is None:
                self._reply(user, _NOT_IN_A_ROOM)
            return room
        room = self._seen_room(user, name, typed)
        if room is not None and room not in user.rooms and not user.is_operator:
            self._reply(user, Error(kind=ErrorKind.NOT_A_MEMBER, room=room.name))
            return None
        return room

    def _topic(self, user: User, command: Topic) -> None:
        if not command.text and not command.clear:  # a question
            room = user.room if command.room is None else self._seen_room(user, command.room, command.typed)
            if room is None:
                if command.room is None:
                    self._reply(user, _NOT_IN_A_ROOM)
                return
            self._reply(user, TopicIs(room=room.name, topic=room.topic, by=room.topic_by, at=room.topic_at))
            return
        room = self._acting_room(user, command.room, command.typed)
        if room is None:
            return
        text = command.text
        if room.has(RoomFlag.TOPIC_LOCK) and not self._may_run(user, room):
            self._reply(user, Error(kind=ErrorKind.ROOM_OPERATORS_ONLY, room=room.name))
        elif len(text) > MAX_TOPIC_CHARS:
            self._reply(user, Error(kind=ErrorKind.TOPIC_TOO_LONG, detail=str(MAX_TOPIC_CHARS)))
        else:
            self.apply(facts.TopicChanged(user=user.identity, room=room.key, topic=text, at=self._clock.wall))

    def _kick(self, user: User, command: Kick) -> None:
        room = self._acting_room(user, command.room, command.typed)
        if room is None:
            return
        if not self._may_run(user, room):
            self._reply(user, Error(kind=ErrorKind.ROOM_OPERATORS_ONLY, room=room.name))
            return
        victim = self._dir.user(command.nick)
        if victim is None or room not in victim.rooms:
            self._reply(user, Error(kind=ErrorKind.NOT_IN_ROOM, detail=command.nick, room=room.name))
            return
        self.apply(
            facts.Kicked(kicker=user.identity, room=room.key, victim=victim.uid, reason=command.reason)
        )

    def _invite(self, user: User, command: Invite) -> None:
        invitee = self._dir.user(command.nick)
        if invitee is None:
            self._reply(user, Error(kind=ErrorKind.NO_SUCH_NICK, detail=command.nick))
            return
        room = self._acting_room(user, command.room, command.typed)
        if room is None:
            return
        if room.has(RoomFlag.INVITE_ONLY) and not self._may_run(user, room):
            self._reply(user, Error(kind=ErrorKind.ROOM_OPERATORS_ONLY, room=room.name))
            return
        if room in invitee.rooms:
            self._reply(user, Error(kind=ErrorKind.ALREADY_MEMBER, detail=invitee.nick, room=room.name))
            return
        self.apply(facts.Invited(user=user.identity, room=room.key, invitee=invitee.uid))
        if invitee.away:
            self._reply(user, IsAway(nick=invitee.nick, message=invitee.away))

    def _change_modes(self, user: User, command: ChangeRoomModes) -> None:
        room = self._seen_room(user, command.room, command.typed)
        if room is None:
            return
        if not self._may_run(user, room):
            self._reply(user, Error(kind=ErrorKind.ROOM_OPERATORS_ONLY, room=room.name))
            return
        accepted: list[ModeChange] = []
        bans = len(room.bans)
        for change in command.changes:
            checked = self._checked_change(user, room, change, bans)
            if checked is not None:
                accepted.append(checked)
                if checked.mode is RoomMode.BAN and checked.on:
                    bans += 1
        if accepted:
            fact = facts.ModesChanged(
                user=user.identity, room=room.key, changes=tuple(accepted), at=self._clock.wall
            )
            self.apply(fact)

    def _checked_change(self, user: User, room: Room, change: ModeChange, bans: int) -> ModeChange | None:
        """``change`` as it will be applied, or None after telling ``user`` why it is refused."""
        mode, arg = change.mode, change.arg
        if mode is RoomMode.KEY and change.on:
            if not arg or len(arg) > MAX_KEY_CHARS or not arg.isprintable() or " " in arg or "," in arg:
                self._bad_mode_argument(user, room, mode)
                return None
        elif mode is RoomMode.LIMIT and change.on:
            if not (arg.isascii() and arg.isdigit() and 1 <= int(arg) <= MAX_LIMIT):
                self._bad_mode_argument(user, room, mode)
                return None
            return ModeChange(on=True, mode=mode, arg=str(int(arg)))
        elif mode is RoomMode.BAN:
            mask = normal_mask(arg)
            if not is_valid_mask(mask):
                self._bad_mode_argument(user, room, mode)
                return None
            listed = any(ban.mask.casefold() == mask.casefold() for ban in room.bans)
            if change.on and bans >= MAX_BANS and not listed:
                self._reply(user, Error(kind=ErrorKind.BAN_LIST_FULL, detail=str(MAX_BANS), room=room.name))
                return None
            return ModeChange(on=change.on, mode=mode, arg=mask)
        elif mode in (RoomMode.OPERATOR, RoomMode.VOICE):
            member = self._dir.user(arg)
            if member is None:
                self._reply(user, Error(kind=ErrorKind.NO_SUCH_NICK, detail=arg))
                return None
            if room not in member.rooms:
                self._reply(user, Error(kind=ErrorKind.NOT_IN_ROOM, detail=arg, room=room.name))
                return None
            return ModeChange(on=change.on, mode=mode, arg=member.nick, member=member.uid)
        return change

    def _bad_mode_argument(self, user: User, room: Room, mode: RoomMode) -> None:
        self._reply(user, Error(kind=ErrorKind.INVALID_MODE_ARGUMENT, detail=mode.name, room=room.name))

    def _user_modes(self, user: User, command: UserModes) -> None:
        target = self._dir.user(command.nick)
        if target is None:
            self._reply(user, Error(kind=ErrorKind.NO_SUCH_NICK, detail=command.nick))
            return
        if target is not user:
            self._reply(user, Error(kind=ErrorKind.NOT_YOUR_MODES, detail=command.nick))
            return
        if command.invisible is None and command.operator is None:
            self._reply(user, UserModesAre(invisible=user.invisible, operator=user.is_operator))
            return
        invisible = command.invisible if command.invisible is not user.invisible else None
        operator = False if command.operator is False and user.is_operator else None  # only giving it up
        if invisible is not None or operator is not None:
            self.apply(facts.UserModesChanged(user=user.uid, invisible=invisible, operator=operator))

    # -- leaving: deciding ----------------------------------------------------------------------

    def _kill(self, killer: User, nick: str, text: str) -> None:
        if not killer.is_operator:
            self._reply(killer, Error(kind=ErrorKind.PERMISSION_DENIED))
            return
        victim = self._dir.user(nick)
        if victim is None:
            self._reply(killer, Error(kind=ErrorKind.NO_SUCH_NICK, detail=nick))
            return
        if victim is killer:
            self._reply(killer, Error(kind=ErrorKind.KILL_SELF))
            return
        self.apply(facts.Killed(killer=killer.identity, victim=victim.uid, text=text))

    def _oper(self, user: User, password: str, name: str | None) -> None:
        expected = self._config.oper_password if name is None else self._opers.get(name, "")
        if expected and hmac.compare_digest(password.encode(), expected.encode()):
            self.apply(facts.BecameOperator(user=user.uid, account=name or ""))
            return
        failures = self._oper_failures[user] = self._oper_failures.get(user, 0) + 1
        self._log(LogLevel.WARNING, f"{user.nick} failed OPER ({failures}/{MAX_OPER_FAILURES})")
        if failures < MAX_OPER_FAILURES:
            self._reply(user, Error(kind=ErrorKind.WRONG_PASSWORD))
            return
        self._reply(user, Error(kind=ErrorKind.TOO_MANY_OPER_FAILURES))
        self.apply(facts.Dropped(user=user.uid, reason=LeaveReason.OPER_FAILURES, close=True))

    def leave(self, user: User, reason: LeaveReason) -> None:
        """A registered user's connection ended (EOF, reset, too slow, timed out): tell the others."""
        self.apply(facts.Dropped(user=user.uid, reason=reason))

    def abandon(self, user: User) -> None:
        """A connection that never registered ended: forget it, its claims and its reserved nickname."""
        self._dir.by_id.pop(user.uid, None)
        self._unreserve(user)
        self._forget_claims(user)

    # -- facts: applying --------------------------------------------------------------------

    def apply(self, fact: Fact) -> None:
        """Change the state for ``fact`` and address what it tells whom; a stale fact does nothing.

        Deterministic: the same facts in the same order leave the same
        state and make the same deliveries, wherever they are applied.
        """
        match fact:
            case Said():  # the hot path first: a plain class pattern is the cheapest
                room = self._dir.named.get(fact.room)  # (words name a room as it was created)
                if room is None:
                    return
                speaker = self._dir.by_id.get(fact.source.uid)
                if speaker is not None and room in speaker.rooms:
                    speaker.active = self._clock.wall
                    self._out.to_room(room, fact, speaker)
                    self._out.echo(speaker, fact)
                else:  # from outside the room, or a speaker who left meanwhile: its words still arrive
                    self._out.to_room(room, fact)
                    if speaker is not None:
                        self._out.echo(speaker, fact)
            case facts.Whispered(recipient=recipient_id, told=told):
                recipient = self._dir.registered(recipient_id)
                if recipient is not None:
                    self._out.to_user(recipient, told)
                    sender = self._dir.registered(told.source.uid)
                    if sender is not None:
                        sender.active = self._clock.wall
                        self._out.echo(sender, told)
            case facts.Registered():
                self._apply_registered(fact)
            case facts.Renamed(user=uid, new=new):
                user = self._dir.registered(uid)
                if user is not None:
                    self._apply_renamed(user, new)
            case facts.Joined():
                self._apply_joined(fact)
            case facts.Parted(user=uid, room=key, reason=reason):
                user = self._dir.registered(uid)
                room = self._dir.rooms.get(key)
                if user is not None and room is not None and room in user.rooms:
                    self._out.to_room(
                        room, LeftRoom(nick=user.nick, room=room.name, mask=user.mask, reason=reason)
                    )
                    self._leave_room(user, room)
            case facts.TopicChanged():
                self._apply_topic(fact)
            case facts.Kicked():
                self._apply_kicked(fact)
            case facts.ModesChanged():
                self._apply_modes(fact)
            case facts.Invited(user=inviter, room=key, invitee=uid):
                invitee = self._dir.registered(uid)
                room = self._dir.rooms.get(key)
                if invitee is not None and room is not None and room not in invitee.rooms:
                    room.invite(uid)
                    invitation = Invitation(
                        nick=inviter.nick, invitee=invitee.nick, room=room.name, mask=inviter.mask
                    )
                    self._out.to_user(invitee, invitation)
                    sender = self._dir.registered(inviter.uid)
                    if sender is not None:
                        self._out.to_user(sender, InviteSent(invitee=invitee.nick, room=room.name))
            case facts.AwayChanged(user=uid, message=message):
                user = self._dir.registered(uid)
                if user is not None:
                    user.away = message
                    self._reply(user, AwaySet(away=bool(message)))
                    away = AwayNotice(nick=user.nick, message=message, mask=user.mask)
                    self._out.to_rooms(user.rooms, away, but=user)
            case facts.UserModesChanged():
                self._apply_user_modes(fact)
            case facts.BecameOperator(user=uid, account=account):
                user = self._dir.registered(uid)
                if user is not None:
                    if not user.is_operator:
                        self._dir.operators += 1
                    user.is_operator = True
                    self._reply(user, OperGranted())
                    as_account = f" (account {account})" if account else ""
                    self._log(LogLevel.INFO, f"{user.nick} is now an operator{as_account}")
            case facts.Quitted(user=uid, text=text):
                user = self._dir.registered(uid)
                if user is not None:
                    if text:
                        self._out.to_rooms(user.rooms, LastWords(nick=user.nick, text=text), but=user)
                    self._reply(user, Goodbye(nick=user.nick, text=text))
                    gone = Disconnected(nick=user.nick, reason=LeaveReason.LEFT, text=text, mask=user.mask)
                    self._depart(user, gone)
                    self._connections.close(user)
            case facts.Killed(killer=killer, victim=victim_id, text=text):
                victim = self._dir.registered(victim_id)
                if victim is not None:
                    self._out.to_user(victim, KilledBy(killer=killer.nick, text=text, mask=killer.mask))
                    notice = Disconnected(
                        nick=victim.nick,
                        reason=LeaveReason.KILLED,
                        killer=killer.nick,
                        text=text,
                        mask=victim.mask,
                    )
                    self._depart(victim, notice, also=self._dir.registered(killer.uid))
                    self._connections.close(victim)
            case facts.Dropped(user=uid, reason=reason, close=close):
                user = self._dir.registered(uid)
                if user is not None:
                    self._depart(user, Disconnected(nick=user.nick, reason=reason, mask=user.mask))
                    if close:
                        self._connections.close(user)
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(fact)

    def _apply_registered(self, fact: facts.Registered) -> None:
        directory = self._dir
        user = directory.by_id.get(fact.user)
        nick = fact.nick
        if user is None or user.nick or directory.nick_taken(nick_key(nick), user):  # gone, or done already
            return
        if not self._msgid_base:  # the first user: the chat starts now
            self._msgid_base = f"{int(fact.at * 1000):x}-"  # ids unlike those of an earlier run
            directory.lobby.created = fact.at
        user.nick = nick
        user.info = fact.info
        user.signon = fact.at
        directory.users[nick_key(nick)] = user
        directory.most_users = max(directory.most_users, len(directory.users))
        self._connections.registered(user)
        lobby = directory.lobby
        self._out.to_user(user, Welcome(nick=nick, room=lobby.name if fact.lobby else ""))
        if fact.lobby:
            connected = Connected(nick=nick, room=lobby.name, mask=user.mask)
            self._out.to_room(lobby, connected)  # before it enters: the others
            self._enter(user, lobby)
        self._log(LogLevel.INFO, f"{nick} connected from {fact.peer}")

    def _apply_renamed(self, user: User, new: str) -> None:
        """``user`` holds the key of ``new``: tell it, and everyone who shares a room with it."""
        old, mask = user.nick, user.mask
        self._reply(user, NickSet(nick=new, old=old, mask=mask))
        if new == old:
            return
        directory = self._dir
        old_key = user.key
        key = nick_key(new)
        directory.remember(user, self._clock.wall)
        del directory.users[old_key]
        user.nick = new
        directory.users[key] = user
        if key != old_key:
            self._registry.release(old_key)
        self._out.to_rooms(user.rooms, NickChanged(old=old, new=new, mask=mask), but=user)
        self._log(LogLevel.INFO, f"{old} is now known as {new}")

    def _apply_joined(self, fact: facts.Joined) -> None:
        user = self._dir.registered(fact.user)
        if user is None:
            return
        key = room_key(fact.name)
        mask = user.mask
        for old in tuple(user.rooms):
            if old.key in fact.leaving and old.key != key:
                self._leave_room(user, old)
                self._out.to_room(old, LeftRoom(nick=user.nick, room=old.name, mask=mask))
        room = self._dir.rooms.get(key)
        if room is not None and room in user.rooms:
            return
        if room is None:
            room = Room(fact.name, created=fact.at)
            self._dir.add_room(room)
            room.operators.add(user)  # its creator
        joined = JoinedRoom(nick=user.nick, room=room.name, mask=mask, away=user.away)
        self._out.to_room(room, joined)  # before it enters: the others
        self._enter(user, room)
        topic = room.topic
        entered = EnteredRoom(
            nick=user.nick,
            room=room.name,
            mask=mask,
            topic=topic,
            topic_by=room.topic_by,
            topic_at=room.topic_at,
        )
        self._reply(user, entered)
        self._reply(user, queries.user_list(self._dir, user, room, named=True))
        if topic:
            self._reply(
                user, TopicIs(room=room.name, topic=topic, by=room.topic_by, at=room.topic_at, joined=True)
            )

    def _apply_topic(self, fact: facts.TopicChanged) -> None:
        room = self._dir.rooms.get(fact.room)
        if room is None:
            return
        setter, topic = fact.user, fact.topic
        unchanged = topic == room.topic
        if not unchanged:
            room.topic, room.topic_by, room.topic_at = topic, setter.nick, fact.at
            self._log(LogLevel.INFO, f"{setter.nick} set the topic of {room.name}")
        notice = TopicSet(
            nick=setter.nick, room=room.name, topic=topic, mask=setter.mask, unchanged=unchanged
        )
        self._out.to_room(room, notice)
        outsider = self._outsider(setter.uid, room)
        if outsider is not None:
            self._out.to_user(outsider, notice)

    def _outsider(self, uid: UserId, room: Room) -> User | None:
        """The user ``uid`` if it acts on ``room`` from outside (a server operator): told as members are."""
        actor = self._dir.registered(uid)
        return actor if actor is not None and room not in actor.rooms else None

    def _apply_kicked(self, fact: facts.Kicked) -> None:
        victim = self._dir.registered(fact.victim)
        room = self._dir.rooms.get(fact.room)
        if victim is None or room is None or room not in victim.rooms:
            return
        kicker, reason, mask = fact.kicker.nick, fact.reason, fact.kicker.mask
        outsider = self._outsider(fact.kicker.uid, room)  # before the victim (maybe the kicker) is out
        you = KickedYou(room=room.name, victim=victim.nick, kicker=kicker, reason=reason, mask=mask)
        self._out.to_user(victim, you)
        self._leave_room(victim, room)
        kicked = Kicked(room=room.name, victim=victim.nick, kicker=kicker, reason=reason, mask=mask)
        self._out.to_room(room, kicked)
        if outsider is not None:
            self._out.to_user(outsider, kicked)
        self._log(LogLevel.INFO, f"{victim.nick} was kicked from {room.name} by {kicker}")

    def _apply_modes(self, fact: facts.ModesChanged) -> None:
        room = self._dir.rooms.get(fact.room)
        if room is None:
            return
        done = tuple(change for change in fact.changes if self._change_room(room, change, fact))
        if not done:
            return
        room.settings_changed()
        setter = fact.user
        notice = ModesChanged(nick=setter.nick, room=room.name, changes=done, mask=setter.mask)
        self._out.to_room(room, notice)
        outsider = self._outsider(setter.uid, room)
        if outsider is not None:
            self._out.to_user(outsider, notice)

    def _change_room(self, room: Room, change: ModeChange, fact: facts.ModesChanged) -> bool:
        """Apply one change to ``room``; whether it changed anything."""
        on, mode, arg = change.on, change.mode, change.arg
        flag = FLAG_OF.get(mode)
        if flag is not None:
            if room.has(flag) is on:
                return False
            room.flags = room.flags | flag if on else room.flags & ~flag
            return True
        match mode:
            case RoomMode.KEY:
                if room.passkey == (arg if on else ""):
                    return False
                room.passkey = arg if on else ""
            case RoomMode.LIMIT:
                limit = int(arg) if on else 0
                if room.limit == limit:
                    return False
                room.limit = limit
            case RoomMode.BAN:
                folded = arg.casefold()
                present = [ban for ban in room.bans if ban.mask.casefold() == folded]
                if bool(present) is on:
                    return False
                if on:
                    room.bans.append(Ban(mask=arg, by=fact.user.nick, at=fact.at))
                else:
                    room.bans.remove(present[0])
            case RoomMode.OPERATOR | RoomMode.VOICE:
                member = self._dir.registered(change.member) if change.member is not None else None
                if member is None or room not in member.rooms:
                    return False
                group = room.operators if mode is RoomMode.OPERATOR else room.voiced
                if (member in group) is on:
                    return False
                if on:
                    group.add(member)
                else:
                    group.discard(member)
            case _:  # pragma: no cover - the flags are handled above
                raise AssertionError(mode)
        return True

    def _apply_user_modes(self, fact: facts.UserModesChanged) -> None:
        user = self._dir.registered(fact.user)
        if user is None:
            return
        invisible = (
            fact.invisible if fact.invisible is not None and fact.invisible is not user.invisible else None
        )
        operator = False if fact.operator is False and user.is_operator else None
        if invisible is None and operator is None:
            return
        if invisible is not None:
            user.invisible = invisible
            self._dir.invisible += 1 if invisible else -1
        if operator is not None:
            user.is_operator = False
            self._dir.operators -= 1
        self._reply(user, UserModesChanged(nick=user.nick, invisible=invisible, operator=operator))

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
        if not room.members and room is not self._dir.lobby:
            self._dir.remove_room(room)

    def _depart(self, user: User, notice: Disconnected, also: User | None = None) -> None:
        """``user`` leaves the chat: out of its rooms, its nickname free, everyone who shared a room told."""
        directory = self._dir
        directory.remember(user, self._clock.wall)
        rooms = user.rooms
        for room in rooms:
            self._leave_room(user, room)
        key = user.key
        del directory.users[key]
        del directory.by_id[user.uid]
        if user.is_operator:
            directory.operators -= 1
        if user.invisible:
            directory.invisible -= 1
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

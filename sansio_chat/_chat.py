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
from dataclasses import dataclass, fields
from typing import Protocol, assert_never

from . import _facts as facts
from . import _queries as queries
from ._actions import LogLevel
from ._base import Clock
from ._cluster import ClusterSeat, Link, Round
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
from ._shared import (
    Burst,
    ClusterStatus,
    Hello,
    Present,
    PresentRoom,
    PresentUser,
    Share,
    Shared,
    ShareRefusal,
    node_of,
)
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

    def reserved(self, user: User, nick: str) -> None:
        """``user``, not registered yet, holds ``nick`` now (an IRC client's ``NICK``); "": none any more."""
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
    RESERVE = "a nickname chosen before registering"
    REGISTER = "a registration under a nickname chosen before (IRC)"
    SAVE = "a guest name for a user whose nickname was taken while cut off"
    OTHER = "any other change"


#: Shares that register a user: granted to a connection gone meanwhile, the nickname is given back.
_REGISTRATIONS = frozenset({_Purpose.GUEST, _Purpose.REGISTER})


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
    """The chat of docs/protocol.md (and docs/irc.md), for every dialect.

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
        *,
        registry: NickRegistry | None = None,
        clock: Clock | None = None,
        seat: ClusterSeat | None = None,
    ) -> None:
        self._config = config
        self._out = deliveries
        self._connections = connections
        self._log = log
        self._registry: NickRegistry = registry if registry is not None else LocalNickRegistry()
        self._clock = clock if clock is not None else Clock()
        self._dir = Directory()
        self._seat = seat
        self._claims: dict[int, _Claim] = {}  # waiting for an answer, by claim number
        self._last_claim = 0
        self._shares: dict[int, _Sharing] = {}  # on their way through the cluster, by ticket
        self._held: dict[User, int] = {}  # claims and shares each user waits for
        self._saving = 0  # users renamed after a burst, before this server says hello
        self._pongs: list[tuple[int, User, str]] = []  # (last share before it, asker, token)
        self._oper_failures: dict[User, int] = {}  # only users who failed
        self._reservations: dict[UserId, str] = {}  # the nickname each unregistered user holds
        self._opers = dict(config.opers)  # named operator accounts
        self._msgid_base = ""  # made from the time of the first message
        self._msgids = 0
        self._msgid_node = f"{seat.node}." if seat is not None else ""  # ids of servers never collide

    # -- arriving -----------------------------------------------------------------------

    def arrive(self, user: User, number: int, peer: str) -> None:
        """A client that joins at once: named ``guest<number>`` (or the next free number), in ``#lobby``.

        In a cluster the number comes from the server's lease instead.
        """
        self._dir.by_id[user.uid] = user
        self._arrive(user, number if self._seat is None else self._seat.next_guest(), peer)

    def _arrive(self, user: User, number: int, peer: str) -> None:
        seat = self._seat
        while True:
            nick = f"guest{number}"  # already case-folded: its own key
            if not self._dir.nick_taken(nick):
                if seat is not None and seat.sharing:
                    fact = self._registration(user, nick, lobby=True, peer=peer)
                    follow = self._dir.lobby.key
                    self._share(fact, user, _Purpose.GUEST, take=nick, follow=follow, key=nick)
                    return
                answer = self._claim(user, nick, nick, _Purpose.GUEST, number=number, peer=peer)
                if answer is None:
                    return
                if answer:
                    self._registered(user, nick, lobby=True, peer=peer)
                    return
            number = number + 1 if seat is None else seat.next_guest()

    def _registration(self, user: User, nick: str, *, lobby: bool, peer: str) -> facts.Registered:
        return facts.Registered(
            user=user.uid, nick=nick, info=user.info, lobby=lobby, at=self._clock.wall, peer=peer
        )

    def _registered(self, user: User, nick: str, *, lobby: bool, peer: str) -> None:
        self.apply(self._registration(user, nick, lobby=lobby, peer=peer))

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
        key = nick_key(nick)
        del self._dir.reserved[key]
        seat = self._seat
        if seat is not None and seat.sharing:  # the cluster's directory decides, as for a rename
            fact = self._registration(user, nick, lobby=False, peer=peer)
            self._share(fact, user, _Purpose.REGISTER, key=key, detail=nick, take=key)
            return
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
            case _Purpose.REGISTER | _Purpose.SAVE | _Purpose.OTHER:  # pragma: no cover - only shares
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
                    self._commit(facts.Parted(user=user.uid, room=room.key, reason=reason), user)
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
                    self._commit(facts.AwayChanged(user=user.uid, message=message[:MAX_AWAY_CHARS]), user)
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
                self._commit(facts.Quitted(user=user.uid, text=text), user, free=user.key)
            case Kill(nick=nick, text=text):
                self._kill(user, nick, text)
            case Oper(password=password, name=name):
                self._oper(user, password, name)
            case Help(subject=subject):
                self._reply(user, HelpText(subject=subject))
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
        """Words to the speaker's own room: the hot path."""
        rooms = user.rooms
        if not rooms:
            self._reply(user, _NOT_IN_A_ROOM)
            return
        room = rooms[-1]  # user.room, inline
        kind = Speech.ACTION if command.action else Speech.WORDS
        if room.speech_limited and not self._may_speak(user, room, kind):
            return
        said = Said(
            source=user.identity, room=room.name, text=command.text, kind=kind, msgid=self._new_msgid()
        )
        self._speak(user, room, said)

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
        self._speak(user, room, said)

    def _speak(self, user: User, room: Room, said: Said) -> None:
        """Words to a room: said at once, or shared (they wait for nothing: the speaker's lines go on)."""
        seat = self._seat
        if seat is None or not seat.sharing:
            self.apply(said)
        else:  # from outside, this server follows the room until its words are back
            follow = room.key if room not in user.rooms else ""
            self._share(said, None, _Purpose.OTHER, room=room.key, follow=follow)

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
        return f"{self._msgid_base}{self._msgid_node}{self._msgids}"

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
        self._commit(
            facts.Whispered(recipient=recipient.uid, told=told), None, users=(recipient.uid, user.uid)
        )
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
        if key != user.key and self._dir.nick_taken(key):
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
        fact = facts.Joined(user=user.uid, name=name, at=self._clock.wall, leaving=leaving)
        self._commit(fact, user, follow=room_key(name))

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
            self._commit(
                facts.TopicChanged(user=user.identity, room=room.key, topic=text, at=self._clock.wall), user
            )

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
        fact = facts.Kicked(kicker=user.identity, room=room.key, victim=victim.uid, reason=command.reason)
        self._commit(fact, user)

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
        self._commit(facts.Invited(user=user.identity, room=room.key, invitee=invitee.uid), user)
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
            self._commit(fact, user)

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
            self._commit(facts.UserModesChanged(user=user.uid, invisible=invisible, operator=operator), user)

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
        fact = facts.Killed(killer=killer.identity, victim=victim.uid, text=text)
        seat = self._seat
        if seat is None or not seat.sharing:
            self.apply(fact)
        else:
            self._share(fact, killer, _Purpose.OTHER, detail=nick, evict=victim.key)

    def _oper(self, user: User, password: str, name: str | None) -> None:
        expected = self._config.oper_password if name is None else self._opers.get(name, "")
        if expected and hmac.compare_digest(password.encode(), expected.encode()):
            self._commit(facts.BecameOperator(user=user.uid, account=name or ""), user)
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
        """A registered user's connection ended (EOF, reset, too slow, timed out): tell the others.

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
        """A connection that never registered ended: forget it, its claims and its reserved nickname."""
        self._dir.by_id.pop(user.uid, None)
        self._unreserve(user)
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
        elif back and sharing.purpose in _REGISTRATIONS:  # granted to a connection gone meanwhile
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
        elif why is ShareRefusal.TAKEN and purpose is _Purpose.REGISTER:
            if user is not None:  # another server's client registered it first: choose another
                self._connections.reserved(user, "")
                self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=sharing.detail))
        elif purpose is _Purpose.RENAME:
            if user is not None:
                kind = ErrorKind.NICK_IN_USE if why is ShareRefusal.TAKEN else ErrorKind.CLUSTER_UNAVAILABLE
                self._reply(user, Error(kind=kind, detail=sharing.detail))
        elif why is ShareRefusal.NO_SUCH:  # a kill whose victim left meanwhile
            if user is not None:
                self._reply(user, Error(kind=ErrorKind.NO_SUCH_NICK, detail=sharing.detail))
        elif isinstance(item, Hello | Present):
            pass  # the link broke: this server says hello again when it is back
        elif user is not None or purpose not in _REGISTRATIONS:
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
                    for user in [user for user in self._dir.by_id.values() if not self._is_local(user)]:
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
                    for user in self._dir.by_id.values()
                    if user.nick and self._is_local(user) and self._dir.users.get(user.key) is user
                )
                seat.emit(Burst(users=mine))
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(status)

    def burst_answered(self, refused: tuple[UserId, ...]) -> None:
        """The directory holds this server's users again, but ``refused``: their nicknames were taken."""
        for uid in refused:
            user = self._dir.registered(uid)
            if user is None or self._dir.users.get(user.key) is not user:
                continue
            del self._dir.users[user.key]  # someone else's now: this user waits for a guest name
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
        while f"guest{number}" in self._dir.users:
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
        rooms: dict[Room, None] = {}
        for user in self._dir.by_id.values():
            if user.nick and self._is_local(user) and self._dir.users.get(user.key) is user:
                users.append(
                    PresentUser(
                        uid=user.uid,
                        nick=user.nick,
                        operator=user.is_operator,
                        rooms=tuple((room.name, user in room.operators) for room in user.rooms),
                        info=user.info,
                        away=user.away,
                        invisible=user.invisible,
                        voiced=tuple(room.name for room in user.rooms if user in room.voiced),
                        signon=user.signon,
                    )
                )
                rooms.update(dict.fromkeys(user.rooms))
        return Present(
            node=seat.node,
            to=hello.node,
            round=hello.round,
            users=tuple(users),
            rooms=tuple(map(_present_room, rooms)),
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
        for user in [user for user in self._dir.by_id.values() if node_of(user.uid) == node and user.nick]:
            if user.uid not in listed and user.uid not in born:
                self._depart(user, Disconnected(nick=user.nick, reason=LeaveReason.LEFT))
        rooms = {room.name: room for room in present.rooms}
        for listed_user in present.users:
            self._place(listed_user, rooms, quiet=quiet)
        if round_ is not None:
            for fact in round_.facts:  # what followed the hello, over the state it describes
                if _concerns(fact, node):
                    self.apply(fact)

    def _place(self, listed: PresentUser, rooms: dict[str, PresentRoom], *, quiet: bool) -> None:
        """Make a user of another server as its server says it is (telling the members who see a change)."""
        directory = self._dir
        key = nick_key(listed.nick)
        holder = directory.users.get(key)
        user = directory.by_id.get(listed.uid)
        if user is None:
            if holder is not None:
                return  # someone here holds its nickname: it is renamed soon, the other or this one
            user = directory.by_id[listed.uid] = User(listed.uid, None, listed.info)
            user.nick = listed.nick
            user.signon = listed.signon
            directory.users[key] = user
            directory.most_users = max(directory.most_users, len(directory.users))
        elif user.nick != listed.nick:
            if holder is not None and holder is not user:
                return
            old = user.nick
            del self._dir.users[user.key]  # a user of another server always holds its key here
            user.nick = listed.nick
            self._dir.users[key] = user
            if not quiet:
                self._out.to_rooms(user.rooms, NickChanged(old=old, new=user.nick, mask=user.mask))
        if user.is_operator is not listed.operator:
            directory.operators += 1 if listed.operator else -1
            user.is_operator = listed.operator
        if user.invisible is not listed.invisible:
            directory.invisible += 1 if listed.invisible else -1
            user.invisible = listed.invisible
        user.away = listed.away
        wanted = {room_key(name) for name, _ in listed.rooms}
        for room in tuple(user.rooms):
            if room.key not in wanted:
                self._leave_room(user, room)
                if not quiet:
                    self._out.to_room(room, LeftRoom(nick=user.nick, room=room.name, mask=user.mask))
        for name, operator in listed.rooms:
            found = directory.rooms.get(room_key(name))
            if found is None:
                found = _room_as_listed(rooms.get(name) or PresentRoom(name=name))
                directory.add_room(found)
            if found not in user.rooms:
                if not quiet:
                    self._out.to_room(found, JoinedRoom(nick=user.nick, room=found.name, mask=user.mask))
                self._enter(user, found)
            for group, member in ((found.operators, operator), (found.voiced, name in listed.voiced)):
                if member:
                    group.add(user)
                else:
                    group.discard(user)

    def node_down(self, keys: tuple[str, ...]) -> None:
        """Another server stopped or died: its users (by nickname key) leave the chat."""
        for key in keys:
            user = self._dir.users.get(key)
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
        for user in [user for user in self._dir.by_id.values() if user.nick and not self._is_local(user)]:
            if node_of(user.uid) not in ended.answered:
                self._depart(user, Disconnected(nick=user.nick, reason=LeaveReason.SERVER_DOWN))

    def _is_local(self, user: User) -> bool:
        """Whether ``user`` is (or was, its departure on its way) connected to this server."""
        seat = self._seat
        return seat is None or node_of(user.uid) == seat.node

    def _vanish(self, user: User) -> None:
        """Forget a user of another server without a word (this server's users are told in one line)."""
        directory = self._dir
        for room in user.rooms:
            self._leave_room(user, room)
        del directory.users[user.key]  # a user of another server always holds its key here
        del directory.by_id[user.uid]
        directory.operators -= user.is_operator
        directory.invisible -= user.invisible

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
        if user is None:
            seat = self._seat
            if seat is None or node_of(fact.user) == seat.node:
                return  # gone
            user = User(fact.user, None, fact.info)  # a user of another server
        # registered already, or (in a cluster cut off a moment) a clash
        if user.nick or directory.nick_taken(nick_key(nick), user):
            return
        directory.by_id[fact.user] = user
        if not self._msgid_base:  # the first user: the chat starts now
            self._msgid_base = f"{int(fact.at * 1000):x}-"  # ids unlike those of an earlier run
            directory.lobby.created = fact.at
        user.nick = nick
        user.info = fact.info
        user.signon = fact.at
        directory.users[nick_key(nick)] = user
        directory.most_users = max(directory.most_users, len(directory.users))
        lobby = directory.lobby
        self._out.to_user(user, Welcome(nick=nick, room=lobby.name if fact.lobby else ""))
        if fact.lobby:
            connected = Connected(nick=nick, room=lobby.name, mask=user.mask)
            self._out.to_room(lobby, connected)  # before it enters: the others
            self._enter(user, lobby)
        self._connections.registered(user)
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
        holder = directory.users.get(key)
        if holder is not None and holder is not user:  # a clash, in a cluster cut off a moment
            return
        directory.remember(user, self._clock.wall)
        if directory.users.get(old_key) is user:  # not after its nickname was taken while cut off
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
        if directory.users.get(key) is user:  # not after its nickname was taken while cut off
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


def _present_room(room: Room) -> PresentRoom:
    return PresentRoom(
        name=room.name,
        created=room.created,
        topic=room.topic,
        topic_by=room.topic_by,
        topic_at=room.topic_at,
        flags=room.flags,
        passkey=room.passkey,
        limit=room.limit,
        bans=tuple(room.bans),
    )


def _room_as_listed(listed: PresentRoom) -> Room:
    """A room this server did not know, as a server that lists users in it has it."""
    room = Room(listed.name, created=listed.created)
    room.topic, room.topic_by, room.topic_at = listed.topic, listed.topic_by, listed.topic_at
    room.flags, room.passkey, room.limit = listed.flags, listed.passkey, listed.limit
    room.bans.extend(listed.bans)
    room.settings_changed()
    return room

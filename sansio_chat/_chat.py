"""The chat rules: users, nicknames, operators, rooms and their modes, and who is told what.

The chat takes command objects from registered users and addresses reply
objects to audiences (``Deliveries``).  It never sees bytes, dialects or
connections: how a reply is spelled is a renderer's business, and which
connections receive it is the fan-out's.  What it needs of the server
running it (a user registered, a connection to close, input to hold while a
nickname claim waits) goes through ``Connections``.

Every command is decided here (``handle``: checked against the state, an
error back to the asker at once); what it changes is a fact (``_facts.py``)
given to ``StateChanges`` (``_state_changes.py``), the one place where the
state changes and deliveries are addressed, or, in a cluster, shared
through ``ClusterSync`` (``_cluster_sync.py``).  Questions (who is here,
which rooms) change nothing and are answered from the ``Directory``
(``_queries.py``).

A user may be in several rooms; "a text client is in at most one room" is
how text commands use the chat (``JOIN`` leaves the other rooms), and the
room a text command acts in is the room joined last.  Users come in two
ways: a text client at once, under a guest name, in ``#lobby``
(``arrive``); an IRC client once it has chosen a nickname and said who it
is (``reserve``, then ``register``), in no room.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import assert_never

from . import _facts as facts
from . import _queries as queries
from ._actions import LogLevel
from ._base import Clock
from ._chat_ports import Connections, Deliveries
from ._cluster import ClusterSeat
from ._cluster_sync import ClusterSync
from ._commands import (
    Announce,
    Away,
    BadLine,
    BadUsage,
    ChangeNick,
    ChangeRealname,
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
from ._holds import Holds, Purpose
from ._modes import (
    MAX_BANS,
    MAX_LIMIT,
    ModeChange,
    RoomFlag,
    RoomMode,
    is_valid_key,
    is_valid_mask,
    mask_matches,
    normal_mask,
)
from ._nicknames import LocalNickRegistry, NickRegistry, is_valid_nickname, nick_key
from ._replies import (
    AwaySet,
    BanList,
    Error,
    ErrorKind,
    HelpText,
    IsAway,
    LeaveReason,
    Pong,
    Reply,
    Said,
    Speech,
    Told,
    TopicIs,
    UserId,
    UserList,
    UserModesAre,
)
from ._rooms import MAX_KICK_REASON_CHARS, MAX_TOPIC_CHARS, Room, is_valid_room_name, room_key
from ._state_changes import MessageIds, StateChanges
from ._users import MAX_AWAY_CHARS, MAX_REALNAME_CHARS, User

_FAULT_ERRORS = {
    LineFault.INVALID_UTF8: Error(kind=ErrorKind.INVALID_UTF8),
    LineFault.CONTROL_CHARACTER: Error(kind=ErrorKind.CONTROL_CHARACTER),
}
_NOT_IN_A_ROOM = Error(kind=ErrorKind.NOT_IN_A_ROOM)
#: Speech never answered with an error (an automatic reply must not start a loop of them).
_UNANSWERED = frozenset({Speech.NOTICE, Speech.CTCP_REPLY})


@dataclass(slots=True, kw_only=True)
class _Claim:
    """A claim waiting for its answer; ``user`` is None once the claimant has gone."""

    user: User | None
    key: str
    nick: str
    purpose: Purpose
    number: int = 0  # of a guest name
    peer: str = ""  # of a registration, for the log


class Chat:
    """The chat of docs/protocol.md (and docs/irc.md), for every dialect.

    Every command is decided first (``handle``: checked against the state,
    errors back to the asker at once), then what it changes is a fact.  A
    lone server applies it at once (``StateChanges``).  A server of a
    cluster (with a ``seat``) shares it instead (``cluster``), holds the
    user's next lines, and applies it when it comes back, in the cluster's
    order, as every other server does; while its link is down it applies its
    users' facts at once.
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
        self._claims: dict[int, _Claim] = {}  # waiting for an answer, by claim number
        self._last_claim = 0
        self._holds = Holds(connections)  # claims and shares each user waits for
        self._oper_failures: dict[User, int] = {}  # only users who failed
        self._reservations: dict[UserId, str] = {}  # the nickname each unregistered user holds
        self._opers = dict(config.opers)  # named operator accounts
        self._ids = MessageIds(f"{seat.node}." if seat is not None else "")
        self._changes = StateChanges(
            self._dir,
            deliveries,
            connections,
            log,
            registry=self._registry,
            clock=self._clock,
            seat=seat,
            ids=self._ids,
            departed=self._departed,
        )
        self._apply = self._changes.apply  # bound once: words take this path on every line
        #: This server's part in a cluster (None for a lone server); the server gives it what the
        #: cluster says (facts back, failed shares, the link's changes).
        self.cluster = (
            ClusterSync(
                seat,
                self._dir,
                self._changes,
                holds=self._holds,
                deliveries=deliveries,
                connections=connections,
                log=log,
                retry_guest=self._arrive,
            )
            if seat is not None
            else None
        )

    # -- arriving -----------------------------------------------------------------------

    def arrive(self, user: User, number: int, peer: str) -> None:
        """A client that joins at once: named ``guest<number>`` (or the next free number), in ``#lobby``.

        In a cluster the number comes from the server's lease instead.
        """
        self._dir.by_id[user.uid] = user
        cluster = self.cluster
        self._arrive(user, number if cluster is None else cluster.seat.next_guest(), peer)

    def pass_number(self) -> None:
        """A client that names itself (IRC) uses up its number, as on a lone server (whose guest
        numbers count every connection admitted): a one-node cluster names its guests alike."""
        cluster = self.cluster
        if cluster is not None:
            cluster.seat.next_guest()

    def _arrive(self, user: User, number: int, peer: str) -> None:
        cluster = self.cluster
        while True:
            nick = f"guest{number}"  # already case-folded: its own key
            if not self._dir.nick_taken(nick):
                if cluster is not None and cluster.seat.sharing:
                    fact = self._registration(user, nick, lobby=True, peer=peer)
                    follow = self._dir.lobby.key
                    cluster.share(fact, user, Purpose.GUEST, take=nick, follow=follow, key=nick)
                    return
                answer = self._claim(user, nick, nick, Purpose.GUEST, number=number, peer=peer)
                if answer is None:
                    return
                if answer:
                    self._registered(user, nick, lobby=True, peer=peer)
                    return
            number = number + 1 if cluster is None else cluster.seat.next_guest()

    def _registration(self, user: User, nick: str, *, lobby: bool, peer: str) -> facts.Registered:
        return facts.Registered(
            user=user.uid, nick=nick, info=user.info, lobby=lobby, at=self._clock.wall, peer=peer
        )

    def _registered(self, user: User, nick: str, *, lobby: bool, peer: str) -> None:
        self._apply(self._registration(user, nick, lobby=lobby, peer=peer))

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
        answer = self._claim(user, key, nick, Purpose.RESERVE)
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
        cluster = self.cluster
        if cluster is not None:  # the cluster's directory decides, as for a rename
            if not cluster.seat.sharing:  # another server may grant it meanwhile: the client waits
                self._connections.reserved(user, "")
                self._reply(user, Error(kind=ErrorKind.CLUSTER_UNAVAILABLE, detail=nick))
                return
            fact = self._registration(user, nick, lobby=False, peer=peer)
            cluster.share(fact, user, Purpose.REGISTER, key=key, detail=nick, take=key)
            return
        self._registered(user, nick, lobby=False, peer=peer)

    # -- nickname claims ------------------------------------------------------------------

    def _claim(
        self, user: User, key: str, nick: str, purpose: Purpose, *, number: int = 0, peer: str = ""
    ) -> bool | None:
        """Ask the registry for ``key``: its answer, or None when it comes later."""
        self._last_claim += 1
        claim = self._last_claim
        answer = self._registry.claim(claim, key)
        if answer is None:
            self._claims[claim] = _Claim(
                user=user, key=key, nick=nick, purpose=purpose, number=number, peer=peer
            )
            self._holds.hold(user)
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
            case Purpose.GUEST:
                if granted:
                    self._registered(user, waiting.nick, lobby=True, peer=waiting.peer)
                else:
                    self._arrive(user, waiting.number + 1, waiting.peer)
            case Purpose.RENAME:
                if granted:
                    self._apply(facts.Renamed(user=user.uid, new=waiting.nick))
                else:
                    self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=waiting.nick))
            case Purpose.RESERVE:
                if granted:
                    self._reserved(user, waiting.key, waiting.nick)
                else:
                    self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=waiting.nick))
            case Purpose.REGISTER | Purpose.SAVE | Purpose.OTHER:  # pragma: no cover - only shares
                raise AssertionError(waiting.purpose)
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(waiting.purpose)
        self._holds.unhold(user)

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
                self._reply(user, queries.room_list(self._dir, user, command, self._clock.wall))
            case Topic():
                self._topic(user, command)
            case Kick():
                self._kick(user, command)
            case ChangeRoomModes():
                self._change_modes(user, command)
            case ShowRoomModes(room=name, typed=typed):
                room = self._named_room(user, name, typed)
                if room is not None:
                    self._reply(user, queries.room_modes(user, room))
            case ShowBans(room=name, typed=typed):
                room = self._named_room(user, name, typed)
                if room is not None:
                    self._reply(user, BanList(room=room.name, bans=tuple(room.bans)))
            case UserModes():
                self._user_modes(user, command)
            case ChangeRealname(realname=realname):
                if not realname or len(realname) > MAX_REALNAME_CHARS:
                    self._reply(user, Error(kind=ErrorKind.INVALID_REALNAME, detail=str(MAX_REALNAME_CHARS)))
                else:
                    self._commit(facts.RealnameChanged(user=user.uid, realname=realname), user)
            case Announce(text=text):
                self._announce(user, text)
            case Invite():
                self._invite(user, command)
            case Away(message=message):
                if message.isspace():  # blank is no message: back, in every dialect (a text AWAY is trimmed)
                    message = ""
                if message or user.away:
                    self._commit(facts.AwayChanged(user=user.uid, message=message[:MAX_AWAY_CHARS]), user)
                else:
                    self._reply(user, AwaySet(away=False, nick=user.nick))
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
        cluster = self.cluster
        if cluster is None or not cluster.seat.sharing:
            self._apply(fact)
        else:
            cluster.share(fact, user, Purpose.OTHER, follow=follow, users=users, free=free)

    def _ping(self, user: User, token: str) -> None:
        """``PONG``, the barrier of the protocol: after everything decided before it is applied.

        On a lone server that is at once; in a cluster, once this server's
        shares before it are back (``ClusterSync.ping``).
        """
        cluster = self.cluster
        if cluster is None:
            self._reply(user, Pong(token=token))
        else:
            cluster.ping(user, token)

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
        said = Said(source=user.identity, room=room.name, text=command.text, kind=kind, msgid=self._ids.new())
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
            msgid=self._ids.new(),
            tags=command.tags,
            to_rank=command.to_rank,  # (the room's rules for the speaker are the same: only fewer hear)
        )
        self._speak(user, room, said)

    def _speak(self, user: User, room: Room, said: Said) -> None:
        """Words to a room: said at once, or shared (they wait for nothing: the speaker's lines go on)."""
        cluster = self.cluster
        if cluster is None or not cluster.seat.sharing:
            self._apply(said)
        else:  # from outside, this server follows the room until its words are back
            follow = room.key if room not in user.rooms else ""
            cluster.share(said, None, Purpose.OTHER, room=room.key, follow=follow)

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
            msgid=self._ids.new(),
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
        cluster = self.cluster
        if cluster is not None:  # the cluster's directory decides, in one step with the others
            if not cluster.seat.sharing:
                self._reply(user, Error(kind=ErrorKind.CLUSTER_UNAVAILABLE, detail=new))
                return
            fact = facts.Renamed(user=user.uid, new=new)
            cluster.share(fact, user, Purpose.RENAME, key=key, detail=new, take=key, free=user.key)
            return
        if key != user.key:
            answer = self._claim(user, key, new, Purpose.RENAME)
            if answer is None:
                return
            if not answer:
                self._reply(user, Error(kind=ErrorKind.NICK_IN_USE, detail=new))
                return
        self._apply(facts.Renamed(user=user.uid, new=new))

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

    def _named_room(self, user: User, name: str | None, typed: str) -> Room | None:
        """The room ``name`` if ``user`` may see it, or its own (``name`` None); else an error, and None."""
        if name is None:
            room = user.room
            if room is None:
                self._reply(user, _NOT_IN_A_ROOM)
            return room
        return self._seen_room(user, name, typed)

    def _member_room(self, user: User, name: str, typed: str) -> Room | None:
        """The room ``name`` if ``user`` is in it; else an error to it, and None."""
        room = self._seen_room(user, name, typed)
        if room is not None and room not in user.rooms:
            self._reply(user, Error(kind=ErrorKind.NOT_A_MEMBER, room=room.name))
            return None
        return room

    def _acting_room(self, user: User, name: str | None, typed: str) -> Room | None:
        """The room a command acts in: the user's own (``name`` None), else one it is in (or may run)."""
        room = self._named_room(user, name, typed)
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
        reason = command.reason[:MAX_KICK_REASON_CHARS]
        fact = facts.Kicked(kicker=user.identity, room=room.key, victim=victim.uid, reason=reason)
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
        room = self._named_room(user, command.room, command.typed)
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
            if not is_valid_key(arg):
                self._bad_mode_argument(user, room, mode)
                return None
        elif mode is RoomMode.LIMIT and change.on:
            if not (arg.isascii() and arg.isdigit() and 1 <= int(arg) <= MAX_LIMIT):
                self._bad_mode_argument(user, room, mode)
                return None
            return ModeChange(on=True, mode=mode, arg=str(int(arg)))
        elif mode is RoomMode.BAN:
            mask = normal_mask(arg)
            if not arg or not is_valid_mask(mask):  # (no mask is no ban, not ``*!*@*``: everyone)
                self._bad_mode_argument(user, room, mode)
                return None
            folded = mask.casefold()
            listed = next((ban.mask for ban in room.bans if ban.mask.casefold() == folded), None)
            if change.on and bans >= MAX_BANS and listed is None:
                self._reply(user, Error(kind=ErrorKind.BAN_LIST_FULL, detail=str(MAX_BANS), room=room.name))
                return None
            # a removal names the mask as it was set: clients keep the list as it was shown to them
            return ModeChange(on=change.on, mode=mode, arg=mask if change.on or listed is None else listed)
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
        target = self._dir.user(command.nick) if command.nick else user
        if target is None:
            self._reply(user, Error(kind=ErrorKind.NO_SUCH_NICK, detail=command.nick))
            return
        if target is not user:
            self._reply(user, Error(kind=ErrorKind.NOT_YOUR_MODES, detail=command.nick))
            return
        asked = (command.invisible, command.operator, command.announcements, command.bot)
        if asked == (None, None, None, None):
            modes = UserModesAre(
                invisible=user.invisible,
                operator=user.is_operator,
                announcements=user.announcements,
                bot=user.bot,
            )
            self._reply(user, modes)
            return
        invisible = command.invisible if command.invisible is not user.invisible else None
        operator = False if command.operator is False and user.is_operator else None  # only giving it up
        wanted = command.announcements
        announcements = wanted if wanted is not user.announcements else None
        bot = command.bot if command.bot is not user.bot else None
        if invisible is not None or operator is not None or announcements is not None or bot is not None:
            fact = facts.UserModesChanged(
                user=user.uid, invisible=invisible, operator=operator, announcements=announcements, bot=bot
            )
            self._commit(fact, user)

    def _announce(self, user: User, text: str) -> None:
        """A server operator's words to all who hear announcements, on every server of a cluster."""
        if not user.is_operator:
            self._reply(user, Error(kind=ErrorKind.PERMISSION_DENIED))
        else:
            self._commit(facts.Announced(source=user.identity, text=text), user)

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
        cluster = self.cluster
        if cluster is None or not cluster.seat.sharing:
            self._apply(fact)
        else:
            cluster.share(fact, killer, Purpose.OTHER, detail=nick, evict=victim.key)

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
        cluster = self.cluster
        if cluster is None or not cluster.seat.sharing:
            self._apply(facts.Dropped(user=user.uid, reason=reason))
            return False
        if aborted:
            self._forget_claims(user)
            self._out.detach(user)
        fact = facts.Dropped(user=user.uid, reason=reason, close=not aborted)
        cluster.share(fact, None, Purpose.OTHER, free=user.key)
        return not aborted

    def abandon(self, user: User) -> None:
        """A connection that never registered ended: forget it, its claims and its reserved nickname."""
        self._dir.by_id.pop(user.uid, None)
        self._unreserve(user)
        self._forget_claims(user)

    def _departed(self, user: User) -> None:
        """``user`` left the chat: what deciding kept about it goes too (failed ``OPER``s, claims)."""
        self._oper_failures.pop(user, None)
        self._forget_claims(user)

    def _forget_claims(self, user: User) -> None:
        """``user``'s connection has gone: nothing it waited for holds anything any more."""
        for waiting in self._claims.values():
            if waiting.user is user:
                waiting.user = None
        if self._holds.forget(user) and self.cluster is not None:
            self.cluster.forget(user)

    # -- facts: applying --------------------------------------------------------------------

    def apply(self, fact: Fact) -> None:
        """Apply a fact decided elsewhere (by another server of a cluster): see ``StateChanges``."""
        self._apply(fact)

    # -- replies ------------------------------------------------------------------------------

    def _reply(self, user: User, reply: Reply) -> None:
        self._out.to_user(user, reply)

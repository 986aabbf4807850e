"""Keeping a server of a cluster in step with the others: sharing facts, and saying who is here.

What this server's users decide is shared (``share``) and applied when it
comes back from the cluster (``arrived``), in the cluster's order; a share
that fails is told to its asker or applied here alone.  When the link
breaks and comes back, this server lists its users again (``Burst``),
renames those whose nicknames were taken meanwhile, says hello, and takes
every other server's users as that server says they are (``Present``).
The seat (``_cluster.py``) keeps the link's status, tickets, guest numbers
and rounds; this module acts on them, and changes the chat's state only
through ``StateChanges``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import assert_never

from . import _facts as facts
from ._actions import LogLevel
from ._chat_ports import Connections, Deliveries
from ._cluster import ClusterSeat, Link, Round
from ._directory import Directory
from ._facts import Fact
from ._holds import REGISTRATIONS, Holds, Purpose
from ._nicknames import nick_key
from ._replies import (
    ClusterNews,
    ClusterNotice,
    Disconnected,
    Error,
    ErrorKind,
    Identity,
    JoinedRoom,
    LeaveReason,
    LeftRoom,
    NickChanged,
    Pong,
    Said,
    UserId,
)
from ._rooms import Room, room_key
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
from ._state_changes import StateChanges
from ._users import User


@dataclass(slots=True, kw_only=True)
class Sharing:
    """A shared item on its way; ``user`` (held until it is back) is None once it has gone, or for none."""

    user: User | None
    item: Shared
    purpose: Purpose
    key: str = ""  # the nickname key it takes
    detail: str = ""  # what an error about it names (the nickname typed)
    follow: str = ""  # a room followed for it until it is back


class ClusterSync:
    """This server's part in a cluster: its shares in flight, ``PONG``s waiting for them, hellos.

    ``retry_guest`` asks the chat for another guest name for a user (whose
    number was taken meanwhile): choosing names is the chat's business.
    """

    def __init__(
        self,
        seat: ClusterSeat,
        directory: Directory,
        changes: StateChanges,
        *,
        holds: Holds,
        deliveries: Deliveries,
        connections: Connections,
        log: Callable[[LogLevel, str], None],
        retry_guest: Callable[[User, int, str], None],
    ) -> None:
        self.seat = seat
        self._dir = directory
        self._changes = changes
        self._apply = changes.apply
        self._holds = holds
        self._out = deliveries
        self._connections = connections
        self._log = log
        self._retry_guest = retry_guest
        self._shares: dict[int, Sharing] = {}  # on their way through the cluster, by ticket
        self._saving = 0  # users renamed after a burst, before this server says hello
        self._pongs: list[tuple[int, User, str]] = []  # (last share before it, asker, token)

    def share(
        self,
        item: Shared,
        user: User | None,
        purpose: Purpose,
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
        """Send ``item`` through the cluster; ``user``'s next lines wait until it is back (see ``Share``)."""
        seat = self.seat
        ticket = seat.ticket()
        owner = 0
        if take or free:
            owner = user.uid if user is not None else _owner(item)
        if follow:
            seat.follow(follow)
        self._shares[ticket] = Sharing(
            user=user, item=item, purpose=purpose, key=key, detail=detail, follow=follow
        )
        if user is not None:
            self._holds.hold(user)
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

    def ping(self, user: User, token: str) -> None:
        """``PONG`` once everything this server shared before it is back (the asker's lines wait too).

        Words and facts of this server's users may still be crossing the
        cluster: a client that waits for its ``PONG`` has seen what was
        decided before, as on a lone server.
        """
        shares = self._shares
        if not shares:
            self._out.to_user(user, Pong(token=token))
            return
        self._pongs.append((next(reversed(shares)), user, token))
        self._holds.hold(user)

    def _answer_pongs(self) -> None:
        """The ``PONG``s whose shares before them are all back (or failed)."""
        pongs = self._pongs
        oldest = next(iter(self._shares), None)
        while pongs and (oldest is None or pongs[0][0] < oldest):
            _, user, token = pongs.pop(0)
            if user in self._holds:  # (not if it left meanwhile)
                self._out.to_user(user, Pong(token=token))
                self._holds.unhold(user)

    def arrived(self, arrivals: tuple[tuple[Shared, int], ...], now: float) -> None:
        """Shared items back from the cluster, in its order: each applied, this server's own settled.

        An item of this server's own whose share already failed (it was
        applied here then) is not applied twice.
        """
        seat = self.seat
        for item, ticket in arrivals:
            sharing = None
            if ticket:
                sharing = self._shares.pop(ticket, None)
                if sharing is None:
                    continue
            match item:
                case Said() | facts.Whispered() | facts.Announced():  # words: no round keeps them
                    self._apply(item)
                case Hello():
                    self._hello(item, now)
                case Present():
                    self._present(item)
                case _:
                    seat.keep(item, item.user if isinstance(item, facts.Registered) else None)
                    self._apply(item)
            if sharing is not None:
                self._settle(sharing, back=True)

    def _settle(self, sharing: Sharing, *, back: bool) -> None:
        """A share of this server's came ``back``, or failed: whoever waited for it goes on."""
        user = sharing.user
        if user is not None:
            if user in self._holds:  # (not if the fact itself was its departure)
                self._holds.unhold(user)
        elif back and sharing.purpose in REGISTRATIONS:  # granted to a connection gone meanwhile
            item = sharing.item
            assert isinstance(item, facts.Registered)
            fact = facts.Dropped(user=item.user, reason=LeaveReason.LEFT)
            self.share(fact, None, Purpose.OTHER, free=sharing.key)
        if sharing.follow:
            seat = self.seat
            seat.unfollow(sharing.follow)
        if sharing.purpose is Purpose.SAVE:
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
        seat = self.seat
        if why is ShareRefusal.TAKEN and purpose is Purpose.GUEST:
            if user is not None:
                assert isinstance(item, facts.Registered)
                self._retry_guest(user, seat.next_guest(), item.peer)
        elif why is ShareRefusal.TAKEN and purpose is Purpose.SAVE:
            if user is not None:
                self._save(user)
        elif purpose is Purpose.REGISTER:
            if user is not None:  # another server's client registered it first, or the link broke:
                self._connections.reserved(user, "")  # no server grants a chosen nickname alone
                kind = ErrorKind.NICK_IN_USE if why is ShareRefusal.TAKEN else ErrorKind.CLUSTER_UNAVAILABLE
                self._out.to_user(user, Error(kind=kind, detail=sharing.detail))
        elif purpose is Purpose.RENAME:
            if user is not None:
                kind = ErrorKind.NICK_IN_USE if why is ShareRefusal.TAKEN else ErrorKind.CLUSTER_UNAVAILABLE
                self._out.to_user(user, Error(kind=kind, detail=sharing.detail))
        elif why is ShareRefusal.NO_SUCH:  # a kill whose victim left meanwhile
            if user is not None:
                self._out.to_user(user, Error(kind=ErrorKind.NO_SUCH_NICK, detail=sharing.detail))
        elif isinstance(item, Hello | Present):
            pass  # the link broke: this server says hello again when it is back
        elif user is not None or purpose not in REGISTRATIONS:
            self._apply(item)  # cut off: it happens here alone, as while the link is down
        self._settle(sharing, back=False)

    def cluster_changed(self, status: ClusterStatus) -> None:
        """The link with the other servers broke, stayed broken, or is back."""
        seat = self.seat
        match status:
            case ClusterStatus.INTERRUPTED:
                seat.relinked(Link.OFFLINE)
                seat.missed = True
            case ClusterStatus.DOWN:
                seat.relinked(Link.OFFLINE)
                if not seat.down:
                    seat.down = True
                    for user in [user for user in self._dir.by_id.values() if not self._is_local(user)]:
                        self._changes.vanish(user)
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
            self._out.to_user(user, ClusterNotice(news=ClusterNews.NICK_TAKEN, detail=user.nick))
            self._log(LogLevel.INFO, f"{user.nick} was taken while this server was cut off")
            self._save(user)
        if not self._saving:
            self._say_hello()

    def _save(self, user: User) -> None:
        """A guest name for ``user``, whose nickname someone else took while this server was cut off."""
        seat = self.seat
        number = seat.next_guest()
        while f"guest{number}" in self._dir.users:
            number = seat.next_guest()
        nick = f"guest{number}"
        self._saving += 1
        self.share(facts.Renamed(user=user.uid, new=nick), user, Purpose.SAVE, key=nick, take=nick)

    def _say_hello(self) -> None:
        """Every user of this server holds its nickname again: ask every server for its users."""
        seat = self.seat
        if seat.link is Link.JOINING:
            seat.hellos += 1
            self.share(Hello(node=seat.node, round=seat.hellos), None, Purpose.OTHER)

    def _hello(self, hello: Hello, now: float) -> None:
        """A server (this one, or another) said hello: keep what follows a moment, and answer."""
        seat = self.seat
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
            self.share(self._present_users(hello), None, Purpose.OTHER)

    def _present_users(self, hello: Hello) -> Present:
        """This server's users as they are now, for the server that said ``hello``."""
        seat = self.seat
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
                        announcements=user.announcements,
                        bot=user.bot,
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
        seat = self.seat
        node = present.node
        if node == seat.node:
            return  # this server's own users are the truth here
        for open_round in seat.rounds.values():  # (an answer to a later hello counts as one)
            open_round.answered.add(node)
        round_ = seat.rounds.get((present.to, present.round))
        born = round_.born if round_ is not None else set()
        quiet = present.to == seat.node  # this server's own return: its users were told in one line
        listed = {user.uid: user for user in present.users}
        for user in [user for user in self._dir.by_id.values() if node_of(user.uid) == node and user.nick]:
            entry = listed.get(user.uid)
            if entry is None:
                if user.uid not in born:
                    self._changes.depart(user, _departure(user, LeaveReason.LEFT))
            elif entry.nick != user.nick and not self._held_here(nick_key(entry.nick)):
                del self._dir.users[user.key]  # renamed: its old nickname may be another's now (a swap)
        rooms = {room.name: room for room in present.rooms}
        for listed_user in present.users:
            self._place(listed_user, rooms, quiet=quiet)
        if round_ is not None:
            for fact in round_.facts:  # what followed the hello, over the state it describes
                if _concerns(fact, node):
                    self._apply(fact)

    def _place(self, listed: PresentUser, rooms: dict[str, PresentRoom], *, quiet: bool) -> None:
        """Make a user of another server as its server says it is (telling the members who see a change)."""
        directory = self._dir
        key = nick_key(listed.nick)
        user = directory.by_id.get(listed.uid)
        holder = directory.users.get(key)
        if holder is not None and holder is not user and not self._is_local(holder):
            # Held here from older news than this presence (this server missed the holder's
            # departure or rename): its own server's presence, or a fact replayed after it,
            # says where it is now.  Kept, it would keep the listed user out here alone.
            self._changes.depart(holder, _departure(holder, LeaveReason.LEFT))
            holder = None
        if user is None:
            if holder is not None:
                return  # a user of this server holds it: one of the two is renamed, then a round follows
            user = directory.by_id[listed.uid] = User(listed.uid, None, listed.info)
            user.nick = listed.nick
            user.signon = listed.signon
            directory.users[key] = user
            directory.most_users = max(directory.most_users, len(directory.users))
        elif user.nick != listed.nick:
            if holder is not None:
                return  # the same: it keeps its nickname here meanwhile (``_present`` left it held)
            old = user.nick  # (its old nickname was let go by ``_present``)
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
        user.announcements = listed.announcements
        user.bot = listed.bot
        user.info = listed.info  # (its real name may have changed)
        user.away = listed.away
        wanted = {room_key(name) for name, _ in listed.rooms}
        for room in tuple(user.rooms):
            if room.key not in wanted:
                self._changes.leave_room(user, room)
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
                self._changes.enter(user, found)
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
                self._changes.depart(user, _departure(user, LeaveReason.SERVER_DOWN))

    def guests_leased(self, first: int, last: int) -> None:
        seat = self.seat
        seat.leased(first, last)

    def tick(self, now: float) -> None:
        """Rounds over: after this server's last, the users of servers that never answered it go."""
        seat = self.seat
        for ended in seat.ended_rounds(now):
            if ended.node == seat.node and ended.number == seat.hellos:
                self._forget_silent(ended)

    def _forget_silent(self, ended: Round) -> None:
        for user in [user for user in self._dir.by_id.values() if user.nick and not self._is_local(user)]:
            if node_of(user.uid) not in ended.answered:
                self._changes.depart(user, _departure(user, LeaveReason.SERVER_DOWN))

    def _held_here(self, key: str) -> bool:
        """Whether a user of this server holds the nickname ``key`` (before its burst is answered)."""
        holder = self._dir.users.get(key)
        return holder is not None and self._is_local(holder)

    def _is_local(self, user: User) -> bool:
        """Whether ``user`` is (or was, its departure on its way) connected to this server."""
        return node_of(user.uid) == self.seat.node

    def forget(self, user: User) -> None:
        """``user``'s connection has gone: the shares it waited for hold nothing any more."""
        for sharing in self._shares.values():
            if sharing.user is user:
                sharing.user = None


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


def _departure(user: User, reason: LeaveReason) -> Disconnected:
    """A user of another server leaving, as its own departures are told: by nickname and full mask."""
    return Disconnected(nick=user.nick, reason=reason, mask=user.mask)

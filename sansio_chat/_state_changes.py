"""Applying facts: the one place where the chat's state changes and deliveries are addressed.

A fact (``_facts.py``) is what a decided command changes; words (``Said``)
are one too.  A lone server applies its users' facts at once; a server of a
cluster applies every server's facts in the cluster's order.  Either way
they come here, so that the same facts in the same order leave the same
state and make the same deliveries wherever they are applied.  A fact that
went stale on the way (its user left, its room is gone) changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import assert_never

from . import _facts as facts
from . import _queries as queries
from ._actions import LogLevel
from ._base import Clock
from ._chat_ports import Connections, Deliveries
from ._cluster import ClusterSeat
from ._directory import Directory
from ._facts import Fact
from ._modes import FLAG_OF, Ban, ModeChange, RoomMode
from ._nicknames import NickRegistry, nick_key
from ._replies import (
    Announcement,
    AwayNotice,
    AwaySet,
    ClusterNews,
    ClusterNotice,
    Connected,
    Disconnected,
    EnteredRoom,
    Goodbye,
    Invitation,
    InviteSent,
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
    RealnameChanged,
    Reply,
    Said,
    TopicIs,
    TopicSet,
    UserId,
    UserModesChanged,
    Welcome,
)
from ._rooms import Room, room_key
from ._shared import node_of
from ._users import User


class MessageIds:
    """Ids of messages (IRCv3 ``msgid``), unlike those of an earlier run or of another server."""

    __slots__ = ("_count", "_node", "base")

    def __init__(self, node: str) -> None:
        self.base = ""  # made from the time of the first registration (``StateChanges``)
        self._node = node  # "<node>." in a cluster: ids of servers never collide
        self._count = 0

    def new(self) -> str:
        self._count += 1
        return f"{self.base}{self._node}{self._count}"


class StateChanges:
    """The chat's state (a ``Directory``) changed fact by fact, and who is told what.

    ``departed`` is called for each user who leaves the chat, so that what
    deciding keeps about it (claims, failed ``OPER``s) goes with it.
    """

    def __init__(
        self,
        directory: Directory,
        deliveries: Deliveries,
        connections: Connections,
        log: Callable[[LogLevel, str], None],
        *,
        registry: NickRegistry,
        clock: Clock,
        seat: ClusterSeat | None,
        ids: MessageIds,
        departed: Callable[[User], None],
    ) -> None:
        self._dir = directory
        self._out = deliveries
        self._connections = connections
        self._log = log
        self._registry = registry
        self._clock = clock
        self._seat = seat
        self._ids = ids
        self._departed = departed

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
                    if fact.to_rank is None:
                        self._out.to_room(room, fact, speaker)
                    else:
                        self._out.to_ranked(room, fact.to_rank, fact, speaker)
                    self._out.echo(speaker, fact)
                else:  # from outside the room, or a speaker who left meanwhile: its words still arrive
                    if fact.to_rank is None:
                        self._out.to_room(room, fact)
                    else:
                        self._out.to_ranked(room, fact.to_rank, fact)
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
                    self.leave_room(user, room)
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
                    self._reply(user, AwaySet(away=bool(message), nick=user.nick, message=message))
                    away = AwayNotice(nick=user.nick, message=message, mask=user.mask)
                    self._out.to_rooms(user.rooms, away, but=user)
            case facts.UserModesChanged():
                self._apply_user_modes(fact)
            case facts.RealnameChanged(user=uid, realname=realname):
                user = self._dir.registered(uid)
                if user is not None:
                    changed = RealnameChanged(nick=user.nick, realname=realname, mask=user.mask)
                    if realname == user.info.realname:  # the same again, or applied again after a round
                        self._reply(user, changed)
                    else:
                        user.info = dataclasses.replace(user.info, realname=realname)
                        self._out.to_rooms(user.rooms, changed, also=user)
            case facts.Announced(source=source, text=text):
                announcement = Announcement(source=source, text=text)
                for user in self._dir.users.values():  # (rare, an operator's: no index kept for it)
                    if user.announcements:
                        self._out.to_user(user, announcement)  # (users of other servers: passed by)
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
                    self.depart(user, gone)
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
                    self.depart(victim, notice, also=self._dir.registered(killer.uid))
                    self._connections.close(victim)
            case facts.Dropped(user=uid, reason=reason, close=close):
                user = self._dir.registered(uid)
                if user is not None:
                    self.depart(user, Disconnected(nick=user.nick, reason=reason, mask=user.mask))
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
        ids = self._ids
        if not ids.base:  # the first user: the chat starts now
            ids.base = f"{int(fact.at * 1000):x}-"  # ids unlike those of an earlier run
            directory.lobby.created = fact.at
        user.nick = nick
        user.info = fact.info
        user.signon = fact.at
        directory.users[nick_key(nick)] = user
        directory.most_users = max(directory.most_users, len(directory.users))
        lobby = directory.lobby
        self._out.to_user(user, Welcome(nick=nick, room=lobby.name if fact.lobby else ""))
        if self._seat is not None and self._seat.down:  # told as the others were: it knows who hears it
            self._out.to_user(user, ClusterNotice(news=ClusterNews.LOST_CONTACT))
        if fact.lobby:
            connected = Connected(nick=nick, room=lobby.name, mask=user.mask)
            self._out.to_room(lobby, connected)  # before it enters: the others
            self.enter(user, lobby)
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
                self.leave_room(user, old)
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
        self.enter(user, room)
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
        self.leave_room(victim, room)
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
        wanted = fact.announcements
        announcements = wanted if wanted is not None and wanted is not user.announcements else None
        bot = fact.bot if fact.bot is not None and fact.bot is not user.bot else None
        if invisible is None and operator is None and announcements is None and bot is None:
            return
        if invisible is not None:
            user.invisible = invisible
            self._dir.invisible += 1 if invisible else -1
        if operator is not None:
            user.is_operator = False
            self._dir.operators -= 1
        if announcements is not None:
            user.announcements = announcements
        if bot is not None:
            user.bot = bot
        changed = UserModesChanged(
            nick=user.nick, invisible=invisible, operator=operator, announcements=announcements, bot=bot
        )
        self._reply(user, changed)

    def enter(self, user: User, room: Room) -> None:
        room.add(user)
        user.rooms = (*user.rooms, room) if user.rooms else room.alone
        self._out.entered(room, user)

    def leave_room(self, user: User, room: Room) -> None:
        """Take ``user`` out of ``room``, which goes if it is left empty (but ``#lobby``)."""
        room.remove(user)
        rooms = tuple(other for other in user.rooms if other is not room)
        user.rooms = rooms[0].alone if len(rooms) == 1 else rooms
        self._out.left(room, user)
        if not room.members and room is not self._dir.lobby:
            self._dir.remove_room(room)

    def depart(self, user: User, notice: Disconnected, also: User | None = None) -> None:
        """``user`` leaves the chat: out of its rooms, its nickname free, everyone who shared a room told."""
        directory = self._dir
        directory.remember(user, self._clock.wall)
        rooms = user.rooms
        for room in rooms:
            self.leave_room(user, room)
        key = user.key
        if directory.users.get(key) is user:  # not after its nickname was taken while cut off
            del directory.users[key]
        del directory.by_id[user.uid]
        if user.is_operator:
            directory.operators -= 1
        if user.invisible:
            directory.invisible -= 1
        self._registry.release(key)
        self._departed(user)
        self._out.to_rooms(rooms, notice, also=also)
        reason = (
            notice.reason.value if notice.reason is not LeaveReason.KILLED else f"killed by {notice.killer}"
        )
        self._log(LogLevel.INFO, f"{user.nick} disconnected ({reason})")

    def vanish(self, user: User) -> None:
        """Forget a user of another server without a word (this server's users are told in one line)."""
        directory = self._dir
        for room in user.rooms:
            self.leave_room(user, room)
        del directory.users[user.key]  # a user of another server always holds its key here
        del directory.by_id[user.uid]
        directory.operators -= user.is_operator
        directory.invisible -= user.invisible

    def _reply(self, user: User, reply: Reply) -> None:
        self._out.to_user(user, reply)

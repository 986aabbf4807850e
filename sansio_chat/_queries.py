"""Answers to questions about the chat (who is here, which rooms, which modes): they change nothing.

Each takes the chat's ``Directory`` and the asker, and returns the reply,
showing only what the asker may see (a secret room's members to its
members, an invisible user to those who share a room with it).
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter

from ._commands import ListRooms, RoomFilter, Who, Whowas
from ._directory import Directory
from ._modes import FLAG_OF, ModeChange, RoomFlag, RoomMode, any_mask
from ._nicknames import nick_key
from ._replies import (
    IsonReply,
    RoomList,
    RoomModesAre,
    ServerStats,
    UserDetails,
    UserhostReply,
    UserList,
    WhoisReply,
    WhoList,
    WhowasReply,
)
from ._rooms import Room
from ._users import User

_nick_of = attrgetter("nick")
#: Nicknames ``USERHOST`` answers for at most.
USERHOST_MAX = 5


def user_list(directory: Directory, asker: User, room: Room, *, named: bool) -> UserList:
    """The members of ``room`` that ``asker`` may see, in join order."""
    members = directory.visible_members(asker, room)
    return UserList(
        room=room.name,
        nicks=tuple(map(_nick_of, members)),
        operators=frozenset(map(_nick_of, room.operators)),
        named=named,
        voiced=frozenset(map(_nick_of, room.voiced)),
        masks=tuple(member.mask for member in members),
        secret=room.has(RoomFlag.SECRET),
        bots=frozenset(member.nick for member in members if member.bot),
    )


def room_list(directory: Directory, asker: User, command: ListRooms, now: float) -> RoomList:
    """The rooms ``asker`` may see (``#lobby`` first) that the command's filter admits."""
    admits = _admits(command.where, now)
    rooms = [room for room in directory.rooms.values() if directory.sees_room(asker, room) and admits(room)]
    return RoomList(
        rooms=tuple((room.name, len(room.members)) for room in rooms),
        topics=tuple(room.topic for room in rooms),
    )


def _admits(where: RoomFilter, now: float) -> Callable[[Room], bool]:
    """Whether a room passes every condition of ``where`` at wall-clock time ``now``."""
    tests: list[Callable[[Room], bool]] = []
    if where.names:
        named = any_mask(where.names)
        tests.append(lambda room: named.fullmatch(room.key) is not None)
    if where.not_names:
        excluded = any_mask(where.not_names)
        tests.append(lambda room: excluded.fullmatch(room.key) is None)
    if (more := where.more_members_than) is not None:
        tests.append(lambda room: len(room.members) > more)
    if (fewer := where.fewer_members_than) is not None:
        tests.append(lambda room: len(room.members) < fewer)
    if (young := where.younger_than) is not None:
        tests.append(lambda room: now - room.created < young)
    if (old := where.older_than) is not None:
        tests.append(lambda room: now - room.created > old)
    if (topic_young := where.topic_younger_than) is not None:
        tests.append(lambda room: bool(room.topic) and now - room.topic_at < topic_young)
    if (topic_old := where.topic_older_than) is not None:
        tests.append(lambda room: bool(room.topic) and now - room.topic_at > topic_old)
    return lambda room: all(test(room) for test in tests)


def who(directory: Directory, asker: User, command: Who, now: float) -> WhoList:
    """The users ``WHO <mask>`` lists: a room's visible members, or the users matching a mask."""
    mask = command.mask
    found: list[UserDetails]
    if mask[:1] == "#":
        room = directory.room(mask)
        visible = room is not None and directory.sees_room(asker, room)
        members = directory.visible_members(asker, room) if room is not None and visible else ()
        found = [directory.details(member, now, room) for member in members]
    else:
        found = [directory.details(user, now) for user in directory.matching(asker, mask)]
    if command.operators:
        found = [details for details in found if details.operator]
    return WhoList(mask=mask, users=tuple(found), fields=command.fields, token=command.token)


def whois(directory: Directory, asker: User, nick: str, now: float) -> WhoisReply:
    user = directory.user(nick)
    if user is None:
        return WhoisReply(nick=nick, user=None)
    rooms = tuple((_prefix(user, room), room.name) for room in user.rooms if directory.sees_room(asker, room))
    return WhoisReply(nick=nick, user=directory.details(user, now), rooms=rooms)


def _prefix(user: User, room: Room) -> str:
    return "@" if user in room.operators else "+" if user in room.voiced else ""


def whowas(directory: Directory, command: Whowas) -> WhowasReply:
    """Who had the nickname, newest first, at most ``count`` of them (all for 0 or less)."""
    key = nick_key(command.nick)
    found = [details for past, details in reversed(directory.history) if past == key]
    if command.count > 0:
        found = found[: command.count]
    return WhowasReply(nick=command.nick, users=tuple(found))


def ison(directory: Directory, nicks: tuple[str, ...]) -> IsonReply:
    present = (directory.user(nick) for nick in nicks)
    return IsonReply(nicks=tuple(user.nick for user in present if user is not None))


def userhost(directory: Directory, nicks: tuple[str, ...], now: float) -> UserhostReply:
    present = (directory.user(nick) for nick in nicks[:USERHOST_MAX])
    return UserhostReply(users=tuple(directory.details(user, now) for user in present if user is not None))


def stats(directory: Directory) -> ServerStats:
    return ServerStats(
        users=len(directory.users),
        invisible=directory.invisible,
        operators=directory.operators,
        unregistered=len(directory.by_id) - len(directory.users),
        rooms=sum(1 for room in directory.rooms.values() if room.members),
        most_users=directory.most_users,
    )


def room_modes(asker: User, room: Room) -> RoomModesAre:
    """The modes set on ``room``; its key is shown to its members only."""
    modes = [ModeChange(on=True, mode=mode) for mode, flag in FLAG_OF.items() if room.has(flag)]
    if room.passkey:
        modes.append(ModeChange(on=True, mode=RoomMode.KEY, arg=room.passkey if room in asker.rooms else "*"))
    if room.limit:
        modes.append(ModeChange(on=True, mode=RoomMode.LIMIT, arg=str(room.limit)))
    return RoomModesAre(room=room.name, modes=tuple(modes), created=room.created)

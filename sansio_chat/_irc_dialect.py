"""IRC commands as chat commands: what a registered IRC client's message asks of the chat.

One message may ask several things (``JOIN #a,#b``, ``PRIVMSG alice,#room``),
and a malformed one gets a numeric that no chat rule is about (461, 411,
472...), so ``chat_commands`` returns a list of chat commands and
``Numeric`` replies, in order.  The rules themselves (who may join, speak,
kick) are the chat's: nothing here decides them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ._commands import (
    Announce,
    Away,
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
    ListRooms,
    ListUsers,
    Lusers,
    Oper,
    PartRoom,
    Ping,
    Quit,
    RoomFilter,
    SayTo,
    ShowBans,
    ShowRoomModes,
    Tell,
    Topic,
    Userhost,
    UserModes,
    Who,
    Whois,
    Whowas,
)
from ._irc_message import IRCMessage
from ._irc_render import MAX_TARGETS, STATUS_PREFIXES
from ._replies import Speech
from ._text_dialect import BOT_MODE, read_mode_letters
from ._users import User

#: Mode changes with an argument one MODE may make (ISUPPORT's MODES).
MAX_MODE_ARGUMENTS = 4


@dataclass(frozen=True, slots=True, kw_only=True)
class Numeric:
    """A numeric about the message itself: ``code``, then ``params`` after the nickname (the last: text)."""

    code: str
    params: tuple[str, ...]


Item = Command | Numeric
_Handler = Callable[[IRCMessage, User], list[Item]]


def _need_more(command: str) -> list[Item]:
    return [Numeric(code="461", params=(command, "Not enough parameters"))]


def _targets(text: str) -> list[str]:
    return [target for target in text.split(",") if target]


def _distinct(targets: list[str]) -> list[str]:
    """Each target once, the first spelling kept: a name repeated (in any case) is not a second delivery.

    Names compare as the chat compares them (case folded); ``@#a`` and ``#a`` stay two audiences.
    """
    first: dict[str, str] = {}
    for target in targets:
        first.setdefault(target.casefold(), target)
    return list(first.values())


# -- words ------------------------------------------------------------------------------------------


def _speech(text: str, *, notice: bool) -> tuple[Speech, str]:
    """What kind of words ``text`` is, and the words shown (an ACTION's without its CTCP frame)."""
    if text[:1] != "\x01":
        return (Speech.NOTICE if notice else Speech.WORDS), text
    if notice:
        return Speech.CTCP_REPLY, text
    inner = text[1:-1] if text[-1:] == "\x01" else text[1:]
    if inner[:7] == "ACTION " or inner == "ACTION":
        return Speech.ACTION, inner[7:]
    return Speech.CTCP, text


def _words(message: IRCMessage, user: User) -> list[Item]:
    """PRIVMSG and NOTICE: to rooms (``#...``) and nicknames; a NOTICE is never answered with an error."""
    notice = message.command == "NOTICE"
    params = message.params
    targets = _targets(params[0]) if params else []
    if not targets:
        return [] if notice else [Numeric(code="411", params=(f"No recipient given ({message.command})",))]
    if len(params) < 2 or not params[1]:
        return [] if notice else [Numeric(code="412", params=("No text to send",))]
    kind, text = _speech(params[1], notice=notice)
    tags = tuple((key, value) for key, value in message.tags if key[:1] == "+")
    return [_to(target, text, kind, tags) for target in _distinct(targets)[:MAX_TARGETS]]


def _to(target: str, text: str, kind: Speech, tags: tuple[tuple[str, str], ...]) -> Command:
    if target[:1] == "#":
        return SayTo(room=target, text=text, kind=kind, tags=tags)
    if target[:1] in STATUS_PREFIXES:
        room = target.lstrip(_STATUS_CHARS)
        if room[:1] == "#":  # STATUSMSG; of several prefixes (``@+#room``), the widest audience is meant
            lowest = max(target[: len(target) - len(room)], key=_STATUS_CHARS.index)
            return SayTo(room=room, text=text, kind=kind, tags=tags, to_rank=STATUS_PREFIXES[lowest])
    return Tell(nick=target, text=text, kind=kind, tags=tags)


#: The prefixes, most privileged first (``PREFIX``'s order): the last one named is the widest audience.
_STATUS_CHARS = "".join(STATUS_PREFIXES)


def _tagmsg(message: IRCMessage, user: User) -> list[Item]:
    targets = _targets(message.params[0]) if message.params else []
    if not targets:
        return _need_more("TAGMSG")
    tags = tuple((key, value) for key, value in message.tags if key[:1] == "+")
    return [_to(target, "", Speech.TAGS, tags) for target in _distinct(targets)[:MAX_TARGETS]]


# -- rooms --------------------------------------------------------------------------------------------


def _join(message: IRCMessage, user: User) -> list[Item]:
    params = message.params
    if not params or not _targets(params[0]):
        return _need_more("JOIN")
    if params[0] == "0":  # leave every channel
        return [PartRoom(room=room.name, typed=room.name) for room in user.rooms]
    keys = params[1].split(",") if len(params) > 1 else []
    rooms = params[0].split(",")
    return [
        JoinRoom(room=room, typed=room, alone=False, key=keys[at] if at < len(keys) else "")
        for at, room in enumerate(rooms)
        if room
    ]


def _part(message: IRCMessage, user: User) -> list[Item]:
    params = message.params
    rooms = _targets(params[0]) if params else []
    if not rooms:
        return _need_more("PART")
    reason = params[1] if len(params) > 1 else ""
    return [PartRoom(room=room, typed=room, reason=reason) for room in rooms]


def _topic(message: IRCMessage, user: User) -> list[Item]:
    params = message.params
    if not params or not params[0]:
        return _need_more("TOPIC")
    room = params[0]
    if len(params) == 1:
        return [Topic(text="", room=room, typed=room)]
    return [Topic(text=params[1], room=room, typed=room, clear=not params[1])]


def _names(message: IRCMessage, user: User) -> list[Item]:
    """One channel (TARGMAX NAMES:1): several would each end with their own 366."""
    rooms = _targets(message.params[0]) if message.params else []
    if not rooms:
        return [Numeric(code="366", params=("*", "End of /NAMES list"))]
    return [ListUsers(room=rooms[0], typed=rooms[0], quiet=True)]


def _list(message: IRCMessage, user: User) -> list[Item]:
    """``LIST [channels] [conditions]``: both parameters' items read alike (clients put either first)."""
    return [ListRooms(where=_room_filter([item for param in message.params[:2] for item in _targets(param)]))]


#: An ELIST condition, in members (``<n``, ``>n``) or minutes ago (created: ``C<n``, ``C>n``;
#: topic set: ``T<n``, ``T>n``).
_CONDITION = re.compile(r"([CT]?)([<>])([0-9]+)", re.IGNORECASE)
#: What starts a condition: one that does not read as a whole is ignored.
_CONDITION_START = re.compile(r"[CT]?[<>]", re.IGNORECASE)


def _room_filter(items: list[str]) -> RoomFilter:
    """The filter ISUPPORT's ``ELIST=CMNTU`` describes, from ``LIST``'s comma-separated items.

    ``!mask``: rooms not matching; a condition: its bound (the tightest of
    several alike); anything else: a channel name or a mask, any of which a
    room must match.  A malformed condition (``>x``, ``C<``) is ignored, as
    one the server does not know would be.
    """
    names: list[str] = []
    not_names: list[str] = []
    bounds: dict[str, int] = {}  # by kind and sign: "<", ">", "C<", "C>", "T<", "T>"
    for item in items:
        if item[:1] == "!":
            if item[1:]:
                not_names.append(item[1:])
        elif condition := _CONDITION.fullmatch(item):
            kind, sign, digits = condition.groups()
            key, value = kind.upper() + sign, int(digits)
            tightest = min if sign == "<" else max
            bounds[key] = tightest(bounds.get(key, value), value)
        elif not _CONDITION_START.match(item):
            names.append(item)

    def seconds(key: str) -> float | None:
        return bounds[key] * 60.0 if key in bounds else None

    return RoomFilter(
        names=tuple(names),
        not_names=tuple(not_names),
        more_members_than=bounds.get(">"),
        fewer_members_than=bounds.get("<"),
        younger_than=seconds("C<"),
        older_than=seconds("C>"),
        topic_younger_than=seconds("T<"),
        topic_older_than=seconds("T>"),
    )


def _kick(message: IRCMessage, user: User) -> list[Item]:
    params = message.params
    if len(params) < 2 or not params[0] or not _targets(params[1]):
        return _need_more("KICK")
    reason = params[2] if len(params) > 2 else ""
    room = params[0]
    return [Kick(nick=nick, reason=reason, room=room, typed=room) for nick in _targets(params[1])[:1]]


def _invite(message: IRCMessage, user: User) -> list[Item]:
    params = message.params
    if len(params) < 2 or not params[0] or not params[1]:
        return _need_more("INVITE")
    return [Invite(nick=params[0], room=params[1], typed=params[1])]


def _mode(message: IRCMessage, user: User) -> list[Item]:
    params = message.params
    if not params or not params[0]:
        return _need_more("MODE")
    target = params[0]
    if target[:1] != "#":
        return _user_mode(target, params[1] if len(params) > 1 else "")
    if len(params) == 1:
        return [ShowRoomModes(room=target, typed=target)]
    return _room_modes(target, params[1], list(params[2:]))


def _room_modes(room: str, letters: str, arguments: list[str]) -> list[Item]:
    """``+ov-b alice bob mask``: the changes in order, a ban list asked for, 472 for unknown letters."""
    reading = read_mode_letters(letters, arguments, max_arguments=MAX_MODE_ARGUMENTS)
    items: list[Item] = [
        Numeric(code="472", params=(letter, "is an unknown mode char to me"))
        if mode is None
        else Numeric(code="696", params=(room, letter, "*", "You must give a parameter"))
        for letter, mode in reading.problems
    ]
    if reading.changes:
        items.append(ChangeRoomModes(room=room, typed=room, changes=reading.changes))
    if reading.list_bans:
        items.append(ShowBans(room=room, typed=room))
    return items


def _user_mode(nick: str, letters: str) -> list[Item]:
    if not letters:
        return [UserModes(nick=nick)]
    items: list[Item] = []
    invisible: bool | None = None
    operator: bool | None = None
    wallops: bool | None = None
    bot: bool | None = None
    on = True
    for letter in letters:
        if letter in "+-":
            on = letter == "+"
        elif letter == "i":
            invisible = on
        elif letter == "o":
            operator = on
        elif letter == "w":
            wallops = on
        elif letter == BOT_MODE:
            bot = on
        else:
            items.append(Numeric(code="501", params=("Unknown MODE flag",)))
    if invisible is not None or operator is not None or wallops is not None or bot is not None:
        items.append(
            UserModes(nick=nick, invisible=invisible, operator=operator, announcements=wallops, bot=bot)
        )
    return items


# -- users ----------------------------------------------------------------------------------------------


def _nick(message: IRCMessage, user: User) -> list[Item]:
    if not message.params or not message.params[0]:
        return [Numeric(code="431", params=("No nickname given",))]
    return [ChangeNick(nick=message.params[0])]


def _who(message: IRCMessage, user: User) -> list[Item]:
    params = message.params
    mask = params[0] if params else "*"
    option = params[1] if len(params) > 1 else ""
    if option[:1] == "%":
        fields, _, token = option[1:].partition(",")
        return [Who(mask=mask, fields=fields or "n", token=token[:3] if token.isdigit() else "")]
    return [Who(mask=mask, operators=option == "o")]


def _whois(message: IRCMessage, user: User) -> list[Item]:
    params = message.params
    if not params or not params[-1]:
        return [Numeric(code="431", params=("No nickname given",))]
    return [Whois(nick=_targets(params[-1])[0] if _targets(params[-1]) else params[-1])]


def _whowas(message: IRCMessage, user: User) -> list[Item]:
    params = message.params
    if not params or not params[0]:
        return [Numeric(code="431", params=("No nickname given",))]
    count = params[1] if len(params) > 1 else ""
    number = int(count) if count.lstrip("-").isdigit() and count.isascii() else 0
    return [Whowas(nick=params[0], count=number)]


def _spaced(message: IRCMessage) -> tuple[str, ...]:
    """Nicknames given as parameters, or spaced out in the last one."""
    return tuple(nick for param in message.params for nick in param.split(" ") if nick)


def _ison(message: IRCMessage, user: User) -> list[Item]:
    nicks = _spaced(message)
    return [Ison(nicks=nicks)] if nicks else _need_more("ISON")


def _userhost(message: IRCMessage, user: User) -> list[Item]:
    nicks = _spaced(message)
    return [Userhost(nicks=nicks)] if nicks else _need_more("USERHOST")


def _away(message: IRCMessage, user: User) -> list[Item]:
    return [Away(message=message.params[0] if message.params else "")]


def _oper(message: IRCMessage, user: User) -> list[Item]:
    params = message.params
    if len(params) < 2 or not params[0]:
        return _need_more("OPER")
    return [Oper(name=params[0], password=params[1])]


def _kill(message: IRCMessage, user: User) -> list[Item]:
    params = message.params
    if not params or not params[0]:
        return _need_more("KILL")
    return [Kill(nick=params[0], text=params[1] if len(params) > 1 else "")]


def _wallops(message: IRCMessage, user: User) -> list[Item]:
    params = message.params
    if not params or not params[0]:
        return _need_more("WALLOPS")
    return [Announce(text=params[0])]


def _setname(message: IRCMessage, user: User) -> list[Item]:
    """With the ``setname`` capability or without (the spec: handle it then as servers always did)."""
    return [ChangeRealname(realname=message.params[0] if message.params else "")]


def _quit(message: IRCMessage, user: User) -> list[Item]:
    return [Quit(text=message.params[0] if message.params else "")]


def _ping(message: IRCMessage, user: User) -> list[Item]:
    if not message.params:
        return [Numeric(code="409", params=("No origin specified",))]
    return [Ping(token=message.params[-1])]


def _lusers(message: IRCMessage, user: User) -> list[Item]:
    return [Lusers()]


def _help(message: IRCMessage, user: User) -> list[Item]:
    return [Help(subject=message.params[0] if message.params else "")]


#: Every command a registered client may send that the chat answers, by its upper-case name.
CHAT_COMMANDS: dict[str, _Handler] = {
    "PRIVMSG": _words,
    "NOTICE": _words,
    "TAGMSG": _tagmsg,
    "JOIN": _join,
    "PART": _part,
    "TOPIC": _topic,
    "NAMES": _names,
    "LIST": _list,
    "KICK": _kick,
    "INVITE": _invite,
    "MODE": _mode,
    "NICK": _nick,
    "WHO": _who,
    "WHOIS": _whois,
    "WHOWAS": _whowas,
    "ISON": _ison,
    "USERHOST": _userhost,
    "AWAY": _away,
    "OPER": _oper,
    "KILL": _kill,
    "WALLOPS": _wallops,
    "SETNAME": _setname,
    "QUIT": _quit,
    "PING": _ping,
    "LUSERS": _lusers,
    "HELP": _help,
    "HELPOP": _help,  # what several servers call it; clients' /helpop sends it
}


def chat_commands(message: IRCMessage, user: User) -> list[Item] | None:
    """What ``message`` asks of the chat, in order; None for a command the chat does not answer."""
    handler = CHAT_COMMANDS.get(message.command)
    return None if handler is None else handler(message, user)

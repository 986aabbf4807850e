"""The text wire format: LF-terminated UTF-8 lines, ``[sender] text`` replies.

Everything about spelling lives here: decoding and validating a line,
splitting it into a command word and arguments, and rendering replies.  A
dialect is a wire format only; no chat rule lives here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import assert_never

from ._commands import (
    Announce,
    Away,
    BadLine,
    BadUsage,
    ChangeNick,
    ChangeRoomModes,
    Command,
    CommandName,
    Help,
    Invite,
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
    ShowBans,
    ShowRoomModes,
    Tell,
    Topic,
    UnknownCommand,
    UserModes,
)
from ._modes import ModeChange, RoomMode
from ._replies import (
    IRC_ONLY_SPEECH,
    Announcement,
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
    Invitation,
    InviteSent,
    IsAway,
    IsonReply,
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
    Rank,
    RealnameChanged,
    Reply,
    RoomList,
    RoomModesAre,
    Said,
    ServerStats,
    ShuttingDown,
    Speech,
    Told,
    TopicIs,
    TopicSet,
    UserhostReply,
    UserList,
    UserModesAre,
    UserModesChanged,
    Welcome,
    WhoisReply,
    WhoList,
    WhowasReply,
)

# C0 controls except TAB, DEL, and the C1 controls.
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# What terminal safety removes or replaces: IRC formatting codes (with a colour's
# digits), then any other control character.
_UNSAFE = re.compile(
    "\x03(?:[0-9]{1,2}(?:,[0-9]{1,2})?)?"
    "|\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?"
    "|[\x00-\x08\x0a-\x1f\x7f-\x9f]"
)
_FORMATTING = frozenset("\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f")
# After stripping: the command word, then the rest after a run of blanks.
_WORD_AND_REST = re.compile("([^ \t]+)[ \t]*(.*)", re.DOTALL)
_BLANKS = " \t"
_BLANK_RUN = re.compile("[ \t]+")

USAGES = {
    CommandName.MSG: "MSG <text>",
    CommandName.ME: "ME <text>",
    CommandName.TELL: "TELL <nickname> <text>",
    CommandName.JOIN: "JOIN <room>",
    CommandName.KICK: "KICK <nickname> [<reason>]",
    CommandName.NICK: "NICK <nickname>",
    CommandName.OPER: "OPER <password>",
    CommandName.KILL: "KILL <nickname> [<text>]",
    CommandName.MODE: "MODE [+w|-w|+B|-B]",
    CommandName.ROOM_MODE: "MODE <room> [+|-]<letters> [<arguments>]",
    CommandName.WALLOPS: "WALLOPS <text>",
    CommandName.INVITE: "INVITE <nickname> [<room>]",
}

_HELP_LINES = (
    "Commands (case-insensitive):",
    "  MSG <text>                  send <text> to the others in your room",
    "  ME <text>                   an action, seen as: * <nickname> <text>",
    "  TELL <nickname> <text>      send <text> to <nickname> alone",
    "  JOIN <room>                 leave your room for <room> (created if new)",
    "  WHO [<room>]                list the users in your room, or in <room>",
    "  ROOMS                       list the rooms and how many are in each",
    "  TOPIC [<text>]              show your room's topic, or set it (room operators)",
    "  KICK <nickname> [<reason>]  put a user out of your room (room operators)",
    "  NICK <nickname>             change your nickname",
    "  QUIT [<text>]               leave, with an optional last message",
    "  OPER <password>             become an operator",
    "  KILL <nickname> [<text>]    disconnect a user (operators only)",
    "  MODE [+w|-w]                show your modes, or hear (+w) operators' WALLOPS or not",
    "  MODE [+B|-B]                say you are a bot (+B) or not: WHO marks you (bot)",
    "  MODE <room>                 show the modes of <room> (MODE <room> +b: its bans)",
    "  MODE <room> [+|-]<letters> [<arguments>]",
    "                              change the modes of <room> (room operators),",
    "                              e.g. MODE #games +o-v bob carol; the letters:",
    "                              o <nickname> operator, v <nickname> voice,",
    "                              t topic locked, m moderated, i invite only,",
    "                              k <key> key, l <count> limit, b <mask> ban,",
    "                              n no words from outside, s secret",
    "  INVITE <nickname> [<room>]  invite a user to your room, or to <room>",
    "  AWAY [<text>]               be away, saying <text>; without text: back",
    "  WALLOPS <text>              send <text> to everyone with mode +w (operators only)",
    "  PING [<token>]              the server answers PONG <token>",
    "  HELP                        this list",
)

_ERROR_TEXT = {
    ErrorKind.INVALID_UTF8: "invalid UTF-8",
    ErrorKind.CONTROL_CHARACTER: "control characters are not allowed",
    ErrorKind.PERMISSION_DENIED: "permission denied, use OPER first",
    ErrorKind.KILL_SELF: "use QUIT to leave",
    ErrorKind.WRONG_PASSWORD: "wrong password",
    ErrorKind.TOO_MANY_OPER_FAILURES: "too many failed OPER attempts",
    ErrorKind.SERVER_FULL: "server full",
    ErrorKind.TLS_REQUIRED: "this port speaks TLS: connect with TLS (openssl s_client, ncat --ssl)",
    ErrorKind.NOT_IN_A_ROOM: "you are not in a room, use JOIN <room>",
    ErrorKind.ROOM_OPERATORS_ONLY: "permission denied, room operators only",
    ErrorKind.CLUSTER_UNAVAILABLE: "nickname changes are unavailable while the cluster link is down",
    ErrorKind.MALFORMED: "malformed message",
    ErrorKind.NO_TEXT: "no text to send",
}
_ERROR_FORMAT = {
    ErrorKind.LINE_TOO_LONG: "line too long (max {} bytes)",
    ErrorKind.USAGE: "usage: {}",
    ErrorKind.INVALID_COMMAND: "invalid command {}",
    ErrorKind.INVALID_NICK: "invalid nickname {}",
    ErrorKind.NICK_IN_USE: "nickname {} is already in use",
    ErrorKind.NO_SUCH_NICK: "no such nickname {}",
    ErrorKind.INVALID_ROOM: "invalid room name {}",
    ErrorKind.NO_SUCH_ROOM: "no such room {}",
    ErrorKind.ALREADY_IN_ROOM: "you are already in {}",
    ErrorKind.TOPIC_TOO_LONG: "topic too long (max {} characters)",
    ErrorKind.NOT_IN_ROOM: "{} is not in {}",
    ErrorKind.MISSING_FIELD: "missing field {}",
    ErrorKind.INVALID_FIELD: "invalid field {}",
    ErrorKind.NOT_A_MEMBER: "you are not in {1}",
    ErrorKind.ALREADY_MEMBER: "{} is already in {}",
    ErrorKind.INVITE_ONLY: "cannot join {1}: it is invite only (+i)",
    ErrorKind.NEEDS_KEY: "cannot join {1}: it needs a key (+k)",
    ErrorKind.ROOM_FULL: "cannot join {1}: it is full (+l)",
    ErrorKind.BANNED: "cannot join {1}: you are banned (+b)",
    ErrorKind.TOO_MANY_ROOMS: "cannot join {1}: you are in {0} rooms already",
    ErrorKind.CANNOT_SPEAK_MODERATED: "cannot speak in {1}: it is moderated (+m)",
    ErrorKind.CANNOT_SPEAK_BANNED: "cannot speak in {1}: you are banned (+b)",
    ErrorKind.CANNOT_SPEAK_OUTSIDE: "cannot speak in {1}: you are not in it",
    ErrorKind.INVALID_MODE_ARGUMENT: "invalid {0} for {1}",
    ErrorKind.BAN_LIST_FULL: "the ban list of {1} is full ({0} at most)",
    ErrorKind.NOT_YOUR_MODES: "cannot change the modes of {}",
    ErrorKind.INVALID_REALNAME: "invalid real name (1 to {} characters)",
}
_LEAVE_SUFFIX = {
    LeaveReason.LEFT: "",
    LeaveReason.OPER_FAILURES: " (too many failed OPER attempts)",
    LeaveReason.TOO_SLOW: " (too slow)",
    LeaveReason.SERVER_DOWN: " (server down)",
    LeaveReason.TIMED_OUT: " (timed out)",
    LeaveReason.PROTOCOL_ERROR: " (protocol error)",
}
#: What users are told of their server's link with the others, in every dialect.
CLUSTER_NEWS = {
    ClusterNews.LOST_CONTACT: "Lost contact with the other servers: only users on this server can hear you",
    ClusterNews.RESTORED: "Contact with the other servers restored",
    ClusterNews.MAY_HAVE_LOST: "Some messages from or to other servers may have been lost",
    ClusterNews.NICK_TAKEN: "Your nickname {} was taken while this server was cut off",
}
#: How a mode change is spelled, for text as for IRC: the letter after ``+`` or ``-``.
MODE_LETTERS = {
    RoomMode.INVITE_ONLY: "i",
    RoomMode.MODERATED: "m",
    RoomMode.NO_OUTSIDE: "n",
    RoomMode.SECRET: "s",
    RoomMode.TOPIC_LOCK: "t",
    RoomMode.KEY: "k",
    RoomMode.LIMIT: "l",
    RoomMode.BAN: "b",
    RoomMode.OPERATOR: "o",
    RoomMode.VOICE: "v",
}
_LETTER_MODES = {letter: mode for mode, letter in MODE_LETTERS.items()}
#: Room modes whose argument comes with setting them only (the limit) or both ways (the rest).
_ARGUMENT_WHEN_SET = frozenset({RoomMode.LIMIT})
_ARGUMENT_BOTH_WAYS = frozenset({RoomMode.KEY, RoomMode.BAN, RoomMode.OPERATOR, RoomMode.VOICE})


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeReading:
    """What mode letters and their arguments ask for, before any chat rule looks at it.

    ``changes`` in order; ``list_bans``: a ``b`` without a mask (the ban
    list asked for); ``problems``: each letter that could not be read, in
    order, with its mode (None: an unknown letter; a mode: its argument is
    missing); ``unused``: arguments left over.
    """

    changes: tuple[ModeChange, ...]
    list_bans: bool
    problems: tuple[tuple[str, RoomMode | None], ...]
    unused: tuple[str, ...]


def read_mode_letters(letters: str, arguments: Sequence[str], *, max_arguments: int = 0) -> ModeReading:
    """``+ov-b alice bob mask`` as mode changes: one spelling for every dialect that writes mode letters.

    A sign holds until the next one (``+`` before any); ``-k`` needs no key.
    ``max_arguments`` (0: no limit): changes whose argument comes after that
    many are dropped, their arguments used up all the same (IRC's ``MODES``).
    """
    changes: list[ModeChange] = []
    problems: list[tuple[str, RoomMode | None]] = []
    list_bans = False
    on = True
    used = 0
    for letter in letters:
        if letter in "+-":
            on = letter == "+"
            continue
        mode = _LETTER_MODES.get(letter)
        if mode is None:
            problems.append((letter, None))
            continue
        takes = mode in _ARGUMENT_BOTH_WAYS or (on and mode in _ARGUMENT_WHEN_SET)
        if not takes:
            changes.append(ModeChange(on=on, mode=mode))
            continue
        if used == len(arguments):
            if mode is RoomMode.BAN:
                list_bans = True
            elif mode is RoomMode.KEY and not on:  # -k needs no key here
                changes.append(ModeChange(on=False, mode=mode))
            else:
                problems.append((letter, mode))
            continue
        argument = arguments[used]
        used += 1
        if not max_arguments or used <= max_arguments:
            changes.append(ModeChange(on=on, mode=mode, arg=argument))
    return ModeReading(
        changes=tuple(changes), list_bans=list_bans, problems=tuple(problems), unused=tuple(arguments[used:])
    )


# -- reading a line ----------------------------------------------------------


def parse_text_line(line: bytes) -> Command | None:
    """Read one line (LF removed, CR kept); None for a blank line, which is ignored."""
    if line[-1:] == b"\r":
        line = line[:-1]
    try:
        text = line.decode()
    except UnicodeDecodeError:
        return BadLine(fault=LineFault.INVALID_UTF8)
    # Every control character is unprintable: the regex runs only on the rare line
    # with a TAB or an unprintable character, to tell which it is.
    if not text.isprintable() and _CONTROL.search(text):
        return BadLine(fault=LineFault.CONTROL_CHARACTER)
    text = text.strip(_BLANKS)
    if not text:
        return None
    return _command(*_split_word(text))


def _split_word(text: str) -> tuple[str, str]:
    """Split stripped, non-empty text into its first word and the rest."""
    word, _, rest = text.partition(" ")
    if "\t" not in word:  # the usual case, without the regex
        return word, rest.lstrip(_BLANKS)
    match = _WORD_AND_REST.fullmatch(text)
    assert match is not None  # stripped non-empty text always starts with a word
    return match[1], match[2]


def _room_name(typed: str) -> str:
    """A text client may name a room without its ``#``."""
    return typed if typed[:1] == "#" else f"#{typed}"


def _command(word: str, rest: str) -> Command:
    # ASCII only, so that no other script's case mapping spells a command.
    verb = word.upper() if word.isascii() else word
    if verb == "MSG":
        return Say(text=rest) if rest else BadUsage(command=CommandName.MSG)
    if verb == "ME":
        return Say(text=rest, action=True) if rest else BadUsage(command=CommandName.ME)
    if verb == "TELL":
        target, text = _split_word(rest) if rest else ("", "")
        return Tell(nick=target, text=text) if text else BadUsage(command=CommandName.TELL)
    if verb == "JOIN":
        if not rest:
            return BadUsage(command=CommandName.JOIN)
        return JoinRoom(room=_room_name(rest), typed=rest, alone=True)
    if verb == "WHO":
        return ListUsers(room=_room_name(rest), typed=rest) if rest else ListUsers()
    if verb == "ROOMS":
        return ListRooms()
    if verb == "TOPIC":
        return Topic(text=rest)
    if verb == "KICK":
        if not rest:
            return BadUsage(command=CommandName.KICK)
        target, reason = _split_word(rest)
        return Kick(nick=target, reason=reason)
    if verb == "NICK":
        return ChangeNick(nick=rest) if rest else BadUsage(command=CommandName.NICK)
    if verb == "QUIT":
        return Quit(text=rest)
    if verb == "KILL":
        if not rest:
            return BadUsage(command=CommandName.KILL)
        target, text = _split_word(rest)
        return Kill(nick=target, text=text)
    if verb == "OPER":
        return Oper(password=rest) if rest else BadUsage(command=CommandName.OPER)
    if verb == "MODE":
        if not rest:
            return UserModes(nick="")
        if rest in ("+w", "-w"):
            return UserModes(nick="", announcements=rest == "+w")
        if rest in ("+B", "-B"):
            return UserModes(nick="", bot=rest == "+B")
        return _room_modes(rest)
    if verb == "INVITE":
        words = _BLANK_RUN.split(rest) if rest else []
        if not 1 <= len(words) <= 2:
            return BadUsage(command=CommandName.INVITE)
        if len(words) == 1:
            return Invite(nick=words[0], room=None)
        return Invite(nick=words[0], room=_room_name(words[1]), typed=words[1])
    if verb == "AWAY":
        return Away(message=rest)
    if verb == "WALLOPS":
        return Announce(text=rest) if rest else BadUsage(command=CommandName.WALLOPS)
    if verb == "HELP":
        return Help()
    if verb == "PING":
        return Ping(token=rest)
    return UnknownCommand(word=word)


def _room_modes(rest: str) -> Command:
    """``MODE <room>``, ``MODE <room> +b``, ``MODE <room> +o-v bob carol``: the whole line, or its usage.

    A line with a letter it cannot read (unknown, its argument missing, an
    argument left over) changes nothing: a person typed it, and half of it
    done would surprise more than none.
    """
    typed, *words = _BLANK_RUN.split(rest)
    if typed[:1] in ("+", "-"):  # user modes other than +w, -w, +B, -B
        return BadUsage(command=CommandName.MODE)
    room = _room_name(typed)
    if not words:
        return ShowRoomModes(room=room, typed=typed)
    letters, *arguments = words
    if letters[:1] not in ("+", "-"):
        return BadUsage(command=CommandName.ROOM_MODE)
    if letters in ("+b", "-b") and not arguments:
        return ShowBans(room=room, typed=typed)
    reading = read_mode_letters(letters, arguments)
    if reading.problems or reading.unused or reading.list_bans or not reading.changes:
        return BadUsage(command=CommandName.ROOM_MODE)
    return ChangeRoomModes(room=room, typed=typed, changes=reading.changes)


# -- rendering a reply ---------------------------------------------------------


def terminal_safe(text: str) -> str:
    """``text`` without IRC formatting codes, and with every other control character but TAB as U+FFFD.

    Whatever dialect a user's words came from, nothing in them can move a
    text client's cursor, ring its bell or start an escape sequence.
    """
    return _UNSAFE.sub(_unsafe_replacement, text)


def _unsafe_replacement(match: re.Match[str]) -> str:
    return "" if match[0][0] in _FORMATTING else "\ufffd"


def _line(text: str) -> bytes:
    """One server line: ``text`` made terminal-safe (a printable line costs one C-level check), then LF."""
    if not text.isprintable():
        text = terminal_safe(text)
    return f"{text}\n".encode()


def _server_line(text: str) -> bytes:
    return _line(f"[server] {text}")


def _with_reason(text: str, reason: str) -> str:
    return f"{text}: {reason}" if reason else text


def error_text(error: Error) -> str:
    """What an error says to people, without the ``Error:`` prefix (the web dialect's ``message`` too)."""
    kind, detail = error.kind, error.detail
    if kind is ErrorKind.USAGE:
        detail = USAGES[CommandName(detail)]
    fixed = _ERROR_TEXT.get(kind)
    return fixed if fixed is not None else _ERROR_FORMAT[kind].format(detail, error.room)


def mode_string(changes: tuple[ModeChange, ...]) -> tuple[str, tuple[str, ...]]:
    """``+o-v`` and ``("bob", "carol")`` for a list of changes (signs only where they change)."""
    letters: list[str] = []
    args: list[str] = []
    sign = ""
    for change in changes:
        wanted = "+" if change.on else "-"
        if wanted != sign:
            letters.append(wanted)
            sign = wanted
        letters.append(MODE_LETTERS[change.mode])
        if change.arg and (change.on or change.mode is not RoomMode.LIMIT):
            args.append(change.arg)
    return "".join(letters), tuple(args)


def user_modes(reply: UserModesAre) -> str:
    """``+iow``: a user's own modes as letters (``+`` alone for none), for text as for IRC."""
    return "+" + "".join(letter for on, letter in _user_mode_letters(reply) if on)


def user_mode_changes(reply: UserModesChanged) -> str:
    """``+iw-o``: the modes that changed, signs only where they change."""
    letters: list[str] = []
    sign = ""
    for on, letter in _user_mode_letters(reply):
        if on is None:
            continue
        wanted = "+" if on else "-"
        if wanted != sign:
            letters.append(wanted)
            sign = wanted
        letters.append(letter)
    return "".join(letters)


#: The user mode that says a user is a bot (IRC's ISUPPORT ``BOT`` names it; ``WHO`` flags show it).
BOT_MODE = "B"


def _user_mode_letters(reply: UserModesAre | UserModesChanged) -> tuple[tuple[bool | None, str], ...]:
    """Each user mode's value (None: unchanged) with its letter, in the order they are spelled."""
    return ((reply.invisible, "i"), (reply.operator, "o"), (reply.announcements, "w"), (reply.bot, BOT_MODE))


def _user_list(reply: UserList) -> str:
    """``Users in #a (3): @alice +bob robo(bot)``: ranks before a nickname, ``(bot)`` after a bot's."""
    nicks, operators, voiced, bots = reply.nicks, reply.operators, reply.voiced, reply.bots
    if operators or voiced or bots:
        nicks = tuple(
            ("@" if nick in operators else "+" if nick in voiced else "")
            + nick
            + ("(bot)" if nick in bots else "")
            for nick in nicks
        )
    shown = " ".join(nicks)
    where = f"Users in {reply.room}" if reply.named else "Users"
    return f"{where} ({len(nicks)}): {shown}"


#: A rank's mark before a room's name, as IRC's prefixes (``@#room``: its operators), most
#: privileged first; a text client is shown words for a rank as ``[alice -> @#room] ...``.
RANK_MARKS = {Rank.OPERATOR: "@", Rank.VOICED: "+"}


def _ranked_words(reply: Said) -> bytes:
    """Words for the members of a rank: marked as a private message to the room's ``@`` (or ``+``)."""
    kind = reply.kind
    if kind in IRC_ONLY_SPEECH:
        return b""
    assert reply.to_rank is not None
    sender = reply.source.nick
    head = f"[{sender} -> {RANK_MARKS[reply.to_rank]}{reply.room}]"
    if kind is Speech.ACTION:
        return _line(f"{head} * {sender} {reply.text}")
    return _line(f"{head} {reply.text}")


class TextRenderer:
    """Replies as lines of the text protocol (docs/protocol.md), each terminal-safe."""

    def render_echo(self, reply: Said | Told) -> bytes:
        """Nothing: a text client's own words are never sent back to it."""
        return b""

    def render(self, reply: Reply) -> bytes:
        """The bytes for ``reply``, LF included (several lines for some replies)."""
        match reply:
            case Said():  # the hot path: a plain class pattern, and printable words need no cleaning
                text = reply.text
                kind = reply.kind
                if reply.to_rank is not None:
                    return _ranked_words(reply)
                if kind is Speech.WORDS and text.isprintable():  # (a nickname always is)
                    return f"[{reply.source.nick}] {text}\n".encode()
                if kind is Speech.ACTION:
                    return _line(f"* {reply.source.nick} {text}")
                if kind in IRC_ONLY_SPEECH:
                    return b""
                return _line(f"[{reply.source.nick}] {text}")
            case Told(recipient=recipient, text=text, kind=kind):
                if kind in IRC_ONLY_SPEECH:
                    return b""
                sender = reply.source.nick
                if kind is Speech.ACTION:
                    return _line(f"[{sender} -> {recipient}] * {sender} {text}")
                return _line(f"[{sender} -> {recipient}] {text}")
            case Error():
                return _server_line(f"Error: {error_text(reply)}")
            case Connected(nick=nick):
                return _server_line(f"{nick} is connected")
            case Disconnected(nick=nick, reason=LeaveReason.KILLED, killer=killer):
                return _server_line(f"{nick} is disconnected (killed by {killer})")
            case Disconnected(nick=nick, reason=reason):
                return _server_line(f"{nick} is disconnected{_LEAVE_SUFFIX[reason]}")
            case LastWords(nick=nick, text=text):
                return _line(f"[{nick}] {text}")
            case NickChanged(old=old, new=new):
                return _server_line(f"{old} is now known as {new}")
            case NickSet(nick=nick):
                return _server_line(f"You are now known as {nick}")
            case Welcome(nick=nick):
                return _server_line(f"Welcome to the chat, {nick}! Type HELP for the list of commands.")
            case EnteredRoom(room=room):
                return _server_line(f"You are now in {room}")
            case JoinedRoom(nick=nick, room=room):
                return _server_line(f"{nick} joined {room}")
            case LeftRoom(nick=nick, room=room, reason=reason):
                return _server_line(_with_reason(f"{nick} left {room}", reason))
            case UserList():
                return _server_line(_user_list(reply))
            case RoomList(rooms=rooms):
                listed = " ".join(f"{name} ({members})" for name, members in rooms)
                return _server_line(f"Rooms ({len(rooms)}): {listed}")
            case TopicIs(room=room, topic=""):
                return _server_line(f"{room} has no topic")
            case TopicIs(room=room, topic=topic):
                return _server_line(f"Topic of {room}: {topic}")
            case TopicSet(nick=nick, room=room, topic=""):
                return _server_line(f"{nick} cleared the topic of {room}")
            case TopicSet(nick=nick, room=room, topic=topic):
                return _server_line(f"{nick} set the topic of {room} to: {topic}")
            case Kicked(room=room, victim=victim, kicker=kicker, reason=reason):
                return _server_line(_with_reason(f"{victim} was kicked from {room} by {kicker}", reason))
            case KickedYou(room=room, kicker=kicker, reason=reason):
                return _server_line(_with_reason(f"You were kicked from {room} by {kicker}", reason))
            case Goodbye(nick=nick):
                return _server_line(f"Goodbye, {nick}.")
            case KilledBy(killer=killer, text=text):
                last_words = _line(f"[{killer}] {text}") if text else b""
                return last_words + _server_line(f"You have been killed by {killer}")
            case OperGranted():
                return _server_line("You are now an operator")
            case Pong(token=token):
                return _server_line(f"PONG {token}" if token else "PONG")
            case HelpText():
                return b"".join(_server_line(text) for text in _HELP_LINES)
            case ShuttingDown():
                return _server_line("Server is shutting down")
            case ClusterNotice(news=news, detail=detail):
                return _server_line(CLUSTER_NEWS[news].format(detail))
            case ModesChanged(nick=nick, room=room, changes=changes):
                letters, args = mode_string(changes)
                return _server_line(f"{nick} set mode {' '.join((letters, *args))} on {room}")
            case Invitation(nick=nick, room=room):
                return _server_line(f"{nick} invites you to {room}")
            case Announcement(source=source, text=text):
                return _line(f"[wallops] {source.nick}: {text}")
            case UserModesAre():
                return _server_line(f"Your modes: {user_modes(reply)}")
            case UserModesChanged():
                return _server_line(f"Your modes changed: {user_mode_changes(reply)}")
            case RoomModesAre(room=room, modes=()):
                return _server_line(f"{room} has no modes")
            case RoomModesAre(room=room, modes=modes):
                letters, args = mode_string(modes)
                return _server_line(f"Modes of {room}: {' '.join((letters, *args))}")
            case BanList(room=room, bans=()):
                return _server_line(f"{room} bans nobody")
            case BanList(room=room, bans=bans):
                listed = " ".join(f"{ban.mask} (by {ban.by})" for ban in bans)
                return _server_line(f"Bans of {room} ({len(bans)}): {listed}")
            case InviteSent(invitee=invitee, room=room):
                return _server_line(f"You invited {invitee} to {room}")
            case AwaySet(message=""):
                return _server_line("You are back")
            case AwaySet(message=message):
                return _server_line(f"You are away: {message}")
            case AwayNotice(nick=nick, message=""):
                return _server_line(f"{nick} is back")
            case AwayNotice(nick=nick, message=message) | IsAway(nick=nick, message=message):
                return _server_line(f"{nick} is away: {message}")
            case (
                WhoList()
                | WhoisReply()
                | WhowasReply()
                | UserhostReply()
                | IsonReply()
                | ServerStats()
                | RealnameChanged()
            ):
                return b""  # answers to commands only IRC clients have; real names a text client never sees
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(reply)

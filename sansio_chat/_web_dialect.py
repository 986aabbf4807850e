"""The web wire format (docs/web.md): one JSON object per message, both ways.

A web client (the page the server ships, or any WebSocket client) sends
``{"cmd": "<name>", ...fields}`` and receives ``{"type": "<name>", ...}``.
Everything about that spelling lives here: reading a message into a command
(or into the error that says why it cannot be read), and rendering replies
as JSON.  The chat rules are the same as for every other dialect.

The transport frames messages; the core sees each whole, as one "line"
(``MessagesReceived``).  Rendered events end in LF, so that several joined in
one ``Send`` (a burst) stay apart: JSON text never holds a raw LF, and the
transport turns each LF-terminated piece into one WebSocket message.
Output is ASCII (``\\u`` escapes), so it is valid UTF-8 whatever the words.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii
from typing import Any, assert_never

from ._commands import (
    Away,
    BadLine,
    ChangeNick,
    ChangeRoomModes,
    Command,
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
from ._replies import (
    IRC_ONLY_SPEECH,
    Announcement,
    AwayNotice,
    AwaySet,
    BanList,
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
from ._text_dialect import (
    _CONTROL,
    BOT_MODE,
    CLUSTER_NEWS,
    _room_name,
    error_text,
    mode_string,
    read_mode_letters,
    user_mode_changes,
    user_modes,
)

#: What a message's ``kind`` field says, for the speech a web client is shown.
_SPEECH_KIND = {Speech.WORDS: "msg", Speech.ACTION: "action", Speech.NOTICE: "notice"}
_WORDS = Speech.WORDS

#: The commands a web client may send, as ``help`` lists them.
COMMANDS = (
    "nick",
    "join",
    "rooms",
    "msg",
    "me",
    "tell",
    "who",
    "topic",
    "kick",
    "oper",
    "kill",
    "mode",
    "usermode",
    "invite",
    "away",
    "quit",
    "ping",
    "help",
)

_MALFORMED = Error(kind=ErrorKind.MALFORMED)
_CONTROL_CHARACTER = BadLine(fault=LineFault.CONTROL_CHARACTER)
_BLANKS = " \t"
# Compact, and ASCII only: a lone surrogate a client sent cannot make the bytes invalid UTF-8.
_encode = json.JSONEncoder(separators=(",", ":")).encode
_string = encode_basestring_ascii  # one JSON string, as the encoder writes it
# A JSON value at the start of a str, and where it ends: json.loads without its checks around it.
_read_json = json.JSONDecoder().raw_decode


# -- reading a message -----------------------------------------------------------


class _UnreadableError(Exception):
    """A field that cannot be used: what to answer instead of a command."""

    def __init__(self, answer: Error | BadLine) -> None:
        super().__init__()
        self.answer = answer


def parse_web_message(line: bytes) -> Command | Error | None:
    """Read one message: a command, or the error that says why it cannot be read.

    Errors about the message itself (not JSON, a field missing or of the
    wrong type) are the dialect's and go back to the sender at once; an
    unknown command and control characters take the same way as a text
    client's (``UnknownCommand``, ``BadLine``).
    """
    try:
        text = line.decode()
    except UnicodeDecodeError:
        return BadLine(fault=LineFault.INVALID_UTF8)
    try:  # the usual message: one JSON object, from its first character to its last
        fields, end = _read_json(text)
    except (ValueError, RecursionError):
        end = -1
    if end != len(text):  # anything else is read as json.loads reads it (whitespace around it, say)
        try:
            fields = json.loads(text)
        except (ValueError, RecursionError):  # not JSON; nested too deep; an integer too long
            return _MALFORMED
    if not isinstance(fields, dict):
        return _MALFORMED
    try:
        return _command(fields)
    except _UnreadableError as unreadable:
        return unreadable.answer


def _command(fields: dict[str, Any]) -> Command:
    cmd = fields.get("cmd")
    if not isinstance(cmd, str) or not cmd:
        raise _UnreadableError(Error(kind=ErrorKind.MISSING_FIELD, detail="cmd"))
    if cmd == "msg":
        return Say(text=_field(fields, "text"))
    if cmd == "me":
        return Say(text=_field(fields, "text"), action=True)
    if cmd == "tell":
        return Tell(nick=_field(fields, "nick"), text=_field(fields, "text"))
    if cmd == "nick":
        return ChangeNick(nick=_field(fields, "nick"))
    if cmd == "join":
        typed = _field(fields, "room")
        return JoinRoom(
            room=_room_name(typed), typed=typed, alone=True, key=_field(fields, "key", required=False)
        )
    if cmd == "who":
        typed = _field(fields, "room", required=False)
        return ListUsers(room=_room_name(typed), typed=typed) if typed else ListUsers()
    if cmd == "rooms":
        return ListRooms()
    if cmd == "topic":
        return Topic(text=_field(fields, "text", required=False))
    if cmd == "kick":
        return Kick(nick=_field(fields, "nick"), reason=_field(fields, "reason", required=False))
    if cmd == "oper":
        return Oper(password=_field(fields, "password"))
    if cmd == "kill":
        return Kill(nick=_field(fields, "nick"), text=_field(fields, "reason", required=False))
    if cmd == "quit":
        return Quit(text=_field(fields, "reason", required=False))
    if cmd == "ping":
        return Ping(token=_field(fields, "token", required=False))
    if cmd == "help":
        return Help()
    if cmd == "mode":
        return _mode(fields)
    if cmd == "usermode":
        return _user_modes(_field(fields, "modes", required=False))
    if cmd == "invite":
        typed = _field(fields, "room", required=False)
        room = _room_name(typed) if typed else None
        return Invite(nick=_field(fields, "nick"), room=room, typed=typed)
    if cmd == "away":
        return Away(message=_field(fields, "text", required=False))
    return UnknownCommand(word=cmd)


def _mode(fields: dict[str, Any]) -> Command:
    """``modes`` (``+o-v``, letters as IRC writes them) with ``args`` for a room (none: yours).

    Without ``modes``: the room's modes; ``+b`` or ``-b`` alone: its ban
    list.  A message with a letter it cannot read changes nothing.
    """
    typed = _field(fields, "room", required=False)
    room = _room_name(typed) if typed else None
    letters = _field(fields, "modes", required=False)
    arguments = _strings(fields, "args")
    if not letters:
        return ShowRoomModes(room=room, typed=typed)
    if letters[:1] not in ("+", "-"):
        raise _UnreadableError(Error(kind=ErrorKind.INVALID_FIELD, detail="modes"))
    if letters in ("+b", "-b") and not arguments:
        return ShowBans(room=room, typed=typed)
    reading = read_mode_letters(letters, arguments)
    if any(mode is None for _, mode in reading.problems):  # a letter no mode has
        raise _UnreadableError(Error(kind=ErrorKind.INVALID_FIELD, detail="modes"))
    if reading.problems or reading.list_bans:  # a letter whose argument is missing
        raise _UnreadableError(Error(kind=ErrorKind.MISSING_FIELD, detail="args"))
    if not reading.changes:  # signs alone
        raise _UnreadableError(Error(kind=ErrorKind.INVALID_FIELD, detail="modes"))
    if reading.unused:
        raise _UnreadableError(Error(kind=ErrorKind.INVALID_FIELD, detail="args"))
    return ChangeRoomModes(room=room, typed=typed, changes=reading.changes)


def _user_modes(letters: str) -> UserModes:
    """``modes`` (``+w``, ``-B``, ``+w-B``): the text protocol's ``MODE +w`` and ``MODE +B``, several at once.

    Only the modes a text user may set: ``w`` (hear operators' announcements)
    and ``B`` (a bot).  Without ``modes``: your modes.  A letter repeated
    counts as its last; one it cannot read changes nothing.
    """
    if not letters:
        return UserModes(nick="")
    if letters[:1] not in ("+", "-"):
        raise _UnreadableError(Error(kind=ErrorKind.INVALID_FIELD, detail="modes"))
    wanted: dict[str, bool] = {}
    on = True
    for letter in letters:
        if letter in ("+", "-"):
            on = letter == "+"
        elif letter in ("w", BOT_MODE):
            wanted[letter] = on
        else:
            raise _UnreadableError(Error(kind=ErrorKind.INVALID_FIELD, detail="modes"))
    if not wanted:  # signs alone
        raise _UnreadableError(Error(kind=ErrorKind.INVALID_FIELD, detail="modes"))
    return UserModes(nick="", announcements=wanted.get("w"), bot=wanted.get(BOT_MODE))


def _strings(fields: dict[str, Any], name: str) -> tuple[str, ...]:
    """A list of text fields (missing or null: none), each checked as ``_field`` checks one."""
    values = fields.get(name)
    if values is None:
        return ()
    if not isinstance(values, list):
        raise _UnreadableError(Error(kind=ErrorKind.INVALID_FIELD, detail=name))
    return tuple(_field({name: value}, name) for value in values)


def _field(fields: dict[str, Any], name: str, *, required: bool = True) -> str:
    """A text field: missing, null, empty or blank is "" (an error if required); never a control character."""
    value = fields.get(name)
    if value is None:
        value = ""
    elif not isinstance(value, str):
        raise _UnreadableError(Error(kind=ErrorKind.INVALID_FIELD, detail=name))
    elif not value.isprintable():  # the rare value with a TAB or worse: look closer
        if _CONTROL.search(value):
            raise _UnreadableError(_CONTROL_CHARACTER)
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:  # a lone surrogate (a "\\ud800" escape): not text
                raise _UnreadableError(Error(kind=ErrorKind.INVALID_FIELD, detail=name)) from None
    if required and not value.strip(_BLANKS):
        raise _UnreadableError(Error(kind=ErrorKind.MISSING_FIELD, detail=name))
    return value


# -- rendering a reply -------------------------------------------------------------


_LEAVE_REASONS = {
    LeaveReason.LEFT: "left",
    LeaveReason.KILLED: "killed",
    LeaveReason.OPER_FAILURES: "oper-failures",
    LeaveReason.TOO_SLOW: "too-slow",
    LeaveReason.TIMED_OUT: "timed-out",
    LeaveReason.SERVER_DOWN: "server-down",
    LeaveReason.PROTOCOL_ERROR: "protocol-error",
}


def _event(fields: dict[str, Any]) -> bytes:
    return _encode(fields).encode() + b"\n"


def _member(reply: UserList, nick: str) -> dict[str, Any]:
    """A user in a list; ``voice`` (IRC's ``+v``) and ``bot`` only when true, as older clients knew it."""
    member: dict[str, Any] = {"nick": nick, "op": nick in reply.operators}
    if nick in reply.voiced:
        member["voice"] = True
    if nick in reply.bots:
        member["bot"] = True
    return member


def _or_null(text: str) -> str | None:
    return text or None


def error_code(kind: ErrorKind) -> str:
    """The stable code of an error (docs/web.md, "Error codes")."""
    match kind:
        case ErrorKind.MALFORMED | ErrorKind.INVALID_UTF8:
            return "invalid-json"
        case ErrorKind.INVALID_COMMAND:
            return "unknown-command"
        case ErrorKind.MISSING_FIELD | ErrorKind.USAGE:
            return "missing-field"
        case ErrorKind.INVALID_FIELD:
            return "invalid-field"
        case ErrorKind.CONTROL_CHARACTER:
            return "control-character"
        case ErrorKind.LINE_TOO_LONG:
            return "message-too-long"
        case ErrorKind.INVALID_NICK:
            return "invalid-nick"
        case ErrorKind.NICK_IN_USE:
            return "nick-in-use"
        case ErrorKind.INVALID_ROOM:
            return "invalid-room"
        case ErrorKind.ALREADY_IN_ROOM:
            return "already-in-room"
        case ErrorKind.NO_SUCH_ROOM:
            return "no-such-room"
        case ErrorKind.NO_SUCH_NICK:
            return "no-such-nick"
        case ErrorKind.NOT_IN_A_ROOM:
            return "not-in-room"
        case ErrorKind.NOT_IN_ROOM:
            return "user-not-in-room"
        case ErrorKind.PERMISSION_DENIED | ErrorKind.ROOM_OPERATORS_ONLY:
            return "permission-denied"
        case ErrorKind.TOPIC_TOO_LONG:
            return "topic-too-long"
        case ErrorKind.WRONG_PASSWORD:
            return "wrong-password"
        case ErrorKind.TOO_MANY_OPER_FAILURES:
            return "too-many-oper-failures"
        case ErrorKind.KILL_SELF:
            return "kill-self"
        case ErrorKind.SERVER_FULL:
            return "server-full"
        case ErrorKind.TLS_REQUIRED:
            return "tls-required"
        case ErrorKind.NOT_A_MEMBER | ErrorKind.CANNOT_SPEAK_OUTSIDE:
            return "not-in-room"
        case ErrorKind.ALREADY_MEMBER:
            return "user-in-room"
        case ErrorKind.INVITE_ONLY:
            return "invite-only"
        case ErrorKind.NEEDS_KEY:
            return "bad-key"
        case ErrorKind.ROOM_FULL:
            return "room-full"
        case ErrorKind.BANNED:
            return "banned"
        case ErrorKind.TOO_MANY_ROOMS:
            return "too-many-rooms"
        case ErrorKind.CANNOT_SPEAK_MODERATED | ErrorKind.CANNOT_SPEAK_BANNED:
            return "cannot-speak"
        case ErrorKind.INVALID_MODE_ARGUMENT:
            return "invalid-mode"
        case ErrorKind.BAN_LIST_FULL:
            return "ban-list-full"
        case ErrorKind.NOT_YOUR_MODES:
            return "permission-denied"
        case ErrorKind.NO_TEXT:
            return "missing-field"
        case ErrorKind.INVALID_REALNAME:
            return "invalid-field"
        case ErrorKind.CLUSTER_UNAVAILABLE:
            return "unavailable"
        case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
            assert_never(kind)


def error_event(reply: Error) -> bytes:
    """An error as its event: the same for every server (a refusal needs no server's limits)."""
    fields: dict[str, Any] = {"type": "error", "code": error_code(reply.kind), "message": error_text(reply)}
    if reply.kind is ErrorKind.MISSING_FIELD or reply.kind is ErrorKind.INVALID_FIELD:
        fields["field"] = reply.detail
    elif reply.kind is ErrorKind.INVALID_COMMAND:
        fields["cmd"] = reply.detail
    return _event(fields)


class WebRenderer:
    """Replies as the JSON events of docs/web.md, one per line (the transport makes each a message).

    One per server, shared by its web clients.  The welcome tells a client
    the server's limit on one message (``max_message_bytes``: the server's
    line limit, over the whole JSON message in UTF-8, as the transport and
    the input count it), so that a client can refuse a longer one itself
    rather than lose its connection to a 1009 close.
    """

    __slots__ = ("_max_message_bytes",)

    def __init__(self, *, max_message_bytes: int) -> None:
        self._max_message_bytes = max_message_bytes

    def render_echo(self, reply: Said | Told) -> bytes:
        """Nothing: the page shows what its user sent without waiting for the server."""
        return b""

    def render(self, reply: Reply) -> bytes:
        match reply:
            case Said(room=room, text=text, kind=speech):  # the hot path: no dict, three escapes
                if speech is _WORDS:  # the usual kind, told without hashing an enum
                    kind = "msg"
                elif speech in IRC_ONLY_SPEECH:
                    return b""
                else:
                    kind = _SPEECH_KIND[speech]
                if reply.to_rank is not None:  # for the room's operators (or voiced members) only
                    return (
                        f'{{"type":"message","room":{_string(room)},"from":{_string(reply.source.nick)},'
                        f'"text":{_string(text)},"kind":"{kind}","to_rank":"{reply.to_rank.value}"}}\n'
                    ).encode()
                return (
                    f'{{"type":"message","room":{_string(room)},"from":{_string(reply.source.nick)},'
                    f'"text":{_string(text)},"kind":"{kind}"}}\n'
                ).encode()
            case Told(recipient=recipient, text=text, kind=speech):
                if speech in IRC_ONLY_SPEECH:
                    return b""
                return _event(
                    {
                        "type": "private",
                        "from": reply.source.nick,
                        "to": recipient,
                        "text": text,
                        "kind": _SPEECH_KIND[speech],
                    }
                )
            case Error():
                return error_event(reply)
            case Welcome(nick=nick, room=room):
                return _event(
                    {
                        "type": "welcome",
                        "nick": nick,
                        "room": _or_null(room),
                        "max_message_bytes": self._max_message_bytes,
                    }
                )
            case Connected(nick=nick, room=room):
                return _event({"type": "join", "room": room, "nick": nick, "connected": True})
            case JoinedRoom(nick=nick, room=room):
                return _event({"type": "join", "room": room, "nick": nick, "connected": False})
            case EnteredRoom(room=room):
                return _event({"type": "joined", "room": room})
            case LeftRoom(nick=nick, room=room, reason=reason):
                fields: dict[str, str | None] = {"type": "part", "room": room, "nick": nick}
                if reason:  # (an IRC client's PART message)
                    fields["reason"] = reason
                return _event(fields)
            case LastWords():
                return b""  # the quit event carries them (Disconnected.text)
            case Disconnected(nick=nick, reason=reason, killer=killer, text=text):
                fields = {  # (the kill's text too: every kind of client is shown why)
                    "type": "quit",
                    "nick": nick,
                    "reason": _LEAVE_REASONS[reason],
                    "text": _or_null(text),
                }
                if reason is LeaveReason.KILLED:
                    fields["by"] = killer
                return _event(fields)
            case NickChanged(old=old, new=new):
                return _event({"type": "nick", "old": old, "new": new})
            case NickSet(nick=nick, old=old):
                return _event({"type": "nick", "old": _or_null(old), "new": nick})
            case UserList(room=room, nicks=nicks):
                users = [_member(reply, nick) for nick in nicks]
                return _event({"type": "users", "room": room, "users": users})
            case RoomList(rooms=rooms):
                listed = [{"room": name, "users": members} for name, members in rooms]
                return _event({"type": "rooms", "rooms": listed})
            case TopicIs(room=room, topic=topic):
                return _event({"type": "topic", "room": room, "topic": _or_null(topic)})
            case TopicSet(nick=nick, room=room, topic=topic):
                return _event({"type": "topic", "room": room, "topic": _or_null(topic), "by": nick})
            case (
                Kicked(room=room, victim=victim, kicker=kicker, reason=reason)
                | KickedYou(room=room, victim=victim, kicker=kicker, reason=reason)
            ):
                return _event(
                    {"type": "kick", "room": room, "nick": victim, "by": kicker, "reason": _or_null(reason)}
                )
            case Goodbye(nick=nick):
                return _event({"type": "goodbye", "nick": nick})
            case KilledBy(killer=killer, text=text):
                return _event({"type": "killed", "by": killer, "text": _or_null(text)})
            case OperGranted():
                return _event({"type": "oper"})
            case Pong(token=token):
                return _event({"type": "pong", "token": _or_null(token)})
            case HelpText():
                return _event({"type": "help", "commands": list(COMMANDS)})
            case ShuttingDown():
                return _event({"type": "shutdown"})
            case ClusterNotice(news=news, detail=detail):
                text = CLUSTER_NEWS[news].format(detail)
                return _event({"type": "cluster", "news": news.name.lower().replace("_", "-"), "text": text})
            case ModesChanged(nick=nick, room=room, changes=changes):
                letters, args = mode_string(changes)
                return _event(
                    {"type": "mode", "target": room, "modes": letters, "args": list(args), "by": nick}
                )
            case Invitation(nick=nick, room=room):
                return _event({"type": "invite", "from": nick, "room": room})
            case Announcement(source=source, text=text):
                return _event({"type": "wallops", "from": source.nick, "text": text})
            case (
                AwayNotice(nick=nick, message=message)
                | IsAway(nick=nick, message=message)
                | AwaySet(nick=nick, message=message)
            ):
                return _event({"type": "away", "nick": nick, "text": _or_null(message)})
            case RoomModesAre(room=room, modes=modes):
                letters, args = mode_string(modes)
                return _event({"type": "modes", "room": room, "modes": letters, "args": list(args)})
            case BanList(room=room, bans=bans):
                listed = [{"mask": ban.mask, "by": ban.by} for ban in bans]
                return _event({"type": "bans", "room": room, "bans": listed})
            case InviteSent(invitee=invitee, room=room):
                return _event({"type": "invited", "nick": invitee, "room": room})
            case UserModesAre():  # "+" alone (none) as "", as a room without modes has
                return _event({"type": "usermodes", "modes": user_modes(reply).rstrip("+")})
            case UserModesChanged(nick=nick):
                return _event({"type": "usermode", "nick": nick, "modes": user_mode_changes(reply)})
            case (
                WhoList()
                | WhoisReply()
                | WhowasReply()
                | UserhostReply()
                | IsonReply()
                | ServerStats()
                | RealnameChanged()
            ):
                return b""  # answers to commands only IRC clients have; real names the page never shows
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(reply)

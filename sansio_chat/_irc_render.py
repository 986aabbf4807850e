"""Replies as IRC lines, for one set of negotiated capabilities.

What an IRC client receives depends on the capabilities it asked for
(``message-tags``, ``server-time``, ``multi-prefix``...), so there is one
``IRCRenderer`` per set of capabilities that matters to rendering, shared by
every client with that set (``IRCRenderers`` interns them); the fan-out
renders a delivery once per renderer present.  A numeric reply names its
recipient first, so replies to one client are rendered with its nickname
(``render(reply, nick)``); broadcasts never need it.

Every line is at most 512 bytes without its tags.  Words too long for one
line reach IRC clients split into several messages at character
boundaries, unless the sender's own client sized them for one line (an
IRC client whose words become too long only through the longer prefix the
server adds): those are shortened, as other servers do, since splitting
them would hand the recipient a message it never expects.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import assert_never

from ._base import Clock
from ._config import MAX_ROOMS_PER_USER, ServerConfig
from ._irc_message import MAX_LINE_BYTES, split_text, whole_characters
from ._modes import MAX_BANS, MAX_KEY_CHARS, ModeChange, RoomMode
from ._nicknames import MAX_NICK_CHARS
from ._replies import (
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
    UserDetails,
    UserhostReply,
    UserList,
    UserModesAre,
    UserModesChanged,
    Welcome,
    WhoisReply,
    WhoList,
    WhowasReply,
)
from ._rooms import MAX_KICK_REASON_CHARS, MAX_ROOM_NAME_CHARS, MAX_TOPIC_CHARS
from ._text_dialect import (
    BOT_MODE,
    CLUSTER_NEWS,
    MODE_LETTERS,
    RANK_MARKS,
    mode_string,
    user_mode_changes,
    user_modes,
)
from ._timefmt import human_utc, iso_utc
from ._users import MAX_AWAY_CHARS, MAX_REALNAME_CHARS

#: Targets one PRIVMSG or NOTICE may name.
MAX_TARGETS = 4
#: The membership prefixes that name a room's members of a rank as a target (ISUPPORT
#: ``STATUSMSG``: ``PRIVMSG @#room``), most privileged first, as ``PREFIX`` lists them.
STATUS_PREFIXES = {prefix: rank for rank, prefix in RANK_MARKS.items()}
#: ISUPPORT tokens on one 005 line, at most (the line also has the nickname and a text).
_TOKENS_PER_LINE = 12


class Cap(enum.Enum):
    """The IRCv3 capabilities this server offers."""

    MESSAGE_TAGS = "message-tags"
    SERVER_TIME = "server-time"
    ECHO_MESSAGE = "echo-message"
    MULTI_PREFIX = "multi-prefix"
    USERHOST_IN_NAMES = "userhost-in-names"
    AWAY_NOTIFY = "away-notify"
    CAP_NOTIFY = "cap-notify"
    SETNAME = "setname"


#: What ``CAP LS`` lists, in this order.
OFFERED = tuple(cap.value for cap in Cap)
#: Capabilities that change nothing in what a client receives: not part of a renderer's key.
_NOT_RENDERED = frozenset({Cap.CAP_NOTIFY})

#: The user modes and room modes this server knows (for 004), and the room modes with an argument.
USER_MODES = "Biow"
ROOM_MODES = "biklmnostv"
ROOM_MODES_WITH_ARGUMENT = "bklov"

#: What ``HELP`` (or ``HELPOP``) with no subject says: the commands, and where text clients meet.
_HELP_INDEX: tuple[str, ...] = (
    "Commands: AWAY CAP HELP INFO INVITE ISON JOIN KICK KILL LINKS LIST LUSERS MODE MOTD",
    "NAMES NICK NOTICE OPER PART PASS PING PONG PRIVMSG QUIT SETNAME TAGMSG TIME TOPIC",
    "USER USERHOST VERSION WALLOPS WHO WHOIS WHOWAS",
    "Rooms are channels: #lobby is where text clients (nc, telnet) meet.",
    "HELP <command> tells more about one command.",
)

#: ``HELP <command>``: its syntax, then what it does here (IRC clients mostly show these as they come).
_COMMAND_HELP: dict[str, tuple[str, ...]] = {
    "AWAY": ("AWAY [:<message>]", "Marks you away with that message; with none, back again."),
    "CAP": ("CAP LS [302] | REQ :<caps> | LIST | END", "Negotiates IRCv3 capabilities."),
    "HELP": ("HELP [<command>]", "Lists the commands, or tells about one of them."),
    "INFO": ("INFO", "Tells about this server."),
    "INVITE": ("INVITE <nick> <#channel>", "Invites someone to a channel (needed to enter a +i one)."),
    "ISON": ("ISON <nick> [<nick>...]", "Which of these nicknames are online."),
    "JOIN": ("JOIN <#channel>[,<#channel>...] [<key>[,<key>...]]", "Joins channels; JOIN 0 leaves them all."),
    "KICK": ("KICK <#channel> <nick> [:<reason>]", "Removes someone from a channel you operate."),
    "KILL": ("KILL <nick> [:<reason>]", "Disconnects a user (server operators only)."),
    "LINKS": ("LINKS", "Lists the servers of this network."),
    "LIST": (
        "LIST [<#channel>|<mask>[,...]] [<condition>[,...]]",
        "Lists channels with their member counts and topics, those matching a name or mask if any.",
        "Conditions: !<mask> (not matching), <n or >n (members),",
        "C<n or C>n (created less or more than n minutes ago), T<n or T>n (topic set so long ago).",
    ),
    "LUSERS": ("LUSERS", "Counts users, operators and channels."),
    "MODE": (
        "MODE <#channel> [<modes> [<arguments>]] | MODE <nick> [<modes>]",
        "Channel modes: o v (members), b (bans), k (key), l (limit), i m n s t.",
        "User modes: i (invisible), o (server operator, drop only), w (hear WALLOPS), B (a bot).",
    ),
    "MOTD": ("MOTD", "Shows the message of the day."),
    "NAMES": ("NAMES [<#channel>]", "Lists a channel's members, operators marked @ and voiced +."),
    "NICK": ("NICK <nick>", "Changes your nickname."),
    "NOTICE": ("NOTICE <target>[,<target>...] :<text>", "Like PRIVMSG, but never answered automatically."),
    "OPER": ("OPER <name> <password>", "Makes you a server operator."),
    "PART": ("PART <#channel>[,<#channel>...] [:<reason>]", "Leaves channels."),
    "PASS": ("PASS <password>", "The server's connection password, before NICK and USER."),
    "PING": ("PING <token>", "The server answers PONG with the same token, in order."),
    "PONG": ("PONG <token>", "Answers the server's PING."),
    "PRIVMSG": ("PRIVMSG <target>[,<target>...] :<text>", "Sends a message to channels or nicknames."),
    "QUIT": ("QUIT [:<reason>]", "Leaves the chat."),
    "SETNAME": (
        "SETNAME :<realname>",
        f"Changes your real name (1 to {MAX_REALNAME_CHARS} characters), as WHOIS and WHO show it.",
    ),
    "TAGMSG": ("TAGMSG <target>[,<target>...]", "Sends message tags alone (needs the message-tags cap)."),
    "TIME": ("TIME", "The server's local time."),
    "TOPIC": ("TOPIC <#channel> [:<topic>]", "Shows or sets a channel's topic (empty to clear)."),
    "USER": ("USER <username> 0 * :<realname>", "Registers your user name and real name."),
    "USERHOST": ("USERHOST <nick> [<nick>...]", "Shows users' hosts and away state."),
    "VERSION": ("VERSION", "This server's version and its ISUPPORT tokens."),
    "WALLOPS": (
        "WALLOPS :<text>",
        "Sends <text> to every user with user mode +w (server operators only).",
    ),
    "WHO": ("WHO <#channel>|<mask> [<flags>[%<fields>]]", "Lists users (WHOX fields with %)."),
    "WHOIS": ("WHOIS <nick>", "Tells about a user: name, channels, away, idle time."),
    "WHOWAS": ("WHOWAS <nick>", "Tells about a user who has left."),
}

_LEAVE_TEXT = {
    LeaveReason.OPER_FAILURES: "Too many failed OPER attempts",
    LeaveReason.TOO_SLOW: "Max SendQ exceeded",
    LeaveReason.TIMED_OUT: "Ping timeout",
    LeaveReason.SERVER_DOWN: "*.net *.split",
    LeaveReason.PROTOCOL_ERROR: "Protocol error",
}

# Error kinds as (numeric, their parameters after the nickname, text); {d} is the detail, {r} the room.
_NUMERIC_ERRORS: dict[ErrorKind, tuple[str, tuple[str, ...], str]] = {
    ErrorKind.LINE_TOO_LONG: ("417", (), "Input line was too long"),
    ErrorKind.CONTROL_CHARACTER: ("400", ("*",), "Control characters are not allowed"),
    ErrorKind.USAGE: ("461", ("{d}",), "Not enough parameters"),
    ErrorKind.INVALID_COMMAND: ("421", ("{d}",), "Unknown command"),
    ErrorKind.INVALID_NICK: ("432", ("{d}",), "Erroneous nickname"),
    ErrorKind.NICK_IN_USE: ("433", ("{d}",), "Nickname is already in use"),
    ErrorKind.PERMISSION_DENIED: ("481", (), "Permission Denied- You're not an IRC operator"),
    ErrorKind.NO_SUCH_NICK: ("401", ("{d}",), "No such nick/channel"),
    ErrorKind.KILL_SELF: ("400", ("KILL",), "Use QUIT to leave"),
    ErrorKind.WRONG_PASSWORD: ("464", (), "Password incorrect"),
    ErrorKind.TOO_MANY_OPER_FAILURES: ("464", (), "Password incorrect (too many failed attempts)"),
    ErrorKind.INVALID_ROOM: ("403", ("{d}",), "No such channel (illegal name)"),
    ErrorKind.NO_SUCH_ROOM: ("403", ("{d}",), "No such channel"),
    ErrorKind.NOT_IN_A_ROOM: ("442", ("*",), "You're not on that channel"),
    ErrorKind.ROOM_OPERATORS_ONLY: ("482", ("{r}",), "You're not channel operator"),
    ErrorKind.NOT_IN_ROOM: ("441", ("{d}", "{r}"), "They aren't on that channel"),
    ErrorKind.NOT_A_MEMBER: ("442", ("{r}",), "You're not on that channel"),
    ErrorKind.ALREADY_MEMBER: ("443", ("{d}", "{r}"), "is already on channel"),
    ErrorKind.INVITE_ONLY: ("473", ("{r}",), "Cannot join channel (+i)"),
    ErrorKind.NEEDS_KEY: ("475", ("{r}",), "Cannot join channel (+k)"),
    ErrorKind.ROOM_FULL: ("471", ("{r}",), "Cannot join channel (+l)"),
    ErrorKind.BANNED: ("474", ("{r}",), "Cannot join channel (+b)"),
    ErrorKind.TOO_MANY_ROOMS: ("405", ("{r}",), "You have joined too many channels"),
    ErrorKind.CANNOT_SPEAK_MODERATED: ("404", ("{r}",), "Cannot send to channel (+m)"),
    ErrorKind.CANNOT_SPEAK_BANNED: ("404", ("{r}",), "Cannot send to channel (+b)"),
    ErrorKind.CANNOT_SPEAK_OUTSIDE: ("404", ("{r}",), "Cannot send to channel (+n)"),
    ErrorKind.BAN_LIST_FULL: ("478", ("{r}", "b"), "Channel ban list is full"),
    ErrorKind.NOT_YOUR_MODES: ("502", (), "Can't change mode for other users"),
    ErrorKind.NO_TEXT: ("412", (), "No text to send"),
    ErrorKind.CLUSTER_UNAVAILABLE: ("437", ("{d}",), "Nick/channel is temporarily unavailable"),
}


class IRCServerInfo:
    """What every IRC renderer of one server shares: its names, its settings, the time."""

    __slots__ = ("clock", "config", "created")

    def __init__(self, config: ServerConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.created = 0.0  # wall-clock time of the first IRC welcome (003)

    def isupport(self) -> tuple[str, ...]:
        """The ISUPPORT (005) tokens, as advertised."""
        config = self.config
        return (
            f"AWAYLEN={MAX_AWAY_CHARS}",
            f"BOT={BOT_MODE}",
            "CASEMAPPING=ascii",
            f"CHANLIMIT=#:{MAX_ROOMS_PER_USER}",
            "CHANMODES=b,k,l,imnst",
            f"CHANNELLEN={MAX_ROOM_NAME_CHARS + 1}",
            "CHANTYPES=#",
            "ELIST=CMNTU",
            f"KEYLEN={MAX_KEY_CHARS}",
            f"KICKLEN={MAX_KICK_REASON_CHARS}",
            f"MAXLIST=b:{MAX_BANS}",
            "MODES=4",
            f"NETWORK={config.network}",
            f"NICKLEN={MAX_NICK_CHARS}",
            "PREFIX=(ov)@+",
            "STATUSMSG=" + "".join(STATUS_PREFIXES),
            f"TARGMAX=JOIN:,KICK:1,NAMES:1,NOTICE:{MAX_TARGETS},PART:,PRIVMSG:{MAX_TARGETS},"
            f"TAGMSG:{MAX_TARGETS},WHOIS:1",
            f"TOPICLEN={MAX_TOPIC_CHARS}",
            "UTF8ONLY",
            "WHOX",
        )


def _safe(text: str) -> str:
    """``text`` without CR, LF or NUL, which would end or break a line (printable text has none)."""
    if text.isprintable():
        return text
    return text.replace("\r", " ").replace("\n", " ").replace("\0", " ")


#: Bytes of a line kept for its last parameter when a middle one must be cut to fit (``:`` and some text).
_TEXT_ROOM = 64


def _middle(param: str) -> str:
    """``param`` as a middle parameter: ``*`` for one the grammar cannot carry there.

    Only a name a client typed can be so (``WHOIS :a b``, ``NAMES ,``): an
    empty one, one with a space or a leading colon, one with CR, LF or NUL.
    """
    if param and param[0] != ":" and " " not in param and (param.isprintable() or _safe(param) == param):
        return param
    return "*"


def _middles(head: str, middles: Sequence[str]) -> str:
    """`` p1 p2``, each a middle parameter; while the line would be too long, the longest is cut."""
    params = [_middle(middle) for middle in middles]
    start = "".join(f" {param}" for param in params)
    budget = MAX_LINE_BYTES - 2 - _TEXT_ROOM - len(head.encode())
    if len(start.encode()) <= budget:  # the usual case
        return start
    sizes = [len(param.encode()) + 1 for param in params]  # with the space before it
    while sum(sizes) > budget and max(sizes, default=0) > 2:
        at = sizes.index(max(sizes))
        data = params[at].encode()
        end = max(len(data) - (sum(sizes) - budget), 1)
        while data[end] & 0xC0 == 0x80:  # inside a character: back up to its start
            end -= 1
        params[at] = data[:end].decode() if end else "*"
        sizes[at] = len(params[at].encode()) + 1
    return "".join(f" {param}" for param in params)


def _line(head: str, params: Sequence[str], *, force_trailing: bool = False) -> bytes:
    """``head p1 p2 :last`` and CR LF; the colon only where needed (or always, ``force_trailing``).

    The last parameter is cut, at a character boundary, if the line would
    pass 512 bytes (a long reason, topic or away message from another dialect).
    """
    if not params:
        return _fit(head)
    *middles, last = params
    last = _safe(last)
    colon = force_trailing or not last or " " in last or last[0] == ":"
    return _fit(f"{head}{_middles(head, middles)} {':' if colon else ''}", last)


def _fit(head: str, tail: str = "") -> bytes:
    """``head`` then ``tail``, CR LF added; ``tail`` cut between whole characters to fit 512 bytes."""
    data = head.encode()
    rest = tail.encode()
    room = MAX_LINE_BYTES - 2 - len(data)
    if len(rest) > room:
        end = max(room, 0)
        while end and rest[end] & 0xC0 == 0x80:  # inside a character: back up to its start
            end -= 1
        rest = whole_characters(rest[:end].decode(), rest[end : end + 4].decode(errors="ignore")[:1]).encode()
    return data + rest + b"\r\n"


class IRCRenderer:
    """Replies as IRC lines for clients with one set of capabilities (see the module docstring)."""

    __slots__ = (
        "_away",
        "_echo",
        "_info",
        "_isupport",
        "_multi_prefix",
        "_setname",
        "_tagged",
        "_tags",
        "_time",
        "_uhnames",
    )

    def __init__(self, info: IRCServerInfo, caps: frozenset[Cap]) -> None:
        self._info = info
        self._tags = Cap.MESSAGE_TAGS in caps
        self._time = Cap.SERVER_TIME in caps
        self._echo = Cap.ECHO_MESSAGE in caps
        self._multi_prefix = Cap.MULTI_PREFIX in caps
        self._uhnames = Cap.USERHOST_IN_NAMES in caps
        self._away = Cap.AWAY_NOTIFY in caps
        self._setname = Cap.SETNAME in caps
        self._tagged = self._tags or self._time  # words carry tags for this renderer's clients

    # -- lines ----------------------------------------------------------------------------

    @property
    def _server(self) -> str:
        return self._info.config.server_name

    def _time_tag(self) -> str:
        return f"@time={iso_utc(self._info.clock.wall)} " if self._time else ""

    def event(self, source: str, command: str, *params: str, force_trailing: bool = False) -> bytes:
        """A message from a user (``source`` its mask) about something it did: tagged with the time."""
        line = _line(f":{source} {command}", params, force_trailing=force_trailing)
        return self._time_tag().encode() + line if self._time else line

    def server_line(self, command: str, *params: str) -> bytes:
        """A message from the server itself (PONG, CAP, FAIL, NOTICE)."""
        return _line(f":{self._server} {command}", params)

    def numeric(self, nick: str, code: str, *params: str) -> bytes:
        """A numeric reply to ``nick`` ("*" before it has one); the last parameter is its text."""
        return _line(f":{self._server} {code} {nick}", params)

    @staticmethod
    def refusal(kind: ErrorKind) -> bytes:
        """The ``ERROR`` a connection turned away before registering reads (server full, TLS required)."""
        if kind is ErrorKind.TLS_REQUIRED:
            return IRCRenderer.error_line(
                "Closing link: this port speaks TLS, turn TLS (SSL) on in your client"
            )
        return IRCRenderer.error_line(f"Closing link: {kind.value}")

    @staticmethod
    def error_line(text: str) -> bytes:
        """``ERROR``: the last line before the server closes a connection."""
        return _fit("ERROR :", text)

    # -- the renderer's interface -------------------------------------------------------------

    def render_echo(self, reply: Said | Told) -> bytes:
        """With ``echo-message``: the sender gets its own words as the others do; else nothing."""
        return self.render(reply) if self._echo else b""

    def render(self, reply: Reply, nick: str = "*") -> bytes:
        """The lines for ``reply``; ``nick``: the recipient's, for numerics (replies to one client)."""
        match reply:
            case Said():  # the hot path
                rank = reply.to_rank
                target = reply.room if rank is None else RANK_MARKS[rank] + reply.room
                return self._words(reply.source.mask, reply.source.line_sized, target, reply)
            case Told():
                return self._words(reply.source.mask, reply.source.line_sized, reply.recipient, reply)
            case Welcome(nick=welcomed):
                return self._welcome(welcomed)
            case Connected(nick=who, room=room, mask=mask):
                return self.event(mask or who, "JOIN", room)
            case LastWords():
                return b""  # the QUIT carries them
            case Disconnected():
                return self.event(
                    reply.mask or reply.nick, "QUIT", self._quit_reason(reply), force_trailing=True
                )
            case NickChanged(old=old, new=new, mask=mask):
                return self.event(mask or old, "NICK", new)
            case NickSet(nick=new, old=old, mask=mask):
                return b"" if new == old else self.event(mask or old or nick, "NICK", new)
            case EnteredRoom():
                return self._entered(reply, nick)
            case JoinedRoom(nick=who, room=room, mask=mask, away=away):
                joined = self.event(mask or who, "JOIN", room)
                if away and self._away:
                    joined += self.event(mask or who, "AWAY", away, force_trailing=True)
                return joined
            case LeftRoom(nick=who, room=room, mask=mask, reason=reason):
                if reason:
                    return self.event(mask or who, "PART", room, reason, force_trailing=True)
                return self.event(mask or who, "PART", room)
            case UserList():
                return self._names(reply, nick)
            case RoomList(rooms=rooms, topics=topics):
                lines = [self.numeric(nick, "321", "Channel", "Users  Name")]
                for (room, members), topic in zip(rooms, topics or ("",) * len(rooms), strict=True):
                    if members:  # an empty #lobby is not a channel to an IRC client
                        lines.append(self.numeric(nick, "322", room, str(members), topic))
                lines.append(self.numeric(nick, "323", "End of /LIST"))
                return b"".join(lines)
            case TopicIs(joined=True):
                return b""  # told with the JOIN
            case TopicIs(room=room, topic=""):
                return self.numeric(nick, "331", room, "No topic is set")
            case TopicIs(room=room, topic=topic, by=by, at=at):
                return self._topic(nick, room, topic, by, at)
            case TopicSet(unchanged=True):
                return b""
            case TopicSet(nick=setter, room=room, topic=topic, mask=mask):
                return self.event(mask or setter, "TOPIC", room, topic, force_trailing=True)
            case (
                Kicked(room=room, victim=victim, kicker=kicker, reason=reason, mask=mask)
                | KickedYou(room=room, victim=victim, kicker=kicker, reason=reason, mask=mask)
            ):
                return self.event(mask or kicker, "KICK", room, victim, reason or kicker, force_trailing=True)
            case Goodbye(nick=who, text=text):
                return self.error_line(
                    f"Closing link: {who} (Quit: {text})" if text else f"Closing link: {who} (Client Quit)"
                )
            case KilledBy(killer=killer, text=text, mask=mask):
                why = f"Killed ({killer} ({text}))" if text else f"Killed ({killer})"
                return self.event(
                    mask or killer, "KILL", nick, text or killer, force_trailing=True
                ) + self.error_line(f"Closing link: {nick} ({why})")
            case OperGranted():
                return self.numeric(nick, "381", "You are now an IRC operator") + self.server_line(
                    "MODE", nick, "+o"
                )
            case Pong(token=token):
                return self.server_line("PONG", self._server, token)
            case HelpText(subject=subject):
                return self._help(nick, subject)
            case ShuttingDown():
                return self.error_line("Server is shutting down")
            case ClusterNotice(news=news, detail=detail):
                return self.server_line("NOTICE", nick, CLUSTER_NEWS[news].format(detail))
            case Error():
                return self._error(reply, nick)
            case ModesChanged(nick=setter, room=room, changes=changes, mask=mask):
                return self._mode_lines(mask or setter, room, changes)
            case RoomModesAre(room=room, modes=modes, created=created):
                letters, args = mode_string(modes)
                return self.numeric(nick, "324", room, letters or "+", *args) + self.numeric(
                    nick, "329", room, str(int(created))
                )
            case BanList(room=room, bans=bans):
                lines = [self.numeric(nick, "367", room, ban.mask, ban.by, str(int(ban.at))) for ban in bans]
                lines.append(self.numeric(nick, "368", room, "End of channel ban list"))
                return b"".join(lines)
            case Invitation(nick=inviter, invitee=invitee, room=room, mask=mask):
                return self.event(mask or inviter, "INVITE", invitee, room)
            case InviteSent(invitee=invitee, room=room):
                return self.numeric(nick, "341", invitee, room)
            case AwaySet(away=away):
                if away:
                    return self.numeric(nick, "306", "You have been marked as being away")
                return self.numeric(nick, "305", "You are no longer marked as being away")
            case AwayNotice(nick=who, message=message, mask=mask):
                if not self._away:
                    return b""
                if message:
                    return self.event(mask or who, "AWAY", message, force_trailing=True)
                return self.event(mask or who, "AWAY")
            case IsAway(nick=who, message=message):
                return self.numeric(nick, "301", who, message)
            case WhoList():
                return self._who(reply, nick)
            case WhoisReply():
                return self._whois(reply, nick)
            case WhowasReply(nick=asked, users=users):
                return self._whowas(nick, asked, users)
            case UserhostReply(users=users):
                return self.numeric(nick, "302", " ".join(map(_userhost, users)))
            case IsonReply(nicks=nicks):  # one line, as clients count them: whole nicknames, as many as fit
                lines = self._spread(nick, "303", (), nicks)
                return lines[0] if lines else self.numeric(nick, "303", "")
            case ServerStats():
                return self._lusers(reply, nick)
            case UserModesAre():
                return self.numeric(nick, "221", user_modes(reply))
            case UserModesChanged(nick=who):
                return _line(f":{who} MODE {who}", (user_mode_changes(reply),), force_trailing=True)
            case RealnameChanged(nick=who, realname=realname, mask=mask):
                if not self._setname:
                    return b""
                return self.event(mask or who, "SETNAME", realname, force_trailing=True)
            case Announcement(source=source, text=text):
                return self.event(source.mask, "WALLOPS", text, force_trailing=True)
            case _:  # pragma: no cover - the cases above are exhaustive (mypy checks)
                assert_never(reply)

    # -- words --------------------------------------------------------------------------------

    def _words(self, source: str, line_sized: bool, target: str, reply: Said | Told) -> bytes:
        """PRIVMSG, NOTICE or TAGMSG; split (or, for a line-sized sender, cut) to fit 512 bytes."""
        kind = reply.kind
        tags = self._message_tags(reply) if self._tagged else ""
        if kind is Speech.TAGS:
            if not self._tags:
                return b""
            return tags.encode() + f":{source} TAGMSG {target}\r\n".encode()
        text = _safe(reply.text)
        command = "NOTICE" if kind is Speech.NOTICE or kind is Speech.CTCP_REPLY else "PRIVMSG"
        action = kind is Speech.ACTION
        head = f":{source} {command} {target} :"
        body = f"{head}\x01ACTION {text}\x01" if action else head + text
        data = body.encode()
        if len(data) <= MAX_LINE_BYTES - 2:  # the usual case: one line as it is
            return tags.encode() + data + b"\r\n"
        if line_sized:
            return tags.encode() + _fit(head, f"\x01ACTION {text}\x01" if action else text)
        pieces = split_text(text, command=command, target=target, source=source, reserve=9 if action else 0)
        assert isinstance(pieces, tuple)  # words are valid text, and a prefix is never near 512 bytes
        lines = []
        for number, piece in enumerate(pieces):
            part_tags = tags if number == 0 else self._message_tags(reply, part=number + 1)
            line = f"{head}\x01ACTION {piece}\x01" if action else head + piece
            lines.append(part_tags.encode() + _fit(line))
        return b"".join(lines)

    def _message_tags(self, reply: Said | Told, part: int = 0) -> str:
        """``@time=...;msgid=...;+client=tags `` as this renderer's clients read them ("" for none)."""
        items: list[str] = []
        if self._time:
            items.append(f"time={iso_utc(self._info.clock.wall)}")
        if self._tags:
            items.append(f"msgid={reply.msgid}" if not part else f"msgid={reply.msgid}-{part}")
            if reply.source.bot:
                items.append("bot")
            items.extend(f"{key}={_escape_tag(value)}" if value else key for key, value in reply.tags)
        return "@" + ";".join(items) + " " if items else ""

    # -- registration ---------------------------------------------------------------------------

    def _welcome(self, nick: str) -> bytes:
        """001 to 004 and the ISUPPORT lines (LUSERS and the MOTD follow, asked by the session)."""
        info = self._info
        config = info.config
        if not info.created:
            info.created = info.clock.wall
        lines = [
            self.numeric(nick, "001", f"Welcome to the {config.network} IRC network, {nick}"),
            self.numeric(nick, "002", f"Your host is {config.server_name}, running version {config.version}"),
            self.numeric(nick, "003", f"This server was created {human_utc(info.created)}"),
            self.numeric(
                nick,
                "004",
                config.server_name,
                config.version,
                USER_MODES,
                ROOM_MODES,
                ROOM_MODES_WITH_ARGUMENT,
            ),
            self.isupport(nick),
        ]
        return b"".join(lines)

    def isupport(self, nick: str) -> bytes:
        """The 005 lines."""
        tokens = self._info.isupport()
        return b"".join(
            self.numeric(nick, "005", *tokens[at : at + _TOKENS_PER_LINE], "are supported by this server")
            for at in range(0, len(tokens), _TOKENS_PER_LINE)
        )

    def _lusers(self, stats: ServerStats, nick: str) -> bytes:
        visible = stats.users - stats.invisible
        lines = [
            self.numeric(
                nick, "251", f"There are {visible} users and {stats.invisible} invisible on 1 servers"
            )
        ]
        if stats.operators:
            lines.append(self.numeric(nick, "252", str(stats.operators), "IRC Operators online"))
        if stats.unregistered:
            lines.append(self.numeric(nick, "253", str(stats.unregistered), "unknown connection(s)"))
        if stats.rooms:
            lines.append(self.numeric(nick, "254", str(stats.rooms), "channels formed"))
        lines.append(self.numeric(nick, "255", f"I have {stats.users} clients and 0 servers"))
        users, most = str(stats.users), str(stats.most_users)
        lines.append(self.numeric(nick, "265", users, most, f"Current local users {users}, max {most}"))
        lines.append(self.numeric(nick, "266", users, most, f"Current global users {users}, max {most}"))
        return b"".join(lines)

    def motd(self, nick: str) -> bytes:
        """The message of the day (375, 372s, 376), or 422 when there is none."""
        lines = self._info.config.motd
        if lines is None:
            return self.numeric(nick, "422", "MOTD File is missing")
        start = self.numeric(nick, "375", f"- {self._server} Message of the day - ")
        body = b"".join(self.numeric(nick, "372", f"- {line}") for line in lines)
        return start + body + self.numeric(nick, "376", "End of /MOTD command.")

    # -- rooms ------------------------------------------------------------------------------------

    def _entered(self, reply: EnteredRoom, nick: str) -> bytes:
        joined = self.event(reply.mask or reply.nick, "JOIN", reply.room)
        if reply.topic:
            joined += self._topic(nick, reply.room, reply.topic, reply.topic_by, reply.topic_at)
        return joined

    def _topic(self, nick: str, room: str, topic: str, by: str, at: float) -> bytes:
        return self.numeric(nick, "332", room, topic) + self.numeric(nick, "333", room, by, str(int(at)))

    def _prefix(self, op: bool, voiced: bool) -> str:
        if self._multi_prefix:
            return ("@" if op else "") + ("+" if voiced else "")
        return "@" if op else "+" if voiced else ""

    def _names(self, reply: UserList, nick: str) -> bytes:
        """353 lines (as many as it takes) and 366; an empty list is a room not seen: 366 alone."""
        room = reply.room
        operators, voiced = reply.operators, reply.voiced
        shown = reply.masks if self._uhnames and reply.masks else reply.nicks
        entries = [
            self._prefix(member in operators, member in voiced) + name
            for member, name in zip(reply.nicks, shown, strict=True)
        ]
        symbol = "@" if reply.secret else "="
        lines = self._spread(nick, "353", (symbol, room), entries)
        lines.append(self.numeric(nick, "366", room, "End of /NAMES list"))
        return b"".join(lines)

    def _mode_lines(self, source: str, room: str, changes: tuple[ModeChange, ...]) -> bytes:
        """``MODE`` lines for ``changes`` in order: as many as it takes for each to keep to 512 bytes.

        Every argument stays whole (clients keep a ban list as ``MODE`` lines show it).
        """
        head = f":{source} MODE {room} "
        groups: list[tuple[ModeChange, ...]] = []
        group: tuple[ModeChange, ...] = ()
        for change in changes:
            letters, args = mode_string((*group, change))
            if group and len((head + " ".join((letters, *args))).encode()) + 3 > MAX_LINE_BYTES:  # ":", CR LF
                groups.append(group)
                group = ()
            group = (*group, change)
        groups.append(group)
        lines = []
        for part in groups:
            letters, args = mode_string(part)
            lines.append(self.event(source, "MODE", room, letters, *args))
        return b"".join(lines)

    def _spread(self, nick: str, code: str, head: tuple[str, ...], items: Sequence[str]) -> list[bytes]:
        """``code`` numerics: ``head``, then as many whole ``items`` as fit, spaced, in the last parameter.

        As many lines as it takes (none for no items): a list is never cut inside an item.
        """
        head_bytes = len(f":{self._server} {code} {nick}{''.join(f' {param}' for param in head)} :".encode())
        lines: list[bytes] = []
        line: list[str] = []
        size = head_bytes
        for item in items:
            length = len(item.encode()) + 1
            if line and size + length > MAX_LINE_BYTES - 2:
                lines.append(self.numeric(nick, code, *head, " ".join(line)))
                line, size = [], head_bytes
            line.append(item)
            size += length
        if line:
            lines.append(self.numeric(nick, code, *head, " ".join(line)))
        return lines

    # -- users ---------------------------------------------------------------------------------------

    def _who(self, reply: WhoList, nick: str) -> bytes:
        fields, server = reply.fields, self._server
        lines = []
        for user in reply.users:
            flags = ("G" if user.away else "H") + ("*" if user.operator else "")
            if user.bot:
                flags += BOT_MODE
            if user.room:
                flags += self._prefix(user.op, user.voiced)
            room = user.room or "*"
            if not fields:
                lines.append(
                    self.numeric(
                        nick,
                        "352",
                        room,
                        user.username,
                        user.host,
                        server,
                        user.nick,
                        flags,
                        f"0 {user.realname}",
                    )
                )
                continue
            values = {
                "t": reply.token or "0",
                "c": room,
                "u": user.username,
                "i": "255.255.255.255",
                "h": user.host,
                "s": server,
                "n": user.nick,
                "f": flags,
                "d": "0",
                "l": str(user.idle),
                "a": "0",
                "o": "n/a",
                "r": user.realname,
            }
            lines.append(
                self.numeric(nick, "354", *(values[letter] for letter in "tcuihsnfdlaor" if letter in fields))
            )
        lines.append(self.numeric(nick, "315", reply.mask or "*", "End of /WHO list"))
        return b"".join(lines)

    def _whois(self, reply: WhoisReply, nick: str) -> bytes:
        user = reply.user
        if user is None:
            return self.numeric(nick, "401", reply.nick, "No such nick/channel") + self.numeric(
                nick, "318", reply.nick, "End of /WHOIS list"
            )
        who = user.nick
        lines = [self.numeric(nick, "311", who, user.username, user.host, "*", user.realname)]
        lines += self._spread(nick, "319", (who,), [prefix + room for prefix, room in reply.rooms])
        lines.append(self.numeric(nick, "312", who, self._server, self._info.config.network))
        if user.operator:
            lines.append(self.numeric(nick, "313", who, "is an IRC operator"))
        if user.bot:
            lines.append(self.numeric(nick, "335", who, "is a bot"))
        if user.away:
            lines.append(self.numeric(nick, "301", who, user.away))
        if user.secure:
            lines.append(self.numeric(nick, "671", who, "is using a secure connection"))
        lines.append(
            self.numeric(nick, "317", who, str(user.idle), str(int(user.signon)), "seconds idle, signon time")
        )
        lines.append(self.numeric(nick, "318", who, "End of /WHOIS list"))
        return b"".join(lines)

    def _whowas(self, nick: str, asked: str, users: tuple[UserDetails, ...]) -> bytes:
        if not users:
            lines = [self.numeric(nick, "406", asked, "There was no such nickname")]
        else:
            lines = [
                self.numeric(nick, "314", user.nick, user.username, user.host, "*", user.realname)
                for user in users
            ]
        lines.append(self.numeric(nick, "369", asked, "End of WHOWAS"))
        return b"".join(lines)

    def _help(self, nick: str, subject: str) -> bytes:
        if not subject:
            subject, text = "index", _HELP_INDEX
        elif (found := _COMMAND_HELP.get(subject.upper())) is not None:
            text = found
        else:
            return self.numeric(nick, "524", subject, "No help available on this topic")
        lines = [self.numeric(nick, "704", subject, text[0])]
        lines += [self.numeric(nick, "705", subject, line) for line in text[1:]]
        lines.append(self.numeric(nick, "706", subject, "End of /HELP"))
        return b"".join(lines)

    # -- errors ------------------------------------------------------------------------------------

    def _error(self, error: Error, nick: str) -> bytes:
        kind = error.kind
        if kind is ErrorKind.ALREADY_IN_ROOM:
            return b""  # joining a channel one is in: IRC clients expect nothing
        if kind is ErrorKind.INVALID_UTF8:
            return self.server_line("FAIL", "*", "INVALID_UTF8", "Message rejected: it is not valid UTF-8")
        if kind is ErrorKind.SERVER_FULL or kind is ErrorKind.TLS_REQUIRED:
            return self.refusal(kind)
        if kind is ErrorKind.TOPIC_TOO_LONG:
            return self.server_line(
                "FAIL", "TOPIC", "TOO_LONG", f"Topic too long (max {error.detail} characters)"
            )
        if kind is ErrorKind.INVALID_REALNAME:
            text = f"Realname is not valid (1 to {error.detail} characters)"
            return self.server_line("FAIL", "SETNAME", "INVALID_REALNAME", text)
        if kind is ErrorKind.INVALID_MODE_ARGUMENT:
            letter = MODE_LETTERS[RoomMode[error.detail]]
            return self.numeric(nick, "696", error.room, letter, "*", "Invalid mode parameter")
        code, params, text = _NUMERIC_ERRORS[kind]
        shown = tuple(param.format(d=error.detail, r=error.room) for param in params)
        lines = self.numeric(nick, code, *shown, text)
        if kind is ErrorKind.TOO_MANY_OPER_FAILURES:
            lines += self.error_line("Closing link: too many failed OPER attempts")
        return lines

    @staticmethod
    def _quit_reason(reply: Disconnected) -> str:
        match reply.reason:
            case LeaveReason.LEFT:
                return f"Quit: {reply.text}" if reply.text else "Client Quit"
            case LeaveReason.KILLED:
                return f"Killed ({reply.killer} ({reply.text}))" if reply.text else f"Killed ({reply.killer})"
            case _:
                return _LEAVE_TEXT[reply.reason]


_TAG_ESCAPES = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})


def _escape_tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def _userhost(user: UserDetails) -> str:
    """``nick*=+user@host``: ``*`` for an operator, ``-`` (away) or ``+`` (here)."""
    return f"{user.nick}{'*' if user.operator else ''}={'-' if user.away else '+'}{user.username}@{user.host}"


class IRCRenderers:
    """One renderer per set of capabilities that matters to rendering, made when first needed."""

    __slots__ = ("_info", "_renderers")

    def __init__(self, info: IRCServerInfo) -> None:
        self._info = info
        self._renderers: dict[frozenset[Cap], IRCRenderer] = {}

    def get(self, caps: frozenset[Cap]) -> IRCRenderer:
        key = caps - _NOT_RENDERED
        renderer = self._renderers.get(key)
        if renderer is None:
            renderer = self._renderers[key] = IRCRenderer(self._info, key)
        return renderer

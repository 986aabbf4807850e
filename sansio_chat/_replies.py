"""What the server tells clients, independent of how a dialect renders it.

A reply is addressed to an audience by the chat (see ``_fanout.py``) and
rendered once per renderer present among its recipients.  Several replies
exist so that each kind of client can be told the same event in its own
way: the joiner of a room gets ``EnteredRoom`` and the others ``JoinedRoom``
(a text client reads two different lines, an IRC client the same ``JOIN``).
A renderer may render a reply as ``b""``: nothing for that kind of client
(the echo of its own words, for a text client, which never sees them again).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from ._modes import Ban, ModeChange


class LeaveReason(enum.Enum):
    """Why a user left; the dialect turns it into the notice others see."""

    LEFT = "left"  # QUIT, EOF or reset
    KILLED = "killed"
    OPER_FAILURES = "too many failed OPER attempts"
    TOO_SLOW = "too slow"
    SERVER_DOWN = "server down"  # its server (of a cluster) stopped or died
    TIMED_OUT = "timed out"  # silent, and did not answer the server's PING
    PROTOCOL_ERROR = "protocol error"  # its transport closed it for what it sent (a WebSocket's 1002...)


class ErrorKind(enum.Enum):
    LINE_TOO_LONG = "line too long"
    INVALID_UTF8 = "invalid UTF-8"
    CONTROL_CHARACTER = "control character"
    USAGE = "usage"
    INVALID_COMMAND = "invalid command"
    INVALID_NICK = "invalid nickname"
    NICK_IN_USE = "nickname in use"
    PERMISSION_DENIED = "permission denied"
    NO_SUCH_NICK = "no such nickname"
    KILL_SELF = "kill self"
    WRONG_PASSWORD = "wrong password"
    TOO_MANY_OPER_FAILURES = "too many failed OPER attempts"
    SERVER_FULL = "server full"
    TLS_REQUIRED = "TLS required"  # plain text on a TLS port: told before the close
    INVALID_ROOM = "invalid room name"
    NO_SUCH_ROOM = "no such room"
    ALREADY_IN_ROOM = "already in the room"
    NOT_IN_A_ROOM = "not in a room"
    ROOM_OPERATORS_ONLY = "room operators only"
    TOPIC_TOO_LONG = "topic too long"
    NOT_IN_ROOM = "user not in the room"
    CLUSTER_UNAVAILABLE = "cluster unavailable"  # a nickname change needs the other servers
    # A message its (message-framed) dialect cannot read: not in the format, a field missing or wrong.
    MALFORMED = "malformed message"
    MISSING_FIELD = "missing field"
    INVALID_FIELD = "invalid field"
    # Added with the IRC dialect; ``detail`` and ``room`` say what each is about.
    NOT_A_MEMBER = "you are not in the room"  # room: the room
    ALREADY_MEMBER = "user already in the room"  # detail: the nickname, room: the room
    INVITE_ONLY = "invite only"  # room
    NEEDS_KEY = "key needed"  # room
    ROOM_FULL = "room full"  # room
    BANNED = "banned"  # room
    TOO_MANY_ROOMS = "too many rooms"  # room: the one refused, detail: the limit
    CANNOT_SPEAK_MODERATED = "moderated"  # room
    CANNOT_SPEAK_BANNED = "banned from speaking"  # room
    CANNOT_SPEAK_OUTSIDE = "not a member"  # room
    INVALID_MODE_ARGUMENT = "invalid mode argument"  # detail: the mode's letter-free name, room
    BAN_LIST_FULL = "ban list full"  # room, detail: the limit
    NOT_YOUR_MODES = "another user's modes"  # detail: the nickname
    NO_TEXT = "no text to send"
    INVALID_REALNAME = "invalid real name"  # empty or too long; detail: the limit


#: A user's identifier, stable for as long as it is connected (its connection id on this server).
UserId = int


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who a user is, as others see it at one moment: what a fact or a reply names a user by.

    ``uid`` is what the chat finds the user by (a nickname may change);
    the rest is for showing it: ``mask`` is ``nick!username@host`` (its
    host a cloak, never an address).  A user keeps its current identity and
    makes a new one when its nickname changes, so that the words it says
    all carry the same object.  ``line_sized``: the user's client sizes a
    message for one IRC line, so words of its that are too long to relay
    are shortened rather than split (see ``UserInfo``).  ``bot``: the user
    says it is a bot (IRC's ``bot`` message tag marks its words).
    """

    uid: UserId
    nick: str
    mask: str = ""
    line_sized: bool = False
    bot: bool = False


class Speech(enum.Enum):
    """What kind of words a message is; only IRC tells most of them apart."""

    WORDS = "words"  # MSG, TELL, IRC's PRIVMSG
    ACTION = "action"  # ME, IRC's CTCP ACTION: "* nick text"
    NOTICE = "notice"  # IRC's NOTICE: never answered automatically; others show it as words
    CTCP = "ctcp"  # another CTCP request (the text is the raw \x01...\x01): for IRC clients only
    CTCP_REPLY = "ctcp reply"  # a CTCP reply, in a NOTICE: for IRC clients only
    TAGS = "tags"  # IRC's TAGMSG: tags and no text, for clients that read tags only


#: Speech the dialects without CTCP nor tags leave out entirely.
IRC_ONLY_SPEECH = frozenset({Speech.CTCP, Speech.CTCP_REPLY, Speech.TAGS})


class Rank(enum.Enum):
    """A member's standing in a room, for words meant for those of at least that rank.

    IRC names them by their prefixes (``@#room``, ``+#room``: ``STATUSMSG``);
    the rule, who of the members gets such words, is the chat's, the same
    for every dialect and every server of a cluster.
    """

    VOICED = "voiced"  # voiced members and operators
    OPERATOR = "operator"  # operators only


@dataclass(frozen=True, slots=True, kw_only=True)
class Said:
    """A user's words to a room.

    Also the fact of saying them (``Chat.apply``): the hot path makes this
    one object per message, so it names the sender by its identity and
    the room by its name (whose key is its case folding).  ``msgid`` is the
    message's id, the same for everyone (IRC's ``msgid`` tag); ``tags`` are
    the sender's client-only tags (IRC's ``+key=value``), for clients that
    read them.  ``to_rank``: words for the members of at least that rank
    only (IRC's ``PRIVMSG @#room``); None, the usual case, for every member.
    """

    source: Identity
    room: str
    text: str
    kind: Speech = Speech.WORDS
    msgid: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    to_rank: Rank | None = None

    @property
    def nick(self) -> str:
        """The sender's nickname when it spoke."""
        return self.source.nick

    @property
    def action(self) -> bool:
        return self.kind is Speech.ACTION


@dataclass(frozen=True, slots=True, kw_only=True)
class Told:
    """A private message from ``source`` to ``recipient`` (a nickname); the rest as in ``Said``."""

    source: Identity
    recipient: str
    text: str
    kind: Speech = Speech.WORDS
    msgid: str = ""
    tags: tuple[tuple[str, str], ...] = ()

    @property
    def sender(self) -> str:
        return self.source.nick

    @property
    def action(self) -> bool:
        return self.kind is Speech.ACTION


@dataclass(frozen=True, slots=True, kw_only=True)
class Welcome:
    """To a user who just connected: its nickname, and the room it lands in."""

    nick: str
    room: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Connected:
    """A user who just connected landed in ``room`` (``#lobby``)."""

    nick: str
    room: str
    mask: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LastWords:
    """The text of a ``QUIT``, to those who share a room with the quitter, before it leaves."""

    nick: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Disconnected:
    """A user left the chat; ``text`` is its ``QUIT`` text, if any (already told as ``LastWords``)."""

    nick: str
    reason: LeaveReason
    killer: str = ""
    text: str = ""
    mask: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class NickChanged:
    old: str
    new: str
    mask: str = ""  # the old one


@dataclass(frozen=True, slots=True, kw_only=True)
class NickSet:
    """To the user who changed nickname (``old`` equal to ``nick``: it asked for the one it had)."""

    nick: str
    old: str = ""
    mask: str = ""  # the old one


@dataclass(frozen=True, slots=True, kw_only=True)
class EnteredRoom:
    """To a user who joined ``room``; the room's topic comes with it for dialects that show it first."""

    nick: str
    room: str
    mask: str = ""
    topic: str = ""
    topic_by: str = ""
    topic_at: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinedRoom:
    """To the other members: ``nick`` joined ``room`` (``away``: its away message, if it is away)."""

    nick: str
    room: str
    mask: str = ""
    away: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LeftRoom:
    """To the members of ``room``: ``nick`` left it (with ``PART``, to itself too)."""

    nick: str
    room: str
    mask: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserList:
    """The members of ``room`` in join order; ``named``: the room was named (``WHO <room>``, ``JOIN``).

    ``operators``, ``voiced`` and ``bots`` are nicknames among ``nicks``;
    ``masks`` are the members' masks in the same order (for dialects that
    show them); ``secret``: the room is secret.  An empty list with ``named`` is a room
    the asker cannot see (IRC answers ``NAMES`` with an empty list).
    """

    room: str
    nicks: tuple[str, ...]
    operators: frozenset[str] = frozenset()
    named: bool = False
    voiced: frozenset[str] = frozenset()
    masks: tuple[str, ...] = ()
    secret: bool = False
    bots: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomList:
    """Every room with its number of members, ``#lobby`` first, then in order of creation.

    ``topics`` are the rooms' topics in the same order (for dialects that
    show them).
    """

    rooms: tuple[tuple[str, int], ...]
    topics: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicIs:
    """The topic of ``room`` (empty: it has none), who set it and when.

    ``joined``: told to a user who just joined, after its ``EnteredRoom``
    (a dialect that showed the topic with that has nothing more to show).
    """

    room: str
    topic: str
    by: str = ""
    at: float = 0.0
    joined: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicSet:
    """``nick`` set the topic of ``room`` (empty: cleared it); ``unchanged``: to the one it had."""

    nick: str
    room: str
    topic: str
    mask: str = ""
    unchanged: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Kicked:
    """To the members of ``room``: ``victim`` was put out by ``kicker``."""

    room: str
    victim: str
    kicker: str
    reason: str = ""
    mask: str = ""  # the kicker's


@dataclass(frozen=True, slots=True, kw_only=True)
class KickedYou:
    """To the victim of a kick."""

    room: str
    victim: str
    kicker: str
    reason: str = ""
    mask: str = ""  # the kicker's


@dataclass(frozen=True, slots=True, kw_only=True)
class Goodbye:
    nick: str
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class KilledBy:
    """To the victim of a ``KILL``, with the killer's last words (``text``, maybe empty)."""

    killer: str
    text: str = ""
    mask: str = ""  # the killer's


@dataclass(frozen=True, slots=True, kw_only=True)
class OperGranted:
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Pong:
    token: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HelpText:
    subject: str = ""  # what help was asked about ("" for the list of commands)


@dataclass(frozen=True, slots=True, kw_only=True)
class ShuttingDown:
    pass


class ClusterNews(enum.Enum):
    """What a cluster's server tells its own users about its contact with the others."""

    LOST_CONTACT = "lost contact"  # only users of this server can hear them now
    RESTORED = "restored"  # everyone can hear them again
    MAY_HAVE_LOST = "may have lost"  # the link broke a moment: some messages may be lost
    NICK_TAKEN = "nick taken"  # ``detail``: its nickname, taken meanwhile by someone else


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterNotice:
    """A server of a cluster tells its users what happened to its link with the others."""

    news: ClusterNews
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Error:
    """``detail`` is what the error is about (a nickname, a word, a limit); ``room``, the room named."""

    kind: ErrorKind
    detail: str = ""
    room: str = ""


# -- added with the IRC dialect ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ModesChanged:
    """To the members of ``room``: ``nick`` changed its modes (only changes that changed something)."""

    nick: str
    room: str
    changes: tuple[ModeChange, ...]
    mask: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RoomModesAre:
    """The modes ``room`` has (``modes``: each as set, with its argument) and when it was created."""

    room: str
    modes: tuple[ModeChange, ...]
    created: float


@dataclass(frozen=True, slots=True, kw_only=True)
class BanList:
    room: str
    bans: tuple[Ban, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Invitation:
    """To ``invitee``: ``nick`` invites it to ``room``."""

    nick: str
    invitee: str
    room: str
    mask: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class InviteSent:
    """To the inviter: ``invitee`` was invited to ``room``."""

    invitee: str
    room: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AwaySet:
    """To a user who set (``away``) or cleared its away message: its ``nick`` and ``message`` too."""

    away: bool
    nick: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AwayNotice:
    """To those who share a room with ``nick``: it went away (``message``) or came back (``""``)."""

    nick: str
    message: str
    mask: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class IsAway:
    """To a user who wrote to ``nick`` (or asked about it): it is away, with ``message``."""

    nick: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserDetails:
    """What is shown of one user in answers to WHO, WHOIS, WHOWAS and USERHOST.

    ``idle`` is seconds since it last spoke and ``signon`` when it came
    (wall clock); ``room``, ``op`` and ``voiced`` are for a listing about one
    room (WHO of a room; "" for none).
    """

    nick: str
    username: str
    host: str
    realname: str
    away: str = ""
    operator: bool = False
    room: str = ""
    op: bool = False
    voiced: bool = False
    idle: int = 0
    signon: float = 0.0
    secure: bool = False  # connected over TLS
    bot: bool = False  # it says it is a bot


@dataclass(frozen=True, slots=True, kw_only=True)
class WhoList:
    """The users matching ``mask`` (as asked) that the asker may see.

    ``fields`` and ``token`` are what a WHOX query asked for (``fields`` ""
    for a plain WHO).
    """

    mask: str
    users: tuple[UserDetails, ...]
    fields: str = ""
    token: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WhoisReply:
    """What is known of ``nick`` (as asked): ``user`` None when nobody has it.

    ``rooms`` are those the asker may see, each with its prefix (``@``, ``+``, "").
    """

    nick: str
    user: UserDetails | None
    rooms: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class WhowasReply:
    """The users who had ``nick`` (as asked) and left it, newest first."""

    nick: str
    users: tuple[UserDetails, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UserhostReply:
    users: tuple[UserDetails, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class IsonReply:
    nicks: tuple[str, ...]  # those present, in their owners' spelling


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerStats:
    """Counts of users (``invisible`` among them), operators, connections not registered yet, rooms."""

    users: int
    invisible: int
    operators: int
    unregistered: int
    rooms: int
    most_users: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UserModesAre:
    invisible: bool
    operator: bool
    announcements: bool
    bot: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class UserModesChanged:
    """To the user itself: its own modes changed (each the new value, or None: unchanged)."""

    nick: str
    invisible: bool | None = None
    operator: bool | None = None
    announcements: bool | None = None
    bot: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RealnameChanged:
    """``nick`` (``mask``) changed its real name to ``realname``: to itself and those who share a room."""

    nick: str
    realname: str
    mask: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Announcement:
    """A server operator's announcement (IRC's WALLOPS), to a user who asked to hear them."""

    source: Identity
    text: str


Reply = (
    Said
    | Told
    | Welcome
    | Connected
    | LastWords
    | Disconnected
    | NickChanged
    | NickSet
    | EnteredRoom
    | JoinedRoom
    | LeftRoom
    | UserList
    | RoomList
    | TopicIs
    | TopicSet
    | Kicked
    | KickedYou
    | Goodbye
    | KilledBy
    | OperGranted
    | Pong
    | HelpText
    | ShuttingDown
    | ClusterNotice
    | Error
    | ModesChanged
    | RoomModesAre
    | BanList
    | Invitation
    | InviteSent
    | AwaySet
    | AwayNotice
    | IsAway
    | WhoList
    | WhoisReply
    | WhowasReply
    | UserhostReply
    | IsonReply
    | ServerStats
    | UserModesAre
    | UserModesChanged
    | RealnameChanged
    | Announcement
)


class Renderer(Protocol):
    """How one kind of client reads replies: a dialect, or a dialect with some capabilities.

    A delivery is rendered once per renderer present among its recipients
    and the bytes are shared, so clients are grouped by renderer object.
    """

    def render(self, reply: Reply) -> bytes:
        """The bytes to send for ``reply``, terminators included; ``b""`` for nothing."""
        ...

    def render_echo(self, reply: Said | Told) -> bytes:
        """The sender's own copy of what it said or told; ``b""`` for a client that does not want it."""
        ...

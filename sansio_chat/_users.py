"""A chat user: nickname, rooms, operator status, away state, and where it is connected."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._nicknames import nick_key
from ._replies import Identity, UserId

#: Characters of a real name (IRC's ``USER`` and ``SETNAME``), at most.
MAX_REALNAME_CHARS = 150
#: Characters of an away message, at most (longer ones are cut; IRC's ISUPPORT ``AWAYLEN``).
MAX_AWAY_CHARS = 300

if TYPE_CHECKING:
    from ._rooms import Room
    from ._session import Session


@dataclass(frozen=True, slots=True, kw_only=True)
class UserInfo:
    """What a user says about itself besides its nickname, as others may see it.

    ``host`` is never its address: a fixed cloak per kind of client, so that
    no user learns another's IP.  ``line_sized``: its client sizes each
    message for one IRC line (an IRC client), so a message it sends that
    becomes too long to relay is shortened rather than split.  ``secure``:
    it is connected over TLS (IRC's WHOIS says so).
    """

    username: str
    realname: str
    host: str
    line_sized: bool = False
    secure: bool = False


class User:
    """One user of the chat.

    The chat rules never look at ``session``, the connection it uses on
    this server: only the fan-out does, to deliver to it.  A user of another
    server of a cluster has none (and is reached through that server), as
    has a user of this server whose connection ended while its departure
    crosses the cluster.  ``nick`` is empty until its first nickname is
    granted.  ``rooms`` are in the order joined.  ``announcements``: it asked
    to hear what server operators announce to all who want it.  ``bot``: it
    says it is a program (IRC's user mode ``B``), which others are shown
    with its words and in lists.  ``away`` is its away
    message ("" when it is here); ``signon`` and ``active`` are wall-clock
    seconds (when it registered, when it last spoke).
    """

    __slots__ = (
        "_bot",
        "_identity",
        "active",
        "announcements",
        "away",
        "info",
        "invisible",
        "is_operator",
        "nick",
        "rooms",
        "session",
        "signon",
        "uid",
    )

    def __init__(self, uid: UserId, session: Session | None, info: UserInfo) -> None:
        self.uid = uid  # what facts name it by: stable while it is connected, never reused
        self.session = session
        self.info = info
        self.nick = ""
        self.rooms: tuple[Room, ...] = ()
        self.is_operator = False
        self.invisible = False
        self.announcements = False  # it hears server operators' announcements (IRC's user mode w)
        self._bot = False
        self.away = ""
        self.signon = self.active = 0.0
        self._identity: Identity | None = None  # made when first needed: an idle user has none

    @property
    def key(self) -> str:
        """The nickname as compared for uniqueness (computed: an idle user stays small)."""
        return nick_key(self.nick)

    @property
    def room(self) -> Room | None:
        """The room joined last, which text commands act in (a text user is in one room at most)."""
        rooms = self.rooms
        return rooms[-1] if rooms else None

    @property
    def mask(self) -> str:
        """``nick!username@host``, what ban masks are matched against."""
        info = self.info
        return f"{self.nick}!{info.username}@{info.host}"

    @property
    def bot(self) -> bool:
        """Whether it says it is a bot (its words carry the mark)."""
        return self._bot

    @bot.setter
    def bot(self, value: bool) -> None:
        if value is not self._bot:
            self._bot = value
            self._identity = None  # its words show the change from now on

    @property
    def identity(self) -> Identity:
        """Who it is as others see it now; the same object until its nickname or details change."""
        identity = self._identity
        if identity is None or identity.nick is not self.nick:
            info = self.info
            identity = self._identity = Identity(
                uid=self.uid, nick=self.nick, mask=self.mask, line_sized=info.line_sized, bot=self._bot
            )
        return identity

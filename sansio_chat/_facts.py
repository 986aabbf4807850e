"""Facts: every change of the chat's state, decided once and applied in one place.

A command is first *decided*: checked against the current state, with any
error going back to the asker at once.  What it changes is then a frozen
fact, and ``Chat.apply`` is the one place that changes the state for it and
addresses the deliveries.  Today a fact is applied as soon as it is
decided; a cluster of servers will route facts through a shared log first
and apply each on every server, in one global order.  So facts name users
by a ``UserId`` and rooms by their key (never by Python object), carry
every value a server needs to apply them the same way (texts, times, ids),
and ``apply`` tolerates a fact that became stale meanwhile (the kick of a
user who already left does nothing).  A user the fact acts on is named by
its id and must still be there; a user who only did it (a kicker, a
killer, a speaker) is named by its ``Identity``, which is all that is shown
of it, so what it did still happens if it has left meanwhile.

Words to a room, the hot path, are one object: the ``Said`` reply is also
the fact of saying them.  Replies inside a fact (``Whispered.told``) are the
words as decided: the sender's identity and nickname at that moment.
Times are wall-clock seconds, decided with the fact.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._modes import ModeChange
from ._replies import Identity, LeaveReason, Said, Told, UserId
from ._users import UserInfo


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered:
    """``user`` got its first nickname and entered the chat (``lobby``: in ``#lobby``, as text clients do)."""

    user: UserId
    nick: str
    info: UserInfo
    lobby: bool
    at: float
    peer: str  # for the operator's log only


@dataclass(frozen=True, slots=True, kw_only=True)
class Renamed:
    """``user`` holds the nickname ``new`` (its key already claimed); may equal the old one."""

    user: UserId
    new: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Whispered:
    """``told.source`` told ``recipient`` something privately."""

    recipient: UserId
    told: Told


@dataclass(frozen=True, slots=True, kw_only=True)
class Joined:
    """``user`` entered the room ``name`` (created at ``at``, with it as operator, if none has the key).

    ``leaving``: the keys of rooms it leaves first, in the same step (a text
    client is in one room at most).
    """

    user: UserId
    name: str
    at: float
    leaving: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Parted:
    """``user`` left the room ``room`` (a key) of its own will."""

    user: UserId
    room: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TopicChanged:
    """``user`` set the topic of ``room`` to ``topic`` ("" clears it) at ``at``."""

    user: Identity
    room: str
    topic: str
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Kicked:
    """``kicker`` put ``victim`` out of the room ``room``."""

    kicker: Identity
    room: str
    victim: UserId
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ModesChanged:
    """``user`` changed modes of ``room``, in order (those that change nothing then are left out)."""

    user: Identity
    room: str
    changes: tuple[ModeChange, ...]
    at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Invited:
    """``user`` invited ``invitee`` to ``room``."""

    user: Identity
    room: str
    invitee: UserId


@dataclass(frozen=True, slots=True, kw_only=True)
class AwayChanged:
    """``user`` went away with ``message``, or came back (``""``)."""

    user: UserId
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UserModesChanged:
    """``user`` changed its own modes: ``invisible``, ``announcements``, ``bot``, or gave up ``operator``.

    None: unchanged.
    """

    user: UserId
    invisible: bool | None = None
    operator: bool | None = None
    announcements: bool | None = None
    bot: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RealnameChanged:
    """``user`` changed its real name (part of its ``UserInfo``) to ``realname``, already checked."""

    user: UserId
    realname: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Announced:
    """``source`` (a server operator) announced ``text`` to every user who hears announcements.

    Shared with every server: each tells its own users who asked for them.
    """

    source: Identity
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BecameOperator:
    """``user`` is a server operator from now on (``account``: the named account, if any)."""

    user: UserId
    account: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Quitted:
    """``user`` left by its own ``QUIT``, with ``text`` as last words (maybe empty)."""

    user: UserId
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Killed:
    """``killer`` (a server operator) disconnected ``victim``."""

    killer: Identity
    victim: UserId
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Dropped:
    """``user``'s connection ended without a ``QUIT`` (EOF, reset, too slow, timed out, failed ``OPER``).

    ``close``: the chat closes it (the server already closes it for an
    ended or failed connection).
    """

    user: UserId
    reason: LeaveReason
    close: bool = False


Fact = (
    Registered
    | Renamed
    | Said
    | Whispered
    | Joined
    | Parted
    | TopicChanged
    | Kicked
    | ModesChanged
    | Invited
    | AwayChanged
    | UserModesChanged
    | RealnameChanged
    | Announced
    | BecameOperator
    | Quitted
    | Killed
    | Dropped
)

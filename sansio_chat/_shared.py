"""The cluster's vocabulary: what a server of a cluster shares, and how the others answer.

A cluster is several servers acting as one chat.  Each decides its own
users' commands and, instead of applying the resulting fact at once, hands
it to the cluster (``Share``); the cluster orders every shared fact and
delivers it back to every server concerned, its origin included
(``FactsArrived``), so that all apply the same facts in the same order.
How the cluster does it (Redis, in ``adapters/cluster/``) is none of the
core's business: these are plain actions and events, like ``Send`` and
``DataReceived``.

Users are named across servers by a ``UserId`` that holds the number of
their server in its high bits (``node_of``): ids never collide, and facts
cross servers unchanged.  A server of a cluster knows every user of the
chat, its own (with a session) and the others' (without one).

Besides chat facts, servers share two things of their own to agree on who
is there after a link broke: ``Hello`` (a server is back and asks everyone
for their users) and ``Present`` (a server's own users, as they are when it
hears the ``Hello``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ._facts import Fact
from ._modes import NEW_ROOM_FLAGS, Ban, RoomFlag
from ._replies import UserId
from ._users import UserInfo

#: A user id's low bits: the connection's id on its server; the high bits: the server's number.
NODE_SHIFT = 32
#: Server numbers are 1 to this (0 is a server that is not in a cluster).
MAX_NODE = (1 << 31) - 1


def node_of(uid: UserId) -> int:
    """The number of the server a user is connected to."""
    return uid >> NODE_SHIFT


# -- what servers share besides chat facts ------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """Server ``node`` (re)joined the cluster: every server answers with its ``Present``.

    ``round`` numbers the server's hellos, so that answers name the one they answer.
    """

    node: int
    round: int


#: What a server says of a user when it knows nothing more (tests build presences by hand).
UNKNOWN_INFO = UserInfo(username="", realname="", host="")


@dataclass(frozen=True, slots=True, kw_only=True)
class PresentUser:
    """One user as its server has it: ``rooms`` in join order, each with room-operator status.

    ``voiced``: the rooms (of ``rooms``) where it may speak when moderated.
    """

    uid: UserId
    nick: str
    operator: bool
    rooms: tuple[tuple[str, bool], ...]
    info: UserInfo = UNKNOWN_INFO
    away: str = ""
    invisible: bool = False
    voiced: tuple[str, ...] = ()
    signon: float = 0.0
    announcements: bool = False
    bot: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PresentRoom:
    """A room as the server that lists its users has it: what a server that did not know it starts from."""

    name: str
    created: float = 0.0
    topic: str = ""
    topic_by: str = ""
    topic_at: float = 0.0
    flags: RoomFlag = NEW_ROOM_FLAGS
    passkey: str = ""
    limit: int = 0
    bans: tuple[Ban, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Present:
    """Server ``node``'s users, as they were when it heard ``Hello(node=to, round=round)``.

    ``rooms``: the rooms its users are in, with their settings.
    """

    node: int
    to: int
    round: int
    users: tuple[PresentUser, ...]
    rooms: tuple[PresentRoom, ...] = ()


#: Everything a server shares with the others.
Shared = Fact | Hello | Present


# -- events: what the cluster tells the core ----------------------------------------


class ClusterStatus(enum.Enum):
    """The server's link with the others, as the cluster reports it."""

    INTERRUPTED = "interrupted"  # it broke a moment ago; messages in flight may be lost
    DOWN = "down"  # it stayed broken: this server serves its own users alone
    JOINING = "joining"  # it is back (or up for the first time): this server rejoins


class ShareRefusal(enum.Enum):
    """Why a shared fact did not happen (or may not have)."""

    TAKEN = "taken"  # the nickname it takes belongs to someone else
    NO_SUCH = "no such"  # the nickname it acts on belongs to nobody
    NOT_SENT = "not sent"  # the cluster could not take it: it happened nowhere
    MAYBE_SENT = "maybe sent"  # the link broke while it was on its way: it may have happened


@dataclass(frozen=True, slots=True, kw_only=True)
class FactsArrived:
    """Shared items came back from the cluster, in its order; ``ticket`` is 0 but for this server's own."""

    arrivals: tuple[tuple[Shared, int], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ShareFailed:
    """The share with ``ticket`` did not go through, for ``why``."""

    ticket: int
    why: ShareRefusal


@dataclass(frozen=True, slots=True, kw_only=True)
class GuestsLeased:
    """Guest numbers ``first`` to ``last`` are this server's to hand out."""

    first: int
    last: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterChanged:
    """The link with the other servers changed (see ``ClusterStatus``)."""

    status: ClusterStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class BurstAnswered:
    """The cluster took the nicknames of this server's users (``Burst``) but those of ``refused``."""

    refused: tuple[UserId, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeDown:
    """Another server stopped or died; the nicknames its users held (by key) are free again."""

    keys: tuple[str, ...]


ClusterEvent = FactsArrived | ShareFailed | GuestsLeased | ClusterChanged | BurstAnswered | NodeDown


# -- actions: what the core asks of the cluster ---------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Share:
    """Have the cluster order ``item`` and deliver it to every server concerned, this one too.

    Where it goes: to the servers following ``room`` (a room key) if set,
    else to the servers of ``users`` if any, else to every server.  With the
    same step, the nickname directory changes for ``owner`` (a user of this
    server): it takes ``take`` (its old key ``free`` goes with it), or lets
    go of ``free`` alone; or ``evict``: whoever holds that key leaves.  ``follow``: a room whose
    messages this server must be following before the item goes out (a
    join: nothing said after it may be missed).  It comes back as a
    ``FactsArrived`` arrival with ``ticket``, or as ``ShareFailed``.
    """

    ticket: int
    item: Shared
    room: str = ""
    users: tuple[UserId, ...] = ()
    owner: UserId = 0
    take: str = ""
    free: str = ""
    evict: str = ""
    follow: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowRoom:
    """This server has users in room ``room`` (a key), or one joining it: deliver its messages here."""

    room: str


@dataclass(frozen=True, slots=True, kw_only=True)
class UnfollowRoom:
    """This server has nobody left in room ``room``: its messages need not come here."""

    room: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaseGuests:
    """Lease ``count`` guest numbers for this server (answered by ``GuestsLeased``)."""

    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Burst:
    """This server's users, (id, nickname key, nickname) each: make the directory hold exactly them.

    Answered by ``BurstAnswered``, naming those whose nickname someone
    else took while this server was cut off.
    """

    users: tuple[tuple[UserId, str, str], ...]


ClusterAction = Share | FollowRoom | UnfollowRoom | LeaseGuests | Burst

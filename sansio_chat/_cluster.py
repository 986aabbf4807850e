"""A server's seat in a cluster: its link status, shares in flight, guest numbers, rooms followed.

The chat (``_chat.py``) decides what its users ask, ``_state_changes.py``
applies facts, and ``_cluster_sync.py`` shares them and acts on the link;
the seat keeps what belongs to being one server among several:

* the link with the others (``Link``): while it is ``OFFLINE`` the chat
  applies its users' facts at once, as a lone server does; while it is
  ``JOINING`` or ``LINKED`` it shares them and applies them when they come
  back;
* ticket numbers for shares;
* the guest numbers leased to this server, and a local count for when no
  lease is at hand (a claim catches a number in use anyway);
* how many reasons this server has to follow each room's messages (local
  members, joins on their way), so that ``FollowRoom`` and ``UnfollowRoom``
  go out exactly at the first and the last;
* rounds: after a ``Hello``, the facts that arrived since, kept a moment
  so that they can be applied again over a ``Present`` that predates them.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ._actions import Action
from ._facts import Fact
from ._replies import UserId
from ._shared import MAX_NODE, FollowRoom, LeaseGuests, UnfollowRoom

#: Guest numbers leased at a time, and the stock under which the next lease is asked for.
GUEST_LEASE = 64
GUEST_LOW_WATER = 16
#: How long after a ``Hello`` its answers are awaited, and the facts since kept to replay.
ROUND_SECONDS = 2.0
#: Facts kept per round at most (a round is seconds long; this is a bound, not a budget).
ROUND_FACTS = 100_000


class Link(enum.Enum):
    """This server's link with the others, as the chat acts on it."""

    OFFLINE = "offline"  # not linked (yet, or any more): facts apply here at once
    JOINING = "joining"  # linked again: facts are shared, its Hello is on its way
    LINKED = "linked"  # its Hello came back: it is one of the cluster


@dataclass(slots=True)
class Round:
    """What followed a ``Hello``: the facts since, who answered, who was born since."""

    node: int
    number: int
    ends_at: float
    facts: list[Fact] = field(default_factory=list)
    answered: set[int] = field(default_factory=set)  # servers whose Present came
    born: set[UserId] = field(default_factory=set)  # users registered after the Hello


class ClusterSeat:
    """This server's place in a cluster (see the module's docstring)."""

    def __init__(self, node: int, emit: Callable[[Action], None]) -> None:
        if not 1 <= node <= MAX_NODE:
            raise ValueError(f"a server's number must be from 1 to {MAX_NODE}")
        self.node = node
        self.link = Link.OFFLINE
        self.down = False  # users were told that only this server hears them
        self.missed = False  # the link broke since it was last linked: messages may be lost
        self.hellos = 0  # this server's Hello rounds so far
        self.rounds: dict[tuple[int, int], Round] = {}
        self.emit = emit
        self._tickets = 0
        self._guests: deque[int] = deque()  # leased numbers not handed out yet
        self._local_guests = 0  # numbers handed out without a lease
        self._leasing = False
        self._following: dict[str, int] = {}

    @property
    def sharing(self) -> bool:
        """Whether facts go through the cluster (else they apply here at once)."""
        return self.link is not Link.OFFLINE

    def ticket(self) -> int:
        self._tickets += 1
        return self._tickets

    # -- guest numbers ----------------------------------------------------------------

    def next_guest(self) -> int:
        """A guest number for a newcomer: leased if any is at hand, else a local count."""
        guests = self._guests
        if len(guests) < GUEST_LOW_WATER:
            self.lease()
        if guests:
            return guests.popleft()
        self._local_guests += 1
        return self._local_guests

    def lease(self) -> None:
        """Ask for guest numbers, unless the stock is fine or a lease is on its way (or nobody hears)."""
        if self.sharing and not self._leasing and len(self._guests) < GUEST_LOW_WATER:
            self._leasing = True
            self.emit(LeaseGuests(count=GUEST_LEASE))

    def leased(self, first: int, last: int) -> None:
        self._leasing = False
        self._guests.extend(range(first, last + 1))

    def relinked(self, link: Link) -> None:
        """The link changed: a lease on its way is lost with an old link."""
        self.link = link
        self._leasing = False

    # -- rooms followed -----------------------------------------------------------------

    def follow(self, room: str) -> None:
        """One more reason to follow ``room`` (a local member, or a join on its way)."""
        count = self._following.get(room, 0)
        self._following[room] = count + 1
        if not count:
            self.emit(FollowRoom(room=room))

    def unfollow(self, room: str) -> None:
        """One reason fewer; at the last, the room's messages need not come here."""
        count = self._following[room] - 1
        if count:
            self._following[room] = count
        else:
            del self._following[room]
            self.emit(UnfollowRoom(room=room))

    # -- rounds -------------------------------------------------------------------------

    def start_round(self, node: int, number: int, now: float) -> None:
        self.rounds[node, number] = Round(node=node, number=number, ends_at=now + ROUND_SECONDS)

    def keep(self, fact: Fact, born: UserId | None) -> None:
        """A fact arrived: keep it for every round still open (``born``: the user it registers)."""
        for open_round in self.rounds.values():
            if len(open_round.facts) < ROUND_FACTS:
                open_round.facts.append(fact)
            if born is not None:
                open_round.born.add(born)

    @property
    def next_round_end(self) -> float | None:
        return min((open_round.ends_at for open_round in self.rounds.values()), default=None)

    def ended_rounds(self, now: float) -> list[Round]:
        """The rounds whose time is over, taken out."""
        ended = [key for key, open_round in self.rounds.items() if open_round.ends_at <= now]
        return [self.rounds.pop(key) for key in ended]

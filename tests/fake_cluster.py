"""Several chat cores and a fake broker between them: a cluster in memory.

``FakeCluster`` plays what Redis and the bridge do for the cores (see
``adapters/cluster/``), at the level of the core's vocabulary: it keeps the
nickname directory, executes each ``Share`` in one step (take, free or evict
a nickname, then deliver), and queues the arrivals for every server
concerned, in one global order.  Each server has its own queue of arrivals
(its subscription) and of answers (its command connection), pumped
separately, so tests and hypothesis choose how deliveries interleave.

Faults are methods: ``cut`` (a server's link breaks: what was queued for it
is lost), ``down`` (it stays broken), ``restore`` (it is back: it rejoins),
``kill`` (a server dies: the directory drops its users, the others hear of
it), ``wipe`` (the broker restarts empty: everyone rejoins).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from sansio_chat import Event, ServerConfig
from sansio_chat._shared import (
    Burst,
    BurstAnswered,
    ClusterAction,
    ClusterChanged,
    ClusterStatus,
    FactsArrived,
    FollowRoom,
    GuestsLeased,
    LeaseGuests,
    NodeDown,
    Share,
    Shared,
    ShareFailed,
    ShareRefusal,
    UnfollowRoom,
    node_of,
)
from tests.core.irc import OPER_ACCOUNT
from tests.core_driver import OPER_PASSWORD, FakeNetwork

#: More pumping steps than this without quiet is a livelock.
MAX_STEPS = 100_000


@dataclass(eq=False)
class Member:
    """One server of the fake cluster: its core (a ``FakeNetwork``) and its queues at the broker."""

    cluster: FakeCluster
    number: int
    net: FakeNetwork = field(init=False)
    linked: bool = False  # its link is up (it hears and is heard)
    alive: bool = True
    inbox: deque[Event] = field(default_factory=deque)  # arrivals (and deaths), in the broker's order
    answers: deque[Event] = field(default_factory=deque)  # answers to its requests
    following: set[str] = field(default_factory=set)
    in_flight: set[int] = field(default_factory=set)  # its shares not answered yet

    def __post_init__(self) -> None:
        config = ServerConfig(
            oper_password=OPER_PASSWORD, opers=(OPER_ACCOUNT,), cluster_node=self.number, rate_lines=0
        )
        self.net = FakeNetwork(config, on_cluster=self._act)

    def _act(self, action: ClusterAction) -> None:
        self.cluster.act(self, action)

    def tell(self, event: Event) -> None:
        self.net.receive(event)


class FakeCluster:
    """The broker: a nickname directory, rooms followed, one order of arrivals (see the module)."""

    def __init__(self, count: int = 0) -> None:
        self.members: dict[int, Member] = {}
        self.directory: dict[str, int] = {}  # nickname key -> holder's user id
        self.guests = 0
        self.order: list[tuple[int, Shared]] = []  # every delivered item, with its origin server
        for _ in range(count):
            self.add()

    # -- servers ---------------------------------------------------------------------------

    def add(self, *, link: bool = True) -> Member:
        """A new server (numbered 1, 2...), linked at once unless told not to."""
        number = len(self.members) + 1
        member = Member(self, number)
        self.members[number] = member
        if link:
            self.restore(member)
        return member

    def live(self) -> list[Member]:
        return [member for member in self.members.values() if member.alive]

    # -- the broker at work -----------------------------------------------------------------

    def act(self, member: Member, action: ClusterAction) -> None:
        """A server's request, executed at once (its answers and arrivals are queued)."""
        match action:
            case FollowRoom(room=room):
                member.following.add(room)
            case UnfollowRoom(room=room):
                member.following.discard(room)
            case _ if not member.linked or not member.alive:
                if isinstance(action, Share):
                    member.answers.append(ShareFailed(ticket=action.ticket, why=ShareRefusal.NOT_SENT))
            case LeaseGuests(count=count):
                first = self.guests + 1
                self.guests += count
                member.answers.append(GuestsLeased(first=first, last=self.guests))
            case Burst(users=users):
                mine = {key for key, uid in self.directory.items() if node_of(uid) == member.number}
                refused = []
                for uid, key, _nick in users:
                    holder = self.directory.get(key)
                    if holder is not None and node_of(holder) != member.number:
                        refused.append(uid)
                    else:
                        self.directory[key] = uid
                        mine.discard(key)
                for key in mine:
                    del self.directory[key]
                member.answers.append(BurstAnswered(refused=tuple(refused)))
            case Share():
                self._share(member, action)
            case _:
                raise AssertionError(action)

    def _share(self, member: Member, share: Share) -> None:
        member.in_flight.add(share.ticket)
        refusal = self._directory_change(share)
        if refusal is not None:
            member.answers.append(ShareFailed(ticket=share.ticket, why=refusal))
            return
        if share.room:
            targets = [other for other in self.live() if share.room in other.following]
        elif share.users:
            nodes = {node_of(uid) for uid in share.users}
            targets = [other for other in self.live() if other.number in nodes]
        else:
            targets = self.live()
        self.order.append((member.number, share.item))
        for target in targets:
            if target.linked:
                arrival = (share.item, share.ticket if target is member else 0)
                target.inbox.append(FactsArrived(arrivals=(arrival,)))

    def _directory_change(self, share: Share) -> ShareRefusal | None:
        directory, owner = self.directory, share.owner
        if share.take:
            holder = directory.get(share.take)
            if holder is not None and holder != owner:
                return ShareRefusal.TAKEN
            if share.free and share.free != share.take:
                if directory.get(share.free) != owner:
                    return ShareRefusal.TAKEN  # its old nickname is not its own any more
                del directory[share.free]
            directory[share.take] = owner
        elif share.free:
            if directory.get(share.free) != owner:
                return ShareRefusal.NOT_SENT  # gone from the directory already
            del directory[share.free]
        elif share.evict:
            if share.evict not in directory:
                return ShareRefusal.NO_SUCH
            del directory[share.evict]
        return None

    # -- delivering ---------------------------------------------------------------------------

    def step(self, member: Member, *, answers: bool = False) -> bool:
        """Deliver one arrival (or one answer) to ``member``; False if none waits."""
        queue = member.answers if answers else member.inbox
        if not queue or not member.alive:
            return False
        event = queue.popleft()
        if isinstance(event, FactsArrived):
            member.in_flight.difference_update(ticket for _, ticket in event.arrivals)
        elif isinstance(event, ShareFailed):
            member.in_flight.discard(event.ticket)
        member.tell(event)
        return True

    def settle(self) -> None:
        """Deliver everything, round robin, until nothing is left to deliver."""
        for _ in range(MAX_STEPS):
            progressed = False
            for member in self.live():
                progressed |= self.step(member, answers=True)
                progressed |= self.step(member)
            if not progressed:
                return
        raise AssertionError(f"no quiet after {MAX_STEPS} steps")

    # -- faults ---------------------------------------------------------------------------------

    def cut(self, member: Member) -> None:
        """``member``'s link breaks: what was on its way to it is lost, and so are its answers.

        Its shares not back yet may or may not have happened (as the
        bridge says, ``MAYBE_SENT``).
        """
        if not member.linked:
            return
        member.linked = False
        member.inbox.clear()
        member.answers.clear()
        if member.alive:  # told at once, as the bridge does when the link breaks
            lost = sorted(member.in_flight)
            member.in_flight.clear()
            for ticket in lost:
                member.tell(ShareFailed(ticket=ticket, why=ShareRefusal.MAYBE_SENT))
            member.tell(ClusterChanged(status=ClusterStatus.INTERRUPTED))

    def down(self, member: Member) -> None:
        """``member``'s link stays broken past the grace period."""
        self.cut(member)
        member.tell(ClusterChanged(status=ClusterStatus.DOWN))

    def restore(self, member: Member) -> None:
        """``member``'s link is back: it rejoins (burst, hello)."""
        member.linked = True
        member.tell(ClusterChanged(status=ClusterStatus.JOINING))

    def kill(self, member: Member) -> None:
        """``member`` dies: its users leave the directory, and everyone hears of it."""
        member.alive = False
        self.reap(member)

    def reap(self, member: Member) -> None:
        """``member`` is declared dead (it died, or was cut off too long): its users leave the directory."""
        self.cut(member)
        member.answers.clear()
        gone = tuple(key for key, uid in self.directory.items() if node_of(uid) == member.number)
        for key in gone:
            del self.directory[key]
        for other in self.live():
            if other.linked:
                other.inbox.append(NodeDown(keys=gone))

    def wipe(self) -> None:
        """The broker restarts empty: every server's link breaks, then everyone rejoins."""
        self.directory.clear()
        self.guests = 0
        for member in self.live():
            self.cut(member)
        for member in self.live():
            self.restore(member)

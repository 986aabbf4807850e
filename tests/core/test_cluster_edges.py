"""One server of a cluster, event by event: the answers and arrivals a broker sends, in every order.

Here the test plays the broker by hand: it takes the core's shares and
answers each as it likes (back, refused, lost, late), so that the rare
orders (an answer after the asker left, a share lost then arriving anyway,
a presence that contradicts what is known) are each checked once.
"""

from __future__ import annotations

import pytest

from sansio_chat import (
    Burst,
    BurstAnswered,
    ClusterAction,
    ClusterChanged,
    ClusterStatus,
    FactsArrived,
    GuestsLeased,
    Hello,
    LeaseGuests,
    NodeDown,
    OutputBacklog,
    Present,
    PresentRoom,
    PresentUser,
    ServerConfig,
    Share,
    Shared,
    ShareFailed,
    ShareRefusal,
    node_of,
)
from sansio_chat._cluster import GUEST_LEASE, ROUND_FACTS, ROUND_SECONDS, ClusterSeat
from sansio_chat._facts import Joined, Registered, Renamed, TopicChanged, Whispered
from sansio_chat._replies import Identity, Told
from sansio_chat._shared import NODE_SHIFT, UNKNOWN_INFO
from tests.core_driver import OPER_PASSWORD, Client, FakeNetwork

NODE = 1
OTHER = 2
UNAVAILABLE = "[server] Error: nickname changes are unavailable while the cluster link is down"


def joined(uid: int, nick: str) -> Registered:
    """A text client of another server got its first nickname (and entered ``#lobby``)."""
    return Registered(user=uid, nick=nick, info=UNKNOWN_INFO, lobby=True, at=0.0, peer="p")


def mine(client: Client) -> int:
    return (NODE << NODE_SHIFT) + client.conn


def other_uid(conn: int, node: int = OTHER) -> int:
    return (node << NODE_SHIFT) + conn


class Seat:
    """One core of a cluster, its requests kept for the test to answer."""

    def __init__(self) -> None:
        config = ServerConfig(oper_password=OPER_PASSWORD, cluster_node=NODE, rate_lines=0)
        self.net = FakeNetwork(config, on_cluster=self._act)
        self.shares: list[Share] = []
        self.others: list[ClusterAction] = []

    def _act(self, action: ClusterAction) -> None:
        if isinstance(action, Share):
            self.shares.append(action)
        else:
            self.others.append(action)

    def take(self) -> list[Share]:
        shares, self.shares = self.shares, []
        return shares

    def back(self, *shares: Share) -> None:
        """Each share comes back, in order, as the broker delivers its own server's items."""
        for share in shares:
            self.net.receive(FactsArrived(arrivals=((share.item, share.ticket),)))

    def arrive(self, *items: Shared) -> None:
        """Items shared by other servers arrive."""
        self.net.receive(FactsArrived(arrivals=tuple((item, 0) for item in items)))

    def fail(self, share: Share, why: ShareRefusal) -> None:
        self.net.receive(ShareFailed(ticket=share.ticket, why=why))

    def link(self) -> None:
        """Join the cluster: burst answered in full, hello back, present shared."""
        self.net.receive(ClusterChanged(status=ClusterStatus.JOINING))
        self.net.receive(BurstAnswered(refused=()))
        (hello,) = self.take()
        self.back(hello)
        (present,) = self.take()
        self.back(present)

    def client(self, nick: str = "") -> Client:
        client = self.net.connect()
        self.settle()
        if nick:
            client.send(f"NICK {nick}")
            self.settle()
        client.lines()
        return client

    def settle(self) -> None:
        """Bring back every share at once, in order (the broker agreeing to all)."""
        while self.shares:
            self.back(*self.take())


@pytest.fixture
def seat() -> Seat:
    seat = Seat()
    seat.link()
    return seat


def test_a_servers_number_is_checked() -> None:
    with pytest.raises(ValueError, match="cluster_node"):
        ServerConfig(cluster_node=-1)
    with pytest.raises(ValueError, match="number"):
        ClusterSeat(0, print)


def test_a_server_alone_ignores_cluster_events() -> None:
    net = FakeNetwork()
    alice = net.connect()
    alice.lines()
    net.receive(ClusterChanged(status=ClusterStatus.DOWN))
    net.receive(ShareFailed(ticket=1, why=ShareRefusal.TAKEN))
    print("ALICE", alice.lines())


def test_nothing_from_the_cluster_is_told_after_the_shutdown(seat: Seat) -> None:
    alice = seat.client("alice")
    seat.net.shutdown()
    seat.net.receive(ClusterChanged(status=ClusterStatus.DOWN))
    assert alice.lines() == ["[server] Server is shutting down"]


def test_guest_numbers_are_leased_and_handed_out_in_order(seat: Seat) -> None:
    assert seat.others[:2] == [LeaseGuests(count=GUEST_LEASE), Burst(users=())]
    seat.net.receive(GuestsLeased(first=101, last=100 + GUEST_LEASE))
    client = seat.net.connect()
    seat.settle()
    assert client.lines()[0].startswith("[server] Welcome to the chat, guest101!")


def test_a_share_lost_with_the_link_applies_here_once_even_if_it_arrives_after_all(seat: Seat) -> None:
    alice = seat.client("alice")
    bob = seat.client("bob")
    alice.send("MSG maybe")
    (said,) = seat.take()
    seat.fail(said, ShareRefusal.MAYBE_SENT)
    seat.back(said)  # it reached the broker after all: not told twice
    assert bob.lines() == ["[alice] maybe"]


def test_what_waits_for_a_user_who_left_is_dropped_quietly(seat: Seat) -> None:
    alice = seat.client("alice")
    bob = seat.client("bob")
    seat.net.receive(__import__("sansio_chat").Tick(now=0.0))
    for line in ("NICK carol", "JOIN #dev", f"OPER {OPER_PASSWORD}"):
        alice.send(line)
    (rename,) = seat.take()  # the others wait behind it
    alice.reset()
    (drop,) = seat.take()
    seat.fail(rename, ShareRefusal.NOT_SENT)
    seat.back(drop)
    assert bob.lines() == ["[server] alice is disconnected"]
    ghost = seat.net.connect()
    (guest,) = seat.take()
    ghost.reset()
    seat.fail(guest, ShareRefusal.TAKEN)  # its claim lost a race after it left: nothing more
    seat.fail(guest, ShareRefusal.TAKEN)  # (an answer twice is ignored)
    late = seat.net.connect()
    (guest,) = seat.take()
    late.reset()
    seat.fail(guest, ShareRefusal.NOT_SENT)
    assert seat.take() == []


def test_a_guest_name_taken_meanwhile_moves_to_the_next_number(seat: Seat) -> None:
    seat.net.receive(GuestsLeased(first=1, last=GUEST_LEASE))
    first = seat.net.connect()
    second = seat.net.connect()
    claims = seat.take()
    assert [claim.take for claim in claims] == ["guest1", "guest2"]
    second.reset()  # the first's claim still waits
    seat.fail(claims[0], ShareRefusal.TAKEN)
    (again,) = seat.take()
    assert again.take == "guest3"
    seat.back(again)
    assert first.lines()[0] == "[server] Welcome to the chat, guest3! Type HELP for the list of commands."


def test_a_client_too_slow_leaves_at_once_and_what_it_waited_for_tells_nobody(seat: Seat) -> None:
    alice = seat.client("alice")
    carol = seat.client("carol")
    bob = seat.client("bob")
    for client in (alice, carol):
        client.send(f"OPER {OPER_PASSWORD}")
    seat.settle()
    alice.send("NICK alicia")
    carol.send("KILL bob")
    rename, kill = seat.take()
    for client in (alice, carol):
        seat.net.receive(OutputBacklog(conn=client.conn, unsent=seat.net.config.max_pending_bytes + 1))
    drops = seat.take()
    assert alice.aborted and carol.aborted  # at once: their departures cross the cluster meanwhile
    seat.fail(rename, ShareRefusal.TAKEN)
    seat.fail(kill, ShareRefusal.NO_SUCH)
    seat.back(*drops)
    assert bob.lines() == [
        "[server] alice is disconnected (too slow)",
        "[server] carol is disconnected (too slow)",
    ]


def test_a_nickname_change_fails_when_the_link_breaks(seat: Seat) -> None:
    alice = seat.client("alice")
    alice.send("NICK carol")
    (rename,) = seat.take()
    seat.fail(rename, ShareRefusal.MAYBE_SENT)
    assert alice.lines() == [
        "[server] Error: nickname changes are unavailable while the cluster link is down"
    ]


def test_a_kill_refused_after_the_killer_left_tells_nobody(seat: Seat) -> None:
    alice = seat.client("alice")
    seat.client("bob")
    alice.send(f"OPER {OPER_PASSWORD}")
    seat.settle()
    alice.send("KILL bob")
    (kill,) = seat.take()
    alice.reset()
    (drop,) = seat.take()
    seat.fail(kill, ShareRefusal.NO_SUCH)
    assert not alice.closed  # until its departure is back
    seat.back(drop)
    assert alice.closed


def test_a_hello_or_presence_lost_with_the_link_waits_for_the_next_return() -> None:
    seat = Seat()
    seat.net.receive(ClusterChanged(status=ClusterStatus.JOINING))
    seat.net.receive(BurstAnswered(refused=()))
    (hello,) = seat.take()
    seat.fail(hello, ShareRefusal.MAYBE_SENT)
    seat.arrive(Hello(node=OTHER, round=1))  # still joining: it answers with its users
    (present,) = seat.take()
    seat.fail(present, ShareRefusal.NOT_SENT)
    assert seat.take() == []


def test_a_link_down_twice_says_so_once_and_a_hello_while_offline_is_not_answered(seat: Seat) -> None:
    alice = seat.client("alice")
    for _ in range(2):
        seat.net.receive(ClusterChanged(status=ClusterStatus.DOWN))
    seat.arrive(Hello(node=OTHER, round=1))
    assert seat.take() == []
    assert alice.lines() == [
        "[server] Lost contact with the other servers: only users on this server can hear you"
    ]


def test_a_burst_refusing_users_renames_them_each_to_a_free_guest_name() -> None:
    seat = Seat()
    first = seat.client()  # cut off from the start: guest names from a local count
    seat.client()
    first.lines()
    seat.net.receive(ClusterChanged(status=ClusterStatus.JOINING))
    seat.net.receive(GuestsLeased(first=2, last=5))
    first_uid = first.conn + (NODE << NODE_SHIFT)
    seat.net.receive(BurstAnswered(refused=(first_uid, other_uid(7, NODE))))  # one unknown: skipped
    (save,) = seat.take()
    assert save.take == "guest3"  # guest2 is the other's
    seat.fail(save, ShareRefusal.TAKEN)
    (again,) = seat.take()
    seat.net.receive(ClusterChanged(status=ClusterStatus.INTERRUPTED))  # cut again meanwhile
    seat.back(again)
    assert seat.take() == []  # no hello while cut off: the next return says it
    assert first.lines() == [
        "[server] Your nickname guest1 was taken while this server was cut off",
        "[server] You are now known as guest4",
    ]


def test_a_save_that_fails_after_its_user_left_ends_the_wait_for_the_hello() -> None:
    seat = Seat()
    alice = seat.client("alice")
    seat.net.receive(ClusterChanged(status=ClusterStatus.JOINING))
    seat.net.receive(BurstAnswered(refused=(alice.conn + (NODE << NODE_SHIFT),)))
    (save,) = seat.take()
    alice.reset()
    (drop,) = seat.take()
    seat.back(drop)  # it leaves without the nickname it held before the cut
    assert alice.closed
    seat.fail(save, ShareRefusal.TAKEN)
    (hello,) = seat.take()
    assert isinstance(hello.item, Hello)


def test_an_old_hello_of_this_servers_only_opens_a_round(seat: Seat) -> None:
    seat.net.receive(ClusterChanged(status=ClusterStatus.JOINING))
    seat.net.receive(BurstAnswered(refused=()))
    (hello,) = seat.take()
    seat.arrive(Hello(node=NODE, round=1))  # the first one, arriving late: the second one is awaited
    assert seat.take() == []
    seat.back(hello)
    (present,) = seat.take()
    assert isinstance(present.item, Present) and present.item.round == 2


# -- presences ------------------------------------------------------------------------------------


def present(
    *users: PresentUser, to: int = NODE, round: int = 1, rooms: tuple[PresentRoom, ...] = ()
) -> Present:
    return Present(node=OTHER, to=to, round=round, users=users, rooms=rooms)


def test_a_presence_places_users_of_another_server_then_replays_what_followed(seat: Seat) -> None:
    alice = seat.client("alice")
    seat.arrive(Hello(node=OTHER, round=1))
    seat.take()
    bob, carol = other_uid(1), other_uid(2)
    seat.arrive(
        Joined(user=bob, name="#dev", at=0.0),  # about a user not known yet: replayed over the presence
        TopicChanged(
            user=Identity(uid=alice.conn + (NODE << NODE_SHIFT), nick="alice"),
            room="#lobby",
            topic="t",
            at=0.0,
        ),
    )
    seat.arrive(
        present(
            PresentUser(uid=bob, nick="bob", operator=True, rooms=(("#lobby", False), ("#ops", True))),
            PresentUser(uid=carol, nick="alice", operator=False, rooms=(("#lobby", False),)),  # a clash
            to=OTHER,
            rooms=(PresentRoom(name="#ops", topic="secret"),),
        )
    )
    alice.send("WHO #ops")
    alice.send("WHO #dev")
    alice.send("TOPIC")
    assert alice.lines() == [
        "[server] alice set the topic of #lobby to: t",
        "[server] bob joined #lobby",
        "[server] Users in #ops (1): @bob",
        "[server] Users in #dev (1): @bob",
        "[server] Topic of #lobby: t",
    ]


def test_a_later_presence_renames_moves_and_removes_users_of_its_server(seat: Seat) -> None:
    alice = seat.client("alice")
    bob, carol, dave = other_uid(1), other_uid(2), other_uid(3)
    seat.arrive(
        joined(bob, "bob"),
        joined(carol, "carol"),
        joined(dave, "dave"),
    )
    seat.arrive(Hello(node=OTHER, round=2))
    seat.take()
    alice.lines()
    eve = other_uid(4)
    seat.arrive(joined(eve, "eve"))  # born after the hello: not in the presence
    seat.arrive(
        present(
            PresentUser(uid=bob, nick="robert", operator=False, rooms=(("#dev", False),)),
            PresentUser(uid=carol, nick="alice", operator=False, rooms=(("#lobby", False),)),  # a clash
            to=OTHER,
            round=2,
        )
    )
    assert alice.lines() == [
        "[server] eve is connected",
        "[server] dave is disconnected",
        "[server] bob is now known as robert",
        "[server] robert left #lobby",
    ]
    alice.send("WHO")
    assert alice.lines() == ["[server] Users (3): alice carol eve"]


def test_a_presence_for_this_servers_own_return_is_quiet_and_an_unknown_round_replays_nothing(
    seat: Seat,
) -> None:
    alice = seat.client("alice")
    bob = other_uid(1)
    seat.arrive(joined(bob, "bob"))
    alice.lines()
    seat.arrive(
        present(PresentUser(uid=bob, nick="bobby", operator=False, rooms=(("#dev", False),)), round=9)
    )
    print("ALICE", alice.lines())
    alice.send("WHO #dev")
    assert alice.lines() == ["[server] Users in #dev (1): bobby"]


def test_the_users_of_servers_silent_after_this_servers_hello_leave(seat: Seat) -> None:
    alice = seat.client("alice")
    seat.arrive(joined(other_uid(1), "bob"))
    seat.arrive(joined(other_uid(1, node=3), "carol"))
    seat.net.receive(ClusterChanged(status=ClusterStatus.INTERRUPTED))
    seat.net.receive(ClusterChanged(status=ClusterStatus.JOINING))
    seat.net.receive(BurstAnswered(refused=()))
    (hello,) = seat.take()
    seat.back(hello)
    seat.take()
    seat.arrive(
        present(
            PresentUser(uid=other_uid(1), nick="bob", operator=False, rooms=(("#lobby", False),)), round=2
        )
    )
    alice.lines()
    seat.net.tick(ROUND_SECONDS)
    assert alice.lines() == ["[server] carol is disconnected (server down)"]


def test_a_dead_servers_nicknames_name_only_users_of_other_servers(seat: Seat) -> None:
    alice = seat.client("alice")
    seat.arrive(joined(other_uid(1), "bob"))
    alice.lines()
    seat.net.receive(NodeDown(keys=("alice", "nobody", "bob")))
    assert alice.lines() == ["[server] bob is disconnected (server down)"]


def test_clashing_facts_from_a_moment_cut_off_change_nothing(seat: Seat) -> None:
    alice = seat.client("alice")
    bob = other_uid(1)
    seat.arrive(joined(bob, "alice"))  # alice is taken here
    seat.arrive(joined(bob, "bob"), Renamed(user=bob, new="alice"))
    alice.send("WHO")
    assert alice.lines()[-1] == "[server] Users (2): alice bob"


def test_a_round_keeps_a_bounded_number_of_facts() -> None:
    seat = ClusterSeat(NODE, print)
    seat.start_round(OTHER, 1, 0.0)
    fact = Whispered(recipient=1, told=Told(source=Identity(uid=1, nick="a"), recipient="b", text="t"))
    for _ in range(ROUND_FACTS + 1):
        seat.keep(fact, None)
    assert len(seat.rounds[OTHER, 1].facts) == ROUND_FACTS
    assert node_of(other_uid(1)) == OTHER


def test_a_ping_answers_once_what_its_server_shared_before_it_is_back(seat: Seat) -> None:
    alice = seat.client("alice")
    bob = seat.client("bob")
    alice.lines()
    alice.send("PING now")  # nothing on its way: at once
    assert alice.lines() == ["[server] PONG now"]
    alice.send("MSG first")
    bob.send("MSG second")
    alice.send("PING after")
    alice.send("MSG later")  # waits behind the PING, as behind a claim
    first, second = seat.take()
    seat.back(second)
    assert alice.lines() == ["[bob] second"]  # its own word is still on its way: no PONG yet
    seat.back(first)
    assert alice.lines() == ["[server] PONG after"]
    (later,) = seat.take()
    seat.back(later)
    assert bob.lines() == ["[alice] first", "[alice] later"]


def test_a_ping_of_a_user_who_left_meanwhile_is_not_answered(seat: Seat) -> None:
    alice = seat.client("alice")
    bob = seat.client("bob")
    alice.send("MSG first")
    alice.send("PING gone")
    bob.send("PING stays")
    (said,) = seat.take()
    alice.lines()
    seat.net.receive(OutputBacklog(conn=alice.conn, unsent=seat.net.config.max_pending_bytes + 1))
    assert alice.aborted  # too slow: it leaves at once, its departure crosses the cluster meanwhile
    seat.fail(said, ShareRefusal.NOT_SENT)  # applied here alone: both PINGs waited for it
    seat.settle()
    assert bob.lines()[-2:] == ["[server] PONG stays", "[server] alice is disconnected (too slow)"]
    assert alice.lines() == []

"""A model test of the cluster: random commands on random servers, deliveries in random orders, faults.

Hypothesis drives three cores and the fake broker (``tests/fake_cluster.py``):
clients connect, rename, talk, join rooms and quit on any server; each
server's arrivals and answers are pumped in any interleaving; links break,
stay down and come back; a server dies; the broker restarts empty.  Checked
at every step:

* a message reaches a client at most once, and each sender's messages keep
  their order;
* any two clients saw the messages they both saw in the same order;
* the broker never gives one nickname to two users;

and, once every live server is linked again and every delivery is done,
that all servers agree on who is there, under which nickname, in which
rooms, and that the broker's directory is exactly that.
"""

from __future__ import annotations

import re
from itertools import combinations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sansio_chat._cluster import ROUND_SECONDS
from tests.core_driver import Client
from tests.fake_cluster import FakeCluster, Member

NICKS = ("alice", "bob", "Alice", "carol")
ROOMS = ("#lobby", "#dev")
_TAG = re.compile(r"^\[[^\]]+\] (m\d+-\d+)$")


class ClusterModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.cluster = FakeCluster(3)
        self.cluster.settle()
        self.clients: list[tuple[Member, Client]] = []
        self.sent: dict[int, int] = {}  # messages sent, by client index
        self.killed = False

    # -- what users do ------------------------------------------------------------------

    def _open(self) -> list[int]:
        return [
            index
            for index, (member, client) in enumerate(self.clients)
            if member.alive and client.is_open and not client.paused
        ]

    @rule(node=st.integers(1, 3))
    def connect(self, node: int) -> None:
        member = self.cluster.members[node]
        if member.alive and len(self.clients) < 8:
            self.clients.append((member, member.net.connect()))

    @rule(data=st.data(), nick=st.sampled_from(NICKS))
    def rename(self, data: st.DataObject, nick: str) -> None:
        if indexes := self._open():
            self.clients[data.draw(st.sampled_from(indexes))][1].send(f"NICK {nick}")

    @rule(data=st.data(), count=st.integers(1, 3))
    def talk(self, data: st.DataObject, count: int) -> None:
        if indexes := self._open():
            index = data.draw(st.sampled_from(indexes))
            for _ in range(count):
                self.sent[index] = self.sent.get(index, 0) + 1
                self.clients[index][1].send(f"MSG m{index}-{self.sent[index]}")

    @rule(data=st.data(), room=st.sampled_from(ROOMS))
    def join(self, data: st.DataObject, room: str) -> None:
        if indexes := self._open():
            self.clients[data.draw(st.sampled_from(indexes))][1].send(f"JOIN {room}")

    @rule(data=st.data())
    def quit(self, data: st.DataObject) -> None:
        if indexes := self._open():
            self.clients[data.draw(st.sampled_from(indexes))][1].send("QUIT")

    # -- how the broker delivers --------------------------------------------------------

    @rule(node=st.integers(1, 3), steps=st.integers(1, 6), answers=st.booleans())
    def pump(self, node: int, steps: int, answers: bool) -> None:
        for _ in range(steps):
            self.cluster.step(self.cluster.members[node], answers=answers)

    @rule()
    def settle(self) -> None:
        self.cluster.settle()

    # -- faults ----------------------------------------------------------------------------

    @rule(node=st.integers(1, 3), stays=st.booleans())
    def cut(self, node: int, stays: bool) -> None:
        member = self.cluster.members[node]
        if member.alive:
            (self.cluster.down if stays else self.cluster.cut)(member)

    @rule(node=st.integers(1, 3))
    def restore(self, node: int) -> None:
        member = self.cluster.members[node]
        if member.alive and not member.linked:
            self.cluster.restore(member)

    @precondition(lambda self: not self.killed)
    @rule(node=st.integers(1, 3))
    def kill(self, node: int) -> None:
        self.killed = True
        self.cluster.kill(self.cluster.members[node])

    @rule()
    def wipe(self) -> None:
        self.cluster.wipe()

    # -- checks ------------------------------------------------------------------------------

    def _tags(self) -> list[list[str]]:
        tags = []
        for _, client in self.clients:
            seen = []
            for line in bytes(client.received).decode().split("\n"):
                match = _TAG.match(line)
                if match:
                    seen.append(match[1])
            tags.append(seen)
        return tags

    @invariant()
    def at_most_once_each_senders_order_and_one_order(self) -> None:
        tags = self._tags()
        for seen in tags:
            assert len(seen) == len(set(seen)), seen
            last: dict[str, int] = {}
            for tag in seen:
                sender, number = tag[1:].split("-")
                assert int(number) > last.get(sender, 0), seen
                last[sender] = int(number)
        for first, second in combinations(tags, 2):
            common = set(first) & set(second)
            assert [tag for tag in first if tag in common] == [tag for tag in second if tag in common]

    @rule()
    def quiesce_and_agree(self) -> None:
        """Every live server linked again, every delivery done, rounds over: everyone agrees."""
        cluster = self.cluster
        for member in cluster.live():
            if not member.linked:
                cluster.restore(member)
        cluster.settle()
        for member in cluster.live():
            member.net.advance(ROUND_SECONDS)
        cluster.settle()
        views = [self._view(member) for member in cluster.live()]
        for view in views[1:]:
            assert view == views[0]
        users = {uid: nick for uid, (nick, _) in views[0].items()}
        assert cluster.directory == {nick.casefold(): uid for uid, nick in users.items()}

    def _view(self, member: Member) -> dict[int, tuple[str, frozenset[str]]]:
        """Who a server says is there: id -> (nickname, room keys)."""
        chat = member.net.state._chat  # type: ignore[attr-defined]
        return {
            uid: (user.nick, frozenset(room.key for room in user.rooms))
            for uid, user in chat._dir.by_id.items()
            if user.nick
        }


ClusterModel.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestClusterModel = ClusterModel.TestCase

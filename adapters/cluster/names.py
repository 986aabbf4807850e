"""Where a cluster keeps its state in Redis: the names of its keys and channels.

Every name starts with ``sc:<db>:``.  Keys live in the database of the URL,
but pub/sub channels belong to the whole Redis server: the database number
in the prefix keeps two clusters on one Redis (``/0`` and ``/1``) from
hearing each other.  The Lua scripts build the same names from the same
suffixes (``LUA_NAMES`` in ``scripts.py``), so they are spelled here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._url import RedisAddress

#: The longest node id: it is part of key names, channel names and every record.
MAX_NODE_ID = 64

#: Suffixes of the cluster's keys (after the prefix): what each holds.
KEY_SUFFIXES = {
    "EPOCH": "epoch",  # string: the last epoch handed out (INCR)
    "EPOCHS": "epochs",  # hash: node -> its current epoch (absent: not registered, or reaped)
    "RUNS": "runs",  # hash: node -> the run_id of the Redis process it registered with
    "NODES": "nodes",  # sorted set: node -> its last heartbeat, in ms of Redis' own clock
    "USERS": "users",  # hash: nick fold -> "node<TAB>conn<TAB>display nick"
    "SEQ": "seq",  # string: the number of the last directory event (INCR)
    "GUESTS": "guests",  # string: the last guest number leased (INCRBY)
}
#: Prefix of a node's index, a set of the folds it holds (``idx:<node>``).
INDEX_SUFFIX = "idx:"
#: Prefix of a node's recent kills (``kills:<node>``), a sorted set of ``conn<TAB>payload`` by the
#: time of the kill: a node that missed a kill of one of its users learns it when it bursts.
KILLS_SUFFIX = "kills:"
#: Channel suffixes: directory events for everyone; one channel per node and per room.
ALL_CHANNEL_SUFFIX = "all"
NODE_CHANNEL_SUFFIX = "node:"
LINK_CHANNEL_SUFFIX = "link:"
ROOM_CHANNEL_SUFFIX = "room:"


def check_node_id(node: str) -> str:
    """A node id, if it fits in names and tab-separated records: 1-64 printable ASCII, no space."""
    if not 1 <= len(node) <= MAX_NODE_ID or not all("!" <= ch <= "~" for ch in node):
        raise ValueError(
            f"invalid node id {node!r}: 1 to {MAX_NODE_ID} printable ASCII characters without spaces"
        )
    return node


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterNames:
    """The names of one cluster's keys and channels, all under ``prefix``."""

    prefix: str

    @classmethod
    def for_address(cls, address: RedisAddress, base: str = "sc") -> ClusterNames:
        return cls(prefix=f"{base}:{address.db}:")

    def key(self, name: str) -> bytes:
        """The key named by one of ``KEY_SUFFIXES``' names (``"USERS"``...)."""
        return (self.prefix + KEY_SUFFIXES[name]).encode()

    def index(self, node: str) -> bytes:
        """The set of folds held by ``node``."""
        return (self.prefix + INDEX_SUFFIX + node).encode()

    def kills(self, node: str) -> bytes:
        """The recent kills of ``node``'s users."""
        return (self.prefix + KILLS_SUFFIX + node).encode()

    @property
    def all_channel(self) -> bytes:
        """Directory events (nick claims, quits, kills, node deaths), in ``seq`` order."""
        return (self.prefix + ALL_CHANNEL_SUFFIX).encode()

    def node_channel(self, node: str) -> bytes:
        """What is addressed to one node's users (private messages)."""
        return (self.prefix + NODE_CHANNEL_SUFFIX + node).encode()

    def link_channel(self, node: str) -> bytes:
        """The node's link heartbeat, which only that node hears."""
        return (self.prefix + LINK_CHANNEL_SUFFIX + node).encode()

    def room_channel(self, fold: str) -> bytes:
        """A room's messages, by its case-folded name."""
        return (self.prefix + ROOM_CHANNEL_SUFFIX + fold).encode()

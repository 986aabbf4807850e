"""sansio-chat: a multi-client chat server as a sans-IO state machine.

Backends feed events (bytes received, EOF, output backlog, time) to a server
state and carry out the actions it returns (send, close, pause reading).
"""

from typing import Any as _Any
from typing import TypeAlias as _TypeAlias

from ._actions import Abort, Action, Close, CloseReason, Log, LogLevel, PauseReading, ResumeReading, Send
from ._base import ServerBase as _ServerBase
from ._config import (
    DEFAULT_MAX_CLIENTS,
    DEFAULT_MAX_LINE_BYTES,
    DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_RATE_BURST,
    DEFAULT_RATE_LINES,
    Mode,
    ServerConfig,
)
from ._events import (
    ConnectionOpened,
    ConnectionReset,
    ConnId,
    DataReceived,
    DialectName,
    EofReceived,
    Event,
    MessagesReceived,
    NickClaimAnswered,
    OutputBacklog,
    ShutdownRequested,
    Tick,
)
from ._facts import Fact
from ._lab import EchoServerState, RelayServerState
from ._nicknames import LocalNickRegistry, NickRegistry
from ._server import ChatServerState, Refusal, refusal
from ._shared import (
    MAX_NODE,
    Burst,
    BurstAnswered,
    ClusterAction,
    ClusterChanged,
    ClusterEvent,
    ClusterStatus,
    FactsArrived,
    FollowRoom,
    GuestsLeased,
    Hello,
    LeaseGuests,
    NodeDown,
    Present,
    PresentRoom,
    PresentUser,
    Share,
    Shared,
    ShareFailed,
    ShareRefusal,
    UnfollowRoom,
    node_of,
)

__all__ = [
    "DEFAULT_MAX_CLIENTS",
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_MAX_PENDING_BYTES",
    "DEFAULT_RATE_BURST",
    "DEFAULT_RATE_LINES",
    "MAX_NODE",
    "Abort",
    "Action",
    "Burst",
    "BurstAnswered",
    "ChatServerState",
    "Close",
    "CloseReason",
    "ClusterAction",
    "ClusterChanged",
    "ClusterEvent",
    "ClusterStatus",
    "ConnId",
    "ConnectionOpened",
    "ConnectionReset",
    "DataReceived",
    "DialectName",
    "EchoServerState",
    "EofReceived",
    "Event",
    "Fact",
    "FactsArrived",
    "FollowRoom",
    "GuestsLeased",
    "Hello",
    "LeaseGuests",
    "LocalNickRegistry",
    "Log",
    "LogLevel",
    "MessagesReceived",
    "Mode",
    "NickClaimAnswered",
    "NickRegistry",
    "NodeDown",
    "OutputBacklog",
    "PauseReading",
    "Present",
    "PresentRoom",
    "PresentUser",
    "Refusal",
    "RelayServerState",
    "ResumeReading",
    "Send",
    "ServerConfig",
    "ServerState",
    "Share",
    "ShareFailed",
    "ShareRefusal",
    "Shared",
    "ShutdownRequested",
    "Tick",
    "UnfollowRoom",
    "new_server_state",
    "node_of",
    "refusal",
]


#: Any mode's state machine: what a backend drives.
ServerState: _TypeAlias = _ServerBase[_Any]


def new_server_state(config: ServerConfig) -> ServerState:
    """The state machine for ``config.mode``."""
    states: dict[Mode, type[ServerState]] = {
        Mode.ECHO: EchoServerState,
        Mode.RELAY: RelayServerState,
        Mode.CHAT: ChatServerState,
    }
    return states[config.mode](config)

"""What each user waits for: its next lines wait while a nickname claim or a shared fact of its is out.

Claims (answered by the nickname registry) and shares (back from the
cluster) are kept apart, but a user's lines must wait for both: one count
per user, so that ``Connections.claim_pending`` goes out at the first and
``claim_settled`` at the last, whichever kind they are.
"""

from __future__ import annotations

import enum

from ._chat_ports import Connections
from ._users import User


class Purpose(enum.Enum):
    """What a nickname claim, or a shared fact, is for."""

    GUEST = "a guest name at registration"
    RENAME = "a change of nickname"
    RESERVE = "a nickname chosen before registering"
    REGISTER = "a registration under a nickname chosen before (IRC)"
    SAVE = "a guest name for a user whose nickname was taken while cut off"
    OTHER = "any other change"


#: Shares that register a user: granted to a connection gone meanwhile, the nickname is given back.
REGISTRATIONS = frozenset({Purpose.GUEST, Purpose.REGISTER})


class Holds:
    """How many claims and shares each user waits for; users who wait for none are not kept."""

    __slots__ = ("_connections", "_held")

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._held: dict[User, int] = {}

    def __contains__(self, user: User) -> bool:
        return user in self._held

    def hold(self, user: User) -> None:
        """One more thing of ``user``'s waits: its lines wait from the first."""
        count = self._held.get(user, 0)
        self._held[user] = count + 1
        if not count:
            self._connections.claim_pending(user)

    def unhold(self, user: User) -> None:
        """One thing fewer waits; after the last, its lines go on."""
        count = self._held[user] - 1
        if count:
            self._held[user] = count
        else:
            del self._held[user]
            self._connections.claim_settled(user)

    def forget(self, user: User) -> bool:
        """``user``'s connection has gone: nothing waits for it any more; whether anything did."""
        return self._held.pop(user, None) is not None

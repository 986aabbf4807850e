"""What makes a nickname valid, when two are the same, and who may take one.

Taking a nickname is a *claim* made to a ``NickRegistry``.  On one server
the chat's own user list is the whole truth, so the default registry grants
every claim the chat puts to it (the chat has already checked its users).
A registry shared by several servers (a cluster) may need a round trip
before it can answer: it then answers later, with a ``NickClaimAnswered``
event, and the claimant's next lines wait for it, in order.
"""

from __future__ import annotations

from typing import Protocol

MAX_NICK_CHARS = 24
RESERVED_NICK = "server"


def is_valid_nickname(nick: str) -> bool:
    """1 to 24 letters, digits, ``_`` or ``-``, starting with a letter; not ``server``.

    ``str.isalpha`` accepts Unicode letters but not combining marks, so only
    precomposed forms such as ``é`` pass.
    """
    if not 1 <= len(nick) <= MAX_NICK_CHARS or not nick[0].isalpha():
        return False
    if nick_key(nick) == RESERVED_NICK:
        return False
    return all(ch.isalpha() or ch.isdecimal() or ch in "_-" for ch in nick)


def nick_key(nick: str) -> str:
    """The form under which nicknames are compared for uniqueness.

    An already case-folded nickname (every ``guest<N>``) is returned as is, so
    that an idle user does not hold two copies of the same string.
    """
    key = nick.casefold()
    return nick if key == nick else key


class NickRegistry(Protocol):
    """Who holds which nickname, wherever the users are.

    The chat asks only for keys that no user it knows holds.
    """

    def claim(self, claim: int, key: str) -> bool | None:
        """Ask for ``key`` under claim number ``claim``.

        True: granted; False: someone else holds it; None: the answer comes
        later, as ``NickClaimAnswered(claim=claim, granted=...)``.
        """
        ...

    def release(self, key: str) -> None:
        """``key`` is no longer held (its holder left or took another nickname)."""
        ...


class LocalNickRegistry:
    """The registry of a server that is the whole chat: the chat's own check is the answer."""

    def claim(self, claim: int, key: str) -> bool | None:
        return True

    def release(self, key: str) -> None:
        """Nothing to do: the chat's user list is the record."""

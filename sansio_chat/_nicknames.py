"""What makes a nickname valid, and when two nicknames are the same."""

from __future__ import annotations

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

"""Room modes and ban masks: what a room's settings are, independent of how a dialect spells them.

A room has flags (invite only, moderated, no words from outside, secret,
topic locked), two settings with a value (a key, a member limit), and lists
(bans); a change may also give or take a member's operator status or voice.
IRC spells them as mode letters (``+i``, ``+k key``, ``+o nick``...); the
chat only knows these names.

A ban is a mask ``nick!user@host`` with ``*`` and ``?`` wildcards, matched
without regard to case against a user's mask as others see it (its host is
a cloak, never its address).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass


class RoomFlag(enum.Flag):
    """A room's on/off settings."""

    INVITE_ONLY = enum.auto()  # only the invited (or operators) may join
    MODERATED = enum.auto()  # only operators and voiced members may speak
    NO_OUTSIDE = enum.auto()  # only members may speak to it
    SECRET = enum.auto()  # invisible to non-members in lists
    TOPIC_LOCK = enum.auto()  # only operators may set the topic


#: What a new room starts with (the text protocol's rules: only operators set the topic).
NEW_ROOM_FLAGS = RoomFlag.NO_OUTSIDE | RoomFlag.TOPIC_LOCK


class RoomMode(enum.Enum):
    """What one mode change is about."""

    INVITE_ONLY = "invite only"
    MODERATED = "moderated"
    NO_OUTSIDE = "no words from outside"
    SECRET = "secret"
    TOPIC_LOCK = "topic locked"
    KEY = "key"
    LIMIT = "limit"
    BAN = "ban"
    OPERATOR = "operator"
    VOICE = "voice"


#: The flag behind each flag mode.
FLAG_OF = {
    RoomMode.INVITE_ONLY: RoomFlag.INVITE_ONLY,
    RoomMode.MODERATED: RoomFlag.MODERATED,
    RoomMode.NO_OUTSIDE: RoomFlag.NO_OUTSIDE,
    RoomMode.SECRET: RoomFlag.SECRET,
    RoomMode.TOPIC_LOCK: RoomFlag.TOPIC_LOCK,
}

#: The longest key, the most bans per room, the highest member limit.
MAX_KEY_CHARS = 32
MAX_BANS = 100
MAX_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeChange:
    """One change: ``on`` (set or give) or not, what, and its argument ("" for a flag).

    The argument is a key, a limit's digits, a ban mask, or a nickname; for
    a member's status (operator, voice), ``member`` is that member's id,
    which the change is applied to (its nickname may change meanwhile).
    """

    on: bool
    mode: RoomMode
    arg: str = ""
    member: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ban:
    """A ban mask, who set it and when (wall-clock seconds)."""

    mask: str
    by: str
    at: float


def normal_mask(text: str) -> str:
    """``text`` as a full ``nick!user@host`` mask: ``bob`` is ``bob!*@*``, ``*@host`` is ``*!*@host``."""
    nick, bang, rest = text.partition("!")
    if not bang:
        if "@" in text:  # user@host
            user, _, host = text.partition("@")
            return f"*!{user or '*'}@{host or '*'}"
        return f"{text or '*'}!*@*"
    user, _, host = rest.partition("@")
    return f"{nick or '*'}!{user or '*'}@{host or '*'}"


def _listable(text: str) -> bool:
    """Whether IRC can carry ``text`` as a middle parameter and an item of a list (``JOIN #a,#b k1,k2``).

    No blank, no control character, no comma, no leading colon: a mode's
    argument is shown to every dialect's clients, IRC's too.
    """
    return bool(text) and text.isprintable() and " " not in text and "," not in text and text[0] != ":"


def is_valid_mask(mask: str) -> bool:
    """A mask fit for a ban list: listable (see ``_listable``), not absurdly long."""
    return len(mask) <= 200 and _listable(mask)


def is_valid_key(key: str) -> bool:
    """A room's key: listable (see ``_listable``), at most ``MAX_KEY_CHARS`` characters."""
    return len(key) <= MAX_KEY_CHARS and _listable(key)


def wildcard_regex(mask: str) -> str:
    """The regular expression for a mask with ``*`` (any run) and ``?`` (any one character).

    Between two stars, the first place a piece fits is as good as any later
    one (the stars around it can take up the rest), so each such piece is an
    atomic group the matcher never goes back into: a mask like ``*a*a*a*a*b``
    costs time in proportion to its length times the name's, not exponential
    in its stars, whoever typed it (a ban, ``WHO``, ``LIST``).
    """
    pieces = ["".join("." if ch == "?" else re.escape(ch) for ch in piece) for piece in mask.split("*")]
    if len(pieces) == 1:
        return pieces[0]
    middle = "".join(f"(?>.*?{piece})" for piece in pieces[1:-1] if piece)
    return f"{pieces[0]}{middle}.*{pieces[-1]}"


def mask_matches(mask: str, candidate: str) -> bool:
    """Whether the wildcard ``mask`` matches ``candidate``, without regard to case.

    Both are case-folded as nicknames are; ``re`` keeps the compiled patterns of recent masks.
    """
    return re.fullmatch(wildcard_regex(mask.casefold()), candidate.casefold(), re.DOTALL) is not None


def any_mask(masks: Iterable[str]) -> re.Pattern[str]:
    """One pattern that ``fullmatch``es a case-folded name which any of ``masks`` matches.

    Compiled once for a whole listing, so each name is matched once however many masks there are.
    """
    return re.compile("|".join(f"(?:{wildcard_regex(mask.casefold())})" for mask in masks), re.DOTALL)

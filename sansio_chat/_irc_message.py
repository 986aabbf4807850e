"""The IRC message format: one line in, one frozen message out, and back.

A line is ``[@tags ][:source ]COMMAND[ params...][ :last param]``, as the
"Modern IRC Client Protocol" document describes RFC 1459/2812 practice, with
the IRCv3 message-tags extension in front.  Nothing here knows what a command
means: this module owns the spelling only, so the IRC dialect, the tests and
any tool share one reading of the grammar.

Nothing here raises on input.  A line that cannot be read, or a message that
cannot be written without breaking the grammar or a size limit, comes back as
a ``BadMessage`` naming the fault, so the caller can answer with the right
numeric (417 for a long line, FAIL for bad UTF-8, 421 for a bad command).
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass

#: A message without its tags, CR LF included, may not be longer than this.
MAX_LINE_BYTES = 512
#: Tag data (between the ``@`` and the space) a client may send, client-only tags included.
MAX_CLIENT_TAG_BYTES = 4094
#: Tag data a server may add to a message before any relayed client-only tags.
MAX_SERVER_TAG_BYTES = 4094
#: The whole tag section a client must accept: ``@``, server tags, ``;``, client tags, space.
MAX_TAGS_BYTES = 8191
#: The longest line a conforming client can send, without its CR LF: a bound for line framing.
MAX_CLIENT_LINE_BYTES = 1 + MAX_CLIENT_TAG_BYTES + 1 + MAX_LINE_BYTES - 2


class MessageFault(enum.Enum):
    """Why a line could not be read or a message could not be written."""

    #: Nothing but spaces: the spec says to ignore such a line silently.
    EMPTY = "empty"
    #: Tags or a source, then nothing.
    NO_COMMAND = "no command"
    #: The command is neither ASCII letters nor three digits.
    INVALID_COMMAND = "invalid command"
    #: NUL anywhere, or CR or LF inside the line (raw, not escaped in a tag value).
    FORBIDDEN_CHARACTER = "forbidden character"
    #: Not UTF-8 (read), or text that has no UTF-8 spelling, such as a lone surrogate (written).
    INVALID_UTF8 = "invalid UTF-8"
    #: The part without tags is over ``MAX_LINE_BYTES`` (CR LF included).
    TOO_LONG = "too long"
    #: The tag data is over its limit.
    TAGS_TOO_LONG = "tags too long"
    #: Written only: an empty source, or one with a space.
    INVALID_SOURCE = "invalid source"
    #: Written only: a parameter before the last is empty, has a space or starts with ``:``.
    INVALID_PARAM = "invalid parameter"
    #: Written only: an empty or repeated tag key, or one with a space, ``;`` or ``=``.
    INVALID_TAG = "invalid tag"


@dataclass(frozen=True, slots=True, kw_only=True)
class IRCMessage:
    """One IRC message.

    ``params`` holds every parameter, the last one included whether or not it
    was written after a ``:`` (the spec says it has no other meaning).  A tag
    without a value has the value ``""``: the spec makes ``key`` and ``key=``
    the same.  Tag order is kept as received; server tags must come before
    client-only (``+``) tags when writing.  ``command`` is upper case after
    parsing.
    """

    command: str
    params: tuple[str, ...] = ()
    source: str | None = None
    tags: tuple[tuple[str, str], ...] = ()

    def tag(self, key: str) -> str | None:
        """The value of tag ``key`` (``""`` when it has none), or None when absent."""
        for name, value in self.tags:
            if name == key:
                return value
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class BadMessage:
    """A line that could not be read, or a message that could not be written.

    ``command`` is the command word when it could be read (upper case when it
    is a valid one, as typed otherwise), else ``""``: an error reply such as
    ``FAIL <command> INVALID_UTF8`` or ``421 <command>`` needs it.
    """

    fault: MessageFault
    command: str = ""


# -- reading -------------------------------------------------------------------------------------

_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
# A backslash and the character after it, if any (a lone one at the end is dropped).
_ESCAPED = re.compile(r"\\(.?)", re.DOTALL)


def _unescape_match(match: re.Match[str]) -> str:
    char = match[1]
    return _UNESCAPES.get(char, char)  # an unknown escape stands for the character itself


def _is_command(word: str) -> bool:
    if word.isascii() and word.isalpha():
        return True
    return len(word) == 3 and word.isascii() and word.isdigit()


def parse_message(line: bytes, *, max_tag_bytes: int = MAX_CLIENT_TAG_BYTES) -> IRCMessage | BadMessage:
    """Read one line (the framing removed its LF; one CR before it is dropped here).

    The size limits are checked first, on bytes, so that a long line is
    refused whatever it contains; ``max_tag_bytes`` is the client's limit by
    default (a client reading a server would pass ``MAX_TAGS_BYTES - 2``).
    """
    if line[-1:] == b"\r":
        line = line[:-1]
    body_start = 0
    if line[:1] == b"@":
        space = line.find(b" ")
        tag_end = space if space >= 0 else len(line)
        if tag_end - 1 > max_tag_bytes:
            return BadMessage(fault=MessageFault.TAGS_TOO_LONG)
        body_start = tag_end + 1
    if len(line) - body_start > MAX_LINE_BYTES - 2:
        return BadMessage(fault=MessageFault.TOO_LONG)
    try:
        parsed = _parse_text(line.decode())
        fault = None
    except UnicodeDecodeError:
        # Read on to find the command for the error reply; surrogates stand for the bad bytes.
        parsed = _parse_text(line.decode(errors="surrogateescape"))
        fault = MessageFault.INVALID_UTF8
    if b"\0" in line or b"\r" in line or b"\n" in line:
        fault = MessageFault.FORBIDDEN_CHARACTER
    if fault is None:
        return parsed
    return BadMessage(fault=fault, command=parsed.command if isinstance(parsed, IRCMessage) else "")


def _parse_text(text: str) -> IRCMessage | BadMessage:
    """The grammar, on text already checked for size and forbidden characters."""
    tags: dict[str, str] = {}
    tagged = text[:1] == "@"
    if tagged:
        tag_text, _, text = text[1:].partition(" ")
        for item in tag_text.split(";"):
            key, _, value = item.partition("=")
            if key:  # keys are opaque: only an empty one is skipped
                # A repeated key: the last value wins (at the key's first position).
                tags[key] = _ESCAPED.sub(_unescape_match, value) if "\\" in value else value
    text = text.lstrip(" ")
    source: str | None = None
    sourced = text[:1] == ":"
    if sourced:
        source, _, text = text[1:].partition(" ")
        source = source or None  # ": CMD" carries no source
        text = text.lstrip(" ")
    word, _, rest = text.partition(" ")
    if not word:
        return BadMessage(fault=MessageFault.NO_COMMAND if tagged or sourced else MessageFault.EMPTY)
    if not _is_command(word):
        return BadMessage(fault=MessageFault.INVALID_COMMAND, command=word)
    return IRCMessage(
        command=word.upper(), params=_split_params(rest), source=source, tags=tuple(tags.items())
    )


def _split_params(rest: str) -> tuple[str, ...]:
    """Middle parameters split on runs of spaces, then the ``:`` parameter as it is."""
    rest = rest.lstrip(" ")
    if rest[:1] == ":":
        return (rest[1:],)
    colon = rest.find(" :")
    if colon < 0:
        return tuple(param for param in rest.split(" ") if param)
    middles = [param for param in rest[:colon].split(" ") if param]
    middles.append(rest[colon + 2 :])
    return tuple(middles)


# -- writing -------------------------------------------------------------------------------------

_FORBIDDEN = ("\0", "\r", "\n")
_ESCAPES = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})


def _bad_key(key: str) -> bool:
    return not key or any(char in key for char in " ;=\0\r\n")


def _tag_section(tags: tuple[tuple[str, str], ...]) -> str | MessageFault:
    """``@k=v;k2 `` with values escaped, or what makes the tags unwritable."""
    items: list[str] = []
    seen: set[str] = set()
    for key, value in tags:
        if _bad_key(key) or key in seen:
            return MessageFault.INVALID_TAG
        seen.add(key)
        if "\0" in value:  # the one character the escaping cannot carry
            return MessageFault.FORBIDDEN_CHARACTER
        items.append(f"{key}={value.translate(_ESCAPES)}" if value else key)
    return "@" + ";".join(items) + " "


def _body(message: IRCMessage, force_trailing: bool) -> str | MessageFault:
    """``:source COMMAND params`` without CR LF, or what makes it unwritable."""
    if not _is_command(message.command):
        return MessageFault.INVALID_COMMAND
    parts: list[str] = []
    source = message.source
    if source is not None:
        if not source or " " in source:
            return MessageFault.INVALID_SOURCE
        parts.append(":" + source)
    parts.append(message.command)
    params = message.params
    if params:
        *middles, last = params
        for param in middles:
            if not param or " " in param or param[0] == ":":
                return MessageFault.INVALID_PARAM
        parts.extend(middles)
        needs_colon = force_trailing or not last or " " in last or last[0] == ":"
        parts.append(":" + last if needs_colon else last)
    body = " ".join(parts)
    if any(char in body for char in _FORBIDDEN):
        return MessageFault.FORBIDDEN_CHARACTER
    return body


def serialize_message(message: IRCMessage, *, force_trailing: bool = False) -> bytes | BadMessage:
    """The line for ``message``, CR LF included, or why it cannot be written.

    The last parameter gets a ``:`` when it must (empty, a space, a leading
    ``:``), or always with ``force_trailing`` (what servers do for message
    text, which some clients expect).  The output never holds NUL, and CR or
    LF only as the final CR LF.
    """
    command = message.command
    body = _body(message, force_trailing)
    if isinstance(body, MessageFault):
        return BadMessage(fault=body, command=command)
    tags = _tag_section(message.tags) if message.tags else ""
    if isinstance(tags, MessageFault):
        return BadMessage(fault=tags, command=command)
    try:
        body_bytes = body.encode()
        tag_bytes = tags.encode()
    except UnicodeEncodeError:
        return BadMessage(fault=MessageFault.INVALID_UTF8, command=command)
    if len(body_bytes) + 2 > MAX_LINE_BYTES:
        return BadMessage(fault=MessageFault.TOO_LONG, command=command)
    if len(tag_bytes) > MAX_TAGS_BYTES:
        return BadMessage(fault=MessageFault.TAGS_TOO_LONG, command=command)
    return tag_bytes + body_bytes + b"\r\n"


# -- long text -----------------------------------------------------------------------------------


def split_text(
    text: str, *, command: str, target: str, source: str | None = None, reserve: int = 0
) -> tuple[str, ...] | BadMessage:
    """Cut ``text`` into pieces that each fit one ``[:source] COMMAND target :piece`` line.

    Pieces end at a character boundary, never inside a UTF-8 sequence; when a
    space falls in the second half of a piece's room, the piece ends just
    after it (kept, at the end of the piece, where it is invisible), so words
    are not broken when they need not be.  Joined, the pieces are ``text``
    exactly; an empty text is one empty piece.  ``reserve`` is room kept for
    what the caller wraps around each piece (a CTCP ACTION's ``\\x01ACTION``
    and ``\\x01``).  Tags do not count: they have a limit of their own.
    """
    head = f"{command} {target} :" if source is None else f":{source} {command} {target} :"
    try:
        data = text.encode()
        room = MAX_LINE_BYTES - len(head.encode()) - 2 - reserve  # 2: CR LF
    except UnicodeEncodeError:
        return BadMessage(fault=MessageFault.INVALID_UTF8, command=command)
    if len(data) <= room:
        return (text,)
    pieces: list[str] = []
    start = 0
    while len(data) - start > room:
        end = start + room
        while end > start and data[end] & 0xC0 == 0x80:  # inside a character: back up to its start
            end -= 1
        if end <= start:  # not even one character fits
            return BadMessage(fault=MessageFault.TOO_LONG, command=command)
        space = data.rfind(b" ", start, end)
        if space >= start + room // 2:
            end = space + 1
        piece = whole_characters(data[start:end].decode(), data[end : end + 4].decode(errors="ignore")[:1])
        pieces.append(piece)
        start += len(piece.encode())
    pieces.append(data[start:].decode())
    return tuple(pieces)


#: Hangul: leading consonant jamo, vowel and trailing jamo, precomposed syllables.
_JAMO_L = ("\u1100", "\u115f")
_JAMO_VT = ("\u1160", "\u11ff")
_SYLLABLES = ("\uac00", "\ud7a3")
#: Regional indicators: a flag is a pair of them.
_REGIONAL = ("\U0001f1e6", "\U0001f1ff")
_REGIONAL_CHARS = "".join(map(chr, range(ord(_REGIONAL[0]), ord(_REGIONAL[1]) + 1)))


def _within(char: str, bounds: tuple[str, str]) -> bool:
    return bounds[0] <= char <= bounds[1]


def _extends(char: str) -> bool:
    """Whether ``char`` belongs with the character before it: a mark, a joiner, a modifier, a tag."""
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")  # combining marks, variation selectors
        or char == "\u200d"  # zero-width joiner
        or "\U0001f3fb" <= char <= "\U0001f3ff"  # emoji skin tones
        or "\U000e0020" <= char <= "\U000e007f"  # tag characters (subdivision flags)
    )


def _joined(piece: str, cut: int, following: str) -> bool:
    """Whether ``piece[cut - 1]`` and ``following`` are one user-perceived character (UAX #29, simplified)."""
    before = piece[cut - 1]
    if _extends(following) or before == "\u200d":
        return True
    if _within(before, _REGIONAL) and _within(following, _REGIONAL):  # an odd run ends in half a flag
        return (cut - len(piece[:cut].rstrip(_REGIONAL_CHARS))) % 2 == 1
    if _within(following, _JAMO_VT):  # a vowel or trailing jamo completes the syllable before it
        return any(_within(before, bounds) for bounds in (_JAMO_L, _JAMO_VT, _SYLLABLES))
    return _within(before, _JAMO_L) and (_within(following, _JAMO_L) or _within(following, _SYLLABLES))


def whole_characters(piece: str, following: str) -> str:
    """``piece`` without the start of a user-perceived character that ``following`` would complete.

    An IRC client shows each piece as a line of its own, so a piece that ended
    between an ``e`` and its accent, or inside a flag, would show it broken.
    A character too long for a whole piece (endless marks) is cut where it must be.
    """
    cut = len(piece)
    while cut > 0 and following and _joined(piece, cut, following):
        following = piece[cut - 1]
        cut -= 1
    return piece[:cut] if cut else piece


# -- formatting ----------------------------------------------------------------------------------

# Colour (\x03 with up to two digits, then a comma and up to two digits), hex colour (\x04 with
# six hex digits, then a comma and six more), and the one-character toggles and reset.
_FORMATTING = re.compile(
    "\x03(?:[0-9]{1,2}(?:,[0-9]{1,2})?)?"
    "|\x04(?:[0-9A-Fa-f]{6}(?:,[0-9A-Fa-f]{6})?)?"
    "|[\x02\x0f\x11\x16\x1d\x1e\x1f]"
)


def strip_formatting(text: str) -> str:
    """``text`` without IRC formatting codes (bold, colours, italics...), for a terminal.

    A comma after a colour code stays text unless a colour follows it, as
    clients display it.  Other control characters are left for the caller.
    """
    if text.isprintable():  # every formatting code is unprintable: the usual text skips the regex
        return text
    return _FORMATTING.sub("", text)

"""Shared items as bytes: what crosses Redis between the chat's nodes.

Every fact, reply and cluster message of the core is a frozen dataclass of
plain values (text, numbers, flags, enums, tuples, other such dataclasses,
any of them or None).
So one codec serves them all, by their fields: an item is written as a JSON
array, its type's name then its fields in order, and read back by the
fields' type hints.  The types it knows are found by walking the core's
``Shared`` union and the types their fields name, so a new fact type crosses
nodes without a line of code here.

A message on the wire is ``[node, epoch, ticket, item]``: the node that
shared it, its epoch (receivers drop messages from a node fenced since), its
ticket (the origin matches its own items by it), and the item.  JSON keeps
every control character escaped, so a message never holds a raw tab or
line break and can end a tab-separated directory event.

Reading never trusts the bytes: anything that is not a message of a known
type with values of the right types raises ``CodecError``, which the
bridge logs and drops; a node's bad message never breaks another node.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import json.encoder
import json.scanner
import types
import typing
from collections.abc import Callable
from typing import Any

from sansio_chat import Shared

#: JSON without spaces, UTF-8 kept as is: the smallest message.
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
#: A text as a JSON string (every control character escaped): ``json``'s own C function.
_text = json.encoder.encode_basestring
#: ``json``'s C scanner, called on the text directly: ``json.loads`` adds an encoding guess, a
#: regular expression for white space and three Python calls around it, on every message.
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(typing.cast(Any, json.JSONDecoder()))
#: Nested values (a speaker's identity, say) remembered encoded or decoded, at most: each cache
#: is emptied when full, since most messages come from a few speakers at a time.
CACHE_SIZE = 1024


class CodecError(ValueError):
    """Bytes that are not a message of a known shared item."""


Decoder = Callable[[Any], Any]


class Codec:
    """Encodes and decodes every shared item type reachable from ``roots`` (the core's ``Shared``).

    Each type gets its encoder and decoder once, written out as functions
    over its fields: a message costs one pass over its fields to write it
    as JSON text, and a ``json`` scan and one call of each type to read it.
    A nested item (the speaker's identity in words, say) is kept encoded
    and decoded in a bounded cache: the same few speakers say most things.
    """

    def __init__(self, roots: object = Shared) -> None:
        self._classes: dict[str, type[Any]] = {}
        self._encoders: dict[type[Any], Encoder] = {}
        self._decoders: dict[str, Decoder] = {}
        self._nested: dict[type[Any], Decoder] = {}  # decoders of one type as a field's value
        for kind in typing.get_args(roots):
            self._learn(kind)

    @property
    def types(self) -> tuple[type[Any], ...]:
        """Every dataclass the codec knows (items and the values in them)."""
        return tuple(self._classes.values())

    # -- learning the types --------------------------------------------------------------

    def _learn(self, kind: type[Any]) -> None:
        name = kind.__name__
        known = self._classes.get(name)
        if known is kind:
            return
        if known is not None:
            raise TypeError(f"two shared types are named {name}")
        self._classes[name] = kind
        fields = dataclasses.fields(kind)
        names = tuple(field.name for field in fields)
        hints = typing.get_type_hints(kind)
        plans = [self._plan(hints[field]) for field in names]
        self._encoders[kind] = _item_encoder(name, names, tuple(encode for encode, _ in plans))
        decoders = tuple(decode for _, decode in plans)
        self._decoders[name] = _item_decoder(kind, names, decoders)
        if all(decode in _PLAIN_NAMES for decode in decoders):  # plain fields only: decoded once
            self._nested[kind] = _item_decoder(kind, names, decoders, cached=True)

    def _plan(self, hint: Any) -> tuple[Encoder | str, Decoder]:
        """How to write (a function, or the name of a plain type) and read a value of type ``hint``."""
        if hint is bool or hint is int or hint is str:
            return hint.__name__, _PLAIN[hint]
        if hint is float:
            return _dumps, _float
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            return _enum_encoder(hint), _enum(hint)
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            self._learn(hint)
            return _cached_encoder(self._encode_item), self._one_type(hint)
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            each_encode, each_decode = self._plan(args[0])
            return _list_of(each_encode), _sequence(each_decode, tuple)
        if origin is tuple:
            parts = [self._plan(arg) for arg in args]
            return _fixed_encoder(tuple(e for e, _ in parts)), _fixed(tuple(d for _, d in parts))
        if (origin is types.UnionType or origin is typing.Union) and len(args) == 2 and type(None) in args:
            encode, decode = self._plan(next(arg for arg in args if arg is not type(None)))
            return _or_none_encoder(encode), _or_none(decode)
        raise TypeError(f"a shared item cannot hold a {hint!r}")

    def _one_type(self, kind: type[Any]) -> Decoder:
        """The decoder of a field that holds a ``kind`` (looked up when a message is read: it may not be
        written out yet while the types are being learned)."""
        name = kind.__name__

        def decode(value: Any) -> Any:
            if type(value) is not list or not value or value[0] != name:  # (another type: refused)
                raise CodecError(f"expected a {name}")
            nested = self._nested.get(kind)
            return nested(value) if nested is not None else self._decoders[name](value)

        return decode

    # -- encoding ---------------------------------------------------------------------------

    def message(self, node: str, epoch: int, ticket: int, item: Shared) -> bytes:
        """The message for ``item`` shared by ``node`` (its ``epoch``, its ``ticket``), as bytes."""
        return f"[{_text(node)},{epoch:d},{ticket:d},{self._encode_item(item)}]".encode()

    def _encode_item(self, value: Any) -> str:
        encoder = self._encoders.get(type(value))
        if encoder is None:
            raise TypeError(f"not a shared type: {type(value).__name__}")
        return encoder(value)

    # -- a node's own messages ---------------------------------------------------------------

    @staticmethod
    def head(node: str) -> bytes:
        """How every message of ``node`` begins (``["node",``)."""
        return _dumps([node]).encode()[:-1] + b","

    @staticmethod
    def ticket_after(data: bytes, head: bytes) -> int | None:
        """The ticket of a message that begins with ``head``, read from its head alone (None: not one).

        A node hears its own messages back, and has their items in hand
        already: their ticket is all it needs, not a second decoding.
        """
        if not data.startswith(head):
            return None
        parts = data[len(head) : len(head) + 48].split(b",", 2)
        if len(parts) < 3 or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        return int(parts[1])

    # -- decoding ---------------------------------------------------------------------------

    def read(self, data: bytes) -> tuple[str, int, int, Shared]:
        """The node, epoch, ticket and item in ``data``; ``CodecError`` for anything else."""
        try:
            text = data.decode()
            message, end = _scan(text, 0)
        except StopIteration:
            raise CodecError("not JSON") from None
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise CodecError(f"not JSON: {exc}") from None
        if end != len(text):
            raise CodecError("not JSON: more after the message")
        if type(message) is not list or len(message) != 4:
            raise CodecError("not a [node, epoch, ticket, item] message")
        node, epoch, ticket, item = message
        if type(node) is not str or type(epoch) is not int or type(ticket) is not int:
            raise CodecError("bad node, epoch or ticket")
        return node, epoch, ticket, self._decode_item(item)

    def _decode_item(self, value: Any) -> Any:
        if type(value) is not list or not value:
            raise CodecError("an item is a list starting with its type's name")
        decoder = self._decoders.get(value[0]) if type(value[0]) is str else None
        if decoder is None:
            raise CodecError(f"unknown type {value[0]!r}")
        return decoder(value)


Encoder = Callable[[Any], str]

#: How a plain field is written, inline in an item's encoder (``_i`` and ``_t`` are in its scope).
_PLAIN_CODE = {
    "str": "{{_t(value.{field})}}",
    "int": "{{_i(value.{field})}}",
    "bool": '{{"true" if value.{field} else "false"}}',
}


def _item_encoder(name: str, names: tuple[str, ...], encoders: tuple[Encoder | str, ...]) -> Encoder:
    """``[name, field...]`` for an item, as JSON text.

    Written out for its type once, like its decoder: one f-string, a plain
    field (text, a whole number, a flag) converted inline, the others by
    their encoder.  Building a list for ``json`` to walk cost twice as much.
    """
    scope: dict[str, Any] = {"_t": _text, "_i": int.__repr__, "_name": _text(name)}
    parts = ["{_name}"]
    for at, (field, encode) in enumerate(zip(names, encoders, strict=True)):
        if isinstance(encode, str):
            parts.append(_PLAIN_CODE[encode].format(field=field))
        else:
            scope[f"_e{at}"] = encode
            parts.append(f"{{_e{at}(value.{field})}}")
    source = f"def encode_item(value):\n    return f'[{','.join(parts)}]'"
    exec(source, scope)  # our own text: the type's field names (identifiers) and numbers
    encode_item: Encoder = scope["encode_item"]
    return encode_item


def _item_decoder(
    kind: type[Any], names: tuple[str, ...], decoders: tuple[Decoder, ...], *, cached: bool = False
) -> Decoder:
    """An item from ``[name, field...]``, each field checked (or converted) by its decoder.

    The function is written out for its type once, as ``dataclasses`` writes
    an ``__init__``: one call of the type with every field by name, a plain
    field (text, a number, a flag) checked inline, the others through their
    decoder.  A loop over the fields building keyword arguments cost twice
    as much, and every message that crosses a node pays it.  ``cached`` (a
    type of plain fields only): an item read before, checked field by field
    again, is the one made then.
    """
    size = len(names) + 1
    scope: dict[str, Any] = {
        "_kind": kind,
        "_bad": _bad_field,
        "CodecError": CodecError,
        "_cache": {},
        "_size": CACHE_SIZE,
    }
    values, checks = [], []
    for at, (name, decode) in enumerate(zip(names, decoders, strict=True), start=1):
        plain = _PLAIN_NAMES.get(decode)
        if plain is None:
            scope[f"_d{at}"] = decode
            values.append(f"{name}=_d{at}(value[{at}])")
        else:
            scope[plain] = _PLAIN_TYPES[plain]
            checks.append(f"type(value[{at}]) is not {plain}")
            values.append(f"{name}=value[{at}]")
    lookup = [
        "    key = tuple(value)",  # (only once every field has its exact type: 1 == True, but not here)
        "    item = _cache.get(key)",
        "    if item is not None:",
        "        return item",
    ]
    keep = [
        "    if len(_cache) >= _size:",
        "        _cache.clear()",
        "    _cache[key] = item",
        "    return item",
    ]
    source = "\n".join(
        [
            "def decode_item(value):",
            f"    if len(value) != {size}:",
            f"        raise CodecError(f'{{value[0]}} has {size - 1} fields, not {{len(value) - 1}}')",
            *([f"    if {' or '.join(checks)}:", "        _bad(value, _kind)"] if checks else []),
            *(lookup if cached else []),
            "    try:",
            f"        item = _kind({', '.join(values)})",
            "    except CodecError:",
            "        raise",
            "    except (TypeError, ValueError) as exc:  # a value its type refuses",
            "        raise CodecError(f'bad {value[0]}: {exc}') from None",
            *(keep if cached else ["    return item"]),
        ]
    )
    exec(source, scope)  # our own text: the type's field names (identifiers) and numbers
    decode_item: Decoder = scope["decode_item"]
    return decode_item


def _bad_field(value: list[Any], kind: type[Any]) -> None:
    """Which plain field of ``value`` has a value of the wrong type: the error to raise."""
    hints = typing.get_type_hints(kind)
    for field, each in zip(dataclasses.fields(kind), value[1:], strict=True):
        expected = hints[field.name]
        if expected in _PLAIN and type(each) is not expected:
            raise CodecError(f"expected {expected.__name__}, got {type(each).__name__}")
    raise AssertionError("a plain field was refused, and none is wrong")  # pragma: no cover


def _as_function(encode: Encoder | str) -> Encoder:
    """A plain type's encoder as a function (inside a list or an optional value)."""
    if encode == "str":
        return _text
    if encode == "int":
        return int.__repr__
    if encode == "bool":
        return _bool
    assert not isinstance(encode, str)
    return encode


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _enum_encoder(kind: type[enum.Enum]) -> Encoder:
    """A member as its value's JSON, looked up by the member's identity (members are never copied)."""
    texts = {id(member): _dumps(member.value) for member in kind}

    def encode(value: enum.Enum) -> str:
        text = texts.get(id(value))
        return text if text is not None else _dumps(value.value)  # (a combination of flags)

    return encode


def _cached_encoder(encode: Encoder) -> Encoder:
    """``encode`` for nested items, remembered by the item's identity (a frozen item never changes).

    A user's identity is one object until the nickname changes, and it is
    in every message the user says: it is written once.
    """
    cache: dict[int, tuple[Any, str]] = {}

    def encode_cached(value: Any) -> str:
        hit = cache.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        text = encode(value)
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        cache[id(value)] = (value, text)  # (the value kept alive: its id is not reused meanwhile)
        return text

    return encode_cached


def _list_of(encode: Encoder | str) -> Encoder:
    each = _as_function(encode)
    return lambda values: f"[{','.join(map(each, values))}]"


def _fixed_encoder(encoders: tuple[Encoder | str, ...]) -> Encoder:
    each = tuple(_as_function(encode) for encode in encoders)
    return lambda values: f"[{','.join(e(value) for e, value in zip(each, values, strict=True))}]"


def _exactly(kind: type[Any]) -> Decoder:
    def decode(value: Any) -> Any:
        if type(value) is not kind:
            raise CodecError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value

    return decode


#: The plain types, written as they are and checked on reading (inline, by name, in an item's decoder).
_PLAIN: dict[Any, Decoder] = {kind: _exactly(kind) for kind in (bool, int, str)}
_PLAIN_NAMES = {decode: kind.__name__ for kind, decode in _PLAIN.items()}
_PLAIN_TYPES: dict[str, type[Any]] = {kind.__name__: kind for kind in _PLAIN}


def _float(value: Any) -> float:
    """A number: JSON may write a whole one without its ``.0``."""
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise CodecError(f"expected float, got {type(value).__name__}")


def _or_none_encoder(encode: Encoder | str) -> Encoder:
    each = _as_function(encode)
    return lambda value: "null" if value is None else each(value)


def _or_none(decode: Decoder) -> Decoder:
    return lambda value: None if value is None else decode(value)


def _enum(kind: type[enum.Enum]) -> Decoder:
    members = {member.value: member for member in kind}  # (a flag's combinations are not all here)

    def decode(value: Any) -> Any:
        member = members.get(value) if type(value) is not list and type(value) is not dict else None
        if member is not None:
            return member
        try:
            return kind(value)
        except (ValueError, TypeError):
            raise CodecError(f"not a {kind.__name__}: {value!r}") from None

    return decode


def _sequence(each: Decoder, container: Callable[[Any], Any]) -> Decoder:
    def decode(value: Any) -> Any:
        if type(value) is not list:
            raise CodecError("expected a list")
        return container([each(item) for item in value]) if value else container(())

    return decode


def _fixed(decoders: tuple[Decoder, ...]) -> Decoder:
    def decode(value: Any) -> Any:
        if type(value) is not list or len(value) != len(decoders):
            raise CodecError(f"expected a list of {len(decoders)}")
        return tuple(each(item) for each, item in zip(decoders, value, strict=True))

    return decode

"""The codec: every shared type crosses Redis and comes back equal; bad bytes are refused, never trusted.

The types are the core's own (every fact, ``Hello``, ``Present`` and what
they hold), found by the codec itself: a fact type added to the core is
covered here without a line of test code.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.cluster.codec import CACHE_SIZE, Codec, CodecError
from sansio_chat import Hello, Shared
from sansio_chat._facts import Fact, RealnameChanged, UserModesChanged
from sansio_chat._replies import Identity, Rank, Said
from sansio_chat._shared import Present, PresentUser
from sansio_chat._users import UserInfo

CODEC = Codec()
SHARED_TYPES = typing.get_args(Shared)
FACT_TYPES = typing.get_args(Fact)


def _has_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


@pytest.mark.parametrize("kind", [*FACT_TYPES, *SHARED_TYPES[1:]], ids=lambda kind: kind.__name__)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_shared_type_round_trips(kind: type[Any], data: st.DataObject) -> None:
    item = data.draw(st.from_type(kind))
    message = ("node-1", 3, 7, item)
    payload = CODEC.message(*message)
    back = CODEC.read(payload)
    assert type(back[3]) is kind
    assert CODEC.message(*back) == payload
    if b"NaN" not in payload:  # (NaN is never equal to itself)
        assert back == message
    assert b"\n" not in payload and b"\t" not in payload  # it can end a tab-separated line


def test_words_for_the_members_of_a_rank_keep_their_rank_across_nodes() -> None:
    said = Said(
        source=Identity(uid=5, nick="joe"), room="#chan", text="ops?", msgid="m1", to_rank=Rank.OPERATOR
    )
    assert CODEC.read(CODEC.message("node-1", 1, 2, said)) == ("node-1", 1, 2, said)
    plain = Said(source=said.source, room="#chan", text="hi")
    assert CODEC.read(CODEC.message("node-1", 1, 3, plain))[3].to_rank is None  # type: ignore[union-attr]


def test_a_bot_and_a_new_real_name_cross_nodes_as_they_are() -> None:
    robo = Identity(uid=9, nick="robo", mask="robo!~robo@irc.invalid", line_sized=True, bot=True)
    info = UserInfo(username="~robo", realname="Robo the Bot", host="irc.invalid", line_sized=True)
    items: list[Shared] = [
        Said(source=robo, room="#lab", text="beep", msgid="m7"),
        UserModesChanged(user=9, bot=True),
        RealnameChanged(user=9, realname="Robo the Bot"),
        Present(
            node=1,
            to=2,
            round=1,
            users=(PresentUser(uid=9, nick="robo", operator=False, rooms=(), info=info, bot=True),),
        ),
    ]
    for ticket, item in enumerate(items):
        assert CODEC.read(CODEC.message("node-1", 1, ticket, item)) == ("node-1", 1, ticket, item)


def test_a_speakers_identity_is_read_once_and_still_checked_every_time() -> None:
    codec = Codec()
    joe = Identity(uid=5, nick="joe", mask="joe!j@host", line_sized=True)
    first = codec.read(codec.message("n", 1, 1, Said(source=joe, room="#a", text="1")))[3]
    again = codec.read(codec.message("n", 1, 2, Said(source=joe, room="#a", text="2")))[3]
    assert first.source == joe and again.source is first.source  # type: ignore[union-attr]
    with pytest.raises(CodecError):  # 1 == True, yet a number is not a flag
        codec.read(
            b'["n",1,3,["Said",["Identity",5,"joe","joe!j@host",1,false],"#a","3","words","",[],null]]'
        )


def test_an_identity_is_written_by_its_value_not_by_the_speaker() -> None:
    codec = Codec()
    joe = Identity(uid=5, nick="joe")
    said = Said(source=joe, room="#a", text="hi")
    same = Said(source=Identity(uid=5, nick="joe"), room="#a", text="hi")
    assert codec.message("n", 1, 1, said) == codec.message("n", 1, 1, same)
    renamed = Said(source=Identity(uid=5, nick="jim"), room="#a", text="hi")
    assert codec.read(codec.message("n", 1, 2, renamed))[3] == renamed


def test_the_codec_knows_every_fact_type_of_the_core() -> None:
    assert set(FACT_TYPES) <= set(CODEC.types)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"[]",
        b'["n", 1, 2]',
        b'[1, 1, 2, ["Hello", 1, 1]]',
        b'["n", 1, 2, ["Nope"]]',
        b'["n", 1, 2, ["Hello", 1]]',
        b'["n", 1, 2, ["Hello", "1", 1]]',
        b'["n", 1, 2, ["Dropped", 1, "no such reason", false]]',
        b'["n", 1, 2, ["Joined", 1, "#a", "late", []]]',
        b'["n", 1, 2, ["Joined", 1, "#a", 1.5, "#b"]]',
        b'["n", 1, 2, []]',
        b'["n", 1, 2, "Hello"]',
        b"\xff",
        b'["n",1,2,["Hello",1,1]] ["n",1,2,["Hello",1,1]]',
        # A known type where another one goes (a speaker, a user of a presence), or no item at all:
        b'["n", 1, 2, ["Kicked", ["Hello", 1, 2], "#a", 5, "bye"]]',
        b'["n", 1, 2, ["Present", 1, 2, 3, [["Hello", 1, 2]], []]]',
        b'["n", 1, 2, ["Kicked", "joe", "#a", 5, "bye"]]',
        b'["n", 1, 2, ["Joined", 1, "#a", 1.5, [1]]]',  # a number among room names
        b'["n",1,3,["Said",["Identity",5,"joe","",false,false],"#a","3","words","",[["k"]],null]]',
    ],
)
def test_bad_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(CodecError):
        CODEC.read(data)


def test_a_whole_number_is_read_where_a_float_is_expected() -> None:
    joined = CODEC.read(b'["n", 1, 2, ["Joined", 5, "#a", 12, []]]')[3]
    assert joined.at == 12.0 and type(joined.at) is float  # type: ignore[union-attr]


@settings(max_examples=50, deadline=None)
@given(node=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=64))
def test_a_node_reads_the_ticket_of_its_own_messages_from_their_head(node: str) -> None:
    payload = CODEC.message(node, 12, 345, Hello(node=1, round=2))
    assert Codec.ticket_after(payload, Codec.head(node)) == 345
    assert Codec.ticket_after(payload, Codec.head(node + "x")) is None


@pytest.mark.parametrize("data", [b'["n",', b'["n",1', b'["n",x,2,[]]', b'["n",1,-2,[]]', b'["m",1,2,[]]'])
def test_a_head_that_is_not_a_message_of_this_node_has_no_ticket(data: bytes) -> None:
    assert Codec.ticket_after(data, Codec.head("n")) is None


def test_many_speakers_are_written_right_after_the_encoders_cache_is_emptied() -> None:
    codec = Codec()
    speakers = [Identity(uid=uid, nick=f"u{uid}") for uid in range(CACHE_SIZE + 10)]
    for ticket, speaker in enumerate([*speakers, *speakers]):
        said = Said(source=speaker, room="#a", text="hi")
        assert codec.read(codec.message("n", 1, ticket, said))[3] == said


@dataclass(frozen=True)
class Odd:
    """A shared type the codec cannot carry: a field of a type it does not know."""

    values: dict[str, int]


def test_a_type_the_codec_cannot_carry_is_refused_when_it_is_built_not_on_the_wire() -> None:
    with pytest.raises(TypeError, match="cannot hold"):
        Codec(Odd | Hello)
    with pytest.raises(TypeError, match="two shared types are named Hello"):
        Codec(Hello | _other_hello())
    with pytest.raises(TypeError, match="not a shared type: Odd"):
        CODEC.message("n", 1, 1, Odd(values={}))  # type: ignore[arg-type]


def _other_hello() -> type[Any]:
    @dataclass(frozen=True)
    class Hello:
        node: int

    return Hello

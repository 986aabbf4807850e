"""Terminal safety: no control character reaches a text client, whatever dialect the words came from.

Text clients cannot type control characters (their lines are refused), so
this rule is for words from other dialects (IRC allows ``\\x02``, ``\\x03``...)
and is checked where a reply is rendered for a text client: here, on the
text renderer itself, since no other dialect exists yet to send such words.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sansio_chat._replies import Identity, KickedYou, Said, Speech, Told, TopicSet
from sansio_chat._text_dialect import TextRenderer, terminal_safe

IRCUSER = Identity(uid=1, nick="ircuser")
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f]")


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("plain text", "plain text"),
        ("tab\tkept", "tab\tkept"),
        (
            "\x02bold\x02 and \x1ditalic\x1d \x1funder\x1f \x1estrike\x1e \x11mono\x11",
            "bold and italic under strike mono",
        ),
        ("\x16reverse\x0f reset", "reverse reset"),
        ("\x034red\x03 \x0304,12red on blue\x03 \x03,5 comma", "red red on blue ,5 comma"),
        ("\x03123 three digits", "3 three digits"),
        ("\x04FF0000red\x04 \x04ff0000,00FF00pair\x04 \x04ABC short", "red pair ABC short"),
        (
            "bell\x07 escape\x1b[2J nul\x00 del\x7f csi\x9b cr\r lf\n",
            "bell\ufffd escape\ufffd[2J nul\ufffd del\ufffd csi\ufffd cr\ufffd lf\ufffd",
        ),
        ("\x01ACTION waves\x01", "\ufffdACTION waves\ufffd"),
        ("\u00a0\u200b\u2028 kept", "\u00a0\u200b\u2028 kept"),
    ],
)
def test_formatting_is_stripped_and_other_controls_replaced(text: str, safe: str) -> None:
    assert terminal_safe(text) == safe


@pytest.mark.parametrize(
    "reply",
    [
        Said(source=IRCUSER, room="#lobby", text="\x02hi\x02\x07"),
        Said(source=IRCUSER, room="#lobby", text="\x1b[31mred", kind=Speech.ACTION),
        Told(source=IRCUSER, recipient="bob", text="\x03" + "4psst\r\n"),
        TopicSet(nick="ircuser", room="#lobby", topic="\x1b]0;title\x07"),
        KickedYou(room="#lobby", victim="bob", kicker="ircuser", reason="\x00bye"),
    ],
    ids=lambda reply: type(reply).__name__,
)
def test_rendered_lines_carry_no_control_character(reply: Said | Told | TopicSet | KickedYou) -> None:
    data = TextRenderer().render(reply)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert not CONTROL.search(data.decode()[:-1])


@given(text=st.text(max_size=40))
def test_any_words_render_as_one_safe_line(text: str) -> None:
    data = TextRenderer().render(Said(source=Identity(uid=2, nick="someone"), room="#lobby", text=text))
    line = data.decode()
    assert line.endswith("\n") and not CONTROL.search(line[:-1])
    if not CONTROL.search(text):
        assert line == f"[someone] {text}\n"  # printable words (and TAB) go through untouched

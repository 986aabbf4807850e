"""The output queue: bytes handed to the kernel joined, partial sends resumed where they stopped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters._output import WRITE_CHUNK, OutputQueue


def test_an_empty_queue_and_empty_appends() -> None:
    out = OutputQueue()
    out.append(b"")
    assert not out
    assert len(out) == 0


def test_pieces_go_out_joined_and_a_partial_send_resumes_without_a_copy() -> None:
    out = OutputQueue()
    for piece in (b"one\n", b"two\n", b"three\n"):
        out.append(piece)
    assert len(out) == 14
    view = out.next_write()
    assert bytes(view) == b"one\ntwo\nthree\n"
    out.consume(5)
    assert len(out) == 9
    again = out.next_write()
    assert bytes(again) == b"wo\nthree\n"
    assert again.obj is view.obj  # the same buffer, from an offset
    out.consume(9)
    assert not out


def test_one_send_takes_at_most_a_write_chunk_of_joined_pieces() -> None:
    out = OutputQueue()
    piece = b"x" * (WRITE_CHUNK // 4 + 1)
    for _ in range(8):
        out.append(piece)
    first = out.next_write()
    assert WRITE_CHUNK <= len(first) < WRITE_CHUNK + len(piece)
    out.consume(len(first))
    assert len(out) == 8 * len(piece) - len(first)
    out.clear()
    assert not out and len(out) == 0


def test_a_large_piece_is_handed_out_as_it_is() -> None:
    out = OutputQueue()
    big = bytes(3 * WRITE_CHUNK)
    out.append(big)
    out.append(b"tail")
    view = out.next_write()
    assert view.obj is big


@given(
    pieces=st.lists(st.binary(max_size=300), max_size=20),
    takes=st.lists(st.integers(min_value=0, max_value=500), max_size=40),
)
def test_whatever_the_kernel_takes_the_bytes_come_out_in_order_once(
    pieces: list[bytes], takes: list[int]
) -> None:
    out = OutputQueue()
    for piece in pieces:
        out.append(piece)
    sent = bytearray()
    for take in takes:
        if not out:
            break
        view = out.next_write()
        count = min(take, len(view))
        sent += view[:count]
        out.consume(count)
    while out:
        view = out.next_write()
        sent += view
        out.consume(len(view))
    assert bytes(sent) == b"".join(pieces)

"""Checks shared by the stress tests: the server's log, and what a set of clients saw."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tests.conformance.server import ServerProcess

_LOUD = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) .*$", re.MULTILINE)


def assert_quiet_log(server: ServerProcess, *, allowed: Sequence[str] = ()) -> None:
    """No traceback, and nothing at warning level or above except lines matching ``allowed``."""
    output = server.output
    assert "Traceback" not in output, f"{server.backend}: traceback in the server's log:\n{output[-4000:]}"
    loud = [m[0] for m in _LOUD.finditer(output) if not any(re.search(a, m[0]) for a in allowed)]
    assert not loud, f"{server.backend}: warnings or errors in the server's log: {loud[:10]}"


def assert_same_order(sequences: dict[str, list[str]]) -> list[str]:
    """Every sequence is the same; returns it (messages from a peer's point of view must agree)."""
    items = iter(sequences.items())
    first_name, first = next(items)
    for name, seq in items:
        if seq != first:
            at = next((i for i, (a, b) in enumerate(zip(first, seq, strict=False)) if a != b), None)
            at = min(len(first), len(seq)) if at is None else at
            raise AssertionError(
                f"{name} and {first_name} differ at line {at} of {len(seq)}/{len(first)}: "
                f"{seq[at : at + 3]!r} vs {first[at : at + 3]!r}"
            )
    return first

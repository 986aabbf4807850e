"""The transport layers are sans-IO: no sockets, threads, event loops, signals or clocks.

``ssl`` is allowed (for ``SSLObject`` and ``MemoryBIO``), as are h11 and
wsproto; the stack is driven with bytes and a time it is given.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TRANSPORT = Path(__file__).resolve().parents[2] / "adapters" / "transport"
FORBIDDEN = {
    "asyncio",
    "concurrent",
    "datetime",
    "logging",
    "multiprocessing",
    "os",
    "random",
    "select",
    "selectors",
    "signal",
    "socket",
    "subprocess",
    "threading",
    "time",
}
IO_BUILTINS = {"open", "print", "input"}


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted(TRANSPORT.glob("*.py")), ids=lambda p: p.name)
def test_a_layer_does_no_io_of_its_own(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    assert not _imports(tree) & FORBIDDEN
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not calls & IO_BUILTINS

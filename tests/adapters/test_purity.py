"""The backends' shared decisions are sans-IO: no socket, selector, thread, event loop, signal or clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"
#: The modules that decide without doing: closing, timers, the accept policy, the output queue, the
#: connection table, the driver's side of the transport layers, the flush policy.
PURE = [
    "_lifecycle.py",
    "_timers.py",
    "_flush_policy.py",
    "_accept.py",
    "_output.py",
    "_table.py",
    "_layers.py",
]
FORBIDDEN = {
    "asyncio",
    "logging",
    "os",
    "select",
    "selectors",
    "signal",
    "socket",
    "ssl",
    "subprocess",
    "threading",
    "time",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


@pytest.mark.parametrize("module", PURE)
def test_the_deciding_modules_import_no_io(module: str) -> None:
    assert _imports(ADAPTERS / module) & FORBIDDEN == set()

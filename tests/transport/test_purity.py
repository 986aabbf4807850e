"""The transport layers are sans-IO: no sockets, threads, event loops, signals or clocks.

``ssl`` is allowed (for ``SSLObject`` and ``MemoryBIO``), as are h11 and
wsproto; the stack is driven with bytes and a time it is given.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.core.test_purity import FORBIDDEN as CORE_FORBIDDEN
from tests.core.test_purity import IO_BUILTINS, imported_modules

TRANSPORT = Path(__file__).resolve().parents[2] / "adapters" / "transport"
#: The core's list, but ``ssl`` is what the TLS layer is made of.
FORBIDDEN = (CORE_FORBIDDEN - {"ssl"}) | {"os"}


@pytest.mark.parametrize("path", sorted(TRANSPORT.glob("*.py")), ids=lambda p: p.name)
def test_a_layer_does_no_io_of_its_own(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    assert not imported_modules(tree) & FORBIDDEN
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not calls & IO_BUILTINS

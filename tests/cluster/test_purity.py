"""The link is sans-IO like the core: no sockets, threads, event loops, clocks or randomness."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.core.test_purity import FORBIDDEN_DIRECTLY, IO_BUILTINS, imported_modules

CLUSTER = Path(__file__).resolve().parents[2] / "adapters" / "cluster"


def cluster_files() -> list[Path]:
    files = sorted(CLUSTER.glob("*.py"))
    assert len(files) >= 8
    return files


@pytest.mark.parametrize("path", cluster_files(), ids=lambda p: p.name)
def test_no_cluster_module_does_io_or_reads_a_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert imported_modules(tree) & FORBIDDEN_DIRECTLY == set()
    calls = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert calls & IO_BUILTINS == set()

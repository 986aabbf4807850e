"""The core is sans-IO: no sockets, threads, event loops, signals or clocks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "sansio_chat"

#: Modules that would mean I/O, concurrency, signals, or reading a clock.
FORBIDDEN = {
    "asyncio",
    "concurrent",
    "datetime",
    "logging",
    "multiprocessing",
    "random",
    "secrets",
    "select",
    "selectors",
    "signal",
    "_signal",
    "socket",
    "_socket",
    "ssl",
    "subprocess",
    "_posixsubprocess",
    "threading",
    "time",
}
#: Not imported by the core itself, even if the standard library loads them
#: (``reprlib`` takes ``_thread.get_ident``, ``inspect`` loads ``os``).
FORBIDDEN_DIRECTLY = FORBIDDEN | {"_thread", "io", "os", "pathlib", "shutil", "sys", "tempfile"}
#: Builtins that do I/O.
IO_BUILTINS = {"open", "print", "input", "breakpoint"}

PROBE = """
import sys
sys.path.insert(0, {root!r})
# Builtins loaded at startup would hide an import of theirs: forget them first.
for name in ("time", "_signal"):
    sys.modules.pop(name, None)
before = set(sys.modules)
import sansio_chat
print(" ".join(sorted(set(sys.modules) - before)))
"""


def test_importing_the_core_loads_no_io_module() -> None:
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", PROBE.format(root=str(ROOT))],
        capture_output=True,
        text=True,
        check=True,
    )
    new = set(result.stdout.split())
    assert "sansio_chat._chat" in new  # the probe did import the core
    assert {name.split(".")[0] for name in new} & FORBIDDEN == set()


def test_the_probe_would_notice_a_clock() -> None:
    code = PROBE.format(root=str(ROOT)).replace("import sansio_chat", "import time")
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert "time" in result.stdout.split()


def core_files() -> list[Path]:
    files = sorted(CORE.glob("*.py"))
    assert len(files) >= 10
    return files


def imported_modules(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", core_files(), ids=lambda p: p.name)
def test_no_core_module_imports_io(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert imported_modules(tree) & FORBIDDEN_DIRECTLY == set()


@pytest.mark.parametrize("path", core_files(), ids=lambda p: p.name)
def test_no_core_module_calls_an_io_builtin(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert calls & IO_BUILTINS == set()


def test_the_scan_sees_every_kind_of_import() -> None:
    tree = ast.parse(
        "import os.path\nfrom socket import socket\nfrom . import _events\nimport time as clock\n"
    )
    assert imported_modules(tree) == {"os", "socket", "time"}

"""The wheel installs what it should under names of ours, with its license, entry point and typing marker."""

from __future__ import annotations

import email.parser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Installed package -> the folder of the repository it comes from.
PACKAGES = {"sansio_chat": "sansio_chat", "sansio_chat_adapters": "adapters"}
#: What a build reads from the repository.
SOURCES = ["pyproject.toml", "README.md", "LICENSE", *PACKAGES.values()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built the way pip builds one (in an isolated environment), from a copy of the sources."""
    tree = tmp_path_factory.mktemp("tree")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, tree / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), str(tree)],
        check=True,
        timeout=300,
    )
    [built] = out.glob("*.whl")
    return zipfile.ZipFile(built)


def _metadata(wheel: zipfile.ZipFile) -> email.message.Message:
    [name] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return email.parser.Parser().parsestr(wheel.read(name).decode())


def test_the_wheel_installs_no_top_level_name_but_ours(wheel: zipfile.ZipFile) -> None:
    top_level = {name.partition("/")[0] for name in wheel.namelist()}
    dist_info = {name for name in top_level if name.endswith(".dist-info")}
    assert top_level - dist_info == set(PACKAGES)
    [info] = dist_info
    assert wheel.read(f"{info}/top_level.txt").decode().split() == sorted(PACKAGES)


def test_every_module_of_the_tree_is_in_the_wheel_with_its_typing_marker(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for package, folder in PACKAGES.items():
        expected = {
            f"{package}/{path.relative_to(ROOT / folder).as_posix()}"
            for path in (ROOT / folder).rglob("*")
            if path.suffix == ".py" or path.name == "py.typed"
        }
        assert f"{package}/py.typed" in expected
        assert expected <= names, sorted(expected - names)


def test_the_command_license_and_python_versions(wheel: zipfile.ZipFile) -> None:
    [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    assert "sansio-chat = sansio_chat_adapters.cli:main" in wheel.read(entry_points).decode()
    metadata = _metadata(wheel)
    assert metadata["License-Expression"] == "MIT"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.namelist())
    assert metadata["Requires-Python"] == ">=3.11"
    running = f"Programming Language :: Python :: {sys.version_info.major}.{sys.version_info.minor}"
    assert running in metadata.get_all("Classifier", [])

"""The installed ``sansio-chat`` command, and whether it runs the code of this tree.

The conformance suite runs the console script that ``pip install`` put next
to this interpreter, so that it tests the package as users get it (the
folder ``adapters/`` installed as ``sansio_chat_adapters``).  An install that
is not editable is a copy: after a change to the tree it would run the old
code, so the suite refuses to start until it is reinstalled.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import sysconfig
from pathlib import Path

#: The repository root (the directory holding ``adapters`` and ``sansio_chat``).
REPO_ROOT = Path(__file__).resolve().parents[2]
DISTRIBUTION = "sansio-chat"
SCRIPT = "sansio-chat"
#: Installed package -> the folder of this tree it comes from.
PACKAGES = {"sansio_chat": "sansio_chat", "sansio_chat_adapters": "adapters"}
REINSTALL = "pip install -e '.[test]' (an editable install follows the tree)"


@functools.cache
def installed_script() -> str:
    """The path of the installed ``sansio-chat`` command; fails the test with what to do if unusable."""
    problem = _problem()
    if problem is not None:
        raise AssertionError(f"{problem}: {REINSTALL}")
    return str(Path(sysconfig.get_path("scripts")) / SCRIPT)


def _problem() -> str | None:
    script = Path(sysconfig.get_path("scripts")) / SCRIPT
    if not script.is_file():
        return f"the {SCRIPT} command is not installed next to this Python ({script})"
    # Where pip installs, not the first on sys.path: the tree's own egg-info would shadow it.
    found = importlib.metadata.distributions(name=DISTRIBUTION, path=[sysconfig.get_path("purelib")])
    dist = next(iter(found), None)
    if dist is None:
        return f"the {DISTRIBUTION} package is not installed in this Python"
    direct_url = dist.read_text("direct_url.json")
    if direct_url is not None:
        info = json.loads(direct_url)
        if info.get("dir_info", {}).get("editable"):
            if info.get("url") != REPO_ROOT.as_uri():
                return f"{DISTRIBUTION} is installed in editable mode from another tree ({info.get('url')})"
            return None
    return _copy_differs(dist)


def _copy_differs(dist: importlib.metadata.Distribution) -> str | None:
    """A non-editable install: every module of the tree must be installed, byte for byte."""
    installed: dict[str, Path] = {}
    for file in dist.files or ():
        top, _, rest = str(file).partition("/")
        if top in PACKAGES and file.suffix == ".py":
            installed[f"{PACKAGES[top]}/{rest}"] = Path(str(dist.locate_file(file)))
    in_tree = {
        str(path.relative_to(REPO_ROOT)): path
        for folder in PACKAGES.values()
        for path in (REPO_ROOT / folder).rglob("*.py")
    }
    for name, path in sorted(in_tree.items()):
        copy = installed.get(name)
        if copy is None:
            return f"{name} is not in the installed {DISTRIBUTION}"
        if _digest(copy) != _digest(path):
            return f"the installed copy of {name} differs from the tree"
    extra = sorted(set(installed) - set(in_tree))
    if extra:
        return f"the installed {DISTRIBUTION} has modules the tree does not: {', '.join(extra)}"
    return None


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

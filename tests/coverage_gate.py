"""The coverage gate: 100% of the core's branches in a full run, the backends' figure reported.

pytest-cov measures both ``sansio_chat/`` and ``adapters/`` (the servers under
test too, see ``tests/conformance/measured.py``) and prints the report.  The
gate is this plugin's: the core must be covered entirely, by a run of the
whole suite (``python -m pytest``, as CI and the README run it).  A partial
run (some paths, ``-k``, ``-m``, ``--lf``, ``-x`` stopping early...) covers
less by design, so it is reported and not judged.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest

#: The core's required coverage (statements and branches), in a full run.
CORE_REQUIRED = 100.0
ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


@dataclass(frozen=True, slots=True)
class _Figures:
    core: float | None
    adapters: float | None
    partial: str | None  # why the run is not a full one, or None


_FIGURES = pytest.StashKey[_Figures]()
_DESELECTED = pytest.StashKey[int]()


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Count what was deselected, except the heavy runs (left out of every ordinary run)."""
    if items:
        config = items[0].config
        left_out = sum(1 for item in items if item.get_closest_marker("heavy") is None)
        config.stash[_DESELECTED] = config.stash.get(_DESELECTED, 0) + left_out


def _partial(session: pytest.Session) -> str | None:
    config = session.config
    option = config.option
    if config.args_source is not pytest.Config.ArgsSource.TESTPATHS and [
        Path(arg).resolve() for arg in config.args
    ] != [TESTS]:
        return "only some tests were asked for"
    for flag, name in (("keyword", "-k"), ("markexpr", "-m"), ("deselect", "--deselect"), ("lf", "--lf")):
        if getattr(option, flag, None):
            return f"{name} was given"
    if config.stash.get(_DESELECTED, 0):
        return "some tests were deselected"
    if session.shouldstop or session.shouldfail or session.testsfailed:
        return "the run stopped early or failed"
    return None


def _percent(cov: object, folder: str) -> float | None:
    from coverage import Coverage  # noqa: PLC0415 - pytest-cov brings it
    from coverage.exceptions import CoverageException  # noqa: PLC0415

    assert isinstance(cov, Coverage)
    try:
        return float(cov.report(include=[f"{ROOT / folder}/*"], file=io.StringIO()))
    except CoverageException:  # nothing of it was measured
        return None


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> object:
    """After pytest-cov has combined the data (its own wrapper, inside this one): judge the core."""
    result = yield
    plugin = session.config.pluginmanager.getplugin("_cov")
    controller = getattr(plugin, "cov_controller", None)
    if controller is None or session.config.option.collectonly:
        return result
    partial = _partial(session)
    figures = _Figures(
        core=_percent(controller.cov, "sansio_chat"),
        adapters=_percent(controller.cov, "adapters"),
        partial=partial,
    )
    session.config.stash[_FIGURES] = figures
    if partial is None and (figures.core is None or figures.core < CORE_REQUIRED):
        session.testsfailed += 1
    return result


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    figures = config.stash.get(_FIGURES, None)
    if figures is None:
        return
    terminalreporter.section("coverage gate")

    def shown(value: float | None) -> str:
        return "not measured" if value is None else f"{value:.2f}%"

    core = f"sansio_chat/ {shown(figures.core)} of statements and branches"
    if figures.partial is not None:
        terminalreporter.write_line(f"{core}; not judged: {figures.partial} (a full run requires 100%)")
    elif figures.core is not None and figures.core >= CORE_REQUIRED:
        terminalreporter.write_line(f"{core}: required 100%, reached", green=True)
    else:
        terminalreporter.write_line(f"FAIL {core}: required 100%", red=True, bold=True)
    terminalreporter.write_line(
        f"adapters/ {shown(figures.adapters)} (reported, servers under test included)"
    )

"""Coverage of the servers under test: they are child processes, so coverage is started in each.

When the test run measures coverage (``pytest --cov``, the default here), a
server is started as ``python -m coverage run`` of the installed command,
measuring the backends only (``adapters/``, installed as
``sansio_chat_adapters``).  The core (``sansio_chat/``) is not measured
there: its 100% gate must be reached by its own tests, through its public
API.  Each server writes a data file of its own next to the run's, which
pytest-cov combines at the end (``[tool.coverage.paths]`` maps an installed
copy back to ``adapters/``).
"""

from __future__ import annotations

import sys
from pathlib import Path

#: What a server measures: the backends, as a folder of this tree and as the installed package.
SOURCES = "adapters,sansio_chat_adapters"


def measured_by_coverage() -> list[str] | None:
    """The command prefix that runs a server under coverage, or None when this run measures nothing."""
    try:
        import coverage  # noqa: PLC0415 - only where the test run has it
    except ImportError:
        return None
    current = coverage.Coverage.current()
    if current is None:
        return None
    data_file = Path(current.get_data().data_filename()).with_name(Path(current.config.data_file).name)
    return [
        sys.executable,
        "-m",
        "coverage",
        "run",
        "--parallel-mode",
        "--branch",
        f"--data-file={data_file}",
        f"--source={SOURCES}",
    ]
